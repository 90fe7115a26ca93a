"""What every strategy gets (the constraints, an :class:`Evaluator`) and what it counts (:class:`Budget`).

A strategy sees the supernet only through the evaluator: ``gradient`` (architecture gradients at a
relaxed point, what BCSFW and the soft penalty use) or ``score`` (validation loss and top-1 of
discrete architectures, what evolution and random search use). :class:`Budget` wraps it and counts
validation images passed through w*: ``batch_size`` per gradient, ``images`` per architecture scored.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..bcsfw import GradientFn

__all__ = ["Evaluator", "Budget", "Incumbent"]


class Evaluator(Protocol):
    """The supernet as a strategy sees it (``workers.search_tasks.SupernetEvaluator`` implements it)."""

    def gradient(self, alpha: np.ndarray, beta: np.ndarray, batch_size: int) -> tuple:
        """``(g_alpha, g_beta, loss)`` at the relaxed ``(alpha, beta)`` on ``batch_size`` images."""
        ...

    def score(self, alphas: np.ndarray, betas: np.ndarray, images: int) -> tuple[np.ndarray, np.ndarray]:
        """``(loss, top1)``, each ``(N,)``, of the one-hot ``alphas (N, S, D, C)``, ``betas (N, S, K)``,
        every architecture on the same ``images`` validation images (paired comparisons)."""
        ...


@dataclass(frozen=True)
class Incumbent:
    """The architecture a strategy would answer after ``images`` images (``seconds`` of its wall time);
    ``loss``: its own estimate, if it has one."""
    images: int
    seconds: float
    alpha: np.ndarray
    beta: np.ndarray
    loss: float | None = None


class Budget:
    """Counts images through w* and keeps the trace of incumbents (for budget-against-score curves)."""

    def __init__(self, evaluator: Evaluator):
        self.evaluator = evaluator
        self.images = 0
        self.evaluation_seconds = 0.0
        self.trace: list[Incumbent] = []
        self._started = time.perf_counter()

    def gradient_fn(self, batch_size: int) -> GradientFn:
        """The solver's ``gradient(alpha, beta)`` callback, counting ``batch_size`` images a call."""
        def gradient(alpha: np.ndarray, beta: np.ndarray) -> tuple:
            tic = time.perf_counter()
            out = self.evaluator.gradient(alpha, beta, batch_size)
            self.evaluation_seconds += time.perf_counter() - tic
            self.images += batch_size
            return out
        return gradient

    def score(self, alphas: np.ndarray, betas: np.ndarray, images: int) -> tuple[np.ndarray, np.ndarray]:
        tic = time.perf_counter()
        loss, top1 = self.evaluator.score(alphas, betas, images)
        self.evaluation_seconds += time.perf_counter() - tic
        self.images += len(alphas) * images
        return np.asarray(loss, dtype=np.float64), np.asarray(top1, dtype=np.float64)

    def record(self, alpha: np.ndarray, beta: np.ndarray, loss: float | None = None) -> None:
        self.trace.append(Incumbent(self.images, time.perf_counter() - self._started, np.array(alpha),
                                    np.array(beta), loss))
