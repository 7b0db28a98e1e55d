"""Probes: small estimators fitted on frozen embeddings (scikit-learn style: constructors store
parameters, ``fit`` does the work, fitted state ends in ``_``).

- ``logistic`` (default): standardise on the training data, multinomial logistic regression
  with the L2 strength chosen on validation data. When a protocol has no validation split the
  probe holds one out of the training data (20%, stratified, and grouped by recording or
  speaker where the task says so), then refits on all training data with the chosen strength.
- ``paper``: the Whisper-AuT paper's recipe: ``nn.Linear`` on the raw pooled features, Adam
  lr 1e-3, 50 epochs, mini-batch 64; no validation, test accuracy after the last epoch.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from audiobench.errors import ConfigError
from audiobench.registry import Registry


class Probe(Protocol):
    name: str

    def fit(self, X: np.ndarray, y: np.ndarray, X_valid: np.ndarray | None = None,
            y_valid: np.ndarray | None = None, groups: np.ndarray | None = None) -> "Probe": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def settings(self) -> dict[str, Any]: ...


def check_inputs(X: np.ndarray, y: np.ndarray) -> None:
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"expected X [n, dim] and y [n]; got {X.shape} and {y.shape}")
    if len(X) == 0:
        raise ConfigError("no training clips for the probe", "check the data tree and protocol (audiobench data info)")


def holdout_split(y: np.ndarray, groups: np.ndarray | None, seed: int, share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices from training data only; whole groups go to one side."""
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


@dataclass
class LogisticProbe:
    Cs: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
    max_iter: int = 1000
    seed: int = 0
    name: str = field(default="logistic", init=False)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "name"}

    def _model(self, C: float) -> LogisticRegression:
        return LogisticRegression(C=C, max_iter=self.max_iter, random_state=self.seed)

    def fit(self, X, y, X_valid=None, y_valid=None, groups=None) -> "LogisticProbe":
        check_inputs(X, y)
        carved = X_valid is None or len(X_valid) == 0
        if carved:
            train_idx, valid_idx = holdout_split(y, groups, self.seed)
            X_fit, y_fit, X_valid, y_valid = X[train_idx], y[train_idx], X[valid_idx], y[valid_idx]
        else:
            X_fit, y_fit = X, y
        scaler = StandardScaler().fit(X_fit)
        scores, models = {}, {}
        path = self._model(self.Cs[0]).set_params(warm_start=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # Along the regularisation path, weakest C last: each fit starts from the previous
            # solution, which makes the weakly regularised (slow) fits cheap.
            for C in sorted(self.Cs):
                path.set_params(C=C).fit(scaler.transform(X_fit), y_fit)
                models[C] = copy.deepcopy(path)
                scores[C] = float((path.predict(scaler.transform(X_valid)) == y_valid).mean())
            best = max(self.Cs, key=lambda C: (scores[C], -C))  # ties: the stronger regulariser
            model = models[best]
            if carved:  # the validation share was training data: refit on all of it
                scaler = StandardScaler().fit(X)
                model = self._model(best).fit(scaler.transform(X), y)
        self.scaler_, self.model_ = scaler, model
        self.selected_ = {"C": best, "valid_accuracy": scores[best], "valid_from_train": carved}
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(self.scaler_.transform(X))


@dataclass
class PaperProbe:
    epochs: int = 50
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    device: str = "cpu"
    name: str = field(default="paper", init=False)

    def settings(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "device")}

    def fit(self, X, y, X_valid=None, y_valid=None, groups=None) -> "PaperProbe":
        check_inputs(X, y)
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        n_classes = int(y.max()) + 1
        model = torch.nn.Linear(X.shape[1], n_classes).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        inputs = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        targets = torch.as_tensor(y, dtype=torch.long, device=self.device)
        for _ in range(self.epochs):
            for batch in torch.randperm(len(X), generator=generator).split(self.batch_size):
                batch = batch.to(self.device)
                loss = torch.nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.model_ = model.eval()
        self.selected_ = {"epochs": self.epochs}
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = self.model_(torch.as_tensor(X, dtype=torch.float32, device=self.device))
        return logits.argmax(1).cpu().numpy()


PROBES: Registry[type] = Registry("probe")
PROBES.register("logistic", LogisticProbe)
PROBES.register("paper", PaperProbe)


def make_probe(name: str, seed: int, device: str = "cpu") -> Probe:
    cls = PROBES.get(name)
    return cls(seed=seed, device=device) if "device" in cls.__dataclass_fields__ else cls(seed=seed)
