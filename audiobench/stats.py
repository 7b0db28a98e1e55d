"""Statistics over scores and predictions: fold summaries and paired tests between two results.

Everything here works on plain numbers and per-fold prediction blocks
(``{fold: {"ids": [...], "y_true": [...], "y_pred": [...]}}``), never on files or leaderboards.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping, Sequence

Predictions = Mapping[str, Mapping[str, Sequence]]


def fold_mean(values: Sequence[float]) -> float:
    """The mean over folds, summed exactly so it does not depend on fold order."""
    return math.fsum(values) / len(values)


def fold_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1) over folds; 0.0 for a single fold."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test on the test clips both results predicted, matched by (fold, clip id)."""

    n_items: int
    baseline_only: int  # clips the baseline got right and the other result got wrong
    other_only: int     # clips the other result got right and the baseline got wrong
    p_value: float


def mcnemar_exact(baseline_only: int, other_only: int) -> float:
    """Two-sided exact McNemar p-value: under "no difference" the discordant clips split 50/50."""
    from scipy.stats import binomtest  # scipy is slow to import; only comparisons need it

    discordant = baseline_only + other_only
    if discordant == 0:
        return 1.0
    return float(binomtest(min(baseline_only, other_only), discordant, 0.5).pvalue)


def paired_test(baseline: Predictions, other: Predictions) -> PairedTest | None:
    """McNemar over the clips both predicted; None when they share none. The caller makes sure
    both come from the same manifest, so a clip id means the same clip and label."""
    base, oth = correctness(baseline), correctness(other)
    common = base.keys() & oth.keys()
    if not common:
        return None
    baseline_only = sum(1 for k in common if base[k] and not oth[k])
    other_only = sum(1 for k in common if oth[k] and not base[k])
    return PairedTest(len(common), baseline_only, other_only, mcnemar_exact(baseline_only, other_only))


def correctness(predictions: Predictions) -> dict[tuple[str, str], bool]:
    """(fold, clip id) -> whether the prediction was right."""
    return {(str(fold), str(clip)): truth == guess
            for fold, block in predictions.items()
            for clip, truth, guess in zip(block["ids"], block["y_true"], block["y_pred"])}
