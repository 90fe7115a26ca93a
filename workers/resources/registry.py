"""The registry of resource providers and the two forms a resource takes.

A *sum* resource (params, MACs, latency) is a formula-(3) model: its value is the fixed part plus the
present blocks' costs, and a bound on it is one linear row per LP. A *peak* resource (peak activation
memory) is a maximum over the present blocks: a bound on it is a bound on every block, so it removes
the options that exceed it. The solvers see that as a formula-(3) constraint too: the count of present
blocks in a removed option, bounded by 0.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hardcore_nas import UsageError
from solvers import Constraint, ResourceModel
from solvers.constraints import format_amount
from supernet.arch import Architecture
from supernet.space import SearchSpace

__all__ = ["Resource", "SumResource", "PeakResource", "ResourceContext", "register_resource",
           "list_resources", "build_resources"]


class Resource(Protocol):
    """What the pipeline, the search command and the report need of a resource."""
    name: str
    unit: str

    def value(self, arch: Architecture) -> float:
        """The exact value of a discrete architecture."""

    def least(self) -> float:
        """The least value any architecture of the space reaches."""

    def constraint(self, bound: float) -> Constraint:
        """The solvers' form of ``value <= bound`` (a :class:`UsageError` when no architecture meets it)."""


@dataclass(frozen=True)
class SumResource:
    """A resource of formula (3): the fixed part plus the present blocks' costs."""
    model: ResourceModel

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def unit(self) -> str:
        return self.model.unit

    def value(self, arch: Architecture) -> float:
        return self.model.evaluate(*arch.to_one_hot())

    def least(self) -> float:
        return self.model.least()

    def constraint(self, bound: float) -> Constraint:
        return Constraint(self.model, bound)


@dataclass(frozen=True)
class PeakResource:
    """A resource that is a maximum: of the fixed part's peak and the present blocks' peaks."""
    name: str
    block_peaks: np.ndarray      # (stages, max_depth, configs)
    constant: float
    min_depth: int
    unit: str = ""

    def value(self, arch: Architecture) -> float:
        space = arch.space
        return max([self.constant, *(float(self.block_peaks[s, b, space.config_index(cfg)])
                                     for s, b, cfg in arch.blocks())])

    def least(self) -> float:
        # Optional blocks can always be left out; each always-present block takes its smallest option.
        return max(self.constant, float(self.block_peaks[:, :self.min_depth].min(axis=2).max()))

    def constraint(self, bound: float) -> Constraint:
        if bound < self.least():
            raise UsageError(f"{self.name} <= {format_amount(bound, self.unit)} is out of reach: the least "
                             f"any architecture reaches is {format_amount(self.least(), self.unit)}")
        removed = (self.block_peaks > bound).astype(np.float64)
        return Constraint(ResourceModel(f"{self.name} over {bound:g}{self.unit}", removed, 0.0, self.min_depth,
                                        unit="blocks"), 0.0)


@dataclass(frozen=True)
class ResourceContext:
    """What providers build from: the space, the classifier width, and any measured latency tables."""
    space: SearchSpace
    num_classes: int
    tables: Mapping[str, object] = field(default_factory=dict)    # device -> workers.LatencyTable


Provider = Callable[[ResourceContext], "dict[str, Resource]"]
_PROVIDERS: dict[str, tuple[Provider, bool]] = {}


def register_resource(name: str, *, boundable: bool = True) -> Callable[[Provider], Provider]:
    """Register ``provider(context) -> {resource name: Resource}`` under ``name``.

    ``boundable`` resources get a config key ``constraints.max_<name>``, a ``search --max-<name>`` flag, a
    ``pareto.csv`` column and a registry tag; latency is bounded per device by the targets instead.
    """
    def decorate(provider: Provider) -> Provider:
        if name in _PROVIDERS:
            raise ValueError(f"a resource provider named {name!r} is already registered")
        _PROVIDERS[name] = (provider, boundable)
        return provider
    return decorate


def list_resources() -> list[str]:
    """Names of the resources a user can bound (and that every member reports), in registration order."""
    return [name for name, (_, boundable) in _PROVIDERS.items() if boundable]


def build_resources(context: ResourceContext) -> dict[str, Resource]:
    """Every provider's resources, by resource name (``params``, ``latency:cpu-bs1``, ...)."""
    built: dict[str, Resource] = {}
    for provider, _ in _PROVIDERS.values():
        built.update(provider(context))
    return built
