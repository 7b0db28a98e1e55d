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

from audiobench.encoders.base import Encoder
from audiobench.encoders.window import Window
from audiobench.extraction import DTYPES, HostCopy, encode_and_pool

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
    """Encode, pool and bring to the host (as ``embed`` does per batch: a non-blocking copy,
    read once the next batch is launched) ``steps`` synthetic batches of ``clip_seconds`` clips
    under the encoder's current window."""
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
        lengths = torch.full((batch_size,), samples)  # on the host, as embed passes them
        with torch.inference_mode():
            arriving = None
            for step in range(warmup + steps):
                if step == warmup:
                    synchronize(device)
                    start = time.perf_counter()
                rows = HostCopy.start(encode_and_pool(encoder, waveforms, lengths))
                if arriving is not None:  # each batch's rows read once the next is launched
                    arriving.numpy()
                arriving = rows
            arriving.numpy()
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


@dataclass(frozen=True)
class Check:
    """One target of the GPU check and what was measured against it."""

    name: str
    measured: str
    target: str
    passed: bool | None  # None: the figures needed were not measured


def best(figures: list[dict], window: str, seconds: float) -> dict | None:
    """The fastest point (over batch sizes) for one window and clip length."""
    points = [f for f in figures if f["window"] == window and f["clip_seconds"] == seconds and not f["oom"]]
    return max(points, key=lambda f: f["clips_per_second"], default=None)


def gpu_targets(figures: list[dict], end_to_end: list[dict], trim: str = "trim50") -> list[Check]:
    """The extraction targets: ``full`` at 50% MFU or more on 30 s clips; ``trim`` at least 5x
    the clips/s of ``full`` on 5 s clips; end-to-end ``embed`` (dicts with ``window``,
    ``clip_seconds``, ``batch_size``, ``clips_per_second``) within 20% of ``bench`` at the same
    window, clip length and batch size."""
    checks = []
    for window in ("full", "full+compile"):  # the second when a compiled sweep was measured too
        full30 = best(figures, window, 30.0)
        if full30 is None and window != "full":
            continue
        mfu = full30["mfu"] if full30 else None
        measured = "-" if mfu is None else (f"{100 * mfu:.1f}% ({full30['clips_per_second']:.0f} clips/s, "
                                            f"batch {full30['batch_size']})")
        checks.append(Check(f"{window}, 30 s: MFU", measured, ">= 50%", None if mfu is None else mfu >= 0.5))
    full5, trim5 = best(figures, "full", 5.0), best(figures, trim, 5.0)
    ratio = trim5["clips_per_second"] / full5["clips_per_second"] if full5 and trim5 else None
    checks.append(Check("trim / full clips/s, 5 s", "-" if ratio is None else f"{ratio:.1f}x", ">= 5x",
                        None if ratio is None else ratio >= 5))
    for run in end_to_end:
        same = [f for f in figures if (f["window"], f["clip_seconds"], f["batch_size"]) ==
                (run["window"], run["clip_seconds"], run["batch_size"]) and not f["oom"]]
        share = run["clips_per_second"] / same[0]["clips_per_second"] if same else None
        checks.append(Check(f"embed end to end / bench, {run['window']}, {run['clip_seconds']:g} s, "
                            f"batch {run['batch_size']}",
                            f"{run['clips_per_second']:.0f} clips/s"
                            + ("" if share is None else f" = {100 * share:.0f}%"),
                            ">= 80%", None if share is None else share >= 0.8))
    return checks


def targets_markdown(checks: list[Check]) -> str:
    lines = ["| check | measured | target | met |", "|---|---|---|---|"]
    verdict = {True: "yes", False: "NO", None: "not measured"}
    lines += [f"| {c.name} | {c.measured} | {c.target} | {verdict[c.passed]} |" for c in checks]
    return "\n".join(lines)


def figures_markdown(figures: list[dict]) -> str:
    """One row per sweep point, as ``audiobench bench`` measured it."""
    lines = ["| window | clip s | batch | clips/s | audio s/s | ms/batch | peak GiB | TFLOP/s | MFU |",
             "|---|---|---|---|---|---|---|---|---|"]

    def fmt(value: float | None, spec: str, scale: float = 1.0) -> str:
        return "-" if value is None else format(value * scale, spec)

    for f in figures:
        if f["oom"]:
            lines.append(f"| {f['window']} | {f['clip_seconds']:g} | {f['batch_size']} | out of memory | | | | | |")
            continue
        lines.append(f"| {f['window']} | {f['clip_seconds']:g} | {f['batch_size']} | {f['clips_per_second']:.1f} | "
                     f"{f['audio_seconds_per_second']:.0f} | {f['milliseconds_per_batch']:.1f} | "
                     f"{fmt(f['peak_memory_gib'], '.1f')} | {fmt(f['achieved_tflops'], '.1f')} | "
                     f"{fmt(f['mfu'], '.1f', 100)}{'' if f['mfu'] is None else '%'} |")
    return "\n".join(lines)
