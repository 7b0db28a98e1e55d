"""``Window``: how much of a fixed input window an encoder runs. Torch-free, so cache keys,
CLI checks and recorded encoder descriptions can use it without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from audiobench.choices import WINDOWS
from audiobench.errors import ConfigError

#: Default rounding of a trimmed window, in encoder positions (50 Whisper positions = 1 s).
TRIM_MULTIPLE = 50


@dataclass(frozen=True)
class Window:
    """``full``: the whole window (what the paper and Whisper do). ``trim``: only the positions
    covering the clip, rounded up to a multiple of ``multiple`` positions (larger multiples:
    fewer distinct shapes, more padding)."""

    mode: str = "full"
    multiple: int = TRIM_MULTIPLE

    def __post_init__(self) -> None:
        if self.mode not in WINDOWS:
            raise ConfigError(f"--window {self.mode}: unknown", f"use one of {', '.join(WINDOWS)}")
        if self.multiple < 1:
            raise ConfigError(f"--trim-multiple {self.multiple}: must be at least 1",
                              "pass a positive count of positions")

    @property
    def label(self) -> str:
        """``full`` or ``trim<multiple>``: stored in cache keys and results."""
        return "full" if self.mode == "full" else f"trim{self.multiple}"

    @classmethod
    def from_label(cls, label: str) -> "Window":
        if label.startswith("trim") and label[4:].isdigit():
            return cls("trim", int(label[4:]))
        return cls(label)


FULL_WINDOW = Window()
