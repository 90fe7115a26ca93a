"""Time and iteration limits of every HiGHS call, how a call ended, and the errors it can end in.

Every HiGHS model of :mod:`solvers` is made by :func:`new_highs` and run by :func:`run_highs`, so no
call can run past its limit: HiGHS 1.16's QP solver, for one, loops without end on an empty feasible
set unless an iteration limit stops it. The defaults below are far above what the ``imagenet`` preset
needs (an LP: ~10 simplex iterations and < 1 ms warm; the MIP: milliseconds) and far below a hang;
callers override them with a :class:`SolverLimits`.

How a call ended is one of ``"optimal"``, ``"infeasible"`` or ``"limit"``; anything else (a solve error,
a model error) raises :class:`SolverError` naming HiGHS's status.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import highspy

__all__ = ["SolverLimits", "DEFAULT_LIMITS", "SolverError", "SolverLimitError", "Outcome", "ClockedHighs", "new_highs",
           "run_highs", "LP_SECONDS", "LP_ITERATIONS", "QP_SECONDS", "QP_ITERATIONS", "MIP_SECONDS",
           "MIP_NODES", "PROJECTION_SECONDS"]

# One block LP of BCSFW or the projection (warm: ~10 simplex iterations, < 1 ms on imagenet).
LP_SECONDS = 5.0
LP_ITERATIONS = 50_000
# One balancing QP of the balanced start (an empty set made HiGHS 1.16 loop; 1000 iterations ~ 2 ms).
QP_SECONDS = 5.0
QP_ITERATIONS = 10_000
# The exact MIP of feasibility checks and of the projection's fallback (milliseconds on imagenet).
MIP_SECONDS = 30.0
MIP_NODES = 1_000_000
# The exact MIP tried first by the projection: past this the alternating-LP answer is kept.
PROJECTION_SECONDS = 2.0

Outcome = Literal["optimal", "infeasible", "limit"]

_LIMIT_STATUSES = {highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kIterationLimit,
                   highspy.HighsModelStatus.kSolutionLimit, highspy.HighsModelStatus.kInterrupt,
                   highspy.HighsModelStatus.kHighsInterrupt}
# Every variable is bounded, so HiGHS's "unbounded or infeasible" can only mean infeasible.
_INFEASIBLE_STATUSES = {highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible}


@dataclass(frozen=True)
class SolverLimits:
    """Limits per HiGHS call: seconds, and simplex iterations (LP), QP iterations or branch-and-bound
    nodes (MIP). ``projection_seconds`` bounds the exact MIP that :func:`solvers.project` tries first."""
    lp_seconds: float = LP_SECONDS
    lp_iterations: int = LP_ITERATIONS
    qp_seconds: float = QP_SECONDS
    qp_iterations: int = QP_ITERATIONS
    mip_seconds: float = MIP_SECONDS
    mip_nodes: int = MIP_NODES
    projection_seconds: float = PROJECTION_SECONDS

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"solver limit {name} must be > 0, got {value}")


DEFAULT_LIMITS = SolverLimits()


class SolverError(RuntimeError):
    """HiGHS ended a solve without an answer (``status``: HiGHS's model status, as it words it)."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


class SolverLimitError(SolverError, TimeoutError):
    """A time or iteration limit was reached before HiGHS could answer.

    ``incumbent``: the best exactly feasible answer found by then, where the caller has one.
    """

    def __init__(self, message: str, status: str, incumbent=None):
        super().__init__(message, status)
        self.incumbent = incumbent


class ClockedHighs:
    """A silent ``highspy.Highs`` whose time limit counts from each :meth:`run`, not from its creation.

    HiGHS compares ``time_limit`` with a clock that starts when the object is made, so a model reused
    for thousands of warm solves would hit any fixed limit; the limit is moved forward before each run.
    """

    def __init__(self, seconds: float):
        self._born = time.perf_counter()         # before HiGHS's own clock starts: errs generous
        self.highs = highspy.Highs()
        self.highs.silent()
        self.seconds = float(seconds)

    def run(self) -> highspy.HighsModelStatus:
        self.highs.setOptionValue("time_limit", time.perf_counter() - self._born + self.seconds)
        self.highs.run()
        return self.highs.getModelStatus()

    def status_name(self) -> str:
        """HiGHS's words for how the last run ended (``'Time limit reached'``...)."""
        return self.highs.modelStatusToString(self.highs.getModelStatus())


def new_highs(seconds: float, **options: float | int | str) -> ClockedHighs:
    """A silent HiGHS model with a per-run time limit and the given options (iteration limits...)."""
    model = ClockedHighs(seconds)
    for name, value in options.items():
        model.highs.setOptionValue(name, value)
    return model


def run_highs(model: ClockedHighs, what: str) -> Outcome:
    """Run and classify how it ended; :class:`SolverError` for anything but optimal, infeasible or a
    limit (``what`` names the program in the message)."""
    status = model.run()
    if status == highspy.HighsModelStatus.kOptimal:
        return "optimal"
    if status in _INFEASIBLE_STATUSES:
        return "infeasible"
    if status in _LIMIT_STATUSES:
        return "limit"
    name = model.status_name()
    raise SolverError(f"HiGHS could not solve the {what}: model status {name!r}", name)
