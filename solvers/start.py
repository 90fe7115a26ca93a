"""Before any search: decide feasibility exactly, then find a balanced point inside every constraint.

Feasibility. One constraint is feasible exactly when its bound is at least the least reachable value,
and :meth:`ResourceModel.least_architecture` attains it. With several, each resource's least
architecture is tried, then the exact MIP of :mod:`solvers.discrete` (the resources may disagree on
what is cheap). Either way the outcome is a feasible *architecture* (the anchor), or
:class:`InfeasibleConstraintError` naming the least reachable values; a relaxed point would not do,
as the final projection needs an architecture to exist.

Balanced start (the official code's QP toward uniform). From the anchor, alternate block QPs, beta
first: minimise ``||x||^2`` over one block's feasible set with the other block fixed. On a simplex
``||x||^2 = ||x - uniform||^2 + const``, so this is the point closest to uniform; unlike the official
sum of squared consecutive differences it does not depend on the (arbitrary) order of the configs,
and its Hessian ``2I`` makes each QP strictly convex. Why this cannot fail when the problem is
feasible: the anchor is feasible, each QP's feasible set contains the current block (so the QP is
feasible), and a QP answer replaces the block only after the exact check on the full point passes;
otherwise the block stays as it was. Every point of the sequence is therefore feasible.
"""
from __future__ import annotations

import numpy as np

from .constraints import ConstraintSet, InfeasibleConstraintError, format_amount
from .discrete import best_architecture
from .limits import SolverLimitError, SolverLimits
from .oracle import BlockOracle
from .resources import Constraint

__all__ = ["feasible_architecture", "balanced_start", "no_common_architecture"]


def feasible_architecture(constraints: ConstraintSet, time_limit: float | None = None, *,
                          limits: SolverLimits | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A one-hot ``(alpha, beta)`` inside every constraint, or :class:`InfeasibleConstraintError`
    when none is (decided exactly). :class:`SolverLimitError` when the MIP reaches ``time_limit``
    (default ``limits.mip_seconds``) without finding one or proving there is none."""
    cheapest = [c.resource.least_architecture() for c in constraints.constraints]
    # The least values as the exact check computes them (``least()`` may differ in the last bit).
    least = {c.name: c.resource.evaluate(*arch) for c, arch in zip(constraints.constraints, cheapest)}
    below = [c for c in constraints.constraints if least[c.name] > c.bound]
    if below:
        raise InfeasibleConstraintError("; ".join(_below_least(c, least[c.name]) for c in below), least)
    for alpha, beta in cheapest:
        if constraints.satisfied(alpha, beta):
            return alpha, beta
    try:
        found = best_architecture(constraints, time_limit=time_limit, limits=limits)
    except SolverLimitError as exc:
        if exc.incumbent is not None:           # any feasible architecture will do here
            return exc.incumbent
        raise SolverLimitError(f"no architecture satisfying all {len(constraints)} constraints was found "
                               f"and none was proven impossible ({exc}): {constraints.describe()}",
                               exc.status) from exc
    if found is None:
        raise no_common_architecture(constraints)
    return found


def no_common_architecture(constraints: ConstraintSet) -> InfeasibleConstraintError:
    """The error for constraints that each hold somewhere but never all at once."""
    return InfeasibleConstraintError(
        f"no architecture satisfies all {len(constraints)} constraints together, though each alone "
        f"is reachable: {constraints.describe()}; loosen a bound",
        {c.name: c.resource.least() for c in constraints.constraints})


def balanced_start(constraints: ConstraintSet, anchor: tuple[np.ndarray, np.ndarray] | None = None,
                   rounds: int = 50, tol: float = 1e-3, *, limits: SolverLimits | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A feasible ``(alpha, beta)`` as close to uniform as alternating block QPs get from ``anchor``.

    ``anchor`` (default :func:`feasible_architecture`) must be feasible. Stops when a round moves no
    entry by more than ``tol`` or after ``rounds`` rounds. A QP that is infeasible (after the oracle's
    margins), fails, or reaches its limit leaves its block as it was.
    """
    alpha, beta = feasible_architecture(constraints, limits=limits) if anchor is None else anchor
    alpha, beta = np.array(alpha, dtype=np.float64), np.array(beta, dtype=np.float64)
    if not constraints.satisfied(alpha, beta):
        raise ValueError(f"the anchor violates a constraint: slack {constraints.slacks(alpha, beta)}")
    alpha_qp, beta_qp = BlockOracle(constraints, "alpha", limits), BlockOracle(constraints, "beta", limits)
    for _ in range(rounds):
        moved = 0.0
        new_beta = beta_qp.balance(alpha, beta)
        if new_beta is not None:
            moved, beta = np.abs(new_beta - beta).max(), new_beta
        new_alpha = alpha_qp.balance(alpha, beta)
        if new_alpha is not None:
            moved, alpha = max(moved, np.abs(new_alpha - alpha).max()), new_alpha
        if moved <= tol:
            break
    return alpha, beta


def _below_least(c: Constraint, least: float) -> str:
    unit = c.resource.unit
    return (f"{c.name} bound {format_amount(c.bound, unit)} is below the least reachable value "
            f"{format_amount(least, unit)} (the space reaches {format_amount(least, unit)} .. "
            f"{format_amount(c.resource.largest(), unit)})")
