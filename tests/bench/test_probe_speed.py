"""Logistic-probe speed at Speech Commands v2 scale (pytest-benchmark; `make bench`, never part
of `make test`): 85,000 training clips x 1,280 dimensions, 35 classes, the full C sweep with
validation-based selection, torch L-BFGS (on CUDA when there is one) against scikit-learn's
lbfgs on the same data. Each records its test accuracy and iteration count in ``extra_info``
(compare the two at equal accuracy). README "Probe speed" reports the figures.
"""

from __future__ import annotations

import numpy as np
import pytest

from audiobench.extraction import resolve_device
from audiobench.probes import LogisticProbe

TRAIN, VALID, TEST, DIM, CLASSES = 85_000, 10_000, 11_000, 1280, 35


def mixture(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 35-class Gaussian mixture whose classes overlap (test accuracy well below 100%)."""
    centres = np.random.default_rng(7).normal(0, 0.1, (CLASSES, DIM))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    return (centres[y] + rng.normal(0, 1, (n, DIM))).astype(np.float32), y


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": mixture(TRAIN, 0), "valid": mixture(VALID, 1), "test": mixture(TEST, 2)}


@pytest.mark.parametrize("solver", ["torch", "sklearn"])
def test_logistic_full_C_sweep(benchmark, splits, solver: str) -> None:
    device = str(resolve_device("auto")) if solver == "torch" else "cpu"
    (X, y), (Xv, yv), (Xt, yt) = splits["train"], splits["valid"], splits["test"]
    probe = benchmark.pedantic(lambda: LogisticProbe(solver=solver, device=device).fit(X, y, Xv, yv),
                               rounds=1, iterations=1)
    accuracy = float((probe.predict(Xt) == yt).mean())
    benchmark.extra_info.update(device=device, test_accuracy=accuracy, C=probe.selected_["C"],
                                iterations=sum(fit["iterations"] for fit in probe.selected_["fits"]),
                                converged=probe.selected_["converged"])
    assert probe.selected_["converged"] and accuracy > 1 / CLASSES
