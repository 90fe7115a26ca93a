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
"""
from __future__ import annotations

from typing import Literal

import highspy
import numpy as np

from .constraints import ConstraintSet

__all__ = ["BlockOracle", "Block"]

Block = Literal["alpha", "beta"]

# Relative tightening of each scaled constraint row, tried in turn until a candidate checks out.
MARGINS = (1e-8, 1e-6, 1e-4)
# Entries below this are HiGHS round-off of a zero.
ZERO = 1e-12


class _SimplexProductModel:
    """A HiGHS model over ``groups`` simplices of ``options`` entries plus replaceable linear rows."""

    def __init__(self, groups: int, options: int, num_rows: int, quadratic: bool):
        n = groups * options
        self.n, self.groups, self.num_rows, self.quadratic = n, groups, num_rows, quadratic
        self._columns = np.arange(n, dtype=np.int32)
        self._highs = highspy.Highs()
        self._highs.silent()
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

    def solve(self, cost: np.ndarray, rows: np.ndarray, upper: np.ndarray) -> np.ndarray | None:
        """Optimal ``x`` (flat), or ``None`` when HiGHS finds no optimum."""
        basis = None if self.quadratic else self._highs.getBasis()
        self._highs.changeColsCost(self.n, self._columns, cost)
        self._set_rows(rows, upper)
        if basis is not None and basis.valid:
            self._highs.setBasis(basis)                              # the new rows keep their status
        self._highs.run()
        if self._highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return np.array(self._highs.getSolution().col_value)

    @property
    def iterations(self) -> int:
        """Simplex iterations of the last solve."""
        return int(self._highs.getInfo().simplex_iteration_count)


class BlockOracle:
    """Linear (or balancing quadratic) minimisation over one block's feasible set (eq. 10 or 11)."""

    def __init__(self, constraints: ConstraintSet, block: Block):
        if block not in ("alpha", "beta"):
            raise ValueError(f"block must be 'alpha' or 'beta', got {block!r}")
        self.constraints, self.block = constraints, block
        self.shape = constraints.alpha_shape if block == "alpha" else constraints.beta_shape
        self._groups, self._options = int(np.prod(self.shape[:-1])), self.shape[-1]
        self._lp = _SimplexProductModel(self._groups, self._options, len(constraints), False)
        self._qp: _SimplexProductModel | None = None

    @property
    def iterations(self) -> int:
        """Simplex iterations of the last linear solve (shows the warm start at work)."""
        return self._lp.iterations

    def minimize(self, cost: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
        """A feasible vertex minimising ``<cost, block>``, the other block of ``(alpha, beta)`` fixed.

        ``None`` when no candidate passes the exact check (e.g. the feasible set is thinner than the
        margins); the current point, which is feasible, is then the caller's answer.
        """
        cost = np.asarray(cost, dtype=np.float64).ravel()
        if cost.size != self._groups * self._options:
            raise ValueError(f"cost must have shape {self.shape}, got {np.shape(cost)}")
        size = np.abs(cost).max()
        return self._solve(self._lp, cost / size if size > 0 else cost, alpha, beta)

    def balance(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
        """The feasible block of least ``||x||^2``, i.e. closest to uniform in every group."""
        if self._qp is None:
            self._qp = _SimplexProductModel(self._groups, self._options, len(self.constraints), True)
        return self._solve(self._qp, np.zeros(self._groups * self._options), alpha, beta)

    def _solve(self, model: _SimplexProductModel, cost: np.ndarray,
               alpha: np.ndarray, beta: np.ndarray) -> np.ndarray | None:
        if self.block == "alpha":
            rows, rhs = self.constraints.alpha_rows(beta)
        else:
            rows, rhs = self.constraints.beta_rows(alpha)
        scale = np.abs(rows).max(axis=1)
        live = scale > 0
        if (rhs[~live] < 0).any():              # a violated row this block cannot change
            return None
        scale = np.where(live, scale, 1.0)
        rows, rhs = rows / scale[:, None], rhs / scale
        for margin in MARGINS:
            # A row this block does not touch holds for every x: leave it unbounded.
            upper = np.where(live, rhs - margin * np.maximum(1.0, np.abs(rhs)), np.inf)
            x = model.solve(cost, rows, upper)
            if x is None:
                return None
            x = self._polish(x)
            point = (x, beta) if self.block == "alpha" else (alpha, x)
            if self.constraints.satisfied(*point):
                return x
        return None

    def _polish(self, x: np.ndarray) -> np.ndarray:
        """Exact zeros for round-off and groups that sum to one."""
        x = np.clip(x.reshape(self._groups, self._options), 0.0, 1.0)
        x[x < ZERO] = 0.0
        return (x / x.sum(axis=1, keepdims=True)).reshape(self.shape)
