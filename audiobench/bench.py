"""Encoder throughput: clips per second of the extraction step (encode + pool every layer),
and model FLOP utilisation where the encoder reports its FLOPs.

Inputs are synthetic batches made on the device, so decoding is not measured: this is the
ceiling the embedding loop can reach. Numbers come from wall time around synchronised steps
after warm-up; nothing here asserts a speed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from audiobench.extraction import DTYPES
from audiobench.encoders.base import Encoder, pool

#: Dense bf16/fp16 tensor-core peaks (TFLOP/s) by device name, for MFU.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}


@dataclass
class Throughput:
    encoder: str
    device: str
    dtype: str
    batch_size: int
    clip_seconds: float
    steps: int
    clips_per_second: float
    milliseconds_per_batch: float
    peak_memory_gib: float | None
    flops_per_clip: float | None
    achieved_tflops: float | None
    peak_tflops: float | None
    mfu: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def device_peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_throughput(encoder: Encoder, device: torch.device, dtype: str, batch_size: int, clip_seconds: float,
                       steps: int = 10, warmup: int = 2, peak_tflops: float | None = None) -> Throughput:
    encoder.to(device)
    encoder.set_precision(DTYPES[dtype])
    samples = int(clip_seconds * encoder.sample_rate)
    generator = torch.Generator(device=device).manual_seed(0)
    waveforms = 0.1 * torch.randn(batch_size, samples, device=device, generator=generator)
    lengths = torch.full((batch_size,), samples, device=device)
    fixed_window = encoder.window_seconds is not None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        for step in range(warmup + steps):
            if step == warmup:
                synchronize(device)
                start = time.perf_counter()
            output = encoder(waveforms, lengths)
            pool(output, fixed_window).cpu()
        synchronize(device)
    elapsed = time.perf_counter() - start
    clips_per_second = steps * batch_size / elapsed
    flops = encoder.flops_per_clip(clip_seconds)
    achieved = flops * clips_per_second / 1e12 if flops else None
    peak = peak_tflops or device_peak_tflops(device)
    return Throughput(
        encoder=encoder.name, device=str(device), dtype=dtype, batch_size=batch_size, clip_seconds=clip_seconds,
        steps=steps, clips_per_second=clips_per_second, milliseconds_per_batch=1000 * elapsed / steps,
        peak_memory_gib=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        flops_per_clip=flops, achieved_tflops=achieved, peak_tflops=peak,
        mfu=achieved / peak if achieved and peak else None)
