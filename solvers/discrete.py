"""The exact discrete problem: the architecture of most credit under every constraint, by HiGHS MIP.

With several constraints a point of the relaxation can be feasible while no architecture is (two
resources pulling in opposite directions), and deciding whether one exists is a multi-dimensional
knapsack problem. The relaxation's bilinear term disappears on architectures: give every optional
block an extra "absent" option, ask that a stage's absent blocks come last, and every resource is
linear in the binary choices. The model is small (imagenet: 250 binaries), so HiGHS solves it exactly
in milliseconds in practice; the solvers use it only where no cheaper argument is exact (a joint
feasibility check, and the rare projection whose rounding no option survives).
"""
from __future__ import annotations

import highspy
import numpy as np

from .constraints import ConstraintSet
from .oracle import MARGINS

__all__ = ["best_architecture"]


def best_architecture(constraints: ConstraintSet, alpha_credit: np.ndarray | None = None,
                      beta_credit: np.ndarray | None = None, time_limit: float = 30.0
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """One-hot ``(alpha, beta)`` maximising ``<alpha_credit, alpha> + <beta_credit, beta>``.

    Without credits: any feasible architecture. ``None`` when HiGHS proves that none satisfies the
    constraints; ``TimeoutError`` when it can tell neither way in ``time_limit`` seconds. The answer is
    checked exactly before it is returned; one that fails (HiGHS's tolerance) is solved for again
    with the bounds tightened a little, and ``None`` comes back if that has no solution.
    """
    s_n, d_n, c_n = constraints.alpha_shape
    k_n = constraints.beta_shape[1]
    min_depth = d_n - k_n + 1
    alpha_credit = np.zeros((s_n, d_n, c_n)) if alpha_credit is None else np.asarray(alpha_credit)
    beta_credit = np.zeros((s_n, k_n)) if beta_credit is None else np.asarray(beta_credit)

    n_alpha, n_absent = s_n * d_n * c_n, s_n * (d_n - min_depth)
    a_index = np.arange(n_alpha).reshape(s_n, d_n, c_n)
    z_index = n_alpha + np.arange(n_absent).reshape(s_n, d_n - min_depth)   # z = 1: block absent

    # Credit: an absent block keeps its best config for free; beta[s, k] = z[s, m+k] - z[s, m+k-1]
    # (z[s, m-1] = 0, z[s, D] = 1), so each z carries a difference of consecutive beta credits.
    credit = np.zeros(n_alpha + n_absent)
    credit[:n_alpha] = alpha_credit.ravel()
    credit[n_alpha:] = (alpha_credit[:, min_depth:].max(axis=2)
                        + beta_credit[:, :-1] - beta_credit[:, 1:]).ravel()

    groups = np.zeros((s_n * d_n, credit.size))
    for s in range(s_n):
        for b in range(d_n):
            groups[s * d_n + b, a_index[s, b]] = 1.0
            if b >= min_depth:
                groups[s * d_n + b, z_index[s, b - min_depth]] = 1.0
    order = np.zeros((s_n * max(d_n - min_depth - 1, 0), credit.size))   # z[s, b] <= z[s, b+1]
    for row, (s, j) in enumerate((s, j) for s in range(s_n) for j in range(d_n - min_depth - 1)):
        order[row, z_index[s, j]], order[row, z_index[s, j + 1]] = 1.0, -1.0

    costs = np.zeros((len(constraints), credit.size))
    costs[:, :n_alpha] = [c.resource.block_costs.ravel() for c in constraints.constraints]
    rhs = constraints.bounds - [c.resource.constant for c in constraints.constraints]
    scale = np.abs(costs).max(axis=1)
    if ((scale == 0) & (rhs < 0)).any():
        return None
    scale = np.where(scale > 0, scale, 1.0)
    costs, rhs = costs / scale[:, None], rhs / scale

    for margin in (0.0, *MARGINS):
        lower = np.r_[np.ones(len(groups)), np.full(len(order) + len(costs), -np.inf)]
        upper = np.r_[np.ones(len(groups)), np.zeros(len(order)),
                      rhs - margin * np.maximum(1.0, np.abs(rhs))]
        x = _solve_mip(-credit, np.vstack([groups, order, costs]), lower, upper, time_limit)
        if x is None:
            return None
        chosen = x > 0.5
        absent = chosen[z_index]
        alpha = np.eye(c_n)[np.where(chosen[a_index].any(axis=2), chosen[a_index].argmax(axis=2),
                                     alpha_credit.argmax(axis=2))]
        beta = np.eye(k_n)[(~absent).sum(axis=1)]
        if constraints.satisfied(alpha, beta):
            return alpha, beta
    return None


def _solve_mip(cost: np.ndarray, matrix: np.ndarray, lower: np.ndarray, upper: np.ndarray,
               time_limit: float) -> np.ndarray | None:
    highs = highspy.Highs()
    highs.silent()
    highs.setOptionValue("time_limit", float(time_limit))
    highs.setOptionValue("mip_feasibility_tolerance", 1e-9)
    highs.setOptionValue("primal_feasibility_tolerance", 1e-9)
    n = cost.size
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, matrix.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, np.zeros(n), np.ones(n)
    lp.row_lower_, lp.row_upper_ = lower, upper
    columns = matrix.T
    nonzero = columns != 0
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.r_[0, np.cumsum(nonzero.sum(axis=1))].astype(np.int32)
    lp.a_matrix_.index_ = np.nonzero(nonzero)[1].astype(np.int32)
    lp.a_matrix_.value_ = columns[nonzero]
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    highs.passModel(lp)
    highs.run()
    status = highs.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    if highs.getInfo().primal_solution_status != int(highspy.SolutionStatus.kSolutionStatusFeasible):
        raise TimeoutError(f"HiGHS found no architecture within {time_limit:g} s "
                           f"({highs.modelStatusToString(status)})")
    return np.array(highs.getSolution().col_value)
