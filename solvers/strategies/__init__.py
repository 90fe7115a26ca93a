"""Search strategies as plug-ins, found by name (as timm registers models).

A strategy is a function ``run(constraints, budget, options, rng, *, on_step, limits) -> SearchResult``
registered with :func:`register_strategy` together with its frozen options dataclass. It gets the
constraint set and a :class:`Budget` around the :class:`Evaluator` (gradients or scores of discrete
architectures) and returns one architecture with its log; BCSFW, evolution and random search always
return one that satisfies every constraint, the soft penalty flags (``SearchResult.violated``) one
that does not. A new strategy is one module here plus its tests.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..bcsfw import StepRecord
from ..constraints import ConstraintSet, as_constraint_set
from ..limits import SolverLimits
from ..start import feasible_architecture
from .base import Budget, Evaluator, Incumbent
from .options import OptionError, StrategyOptions, check_choice, check_scalar

__all__ = ["Strategy", "register_strategy", "get_strategy", "list_strategies", "run_strategy", "parse_options",
           "Budget", "Evaluator", "Incumbent", "StrategyOptions", "OptionError", "check_scalar", "check_choice",
           "DEFAULT_STRATEGY"]

# The strategy of `search.algorithm` and `--algorithm` when none is named (benchmarks/results/strategies.md).
DEFAULT_STRATEGY = "bcsfw"

StrategyFn = Callable[..., Any]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its name, options class, function, and which signal it uses."""
    name: str
    options: type[StrategyOptions]
    run: StrategyFn
    signal: str          # "gradients" or "scores"
    summary: str


_REGISTRY: dict[str, Strategy] = {}


def register_strategy(name: str, options: type[StrategyOptions], signal: str) -> Callable[[StrategyFn], StrategyFn]:
    """Decorator: register ``fn`` as strategy ``name`` with its options dataclass."""
    if signal not in ("gradients", "scores"):
        raise ValueError(f"signal must be 'gradients' or 'scores', got {signal!r}")

    def wrap(fn: StrategyFn) -> StrategyFn:
        if name in _REGISTRY:
            raise ValueError(f"strategy {name!r} is registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name
        _REGISTRY[name] = Strategy(name, options, fn, signal, summary)
        return fn
    return wrap


def list_strategies() -> list[str]:
    return sorted(_REGISTRY)


def get_strategy(name: str) -> Strategy:
    if name not in _REGISTRY:
        raise OptionError("algorithm", "one of " + ", ".join(list_strategies()), name)
    return _REGISTRY[name]


def parse_options(name: str, raw: Mapping[str, Any] | None = None) -> StrategyOptions:
    """The options of strategy ``name`` from a mapping (defaults for what it leaves out)."""
    return get_strategy(name).options.from_mapping(raw or {})


def run_strategy(name: str, constraints, evaluator: Evaluator, options: StrategyOptions | None,
                 rng: np.random.Generator, *, on_step: Callable[[StepRecord], None] | None = None,
                 limits: SolverLimits | None = None):
    """Run strategy ``name``; raises :class:`solvers.InfeasibleConstraintError` before any evaluation
    when no architecture satisfies the constraints. Returns a :class:`solvers.SearchResult`."""
    strategy = get_strategy(name)
    options = strategy.options() if options is None else options
    if not isinstance(options, strategy.options):
        raise TypeError(f"strategy {name!r} takes {strategy.options.__name__}, got {type(options).__name__}")
    cs: ConstraintSet = as_constraint_set(constraints)
    anchor = feasible_architecture(cs, limits=limits)       # the exact feasibility check, first
    return strategy.run(cs, Budget(evaluator), options, rng, anchor=anchor, on_step=on_step, limits=limits)


# The built-in strategies register themselves on import (timm's models/__init__ does the same).
from . import bcsfw, evolution, random_search, soft_penalty, uniform  # noqa: E402,F401
