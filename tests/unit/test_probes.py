"""The probes: the logistic probe's two solvers agree, model selection is robust to rounding,
convergence is recorded; the mlp and paper recipes; bad inputs refused before fitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audiobench.errors import UnknownNameError
from audiobench.probes import (
    LogisticProbe,
    MLPProbe,
    PaperProbe,
    holdout_split,
    make_probe,
    select,
)


def blobs(n_per_class: int = 30, classes: int = 4, dim: int = 16, seed: int = 0, spread: float = 3.0):
    """Gaussian classes around fixed centres; ``seed`` draws a new sample of the same classes."""
    centers = np.random.default_rng(123).normal(0, spread, (classes, dim))
    y = np.repeat(np.arange(classes), n_per_class)
    return (centers[y] + np.random.default_rng(seed).normal(0, 1, (len(y), dim))).astype(np.float32), y


def mixture(n: int, dim: int, classes: int, seed: int, separation: float = 0.1):
    """A Gaussian mixture hard enough that the probe's choice of C matters."""
    centres = np.random.default_rng(7).normal(0, separation, (classes, dim))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.normal(0, 1, (n, dim))).astype(np.float32), y


def test_logistic_probe_selects_C_on_given_validation_and_predicts() -> None:
    X, y = blobs()
    Xv, yv = blobs(seed=1)
    probe = LogisticProbe().fit(X, y, Xv, yv)
    assert probe.selected_["C"] in probe.Cs and not probe.selected_["valid_from_train"]
    assert probe.selected_["solver"] == "torch" and probe.selected_["converged"]
    assert [fit["C"] for fit in probe.selected_["fits"]] == sorted(probe.Cs)  # the path, strong to weak
    Xt, yt = blobs(seed=2)
    assert (probe.predict(Xt) == yt).mean() > 0.9


def test_logistic_probe_carves_validation_from_training_when_none_given() -> None:
    X, y = blobs()
    probe = LogisticProbe().fit(X, y)
    assert probe.selected_["valid_from_train"]
    np.testing.assert_allclose(probe.scaler_.mean, X.mean(0), rtol=1e-5)  # refit on all training data
    assert probe.selected_["fits"][-1]["refit"]


def test_ties_go_to_the_strongest_regularisation_within_the_tolerance() -> None:
    assert select({0.01: 0.90, 0.1: 0.903, 1.0: 0.904}, [0.01, 0.1, 1.0]) == 0.01
    assert select({0.01: 0.80, 0.1: 0.903, 1.0: 0.904}, [0.01, 0.1, 1.0]) == 0.1


@pytest.mark.slow
def test_torch_and_sklearn_solvers_agree_on_a_20000_by_1280_35_class_mixture() -> None:
    """One point of the C path (the full path takes minutes under scikit-learn on two cores;
    the synthetic-suite test covers the path)."""
    X, y = mixture(20_000, 1280, 35, seed=0)
    Xv, yv = mixture(1_000, 1280, 35, seed=1)
    Xt, yt = mixture(2_000, 1280, 35, seed=2)
    accuracy = {}
    for solver in ("torch", "sklearn"):
        probe = LogisticProbe(Cs=(1e-2,), solver=solver).fit(X, y, Xv, yv)
        accuracy[solver] = (probe.predict(Xt) == yt).mean()
        assert probe.selected_["converged"], probe.selected_
    assert 0.3 < accuracy["torch"] < 0.99  # neither trivial nor hopeless
    assert abs(accuracy["torch"] - accuracy["sklearn"]) <= 0.005, accuracy


def test_identical_scores_under_two_thread_counts_and_sub_float16_perturbations() -> None:
    """Model selection on a 16-clip validation split, where C ties are common: neither the
    thread count nor a perturbation far below float16 resolution may change a prediction."""
    X, y = mixture(400, 64, 4, seed=0, separation=0.4)
    Xv, yv = mixture(16, 64, 4, seed=1, separation=0.4)
    Xt, _ = mixture(400, 64, 4, seed=2, separation=0.4)
    threads = torch.get_num_threads()

    def run(features: np.ndarray, n_threads: int) -> tuple:
        torch.set_num_threads(n_threads)
        try:
            probe = LogisticProbe().fit(features, y, Xv, yv)
        finally:
            torch.set_num_threads(threads)
        return probe.selected_["C"], probe.predict(Xt).tolist()

    reference = run(X, 1)
    assert run(X, 2) == reference
    noise = np.random.default_rng(3).normal(0, 1e-6, X.shape).astype(np.float32)  # float16 resolves ~1e-3
    assert run(X + noise * np.abs(X), 2) == reference


def test_non_convergence_is_recorded_not_silenced() -> None:
    X, y = mixture(300, 32, 3, seed=0)
    Xv, yv = mixture(60, 32, 3, seed=1)
    for solver in ("torch", "sklearn"):
        probe = LogisticProbe(Cs=(100.0,), max_iter=2, solver=solver).fit(X, y, Xv, yv)
        assert probe.selected_["converged"] is False
        assert probe.selected_["fits"] == [{"C": 100.0, "valid_accuracy": probe.selected_["valid_accuracy"],
                                            "iterations": 2, "converged": False}]


def test_balanced_weighting_lifts_a_rare_class() -> None:
    """Class 0 is 3% of training: the class-weighted loss must recall more of it."""
    X, y = mixture(2000, 16, 3, seed=0, separation=0.5)
    keep = (y != 0) | (np.arange(len(y)) % 16 == 0)
    X, y = X[keep], y[keep]
    Xt, yt = mixture(600, 16, 3, seed=2, separation=0.5)
    recall = {}
    for balanced in (False, True):
        for probe in (LogisticProbe(Cs=(1.0,), balanced=balanced), PaperProbe(balanced=balanced, epochs=5)):
            predicted = probe.fit(X, y, *mixture(200, 16, 3, seed=1, separation=0.5), n_classes=3).predict(Xt)
            recall[probe.name, balanced] = (predicted[yt == 0] == 0).mean()
    assert recall["logistic", True] > recall["logistic", False] + 0.1, recall
    assert recall["paper", True] > recall["paper", False] + 0.1, recall
    assert LogisticProbe(balanced=True).settings()["balanced"] is True


def test_holdout_keeps_groups_on_one_side() -> None:
    y = np.repeat(np.arange(3), 20)
    groups = np.array([f"rec{i // 4}" for i in range(60)])
    train, valid = holdout_split(y, groups, seed=0)
    assert set(groups[train]).isdisjoint(groups[valid])
    assert len(set(train) | set(valid)) == 60 and set(y[valid]) == {0, 1, 2}


def test_mlp_probe_stops_early_on_validation_and_picks_from_its_grid() -> None:
    X, y = blobs(spread=1.0)
    Xv, yv = blobs(seed=1, spread=1.0)
    probe = MLPProbe(hidden_sizes=(16, 64), max_epochs=40, patience=5, batch_size=64).fit(X, y, Xv, yv, n_classes=5)
    chosen = probe.selected_
    assert len(chosen["grid"]) == 4 and (chosen["hidden"], chosen["lr"]) in {(g["hidden"], g["lr"]) for g in chosen["grid"]}
    assert all(g["epochs"] <= 40 for g in chosen["grid"]) and chosen["valid_accuracy"] == max(g["valid_accuracy"] for g in chosen["grid"])
    assert probe.model_[-1].out_features == 5  # the task's classes, not the training labels' maximum
    Xt, yt = blobs(seed=2, spread=1.0)
    assert (probe.predict(Xt) == yt).mean() > 0.6
    again = MLPProbe(hidden_sizes=(16, 64), max_epochs=40, patience=5, batch_size=64).fit(X, y, Xv, yv, n_classes=5)
    assert (again.predict(Xt) == probe.predict(Xt)).all()  # seeded


def test_paper_probe_is_the_seeded_linear_recipe_with_one_output_per_task_class() -> None:
    X, y = blobs()
    first = PaperProbe(seed=3).fit(X, y, n_classes=6)
    second = PaperProbe(seed=3).fit(X, y, n_classes=6)
    assert (first.predict(X) == second.predict(X)).all()
    assert (first.predict(X) == y).mean() > 0.6  # chance is 0.25; 100 Adam steps at lr 1e-3
    assert first.model_.out_features == 6
    # The paper's section 4.1: Adam at lr 1e-3, 50 epochs, mini-batch 64.
    assert PaperProbe().settings() == {"epochs": 50, "lr": 1e-3, "batch_size": 64, "balanced": False, "seed": 0}


def test_unknown_probe_name() -> None:
    with pytest.raises(UnknownNameError, match="available: logistic, mlp, paper"):
        make_probe("svm", seed=0)


def toy_manifest(labels: list[int], train: list[int], test: list[int]):
    from audiobench.tasks.base import Clip, Fold, Manifest

    clips = [Clip(f"clip{i}.wav", label) for i, label in enumerate(labels)]
    return Manifest("toy", "p", Path("."), clips, ["cat", "dog", "owl"], [Fold("fold1", tuple(train), (), tuple(test))])


@pytest.mark.parametrize("labels, train, test, poison, message", [
    ([0, 1, 0, 1, 0, 1], [0, 1, 2, 3], [4, 5], 1, r"toy/p, fold fold1, train split: 1 clip\(s\) have NaN or inf features, e\.g\. clip1\.wav \(class dog\)"),
    ([0, 0, 0, 0, 1, 2], [0, 1, 2, 3], [4, 5], None, r"toy/p, fold fold1, train split: only one class \(cat\)"),
    ([0, 1, 0, 1, 2, 1], [0, 1, 2, 3], [4, 5], None, r"toy/p, fold fold1, test split: class owl has no training clips"),
])
def test_bad_inputs_are_refused_naming_task_split_and_class(labels, train, test, poison, message) -> None:
    from audiobench.errors import DataError
    from audiobench.evaluate import probe_folds

    X = np.random.default_rng(0).normal(size=(len(labels), 4)).astype(np.float32)
    if poison is not None:
        X[poison, 2] = np.inf
    with pytest.raises(DataError, match=message):
        probe_folds(toy_manifest(labels, train, test), X, np.ones(len(labels), bool), "logistic", 0)
