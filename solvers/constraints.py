"""Several hard constraints at once: exact checks and the linear rows of each block's feasible set.

Every resource has the formula (3) form, so with one block fixed each constraint is one linear row in
the other block (paper eqs. 10-11). :class:`ConstraintSet` builds those rows and is the single place
where feasibility is decided, in plain float64 arithmetic on the full ``(alpha, beta)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .resources import Constraint

__all__ = ["ConstraintSet", "InfeasibleConstraintError", "ReachableRange", "as_constraint_set",
           "format_amount"]


class InfeasibleConstraintError(ValueError):
    """No architecture of the space satisfies the constraints.

    ``least`` maps each resource name to the least value the space reaches; the message states it,
    so that a caller can print it as a one-line error.
    """

    def __init__(self, message: str, least: dict[str, float]):
        super().__init__(message)
        self.least = least

    def __reduce__(self):
        # Raised inside Ray tasks: unpickling calls the class with ``args``, which lack ``least``.
        return type(self), (str(self), self.least)


@dataclass(frozen=True)
class ReachableRange:
    """The exact least and largest value of one resource over the space."""
    name: str
    least: float
    largest: float
    unit: str = ""


class ConstraintSet:
    """One or more constraints over the same space (same ``alpha``/``beta`` shapes)."""

    def __init__(self, constraints: Sequence[Constraint]):
        constraints = tuple(constraints)
        if not constraints:
            raise ValueError("a search needs at least one constraint")
        first = constraints[0].resource
        for c in constraints:
            r = c.resource
            if r.alpha_shape != first.alpha_shape or r.min_depth != first.min_depth:
                raise ValueError(f"resource {r.name!r} has shape {r.alpha_shape} and min_depth "
                                 f"{r.min_depth}; {first.name!r} has {first.alpha_shape}, "
                                 f"{first.min_depth}: all constraints must share one space")
            if not np.isfinite(c.bound):
                raise ValueError(f"the bound of {r.name!r} must be finite, got {c.bound}")
        names = [c.name for c in constraints]
        if len(set(names)) != len(names):
            raise ValueError(f"constraint names must be unique, got {names}")
        self.constraints = constraints
        self.names = tuple(names)
        self.bounds = np.array([c.bound for c in constraints], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.constraints)

    @property
    def alpha_shape(self) -> tuple[int, int, int]:
        return self.constraints[0].resource.alpha_shape

    @property
    def beta_shape(self) -> tuple[int, int]:
        return self.constraints[0].resource.beta_shape

    # --- exact checks ----------------------------------------------------------------------
    def values(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Formula (3) of every resource at ``(alpha, beta)``."""
        return np.array([c.resource.evaluate(alpha, beta) for c in self.constraints])

    def slacks(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """``bound - value`` per constraint; all non-negative exactly when the point is feasible."""
        return self.bounds - self.values(alpha, beta)

    def satisfied(self, alpha: np.ndarray, beta: np.ndarray) -> bool:
        return bool((self.slacks(alpha, beta) >= 0.0).all())

    def as_dict(self, values: np.ndarray) -> dict[str, float]:
        return {name: float(v) for name, v in zip(self.names, values)}

    # --- linear rows of one block with the other fixed (eqs. 10-11) ------------------------
    def alpha_rows(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, rhs)``: ``rows @ alpha.ravel() <= rhs`` is every constraint at this ``beta``."""
        rows = np.stack([c.resource.alpha_coefficients(beta).ravel() for c in self.constraints])
        rhs = self.bounds - [c.resource.constant for c in self.constraints]
        return rows, rhs

    def beta_rows(self, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, rhs)``: ``rows @ beta.ravel() <= rhs`` is every constraint at this ``alpha``."""
        coefficients = [c.resource.beta_coefficients(alpha) for c in self.constraints]
        rows = np.stack([coef.ravel() for coef, _ in coefficients])
        rhs = self.bounds - [c.resource.constant + offset
                             for c, (_, offset) in zip(self.constraints, coefficients)]
        return rows, rhs

    # --- reachable range -------------------------------------------------------------------
    def ranges(self) -> list[ReachableRange]:
        return [ReachableRange(c.name, c.resource.least(), c.resource.largest(), c.resource.unit)
                for c in self.constraints]

    def describe(self) -> str:
        """One line: each bound next to the least value its resource can reach."""
        return "; ".join(f"{c.name} <= {format_amount(c.bound, c.resource.unit)} (least reachable "
                         f"{format_amount(c.resource.least(), c.resource.unit)})"
                         for c in self.constraints)


def as_constraint_set(constraints: ConstraintSet | Constraint | Sequence[Constraint]) -> ConstraintSet:
    """Accept one constraint, several, or a ready :class:`ConstraintSet`."""
    if isinstance(constraints, ConstraintSet):
        return constraints
    return ConstraintSet([constraints] if isinstance(constraints, Constraint) else constraints)


def format_amount(value: float, unit: str) -> str:
    """``12.3 ms``: a value with its unit, as error messages print it."""
    return f"{value:.6g} {unit}".rstrip()
