"""One hard-constrained search, end to end: feasibility check, balanced start, BCSFW, projection.

The orchestrator calls :func:`search` with the constraints (resource tables with bounds) and a gradient
callback fed by the supernet; everything it needs to report comes back in :class:`SearchResult`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .bcsfw import DEFAULT_GAMMA, GradientFn, Schedule, StepRecord, bcsfw
from .constraints import ConstraintSet, as_constraint_set
from .limits import SolverLimits
from .projection import project
from .resources import Constraint
from .start import balanced_start, feasible_architecture

__all__ = ["SearchResult", "search"]


@dataclass(frozen=True)
class SearchResult:
    """The projected architecture (one-hot ``alpha``, ``beta``), where it came from, and the log.

    ``values``/``slack``: each constrained resource of the architecture and ``bound - value`` (all
    ``>= 0``); ``projection``: the path that found it, ``"argmax"`` or ``"exact"`` (eq. 13's optimum),
    ``"lp"``, ``"incumbent"`` or ``"feasible"`` (see :class:`solvers.Projection`); ``"none"`` for a
    strategy that searches discrete architectures. ``strategy``: which one ran (:mod:`solvers.strategies`);
    ``images``: validation images it passed through w*; ``trace``: its incumbents as the images grew.
    """
    alpha: np.ndarray
    beta: np.ndarray
    relaxed_alpha: np.ndarray
    relaxed_beta: np.ndarray
    start_alpha: np.ndarray
    start_beta: np.ndarray
    values: dict[str, float]
    slack: dict[str, float]
    projection: str
    log: list[StepRecord] = field(repr=False)
    solver_seconds: float
    gradient_seconds: float
    strategy: str = "bcsfw"
    images: int = 0
    trace: tuple = field(default=(), repr=False)

    @property
    def violated(self) -> bool:
        """True when the architecture breaks a bound (only the soft penalty can answer one)."""
        return any(v < 0 for v in self.slack.values())


def search(constraints: ConstraintSet | Constraint | Sequence[Constraint], gradient: GradientFn,
           steps: int, rng: np.random.Generator, *, gamma_max: float = DEFAULT_GAMMA,
           schedule: Schedule = "constant", momentum: float = 0.9,
           block_choice: Literal["random", "alternate"] = "random",
           on_step: Callable[[StepRecord], None] | None = None,
           limits: SolverLimits | None = None) -> SearchResult:
    """Search under every constraint with BCSFW; the defaults are the official code's (momentum 0.9,
    random block) but the step (:data:`solvers.bcsfw.DEFAULT_GAMMA`, one value for the config, the CLI and
    this function). Raises :class:`InfeasibleConstraintError` before any gradient is
    computed when no architecture satisfies the constraints. ``limits``: of every HiGHS call
    (default :data:`solvers.limits.DEFAULT_LIMITS`).
    """
    cs = as_constraint_set(constraints)
    start = balanced_start(cs, feasible_architecture(cs, limits=limits), limits=limits)
    relaxed = bcsfw(cs, gradient, start, steps, rng, gamma_max=gamma_max, schedule=schedule,
                    momentum=momentum, block_choice=block_choice, on_step=on_step, limits=limits)
    projection = project(cs, relaxed.alpha, relaxed.beta, limits=limits)
    values = cs.values(projection.alpha, projection.beta)
    return SearchResult(
        alpha=projection.alpha, beta=projection.beta,
        relaxed_alpha=relaxed.alpha, relaxed_beta=relaxed.beta,
        start_alpha=start[0], start_beta=start[1],
        values=cs.as_dict(values), slack=cs.as_dict(cs.bounds - values),
        projection=projection.method, log=relaxed.log,
        solver_seconds=relaxed.solver_seconds, gradient_seconds=relaxed.gradient_seconds)
