"""WebDataset tar shards for corpora too large for one manifest of loose files.

``write_shards`` packs a manifest into ``shard-NNNNNN.tar`` files in WebDataset layout (each
sample is ``KEY.<audio ext>`` holding the original encoded file plus ``KEY.json`` holding
text, domain, language and duration), so any WebDataset reader can stream them. It also writes
``index.jsonl``: one line per sample with the byte offset and size of its audio member. The
trainer reads clips by offset through that index, which gives random access into the tars: the
same mixture sampler, exact resume and a disjoint split across ranks and workers as for a
manifest, with no duplicated or skipped samples.

Files are written to a temporary name and renamed; ``shards.json`` is written last, so a
folder without it is an interrupted write.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from audiobench.errors import DataError
from audiobench.training.manifest import Row, read_bytes, read_manifest

INDEX = "index.jsonl"
SUMMARY = "shards.json"
FORMAT = "audiobench-webdataset"
VERSION = 1


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    # Fixed metadata so the same manifest always gives byte-identical shards.
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def _audio_extension(row: Row, payload: bytes) -> str:
    """The member's extension names the container format, as WebDataset decoders expect."""
    try:
        container = sf.info(io.BytesIO(payload)).format
    except (sf.LibsndfileError, RuntimeError) as err:
        raise DataError(f"{row.source}: cannot read audio {row.audio}: {str(err).strip()}",
                        "replace the file or delete the row") from err
    return {"WAV": "wav", "FLAC": "flac", "OGG": "ogg", "AU": "au", "MP3": "mp3"}.get(container, container.lower())


def _write_one(path: Path, rows: list[Row], keys: list[str]) -> list[dict]:
    """Write one shard; returns its index lines (offsets read back from the finished tar)."""
    tmp = path.with_name(path.name + ".tmp")
    extensions = {}
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for key, row in zip(keys, rows):
            payload = read_bytes(row)
            extensions[key] = _audio_extension(row, payload)
            _member(tar, f"{key}.{extensions[key]}", payload)
            meta = {"text": row.text, "domain": row.domain, "language": row.language,
                    "duration": row.duration, "source": row.source}
            _member(tar, f"{key}.json", json.dumps(meta, ensure_ascii=False).encode())
    entries = []
    with tarfile.open(tmp, "r") as tar:
        located = {m.name: (m.offset_data, m.size) for m in tar.getmembers()}
    for key, row in zip(keys, rows):
        offset, size = located[f"{key}.{extensions[key]}"]
        entries.append({"key": key, "shard": path.name, "offset": offset, "size": size, "text": row.text,
                        "domain": row.domain, "language": row.language, "duration": row.duration,
                        "source": row.source})
    os.replace(tmp, path)
    return entries


def write_shards(rows: list[Row], out: str | Path, shard_size: int,
                 advance: Callable[[int], None] | None = None) -> dict:
    """Pack ``rows`` into shards of ``shard_size`` samples under ``out``; returns the summary."""
    if shard_size < 1:
        raise DataError(f"--shard-size {shard_size}: must be at least 1", "pass the number of clips per shard")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / SUMMARY).exists():
        raise DataError(f"{out} already holds shards", "pass an empty --out directory")
    lines: list[str] = []
    shards = []
    for start in range(0, len(rows), shard_size):
        chunk = rows[start:start + shard_size]
        # WebDataset splits a member name at its first dot, so keys carry none.
        keys = [f"{start + i:09d}" for i in range(len(chunk))]
        name = f"shard-{start // shard_size:06d}.tar"
        lines.extend(json.dumps(e, ensure_ascii=False) for e in _write_one(out / name, chunk, keys))
        shards.append({"name": name, "samples": len(chunk)})
        if advance is not None:
            advance(len(chunk))
    write_text_atomic(out / INDEX, "\n".join(lines) + "\n")
    summary = {"format": FORMAT, "version": VERSION, "samples": len(rows), "shards": shards,
               "domains": {d: sum(r.domain == d for r in rows) for d in sorted({r.domain for r in rows})}}
    write_text_atomic(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return summary


def is_shard_dir(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / SUMMARY).is_file()


def read_shards(directory: str | Path) -> list[Row]:
    """Rows of a shard folder, each pointing at its audio member by offset."""
    directory = Path(directory)
    if not is_shard_dir(directory):
        raise DataError(f"{directory} has no {SUMMARY}",
                        "pass a folder written by `audiobench data shard` (an interrupted write lacks it)")
    summary = json.loads((directory / SUMMARY).read_text())
    if summary.get("format") != FORMAT or summary.get("version") != VERSION:
        raise DataError(f"{directory / SUMMARY}: not an {FORMAT} v{VERSION} folder", "re-run `audiobench data shard`")
    rows = []
    with (directory / INDEX).open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            entry = json.loads(line)
            shard = directory / entry["shard"]
            rows.append(Row(key=entry["key"], text=entry["text"], domain=entry["domain"],
                            source=f"{directory / INDEX}:{number} ({entry['source']})",
                            language=entry["language"], duration=entry["duration"], shard=str(shard),
                            offset=entry["offset"], size=entry["size"]))
    if len(rows) != summary["samples"]:
        raise DataError(f"{directory / INDEX} lists {len(rows)} samples, {SUMMARY} says {summary['samples']}",
                        "re-run `audiobench data shard`")
    missing = sorted({r.shard for r in rows if not Path(r.shard).is_file()})
    if missing:
        raise DataError(f"shard {missing[0]} is missing", "re-run `audiobench data shard` or restore the file")
    return rows


def read_data(path: str | Path, check_audio: bool = True,
              advance: Callable[[int], None] | None = None) -> list[Row]:
    """Rows from a JSONL manifest or a shard folder."""
    return read_shards(path) if Path(path).is_dir() else read_manifest(path, check_audio, advance)
