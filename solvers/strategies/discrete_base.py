"""What the strategies over discrete architectures share: a score cache and the result they return."""
from __future__ import annotations

import time

import numpy as np

from ..bcsfw import StepRecord
from ..constraints import ConstraintSet
from ..feasible_sampling import FeasibleSampler, Genome, genome_key, one_hot
from ..search import SearchResult
from .base import Budget

__all__ = ["ScoredPool"]


class ScoredPool:
    """Scores genomes through the budget, each distinct architecture once (a repeat costs no image),
    and keeps the best so far in the budget's trace."""

    def __init__(self, cs: ConstraintSet, budget: Budget, images: int):
        self.cs, self.budget, self.images = cs, budget, images
        self.sampler = FeasibleSampler(cs)
        self.num_configs, self.num_depths = cs.alpha_shape[2], cs.beta_shape[1]
        self.cache: dict[tuple, float] = {}
        self.best: tuple[float, Genome] | None = None
        self.first: Genome | None = None
        self.sampling_seconds = 0.0

    def sample(self, n: int, rng: np.random.Generator) -> list[Genome]:
        tic = time.perf_counter()
        out = self.sampler.draws(n, rng)
        self.sampling_seconds += time.perf_counter() - tic
        return out

    def losses(self, genomes: list[Genome]) -> np.ndarray:
        """Each genome's validation loss (scored in one batch for those not seen before)."""
        keys = [genome_key(g, self.sampler.min_depth) for g in genomes]
        new = {k: g for k, g in zip(keys, genomes) if k not in self.cache}
        if new:
            hots = [one_hot(g, self.num_configs, self.num_depths) for g in new.values()]
            loss, _ = self.budget.score(np.stack([a for a, _ in hots]), np.stack([b for _, b in hots]),
                                        self.images)
            for (key, genome), value in zip(new.items(), loss):
                self.cache[key] = float(value)
                if self.first is None:
                    self.first = genome
                if self.best is None or value < self.best[0]:
                    self.best = (float(value), genome)
                    self.budget.record(*one_hot(genome, self.num_configs, self.num_depths), float(value))
        return np.array([self.cache[k] for k in keys])

    def record(self, step: int, kind: str) -> StepRecord:
        alpha, beta = one_hot(self.best[1], self.num_configs, self.num_depths)
        return StepRecord(step, kind, 0.0, self.cs.as_dict(self.cs.values(alpha, beta)), self.best[0])

    def result(self, name: str, log: list[StepRecord]) -> SearchResult:
        alpha, beta = one_hot(self.best[1], self.num_configs, self.num_depths)
        start = one_hot(self.first, self.num_configs, self.num_depths)
        values = self.cs.values(alpha, beta)
        if (values > self.cs.bounds).any():          # every genome came from the sampler or a checked child
            raise RuntimeError(f"{name} answered an architecture outside the constraints: {values}")
        return SearchResult(alpha=alpha, beta=beta, relaxed_alpha=alpha, relaxed_beta=beta,
                            start_alpha=start[0], start_beta=start[1], values=self.cs.as_dict(values),
                            slack=self.cs.as_dict(self.cs.bounds - values), projection="none", log=log,
                            solver_seconds=self.sampling_seconds, gradient_seconds=self.budget.evaluation_seconds,
                            strategy=name, images=self.budget.images, trace=tuple(self.budget.trace))
