"""The steps behind ``run``, ``embed``, ``probe`` and ``demo``, with their progress bars and
messages. Imported by those commands when they run, so ``--help`` and ``list`` stay fast."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.markup import escape
from rich.table import Table

from audiobench.cli import common
from audiobench.cli.common import console, err_console, progress_bar
from audiobench.extraction import (EmbedOptions, EmbedReport, cached, embed, export_npz, resolve_device, resolve_dtype,
                              usable_mask)
from audiobench.encoders import ENCODERS, Encoder, build_encoder
from audiobench.evaluate import check_pooling, load_embeddings, make_result, parse_layers, probe_folds
from audiobench.probes import PROBES, make_probe
from audiobench.results import Result, write_result

# Re-exported for the commands, which import this module only when they run.
__all__ = ["EmbedOptions", "build_encoder", "cached", "check_options", "embed_manifest", "export_npz",
           "load_manifest", "parse_layers", "print_results", "probe_and_write"]
from audiobench.tasks import TASKS, Manifest, get_task


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
    for chunk, problem in report.discarded:
        err_console.print(f"[yellow]discarded corrupt cache chunk[/] {escape(chunk)} ({problem}); "
                          "its clips were re-encoded", highlight=False, soft_wrap=True)
    if report.skipped:
        err_console.print(f"[yellow]skipped {len(report.skipped)} unreadable clip(s)[/] (--skip-bad): "
                          + "; ".join(f"{i}: {r}" for i, r in report.skipped[:5]))
    return cache, report


def probe_and_write(encoder: Encoder, manifest: Manifest, cache, report: EmbedReport,
                    random_init: bool, probe: str, layer: str, pooling: str, seed: int, device: str,
                    results_dir: Path) -> list[tuple[Result, Path]]:
    layers = parse_layers(layer, encoder.num_layers)
    usable = usable_mask(manifest, report)
    probe_device = str(resolve_device(device))
    results = []
    with progress_bar(f"probing ({probe})", len(layers) * len(manifest.folds)) as advance:
        for index in layers:
            embeddings = load_embeddings(cache, report, usable, pooling, index, encoder.dim)
            outcome = probe_folds(manifest, embeddings, usable, probe, seed, probe_device, on_fold=advance)
            settings = make_probe(probe, seed, probe_device, manifest.balanced).settings()
            result = make_result(encoder, random_init, manifest, cache, report, probe, settings, seed, index,
                                 pooling, outcome)
            results.append((result, write_result(result, results_dir)))
    return results


def print_results(results: list[tuple[Result, Path]]) -> None:
    table = Table(title="Results")
    for column in ("encoder", "task", "probe", "layer", "pooling", "accuracy", "folds", "file"):
        table.add_column(column)
    for r, path in results:
        folds = " ".join(f"{v * 100:.1f}" for v in r.scores.per_fold.values())
        table.add_row(r.encoder.name, r.task.protocol_id, r.probe.name, str(r.layer), r.pooling,
                      f"{r.scores.mean * 100:.2f} ± {r.scores.std * 100:.2f}", folds, str(path))
    console.print(table)
