"""Device profiles: where and how latency is measured (backend, threads, batch, process, Ray resource label).

A profile is plain data; the orchestrator's YAML names built-in profiles or gives new ones as dicts.
Latency is the time of one forward pass of a batch of ``batch_size`` images, in milliseconds.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

from hardcore_nas.checks import is_number
from hardcore_nas.errors import UsageError

from .backends import list_backends
from .processes import DEFAULT_CONDITION, get_condition, list_conditions

__all__ = ["DeviceProfile", "BUILTIN_PROFILES", "get_profile"]


@dataclass(frozen=True)
class DeviceProfile:
    """One measurable device setting.

    ``backend``: a registered latency backend (:mod:`workers.backends`: ``torch-cpu``, ``torch-cuda``,
    ``onnxruntime``, ...); ``threads``: the runtime's intra-op threads, ``None`` meaning every core the
    measuring process may use; ``batch_size``: images per forward pass; ``process``: the registered
    process condition (:mod:`workers.processes`) the latencies hold for, a plain process by default.
    """
    name: str
    backend: str = "torch-cpu"
    threads: int | None = 1
    batch_size: int = 1
    process: str = DEFAULT_CONDITION

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(ch.isspace() or ch in ",:" for ch in self.name):
            raise UsageError(f"device name {self.name!r} must be non-empty without spaces, ',' or ':'")
        if self.backend not in list_backends():
            raise UsageError(f"device {self.name!r}: backend {self.backend!r} is not one of "
                             f"{', '.join(list_backends())}")
        if self.threads is not None and (not is_number(self.threads, int) or self.threads < 1):
            raise UsageError(f"device {self.name!r}: threads must be a positive integer or null, "
                             f"got {self.threads!r}")
        if not is_number(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"device {self.name!r}: batch_size must be a positive integer, "
                             f"got {self.batch_size!r}")
        if not isinstance(self.process, str) or self.process not in list_conditions():
            raise UsageError(f"device {self.name!r}: process {self.process!r} is not one of "
                             f"{', '.join(list_conditions())}")

    @property
    def condition(self):
        """The :class:`~workers.processes.ProcessCondition` this profile's latencies hold for."""
        return get_condition(self.process)

    @property
    def resource_label(self) -> str:
        """The Ray custom resource carried by nodes that have this device (1 unit per node)."""
        return f"device:{self.name}"

    def resolved_threads(self) -> int:
        """The thread count on the machine running this (``None`` resolves to the usable cores)."""
        return self.threads if self.threads is not None else len(os.sched_getaffinity(0))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> DeviceProfile:
        """A profile from a config mapping; unknown keys are refused so typos do not pass silently."""
        if not isinstance(config, dict):
            raise UsageError(f"a device profile is a mapping, got {type(config).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise UsageError(f"device profile has unknown keys {unknown}; known keys: {sorted(known)}")
        if "name" not in config:
            raise UsageError("device profile needs a 'name'")
        return cls(**config)


BUILTIN_PROFILES: dict[str, DeviceProfile] = {p.name: p for p in (
    DeviceProfile("cpu-bs1", "torch-cpu", threads=1, batch_size=1),     # the paper's Xeon setting
    DeviceProfile("cpu-bs8", "torch-cpu", threads=None, batch_size=8),
    DeviceProfile("cuda-bs64", "torch-cuda", threads=1, batch_size=64),
    DeviceProfile("ort-bs1", "onnxruntime", threads=1, batch_size=1),   # ONNX Runtime, CPU provider
)}


def get_profile(spec: str | dict | DeviceProfile) -> DeviceProfile:
    """A built-in profile by name, or a profile from a config mapping."""
    if isinstance(spec, DeviceProfile):
        return spec
    if isinstance(spec, dict):
        return DeviceProfile.from_dict(spec)
    if spec not in BUILTIN_PROFILES:
        raise UsageError(f"unknown device {spec!r}; built-in devices: {', '.join(BUILTIN_PROFILES)} "
                         f"(or define one with name, backend, threads, batch_size, process)")
    return BUILTIN_PROFILES[spec]
