"""Process conditions: the state of the process a latency holds for, named in a device profile.

The same network, same thread and batch, measures differently in processes set up differently. On this
project's 2-core VM, timm's ``hardcorenas_a`` (torch, 1 thread, batch 1) read 19-24 ms in a plain
process that loads it and times it, and 12-15 ms when glibc's mmap and trim thresholds were pinned or
another network had been run and freed first (benchmarks/results/latency_process.md). A latency is
therefore certified for one condition, and the table, the members' measurement and the registry all
use and state the same one. A new condition is one :func:`register_condition` call.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hardcore_nas.errors import UsageError
from hardcore_nas.process import ALLOCATOR_ENV

__all__ = ["ProcessCondition", "register_condition", "get_condition", "list_conditions", "DEFAULT_CONDITION"]

DEFAULT_CONDITION = "plain"
_REGISTRY: dict[str, ProcessCondition] = {}


@dataclass(frozen=True)
class ProcessCondition:
    """How a measuring process is set up.

    ``env``: variables set in it (a deployment must set them too, so they are what the registry
    states); ``networks_per_process``: ``1`` times every network first and alone in its own process,
    as a user's process runs one model, ``None`` lets the protocol batch several; ``warm_allocator``: a
    throw-away network runs first, which is only right when the deployment's process has run one too.
    """
    name: str
    env: dict[str, str] = field(default_factory=dict)
    networks_per_process: int | None = None
    warm_allocator: bool = False
    description: str = ""

    def instructions(self) -> str:
        """One line for a deployment: the environment to start the serving process with."""
        if not self.env:
            return "a plain process (no environment settings), one model loaded"
        return "start the process with " + " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))


def register_condition(condition: ProcessCondition) -> ProcessCondition:
    """Make ``condition`` available to device profiles under its name."""
    if condition.name in _REGISTRY and _REGISTRY[condition.name] != condition:
        raise ValueError(f"process condition {condition.name!r} is already registered")
    _REGISTRY[condition.name] = condition
    return condition


def list_conditions() -> list[str]:
    return sorted(_REGISTRY)


def get_condition(name: str) -> ProcessCondition:
    if name not in _REGISTRY:
        raise UsageError(f"process condition {name!r} is not one of {', '.join(list_conditions())}")
    return _REGISTRY[name]


register_condition(ProcessCondition(
    "plain", networks_per_process=1,
    description="a plain process that loads one model and times it, as a user's script or server does"))
register_condition(ProcessCondition(
    "tuned", env={"THP_MEM_ALLOC_ENABLE": "1", **ALLOCATOR_ENV}, warm_allocator=True,
    description="transparent huge pages for torch's allocator and glibc's mmap/trim thresholds pinned; "
                "several networks per process after a throw-away one (steadier, and faster on large inputs)"))
