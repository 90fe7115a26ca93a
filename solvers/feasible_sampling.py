"""Architectures drawn uniformly from the feasible set of formula-(3) constraints, never repaired.

An architecture is a genome: ``configs[s, b]`` (a config per block slot) and ``depth_index[s]``
(``depth = min_depth + depth_index``); distinct architectures differ in a depth or in the config of a
*present* block. Configs of absent blocks are hidden genes (they matter once a mutation deepens the
stage, as in OFA's finder) and are drawn uniformly; they never affect a resource.

How uniform (the exact statement). :class:`FeasibleSampler` draws *distinct* feasible architectures
with equal probability, up to the float64 rounding of the counts below (relative 1e-16):

1. Every resource is a sum of per-block costs plus a per-(stage, depth) offset. Rounding each term
   *down* to a grid of step ``h`` gives integers whose sum never exceeds the true value, so
   ``{sum of rounded terms <= floor((bound - constant) / h)}`` is a *superset* of the feasible set.
2. Dynamic programming counts that superset exactly (polynomial products over the integers) and draws
   from it uniformly, stage by stage and block by block.
3. Each draw is checked exactly against every constraint (:meth:`ConstraintSet.satisfied`) and
   rejected if it breaks one: rejection from a uniform superset is uniform on the set.

The superset exceeds the set only by architectures within ``(terms) * h`` of a bound, so acceptance is
high unless the bound sits within a few grid steps of the least value; then the grid is refined
(``GRIDS``). With several constraints the DP uses the one whose superset is smallest. Fallback, the
only place uniformity is not exact: if even the finest grid accepts fewer than 1 draw in
``MAX_REJECTIONS``, a Metropolis chain over single genes (symmetric proposals, acceptance
``min(1, C^(added blocks))`` so that its stationary law is uniform over distinct architectures) runs from
an exactly feasible architecture of the MIP. Its draws are correlated and uniform only in the limit,
and only if single-gene moves connect the feasible set; a warning is logged when it is used.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from .constraints import ConstraintSet
from .limits import SolverLimits
from .resources import Constraint
from .start import feasible_architecture

__all__ = ["Genome", "FeasibleSampler", "one_hot", "genome_key"]

logger = logging.getLogger(__name__)

# Grid steps per resource range, tried in turn while acceptance is too low (the DP costs ~ grid^2 / S).
GRIDS = (2048, 16384)
# Fewer accepted draws than 1 in this many proposals means: refine the grid, then fall back to MCMC.
MAX_REJECTIONS = 200
# Metropolis steps between two draws of the fallback chain (per gene of the genome).
THINNING = 2

Genome = tuple[np.ndarray, np.ndarray]       # configs (S, D) int, depth_index (S,) int


def one_hot(genome: Genome, num_configs: int, num_depths: int) -> tuple[np.ndarray, np.ndarray]:
    """The solver's ``(alpha, beta)`` of a genome."""
    configs, depth_index = genome
    return np.eye(num_configs)[configs], np.eye(num_depths)[depth_index]


def genome_key(genome: Genome, min_depth: int) -> tuple:
    """Identity of the distinct architecture (hidden genes dropped): a dict key for score caches."""
    configs, depth_index = genome
    return tuple((int(k), *configs[s, :min_depth + int(k)].tolist()) for s, k in enumerate(depth_index))


class _GridCounter:
    """Exact counts of the rounded superset of one constraint, and uniform draws from it."""

    def __init__(self, constraint: Constraint, grid: int):
        r = constraint.resource
        costs = r.block_costs
        s_n, d_n, _ = costs.shape
        spread = r.largest() - r.least()
        self.h = spread / grid if spread > 0 else 1.0
        low = costs.min(axis=2)                                            # (S, D) per-block offsets
        # Per block: how many configs have each rounded extra cost above the block's offset.
        self.block_values = np.floor((costs - low[:, :, None]) / self.h).astype(np.int64)
        self.block_polys = [[np.bincount(self.block_values[s, b]).astype(np.float64) for b in range(d_n)]
                            for s in range(s_n)]
        depths = range(r.min_depth, d_n + 1)
        # Per (stage, depth): the rounded offset sum and the product of its blocks' polynomials.
        self.shift = np.array([[math.floor(low[s, :d].sum() / self.h) for d in depths] for s in range(s_n)])
        self.depth_polys = [[_product(self.block_polys[s][:d]) for d in depths] for s in range(s_n)]
        # tails[s][b]: product of the polynomials of blocks b.. (a depth d uses tails up to d, trimmed).
        self.tails = [[[_product(self.block_polys[s][b:d]) for b in range(d + 1)] for d in depths]
                      for s in range(s_n)]
        self.base = self.shift.min(axis=1)                                 # stage polynomials start here
        self.stage_polys = []
        for s in range(s_n):
            size = max(int(self.shift[s, k] - self.base[s]) + len(p) for k, p in enumerate(self.depth_polys[s]))
            poly = np.zeros(size)
            for k, p in enumerate(self.depth_polys[s]):
                start = int(self.shift[s, k] - self.base[s])
                poly[start:start + len(p)] += p
            self.stage_polys.append(poly)
        # Cumulative counts of the stages after s: suffix[s][x] = #(stages s.. with rounded sum <= x).
        self.suffix_cum: list[np.ndarray] = [np.ones(1)] * (s_n + 1)
        poly = np.ones(1)
        for s in range(s_n - 1, -1, -1):
            poly = np.convolve(self.stage_polys[s], poly)
            self.suffix_cum[s] = np.cumsum(poly)
        self.capacity = math.floor((constraint.bound - r.constant) / self.h) - int(self.base.sum())
        self.min_depth = r.min_depth

    def count(self) -> float:
        """Architectures in the superset (float64)."""
        if self.capacity < 0:
            return 0.0
        cum = self.suffix_cum[0]
        return float(cum[min(self.capacity, len(cum) - 1)])

    def draw(self, rng: np.random.Generator, num_configs: int) -> Genome:
        s_n, d_n = self.block_values.shape[:2]
        configs = rng.integers(num_configs, size=(s_n, d_n))               # hidden genes: uniform
        depth_index = np.zeros(s_n, dtype=np.int64)
        room = self.capacity
        for s in range(s_n):
            poly, rest = self.stage_polys[s], self.suffix_cum[s + 1]
            v = np.arange(min(len(poly), room + 1))
            weights = poly[v] * rest[np.minimum(room - v, len(rest) - 1)]
            value = int(rng.choice(v, p=weights / weights.sum()))
            room -= value
            self._draw_stage(s, value, rng, configs, depth_index)
        return configs, depth_index

    def _draw_stage(self, s: int, value: int, rng: np.random.Generator, configs: np.ndarray,
                    depth_index: np.ndarray) -> None:
        """Depth, then block configs, with the stage's rounded value exactly ``value``."""
        weights = np.array([p[value - off] if 0 <= value - off < len(p) else 0.0
                            for p, off in zip(self.depth_polys[s], self.shift[s] - self.base[s])])
        k = int(rng.choice(len(weights), p=weights / weights.sum()))
        depth_index[s] = k
        target = int(value - (self.shift[s, k] - self.base[s]))
        polys = self.block_polys[s][:self.min_depth + k]
        for b, p in enumerate(polys):
            rest = self.tails[s][k][b + 1]
            u = np.arange(min(len(p), target + 1))
            inside = target - u < len(rest)
            w = np.where(inside, p[u] * rest[np.minimum(target - u, len(rest) - 1)], 0.0)
            chosen = int(rng.choice(u, p=w / w.sum()))
            configs[s, b] = rng.choice(np.flatnonzero(self.block_values[s, b] == chosen))
            target -= chosen


def _product(polys: list[np.ndarray]) -> np.ndarray:
    out = np.ones(1)
    for p in polys:
        out = np.convolve(out, p)
    return out


class FeasibleSampler:
    """Uniform draws of distinct architectures satisfying every constraint (see the module docstring
    for exactly how uniform). ``limits``: of the MIP that anchors the fallback chain."""

    def __init__(self, constraints: ConstraintSet, limits: SolverLimits | None = None):
        self.cs = constraints
        s_n, d_n, self.num_configs = constraints.alpha_shape
        self.num_depths = constraints.beta_shape[1]
        self.min_depth = d_n - self.num_depths + 1
        self.limits = limits
        self.proposals = self.accepted = 0
        self._grid_index = 0
        self._counter = self._best_counter(GRIDS[0])
        self._chain: Genome | None = None

    def _best_counter(self, grid: int) -> _GridCounter:
        counters = [_GridCounter(c, grid) for c in self.cs.constraints]
        return min(counters, key=lambda counter: counter.count())

    def feasible(self, genome: Genome) -> bool:
        return self.cs.satisfied(*one_hot(genome, self.num_configs, self.num_depths))

    def draw(self, rng: np.random.Generator) -> Genome:
        """One feasible genome."""
        while self._chain is None:
            for _ in range(MAX_REJECTIONS):
                self.proposals += 1
                genome = self._counter.draw(rng, self.num_configs)
                if self.feasible(genome):
                    self.accepted += 1
                    return genome
            self._refine()
        return self._metropolis(rng)

    def draws(self, n: int, rng: np.random.Generator) -> list[Genome]:
        return [self.draw(rng) for _ in range(n)]

    def _refine(self) -> None:
        self._grid_index += 1
        if self._grid_index < len(GRIDS):
            logger.debug("feasible sampling: < 1/%d accepted, refining the grid to %d", MAX_REJECTIONS,
                         GRIDS[self._grid_index])
            self._counter = self._best_counter(GRIDS[self._grid_index])
            return
        logger.warning("the feasible set is under 1/%d of its finest rounded superset (a bound within a few "
                       "grid steps of the least value): falling back to a Metropolis chain, whose draws are "
                       "uniform only in the limit", MAX_REJECTIONS)
        alpha, beta = feasible_architecture(self.cs, limits=self.limits)
        self._chain = (alpha.argmax(axis=2), beta.argmax(axis=1))

    def _metropolis(self, rng: np.random.Generator) -> Genome:
        configs, depth_index = (x.copy() for x in self._chain)
        s_n, d_n = configs.shape
        genes = configs.size + depth_index.size
        for _ in range(THINNING * genes):
            gene = int(rng.integers(genes))
            new_configs, new_depth = configs.copy(), depth_index.copy()
            if gene < configs.size:
                new_configs[np.unravel_index(gene, configs.shape)] = rng.integers(self.num_configs)
                ratio = 1.0
            else:
                s = gene - configs.size
                new_depth[s] = rng.integers(self.num_depths)
                # Target: uniform over distinct architectures, i.e. genome weight C^(present blocks).
                ratio = float(self.num_configs) ** int(new_depth[s] - depth_index[s])
            if (ratio >= 1.0 or rng.random() < ratio) and self.feasible((new_configs, new_depth)):
                configs, depth_index = new_configs, new_depth
        self._chain = (configs, depth_index)
        return configs.copy(), depth_index.copy()
