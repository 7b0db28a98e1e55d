"""``audiobench data ...``: synthesise, inspect (and, from other modules, fetch) data trees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from audiobench.api import default_data_root
from audiobench.cli import common
from audiobench.cli.common import console, err_console
from audiobench.tasks import get_task

data_app = typer.Typer(help="Synthesise, download, prepare and inspect datasets.", no_args_is_help=True)

DEFAULT_SYNTH_TASKS = ("esc50", "gtzan", "speechcommands")


@data_app.command("synth")
def synth(out: Path = typer.Option(..., "--out", help="Directory; each task goes to OUT/<task>."),
          task: Optional[list[str]] = typer.Option(None, "--task", help="Task(s) to write; default: esc50, gtzan, "
                                                   "speechcommands."),
          scale: str = typer.Option("tiny", "--scale", help="tiny | small."),
          seed: int = typer.Option(0, "--seed")) -> None:
    """Write synthetic datasets in the real on-disk layouts (learnable, seeded).

    Example: audiobench data synth --out /tmp/synth --task esc50 --scale small
    """
    from audiobench.files import ensure_writable
    from audiobench.synth import synthesize

    ensure_writable(out, "--out")
    for name in task or DEFAULT_SYNTH_TASKS:
        summary = synthesize(name, out / name, scale, seed)
        err_console.print(f"{name}: wrote {summary['clips']} clips to {out / name}")


def manifest_info(task: str, protocol: Optional[str], data_root: Optional[Path]) -> dict:
    manifest = get_task(task).manifest(data_root or default_data_root(task), protocol)
    folds = {}
    for fold in manifest.folds:
        folds[fold.name] = {role: {"clips": len(getattr(fold, role)), "classes": manifest.class_counts(fold, role)}
                            for role in ("train", "valid", "test")}
    return {"task": manifest.task, "protocol": manifest.protocol, "protocol_id": manifest.protocol_id,
            "root": str(manifest.root), "clips": len(manifest.clips), "num_classes": len(manifest.label_names),
            "manifest_sha256": manifest.sha256, "folds": folds, "missing": manifest.missing,
            "unused": [clip_id for clip_id, _ in manifest.unused]}


@data_app.command("info")
def info(task: str = typer.Argument(..., help="Task name, or a prepared / sharded folder."),
         protocol: Optional[str] = common.PROTOCOL,
         data_root: Optional[Path] = common.DATA_ROOT,
         as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
    """Validate a data tree and print split sizes per fold and class counts (embeds nothing).

    Example: audiobench data info speechcommands --protocol paper

    A folder written by `data prepare CORPUS` or `data shard` instead: its clips, hours and domains.
    """
    if Path(task).is_dir():
        shard_set(Path(task), as_json)
        return
    summary = manifest_info(task, protocol, data_root)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(f"[bold]{summary['protocol_id']}[/]: {summary['clips']:,} clips, {summary['num_classes']} classes, "
                  f"manifest {summary['manifest_sha256'][:12]}", soft_wrap=True)
    table = Table()
    for column in ("fold", "train", "valid", "test"):
        table.add_column(column, justify="right")
    for name, roles in summary["folds"].items():
        table.add_row(name, *(f'{roles[r]["clips"]:,}' for r in ("train", "valid", "test")))
    console.print(table)
    first = next(iter(summary["folds"].values()))
    classes = Table(title="clips per class (first fold)")
    for column in ("class", "train", "valid", "test"):
        classes.add_column(column, justify="right")
    for label in first["train"]["classes"]:
        classes.add_row(label, *(f'{first[r]["classes"][label]:,}' for r in ("train", "valid", "test")))
    console.print(classes)
    if summary["missing"]:
        err_console.print(f"[yellow]{len(summary['missing'])} clip(s) named by the protocol are not in the tree[/] "
                          f"(e.g. {', '.join(summary['missing'][:3])})")
    if summary["unused"]:
        err_console.print(f"{len(summary['unused'])} clip(s) in the tree are not used by this protocol")


def shard_set(folder: Path, as_json: bool) -> None:
    from audiobench.training.corpora import shard_set_info

    summary = shard_set_info(folder)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    console.print(f"[bold]{summary['folder']}[/] ({summary['corpus']}): {summary['clips']:,} clips, "
                  f"{summary['hours']:.2f} h", soft_wrap=True)
    table = Table()
    for column in ("domain", "clips", "hours", "shards"):
        table.add_column(column, justify="right")
    for domain, entry in summary["domains"].items():
        table.add_row(domain, f"{entry['clips']:,}", f"{entry['hours']:.2f}", str(entry["shards"]))
    console.print(table)
    if summary["skipped"] or summary["missing_audio"]:
        err_console.print(f"{summary['skipped']} unreadable clip(s) skipped, {summary['missing_audio']} entries "
                          "without audio (listed in shards.json and missing.txt)")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
