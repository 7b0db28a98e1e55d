"""Console objects, shared option definitions and small helpers used by every command module."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Literal

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from audiobench.choices import DTYPE_CHOICES, POOLINGS, PROBES, WINDOWS, parse_layer

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    debug: bool = False


state = CliState()


def _layer(value: str) -> str:
    """``last`` | ``all`` | an integer index; whether the index exists is checked once the
    encoder is known (still before any clip is encoded)."""
    try:
        return str(parse_layer(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a layer: use last, all or an integer index") from None


def _device(value: str) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
        raise typer.BadParameter(f"{value!r} is not a device: use auto, cpu, cuda or cuda:N")
    return value


#: Option value types: Typer turns a Literal into a choice that --help lists and parsing checks.
Pooling = Literal[POOLINGS]
Dtype = Literal[DTYPE_CHOICES]
WindowName = Literal[WINDOWS]
ProbeName = Literal[tuple(PROBES.names())]

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
TRUST_REMOTE_CODE = typer.Option(False, "--trust-remote-code", help="Let --encoder hf run model code shipped "
                                 "with the checkpoint (auto_map); read that code first.")
DEVICE = typer.Option("auto", "--device", parser=_device, metavar="auto|cpu|cuda|cuda:N",
                      help="Where to encode and probe.")
DTYPE = typer.Option("auto", "--dtype", help="Precision; auto: float32 on CPU, the checkpoint's half precision on GPU "
                     "(float16 for OpenAI's weights).")
PROBE = typer.Option("logistic", "--probe", help="logistic (tuned L2) | mlp (one hidden layer, early stopping) | "
                     "paper (the paper's nn.Linear recipe).")
LAYER = typer.Option("last", "--layer", parser=_layer, metavar="last|all|N",
                     help="Layer index (0 = input embeddings; negative counts from the end), last or all.")
POOLING = typer.Option("masked-mean", "--pooling", help="masked-mean (real-audio frames) | padded-mean (whole window).")
BATCH_SIZE = typer.Option(None, "--batch-size", min=1, help="Clips per encoder forward pass (default: as much encoder "
                          "input as fits 16 full 30 s windows on a GPU, e.g. 480 trimmed 1 s clips, at most 512; on a "
                          "CPU up to 30 s: one full Whisper window, or up to 16 short clips).")
COMPILE = typer.Option(False, "--compile", help="torch.compile the encoder's network first: faster on GPUs for "
                       "thousands of clips (each new batch shape compiles once, seconds to a minute).")
WINDOW = typer.Option("full", "--window", help="full (the whole fixed window, as the paper and Whisper) | trim "
                      "(only the positions covering each clip; Whisper and audio-LLM towers; other numbers, "
                      "own cache).")
TRIM_MULTIPLE = typer.Option(50, "--trim-multiple", min=1, help="With --window trim: round each clip's window up "
                             "to a multiple of this many encoder positions (Whisper: 50 = 1 s).")
SKIP_BAD = typer.Option(False, "--skip-bad", help="Skip unreadable clips (counted and reported) instead of aborting.")


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator:
    """A rich progress bar on stderr (a counter when ``total`` is None); yields ``advance(n)``."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        task_id = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task_id, n)
