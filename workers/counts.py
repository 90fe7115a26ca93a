"""Exact parameter and MAC counts of a space (``supernet.costs``) as ``solvers`` resource models, and
the constraints of the bounds a user sets on them: where the two packages meet."""
from __future__ import annotations

from solvers import Constraint, ResourceModel
from supernet.costs import mac_costs, param_costs
from supernet.space import SearchSpace

__all__ = ["count_models", "count_constraints"]


def count_models(space: SearchSpace, num_classes: int) -> dict[str, ResourceModel]:
    """The exact counts in formula (3) form, keyed ``params`` and ``macs``."""
    return {name: ResourceModel(name, *fn(space, num_classes), space.min_depth)
            for name, fn in (("params", param_costs), ("macs", mac_costs))}


def count_constraints(models: dict[str, ResourceModel], max_params: int | None = None,
                      max_macs: int | None = None) -> list[Constraint]:
    """One constraint per bound given (none for a bound that is None)."""
    return [Constraint(models[name], bound) for name, bound in (("params", max_params), ("macs", max_macs))
            if bound is not None]
