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


#: Resamples of the bootstrap interval and of the permutation test (fixed seeds: the same
#: inputs always give the same interval and p-value).
RESAMPLES = 2000
#: Differences with a larger p-value are flagged as not significant.
ALPHA = 0.05


@dataclass(frozen=True)
class PairedTest:
    """A paired test on the test clips both results predicted, matched by (fold, clip id):
    exact McNemar for one split, a paired permutation test stratified by fold for k folds."""

    n_items: int
    baseline_only: int  # clips the baseline got right and the other result got wrong
    other_only: int     # clips the other result got right and the baseline got wrong
    p_value: float
    method: str = "mcnemar"

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def bootstrap_ci(correct_by_fold: Mapping[str, Sequence[float]], level: float = 0.95,
                 resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean-over-folds accuracy. Test items are resampled
    with replacement within each fold (the fold structure is kept); an item's value is its
    correctness (averaged over seeds when the probe ran with several)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folds = [np.asarray(values, dtype=np.float64) for values in correct_by_fold.values()]
    means = np.zeros(resamples)
    for values in folds:
        means += values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    means /= len(folds)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def permutation_p(base: Mapping[str, Sequence[bool]], other: Mapping[str, Sequence[bool]],
                  resamples: int = RESAMPLES, seed: int = 0) -> float:
    """Two-sided paired permutation test of the mean-over-folds accuracy difference: each clip's
    two outcomes are swapped at random, within its fold."""
    import numpy as np

    rng = np.random.default_rng(seed)
    observed, null = 0.0, np.zeros(resamples)
    for fold in base:
        diff = np.asarray(other[fold], dtype=np.float64) - np.asarray(base[fold], dtype=np.float64)
        observed += diff.mean()
        signs = rng.choice((-1.0, 1.0), size=(resamples, len(diff)))
        null += (signs * diff).mean(axis=1)
    exceed = np.sum(np.abs(null) >= abs(observed) - 1e-12)
    return float((exceed + 1) / (resamples + 1))


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
    folds = sorted({fold for fold, _ in common})
    if len(folds) == 1:
        return PairedTest(len(common), baseline_only, other_only, mcnemar_exact(baseline_only, other_only))
    keys = {fold: sorted(k for k in common if k[0] == fold) for fold in folds}
    p_value = permutation_p({f: [base[k] for k in keys[f]] for f in folds},
                            {f: [oth[k] for k in keys[f]] for f in folds})
    return PairedTest(len(common), baseline_only, other_only, p_value, "permutation")


def correctness(predictions: Predictions) -> dict[tuple[str, str], bool]:
    """(fold, clip id) -> whether the prediction was right."""
    return {(str(fold), str(clip)): truth == guess
            for fold, block in predictions.items()
            for clip, truth, guess in zip(block["ids"], block["y_true"], block["y_pred"])}
