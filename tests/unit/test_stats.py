"""Uncertainty: the bootstrap interval over test clips and the paired tests behind compare."""

from __future__ import annotations

import numpy as np

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
