"""From a relaxed ``(alpha*, beta*)`` to one architecture: argmax (eq. 12) and the projection (eq. 13).

:func:`project` never returns an architecture that breaks a constraint:

1. If the argmax architecture is feasible it is the answer: the credit ``<alpha, alpha*> + <beta,
   beta*>`` is a sum over blocks, so over architectures argmax maximises it, and with no binding
   constraint eq. 13 coincides with eq. 12 (paper, below eq. 13).
2. Otherwise, eq. 13: alternating LPs, beta first, each maximising its block's credit over its feasible
   set (eqs. 10-11, every constraint, the other block fixed), from ``(alpha*, beta*)`` when that is
   feasible, else from a feasible architecture. Each LP's set contains the current block, so the
   credit does not fall (beyond the LPs' safety margin) and every point is feasible; the rounds stop
   when one gains nothing. HiGHS returns vertices: with ``m`` constraints a
   vertex has at most ``m`` entries beyond one per group (Theorem 3.1 for ``m = 1``: one block with two
   non-zeros).
3. Rounding, beta first (with alpha as the LPs left it), then, after one more alpha LP at the rounded
   beta, alpha: each fractional group becomes one-hot at the option of most credit among those that
   keep every constraint, trying its support first, then the other options.
   *Why an option always exists with one constraint.* With everything else fixed the resource is
   linear in the group: ``v(x) = sum_c x_c v(e_c)`` over the support, so the cheapest support option
   has ``v(e_c) <= v(x) <= bound``. Rounding one group at a time keeps the point feasible, hence the
   result. With several constraints no single option need be cheaper for all of them (a fractional
   point can be feasible while no architecture near it is), so the rounding can get stuck:
4. then, and if the final exact check ever failed, the answer is the exact MIP of
   :mod:`solvers.discrete`: the architecture of most credit under every constraint.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .constraints import ConstraintSet, as_constraint_set
from .discrete import best_architecture
from .oracle import BlockOracle
from .resources import Constraint
from .start import feasible_architecture, no_common_architecture

__all__ = ["Projection", "argmax_projection", "project", "is_one_hot"]

# Credit changes below this (relative) are round-off and margins: the alternating LPs stop when a
# round gains no more, and an LP answer that loses more than this to the current block is not taken.
NEGLIGIBLE = 1e-6


@dataclass(frozen=True)
class Projection:
    """A projected architecture (one-hot ``alpha``, ``beta``) and how it was found.

    ``method``: ``"argmax"`` (argmax was feasible), ``"lp"`` (eq. 13 and rounding) or ``"exact"``
    (the MIP, when rounding found no feasible option); ``rounded``: groups rounded after the LPs.
    """
    alpha: np.ndarray
    beta: np.ndarray
    method: Literal["argmax", "lp", "exact"]
    rounded: int = 0


def argmax_projection(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 12: the most probable option in every group (the common projection; may break a bound)."""
    alpha, beta = np.asarray(alpha), np.asarray(beta)
    return np.eye(alpha.shape[-1])[alpha.argmax(-1)], np.eye(beta.shape[-1])[beta.argmax(-1)]


def is_one_hot(x: np.ndarray) -> bool:
    x = np.asarray(x)
    return bool(np.isin(x, (0.0, 1.0)).all() and (x.sum(-1) == 1.0).all())


def project(constraints: ConstraintSet | Sequence[Constraint], alpha_star: np.ndarray,
            beta_star: np.ndarray, rounds: int = 50) -> Projection:
    """An architecture of (near) most credit ``<alpha, alpha*> + <beta, beta*>`` within all constraints.

    ``(alpha*, beta*)`` may be any distributions (a soft-penalty result may be infeasible). Raises
    :class:`InfeasibleConstraintError` only when no architecture satisfies the constraints.
    """
    cs = as_constraint_set(constraints)
    alpha_star, beta_star = np.asarray(alpha_star, float), np.asarray(beta_star, float)
    if alpha_star.shape != cs.alpha_shape or beta_star.shape != cs.beta_shape:
        raise ValueError(f"alpha*, beta* must have shapes {cs.alpha_shape}, {cs.beta_shape}; "
                         f"got {alpha_star.shape}, {beta_star.shape}")
    argmax = argmax_projection(alpha_star, beta_star)
    if cs.satisfied(*argmax):
        return Projection(*argmax, method="argmax")

    if cs.satisfied(alpha_star, beta_star):
        alpha, beta = alpha_star.copy(), beta_star.copy()
    else:
        alpha, beta = feasible_architecture(cs)
    alpha_lp, beta_lp = BlockOracle(cs, "alpha"), BlockOracle(cs, "beta")
    for _ in range(rounds):
        before = _credit(alpha, alpha_star) + _credit(beta, beta_star)
        beta = _better(beta_lp.minimize(-beta_star, alpha, beta), beta, beta_star)
        alpha = _better(alpha_lp.minimize(-alpha_star, alpha, beta), alpha, alpha_star)
        after = _credit(alpha, alpha_star) + _credit(beta, beta_star)
        if after <= before + NEGLIGIBLE * (1 + abs(before)):
            break

    beta, rounded_beta = _round_groups(cs, alpha, beta, beta_star, "beta")
    if beta is not None:
        alpha = _better(alpha_lp.minimize(-alpha_star, alpha, beta), alpha, alpha_star)
        alpha, rounded_alpha = _round_groups(cs, alpha, beta, alpha_star, "alpha")
        if alpha is not None and is_one_hot(alpha) and is_one_hot(beta) and cs.satisfied(alpha, beta):
            return Projection(alpha, beta, method="lp", rounded=rounded_beta + rounded_alpha)
    return Projection(*_most_credit(cs, alpha_star, beta_star), method="exact")


def _credit(x: np.ndarray, credit: np.ndarray) -> float:
    return float((x * credit).sum())


def _better(candidate: np.ndarray | None, current: np.ndarray, credit: np.ndarray) -> np.ndarray:
    """The LP's answer, unless there is none or it has clearly less credit than the current block.

    The current block may sit on a bound, outside the LP's slightly tightened set, so the LP's answer
    may have a little less credit; it is taken all the same, as its margin inside every constraint is
    what keeps the rounding's exact checks clear of round-off.
    """
    if candidate is None:
        return current
    now = _credit(current, credit)
    return current if _credit(candidate, credit) < now - NEGLIGIBLE * (1 + abs(now)) else candidate


def _round_groups(cs: ConstraintSet, alpha: np.ndarray, beta: np.ndarray, credit: np.ndarray,
                  block: Literal["alpha", "beta"]) -> tuple[np.ndarray | None, int]:
    """Make every group of ``block`` one-hot, keeping every constraint; ``None`` if a group cannot be."""
    x = (alpha if block == "alpha" else beta).copy()
    groups, options = x.reshape(-1, x.shape[-1]), x.shape[-1]   # a view: editing it edits x
    flat_credit = credit.reshape(-1, options)
    rounded = 0
    for g in range(len(groups)):
        support = np.flatnonzero(groups[g] > 0)
        if len(support) == 1 and groups[g, support[0]] == 1.0:
            continue
        by_credit = np.argsort(-flat_credit[g], kind="stable")
        in_support = np.isin(by_credit, support)
        for option in np.r_[by_credit[in_support], by_credit[~in_support]]:
            previous = groups[g].copy()
            groups[g] = np.eye(options)[option]
            if cs.satisfied(*((x, beta) if block == "alpha" else (alpha, x))):
                rounded += 1
                break
            groups[g] = previous
        else:
            return None, rounded
    return x, rounded


def _most_credit(cs: ConstraintSet, alpha_star: np.ndarray, beta_star: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The exact MIP's answer; any feasible architecture if HiGHS runs out of time."""
    try:
        found = best_architecture(cs, alpha_star, beta_star)
    except TimeoutError:
        return feasible_architecture(cs)
    if found is None:
        raise no_common_architecture(cs)
    return found
