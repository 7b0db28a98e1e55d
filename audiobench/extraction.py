"""Extraction: decode and pad clips in DataLoader workers, encode batches on the device, pool
every layer both ways, and write the cache chunk by chunk.

Only clips missing from the cache are decoded and encoded; a repeated run is a pure cache hit
and an interrupted run resumes from its last finished chunk. Clips that fail to decode abort
the run, or with ``skip_bad`` are recorded in the cache as failed and reported.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from audiobench.audio import load_audio
from audiobench.choices import PRECISIONS
from audiobench.cache import CorruptChunkError, EmbeddingCache, ExtractionSettings, clip_key
from audiobench.encoders.base import Encoder, pool
from audiobench.errors import AudioReadError, CacheError, ConfigError
from audiobench.files import atomic_path
from audiobench.tasks.base import Clip, Manifest

DTYPES = dict(zip(PRECISIONS, (torch.float32, torch.bfloat16, torch.float16)))


@dataclass
class EmbedOptions:
    batch_size: int = 16
    device: str = "auto"
    dtype: str = "auto"
    num_workers: int | None = None
    chunk_size: int = 512
    skip_bad: bool = False


@dataclass
class EmbedReport:
    """``keys[i]`` is the cache key of ``manifest.clips[i]``; ``skipped`` lists (clip id, reason);
    ``discarded`` lists (chunk file, problem) for corrupt cache chunks whose clips were re-encoded."""

    clips: int
    cache_hits: int
    encoded: int
    seconds: float
    device: str
    keys: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    discarded: list[tuple[str, str]] = field(default_factory=list)

    @property
    def clips_per_second(self) -> float | None:
        return self.encoded / self.seconds if self.encoded and self.seconds > 0 else None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"--device {device}: not a device", "use auto, cpu, cuda or cuda:N") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine", "use --device cpu or auto")
    return resolved


def resolve_dtype(dtype: str, device: torch.device, encoder: Encoder | None = None) -> str:
    """``auto``: float32 on CPU; on GPU the checkpoint's own half precision (OpenAI's Whisper
    weights are float16; a bf16-trained export is bfloat16), else bfloat16."""
    if dtype == "auto":
        if device.type != "cuda":
            return "float32"
        native = encoder.checkpoint_dtype if encoder is not None else None
        return {torch.float16: "float16"}.get(native, "bfloat16")
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype}: unknown", f"use auto or one of {', '.join(DTYPES)}")
    return dtype


def open_cache(encoder: Encoder, cache_dir: Path, dtype: str) -> EmbeddingCache:
    """The cache of ``encoder`` run in ``dtype`` (a resolved name, not ``auto``)."""
    settings = ExtractionSettings(encoder.fingerprint, encoder.sample_rate, encoder.window_seconds, dtype)
    return EmbeddingCache(cache_dir, settings, {"encoder": encoder.name, "num_layers": encoder.num_layers,
                                                "dim": encoder.dim})


@dataclass
class Batch:
    indices: list[int]
    waveforms: torch.Tensor
    lengths: torch.Tensor
    failures: list[tuple[int, str]]

    def pin_memory(self) -> "Batch":
        self.waveforms = self.waveforms.pin_memory()
        return self


class DecodingDataset(Dataset):
    """Decodes one clip per item (cropped to the encoder's window); a failure is returned, not
    raised, so the main process decides whether to abort or skip."""

    def __init__(self, root: Path, clips: list[Clip], sample_rate: int, max_samples: int | None) -> None:
        self.root, self.clips, self.sample_rate, self.max_samples = root, clips, sample_rate, max_samples

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, str | None]:
        clip = self.clips[i]
        try:
            audio = load_audio(self.root / clip.path, self.sample_rate, clip.start, clip.duration)
        except AudioReadError as err:
            return i, None, err.reason
        return i, audio[: self.max_samples] if self.max_samples else audio, None


def collate(items: list[tuple[int, np.ndarray | None, str | None]]) -> Batch:
    """Zero-pad the decoded clips to the longest (in the worker, off the main process)."""
    good = [(i, wave) for i, wave, _ in items if wave is not None]
    lengths = torch.tensor([len(wave) for _, wave in good], dtype=torch.long)
    waveforms = torch.zeros(len(good), int(lengths.max()) if good else 0)
    for row, (_, wave) in enumerate(good):
        waveforms[row, : len(wave)] = torch.from_numpy(wave)
    return Batch([i for i, _ in good], waveforms, lengths, [(i, error) for i, _, error in items if error])


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(8, max(0, cores - 1))


def embed(encoder: Encoder, manifest: Manifest, cache_dir: Path, options: EmbedOptions,
          on_progress: Callable[[int], None] | None = None) -> tuple[EmbeddingCache, EmbedReport]:
    """Make sure every clip of ``manifest`` is in the cache. Clips another ``embed`` process is
    encoding into the same cache are waited for, not encoded twice."""
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device, encoder)
    cache = open_cache(encoder, cache_dir, dtype)
    keys = [clip_key(manifest.root, clip) for clip in manifest.clips]
    corrupt = cache.corrupt_chunks(keys)
    cache.discard(list(corrupt))
    report = EmbedReport(clips=len(keys), cache_hits=0, encoded=0, seconds=0.0, device=str(device), keys=keys,
                         discarded=[(str(cache.directory / f"{name}.npy"), why) for name, why in corrupt.items()])
    start = time.perf_counter()
    position = {key: i for i, key in enumerate(keys)}
    failed: set[str] = set()
    while True:
        wanted = [key for key in keys if key not in failed]
        with cache.claim(wanted) as claim:
            hits = len(wanted) - len(claim.todo) - len(claim.waiting) - report.encoded
            if on_progress and hits > report.cache_hits:
                on_progress(hits - report.cache_hits)
            report.cache_hits = hits
            if claim.todo:
                todo = [wanted[i] for i in claim.todo]
                failed |= encode_clips(encoder, manifest, todo, [manifest.clips[position[k]] for k in todo],
                                       cache, device, dtype, options, report, on_progress)
        if not claim.waiting:
            break
        cache.wait_for(claim.holders)
    report.seconds = time.perf_counter() - start
    return cache, report


def encode_clips(encoder: Encoder, manifest: Manifest, keys: list[str], clips: list[Clip], cache: EmbeddingCache,
                 device: torch.device, dtype: str, options: EmbedOptions, report: EmbedReport,
                 on_progress: Callable[[int], None] | None) -> set[str]:
    """Decode, encode and cache ``clips`` (whose cache keys are ``keys``), chunk by chunk.
    Returns the keys of clips that failed to decode (with ``skip_bad``)."""
    encoder.to(device)
    encoder.set_precision(DTYPES[dtype])
    dataset = DecodingDataset(manifest.root, clips, encoder.sample_rate, encoder.window_samples)
    workers = default_workers() if options.num_workers is None else options.num_workers
    loader = DataLoader(dataset, batch_size=options.batch_size, num_workers=workers, collate_fn=collate,
                        pin_memory=device.type == "cuda")
    pending_keys: list[str] = []
    pending: list[np.ndarray] = []
    failed: dict[str, str] = {}
    with torch.inference_mode():
        for batch in loader:
            for i, reason in batch.failures:
                if not options.skip_bad:
                    raise AudioReadError(str(manifest.root / clips[i].path), reason)
                report.skipped.append((clips[i].id, reason))
                failed[keys[i]] = reason
            if batch.indices:
                pending.append(encode_batch(encoder, batch, device, options.batch_size))
                pending_keys.extend(keys[i] for i in batch.indices)
                report.encoded += len(batch.indices)
            if len(pending_keys) >= options.chunk_size:
                cache.write_chunk(pending_keys, np.concatenate(pending))
                pending_keys, pending = [], []
            if on_progress:
                on_progress(len(batch.indices) + len(batch.failures))
    if pending_keys:
        cache.write_chunk(pending_keys, np.concatenate(pending))
    if failed:
        cache.record_failures(failed)
    return set(failed)


def encode_batch(encoder: Encoder, batch: Batch, device: torch.device, batch_size: int) -> np.ndarray:
    try:
        output = encoder(batch.waveforms.to(device, non_blocking=True), batch.lengths.to(device))
    except torch.OutOfMemoryError as err:
        raise ConfigError(f"out of {device} memory encoding a batch of {batch_size} clips",
                          "lower --batch-size") from err
    return pool(output, encoder.window_seconds is not None).cpu().numpy()


def cached(encoder: Encoder, manifest: Manifest, cache_dir: Path, dtype: str, device: str,
           skip_bad: bool = False) -> tuple[EmbeddingCache, EmbedReport]:
    """The cache and report of a finished ``embed`` run, without encoding anything.

    With ``dtype`` ``auto`` the cache is looked up in every precision, preferring the one
    ``embed`` would pick on ``device``, so embeddings made on a GPU are found on a CPU node."""
    resolved = resolve_device(device)
    preferred = resolve_dtype(dtype, resolved, encoder)
    candidates = [preferred] + ([d for d in DTYPES if d != preferred] if dtype == "auto" else [])
    keys = [clip_key(manifest.root, clip) for clip in manifest.clips]
    best: tuple[EmbeddingCache, list[int]] | None = None
    for candidate in candidates:
        settings = ExtractionSettings(encoder.fingerprint, encoder.sample_rate, encoder.window_seconds, candidate)
        if candidate != preferred and not (Path(cache_dir).expanduser() / settings.key).is_dir():
            continue
        cache = open_cache(encoder, cache_dir, candidate)
        missing = cache.missing(keys)
        if best is None or len(missing) < len(best[1]):
            best = (cache, missing)
    cache, missing = best
    corrupt = cache.corrupt_chunks(keys)
    if corrupt:
        name, problem = next(iter(corrupt.items()))
        more = f" (and {len(corrupt) - 1} more)" if len(corrupt) > 1 else ""
        raise CorruptChunkError(cache.directory / f"{name}.npy", problem + more)
    failures = cache.failures()
    unreadable = [i for i in missing if keys[i] in failures]
    if len(unreadable) < len(missing):
        raise CacheError(f"{len(missing) - len(unreadable)} of {len(keys)} clips of {manifest.protocol_id} are not "
                         f"cached for {encoder.name} in {cache.directory}",
                         "run `audiobench embed` with the same encoder, weights and --dtype first")
    if unreadable and not skip_bad:
        first = manifest.clips[unreadable[0]]
        raise AudioReadError(str(manifest.root / first.path),
                             f"failed to decode during embed ({failures[keys[unreadable[0]]]}); "
                             f"{len(unreadable)} such clip(s)")
    report = EmbedReport(clips=len(keys), cache_hits=len(keys) - len(unreadable), encoded=0, seconds=0.0,
                         device=str(resolved), keys=keys,
                         skipped=[(manifest.clips[i].id, failures[keys[i]]) for i in unreadable])
    return cache, report


def usable_mask(manifest: Manifest, report: EmbedReport) -> np.ndarray:
    skipped = {clip_id for clip_id, _ in report.skipped}
    return np.array([clip.id not in skipped for clip in manifest.clips])


def export_npz(path: Path, manifest: Manifest, cache: EmbeddingCache, report: EmbedReport, pooling: str,
               num_layers: int, dim: int) -> int:
    """Write ``ids``, ``labels``, ``label_names``, ``split`` ([clips, folds] of train / valid /
    test or empty), ``fold`` (fold names) and ``embeddings`` [clips, layers, dim] (float32) for
    every usable clip; filled layer by layer so memory stays at one copy of the output."""
    rows = np.flatnonzero(usable_mask(manifest, report))
    keys = [report.keys[i] for i in rows]
    embeddings = np.empty((len(rows), num_layers, dim), dtype=np.float32)
    for layer in range(num_layers):
        if len(rows):
            embeddings[:, layer] = cache.load(keys, pooling, layer)
    roles = np.full((len(manifest.clips), len(manifest.folds)), "", dtype=object)
    for f, fold in enumerate(manifest.folds):
        for role in ("train", "valid", "test"):
            roles[list(getattr(fold, role)), f] = role
    try:
        with atomic_path(Path(path)) as tmp, tmp.open("wb") as handle:
            np.savez(handle, ids=np.array([manifest.clips[i].id for i in rows]),
                     labels=np.array([manifest.clips[i].label for i in rows]),
                     label_names=np.array(manifest.label_names), split=roles[rows].astype(str),
                     fold=np.array([fold.name for fold in manifest.folds]), embeddings=embeddings,
                     pooling=np.array(pooling))
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or err}", "choose a writable --export path") from err
    return len(rows)
