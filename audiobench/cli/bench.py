"""``audiobench bench``: encoder throughput and MFU on synthetic batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from audiobench.cli import common
from audiobench.cli.common import console, err_console


def bench(encoder: str = common.ENCODER, weights: Optional[str] = common.WEIGHTS,
          random_init: bool = common.RANDOM_INIT, device: str = common.DEVICE,
          dtype: common.Dtype = common.DTYPE,
          batch_size: list[int] = typer.Option([16], "--batch-size", min=1, help="Repeat to sweep batch sizes."),
          clip_seconds: float = typer.Option(30.0, "--clip-seconds", min=0.1, help="Length of each synthetic clip."),
          steps: int = typer.Option(10, "--steps", min=1, help="Timed batches (after 2 warm-up batches)."),
          peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help="Device peak for MFU; default "
                                                      "known from the GPU name (H100/H200: 989 dense bf16)."),
          out: Optional[Path] = typer.Option(None, "--out", help="Also write the figures as JSON.")) -> None:
    """Measure encode + pool throughput (clips/s) and MFU on synthetic batches; no data needed.

    Example: audiobench bench --encoder whisper-large-v3 --random-init --device cuda --batch-size 32 --batch-size 64
    """
    from audiobench.bench import measure_throughput
    from audiobench.extraction import resolve_device, resolve_dtype
    from audiobench.encoders import build_encoder
    from audiobench.files import atomic_write_text
    from audiobench.results import environment

    resolved = resolve_device(device)
    model = build_encoder(encoder, weights, random_init)
    precision = resolve_dtype(dtype, resolved, model)
    figures = []
    for size in batch_size:
        err_console.print(f"measuring {encoder}, batch {size}, {steps} steps on {resolved} ({precision})")
        figures.append(measure_throughput(model, resolved, precision, size, clip_seconds, steps,
                                          peak_tflops=peak_tflops).to_dict())
    table = Table(title=f"{encoder} throughput ({clip_seconds:g} s clips, {resolved}, {precision})")
    for column in ("batch", "clips/s", "ms/batch", "peak GiB", "TFLOP/s", "MFU"):
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(str(f["batch_size"]), f"{f['clips_per_second']:.1f}", f"{f['milliseconds_per_batch']:.1f}",
                      "-" if f["peak_memory_gib"] is None else f"{f['peak_memory_gib']:.1f}",
                      "-" if f["achieved_tflops"] is None else f"{f['achieved_tflops']:.3g}",
                      "-" if f["mfu"] is None else f"{100 * f['mfu']:.1f}%")
    console.print(table)
    if out:
        payload = {"figures": figures, "env": environment(str(resolved)).model_dump()}
        atomic_write_text(out, json.dumps(payload, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
