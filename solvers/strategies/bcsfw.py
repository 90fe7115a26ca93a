"""BCSFW (paper Algorithm 1) as a strategy: gradients at relaxed points, hard constraints at every step."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bcsfw import DEFAULT_GAMMA
from ..constraints import ConstraintSet
from ..projection import project
from ..search import SearchResult, search
from . import register_strategy
from .base import Budget
from .options import StrategyOptions, check_choice, check_scalar

__all__ = ["BcsfwOptions", "run_bcsfw", "TRACE_POINTS"]

# Relaxed iterates projected along the way, for the benchmark's score-against-budget curves.
TRACE_POINTS = 8


@dataclass(frozen=True)
class BcsfwOptions(StrategyOptions):
    """``steps`` of ``batch_size`` images; constant or decaying step ``gamma``; gradient ``momentum``;
    the block moved each step (``random``: the paper; ``alternate``)."""
    steps: int = 200
    batch_size: int = 16
    gamma: float = DEFAULT_GAMMA
    schedule: str = "constant"
    momentum: float = 0.9
    block_choice: str = "random"

    def validate(self) -> None:
        check_scalar(self.steps, "steps", int, min_val=1)
        check_scalar(self.batch_size, "batch_size", int, min_val=1)
        check_scalar(self.gamma, "gamma", float, min_val=0.0, max_val=1.0, include_boundaries="right")
        check_choice(self.schedule, "schedule", ("constant", "decay"))
        check_scalar(self.momentum, "momentum", float, min_val=0.0, max_val=0.999)
        check_choice(self.block_choice, "block_choice", ("random", "alternate"))

    @property
    def progress_steps(self) -> int:
        return self.steps

    def budget_images(self) -> int:
        return self.steps * self.batch_size


def trace_steps(steps: int) -> set[int]:
    """The steps (1-based counts) after which the iterate is projected for the trace."""
    return {max(1, round(steps * (i + 1) / TRACE_POINTS)) for i in range(TRACE_POINTS)}


@register_strategy("bcsfw", BcsfwOptions, "gradients")
def run_bcsfw(cs: ConstraintSet, budget: Budget, options: BcsfwOptions, rng: np.random.Generator, *,
              anchor=None, on_step=None, limits=None) -> SearchResult:
    """Block-coordinate stochastic Frank-Wolfe inside every constraint, then the exact projection (HardCoRe-NAS)."""
    gradient = budget.gradient_fn(options.batch_size)
    marks, calls = trace_steps(options.steps), [0]

    def traced(alpha: np.ndarray, beta: np.ndarray) -> tuple:
        # The callback sees every iterate; project a few for the trace (the final one is the answer).
        if calls[0] in marks and calls[0] < options.steps:
            p = project(cs, alpha, beta, limits=limits)
            budget.record(p.alpha, p.beta)
        calls[0] += 1
        return gradient(alpha, beta)

    result = search(cs, traced, options.steps, rng, gamma_max=options.gamma, schedule=options.schedule,
                    momentum=options.momentum, block_choice=options.block_choice, on_step=on_step, limits=limits)
    budget.record(result.alpha, result.beta)
    return _with_budget(result, "bcsfw", budget)


def _with_budget(result: SearchResult, name: str, budget: Budget) -> SearchResult:
    import dataclasses

    return dataclasses.replace(result, strategy=name, images=budget.images, trace=tuple(budget.trace))
