"""One constrained search per (device, target), by any registered strategy: a plain function, and its Ray task.

:func:`run_search` runs :func:`solvers.run_strategy` with a :class:`~workers.gradients.SupernetEvaluator`
over any gradient and score source (the in-process shard of ``hardcore-nas search``, or the shared
:class:`~workers.gradients.GradientPool`). :func:`start_search` runs it as a Ray task that reports its
progress to a :class:`~workers.monitoring.ProgressBoard` actor, so the driver can show every concurrent
search's progress.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solvers import (
    DEFAULT_STRATEGY,
    Constraint,
    InfeasibleConstraintError,
    SearchResult,
    StepRecord,
    StrategyOptions,
    get_strategy,
    run_strategy,
)
from supernet.arch import Architecture
from supernet.space import SearchSpace

from .gradients import ComputeFn, ScoreComputeFn, SupernetEvaluator

__all__ = ["SearchRequest", "SearchOutcome", "BudgetUse", "run_search", "budget_use", "start_search"]


@dataclass(frozen=True)
class SearchRequest:
    """What to search: ``constraints`` (latency on the device, and any params/MACs bounds), the strategy
    (``algorithm``, a name of :func:`solvers.list_strategies`) and its ``options`` (``None``: its defaults)."""
    key: str
    constraints: tuple[Constraint, ...]
    seed: int
    algorithm: str = DEFAULT_STRATEGY
    options: StrategyOptions | None = None

    @property
    def resolved_options(self) -> StrategyOptions:
        return get_strategy(self.algorithm).options() if self.options is None else self.options

    @property
    def steps(self) -> int:
        """Progress units of the search (steps, generations, batches of architectures)."""
        return self.resolved_options.progress_steps


@dataclass(frozen=True)
class SearchOutcome:
    """A finished search: the architecture and the strategy's full result."""
    request: SearchRequest
    arch: Architecture
    result: SearchResult
    seconds: float


def run_search(request: SearchRequest, space: SearchSpace, compute: ComputeFn,
               on_step: Callable[[StepRecord], None] | None = None,
               score: ScoreComputeFn | None = None) -> SearchOutcome:
    """Search under ``request.constraints`` with gradients from ``compute`` and scores of discrete
    architectures from ``score``; raises :class:`solvers.InfeasibleConstraintError` (before any
    evaluation) when nothing fits."""
    started = time.perf_counter()
    evaluator = SupernetEvaluator(compute, score, request.seed)
    result = run_strategy(request.algorithm, list(request.constraints), evaluator, request.resolved_options,
                          np.random.default_rng(request.seed), on_step=on_step)
    arch = Architecture.from_one_hot(space, result.alpha, result.beta)
    return SearchOutcome(request, arch, result, time.perf_counter() - started)


@dataclass(frozen=True)
class BudgetUse:
    """What the search saw of a budget its architecture left unused.

    ``last_value``: the constrained resource's expected value at the search's last iterate (for BCSFW the
    relaxed point, before projection); ``loss``: w*'s validation loss of the found architecture, the
    search's own signal in the gradient actors' mode; ``filled``: the largest uniform architecture within
    the same bounds (``None`` when none fits), ``filled_value`` its resource value and ``filled_loss`` its
    loss on the same images.
    """
    last_value: float
    loss: float
    filled: Architecture | None
    filled_value: float
    filled_loss: float


def budget_use(outcome: SearchOutcome, space: SearchSpace, resource: str, evaluator: SupernetEvaluator,
               images: int) -> BudgetUse:
    """Score ``outcome``'s architecture and the largest uniform one within its request's bounds on the
    same ``images`` validation images (``evaluator``'s seed picks them: one seed for a family compares its
    members), and read ``resource`` at the search's last iterate."""
    log = outcome.result.log
    last = log[-1].resources.get(resource, math.nan) if log else math.nan
    try:
        uniform = run_strategy("uniform", list(outcome.request.constraints), evaluator, None,
                               np.random.default_rng(0))
    except InfeasibleConstraintError:
        uniform = None
    filled = None if uniform is None else Architecture.from_one_hot(space, uniform.alpha, uniform.beta)
    archs = [outcome.arch] if filled is None else [outcome.arch, filled]
    alphas, betas = (np.stack(v) for v in zip(*(a.to_one_hot() for a in archs)))
    loss, _ = evaluator.score(alphas, betas, images)
    if filled is None:
        return BudgetUse(float(last), float(loss[0]), None, math.nan, math.nan)
    return BudgetUse(float(last), float(loss[0]), filled, float(uniform.values[resource]), float(loss[1]))


def _search_task(request: SearchRequest, space: SearchSpace, pool, board, every: int) -> SearchOutcome:
    def on_step(record: StepRecord) -> None:
        done = record.step + 1
        if done % every == 0 or done == request.steps:
            board.set.remote(request.key, done)

    return run_search(request, space, pool.compute, on_step, score=pool.score)


def start_search(request: SearchRequest, space: SearchSpace, pool, board, num_cpus: float = 0.0,
                 report_every: int = 10):
    """:func:`run_search` as a Ray task on ``pool`` (a :class:`GradientPool`), reporting to ``board``
    (a :class:`~workers.monitoring.ProgressBoard` actor); resolves to a :class:`SearchOutcome`."""
    import ray

    task = ray.remote(_search_task).options(num_cpus=num_cpus, max_retries=0, name=f"search[{request.key}]")
    return task.remote(request, space, pool, board, report_every)
