"""Encoder throughput: clips per second of the extraction step (encode + pool every layer),
and model FLOP utilisation where the encoder reports its FLOPs.

Inputs are synthetic batches made on the device, so decoding is not measured: this is the
ceiling the embedding loop can reach. Under ``--window trim`` FLOPs count only the positions
each clip's trimmed window holds. Numbers come from wall time around synchronised steps
after warm-up; nothing here asserts a speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import product

import torch

from audiobench.encoders.base import Encoder, Window
from audiobench.extraction import DTYPES, encode_and_pool

#: Dense bf16/fp16 tensor-core peaks (TFLOP/s) by device name, for MFU.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}


@dataclass
class Throughput:
    """One point of a sweep. ``oom``: the batch did not fit in device memory (no figures)."""

    encoder: str
    device: str
    dtype: str
    window: str
    batch_size: int
    clip_seconds: float
    steps: int
    clips_per_second: float | None
    audio_seconds_per_second: float | None
    milliseconds_per_batch: float | None
    peak_memory_gib: float | None
    flops_per_clip: float | None
    achieved_tflops: float | None
    peak_tflops: float | None
    mfu: float | None
    oom: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Sweep:
    """Every combination of window, clip length and batch size is measured once."""

    windows: tuple[Window, ...] = (Window(),)
    clip_seconds: tuple[float, ...] = (30.0,)
    batch_sizes: tuple[int, ...] = (16,)
    steps: int = 10
    warmup: int = 2

    def points(self) -> list[tuple[Window, float, int]]:
        return list(product(self.windows, self.clip_seconds, self.batch_sizes))


def device_peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_sweep(encoder: Encoder, device: torch.device, dtype: str, sweep: Sweep, peak_tflops: float | None = None,
              on_point: Callable[[Window, float, int], None] | None = None) -> list[Throughput]:
    """Measure every point of ``sweep``; the encoder's window is restored afterwards."""
    original = encoder.window
    figures = []
    try:
        for window, seconds, batch_size in sweep.points():
            if on_point:
                on_point(window, seconds, batch_size)
            encoder.set_window(window)
            figures.append(measure_throughput(encoder, device, dtype, batch_size, seconds, sweep.steps,
                                              sweep.warmup, peak_tflops))
    finally:
        encoder.set_window(original)
    return figures


def measure_throughput(encoder: Encoder, device: torch.device, dtype: str, batch_size: int, clip_seconds: float,
                       steps: int = 10, warmup: int = 2, peak_tflops: float | None = None) -> Throughput:
    """Encode, pool and bring to the host (as ``embed`` does per batch) ``steps`` synthetic
    batches of ``clip_seconds`` clips under the encoder's current window."""
    encoder.to(device)
    encoder.set_precision(DTYPES[dtype])
    samples = int(clip_seconds * encoder.sample_rate)
    generator = torch.Generator(device=device).manual_seed(0)
    point = {"encoder": encoder.name, "device": str(device), "dtype": dtype, "window": encoder.window.label,
             "batch_size": batch_size, "clip_seconds": clip_seconds, "steps": steps}
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    try:
        waveforms = 0.1 * torch.randn(batch_size, samples, device=device, generator=generator)
        lengths = torch.full((batch_size,), samples, device=device)
        with torch.inference_mode():
            for step in range(warmup + steps):
                if step == warmup:
                    synchronize(device)
                    start = time.perf_counter()
                encode_and_pool(encoder, waveforms, lengths).cpu()
            synchronize(device)
    except torch.OutOfMemoryError:
        return Throughput(**point, clips_per_second=None, audio_seconds_per_second=None, milliseconds_per_batch=None,
                          peak_memory_gib=None, flops_per_clip=None, achieved_tflops=None, peak_tflops=None, mfu=None,
                          oom=True)
    elapsed = time.perf_counter() - start
    clips_per_second = steps * batch_size / elapsed
    flops = encoder.flops_per_clip(clip_seconds)
    achieved = flops * clips_per_second / 1e12 if flops else None
    peak = peak_tflops or device_peak_tflops(device)
    return Throughput(
        **point, clips_per_second=clips_per_second, audio_seconds_per_second=clips_per_second * clip_seconds,
        milliseconds_per_batch=1000 * elapsed / steps,
        peak_memory_gib=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        flops_per_clip=flops, achieved_tflops=achieved, peak_tflops=peak,
        mfu=achieved / peak if achieved and peak else None)
