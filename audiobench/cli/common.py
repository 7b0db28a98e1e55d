"""Console objects, shared option definitions and small helpers used by every command module."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    debug: bool = False


state = CliState()


# Shared option definitions, so every command spells them the same way.
ENCODER = typer.Option(..., "--encoder", "-e", help="Registered encoder name (see `audiobench list encoders`).")
TASK = typer.Option(..., "--task", "-t", help="Registered task name (see `audiobench list tasks`).")
PROTOCOL = typer.Option(None, "--protocol", "-p", help="Task protocol; default: the task's default.")
DATA_ROOT = typer.Option(None, "--data-root", help="Task data directory; default $AUDIOBENCH_DATA/<task> "
                         "or ~/.cache/audiobench/data/<task>.")
CACHE_DIR = typer.Option(None, "--cache-dir", help="Embedding cache; default $AUDIOBENCH_CACHE or "
                         "~/.cache/audiobench/embeddings.")
WEIGHTS = typer.Option(None, "--weights", help="Hub id or local checkpoint directory.")
RANDOM_INIT = typer.Option(False, "--random-init", help="Build the architecture untrained (no download).")
DEVICE = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N.")
DTYPE = typer.Option("auto", "--dtype", help="auto (float32 on CPU; the checkpoint's half precision on GPU) | "
                     "float32 | bfloat16 | float16.")
BATCH_SIZE = typer.Option(16, "--batch-size", min=1, help="Clips per encoder forward pass.")
SKIP_BAD = typer.Option(False, "--skip-bad", help="Skip unreadable clips (counted and reported) instead of aborting.")


@contextmanager
def progress_bar(description: str, total: int) -> Iterator:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        task_id = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task_id, n)
