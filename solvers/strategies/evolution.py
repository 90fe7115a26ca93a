"""Evolution as OFA's ``EvolutionFinder`` does it, on scores of the frozen supernet.

The population starts from architectures drawn uniformly from the feasible set (never repaired); each
generation keeps the best ``parent_ratio`` as parents and adds ``population_size`` children to them:
mutants (``mutation_ratio`` of them; every gene resampled with probability ``mutate_prob``) and
crossovers (every gene from either parent), as OFA's loop does. Offspring that break a constraint
are rejected and drawn again, as OFA does; after ``MAX_TRIES`` rejections the child is a fresh
uniform feasible draw (OFA would loop for ever).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constraints import ConstraintSet
from ..feasible_sampling import Genome
from ..search import SearchResult
from . import register_strategy
from .base import Budget
from .discrete_base import ScoredPool
from .options import StrategyOptions, check_scalar

__all__ = ["EvolutionOptions", "run_evolution", "mutate", "crossover", "MAX_TRIES"]

MAX_TRIES = 100


@dataclass(frozen=True)
class EvolutionOptions(StrategyOptions):
    """OFA's settings (``population_size``, ``parent_ratio``, ``mutation_ratio``, ``mutate_prob``, and
    ``generations`` for its ``max_time_budget``); every architecture is scored on ``eval_images`` images."""
    population_size: int = 16
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    mutate_prob: float = 0.1
    generations: int = 3
    eval_images: int = 50

    def validate(self) -> None:
        check_scalar(self.population_size, "population_size", int, min_val=2)
        check_scalar(self.parent_ratio, "parent_ratio", float, min_val=0.0, max_val=1.0, include_boundaries="right")
        check_scalar(self.mutation_ratio, "mutation_ratio", float, min_val=0.0, max_val=1.0)
        check_scalar(self.mutate_prob, "mutate_prob", float, min_val=0.0, max_val=1.0)
        check_scalar(self.generations, "generations", int, min_val=0)
        check_scalar(self.eval_images, "eval_images", int, min_val=1)

    @property
    def parents(self) -> int:
        return max(1, round(self.parent_ratio * self.population_size))

    @property
    def progress_steps(self) -> int:
        return self.generations + 1

    def budget_images(self) -> int:
        return self.population_size * (self.generations + 1) * self.eval_images


def mutate(genome: Genome, prob: float, num_configs: int, num_depths: int, rng: np.random.Generator) -> Genome:
    """Every block config and every stage depth resampled uniformly with probability ``prob`` (OFA)."""
    configs, depth_index = (x.copy() for x in genome)
    hit = rng.random(configs.shape) < prob
    configs[hit] = rng.integers(num_configs, size=int(hit.sum()))
    hit = rng.random(depth_index.shape) < prob
    depth_index[hit] = rng.integers(num_depths, size=int(hit.sum()))
    return configs, depth_index


def crossover(a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
    """Every gene from either parent with probability 1/2 (OFA)."""
    configs = np.where(rng.random(a[0].shape) < 0.5, a[0], b[0])
    depth_index = np.where(rng.random(a[1].shape) < 0.5, a[1], b[1])
    return configs, depth_index


@register_strategy("evolution", EvolutionOptions, "scores")
def run_evolution(cs: ConstraintSet, budget: Budget, options: EvolutionOptions, rng: np.random.Generator, *,
                  anchor=None, on_step=None, limits=None) -> SearchResult:
    """OFA's evolution finder: feasible population, mutation and crossover, infeasible offspring rejected."""
    pool = ScoredPool(cs, budget, options.eval_images)
    population = pool.sample(options.population_size, rng)
    losses = pool.losses(population)
    log = [pool.record(0, "evolution")]
    if on_step is not None:
        on_step(log[-1])
    n_parents = min(options.parents, options.population_size)
    n_mutants = round(options.mutation_ratio * options.population_size)
    for generation in range(1, options.generations + 1):
        parents = [population[i] for i in np.argsort(losses, kind="stable")[:n_parents]]
        children = [_feasible_child(pool, parents, j < n_mutants, options.mutate_prob, rng)
                    for j in range(options.population_size)]
        population = parents + children
        losses = pool.losses(population)
        log.append(pool.record(generation, "evolution"))
        if on_step is not None:
            on_step(log[-1])
    return pool.result("evolution", log)


def _feasible_child(pool: ScoredPool, parents: list[Genome], mutant: bool, prob: float,
                    rng: np.random.Generator) -> Genome:
    """OFA's loop: draw a mutant (or a crossover) of random parents until one satisfies every constraint
    (no repair); after ``MAX_TRIES`` a fresh uniform feasible draw."""
    for _ in range(MAX_TRIES):
        if mutant:
            genome = mutate(parents[rng.integers(len(parents))], prob, pool.num_configs, pool.num_depths, rng)
        else:
            genome = crossover(parents[rng.integers(len(parents))], parents[rng.integers(len(parents))], rng)
        if pool.sampler.feasible(genome):
            return genome
    return pool.sample(1, rng)[0]
