"""The exact discrete problem: the architecture of most credit under every constraint, by HiGHS MIP.

With several constraints a point of the relaxation can be feasible while no architecture is (two
resources pulling in opposite directions), and deciding whether one exists is a multi-dimensional
knapsack problem. The relaxation's bilinear term disappears on architectures: give every optional
block an extra "absent" option, ask that a stage's absent blocks come last, and every resource is
linear in the binary choices. The model is small (imagenet: 250 binaries), so HiGHS solves it exactly
in milliseconds in practice; the solvers use it for the joint feasibility check and for the
projection (eq. 13 asks for exactly this optimum).
"""
from __future__ import annotations

import logging
import time

import highspy
import numpy as np

from .constraints import ConstraintSet
from .limits import DEFAULT_LIMITS, SolverError, SolverLimitError, SolverLimits, new_highs, run_highs

__all__ = ["best_architecture", "MAX_CUTS", "RELAXATION"]

logger = logging.getLogger(__name__)

# HiGHS accepts a row broken by up to its tolerance; the exact check has the last word. Each answer it
# rejects is cut off by a no-good row and the MIP solved again, at most this many times.
MAX_CUTS = 100
# Scaled bounds are loosened by this (relative), so that round-off in HiGHS's row sums can never cut
# off an architecture that meets a bound exactly; what it lets in is cut off as above.
RELAXATION = 1e-9

Architecture = tuple[np.ndarray, np.ndarray]


def best_architecture(constraints: ConstraintSet, alpha_credit: np.ndarray | None = None,
                      beta_credit: np.ndarray | None = None, time_limit: float | None = None, *,
                      limits: SolverLimits | None = None, start: Architecture | None = None
                      ) -> Architecture | None:
    """One-hot ``(alpha, beta)`` maximising ``<alpha_credit, alpha> + <beta_credit, beta>``, exactly.

    Without credits: any feasible architecture. ``None`` when no architecture satisfies the
    constraints. Feasibility is the exact check of :class:`ConstraintSet`: an answer HiGHS accepts
    within its tolerance but the check rejects is cut off and the MIP solved again, so an architecture
    on a bound is never lost and the optimum is the true one. ``start``: a feasible architecture to
    warm-start from. ``time_limit`` (default ``limits.mip_seconds``) and ``limits.mip_nodes`` bound the
    solve: past them :class:`SolverLimitError` is raised, its ``incumbent`` the best exactly feasible
    architecture found (or ``None``); a HiGHS failure raises :class:`SolverError`.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    model = _ArchitectureMip(constraints, alpha_credit, beta_credit)
    if model.trivially_infeasible:
        return None
    return model.solve(limits.mip_seconds if time_limit is None else time_limit, limits.mip_nodes, start)


class _ArchitectureMip:
    """The binary program: per block a one-hot choice over its configs plus "absent" (optional blocks),
    a stage's absent blocks last, every resource a linear row (scaled to unit size)."""

    def __init__(self, constraints: ConstraintSet, alpha_credit: np.ndarray | None,
                 beta_credit: np.ndarray | None):
        self.cs = constraints
        s_n, d_n, c_n = constraints.alpha_shape
        k_n = constraints.beta_shape[1]
        self.min_depth = min_depth = d_n - k_n + 1
        self.alpha_credit = np.zeros((s_n, d_n, c_n)) if alpha_credit is None else np.asarray(alpha_credit)
        beta_credit = np.zeros((s_n, k_n)) if beta_credit is None else np.asarray(beta_credit)

        n_alpha, n_absent = s_n * d_n * c_n, s_n * (d_n - min_depth)
        self.a_index = np.arange(n_alpha).reshape(s_n, d_n, c_n)
        self.z_index = n_alpha + np.arange(n_absent).reshape(s_n, d_n - min_depth)   # z = 1: absent
        # Credit: an absent block keeps its best config for free; beta[s, k] = z[s, m+k] - z[s, m+k-1]
        # (z[s, m-1] = 0, z[s, D] = 1), so each z carries a difference of consecutive beta credits.
        self.credit = np.zeros(n_alpha + n_absent)
        self.credit[:n_alpha] = self.alpha_credit.ravel()
        self.credit[n_alpha:] = (self.alpha_credit[:, min_depth:].max(axis=2)
                                 + beta_credit[:, :-1] - beta_credit[:, 1:]).ravel()
        self.num_groups = s_n * d_n

        groups = np.zeros((self.num_groups, self.credit.size))
        for s in range(s_n):
            for b in range(d_n):
                groups[s * d_n + b, self.a_index[s, b]] = 1.0
                if b >= min_depth:
                    groups[s * d_n + b, self.z_index[s, b - min_depth]] = 1.0
        order = np.zeros((s_n * max(d_n - min_depth - 1, 0), self.credit.size))   # z[s, b] <= z[s, b+1]
        for row, (s, j) in enumerate((s, j) for s in range(s_n) for j in range(d_n - min_depth - 1)):
            order[row, self.z_index[s, j]], order[row, self.z_index[s, j + 1]] = 1.0, -1.0

        costs = np.zeros((len(constraints), self.credit.size))
        costs[:, :n_alpha] = [c.resource.block_costs.ravel() for c in constraints.constraints]
        rhs = constraints.bounds - [c.resource.constant for c in constraints.constraints]
        scale = np.abs(costs).max(axis=1)
        # A resource with no cost to choose holds for every architecture or for none.
        self.trivially_infeasible = bool(((scale == 0) & (rhs < 0)).any())
        scale = np.where(scale > 0, scale, 1.0)
        costs, rhs = costs / scale[:, None], rhs / scale
        self.matrix = np.vstack([groups, order, costs])
        self.lower = np.r_[np.ones(len(groups)), np.full(len(order) + len(costs), -np.inf)]
        self.upper = np.r_[np.ones(len(groups)), np.zeros(len(order)),
                           rhs + RELAXATION * np.maximum(1.0, np.abs(rhs))]

    def decode(self, x: np.ndarray) -> Architecture:
        """One-hot ``(alpha, beta)`` of a binary solution (an absent block keeps its best config)."""
        chosen = x > 0.5
        alpha = np.eye(self.alpha_credit.shape[2])[
            np.where(chosen[self.a_index].any(axis=2), chosen[self.a_index].argmax(axis=2),
                     self.alpha_credit.argmax(axis=2))]
        beta = np.eye(self.cs.beta_shape[1])[(~chosen[self.z_index]).sum(axis=1)]
        return alpha, beta

    def encode(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """The binary solution of a one-hot ``(alpha, beta)``."""
        x = np.zeros(self.credit.size)
        depth = self.min_depth + np.asarray(beta).argmax(axis=1)              # blocks present per stage
        present = np.arange(self.alpha_credit.shape[1])[None, :] < depth[:, None]
        x[self.a_index[present, np.asarray(alpha).argmax(axis=2)[present]]] = 1.0
        x[self.z_index[~present[:, self.min_depth:]]] = 1.0
        return x

    def solve(self, seconds: float, nodes: int, start: Architecture | None) -> Architecture | None:
        model = new_highs(seconds, mip_max_nodes=nodes, mip_rel_gap=0.0, mip_abs_gap=1e-12,
                          mip_feasibility_tolerance=1e-9, primal_feasibility_tolerance=1e-9)
        highs = model.highs
        highs.passModel(self._lp())
        if start is not None and self.cs.satisfied(*start):
            solution = highspy.HighsSolution()
            solution.col_value = list(self.encode(*start))
            highs.setSolution(solution)
        deadline = time.perf_counter() + seconds      # one limit for all the re-solves together
        for _ in range(MAX_CUTS + 1):
            model.seconds = deadline - time.perf_counter()
            if model.seconds <= 0:               # the re-solves after cuts used the time up
                raise SolverLimitError(f"HiGHS found no provably best architecture within {seconds:g} s",
                                       "Time limit reached")
            outcome = run_highs(model, "architecture MIP")
            if outcome == "infeasible":
                return None
            x = self._solution(highs)
            candidate = None if x is None else self.decode(x)
            feasible = candidate is not None and self.cs.satisfied(*candidate)
            if outcome == "optimal" and feasible:
                return candidate
            if outcome == "limit" or x is None:
                raise SolverLimitError(f"HiGHS found no provably best architecture within {seconds:g} s "
                                       f"and {nodes} nodes ({model.status_name()})", model.status_name(),
                                       candidate if feasible else None)
            self._cut(highs, x > 0.5)
        raise SolverError(f"HiGHS kept answering architectures that break a bound by round-off "
                          f"({MAX_CUTS} cut off); the constraints are too close to call", "rounding")

    @staticmethod
    def _solution(highs: highspy.Highs) -> np.ndarray | None:
        """HiGHS's best binary solution, if it has one."""
        status = highs.getInfo().primal_solution_status
        if status != int(highspy.SolutionStatus.kSolutionStatusFeasible):
            return None
        return np.array(highs.getSolution().col_value)

    def _cut(self, highs: highspy.Highs, chosen: np.ndarray) -> None:
        """Exclude exactly this binary solution: it has one 1 per group, so no other reaches the sum."""
        index = np.flatnonzero(chosen).astype(np.int32)
        highs.addRow(-np.inf, self.num_groups - 1.0, len(index), index, np.ones(len(index)))
        logger.debug("cut off an architecture that HiGHS accepted and the exact check did not")

    def _lp(self) -> highspy.HighsLp:
        n = self.credit.size
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, self.matrix.shape[0]
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = -self.credit, np.zeros(n), np.ones(n)
        lp.row_lower_, lp.row_upper_ = self.lower, self.upper
        columns = self.matrix.T
        nonzero = columns != 0
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.r_[0, np.cumsum(nonzero.sum(axis=1))].astype(np.int32)
        lp.a_matrix_.index_ = np.nonzero(nonzero)[1].astype(np.int32)
        lp.a_matrix_.value_ = columns[nonzero]
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n
        return lp
