"""What a run trained on: samples per domain and what was dropped, and why.

Counted on the fly from the batches each process trains on (the data is never read ahead),
summed over processes at every log step and checkpoint, saved in every checkpoint so a resumed
run keeps counting, and written to ``RUN/data_report.json``. Statuses (``collator.py``):
``ok``, ``cut`` (sound or music over 30 s, cut to 30 s: trained on), ``bad`` (undecodable,
empty or malformed: listed by key with the reason), ``too_long`` (target over the decoder's
448 positions), ``over_30s`` (speech over 30 s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from audiobench.errors import DataError
from audiobench.training.datalist import DOMAINS

STATUSES = ("ok", "cut", "bad", "too_long", "over_30s")


@dataclass
class DataReport:
    """Totals per domain and status, the bad clips, and what the run was given."""

    source: list[str]
    domains: dict[str, int | None]
    samples_per_epoch: int
    planned_samples: int
    eval_rows: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {d: dict.fromkeys(STATUSES, 0)
                                                                        for d in DOMAINS})
    bad: list[dict[str, str]] = field(default_factory=list)

    def add(self, domains: list[str], statuses: list[str]) -> None:
        for domain, status in zip(domains, statuses):
            self.counts[domain][status] += 1

    def as_vector(self) -> list[float]:
        return [float(self.counts[d][s]) for d in DOMAINS for s in STATUSES]

    def set_from_vector(self, values: list[float]) -> None:
        for i, (d, s) in enumerate((d, s) for d in DOMAINS for s in STATUSES):
            self.counts[d][s] = int(round(values[i]))

    @property
    def seen(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    @property
    def bad_total(self) -> int:
        return sum(c["bad"] for c in self.counts.values())

    def dropped(self, status: str) -> dict[str, int]:
        return {d: c[status] for d, c in self.counts.items() if c[status]}

    def check_bad_fraction(self, max_fraction: float, where: str) -> None:
        """More bad clips than ``max_fraction`` of the run's samples stops the run."""
        if self.bad_total > max_fraction * self.planned_samples:
            raise DataError(f"{self.bad_total} undecodable or empty clips, more than max_bad_fraction={max_fraction:g} "
                            f"of the run's {self.planned_samples} samples (listed in {where})",
                            "repair or remove those clips, or raise max_bad_fraction")

    def to_dict(self) -> dict[str, Any]:
        summary = asdict(self)
        summary["dropped"] = {s: self.dropped(s) for s in ("bad", "too_long", "over_30s")}
        summary["cut_to_30s"] = self.dropped("cut")
        return summary

    def restore(self, saved: dict[str, Any]) -> None:
        """Continue the counts of a checkpoint."""
        self.counts = {d: {s: int(saved["counts"][d][s]) for s in STATUSES} for d in DOMAINS}
        self.bad = list(saved["bad"])
