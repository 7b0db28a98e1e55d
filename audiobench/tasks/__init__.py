"""Task registry. Built-ins are lazy ``"module:Class"`` entries; third-party packages register
a ``Task`` subclass under the entry-point group ``audiobench.tasks``."""

from __future__ import annotations

from audiobench.registry import Registry
from audiobench.tasks.base import Clip, Fold, Manifest, Protocol, Task

TASKS: Registry[type[Task]] = Registry("task", entry_point_group="audiobench.tasks")
TASKS.register("esc50", "audiobench.tasks.esc50:ESC50")
TASKS.register("gtzan", "audiobench.tasks.gtzan:GTZAN")
TASKS.register("speechcommands", "audiobench.tasks.speechcommands:SpeechCommands")


def get_task(name: str) -> Task:
    return TASKS.get(name)()


__all__ = ["TASKS", "Clip", "Fold", "Manifest", "Protocol", "Task", "get_task"]
