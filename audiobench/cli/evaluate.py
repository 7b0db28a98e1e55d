"""``audiobench run`` (embed + probe), ``audiobench embed`` and ``audiobench probe``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table

from audiobench.cli import common
from audiobench.cli.common import console, err_console
from audiobench.errors import ConfigError
from audiobench.files import ensure_writable

if TYPE_CHECKING:
    from audiobench.results import Result
    from audiobench.tasks.base import Manifest

SEED = typer.Option(0, "--seed", help="Seed of the probe.")
SEEDS = typer.Option(1, "--seeds", min=1, help="Repeat the probe with N seeds (--seed, --seed + 1, ...): the result "
                     "keeps per-seed scores; per-fold scores are their mean.")
WORKERS = typer.Option(None, "--workers", min=0, help="Audio decoding processes (default: none on a CPU, where "
                       "they would take cores from the encoder; else cores - 1, at most 8, the cores split among "
                       "torchrun's processes on one machine).")
RESULTS_DIR = typer.Option(Path("results"), "--results-dir", help="Where result JSON files are written.")


SUITE = typer.Option(None, "--suite", "-s", help="Run a suite: a shipped name (`audiobench list suites`) or a "
                     "YAML file; its entries set protocol, probe, pooling and layer.")
RUN_TASKS = typer.Option(None, "--task", "-t", help="Registered task name (see `audiobench list tasks`); with "
                         "--suite, repeat to run only those tasks' entries.")
RUN_DATA_ROOT = typer.Option(None, "--data-root", help="Task data directory; with --suite, the directory holding one "
                             "folder per task. Default $AUDIOBENCH_DATA/<task> or ~/.cache/audiobench/data/<task>.")


def run(encoder: str = common.ENCODER, task: Optional[list[str]] = RUN_TASKS, suite: Optional[str] = SUITE,
        protocol: Optional[str] = common.PROTOCOL,
        probe: common.ProbeName = common.PROBE, layer: str = common.LAYER, pooling: common.Pooling = common.POOLING,
        device: str = common.DEVICE, dtype: common.Dtype = common.DTYPE, batch_size: Optional[int] = common.BATCH_SIZE,
        workers: Optional[int] = WORKERS,
        data_root: Optional[Path] = RUN_DATA_ROOT, cache_dir: Optional[Path] = common.CACHE_DIR,
        results_dir: Path = RESULTS_DIR, weights: Optional[str] = common.WEIGHTS,
        random_init: bool = common.RANDOM_INIT, seed: int = SEED, seeds: int = SEEDS,
        skip_bad: bool = common.SKIP_BAD,
        window: common.WindowName = common.WINDOW, trim_multiple: int = common.TRIM_MULTIPLE,
        trust_remote_code: bool = common.TRUST_REMOTE_CODE, compile: bool = common.COMPILE) -> None:
    """Embed a task's clips (cached) and probe them: one result JSON (--layer all: one result
    holding every layer's curve, headed by the best layer on validation). With --suite, run
    every entry of the suite (each task embedded once) and print the suite's leaderboard.

    Examples:\n
      audiobench run --encoder whisper-large-v3 --task esc50 --layer all\n
      audiobench run --encoder whisper-large-v3 --suite whisper-aut-paper
    """
    from audiobench import api

    if suite is not None:
        from audiobench.cli.suite import run_suite_command

        per_entry = [name for name, value, default in (("--protocol", protocol, None), ("--probe", probe, "logistic"),
                     ("--layer", layer, "last"), ("--pooling", pooling, "masked-mean")) if value != default]
        if per_entry:
            raise ConfigError(f"{per_entry[0]} with --suite: each suite entry sets its own",
                              "drop the option, or copy the suite's YAML file and edit its entries")
        if window != "full":
            raise ConfigError("--window with --suite: each suite entry sets its own window",
                              "drop --window, or set window: trim in the suite's entries")
        raise typer.Exit(run_suite_command(
            encoder, suite, task or [], data_dir=data_root, cache_dir=cache_dir, results_dir=results_dir,
            weights=weights, random_init=random_init, device=device, dtype=dtype, batch_size=batch_size,
            workers=workers, skip_bad=skip_bad, seed=seed, compile=compile))
    if not task or len(task) > 1:
        raise ConfigError("run takes one --task" if task else "run needs --task or --suite",
                          "repeat --task only with --suite; e.g. --task esc50")
    task = task[0]
    api.check_options(encoder, task, device, dtype, pooling, probe, window, trim_multiple)
    api.refuse_ranks("run")
    manifest = _manifest(task, protocol, data_root)
    results = api.run(encoder, manifest, probe=probe, layer=layer, pooling=pooling, seed=seed, seeds=seeds,
                      device=device,
                      dtype=dtype, batch_size=batch_size, workers=workers, cache_dir=cache_dir,
                      results_dir=results_dir, weights=weights, random_init=random_init, skip_bad=skip_bad,
                      window=window, trim_multiple=trim_multiple, trust_remote_code=trust_remote_code,
                      compile=compile, progress=common.progress_bar, notify=_note)
    first = results[0]
    _print_embedding(first.task.clips, first.timing.cache_hits, first.timing.clips_encoded, first.env.device,
                     first.timing.clips_per_second, [(s.id, s.reason) for s in first.task.skipped])
    print_results(results, results_dir)


def embed_command(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
                  device: str = common.DEVICE, dtype: common.Dtype = common.DTYPE,
                  batch_size: Optional[int] = common.BATCH_SIZE,
                  workers: Optional[int] = WORKERS, data_root: Optional[Path] = common.DATA_ROOT,
                  cache_dir: Optional[Path] = common.CACHE_DIR, weights: Optional[str] = common.WEIGHTS,
                  random_init: bool = common.RANDOM_INIT, skip_bad: bool = common.SKIP_BAD,
                  npz: Optional[Path] = typer.Option(None, "--npz", help="Also write FILE.npz for use outside "
                                                     "audiobench."),
                  export: Optional[Path] = typer.Option(None, "--export", hidden=True,
                                                        help="Deprecated name of --npz (earlier READMEs)."),
                  pooling: common.Pooling = common.POOLING, window: common.WindowName = common.WINDOW,
                  trim_multiple: int = common.TRIM_MULTIPLE,
                  trust_remote_code: bool = common.TRUST_REMOTE_CODE, compile: bool = common.COMPILE) -> None:
    """Embed a task's clips into the cache (every layer, both poolings).

    Under `torchrun --nproc-per-node N -m audiobench embed ...` (one node, or many through
    torchrun's rendezvous) the missing clips are shared among the N processes, one GPU each;
    `run` and `probe` then read the cache as usual.

    Example: audiobench embed --encoder whisper-base --task gtzan --npz gtzan.npz
    """
    from audiobench import api
    from audiobench.sharding import current_shard

    api.check_options(encoder, task, device, dtype, pooling, window=window, trim_multiple=trim_multiple)
    if export:
        if npz:
            raise ConfigError("--export and --npz both given", "pass --npz only; --export is its old name")
        _note("--export is renamed --npz")
        npz = export
    if npz:
        ensure_writable(npz, "--npz", directory=False)
    manifest = _manifest(task, protocol, data_root)
    embedding = api.embed(encoder, manifest, cache_dir=cache_dir, weights=weights, random_init=random_init,
                          device=device, dtype=dtype, batch_size=batch_size, workers=workers,
                          skip_bad=skip_bad, window=window, trim_multiple=trim_multiple,
                          trust_remote_code=trust_remote_code, compile=compile, progress=common.progress_bar,
                          notify=_note)
    if not current_shard().is_main:  # the other torchrun processes work quietly
        return
    report, model = embedding.report, embedding.encoder
    _print_embedding(report.clips, report.cache_hits, report.encoded, report.device, report.clips_per_second,
                     report.skipped)
    err_console.print(f"cache: {embedding.cache.directory}")
    if npz:
        count = embedding.save_npz(npz, pooling)
        widths = str(model.dim) if len(set(model.widths)) == 1 else "/".join(map(str, model.widths))
        err_console.print(f"wrote {count} clips x {model.num_layers} layers x {widths} ({pooling}) to {npz}")


def probe_command(encoder: str = common.ENCODER, task: str = common.TASK, protocol: Optional[str] = common.PROTOCOL,
                  probe: common.ProbeName = common.PROBE, layer: str = common.LAYER,
                  pooling: common.Pooling = common.POOLING, device: str = common.DEVICE,
                  dtype: common.Dtype = common.DTYPE, data_root: Optional[Path] = common.DATA_ROOT,
                  cache_dir: Optional[Path] = common.CACHE_DIR, results_dir: Path = RESULTS_DIR,
                  weights: Optional[str] = common.WEIGHTS, random_init: bool = common.RANDOM_INIT,
                  seed: int = SEED, seeds: int = SEEDS, skip_bad: bool = common.SKIP_BAD,
                  window: common.WindowName = common.WINDOW,
                  trim_multiple: int = common.TRIM_MULTIPLE,
                  trust_remote_code: bool = common.TRUST_REMOTE_CODE) -> None:
    """Probe embeddings already in the cache (run `audiobench embed` first); never encodes.

    Example: audiobench probe --encoder whisper-base --task esc50 --layer all --pooling padded-mean
    """
    from audiobench import api

    api.check_options(encoder, task, device, dtype, pooling, probe, window, trim_multiple)
    api.refuse_ranks("probe")
    manifest = _manifest(task, protocol, data_root)
    results = api.probe(encoder, manifest, probe=probe, layer=layer, pooling=pooling, seed=seed, seeds=seeds,
                        device=device,
                        dtype=dtype, cache_dir=cache_dir, results_dir=results_dir, weights=weights,
                        random_init=random_init, skip_bad=skip_bad, window=window, trim_multiple=trim_multiple,
                        trust_remote_code=trust_remote_code, progress=common.progress_bar, notify=_note)
    if results[0].task.skipped:
        err_console.print(f"[yellow]skipping {len(results[0].task.skipped)} clip(s) that failed to decode during "
                          "embed[/]")
    print_results(results, results_dir)


def _manifest(task: str, protocol: Optional[str], data_root: Optional[Path]) -> "Manifest":
    """The task's manifest, with a note about clips it names that are missing or unused."""
    from audiobench.api import load_manifest

    manifest = load_manifest(task, protocol, data_root)
    if manifest.missing:
        err_console.print(f"[yellow]note:[/] {len(manifest.missing)} clip(s) named by {manifest.protocol_id} are "
                          f"not in {manifest.root} (e.g. {manifest.missing[0]}); results are stamped with this "
                          "manifest and are not comparable with full-data results")
    if manifest.unused:
        err_console.print(f"{len(manifest.unused)} clip(s) of the tree are not used by {manifest.protocol_id}")
    return manifest


def _note(text: str) -> None:
    err_console.print(f"[yellow]note:[/] {escape(text)}", highlight=False, soft_wrap=True)


def _print_embedding(clips: int, cache_hits: int, encoded: int, device: str, clips_per_second: Optional[float],
                     skipped: list[tuple[str, str]]) -> None:
    speed = f", {clips_per_second:.1f} clips/s" if clips_per_second else ""
    err_console.print(f"{clips} clips: {cache_hits} cached, {encoded} encoded on {device}{speed}", soft_wrap=True)
    if skipped:
        err_console.print(f"[yellow]skipped {len(skipped)} unreadable clip(s)[/] (--skip-bad): "
                          + "; ".join(f"{escape(i)}: {escape(r)}" for i, r in skipped[:5]), soft_wrap=True)


def print_results(results: list["Result"], results_dir: Path) -> None:
    table = Table(title="Results")
    for column in ("encoder", "task", "probe", "layer", "pooling", "accuracy", "folds", "file"):
        table.add_column(column)
    for r in results:
        folds = " ".join(f"{v * 100:.1f}" for v in r.scores.per_fold.values())
        layer = f"{r.layer} (best of {len(r.layer_curve)} on valid)" if r.layer_curve else str(r.layer)
        interval = f" [{r.scores.ci95[0] * 100:.1f}, {r.scores.ci95[1] * 100:.1f}]" if r.scores.ci95 else ""
        table.add_row(r.encoder.name, r.task.protocol_id, r.probe.name, layer, r.pooling,
                      f"{r.scores.mean * 100:.2f} ± {r.scores.std * 100:.2f}{interval}", folds,
                      str(results_dir / r.filename))
        fits = [fit for chosen in r.probe.selected.values() for fit in chosen.get("fits", [])]
        failed = [fit for fit in fits if not fit["converged"]]
        if failed:
            err_console.print(f"[yellow]warning:[/] {len(failed)} of {len(fits)} probe fits did not converge "
                              f"(e.g. C={failed[0]['C']} after {failed[0]['iterations']} iterations); recorded in "
                              "the result's probe.selected")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("embed")(embed_command)
    app.command("probe")(probe_command)
