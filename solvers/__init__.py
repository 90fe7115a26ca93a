"""Pure numerics on arrays: formula (3) resource models, HiGHS LPs, BCSFW, projection, baselines."""
from .bcsfw import RelaxedResult, StepRecord, bcsfw, step_size
from .constraints import ConstraintSet, InfeasibleConstraintError, ReachableRange
from .discrete import best_architecture
from .feasible_sampling import FeasibleSampler
from .limits import DEFAULT_LIMITS, SolverError, SolverLimitError, SolverLimits
from .oracle import BlockOracle
from .projection import Projection, argmax_projection, project
from .resources import Constraint, ResourceModel
from .search import SearchResult, search
from .soft_penalty import soft_penalty_search
from .start import balanced_start, feasible_architecture
from .strategies import (
    DEFAULT_STRATEGY,
    Budget,
    Evaluator,
    OptionError,
    StrategyOptions,
    get_strategy,
    list_strategies,
    parse_options,
    run_strategy,
)

__all__ = [
    "Constraint", "ResourceModel", "ConstraintSet", "InfeasibleConstraintError", "ReachableRange",
    "feasible_architecture", "balanced_start", "best_architecture", "BlockOracle",
    "bcsfw", "step_size", "StepRecord", "RelaxedResult", "Projection", "project", "argmax_projection",
    "soft_penalty_search", "search", "SearchResult", "SolverLimits", "DEFAULT_LIMITS", "SolverError",
    "SolverLimitError", "FeasibleSampler", "DEFAULT_STRATEGY", "Budget", "Evaluator", "OptionError",
    "StrategyOptions", "get_strategy", "list_strategies", "parse_options", "run_strategy",
]
