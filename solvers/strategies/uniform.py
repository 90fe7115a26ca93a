"""The baseline without a search: the largest uniform architecture that fits (one block configuration and
one depth in every stage, as MobileNet-style width/depth scaling picks a model for a budget)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bcsfw import StepRecord
from ..constraints import ConstraintSet, InfeasibleConstraintError
from ..search import SearchResult
from . import register_strategy
from .base import Budget
from .options import StrategyOptions

__all__ = ["UniformOptions", "uniform_architectures", "run_uniform"]


@dataclass(frozen=True)
class UniformOptions(StrategyOptions):
    """No options: the answer follows from the constraints alone (no validation image is used)."""

    def budget_images(self) -> int:
        return 0


def uniform_architectures(alpha_shape: tuple[int, int, int], num_depths: int):
    """Every ``(alpha, beta)`` one-hot pair with the same configuration in every block and the same depth
    in every stage: ``num_configs * num_depths`` of them."""
    stages, _, configs = alpha_shape
    for config in range(configs):
        for depth in range(num_depths):
            alpha = np.zeros(alpha_shape)
            alpha[:, :, config] = 1.0
            beta = np.zeros((stages, num_depths))
            beta[:, depth] = 1.0
            yield alpha, beta


@register_strategy("uniform", UniformOptions, "scores")
def run_uniform(cs: ConstraintSet, budget: Budget, options: UniformOptions, rng: np.random.Generator, *,
                anchor=None, on_step=None, limits=None) -> SearchResult:
    """The uniform architecture with the largest first resource (the target's latency) within every bound."""
    every = [(cs.values(a, b), a, b) for a, b in uniform_architectures(cs.alpha_shape, cs.beta_shape[1])]
    fitting = [f for f in every if (f[0] <= cs.bounds).all()]
    if not fitting:
        least = cs.as_dict(np.min([v for v, _, _ in every], axis=0))
        raise InfeasibleConstraintError(f"no uniform architecture fits the bounds {cs.as_dict(cs.bounds)}; "
                                        f"uniform architectures reach down to {least}", least)
    values, alpha, beta = max(fitting, key=lambda f: f[0][0])
    log = [StepRecord(0, "uniform", 0.0, cs.as_dict(values))]
    if on_step is not None:
        on_step(log[0])
    return SearchResult(alpha=alpha, beta=beta, relaxed_alpha=alpha, relaxed_beta=beta, start_alpha=alpha,
                        start_beta=beta, values=cs.as_dict(values), slack=cs.as_dict(cs.bounds - values),
                        projection="none", log=log, solver_seconds=0.0, gradient_seconds=0.0, strategy="uniform",
                        images=0)
