"""Uncertainty: the bootstrap interval over test clips and the paired tests behind compare."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats

from audiobench.stats import bootstrap_ci, paired_test, permutation_p


def blocks(correct_by_fold: dict[str, list[bool]]) -> dict[str, dict[str, list]]:
    return {fold: {"ids": [f"c{i}" for i in range(len(c))], "y_true": [1] * len(c), "y_pred": [int(x) for x in c]}
            for fold, c in correct_by_fold.items()}


def test_bootstrap_interval_keeps_folds_is_seeded_and_narrows_with_more_clips() -> None:
    rng = np.random.default_rng(0)
    small = {f"fold{k}": rng.random(40) < 0.8 for k in range(5)}
    large = {f"fold{k}": rng.random(400) < 0.8 for k in range(5)}
    low, high = bootstrap_ci(small)
    mean = np.mean([v.mean() for v in small.values()])
    assert low < mean < high and (low, high) == bootstrap_ci(small)
    assert bootstrap_ci(large)[1] - bootstrap_ci(large)[0] < (high - low) / 2
    assert bootstrap_ci({"only": [1.0] * 10}) == (1.0, 1.0)  # no spread to resample


def test_bootstrap_interval_of_one_fold_matches_scipy() -> None:
    correct = np.random.default_rng(2).random(400) < 0.8
    reference = scipy.stats.bootstrap((correct.astype(float),), np.mean, confidence_level=0.95, n_resamples=9999,
                                      method="percentile", random_state=0).confidence_interval
    assert bootstrap_ci({"test": correct}) == pytest.approx((reference.low, reference.high), abs=0.005)


def test_bootstrap_interval_over_folds_matches_the_normal_approximation() -> None:
    """The mean over K folds of n clips each has variance sum(p_k (1 - p_k) / n) / K**2; at 400
    clips the 95% interval is close to mean +- 1.96 sd."""
    rng = np.random.default_rng(4)
    folds = {f"fold{k}": rng.random(80) < rate for k, rate in enumerate((0.6, 0.7, 0.8, 0.85, 0.9))}
    rates = np.array([v.mean() for v in folds.values()])
    mean, sd = rates.mean(), np.sqrt(np.sum(rates * (1 - rates) / 80)) / len(rates)
    assert bootstrap_ci(folds) == pytest.approx((mean - 1.96 * sd, mean + 1.96 * sd), abs=0.004)


def test_one_split_uses_exact_mcnemar_and_k_folds_a_fold_stratified_permutation_test() -> None:
    base = {"test": [True] * 10 + [False] * 10}
    other = {"test": [True] * 10 + [True] * 6 + [False] * 4}
    single = paired_test(blocks(base), blocks(other))
    assert single.method == "mcnemar" and (single.baseline_only, single.other_only) == (0, 6)
    assert abs(single.p_value - 0.03125) < 1e-9 and single.significant
    rng = np.random.default_rng(1)
    folds = {f"fold{k}": list(rng.random(60) < 0.7) for k in range(5)}
    better = {fold: [True if i % 3 == 0 else c for i, c in enumerate(v)] for fold, v in folds.items()}
    kfold = paired_test(blocks(folds), blocks(better))
    assert kfold.method == "permutation" and kfold.p_value < 0.01 and kfold.significant
    same = paired_test(blocks(folds), blocks(folds))
    assert same.p_value == 1.0 and not same.significant
    assert permutation_p(folds, better) == kfold.p_value  # seeded: the same inputs, the same p


def test_permutation_p_matches_exhaustive_enumeration_of_the_swaps() -> None:
    """Every one of the 2**8 ways to swap the discordant clips' outcomes, counted by brute force;
    folds of different sizes, so each swap moves the mean over folds by a different amount."""
    base = {"a": [True, True, False, False, False, True, True, False, True, True],
            "b": [False, False, False, True, True, True]}
    other = {"a": [True, True, True, True, True, False, True, False, True, True],
             "b": [True, True, False, False, True, True]}
    diffs = {fold: np.subtract(other[fold], base[fold], dtype=float) for fold in base}

    def statistic(signs: dict[str, np.ndarray]) -> float:
        return sum((signs[fold] * d).mean() for fold, d in diffs.items())

    observed = abs(statistic({fold: np.ones(len(d)) for fold, d in diffs.items()}))
    flips = [(fold, i) for fold, d in diffs.items() for i in np.flatnonzero(d)]
    extreme = 0
    for choice in itertools.product((-1, 1), repeat=len(flips)):
        signs = {fold: np.ones(len(d)) for fold, d in diffs.items()}
        for (fold, i), sign in zip(flips, choice):
            signs[fold][i] = sign
        extreme += abs(statistic(signs)) >= observed - 1e-12
    exact = extreme / 2 ** len(flips)
    assert 0.05 < exact < 0.5  # a case where the answer is neither trivial nor saturated
    assert permutation_p(base, other) == pytest.approx(exact, abs=0.02)
