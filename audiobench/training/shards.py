"""WebDataset tar shards, one domain per shard, for corpora too large for loose files.

``write_shards`` packs rows into ``{domain}-NNNNNN.tar`` files in WebDataset layout (each sample
is ``KEY.<audio ext>`` holding the original encoded file plus ``KEY.json`` holding text, domain,
language, duration and source), written by ``webdataset.TarWriter``, so any WebDataset reader
streams them. Rows are shuffled (seeded) before they are cut into shards, so reading a shard
front to back is already a random draw of its domain; the trainer streams shards in a
shuffled order per pass (``stream.py``).

Each shard is a unit of work: written to a temporary name and renamed, then its record
(samples, hours, files it skipped) goes to ``.parts/NAME.json``. A shard with its record is done,
so an interrupted write resumes where it stopped, and ``--workers`` write shards in parallel.
``shards.json`` (per domain: shard names and sample counts, hours; skipped files) is written
last: a folder without it is an unfinished write.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audiobench.errors import DataError
from audiobench.files import atomic_write_text
from audiobench.encoders.features import SAMPLE_RATE
from audiobench.training.datalist import DOMAINS, Row, decode_audio_bytes, read_bytes

SUMMARY = "shards.json"
PARTS = ".parts"
FORMAT = "audiobench-webdataset"
VERSION = 2
CONTAINERS = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "AU": "au", "MP3": "mp3", "AIFF": "aiff"}
AUDIO_EXTENSIONS = tuple(sorted(set(CONTAINERS.values()) | {"opus", "m4a"}))


@dataclass(frozen=True)
class ShardJob:
    """One shard to write: its file name and the rows it holds."""

    name: str
    domain: str
    first_key: int
    rows: tuple[Row, ...]
    pcm16k: bool = False


def audio_member(row: Row, payload: bytes) -> tuple[str, float]:
    """The member's extension (the container, as WebDataset decoders expect) and the duration;
    ``DataError`` when the header cannot be read."""
    try:
        info = sf.info(io.BytesIO(payload))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise DataError(f"{row.source}: cannot read audio {row.audio}: {str(err).strip()}") from err
    if info.frames == 0:
        raise DataError(f"{row.source}: audio {row.audio} holds no samples")
    return CONTAINERS.get(info.format, info.format.lower()), info.frames / info.samplerate


def pcm16k_member(row: Row, payload: bytes) -> tuple[bytes, float]:
    """The clip decoded, down-mixed and resampled to 16 kHz now, stored as 16-bit PCM WAV, so a
    training worker only copies samples (no decoding, no resampling)."""
    waveform = decode_audio_bytes(payload, SAMPLE_RATE, str(row.audio))
    buffer = io.BytesIO()
    sf.write(buffer, waveform, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), waveform.shape[0] / SAMPLE_RATE


def write_shard(out: Path, job: ShardJob) -> dict:
    """Write one shard atomically; returns its record (also saved in ``.parts``)."""
    import webdataset as wds

    tmp = out / f".{job.name}.tmp"
    skipped, seconds, samples = [], 0.0, 0
    with wds.TarWriter(str(tmp), encoder=False) as sink:
        for i, row in enumerate(job.rows):
            try:
                payload = read_bytes(row)
                extension, duration = audio_member(row, payload)
                if job.pcm16k:
                    (payload, duration), extension = pcm16k_member(row, payload), "wav"
            except (DataError, OSError) as err:
                skipped.append({"source": row.source, "audio": row.audio, "reason": str(err)})
                continue
            meta = {"text": row.text, "domain": row.domain, "language": row.language,
                    "duration": round(duration, 3), "source": row.source}
            sink.write({"__key__": f"{job.domain}-{job.first_key + i:09d}", extension: payload,
                        "json": json.dumps(meta, ensure_ascii=False).encode()})
            samples += 1
            seconds += duration
    os.replace(tmp, out / job.name)
    record = {"name": job.name, "domain": job.domain, "samples": samples, "hours": seconds / 3600,
              "skipped": skipped}
    atomic_write_text(out / PARTS / f"{job.name}.json", json.dumps(record) + "\n")
    return record


def plan_shards(rows: Sequence[Row], shard_size: int, seed: int, pcm16k: bool = False) -> list[ShardJob]:
    """Rows grouped by domain, shuffled with ``seed``, cut into shards of ``shard_size``."""
    jobs = []
    for domain in DOMAINS:
        mine = [r for r in rows if r.domain == domain]
        order = np.random.default_rng([seed, DOMAINS.index(domain)]).permutation(len(mine))
        for k, start in enumerate(range(0, len(mine), shard_size)):
            chunk = tuple(mine[i] for i in order[start:start + shard_size])
            jobs.append(ShardJob(f"{domain}-{k:06d}.tar", domain, start, chunk, pcm16k))
    return jobs


def write_shards(rows: Sequence[Row], out: str | Path, shard_size: int, workers: int = 1, seed: int = 0,
                 info: dict | None = None, advance: Callable[[int], None] | None = None, pcm16k: bool = False) -> dict:
    """Pack ``rows`` into per-domain shards under ``out`` (resuming an interrupted write);
    returns the summary written to ``shards.json``. ``info`` is stored in it as is. ``pcm16k``
    stores every clip decoded and resampled to 16 kHz 16-bit PCM instead of its original bytes."""
    if shard_size < 1:
        raise DataError(f"--shard-size {shard_size}: must be at least 1", "pass the number of clips per shard")
    out = Path(out)
    if (out / SUMMARY).exists():
        raise DataError(f"{out} already holds finished shards", "pass a new --out folder")
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    jobs = plan_shards(rows, shard_size, seed, pcm16k)
    records = {}
    for job in jobs:
        part = out / PARTS / f"{job.name}.json"
        if part.is_file() and (out / job.name).is_file():  # done by an earlier, interrupted run
            records[job.name] = json.loads(part.read_text())
            if advance is not None:
                advance(len(job.rows))
    todo = [job for job in jobs if job.name not in records]
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(workers, len(todo))) as pool:
            for job, record in zip(todo, pool.map(write_shard, [out] * len(todo), todo)):
                records[job.name] = record
                if advance is not None:
                    advance(len(job.rows))
    else:
        for job in todo:
            records[job.name] = write_shard(out, job)
            if advance is not None:
                advance(len(job.rows))
    summary = summarise([records[job.name] for job in jobs], {**(info or {}), "pcm16k": pcm16k})
    atomic_write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return summary


def summarise(records: list[dict], info: dict) -> dict:
    domains: dict[str, dict] = {}
    for record in records:
        entry = domains.setdefault(record["domain"], {"samples": 0, "hours": 0.0, "shards": []})
        entry["samples"] += record["samples"]
        entry["hours"] += record["hours"]
        if record["samples"]:
            entry["shards"].append({"name": record["name"], "samples": record["samples"]})
    domains = {d: {**e, "hours": round(e["hours"], 4)} for d, e in domains.items() if e["samples"]}
    skipped = [s for record in records for s in record["skipped"]]
    return {"format": FORMAT, "version": VERSION, **info, "samples": sum(d["samples"] for d in domains.values()),
            "hours": round(sum(d["hours"] for d in domains.values()), 4), "domains": domains, "skipped": skipped}


def is_shard_set(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / SUMMARY).is_file()


def read_summary(text: str, where: str) -> dict:
    """Parse and check a ``shards.json``."""
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: not valid JSON ({err.msg})", "re-run `audiobench data shard`") from err
    if not isinstance(summary, dict) or summary.get("format") != FORMAT or summary.get("version") != VERSION:
        raise DataError(f"{where}: not an {FORMAT} v{VERSION} summary",
                        "re-write the shards with this version's `audiobench data shard` or `data prepare`")
    return summary
