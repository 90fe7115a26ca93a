"""Random solver instances for the property tests: small spaces, costs of any sign (non-PSD Theta)."""
from __future__ import annotations

import itertools

import numpy as np

from solvers.constraints import ConstraintSet
from solvers.resources import Constraint, ResourceModel


def random_shape(rng: np.random.Generator, max_stages: int = 3, max_depth: int = 4,
                 max_configs: int = 4) -> tuple[tuple[int, int, int], int]:
    stages, depth = int(rng.integers(1, max_stages + 1)), int(rng.integers(1, max_depth + 1))
    return (stages, depth, int(rng.integers(2, max_configs + 1))), int(rng.integers(1, depth + 1))


def random_resource(rng: np.random.Generator, shape: tuple[int, int, int], min_depth: int,
                    name: str = "r") -> ResourceModel:
    """Costs of either sign, not monotone in anything, sometimes on a large scale (like MACs)."""
    scale = 10.0 ** rng.integers(-2, 9)
    costs = rng.normal(loc=rng.uniform(-0.5, 1.0), size=shape) * scale
    return ResourceModel(name, costs, float(rng.normal() * scale), min_depth)


def random_distribution(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A point of the product of simplices; some groups sparse, some one-hot."""
    x = rng.dirichlet(np.full(shape[-1], rng.choice([0.2, 1.0, 5.0])), size=shape[:-1])
    x[rng.random(shape[:-1]) < 0.2] = 0.0
    empty = x.sum(-1) == 0
    x[empty] = np.eye(shape[-1])[rng.integers(shape[-1], size=int(empty.sum()))]
    return x


def random_architecture(rng: np.random.Generator, shape: tuple[int, int, int], min_depth: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    s, d, c = shape
    return np.eye(c)[rng.integers(c, size=(s, d))], np.eye(d - min_depth + 1)[
        rng.integers(d - min_depth + 1, size=s)]


def feasible_constraints(rng: np.random.Generator, num: int, shape: tuple[int, int, int],
                         min_depth: int, headroom: float | None = None) -> ConstraintSet:
    """``num`` random resources, bounds at a random architecture's values plus a random headroom
    (often zero: the bound is then met with equality), so that the set is jointly feasible."""
    resources = [random_resource(rng, shape, min_depth, f"r{i}") for i in range(num)]
    alpha, beta = random_architecture(rng, shape, min_depth)
    constraints = []
    for r in resources:
        room = rng.choice([0.0, 0.01, 0.1, 0.5]) if headroom is None else headroom
        constraints.append(Constraint(r, r.evaluate(alpha, beta) + room * (r.largest() - r.least())))
    return ConstraintSet(constraints)


def all_architectures(shape: tuple[int, int, int], min_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Every one-hot ``(alpha, beta)`` of a tiny space, stacked: ``(N, S, D, C)`` and ``(N, S, K)``."""
    s, d, c = shape
    k = d - min_depth + 1
    pairs = list(itertools.product(itertools.product(range(c), repeat=s * d),
                                   itertools.product(range(k), repeat=s)))
    alphas = np.eye(c)[np.array([configs for configs, _ in pairs]).reshape(-1, s, d)]
    betas = np.eye(k)[np.array([depths for _, depths in pairs])]
    return alphas, betas


def feasible_mask(cs: ConstraintSet, alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Which stacked architectures satisfy every constraint (formula (3) written out per block)."""
    ok = np.ones(len(alphas), dtype=bool)
    for c in cs.constraints:
        r = c.resource
        present = np.einsum("dk,nsk->nsd", r.presence, betas)
        values = np.einsum("sdc,nsdc,nsd->n", r.block_costs, alphas, present) + r.constant
        ok &= values <= c.bound
    return ok


# --- dyadic instances: every sum exact, so "on the bound" means the same in any summation order -------
NEAR = 2.0 ** -30      # a near-tie: about 1e-9, inside HiGHS's tolerance, yet exactly representable


def dyadic_resource(rng: np.random.Generator, shape: tuple[int, int, int], min_depth: int,
                    name: str) -> ResourceModel:
    """Quarter-unit integer costs (many exact ties) times a power of two (MACs-like scales), some
    entries moved by ``NEAR`` so that architectures sit within 1e-9 of each other."""
    costs = rng.integers(-8, 21, size=shape) / 4.0
    costs += NEAR * rng.choice([-1.0, 0.0, 0.0, 1.0], size=shape)
    scale = 2.0 ** int(rng.integers(-8, 21))
    return ResourceModel(name, costs * scale, float(rng.integers(-10, 11)) * scale, min_depth)


def indicator_resource(rng: np.random.Generator, shape: tuple[int, int, int], min_depth: int,
                       name: str) -> ResourceModel:
    """0/1 costs, the removed options (a per-block maximum: a bound of exactly 0 forbids them)."""
    removed = rng.random(shape) < rng.uniform(0.1, 0.6)
    removed[..., int(rng.integers(shape[2]))] &= rng.random(shape[:2]) < 0.1   # sometimes a block has none
    return ResourceModel(name, removed.astype(np.float64), 0.0, min_depth)


def dyadic_constraints(rng: np.random.Generator, shape: tuple[int, int, int], min_depth: int, num: int,
                       indicator: bool) -> ConstraintSet:
    """``num`` dyadic constraints (plus an indicator row with bound 0 if asked), each bound placed
    exactly on a random architecture's value, one ``NEAR`` off it, or anywhere in (or below) the range."""
    alphas, betas = random_architecture(rng, shape, min_depth)
    constraints = []
    for i in range(num):
        r = dyadic_resource(rng, shape, min_depth, f"r{i}")
        on = r.evaluate(alphas, betas)
        kind = rng.choice(["on", "near", "range"], p=[0.5, 0.25, 0.25])
        if kind == "on":
            bound = on
        elif kind == "near":
            unit = 2.0 ** np.floor(np.log2(np.abs(r.block_costs).max()))     # a power of two: exact
            bound = on + NEAR * unit * rng.choice([-1.0, 1.0])
        else:
            bound = r.least() + rng.uniform(-0.1, 0.7) * (r.largest() - r.least())
        constraints.append(Constraint(r, bound))
    if indicator:
        constraints.append(Constraint(indicator_resource(rng, shape, min_depth, "removed"), 0.0))
    return ConstraintSet(constraints)


def exact_values(cs: ConstraintSet, alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """``(N, m)`` values of every stacked architecture, summed block by block (exact on dyadic costs)."""
    values = []
    for c in cs.constraints:
        r = c.resource
        present = np.einsum("dk,nsk->nsd", r.presence, betas)
        values.append(np.einsum("sdc,nsdc,nsd->n", r.block_costs, alphas, present) + r.constant)
    return np.stack(values, axis=1)
