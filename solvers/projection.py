"""From a relaxed ``(alpha*, beta*)`` to one architecture: argmax (eq. 12) and the projection (eq. 13).

Eq. 13 asks for the architecture of most credit ``<alpha, alpha*> + <beta, beta*>`` under every
constraint. :func:`project` never returns an architecture that breaks a constraint, and returns that
optimum whenever it can prove it within its time limit:

1. If the argmax architecture is feasible it is the answer: the credit is a sum over blocks, so over
   architectures argmax maximises it, and with no binding constraint eq. 13 coincides with eq. 12
   (paper, below eq. 13). Method ``"argmax"``.
2. Otherwise the alternating-LP path (the official ``sparsify``): LPs, beta first, each maximising its
   block's credit over its feasible set (eqs. 10-11, every constraint, the other block fixed), from
   ``(alpha*, beta*)`` when that is feasible, else from a feasible architecture. Each LP's set contains
   the current block, so the credit does not fall (beyond the LPs' safety margin) and every point is
   feasible; the rounds stop when one gains nothing. HiGHS returns vertices: with ``m`` constraints a
   vertex has at most ``m`` entries beyond one per group (Theorem 3.1 for ``m = 1``). Then rounding,
   beta first (with alpha as the LPs left it), then, after one more alpha LP at the rounded beta,
   alpha: each fractional group becomes one-hot at the option of most credit among those that keep
   every constraint, trying its support first, then the other options.
   *Why an option always exists with one constraint.* With everything else fixed the resource is
   linear in the group: ``v(x) = sum_c x_c v(e_c)`` over the support, so the cheapest support option
   has ``v(e_c) <= v(x) <= bound``. With several constraints no single option need be cheaper for all
   of them, so the rounding can get stuck.
3. The exact MIP of :mod:`solvers.discrete`, warm-started from the LP path's answer, under
   ``limits.projection_seconds``: its answer is eq. 13's optimum (method ``"exact"``). The LP path
   leaves credit on the table (on random instances it found the optimum about half the time), so it
   is only the fallback: when the MIP reaches its limit, the LP path's answer is kept (``"lp"``), or
   the MIP's best architecture so far where that has more credit (``"incumbent"``). When the rounding
   got stuck the MIP gets ``limits.mip_seconds``, and past that any feasible architecture is kept
   (``"feasible"``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .constraints import ConstraintSet, as_constraint_set
from .discrete import best_architecture
from .limits import DEFAULT_LIMITS, SolverError, SolverLimitError, SolverLimits
from .oracle import BlockOracle
from .resources import Constraint
from .start import feasible_architecture, no_common_architecture

__all__ = ["Projection", "argmax_projection", "project", "is_one_hot"]

logger = logging.getLogger(__name__)

# Credit changes below this (relative) are round-off and margins: the alternating LPs stop when a
# round gains no more, and an LP answer that loses more than this to the current block is not taken.
NEGLIGIBLE = 1e-6

Method = Literal["argmax", "exact", "lp", "incumbent", "feasible"]


@dataclass(frozen=True)
class Projection:
    """A projected architecture (one-hot ``alpha``, ``beta``) and the path that found it.

    ``method``: ``"argmax"`` (argmax was feasible: the optimum), ``"exact"`` (the MIP's proven optimum),
    ``"lp"`` (the alternating-LP path; the MIP reached its limit or was not asked for),
    ``"incumbent"`` (the MIP's best architecture at its limit, when it beats the LP path's or that
    got stuck) or ``"feasible"`` (neither: any feasible architecture). ``rounded``: groups
    rounded after the LPs; ``lp_credit``: the credit of the LP path's answer (``None`` where it did not
    run or got stuck); ``exact_seconds``: time spent in the MIP.
    """
    alpha: np.ndarray
    beta: np.ndarray
    method: Method
    rounded: int = 0
    lp_credit: float | None = None
    exact_seconds: float = 0.0

    @property
    def optimal(self) -> bool:
        """Whether this is eq. 13's optimum (proven)."""
        return self.method in ("argmax", "exact")


def argmax_projection(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 12: the most probable option in every group (the common projection; may break a bound)."""
    alpha, beta = np.asarray(alpha), np.asarray(beta)
    return np.eye(alpha.shape[-1])[alpha.argmax(-1)], np.eye(beta.shape[-1])[beta.argmax(-1)]


def is_one_hot(x: np.ndarray) -> bool:
    x = np.asarray(x)
    return bool(np.isin(x, (0.0, 1.0)).all() and (x.sum(-1) == 1.0).all())


def project(constraints: ConstraintSet | Sequence[Constraint], alpha_star: np.ndarray,
            beta_star: np.ndarray, rounds: int = 50, *, exact: bool = True,
            limits: SolverLimits | None = None) -> Projection:
    """The architecture of most credit ``<alpha, alpha*> + <beta, beta*>`` within all constraints.

    ``(alpha*, beta*)`` may be any distributions (a soft-penalty result may be infeasible).
    ``exact=False`` skips the MIP where the LP path succeeds (for comparison). Raises
    :class:`InfeasibleConstraintError` only when no architecture satisfies the constraints.
    """
    cs = as_constraint_set(constraints)
    limits = DEFAULT_LIMITS if limits is None else limits
    alpha_star, beta_star = np.asarray(alpha_star, float), np.asarray(beta_star, float)
    if alpha_star.shape != cs.alpha_shape or beta_star.shape != cs.beta_shape:
        raise ValueError(f"alpha*, beta* must have shapes {cs.alpha_shape}, {cs.beta_shape}; "
                         f"got {alpha_star.shape}, {beta_star.shape}")
    argmax = argmax_projection(alpha_star, beta_star)
    if cs.satisfied(*argmax):
        return Projection(*argmax, method="argmax")

    lp, rounded = _lp_path(cs, alpha_star, beta_star, rounds, limits)
    lp_credit = None if lp is None else _credit(lp[0], alpha_star) + _credit(lp[1], beta_star)
    if lp is not None and not exact:
        return Projection(*lp, method="lp", rounded=rounded, lp_credit=lp_credit)
    seconds = limits.projection_seconds if lp is not None else limits.mip_seconds
    tic = time.perf_counter()
    try:
        found = best_architecture(cs, alpha_star, beta_star, seconds, limits=limits, start=lp)
    except SolverError as exc:                  # a limit or a HiGHS failure: the fallback path
        elapsed = time.perf_counter() - tic
        logger.info("the exact projection ended without a proven optimum (%s); keeping the %s", exc,
                    "LP path's answer" if lp is not None else "best feasible architecture")
        incumbent = exc.incumbent if isinstance(exc, SolverLimitError) else None
        if incumbent is not None and (lp is None or _credit(incumbent[0], alpha_star)
                                      + _credit(incumbent[1], beta_star) > lp_credit):
            return Projection(*incumbent, method="incumbent", rounded=rounded, lp_credit=lp_credit,
                              exact_seconds=elapsed)
        if lp is not None:
            return Projection(*lp, method="lp", rounded=rounded, lp_credit=lp_credit, exact_seconds=elapsed)
        return Projection(*feasible_architecture(cs, limits=limits), method="feasible", exact_seconds=elapsed)
    elapsed = time.perf_counter() - tic
    if found is None:
        if lp is not None:                      # cannot happen: the MIP's set contains the LP answer
            logger.error("the exact MIP found no architecture, though the LP path found a feasible one; "
                         "keeping the LP path's answer")
            return Projection(*lp, method="lp", rounded=rounded, lp_credit=lp_credit, exact_seconds=elapsed)
        raise no_common_architecture(cs)
    return Projection(*found, method="exact", rounded=rounded, lp_credit=lp_credit, exact_seconds=elapsed)


def _lp_path(cs: ConstraintSet, alpha_star: np.ndarray, beta_star: np.ndarray, rounds: int,
             limits: SolverLimits) -> tuple[tuple[np.ndarray, np.ndarray] | None, int]:
    """Alternating LPs, then rounding (step 2 of the module doc): a feasible architecture and the number
    of groups rounded, or ``None`` when the rounding got stuck."""
    if cs.satisfied(alpha_star, beta_star):
        alpha, beta = alpha_star.copy(), beta_star.copy()
    else:
        alpha, beta = feasible_architecture(cs, limits=limits)
    alpha_lp, beta_lp = BlockOracle(cs, "alpha", limits), BlockOracle(cs, "beta", limits)
    for _ in range(rounds):
        before = _credit(alpha, alpha_star) + _credit(beta, beta_star)
        beta = _better(beta_lp.minimize(-beta_star, alpha, beta), beta, beta_star)
        alpha = _better(alpha_lp.minimize(-alpha_star, alpha, beta), alpha, alpha_star)
        after = _credit(alpha, alpha_star) + _credit(beta, beta_star)
        if after <= before + NEGLIGIBLE * (1 + abs(before)):
            break

    beta, rounded_beta = _round_groups(cs, alpha, beta, beta_star, "beta")
    if beta is None:
        return None, rounded_beta
    alpha = _better(alpha_lp.minimize(-alpha_star, alpha, beta), alpha, alpha_star)
    alpha, rounded_alpha = _round_groups(cs, alpha, beta, alpha_star, "alpha")
    if alpha is not None and is_one_hot(alpha) and is_one_hot(beta) and cs.satisfied(alpha, beta):
        return (alpha, beta), rounded_beta + rounded_alpha
    return None, rounded_beta + (rounded_alpha if alpha is not None else 0)


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
