"""Block Coordinate Stochastic Frank-Wolfe (paper Algorithm 1) inside every constraint.

Each step picks the alpha or the beta block, asks the LP oracle for the vertex ``s`` of that block's
feasible set (eqs. 10-11: all constraints, the other block fixed) that minimises the gradient, and moves
``x <- x + gamma (s - x)``. Every resource is linear in the moved block, the start and ``s`` are
feasible, so the new point is a convex combination of two feasible points and is feasible; each
iterate is checked anyway, and a violation raises (it would be a bug, not a numerical event: the
oracle's vertices keep a margin inside every row).

The supernet plugs in through ``gradient(alpha, beta)``, which returns ``(g_alpha, g_beta)`` or
``(g_alpha, g_beta, objective)`` (an estimate of the loss, logged when given).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .constraints import ConstraintSet, as_constraint_set
from .limits import SolverLimits
from .oracle import BlockOracle
from .resources import Constraint

__all__ = ["DEFAULT_GAMMA", "StepRecord", "RelaxedResult", "GradientFn", "step_size", "bcsfw", "unpack_gradient"]

GradientFn = Callable[[np.ndarray, np.ndarray], tuple]
# The one default step size (config, CLI, solvers.search). The official 0.002 is for 10k steps; searches
# here run hundreds, where 0.002 barely leaves the start (configs/default.yaml).
DEFAULT_GAMMA = 0.02
Schedule = Literal["constant", "decay"]


@dataclass(frozen=True)
class StepRecord:
    """What one step of a relaxed search did (passed to ``on_step`` and kept in the result).

    ``block``: ``"alpha"`` or ``"beta"`` for BCSFW, ``"alpha+beta"`` for the soft-penalty baseline;
    ``resources``: the expected value of each constrained resource (BCSFW: after the step; baseline:
    where the gradient was taken, as its penalty); ``gap``: the Frank-Wolfe gap ``<g, x - s>`` of the
    moved block (BCSFW only); ``penalty``: the soft penalty (baseline only); ``solver_ms``: time in
    the LP oracle.
    """
    step: int
    block: str
    step_size: float
    resources: dict[str, float]
    objective: float | None = None
    gap: float | None = None
    penalty: float | None = None
    solver_ms: float = 0.0

    def metrics(self) -> dict[str, float]:
        """Flat numbers for a tracker: ``mlflow.log_metrics(record.metrics(), step=record.step)``."""
        out = {f"resource/{name}": value for name, value in self.resources.items()}
        optional = {"objective": self.objective, "fw_gap": self.gap, "penalty": self.penalty}
        out.update({key: value for key, value in optional.items() if value is not None})
        out.update(step_size=self.step_size, solver_ms=self.solver_ms)
        return out


@dataclass(frozen=True)
class RelaxedResult:
    """The final relaxed ``(alpha, beta)`` of a search and its step log."""
    alpha: np.ndarray
    beta: np.ndarray
    log: list[StepRecord] = field(repr=False)
    solver_seconds: float
    gradient_seconds: float


def step_size(t: int, gamma_max: float, schedule: Schedule) -> float:
    """``gamma_max`` (the official default) or the paper's ``gamma_max * 4 / (t + 4)``."""
    if schedule == "constant":
        return gamma_max
    if schedule == "decay":
        return gamma_max * 4.0 / (t + 4.0)
    raise ValueError(f"schedule must be 'constant' or 'decay', got {schedule!r}")


def unpack_gradient(result: tuple, alpha_shape: tuple, beta_shape: tuple
                    ) -> tuple[np.ndarray, np.ndarray, float | None]:
    """``(g_alpha, g_beta, objective or None)`` from a gradient callback's answer, shapes checked."""
    if len(result) not in (2, 3):
        raise ValueError("gradient() must return (g_alpha, g_beta) or (g_alpha, g_beta, objective)")
    g_alpha, g_beta = np.asarray(result[0], dtype=np.float64), np.asarray(result[1], dtype=np.float64)
    if g_alpha.shape != alpha_shape or g_beta.shape != beta_shape:
        raise ValueError(f"gradient() returned shapes {g_alpha.shape}, {g_beta.shape}; "
                         f"expected {alpha_shape}, {beta_shape}")
    if not (np.isfinite(g_alpha).all() and np.isfinite(g_beta).all()):
        raise ValueError("gradient() returned non-finite values")
    return g_alpha, g_beta, (float(result[2]) if len(result) == 3 else None)


def bcsfw(constraints: ConstraintSet | Sequence[Constraint], gradient: GradientFn,
          start: tuple[np.ndarray, np.ndarray], steps: int, rng: np.random.Generator, *,
          gamma_max: float = DEFAULT_GAMMA, schedule: Schedule = "constant", momentum: float = 0.9,
          block_choice: Literal["random", "alternate"] = "random",
          on_step: Callable[[StepRecord], None] | None = None,
          limits: SolverLimits | None = None) -> RelaxedResult:
    """Run ``steps`` BCSFW steps from the feasible ``start``.

    ``momentum``: the LP direction is an exponential average of the gradients (official 0.9; 0 uses
    the raw gradient). Both averages take every step's gradients, since the callback returns both
    (the official code updates only the moved block's); they start at the first gradient, so the
    logged gap carries no zero-initialisation bias. ``block_choice``: alpha or beta with p = 0.5 per
    step (paper), or alpha and beta in turn. ``limits``: of each LP (a step whose LP reaches one stays
    put).
    """
    cs = as_constraint_set(constraints)
    if steps < 0 or not 0.0 < gamma_max <= 1.0 or not 0.0 <= momentum < 1.0:
        raise ValueError(f"need steps >= 0, 0 < gamma_max <= 1, 0 <= momentum < 1; got {steps}, "
                         f"{gamma_max}, {momentum}")
    if block_choice not in ("random", "alternate"):
        raise ValueError(f"block_choice must be 'random' or 'alternate', got {block_choice!r}")
    alpha, beta = (np.array(x, dtype=np.float64) for x in start)
    if not cs.satisfied(alpha, beta):
        raise ValueError(f"the start violates a constraint: slack {cs.slacks(alpha, beta)}")
    oracles = {"alpha": BlockOracle(cs, "alpha", limits), "beta": BlockOracle(cs, "beta", limits)}
    direction: dict[str, np.ndarray] = {}
    log: list[StepRecord] = []
    solver_seconds = gradient_seconds = 0.0
    for t in range(steps):
        tic = time.perf_counter()
        g_alpha, g_beta, objective = unpack_gradient(gradient(alpha, beta), alpha.shape, beta.shape)
        gradient_seconds += time.perf_counter() - tic
        for name, g in (("alpha", g_alpha), ("beta", g_beta)):
            direction[name] = momentum * direction.get(name, g) + (1.0 - momentum) * g
        if block_choice == "random":
            block = "alpha" if rng.random() < 0.5 else "beta"
        else:
            block = "alpha" if t % 2 == 0 else "beta"
        x = alpha if block == "alpha" else beta
        tic = time.perf_counter()
        vertex = oracles[block].minimize(direction[block], alpha, beta)
        solver = time.perf_counter() - tic
        solver_seconds += solver
        gamma = step_size(t, gamma_max, schedule)
        gap = 0.0
        if vertex is not None:           # None: no vertex passed the exact check; stay put
            gap = float((direction[block] * (x - vertex)).sum())
            x = x + gamma * (vertex - x)
        candidate = (x, beta) if block == "alpha" else (alpha, x)
        values = cs.values(*candidate)
        if (values > cs.bounds).any():
            raise RuntimeError(f"BCSFW step {t} left the feasible set: values {values}, bounds "
                               f"{cs.bounds} (the oracle's vertex and the previous point were feasible)")
        alpha, beta = candidate
        record = StepRecord(t, block, gamma, cs.as_dict(values), objective, gap,
                            solver_ms=solver * 1e3)
        log.append(record)
        if on_step is not None:
            on_step(record)
    return RelaxedResult(alpha, beta, log, solver_seconds, gradient_seconds)
