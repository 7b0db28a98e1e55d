"""Multinomial logistic regression fitted by full-batch L-BFGS in torch (CPU or CUDA).

The objective is scikit-learn's, so both give the same model:
``sum_i w_i CE_i / S + ||W||^2 / (2 C S)`` with sample weights ``w`` (all 1, or balanced),
``S = sum(w)``, an unpenalised intercept, and convergence when the largest gradient entry is
at most ``tol`` (scipy's ``pgtol``, scikit-learn's ``tol``).

Why it is fast: the logits are linear along a search direction, so each iteration costs two
matrix products with the features (``X @ P`` for the direction, ``X.T @ R`` for the new
gradient) however many trial steps the line search takes; the line search itself is Newton's
method on the convex 1-D loss, which needs only the n x classes logits. Features stay float32
(the products), everything else is float64 (the optimiser's state), so the path is
deterministic for a given device and reproduces across thread counts in practice.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

HISTORY = 10
LINE_SEARCH_STEPS = 20
#: The line search stops when the slope has shrunk this much (about 94% of the best decrease on a
#: quadratic; an exact search costs more evaluations than the iterations it saves).
LINE_SEARCH_REDUCTION = 0.25


@dataclass
class Fit:
    """One solution of the path: ``weight`` [dim, classes] and ``bias`` [classes] (float64)."""

    C: float
    weight: torch.Tensor
    bias: torch.Tensor
    iterations: int
    gradient_max: float
    converged: bool


class SoftmaxProblem:
    """The data of one regression on one device: features, one-hot targets and normalised
    sample weights, all in the features' dtype (float32); logits [n, classes] likewise."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, n_classes: int, sample_weight: torch.Tensor) -> None:
        self.X = X
        self.y = y
        self.onehot = torch.nn.functional.one_hot(y, n_classes).to(X.dtype)
        self.total_weight = float(sample_weight.sum())
        self.w = (sample_weight / self.total_weight).to(X.dtype)[:, None]
        self.n_classes = n_classes

    def logits(self, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.X @ weight.to(self.X.dtype) + bias.to(self.X.dtype)

    def data_gradient(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        residual = self.w * (torch.softmax(logits, 1) - self.onehot)
        return (self.X.T @ residual).to(torch.float64), residual.sum(0, dtype=torch.float64)

    def line_derivatives(self, logits: torch.Tensor, direction: torch.Tensor, target_slope: torch.Tensor,
                         t: float) -> tuple[float, float]:
        """First and second derivative in ``t`` of the data term at ``logits + t * direction``;
        ``target_slope`` is each row's direction entry at its own class."""
        p = torch.softmax(torch.add(logits, direction, alpha=t), 1)
        p_direction = p * direction
        mean = p_direction.sum(1)
        first = self.w[:, 0] @ (mean - target_slope)
        second = self.w[:, 0] @ ((p_direction * direction).sum(1) - mean.square())
        return float(first), float(second)


def step_length(problem: SoftmaxProblem, logits: torch.Tensor, direction: torch.Tensor,
                penalty: float, weight_dot: float, direction_norm2: float, slope0: float) -> float:
    """Minimise the convex loss along the direction (``slope0`` < 0 at t = 0): safeguarded
    Newton inside a bracket, from the L-BFGS step t = 1, until the slope has shrunk enough.
    ``penalty`` = 1 / (C S); the L2 term along the line is ``penalty * (weight_dot * t + norm2 * t^2 / 2)``."""
    target_slope = direction.gather(1, problem.y[:, None])[:, 0]
    low, high, t = 0.0, float("inf"), 1.0
    for _ in range(LINE_SEARCH_STEPS):
        first, second = problem.line_derivatives(logits, direction, target_slope, t)
        first += penalty * (weight_dot + t * direction_norm2)
        second += penalty * direction_norm2
        if abs(first) <= LINE_SEARCH_REDUCTION * abs(slope0):
            break
        if first < 0:
            low = t
        else:
            high = t
        newton = t - first / second if second > 0 else float("inf")
        if low < newton < high:
            t = newton
        else:
            t = (low + high) / 2 if high < float("inf") else 2 * t
    return t


def fit_path(problem: SoftmaxProblem, Cs: list[float], max_iter: int, tol: float,
             init: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[Fit]:
    """Fit every C in the given order, each starting from the previous solution (warm start):
    walk from strong to weak regularisation, where the weak fits are slow from scratch."""
    device = problem.X.device
    dim = problem.X.shape[1]
    zeros = (torch.zeros(dim, problem.n_classes, dtype=torch.float64, device=device),
             torch.zeros(problem.n_classes, dtype=torch.float64, device=device))
    weight, bias = init if init is not None else zeros
    weight, bias = weight.clone(), bias.clone()
    fits = []
    for C in Cs:
        weight, bias, iterations, gradient_max = minimise(problem, C, weight, bias, max_iter, tol)
        fits.append(Fit(C, weight.clone(), bias.clone(), iterations, gradient_max, gradient_max <= tol))
    return fits


def minimise(problem: SoftmaxProblem, C: float, weight: torch.Tensor, bias: torch.Tensor, max_iter: int,
             tol: float) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    penalty = 1.0 / (C * problem.total_weight)
    logits = problem.logits(weight, bias)
    gradient = gradient_of(problem, logits, weight, penalty)
    history: deque[tuple[torch.Tensor, torch.Tensor, float]] = deque(maxlen=HISTORY)
    iterations = 0
    while float(gradient.abs().max()) > tol and iterations < max_iter:
        direction = -two_loop(gradient, history)
        d_weight, d_bias = direction.view(-1, problem.n_classes)[:-1], direction.view(-1, problem.n_classes)[-1]
        d_logits = problem.logits(d_weight, d_bias)
        t = step_length(problem, logits, d_logits, penalty, float((weight * d_weight).sum()),
                        float(d_weight.square().sum()), float(gradient @ direction))
        weight, bias, logits = weight + t * d_weight, bias + t * d_bias, logits + t * d_logits
        new_gradient = gradient_of(problem, logits, weight, penalty)
        step, change = t * direction, new_gradient - gradient
        curvature = float(step @ change)
        if curvature > 1e-12 * float(step @ step):  # always true for a strictly convex loss, barring rounding
            history.append((step, change, 1.0 / curvature))
        gradient = new_gradient
        iterations += 1
    return weight, bias, iterations, float(gradient.abs().max())


def gradient_of(problem: SoftmaxProblem, logits: torch.Tensor, weight: torch.Tensor, penalty: float) -> torch.Tensor:
    """Flat gradient [dim * classes + classes]: weight rows first, the intercept last."""
    g_weight, g_bias = problem.data_gradient(logits)
    return torch.cat([(g_weight + penalty * weight), g_bias[None]]).flatten()


def two_loop(gradient: torch.Tensor, history: deque) -> torch.Tensor:
    """L-BFGS two-loop recursion: the inverse-Hessian estimate times the gradient."""
    q = gradient.clone()
    alphas = []
    for step, change, rho in reversed(history):
        alpha = rho * float(step @ q)
        q -= alpha * change
        alphas.append(alpha)
    if history:
        step, change, rho = history[-1]
        q *= 1.0 / (rho * float(change @ change))
    for (step, change, rho), alpha in zip(history, reversed(alphas)):
        q += (alpha - rho * float(change @ q)) * step
    return q
