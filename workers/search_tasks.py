"""One hard-constrained search per (device, target): a plain function, and its Ray task.

:func:`run_search` runs :func:`solvers.search` with a :class:`~workers.gradients.SeededGradient` over any
gradient source (the in-process shard of ``hardcore-nas search``, or the shared
:class:`~workers.gradients.GradientPool`). :func:`start_search` runs it as a Ray task that reports its
step count to a :class:`~workers.monitoring.ProgressBoard` actor, so the driver can show every concurrent
search's progress.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from solvers import Constraint, SearchResult, StepRecord, search
from supernet.arch import Architecture
from supernet.space import SearchSpace

from .gradients import ComputeFn, SeededGradient

__all__ = ["SearchRequest", "SearchOutcome", "run_search", "start_search"]


@dataclass(frozen=True)
class SearchRequest:
    """What to search: ``constraints`` (latency on the device, and any params/MACs bounds) and the
    BCSFW settings (``solver_options`` go to :func:`solvers.search`: gamma_max, schedule, momentum,
    block_choice)."""
    key: str
    constraints: tuple[Constraint, ...]
    steps: int
    batch_size: int
    seed: int
    solver_options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SearchOutcome:
    """A finished search: the projected architecture and the solver's full result."""
    request: SearchRequest
    arch: Architecture
    result: SearchResult
    seconds: float


def run_search(request: SearchRequest, space: SearchSpace, compute: ComputeFn,
               on_step: Callable[[StepRecord], None] | None = None) -> SearchOutcome:
    """Search under ``request.constraints`` with gradients from ``compute``; raises
    :class:`solvers.InfeasibleConstraintError` (before any gradient) when nothing fits."""
    started = time.perf_counter()
    gradient = SeededGradient(compute, request.batch_size, request.seed)
    result = search(list(request.constraints), gradient, request.steps, np.random.default_rng(request.seed),
                    on_step=on_step, **request.solver_options)
    arch = Architecture.from_one_hot(space, result.alpha, result.beta)
    return SearchOutcome(request, arch, result, time.perf_counter() - started)


def _search_task(request: SearchRequest, space: SearchSpace, pool, board, every: int) -> SearchOutcome:
    def on_step(record: StepRecord) -> None:
        done = record.step + 1
        if done % every == 0 or done == request.steps:
            board.set.remote(request.key, done)

    return run_search(request, space, pool.compute, on_step)


def start_search(request: SearchRequest, space: SearchSpace, pool, board, num_cpus: float = 0.0,
                 report_every: int = 10):
    """:func:`run_search` as a Ray task on ``pool`` (a :class:`GradientPool`), reporting to ``board``
    (a :class:`~workers.monitoring.ProgressBoard` actor); resolves to a :class:`SearchOutcome`."""
    import ray

    task = ray.remote(_search_task).options(num_cpus=num_cpus, max_retries=0, name=f"search[{request.key}]")
    return task.remote(request, space, pool, board, report_every)
