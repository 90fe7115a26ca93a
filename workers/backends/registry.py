"""The latency-backend interface and its registry (found by name, the way timm registers models).

A backend is one runtime that a device profile measures with: it turns a timm ``MobileNetV3`` into a
:class:`TimedNetwork` in the measuring process and times it, whole and per block. Everything else of
a measurement (fresh processes, warm-up, rounds, redoing disturbed rounds, the statistic) stays in
:mod:`workers.latency`, so a new runtime is one class in one file::

    @register_backend("my-runtime")
    class MyRuntime(LatencyBackend):
        def load(self, model, example, blocks): ...
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from hardcore_nas.errors import UsageError

if TYPE_CHECKING:
    from ..devices import DeviceProfile

__all__ = ["LatencyBackend", "TimedNetwork", "register_backend", "get_backend", "list_backends",
           "segment_boundaries"]

_REGISTRY: dict[str, type[LatencyBackend]] = {}


class TimedNetwork(ABC):
    """One whole network loaded into a runtime, timed as it runs.

    Segments of a run are, in forward order: the front (stem and DS block), every searched block, the
    back (last conv, pool, head conv, classifier) -- the terms of formula (3).
    """

    @abstractmethod
    def totals(self, runs: int) -> list[float]:
        """``runs`` forward passes of the whole network; each one's time in ms."""

    @abstractmethod
    def segments(self, runs: int) -> list[Any]:
        """``runs`` forward passes timed per segment; one record per run (see :meth:`segment_times`)."""

    def segment_times(self, records: list[Any]) -> list[list[float]]:
        """The kept ``records`` as per-run segment times in ms.

        Runtimes that can only read their timings after the fact (ORT's profile file) return
        placeholders from :meth:`segments` and resolve them here; the rest return times directly.
        """
        return records

    def warmup(self, runs: int, blocks: bool) -> None:
        """Untimed runs after loading (of the runs that will be timed: per segment when ``blocks``)."""
        (self.segments if blocks else self.totals)(runs)

    def close(self) -> None:
        """Free the network (the probe closes networks when it is done with them)."""
        return None


class LatencyBackend(ABC):
    """One runtime: how a profile's networks are loaded and timed, and what the numbers depend on."""

    name: ClassVar[str] = ""
    # imported once by the measuring launcher before it forks (what every measuring child would import)
    preload: ClassVar[tuple[str, ...]] = ("torch", "timm")

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile

    @classmethod
    def versions(cls, profile: DeviceProfile) -> dict:
        """Library versions and device of the runtime, for the table's fingerprint (``gpu`` if any)."""
        return {}

    def setup(self) -> None:
        """Per-process settings (threads), once in the measuring process before any network loads."""
        return None

    @abstractmethod
    def load(self, model, example, blocks: bool) -> TimedNetwork:
        """``model`` (a timm ``MobileNetV3`` in eval mode) on this runtime, fed ``example`` (a CPU tensor
        of the profile's batch); ``blocks`` says whether :meth:`TimedNetwork.segments` will be called."""


def register_backend(name: str):
    """Class decorator: make a :class:`LatencyBackend` available to device profiles as ``name``."""
    def register(cls: type[LatencyBackend]) -> type[LatencyBackend]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"latency backend {name!r} is already registered by {_REGISTRY[name].__module__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return register


def list_backends() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(_REGISTRY)


def get_backend(name: str) -> type[LatencyBackend]:
    """The backend class registered as ``name``."""
    if name not in _REGISTRY:
        raise UsageError(f"latency backend {name!r} is not one of {', '.join(list_backends())}")
    return _REGISTRY[name]


def segment_boundaries(model) -> list[str]:
    """Names of the modules whose ends split a timm ``MobileNetV3`` into segments, in forward order:
    the DS stage ``blocks.0``, then every searched block ``blocks.<stage>.<index>``."""
    names = ["blocks.0"]
    for s in range(1, len(model.blocks) - 1):     # blocks[-1] (last conv) belongs to the back
        names += [f"blocks.{s}.{b}" for b in range(len(model.blocks[s]))]
    return names
