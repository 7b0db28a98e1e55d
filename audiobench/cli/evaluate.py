"""``audiobench run`` (embed + probe), ``audiobench embed`` and ``audiobench probe``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from audiobench.cli import common
from audiobench.cli.common import err_console

PROBE = typer.Option("logistic", "--probe", help="logistic (tuned L2) | mlp (one hidden layer, early stopping) | paper (the paper's nn.Linear recipe).")
LAYER = typer.Option("last", "--layer", help="last | all | an index (0 = input embeddings).")
POOLING = typer.Option("masked-mean", "--pooling", help="masked-mean (real-audio frames) | padded-mean (whole window).")
SEED = typer.Option(0, "--seed", help="Seed of the probe.")
WORKERS = typer.Option(None, "--workers", min=0, help="Audio decoding processes (default: cores - 1, at most 8).")
RESULTS_DIR = typer.Option(Path("results"), "--results-dir", help="Where result JSON files are written.")


def run(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
        probe: str = PROBE, layer: str = LAYER, pooling: str = POOLING, device: str = common.DEVICE,
        dtype: str = common.DTYPE, batch_size: int = common.BATCH_SIZE, workers: Optional[int] = WORKERS,
        data_root: Optional[Path] = common.DATA_ROOT, cache_dir: Optional[Path] = common.CACHE_DIR,
        results_dir: Path = RESULTS_DIR, weights: Optional[str] = common.WEIGHTS,
        random_init: bool = common.RANDOM_INIT, seed: int = SEED, skip_bad: bool = common.SKIP_BAD) -> None:
    """Embed a task's clips (cached) and probe them: one result JSON per layer.

    Example: audiobench run --encoder whisper-large-v3 --task esc50 --layer all
    """
    from audiobench.cli import workflow
    workflow.check_options(encoder, task, device, dtype, pooling, probe)
    manifest = workflow.load_manifest(task, protocol, data_root)
    model = workflow.build_encoder(encoder, weights, random_init)
    workflow.parse_layers(layer, model.num_layers)
    options = workflow.EmbedOptions(batch_size=batch_size, device=device, dtype=dtype, num_workers=workers, skip_bad=skip_bad)
    cache, report = workflow.embed_manifest(model, manifest, cache_dir, options)
    workflow.print_results(workflow.probe_and_write(model, manifest, cache, report, random_init, probe, layer, pooling, seed,
                                  device, results_dir))


def embed_command(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
                  device: str = common.DEVICE, dtype: str = common.DTYPE, batch_size: int = common.BATCH_SIZE,
                  workers: Optional[int] = WORKERS, data_root: Optional[Path] = common.DATA_ROOT,
                  cache_dir: Optional[Path] = common.CACHE_DIR, weights: Optional[str] = common.WEIGHTS,
                  random_init: bool = common.RANDOM_INIT, skip_bad: bool = common.SKIP_BAD,
                  export: Optional[Path] = typer.Option(None, "--export", help="Also write FILE.npz for use outside audiobench."),
                  pooling: str = POOLING) -> None:
    """Embed a task's clips into the cache (every layer, both poolings).

    Example: audiobench embed --encoder whisper-base --task gtzan --export gtzan.npz
    """
    from audiobench.cli import workflow
    workflow.check_options(encoder, task, device, dtype, pooling)
    manifest = workflow.load_manifest(task, protocol, data_root)
    model = workflow.build_encoder(encoder, weights, random_init)
    options = workflow.EmbedOptions(batch_size=batch_size, device=device, dtype=dtype, num_workers=workers, skip_bad=skip_bad)
    cache, report = workflow.embed_manifest(model, manifest, cache_dir, options)
    err_console.print(f"cache: {cache.directory}")
    if export:
        count = workflow.export_npz(export, manifest, cache, report, pooling, model.num_layers, model.dim)
        err_console.print(f"wrote {count} clips x {model.num_layers} layers x {model.dim} ({pooling}) to {export}")


def probe_command(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
                  probe: str = PROBE, layer: str = LAYER, pooling: str = POOLING, device: str = common.DEVICE,
                  dtype: str = common.DTYPE, data_root: Optional[Path] = common.DATA_ROOT,
                  cache_dir: Optional[Path] = common.CACHE_DIR, results_dir: Path = RESULTS_DIR,
                  weights: Optional[str] = common.WEIGHTS, random_init: bool = common.RANDOM_INIT,
                  seed: int = SEED, skip_bad: bool = common.SKIP_BAD) -> None:
    """Probe embeddings already in the cache (run `audiobench embed` first); never encodes.

    Example: audiobench probe --encoder whisper-base --task esc50 --layer all --pooling padded-mean
    """
    from audiobench.cli import workflow
    workflow.check_options(encoder, task, device, dtype, pooling, probe)
    manifest = workflow.load_manifest(task, protocol, data_root)
    model = workflow.build_encoder(encoder, weights, random_init)
    workflow.parse_layers(layer, model.num_layers)
    cache, report = workflow.cached(model, manifest, cache_dir or common.default_cache_dir(), dtype, device, skip_bad)
    if report.skipped:
        err_console.print(f"[yellow]skipping {len(report.skipped)} clip(s) that failed to decode during embed[/]")
    workflow.print_results(workflow.probe_and_write(model, manifest, cache, report, random_init, probe, layer, pooling, seed,
                                  device, results_dir))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("embed")(embed_command)
    app.command("probe")(probe_command)
