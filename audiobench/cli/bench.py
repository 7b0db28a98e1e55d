"""``audiobench bench``: encoder throughput and MFU on synthetic batches, one JSON per sweep."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from audiobench.cli import common
from audiobench.cli.common import console, err_console


def bench(encoder: str = common.ENCODER, weights: Optional[str] = common.WEIGHTS,
          random_init: bool = common.RANDOM_INIT, trust_remote_code: bool = common.TRUST_REMOTE_CODE,
          device: str = common.DEVICE,
          dtype: common.Dtype = common.DTYPE,
          window: list[str] = typer.Option(["full"], "--window", help="full | trim; repeat to sweep both."),
          trim_multiple: int = common.TRIM_MULTIPLE, compile: bool = common.COMPILE,
          batch_size: list[int] = typer.Option([16], "--batch-size", min=1, help="Repeat to sweep batch sizes."),
          clip_seconds: list[float] = typer.Option([30.0], "--clip-seconds", min=0.1,
                                                   help="Length of each synthetic clip; repeat to sweep."),
          steps: int = typer.Option(10, "--steps", min=1, help="Timed batches per point."),
          warmup: int = typer.Option(2, "--warmup", min=0, help="Untimed batches before them."),
          peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help="Device peak for MFU; default "
                                                      "known from the GPU name (H100/H200: 989 dense bf16)."),
          out: Optional[Path] = typer.Option(None, "--out", help="The sweep's JSON; default "
                                             "bench-<encoder>-<device>-<UTC time>.json here.")) -> None:
    """Measure encode + pool throughput (clips/s, audio s/s), peak memory and MFU on synthetic
    batches for every window x clip length x batch size; no data needed.

    Example: audiobench bench -e whisper-large-v3 --random-init --device cuda --window full --window trim
    --clip-seconds 1 --clip-seconds 5 --batch-size 32 --batch-size 64
    """
    from audiobench.bench import Sweep, run_sweep
    from audiobench.encoders import Window, build_encoder
    from audiobench.extraction import resolve_device, resolve_dtype
    from audiobench.files import atomic_write_text, ensure_writable
    from audiobench.results import environment

    if out:
        ensure_writable(out, "--out", directory=False)
    resolved = resolve_device(device)
    windows = tuple(Window(mode, trim_multiple) for mode in dict.fromkeys(window))
    model = build_encoder(encoder, weights, random_init, trust_remote_code=trust_remote_code)
    for each in windows:
        model.set_window(each)  # refuse trim for an encoder that cannot, before measuring anything
    precision = resolve_dtype(dtype, resolved, model)
    if compile:  # warm-up batches pay the compilation, not the timed ones
        model.compile_network()
    sweep = Sweep(windows, tuple(clip_seconds), tuple(batch_size), steps, warmup)
    figures = [f.to_dict() for f in run_sweep(model, resolved, precision, sweep, peak_tflops, on_point=lambda w, s, b:
               err_console.print(f"measuring {encoder}, {w.label} window, {s:g} s clips, batch {b}, {steps} steps "
                                 f"on {resolved} ({precision})"))]
    compiled = ", compiled" if compile else ""
    console.print(figures_table(f"{encoder} throughput ({resolved}, {precision}{compiled})", figures))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out or Path(f"bench-{encoder}-{resolved.type}-{stamp}.json")
    record = {"sweep": {"encoder": encoder, "weights": weights, "random_init": random_init, "device": str(resolved),
                        "dtype": precision, "compiled": compile, "windows": [w.label for w in windows],
                        "clip_seconds": clip_seconds, "batch_sizes": batch_size, "steps": steps, "warmup": warmup},
              "figures": figures, "env": environment(str(resolved)).model_dump(mode="json")}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    err_console.print(f"wrote {path}")


def figures_table(title: str, figures: list[dict]) -> Table:
    table = Table(title=title)
    for column in ("window", "clip s", "batch", "clips/s", "audio s/s", "ms/batch", "peak GiB", "TFLOP/s", "MFU"):
        table.add_column(column, justify="right")
    for f in figures:
        if f["oom"]:
            table.add_row(f["window"], f"{f['clip_seconds']:g}", str(f["batch_size"]), "out of memory", *["-"] * 5)
            continue
        table.add_row(f["window"], f"{f['clip_seconds']:g}", str(f["batch_size"]), f"{f['clips_per_second']:.1f}",
                      f"{f['audio_seconds_per_second']:.0f}", f"{f['milliseconds_per_batch']:.1f}",
                      "-" if f["peak_memory_gib"] is None else f"{f['peak_memory_gib']:.1f}",
                      "-" if f["achieved_tflops"] is None else f"{f['achieved_tflops']:.3g}",
                      "-" if f["mfu"] is None else f"{100 * f['mfu']:.1f}%")
    return table


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
