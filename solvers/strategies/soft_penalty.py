"""The soft-penalty baseline as FBNet and TF-NAS use it: SGD on loss + penalty, then argmax.

Nothing keeps the answer inside the bounds: a result that breaks one is returned as it is, flagged
(``SearchResult.violated``) and logged, because that is what a user of those tools gets.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from ..constraints import ConstraintSet
from ..projection import argmax_projection
from ..search import SearchResult
from ..soft_penalty import soft_penalty_search
from . import register_strategy
from .base import Budget
from .bcsfw import trace_steps
from .options import StrategyOptions, check_scalar

__all__ = ["SoftPenaltyOptions", "run_soft_penalty"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SoftPenaltyOptions(StrategyOptions):
    """``steps`` SGD steps of ``batch_size`` images at learning rate ``lr`` on the architecture logits,
    ``penalty`` (lambda) times ``relu(value / bound - 1)`` per constraint."""
    steps: int = 200
    batch_size: int = 16
    lr: float = 5.0
    penalty: float = 1.0

    def validate(self) -> None:
        check_scalar(self.steps, "steps", int, min_val=1)
        check_scalar(self.batch_size, "batch_size", int, min_val=1)
        check_scalar(self.lr, "lr", float, min_val=0.0, include_boundaries="neither")
        check_scalar(self.penalty, "penalty", float, min_val=0.0)

    @property
    def progress_steps(self) -> int:
        return self.steps

    def budget_images(self) -> int:
        return self.steps * self.batch_size


@register_strategy("soft-penalty", SoftPenaltyOptions, "gradients")
def run_soft_penalty(cs: ConstraintSet, budget: Budget, options: SoftPenaltyOptions, rng: np.random.Generator,
                     *, anchor=None, on_step=None, limits=None) -> SearchResult:
    """SGD on loss + lambda * relu(value / bound - 1), then argmax (FBNet, TF-NAS); may break a bound."""
    gradient = budget.gradient_fn(options.batch_size)
    marks, calls = trace_steps(options.steps), [0]

    def traced(alpha: np.ndarray, beta: np.ndarray) -> tuple:
        if calls[0] in marks and calls[0] < options.steps:
            budget.record(*argmax_projection(alpha, beta))
        calls[0] += 1
        return gradient(alpha, beta)

    relaxed = soft_penalty_search(cs, traced, options.steps, lr=options.lr, penalty=options.penalty,
                                  on_step=on_step)
    alpha, beta = argmax_projection(relaxed.alpha, relaxed.beta)
    budget.record(alpha, beta)
    values = cs.values(alpha, beta)
    start = (np.full(cs.alpha_shape, 1.0 / cs.alpha_shape[2]), np.full(cs.beta_shape, 1.0 / cs.beta_shape[1]))
    result = SearchResult(alpha=alpha, beta=beta, relaxed_alpha=relaxed.alpha, relaxed_beta=relaxed.beta,
                          start_alpha=start[0], start_beta=start[1], values=cs.as_dict(values),
                          slack=cs.as_dict(cs.bounds - values), projection="argmax", log=relaxed.log,
                          solver_seconds=relaxed.solver_seconds, gradient_seconds=relaxed.gradient_seconds)
    if result.violated:
        logger.warning("soft penalty: the argmax architecture breaks a bound (slack %s); raise 'penalty' "
                       "or use a hard-constrained strategy", result.slack)
    return dataclasses.replace(result, strategy="soft-penalty", images=budget.images, trace=tuple(budget.trace))
