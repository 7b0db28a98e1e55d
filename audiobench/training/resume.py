"""Which checkpoint a run resumes from.

The engine writes ``RUN/checkpoint-N/`` file by file; a crash can leave one half written. The
trainer writes ``complete.json`` into the folder last, after every process has finished its
part, so only a folder holding it is resumed from. ``--resume auto`` (the default) continues
from the newest complete checkpoint, or starts fresh when there is none; newer incomplete
folders are moved to ``RUN/incomplete/`` (out of the engine's rotation) and reported.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from audiobench.errors import ConfigError
from audiobench.files import atomic_write_text

MARKER = "complete.json"
INCOMPLETE_DIR = "incomplete"
RESUME_MODES = ("auto", "never")
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class ResumePoint:
    """The checkpoint to resume from (``None``: a fresh run) and the folders set aside."""

    checkpoint: Path | None
    set_aside: list[str] = field(default_factory=list)


def checkpoints(out: Path) -> list[Path]:
    """``checkpoint-N`` folders, newest first."""
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))] \
        if out.is_dir() else []
    return [p for _, p in sorted(found, reverse=True)]


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / MARKER).is_file()


def find_resume_point(out: Path, resume: str, move: bool) -> ResumePoint:
    """``resume`` is ``auto``, ``never`` or a checkpoint folder. ``move`` (the main process):
    set incomplete folders aside."""
    if resume not in RESUME_MODES:
        path = Path(resume)
        if not is_complete(path):
            raise ConfigError(f"--resume {resume}: not a complete checkpoint (no {MARKER})",
                              "pass a checkpoint-N folder written to the end, or --resume auto")
        return ResumePoint(path)
    found = checkpoints(out)
    if resume == "never":
        if found:
            raise ConfigError(f"{out} already holds {found[0].name}", "use --resume auto, or a new --out folder")
        return ResumePoint(None)
    set_aside = []
    for checkpoint in found:
        if is_complete(checkpoint):
            return ResumePoint(checkpoint, set_aside)
        set_aside.append(checkpoint.name)
        if move:
            target = out / INCOMPLETE_DIR / checkpoint.name
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(exist_ok=True)
            checkpoint.rename(target)
    return ResumePoint(None, set_aside)


def mark_complete(checkpoint: Path, identity: dict) -> None:
    """Written last: the checkpoint is whole. ``identity`` is what a resume must match."""
    atomic_write_text(checkpoint / MARKER, json.dumps(identity, indent=2) + "\n")


def check_identity(checkpoint: Path, identity: dict) -> None:
    """A stream resumes exactly only with the same processes, workers, batches and data order."""
    saved = json.loads((checkpoint / MARKER).read_text())
    for key, value in identity.items():
        if key in saved and saved[key] != value:
            raise ConfigError(f"{checkpoint} was written with {key}={saved[key]}, this run has {value}",
                              f"resume with {key}={saved[key]} (the same launch), or start a new --out folder")
