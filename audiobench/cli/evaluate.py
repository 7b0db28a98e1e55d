"""``audiobench run`` (embed + probe), ``audiobench embed`` and ``audiobench probe``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from audiobench.cli import common
from audiobench.cli.common import console, err_console, progress_bar
from audiobench.embed import EmbedOptions, EmbedReport, cached, embed, export_npz, resolve_device, resolve_dtype, usable_mask
from audiobench.encoders import ENCODERS, Encoder, build_encoder
from audiobench.evaluate import check_pooling, load_embeddings, make_result, parse_layers, probe_folds
from audiobench.probe import PROBES, make_probe
from audiobench.results import write_result
from audiobench.tasks import TASKS, Manifest, get_task

PROBE = typer.Option("logistic", "--probe", help="logistic (tuned L2) | paper (the paper's nn.Linear recipe).")
LAYER = typer.Option("last", "--layer", help="last | all | an index (0 = input embeddings).")
POOLING = typer.Option("masked-mean", "--pooling", help="masked-mean (real-audio frames) | padded-mean (whole window).")
SEED = typer.Option(0, "--seed", help="Seed of the probe.")
DTYPE = typer.Option("auto", "--dtype", help="auto (bf16 on GPU, float32 on CPU) | float32 | bfloat16 | float16.")
WORKERS = typer.Option(None, "--workers", min=0, help="Audio decoding processes (default: cores - 1, at most 8).")
RESULTS_DIR = typer.Option(Path("results"), "--results-dir", help="Where result JSON files are written.")


def check_options(encoder: str, task: str, device: str, dtype: str, pooling: str, probe: str = "logistic") -> None:
    """Reject bad names and option values before any slow work starts."""
    ENCODERS.get(encoder)
    TASKS.get(task)
    resolve_dtype(dtype, resolve_device(device))
    check_pooling(pooling)
    PROBES.get(probe)


def load_manifest(task_name: str, protocol: Optional[str], data_root: Optional[Path]) -> Manifest:
    manifest = get_task(task_name).manifest(data_root or common.default_data_root(task_name), protocol)
    if manifest.missing:
        err_console.print(f"[yellow]note:[/] {len(manifest.missing)} clip(s) named by {manifest.protocol_id} are "
                          f"not in {manifest.root} (e.g. {manifest.missing[0]}); results are stamped with this "
                          "manifest and are not comparable with full-data results")
    if manifest.unused:
        err_console.print(f"{len(manifest.unused)} clip(s) of the tree are not used by {manifest.protocol_id}")
    return manifest


def embed_manifest(encoder: Encoder, manifest: Manifest, cache_dir: Optional[Path], options: EmbedOptions) -> tuple:
    with progress_bar(f"embedding {manifest.task} with {encoder.name}", len(manifest.clips)) as advance:
        cache, report = embed(encoder, manifest, cache_dir or common.default_cache_dir(), options,
                              on_progress=advance)
    speed = f", {report.clips_per_second:.1f} clips/s" if report.clips_per_second else ""
    err_console.print(f"{report.clips} clips: {report.cache_hits} cached, {report.encoded} encoded on "
                      f"{report.device}{speed}")
    if report.skipped:
        err_console.print(f"[yellow]skipped {len(report.skipped)} unreadable clip(s)[/] (--skip-bad): "
                          + "; ".join(f"{i}: {r}" for i, r in report.skipped[:5]))
    return cache, report


def probe_and_write(encoder: Encoder, manifest: Manifest, cache, report: EmbedReport,
                    random_init: bool, probe: str, layer: str, pooling: str, seed: int, device: str,
                    results_dir: Path) -> list[dict]:
    layers = parse_layers(layer, encoder.num_layers)
    usable = usable_mask(manifest, report)
    probe_device = str(resolve_device(device))
    results = []
    with progress_bar(f"probing ({probe})", len(layers) * len(manifest.folds)) as advance:
        for index in layers:
            embeddings = load_embeddings(cache, report, usable, pooling, index, encoder.dim)
            outcome = probe_folds(manifest, embeddings, usable, probe, seed, probe_device, on_fold=advance)
            settings = make_probe(probe, seed, probe_device).settings()
            result = make_result(encoder, random_init, manifest, report, probe, settings, seed, index, pooling,
                                 outcome)
            result["path"] = str(write_result(result, results_dir))
            results.append(result)
    return results


def print_results(results: list[dict]) -> None:
    table = Table(title="Results")
    for column in ("encoder", "task", "probe", "layer", "pooling", "accuracy", "folds", "file"):
        table.add_column(column)
    for r in results:
        folds = " ".join(f"{v * 100:.1f}" for v in r["scores"]["per_fold"].values())
        table.add_row(r["encoder"]["name"], r["task"]["protocol_id"], r["probe"]["name"], str(r["layer"]),
                      r["pooling"], f"{r['scores']['mean'] * 100:.2f} ± {r['scores']['std'] * 100:.2f}", folds,
                      r.pop("path"))
    console.print(table)


def run(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
        probe: str = PROBE, layer: str = LAYER, pooling: str = POOLING, device: str = common.DEVICE,
        dtype: str = DTYPE, batch_size: int = common.BATCH_SIZE, workers: Optional[int] = WORKERS,
        data_root: Optional[Path] = common.DATA_ROOT, cache_dir: Optional[Path] = common.CACHE_DIR,
        results_dir: Path = RESULTS_DIR, weights: Optional[str] = common.WEIGHTS,
        random_init: bool = common.RANDOM_INIT, seed: int = SEED, skip_bad: bool = common.SKIP_BAD) -> None:
    """Embed a task's clips (cached) and probe them: one result JSON per layer.

    Example: audiobench run --encoder whisper-large-v3 --task esc50 --layer all
    """
    check_options(encoder, task, device, dtype, pooling, probe)
    manifest = load_manifest(task, protocol, data_root)
    model = build_encoder(encoder, weights, random_init)
    parse_layers(layer, model.num_layers)
    options = EmbedOptions(batch_size=batch_size, device=device, dtype=dtype, num_workers=workers, skip_bad=skip_bad)
    cache, report = embed_manifest(model, manifest, cache_dir, options)
    print_results(probe_and_write(model, manifest, cache, report, random_init, probe, layer, pooling, seed,
                                  device, results_dir))


def embed_command(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
                  device: str = common.DEVICE, dtype: str = DTYPE, batch_size: int = common.BATCH_SIZE,
                  workers: Optional[int] = WORKERS, data_root: Optional[Path] = common.DATA_ROOT,
                  cache_dir: Optional[Path] = common.CACHE_DIR, weights: Optional[str] = common.WEIGHTS,
                  random_init: bool = common.RANDOM_INIT, skip_bad: bool = common.SKIP_BAD,
                  export: Optional[Path] = typer.Option(None, "--export", help="Also write FILE.npz for use outside audiobench."),
                  pooling: str = POOLING) -> None:
    """Embed a task's clips into the cache (every layer, both poolings).

    Example: audiobench embed --encoder whisper-base --task gtzan --export gtzan.npz
    """
    check_options(encoder, task, device, dtype, pooling)
    manifest = load_manifest(task, protocol, data_root)
    model = build_encoder(encoder, weights, random_init)
    options = EmbedOptions(batch_size=batch_size, device=device, dtype=dtype, num_workers=workers, skip_bad=skip_bad)
    cache, report = embed_manifest(model, manifest, cache_dir, options)
    err_console.print(f"cache: {cache.directory}")
    if export:
        count = export_npz(export, manifest, cache, report, pooling, model.num_layers, model.dim)
        err_console.print(f"wrote {count} clips x {model.num_layers} layers x {model.dim} ({pooling}) to {export}")


def probe_command(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
                  probe: str = PROBE, layer: str = LAYER, pooling: str = POOLING, device: str = common.DEVICE,
                  dtype: str = DTYPE, data_root: Optional[Path] = common.DATA_ROOT,
                  cache_dir: Optional[Path] = common.CACHE_DIR, results_dir: Path = RESULTS_DIR,
                  weights: Optional[str] = common.WEIGHTS, random_init: bool = common.RANDOM_INIT,
                  seed: int = SEED, skip_bad: bool = common.SKIP_BAD) -> None:
    """Probe embeddings already in the cache (run `audiobench embed` first); never encodes.

    Example: audiobench probe --encoder whisper-base --task esc50 --layer all --pooling padded-mean
    """
    check_options(encoder, task, device, dtype, pooling, probe)
    manifest = load_manifest(task, protocol, data_root)
    model = build_encoder(encoder, weights, random_init)
    parse_layers(layer, model.num_layers)
    cache, report = cached(model, manifest, cache_dir or common.default_cache_dir(), dtype, device, skip_bad)
    if report.skipped:
        err_console.print(f"[yellow]skipping {len(report.skipped)} clip(s) that failed to decode during embed[/]")
    print_results(probe_and_write(model, manifest, cache, report, random_init, probe, layer, pooling, seed,
                                  device, results_dir))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("embed")(embed_command)
    app.command("probe")(probe_command)
