"""Latency backends: one runtime per module of this package, each registered by name.

Every module here is imported when the package is, so a new runtime is one new file with a class
decorated by :func:`register_backend`; a backend living elsewhere registers when its module is imported.
"""
from __future__ import annotations

import importlib
import pkgutil

from .registry import LatencyBackend, TimedNetwork, get_backend, list_backends, register_backend, segment_boundaries

__all__ = ["LatencyBackend", "TimedNetwork", "register_backend", "get_backend", "list_backends",
           "segment_boundaries"]

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry":
        importlib.import_module(f"{__name__}.{_module.name}")
