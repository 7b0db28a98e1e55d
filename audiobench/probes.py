"""Probes: small estimators fitted on frozen embeddings (scikit-learn style: constructors store
parameters, ``fit`` does the work, fitted state ends in ``_``).

- ``logistic`` (default): standardise on the training data, multinomial logistic regression
  with the L2 strength C chosen on validation data. When a protocol has no validation split the
  probe holds one out of the training data (20%, stratified, and grouped by recording or
  speaker where the task says so), then refits on all training data with the chosen C.
  Solvers: ``torch`` (L-BFGS in :mod:`audiobench.lbfgs`, CPU or CUDA; the default, being the
  faster: README "Probe speed") or ``sklearn`` (scikit-learn's lbfgs, the reference); both
  walk the C path from strong to weak regularisation, each fit warm-started from the last.
- ``mlp``: one hidden layer (HEAR's downstream recipe, shallow): standardised inputs, ReLU,
  dropout, Adam, early stopping on validation accuracy, a small grid of widths and learning
  rates chosen on validation.
- ``paper``: the Whisper-AuT paper's recipe: ``nn.Linear`` on the raw pooled features, one
  output per class of the task, Adam lr 1e-3, 50 epochs, mini-batch 64; no validation, test
  accuracy after the last epoch.

``balanced=True`` (a protocol's flag, e.g. SUPERB keyword spotting) weights every probe's loss
by ``n / (classes * count of the class)``, so each class carries the same total weight.

Model selection cannot flip on rounding: scores within ``TIE_TOLERANCE`` of the best are tied
and the tie goes to the strongest regularisation (the smallest C, the smallest network), and
the solvers are deterministic and run to convergence; a fit that does not converge is
recorded in ``selected_["fits"]``, never silenced.

One module (about 400 lines) on purpose: the three probes share the fold loop, the input
checks, class weighting and the selection rule, and a reader compares them side by side.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from audiobench.errors import ConfigError
from audiobench.choices import PROBES

#: Validation accuracies closer than this to the best are ties (broken toward regularisation).
#: Half a point: larger than any rounding effect, smaller than one clip of a validation set
#: under 200 clips (where only exact ties count).
TIE_TOLERANCE = 0.005
SOLVERS = ("auto", "torch", "sklearn")
#: Below this many multiply-adds per pass over the data, CPU threads cost more than they save
#: (waking a BLAS thread takes milliseconds on a busy machine, the product microseconds).
SMALL_WORK = 1 << 22


class Probe(Protocol):
    name: str

    def fit(self, X: np.ndarray, y: np.ndarray, X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, groups: np.ndarray | None = None,
            n_classes: int | None = None) -> Probe: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def settings(self) -> dict[str, Any]: ...


def check_inputs(X: np.ndarray, y: np.ndarray) -> None:
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"expected X [n, dim] and y [n]; got {X.shape} and {y.shape}")
    if len(X) == 0:
        raise ConfigError("no training clips for the probe", "check the data tree and protocol (audiobench data info)")


@contextmanager
def threads_for(device: str, multiply_adds: int) -> Iterator[None]:
    """Run small CPU problems on one thread (torch and the BLAS behind numpy/scikit-learn),
    restoring the thread counts afterwards."""
    if torch.device(device).type != "cpu" or multiply_adds >= SMALL_WORK:
        yield
        return
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


def holdout_split(y: np.ndarray, groups: np.ndarray | None, seed: int,
                  share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices from training data only; whole groups go to one side."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    n_splits = max(2, round(1 / share))
    counts = np.bincount(y)
    if counts[counts > 0].min(initial=n_splits) < n_splits:  # tiny classes: at least one each side
        n_splits = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tiny classes: splitting is best effort
        if groups is not None and len(set(groups)) >= n_splits:
            splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            train, valid = next(splitter.split(np.zeros(len(y)), y, groups))
        else:
            splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
            train, valid = next(splitter.split(np.zeros(len(y)), y))
    return train, valid


def selection_data(X, y, X_valid, y_valid, groups,
                   seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """(X_fit, y_fit, X_valid, y_valid, carved): the given validation split, or one held out
    of the training data when the protocol has none."""
    if X_valid is not None and len(X_valid) > 0:
        return X, y, X_valid, y_valid, False
    train, valid = holdout_split(y, groups, seed)
    return X[train], y[train], X[valid], y[valid], True


def sample_weights(y: np.ndarray, balanced: bool) -> np.ndarray:
    """1 per clip, or ``n / (classes * count of the clip's class)`` (scikit-learn's "balanced")."""
    if not balanced:
        return np.ones(len(y))
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    return len(y) / (len(classes) * counts[index])


def select(scores: dict[Hashable, float], strongest_first: Sequence[Hashable]) -> Hashable:
    """The most regularised candidate whose score is within ``TIE_TOLERANCE`` of the best."""
    best = max(scores.values())
    return next(key for key in strongest_first if scores[key] >= best - TIE_TOLERANCE)


@dataclass
class Standardizer:
    """Per-dimension mean and scale of the training data, computed in float64 (numpy's
    pairwise sums: no BLAS, so no dependence on the kernel or thread count)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        mean = X.mean(0, dtype=np.float64)
        scale = X.std(0, dtype=np.float64)
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale).astype(np.float32)


@dataclass
class LinearFit:
    """One multinomial model: ``logits = X @ coef + intercept`` over ``classes``."""

    C: float
    classes: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    iterations: int
    converged: bool

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(X.astype(np.float64) @ self.coef + self.intercept, axis=1)]


@dataclass
class LogisticProbe:
    Cs: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
    max_iter: int = 1000
    tol: float = 1e-4
    solver: str = "auto"
    balanced: bool = False
    seed: int = 0
    device: str = "cpu"
    name: str = field(default="logistic", init=False)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "device")}

    @property
    def resolved_solver(self) -> str:
        if self.solver not in SOLVERS:
            raise ConfigError(f"logistic probe solver {self.solver!r}: unknown", f"use one of {', '.join(SOLVERS)}")
        return "torch" if self.solver == "auto" else self.solver

    def fit(self, X, y, X_valid=None, y_valid=None, groups=None, n_classes=None) -> LogisticProbe:
        check_inputs(X, y)
        with threads_for(self.device, X.size * len(np.unique(y))):
            return self._fit(X, y, X_valid, y_valid, groups)

    def _fit(self, X, y, X_valid, y_valid, groups) -> LogisticProbe:
        X_fit, y_fit, X_valid, y_valid, carved = selection_data(X, y, X_valid, y_valid, groups, self.seed)
        scaler = Standardizer.fit(X_fit)
        strongest_first = sorted(self.Cs)
        fits = self.path(scaler(X_fit), y_fit, strongest_first)
        valid_inputs = scaler(X_valid)
        scores = {fit.C: float((fit.predict(valid_inputs) == y_valid).mean()) for fit in fits}
        best = select(scores, strongest_first)
        model = next(fit for fit in fits if fit.C == best)
        records = [{"C": fit.C, "valid_accuracy": scores[fit.C], "iterations": fit.iterations,
                    "converged": fit.converged} for fit in fits]
        if carved:  # the validation share was training data: refit on all of it
            scaler = Standardizer.fit(X)
            model = self.path(scaler(X), y, [best], start=model)[0]
            records.append({"C": best, "refit": True, "iterations": model.iterations, "converged": model.converged})
        self.scaler_, self.model_ = scaler, model
        self.selected_ = {"C": best, "valid_accuracy": scores[best], "valid_from_train": carved,
                          "solver": self.resolved_solver, "converged": all(r["converged"] for r in records),
                          "fits": records}
        return self

    def path(self, X: np.ndarray, y: np.ndarray, Cs: list[float], start: LinearFit | None = None) -> list[LinearFit]:
        """Fits for ``Cs`` in order, each warm-started from the previous one (or ``start``)."""
        weights = sample_weights(y, self.balanced)
        if self.resolved_solver == "sklearn":
            return sklearn_path(X, y, weights, Cs, self.max_iter, self.tol, self.seed)
        return torch_path(X, y, weights, Cs, self.max_iter, self.tol, self.device, start)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(self.scaler_(X))


def torch_path(X: np.ndarray, y: np.ndarray, weights: np.ndarray, Cs: list[float], max_iter: int, tol: float,
               device: str, start: LinearFit | None) -> list[LinearFit]:
    from audiobench.lbfgs import SoftmaxProblem, fit_path

    classes, targets = np.unique(y, return_inverse=True)
    dev = torch.device(device)
    problem = SoftmaxProblem(torch.as_tensor(X, device=dev), torch.as_tensor(targets, device=dev), len(classes),
                             torch.as_tensor(weights, dtype=torch.float64, device=dev))
    init = None
    if start is not None and np.array_equal(start.classes, classes):
        init = (torch.as_tensor(start.coef, device=dev), torch.as_tensor(start.intercept, device=dev))
    return [LinearFit(fit.C, classes, fit.weight.cpu().numpy(), fit.bias.cpu().numpy(), fit.iterations, fit.converged)
            for fit in fit_path(problem, Cs, max_iter, tol, init)]


def sklearn_path(X: np.ndarray, y: np.ndarray, weights: np.ndarray, Cs: list[float], max_iter: int, tol: float,
                 seed: int) -> list[LinearFit]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=max_iter, tol=tol, random_state=seed, warm_start=True)
    fits = []
    for C in Cs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # recorded below from n_iter_
            model.set_params(C=C).fit(X, y, sample_weight=weights)
        coef, intercept = model.coef_.T, model.intercept_
        if coef.shape[1] == 1:  # two classes: scikit-learn keeps one logit (class 1 vs class 0)
            coef, intercept = np.hstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        iterations = int(model.n_iter_.max())
        fits.append(LinearFit(C, model.classes_, coef.astype(np.float64), intercept.astype(np.float64), iterations,
                              iterations < max_iter))
    return fits


def class_weight_tensor(y: np.ndarray, n_classes: int, balanced: bool, device: str) -> torch.Tensor | None:
    """Per-class loss weights for ``cross_entropy`` (the same weights as ``sample_weights``)."""
    if not balanced:
        return None
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weight = np.where(present, len(y) / (present.sum() * np.maximum(counts, 1)), 0.0)
    return torch.as_tensor(weight, dtype=torch.float32, device=device)


def output_classes(y: np.ndarray, n_classes: int | None) -> int:
    """The task's class count; ``y.max() + 1`` only when the caller does not know it."""
    return int(n_classes) if n_classes is not None else int(y.max()) + 1


@dataclass
class MLPProbe:
    hidden_sizes: tuple[int, ...] = (256, 1024)
    lrs: tuple[float, ...] = (1e-4, 1e-3)
    dropout: float = 0.1
    batch_size: int = 1024
    max_epochs: int = 500
    patience: int = 20
    balanced: bool = False
    seed: int = 0
    device: str = "cpu"
    name: str = field(default="mlp", init=False)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "device")}

    def fit(self, X, y, X_valid=None, y_valid=None, groups=None, n_classes=None) -> MLPProbe:
        """Every (width, learning rate) of the grid trains with early stopping on validation
        accuracy (the best epoch's weights are kept); the best on validation wins. Without a
        validation split the probe holds one out of training and does not refit (early
        stopping needs it)."""
        check_inputs(X, y)
        X_fit, y_fit, X_valid, y_valid, carved = selection_data(X, y, X_valid, y_valid, groups, self.seed)
        scaler = Standardizer.fit(X_fit)
        k = output_classes(y, n_classes)
        grid = [(hidden, lr) for hidden in self.hidden_sizes for lr in self.lrs]  # simplest first
        with threads_for(self.device, X.size * min(self.hidden_sizes)):
            runs = {config: self.train(scaler(X_fit), y_fit, scaler(X_valid), y_valid, k, *config) for config in grid}
        scores = {config: run[1] for config, run in runs.items()}
        best = select(scores, grid)
        self.scaler_, self.model_ = scaler, runs[best][0]
        self.selected_ = {"hidden": best[0], "lr": best[1], "valid_accuracy": scores[best],
                          "epochs": runs[best][2], "valid_from_train": carved,
                          "grid": [{"hidden": h, "lr": lr, "valid_accuracy": scores[(h, lr)],
                                    "epochs": runs[(h, lr)][2]} for h, lr in grid]}
        return self

    def train(self, X, y, X_valid, y_valid, n_classes: int, hidden: int,
              lr: float) -> tuple[torch.nn.Module, float, int]:
        """(model at its best validation epoch, that accuracy, that epoch)."""
        device = torch.device(self.device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.ReLU(),
                                        torch.nn.Dropout(self.dropout), torch.nn.Linear(hidden, n_classes)).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            inputs, targets = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
            valid_inputs = torch.as_tensor(X_valid, device=device)
            weight = class_weight_tensor(y, n_classes, self.balanced, device)
            generator = torch.Generator().manual_seed(self.seed)
            best_state, best_score, best_epoch = None, -1.0, 0
            for epoch in range(1, self.max_epochs + 1):
                model.train()
                for batch in torch.randperm(len(X), generator=generator).split(self.batch_size):
                    batch = batch.to(device)
                    loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch], weight=weight)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    score = float((model(valid_inputs).argmax(1).cpu().numpy() == y_valid).mean())
                if score > best_score + TIE_TOLERANCE:  # an improvement must beat the tie band
                    best_state = {k: v.clone() for k, v in model.state_dict().items()}
                    best_score, best_epoch = score, epoch
                elif epoch - best_epoch >= self.patience:
                    break
        model.load_state_dict(best_state)
        return model.eval(), best_score, best_epoch

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model_(torch.as_tensor(self.scaler_(X), device=self.device)).argmax(1).cpu().numpy()


@dataclass
class PaperProbe:
    epochs: int = 50
    lr: float = 1e-3
    batch_size: int = 64
    balanced: bool = False
    seed: int = 0
    device: str = "cpu"
    name: str = field(default="paper", init=False)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "device")}

    def fit(self, X, y, X_valid=None, y_valid=None, groups=None, n_classes=None) -> PaperProbe:
        check_inputs(X, y)
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        k = output_classes(y, n_classes)
        model = torch.nn.Linear(X.shape[1], k).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        inputs = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        targets = torch.as_tensor(y, dtype=torch.long, device=self.device)
        weight = class_weight_tensor(y, k, self.balanced, self.device)
        with threads_for(self.device, X.size * k):
            for _ in range(self.epochs):
                for batch in torch.randperm(len(X), generator=generator).split(self.batch_size):
                    batch = batch.to(self.device)
                    loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch], weight=weight)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.model_ = model.eval()
        self.selected_ = {"epochs": self.epochs, "outputs": k}
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = self.model_(torch.as_tensor(X, dtype=torch.float32, device=self.device))
        return logits.argmax(1).cpu().numpy()




def make_probe(name: str, seed: int, device: str = "cpu", balanced: bool = False) -> Probe:
    return PROBES.get(name)(seed=seed, device=device, balanced=balanced)
