"""Extraction: decode clips in DataLoader workers, encode batches on the device, pool every
layer both ways, and write the cache chunk by chunk.

Only clips missing from the cache are decoded and encoded; a repeated run is a pure cache hit
and an interrupted run resumes from its last finished chunk.
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
from audiobench.cache import EmbeddingCache, ExtractionSettings, clip_key, pool
from audiobench.encoders.base import Encoder
from audiobench.errors import AudioReadError, ConfigError
from audiobench.tasks.base import Clip, Manifest

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    clips: int
    cache_hits: int
    encoded: int
    seconds: float
    device: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

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


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """``auto``: bf16 on GPU (the numerics Whisper was trained in), float32 on CPU."""
    if dtype == "auto":
        return "bfloat16" if device.type == "cuda" else "float32"
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype}: unknown", f"use auto or one of {', '.join(DTYPES)}")
    return dtype


def open_cache(encoder: Encoder, cache_dir: Path, dtype: str) -> EmbeddingCache:
    """The cache of ``encoder`` run in ``dtype`` (a resolved name, not ``auto``)."""
    settings = ExtractionSettings(encoder.fingerprint, encoder.sample_rate, encoder.window_seconds, dtype)
    return EmbeddingCache(cache_dir, settings, {"encoder": encoder.name, "num_layers": encoder.num_layers,
                                                "dim": encoder.dim})


class ClipDataset(Dataset):
    """Decodes one clip per item; a failure is returned, not raised, so the main process
    decides whether to abort or skip."""

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


def collate(items: list[tuple[int, np.ndarray | None, str | None]]) -> list[tuple[int, np.ndarray | None, str | None]]:
    return items


def pad_batch(waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(w) for w in waveforms])
    batch = torch.zeros(len(waveforms), int(lengths.max()))
    for row, wave in enumerate(waveforms):
        batch[row, : len(wave)] = torch.from_numpy(wave)
    return batch, lengths


def default_workers() -> int:
    return min(8, max(0, (os.cpu_count() or 1) - 1))


def embed(encoder: Encoder, manifest: Manifest, cache_dir: Path, options: EmbedOptions,
          on_progress: Callable[[int], None] | None = None) -> tuple[EmbeddingCache, EmbedReport]:
    """Make sure every clip of ``manifest`` is in the cache; returns the cache and a report
    (``report.keys[i]`` is the cache key of ``manifest.clips[i]``)."""
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    cache = open_cache(encoder, cache_dir, dtype)
    keys = [clip_key(manifest.root, clip) for clip in manifest.clips]
    todo = cache.missing(keys)
    report = EmbedReport(clips=len(keys), cache_hits=len(keys) - len(todo), encoded=0, seconds=0.0,
                         device=str(device), keys=keys)
    if not todo:
        return cache, report
    encoder.to(device)
    encoder.set_precision(DTYPES[dtype])
    dataset = ClipDataset(manifest.root, [manifest.clips[i] for i in todo], encoder.sample_rate, encoder.window_samples)
    workers = default_workers() if options.num_workers is None else options.num_workers
    loader = DataLoader(dataset, batch_size=options.batch_size, num_workers=workers, collate_fn=collate,
                        pin_memory=device.type == "cuda", persistent_workers=False)
    pending_keys: list[str] = []
    pending: list[np.ndarray] = []
    start = time.perf_counter()
    with torch.inference_mode():
        for items in loader:
            good = [(i, wave) for i, wave, error in items if error is None]
            for i, _, error in items:
                if error is not None:
                    clip = dataset.clips[i]
                    if not options.skip_bad:
                        raise AudioReadError(str(manifest.root / clip.path), error)
                    report.skipped.append((clip.id, error))
            if good:
                waveforms, lengths = pad_batch([wave for _, wave in good])
                output = encoder(waveforms.to(device, non_blocking=True), lengths.to(device))
                pooled = pool(output.hidden_states, output.frame_lengths, encoder.window_seconds is not None)
                pending.append(pooled.cpu().numpy())
                pending_keys.extend(keys[todo[i]] for i, _ in good)
                report.encoded += len(good)
            if len(pending_keys) >= options.chunk_size:
                cache.write_chunk(pending_keys, np.concatenate(pending))
                pending_keys, pending = [], []
            if on_progress:
                on_progress(len(items))
    if pending_keys:
        cache.write_chunk(pending_keys, np.concatenate(pending))
    report.seconds = time.perf_counter() - start
    return cache, report
