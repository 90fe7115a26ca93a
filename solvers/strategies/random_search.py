"""Random search with a constraint filter: the best-scoring of K architectures drawn uniformly from the
feasible set (:class:`solvers.feasible_sampling.FeasibleSampler`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constraints import ConstraintSet
from ..search import SearchResult
from . import register_strategy
from .base import Budget
from .discrete_base import ScoredPool
from .options import StrategyOptions, check_scalar

__all__ = ["RandomOptions", "run_random"]

# Architectures scored per call of the evaluator (one batch over the actors).
BATCH = 16


@dataclass(frozen=True)
class RandomOptions(StrategyOptions):
    """``samples`` feasible architectures, each scored on ``eval_images`` validation images."""
    samples: int = 64
    eval_images: int = 50

    def validate(self) -> None:
        check_scalar(self.samples, "samples", int, min_val=1)
        check_scalar(self.eval_images, "eval_images", int, min_val=1)

    @property
    def progress_steps(self) -> int:
        return -(-self.samples // BATCH)

    def budget_images(self) -> int:
        return self.samples * self.eval_images


@register_strategy("random", RandomOptions, "scores")
def run_random(cs: ConstraintSet, budget: Budget, options: RandomOptions, rng: np.random.Generator, *,
               anchor=None, on_step=None, limits=None) -> SearchResult:
    """The best of K architectures drawn uniformly from the feasible set (random search + constraint filter)."""
    pool = ScoredPool(cs, budget, options.eval_images)
    log = []
    for step, start in enumerate(range(0, options.samples, BATCH)):
        pool.losses(pool.sample(min(BATCH, options.samples - start), rng))
        log.append(pool.record(step, "random"))
        if on_step is not None:
            on_step(log[-1])
    return pool.result("random", log)
