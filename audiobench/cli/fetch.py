"""``audiobench data download`` and ``audiobench data prepare``: put real datasets on disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from audiobench.api import default_data_root
from audiobench.cli.common import console, err_console
from audiobench.cli.data import data_app
from audiobench.download import fetch, sources_for
from audiobench.errors import ConfigError
from audiobench.tasks.gtzan import filtered_list, prepare_gtzan

ROOT = typer.Option(None, "--root", help="Task data directory; default $AUDIOBENCH_DATA/<task> or "
                    "~/.cache/audiobench/data/<task> (what `--data-root` of other commands defaults to).")


def download(task: str = typer.Argument(..., help="esc50 | speechcommands."),
             root: Optional[Path] = ROOT,
             only: Optional[list[str]] = typer.Option(None, "--only", help="Fetch only these parts (speechcommands: "
                                                      "v0.02, v0.01, test_set_v0.01, test_set_v0.02); repeatable."),
             mirror: Optional[str] = typer.Option(None, "--mirror", help="Base URL replacing the official host "
                                                  "(the official path is appended)."),
             sha256: Optional[str] = typer.Option(None, "--sha256", help="Pin the archive's sha256 (one part only)."),
             keep_archive: bool = typer.Option(False, "--keep-archive", help="Keep the archive in ROOT/.downloads."),
             retries: int = typer.Option(2, "--retries", min=0, help="Resume this many times after an interruption.")
             ) -> None:
    """Download, verify (sha256, or layout and file count) and safely extract a dataset.

    An interrupted download resumes where it stopped when run again.

    Example: audiobench data download speechcommands --only v0.01 --only test_set_v0.01
    """
    sources = sources_for(task, only)
    if sha256 and len(sources) != 1:
        raise ConfigError("--sha256 pins one archive", f"add --only with one of {', '.join(s.name for s in sources)}")
    root = root or default_data_root(task)
    for source in sources:
        with byte_progress(f"{task} {source.name}") as (on_progress, on_stage):
            record = fetch(source, root, mirror=mirror, sha256=sha256, keep_archive=keep_archive,
                           retries=retries, on_progress=on_progress, on_stage=on_stage)
        where = root / source.dest if source.dest else root
        if record.status == "present":
            err_console.print(f"{source.name}: already in {where}")
        else:
            err_console.print(f"{source.name}: verified by {record.verified_by} (sha256 {record.sha256}), "
                              f"extracted to {where}")
    console.print(f"next: audiobench data info {task} --data-root {root}")


@contextmanager
def byte_progress(description: str) -> Iterator[tuple[Callable[[int, Optional[int]], None], Callable[[str], None]]]:
    """A byte-counting rich progress bar on stderr; yields ``fetch``'s ``on_progress(done, total)``
    and ``on_stage(stage)`` (shown beside the description)."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console) as progress:
        task_id = progress.add_task(description, total=None)
        yield (lambda done, total: progress.update(task_id, completed=done, total=total),
               lambda stage: progress.update(task_id, description=f"{description} ({stage})"))


def prepare(task: str = typer.Argument(..., help="gtzan (a benchmark task), or a training corpus: librispeech, "
                                        "commonvoice, audiocaps, clotho, wavcaps, musiccaps, songdescriber, labels."),
            source: Path = typer.Option(..., "--from", help="gtzan: your archive (.tar.gz or .zip) or a folder holding "
                                        "genres/ or genres_original/; a corpus: the folder of your download."),
            root: Optional[Path] = ROOT,
            out: Optional[Path] = typer.Option(None, "--out", help="Corpus: new folder for its shards and data list."),
            split: Optional[str] = typer.Option(None, "--split", help="Corpus split (librispeech: train-clean-100, "
                                                "...; commonvoice: train; audiocaps: train; clotho: development)."),
            audio: Optional[Path] = typer.Option(None, "--audio", help="audiocaps, musiccaps, labels: the folder of "
                                                 "the clips you downloaded (default: --from)."),
            labels_csv: Optional[Path] = typer.Option(None, "--csv", help="labels: the CSV with a file and a label "
                                                      "column."),
            file_column: str = typer.Option("fname", "--file-column", help="labels: the CSV's file column."),
            label_column: str = typer.Option("labels", "--label-column", help="labels: the CSV's label column "
                                             "(several labels separated by commas)."),
            domain: str = typer.Option("sound", "--domain", help="labels: sound or music."),
            shard_size: int = typer.Option(1000, "--shard-size", min=1, help="Corpus: clips per tar shard."),
            workers: int = typer.Option(1, "--workers", min=1, help="Corpus: shards written in parallel."),
            seed: int = typer.Option(0, "--seed", help="Corpus: seed of the shuffle and of the label captions."),
            pcm16k: bool = typer.Option(False, "--pcm16k", help="Corpus: store clips as 16 kHz 16-bit PCM WAV "
                                        "(decoded and resampled now; training workers then only copy samples).")
            ) -> None:
    """Put a dataset you already have into audiobench's layout and check every file.

    Example: audiobench data prepare gtzan --from ~/Downloads/genres.tar.gz

    Example: audiobench data prepare librispeech --from ~/LibriSpeech --split train-clean-100 --out prepared/ls100
    """
    if task != "gtzan":
        from audiobench.cli.train import prepare_corpus_command
        from audiobench.training.corpora import CorpusOptions

        if out is None:
            raise ConfigError(f"`data prepare {task}` needs --out", "pass a new folder for the shards and data list")
        options = CorpusOptions(split=split, audio=audio, csv=labels_csv, file_column=file_column,
                                label_column=label_column, domain=domain, seed=seed)
        prepare_corpus_command(task, source, out, options, shard_size, workers, pcm16k)
        return
    root = root or default_data_root(task)
    with err_console.status(f"preparing gtzan from {source}"):
        report = prepare_gtzan(source, root)
    exts = ", ".join(f"{n} {ext}" for ext, n in sorted(report.extensions.items()))
    err_console.print(f"gtzan: {report.clips} clips ({exts}) {report.action} to {report.dest}")
    short = {g: n for g, n in report.per_genre.items() if n < 100}
    if short:
        err_console.print("[yellow]fewer than 100 clips:[/] " + ", ".join(f"{g} {n}" for g, n in short.items()))
    if report.unreadable:
        in_lists = {c for role in ("train", "valid", "test") for c in filtered_list(role)}
        used = [rel for rel, _ in report.unreadable if Path(rel).stem in in_lists]
        err_console.print(f"[yellow]{len(report.unreadable)} unreadable file(s):[/] "
                          + "; ".join(f"{rel} ({why})" for rel, why in report.unreadable))
        err_console.print(f"every gtzan protocol uses them ({len(used)} also in the filtered lists): runs stop with "
                          "an error naming the file unless you pass --skip-bad, which skips and counts them")
    console.print(f"next: audiobench data info gtzan --data-root {root}")


def register(app: typer.Typer) -> None:
    data_app.command("download")(download)
    data_app.command("prepare")(prepare)
