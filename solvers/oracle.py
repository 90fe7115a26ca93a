"""HiGHS programs over one block (alpha or beta) with the other block fixed (paper eqs. 10-11).

The feasible set of a block is a product of simplices (one per block position, or per stage for beta)
cut by one linear row per constraint. :class:`BlockOracle` keeps one HiGHS model per block and, per
call, changes only the costs and the constraint rows, warm-starting the dual simplex from the last
basis, so every linear solution is a vertex (Theorem 3.1 counts on that). The constraint rows are
replaced whole (one call; setting 240 coefficients one by one costs more than the solve) and the
previous basis is put back, rows included, so the warm start survives the replacement.

HiGHS decides feasibility up to a tolerance; this module never trusts it. Rows are scaled to unit
size, their bounds tightened by a small margin, and every candidate is checked exactly on the full
``(alpha, beta)`` by :class:`ConstraintSet`; a candidate that fails is re-solved with a wider margin,
and ``None`` comes back when none passes. Callers keep their current (feasible) point in that case.

A margin never cuts a row below the least value the block can give it: a row whose bound is exactly
that least value (a 0/1 indicator row with bound 0: "no removed option") keeps its exact bound, so its
feasible face stays. When the margins together still empty the set, the exact bounds are tried once.
Every solve runs under :class:`~solvers.limits.SolverLimits`; a limit reached also gives ``None`` (and a
warning), and before a balancing QP an LP checks that the set is not empty (HiGHS 1.16's QP solver
does not stop on an empty set by itself).
"""
from __future__ import annotations

import logging
from typing import Literal

import highspy
import numpy as np

from .constraints import ConstraintSet
from .limits import DEFAULT_LIMITS, Outcome, SolverError, SolverLimits, new_highs, run_highs

__all__ = ["BlockOracle", "Block"]

Block = Literal["alpha", "beta"]

logger = logging.getLogger(__name__)

# Relative tightening of each scaled constraint row, tried in turn until a candidate checks out.
MARGINS = (1e-8, 1e-6, 1e-4)
# Entries below this are HiGHS round-off of a zero.
ZERO = 1e-12


class _SimplexProductModel:
    """A HiGHS model over ``groups`` simplices of ``options`` entries plus replaceable linear rows."""

    def __init__(self, groups: int, options: int, num_rows: int, quadratic: bool, limits: SolverLimits):
        n = groups * options
        self.n, self.groups, self.num_rows, self.quadratic = n, groups, num_rows, quadratic
        self._columns = np.arange(n, dtype=np.int32)
        if quadratic:
            self._model = new_highs(limits.qp_seconds, qp_iteration_limit=limits.qp_iterations)
        else:
            self._model = new_highs(limits.lp_seconds, simplex_iteration_limit=limits.lp_iterations)
        self._highs = self._model.highs
        self._highs.setOptionValue("presolve", "off")
        self._highs.setOptionValue("primal_feasibility_tolerance", 1e-9)
        self._highs.setOptionValue("dual_feasibility_tolerance", 1e-9)
        if not quadratic:
            self._highs.setOptionValue("solver", "simplex")
            self._highs.setOptionValue("simplex_strategy", 1)    # dual simplex: a vertex, warm restarts
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, groups
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.zeros(n), np.zeros(n), np.ones(n)
        lp.row_lower_ = lp.row_upper_ = np.ones(groups)              # each group sums to one
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.arange(n + 1, dtype=np.int32)
        lp.a_matrix_.index_ = (self._columns // options).astype(np.int32)
        lp.a_matrix_.value_ = np.ones(n)
        self._highs.passModel(lp)
        if quadratic:                                                # objective ||x||^2
            hessian = highspy.HighsHessian()
            hessian.dim_, hessian.format_ = n, highspy.HessianFormat.kTriangular
            hessian.start_ = np.arange(n + 1, dtype=np.int32)
            hessian.index_ = self._columns
            hessian.value_ = np.full(n, 2.0)
            self._highs.passHessian(hessian)
        self._row_ids = np.arange(groups, groups + num_rows, dtype=np.int32)
        self._set_rows(np.zeros((num_rows, n)), np.full(num_rows, np.inf), first=True)

    def _set_rows(self, rows: np.ndarray, upper: np.ndarray, first: bool = False) -> None:
        if not first:
            self._highs.deleteRows(self.num_rows, self._row_ids)
        m = self.num_rows
        self._highs.addRows(m, np.full(m, -np.inf), upper, m * self.n,
                            (np.arange(m) * self.n).astype(np.int32), np.tile(self._columns, m),
                            rows.ravel())

    def solve(self, cost: np.ndarray, rows: np.ndarray, upper: np.ndarray, col_upper: np.ndarray
              ) -> tuple[Outcome | Literal["error"], np.ndarray | None]:
        """How the solve ended, and the optimal ``x`` (flat) when it is ``"optimal"``.

        An LP that HiGHS cannot solve is retried once without the warm basis, then raises
        :class:`SolverError`; a QP that it cannot solve ends as ``"error"`` (the caller keeps its point).
        """
        basis = None if self.quadratic else self._highs.getBasis()
        self._highs.changeColsCost(self.n, self._columns, cost)
        self._highs.changeColsBounds(self.n, self._columns, np.zeros(self.n), col_upper)
        self._set_rows(rows, upper)
        if basis is not None and basis.valid:
            self._highs.setBasis(basis)                              # the new rows keep their status
        try:
            outcome = run_highs(self._model, "balancing QP" if self.quadratic else "block LP")
        except SolverError:
            if self.quadratic:                  # HiGHS 1.16's QP solver fails on some degenerate sets
                return "error", None
            self._highs.clearSolver()           # a stale basis is the usual cause: retry once cold
            outcome = run_highs(self._model, "block LP")
        if outcome != "optimal":
            return outcome, None
        return outcome, np.array(self._highs.getSolution().col_value)

    @property
    def status(self) -> str:
        """HiGHS's words for how the last solve ended."""
        return self._model.status_name()

    @property
    def iterations(self) -> int:
        """Simplex iterations of the last solve."""
        return int(self._highs.getInfo().simplex_iteration_count)


class BlockOracle:
    """Linear (or balancing quadratic) minimisation over one block's feasible set (eq. 10 or 11)."""

    def __init__(self, constraints: ConstraintSet, block: Block, limits: SolverLimits | None = None):
        if block not in ("alpha", "beta"):
            raise ValueError(f"block must be 'alpha' or 'beta', got {block!r}")
        self.constraints, self.block = constraints, block
        self.limits = DEFAULT_LIMITS if limits is None else limits
        self.shape = constraints.alpha_shape if block == "alpha" else constraints.beta_shape
        self._groups, self._options = int(np.prod(self.shape[:-1])), self.shape[-1]
        self._lp = _SimplexProductModel(self._groups, self._options, len(constraints), False, self.limits)
        self._qp: _SimplexProductModel | None = None

    @property
    def iterations(self) -> int:
        """Simplex iterations of the last linear solve (shows the warm start at work)."""
        return self._lp.iterations

    def minimize(self, cost: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
        """A feasible vertex minimising ``<cost, block>``, the other block of ``(alpha, beta)`` fixed.

        ``None`` when no candidate passes the exact check (the feasible set is thinner than HiGHS's
        tolerance) or the LP reaches a limit; the current point, which is feasible, is then the
        caller's answer.
        """
        cost = np.asarray(cost, dtype=np.float64).ravel()
        if cost.size != self._groups * self._options:
            raise ValueError(f"cost must have shape {self.shape}, got {np.shape(cost)}")
        size = np.abs(cost).max()
        return self._solve(self._lp, cost / size if size > 0 else cost, alpha, beta)

    def balance(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
        """The feasible block of least ``||x||^2``, i.e. closest to uniform in every group."""
        if self._qp is None:
            self._qp = _SimplexProductModel(self._groups, self._options, len(self.constraints), True,
                                            self.limits)
        return self._solve(self._qp, np.zeros(self._groups * self._options), alpha, beta)

    def _solve(self, model: _SimplexProductModel, cost: np.ndarray,
               alpha: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
        rows, rhs = self._rows(alpha, beta)
        if rows is None:
            return None
        for i, margin in enumerate(MARGINS):
            outcome, x = self._attempt(model, cost, rows, rhs, margin, alpha, beta)
            if outcome == "infeasible" and i == 0:
                # The margins together emptied a set that may still have points on its bounds.
                outcome, x = self._attempt(model, cost, rows, rhs, 0.0, alpha, beta)
            if outcome != "rejected":
                return x
        return None

    def _rows(self, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """The block's constraint rows scaled to unit size (``None`` when one is violated whatever
        the block does); rows the block does not touch get an infinite bound."""
        if self.block == "alpha":
            rows, rhs = self.constraints.alpha_rows(beta)
        else:
            rows, rhs = self.constraints.beta_rows(alpha)
        scale = np.abs(rows).max(axis=1)
        live = scale > 0
        if (rhs[~live] < 0).any():              # a violated row this block cannot change
            return None, rhs
        scale = np.where(live, scale, 1.0)
        return rows / scale[:, None], np.where(live, rhs / scale, np.inf)

    def _attempt(self, model: _SimplexProductModel, cost: np.ndarray, rows: np.ndarray, rhs: np.ndarray,
                 margin: float, alpha: np.ndarray, beta: np.ndarray) -> tuple[str, np.ndarray | None]:
        """One solve with bounds tightened by ``margin``: ``("accepted", x)``, ``("rejected", None)``
        (the exact check failed), ``("infeasible", None)`` or ``("limit", None)``."""
        upper, col_upper = self._bounds(rows, rhs, margin)
        if model.quadratic:                     # the QP solver may not stop on an empty set
            outcome, _ = self._lp.solve(np.zeros(model.n), rows, upper, col_upper)
            if outcome != "optimal":
                return self._unsolved(outcome)
        outcome, x = model.solve(cost, rows, upper, col_upper)
        if outcome != "optimal":
            return self._unsolved(outcome, model)
        x = self._polish(x)
        point = (x, beta) if self.block == "alpha" else (alpha, x)
        return ("accepted", x) if self.constraints.satisfied(*point) else ("rejected", None)

    def _bounds(self, rows: np.ndarray, rhs: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
        """Row bounds tightened by ``margin``, and column upper bounds.

        A margin never goes below the least value the block can give a row (that would empty the
        row's set). A row whose bound is at that least value holds exactly when every group uses only
        its cheapest options for the row: those columns stay, the others get upper bound 0 and the row
        is dropped. Exact, and it spares HiGHS a degenerate face (its QP solver cycles on one).
        """
        by_group = rows.reshape(len(rows), self._groups, self._options)
        least = by_group.min(axis=2).sum(axis=1)
        with np.errstate(invalid="ignore"):     # inf - inf on untouched rows; they stay unbounded
            upper = np.maximum(rhs - margin * np.maximum(1.0, np.abs(rhs)), np.minimum(rhs, least))
        tight = np.isfinite(rhs) & (rhs <= least)
        upper = np.where(np.isfinite(rhs) & ~tight, upper, np.inf)
        costly = (by_group[tight] > by_group[tight].min(axis=2, keepdims=True)).any(axis=0).ravel()
        return upper, np.where(costly, 0.0, 1.0)

    def _unsolved(self, outcome: str, model: _SimplexProductModel | None = None) -> tuple[str, None]:
        """Log a limit or a QP error (the caller keeps its current point) and pass the outcome on."""
        if outcome in ("limit", "error"):
            model = model or self._lp
            logger.warning("the %s %s ended without an answer (%s); the current point is kept",
                           self.block, "QP" if model.quadratic else "LP", model.status)
        return outcome, None

    def _polish(self, x: np.ndarray) -> np.ndarray:
        """Exact zeros for round-off and groups that sum to one."""
        x = np.clip(x.reshape(self._groups, self._options), 0.0, 1.0)
        x[x < ZERO] = 0.0
        return (x / x.sum(axis=1, keepdims=True)).reshape(self.shape)
