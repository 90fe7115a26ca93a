"""Resources a search can bound, as data: each is a provider in one registry, found by name.

A constraint is a resource name and a bound. Providers build :class:`Resource` objects from the
search space (params, MACs, peak activation memory) or from measured tables (latency per device); the
config's ``constraints`` keys, the ``search`` command's flags, the ``pareto.csv`` columns and the
registry tags all follow from :func:`list_resources`. A new resource is one module here that calls
:func:`register_resource`, imported below, plus its tests.
"""
from . import counts, latency, peak_activation  # noqa: F401  (each module registers its providers)
from .registry import (
    PeakResource,
    Resource,
    ResourceContext,
    SumResource,
    build_resources,
    list_resources,
    register_resource,
)

__all__ = ["PeakResource", "Resource", "ResourceContext", "SumResource", "build_resources", "list_resources",
           "register_resource"]
