from __future__ import annotations

import numpy as np
import pytest

from audiobench.errors import UnknownNameError
from audiobench.probes import LogisticProbe, PaperProbe, holdout_split, make_probe


def blobs(n_per_class: int = 30, classes: int = 4, dim: int = 16, seed: int = 0):
    """Gaussian classes around fixed centres; ``seed`` draws a new sample of the same classes."""
    centers = np.random.default_rng(123).normal(0, 3, (classes, dim))
    y = np.repeat(np.arange(classes), n_per_class)
    return centers[y] + np.random.default_rng(seed).normal(0, 1, (len(y), dim)), y


def test_logistic_probe_selects_C_on_given_validation_and_predicts() -> None:
    X, y = blobs()
    Xv, yv = blobs(seed=1)
    probe = LogisticProbe().fit(X, y, Xv, yv)
    assert probe.selected_["C"] in probe.Cs and not probe.selected_["valid_from_train"]
    Xt, yt = blobs(seed=2)
    assert (probe.predict(Xt) == yt).mean() > 0.9


def test_logistic_probe_carves_validation_from_training_when_none_given() -> None:
    X, y = blobs()
    probe = LogisticProbe().fit(X, y)
    assert probe.selected_["valid_from_train"]
    assert probe.scaler_.n_samples_seen_ == len(X)  # refit on all training data


def test_holdout_keeps_groups_on_one_side() -> None:
    y = np.repeat(np.arange(3), 20)
    groups = np.array([f"rec{i // 4}" for i in range(60)])
    train, valid = holdout_split(y, groups, seed=0)
    assert set(groups[train]).isdisjoint(groups[valid])
    assert len(set(train) | set(valid)) == 60 and set(y[valid]) == {0, 1, 2}


def test_paper_probe_is_the_seeded_linear_recipe() -> None:
    X, y = blobs()
    first = PaperProbe(seed=3).fit(X, y)
    second = PaperProbe(seed=3).fit(X, y)
    assert (first.predict(X) == second.predict(X)).all()
    assert (first.predict(X) == y).mean() > 0.6  # chance is 0.25; 100 Adam steps at lr 1e-3
    assert PaperProbe().settings() == {"epochs": 50, "lr": 1e-3, "batch_size": 64, "seed": 0}


def test_unknown_probe_name() -> None:
    with pytest.raises(UnknownNameError, match="available: logistic, paper"):
        make_probe("svm", seed=0)
