"""The regression gate behind ``audiobench check``: the same encoder row on the same protocol
and manifest, baseline against new results, fails when it dropped by more than a tolerance.

Reference (published) numbers are never gated; a gate that compared nothing is an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from audiobench.errors import ConfigError, ResultsError
from audiobench.leaderboard import Entry, latest


@dataclass(frozen=True)
class Pair:
    """The same encoder row on the same protocol in the baseline and in the new results."""

    row: str
    protocol_id: str
    baseline: Entry
    current: Entry

    @property
    def delta_points(self) -> float:
        return (self.current.mean - self.baseline.mean) * 100


@dataclass
class CheckReport:
    tolerance: float
    checked: list[Pair]
    manifest_mismatches: list[Pair]
    #: (row, protocol id) present on one side only: not checked, but worth a line in CI logs.
    only_in_baseline: list[tuple[str, str]]
    only_in_current: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Pair]:
        # The small slack keeps a drop of exactly `tolerance` points from failing on float noise.
        return [p for p in self.checked if p.delta_points < -self.tolerance - 1e-9]

    def require_pairs(self) -> None:
        """Raise ``ResultsError`` when nothing was compared: a gate that checked nothing must not pass."""
        if self.checked:
            return
        common = len(self.manifest_mismatches)
        raise ResultsError(
            f"0 encoder/task pairs checked: the baseline has {len(self.only_in_baseline) + common} measured "
            f"pair(s), the results {len(self.only_in_current) + common}, {common} in common but on a different "
            "manifest",
            "point --baseline and RESULTS at results of the same encoders, protocols and data")


def check_regressions(baseline: Sequence[Entry], current: Sequence[Entry], tolerance: float = 0.5) -> CheckReport:
    """Compare measured scores present in both on the same protocol id and manifest.

    A pair on different manifests is listed in ``manifest_mismatches``, not compared. Call
    ``require_pairs`` (after showing the mismatches) before trusting an empty regression list.
    """
    if tolerance < 0 or math.isnan(tolerance):
        raise ConfigError(f"--tolerance must be >= 0 accuracy points, got {tolerance}", "e.g. --tolerance 0.5")
    base, base_notes = latest((e for e in baseline if e.measured), lambda e: (e.row, e.protocol_id))
    new, new_notes = latest((e for e in current if e.measured), lambda e: (e.row, e.protocol_id))
    checked, mismatched = [], []
    for key in sorted(base.keys() & new.keys()):
        pair = Pair(key[0], key[1], base[key], new[key])
        same = pair.baseline.manifest_sha256 == pair.current.manifest_sha256
        (checked if same else mismatched).append(pair)
    return CheckReport(tolerance, checked, mismatched, sorted(base.keys() - new.keys()),
                       sorted(new.keys() - base.keys()), base_notes + new_notes)
