"""Uniform draws from the feasible set: exactly uniform on enumerable spaces, always feasible, tight bounds."""
import numpy as np
import pytest

from solvers import feasible_sampling
from solvers.constraints import ConstraintSet
from solvers.feasible_sampling import FeasibleSampler, genome_key, one_hot
from solvers.resources import Constraint

from .instances import all_architectures, feasible_constraints, feasible_mask, random_resource


def _distinct_feasible(cs: ConstraintSet, shape, min_depth) -> set:
    alphas, betas = all_architectures(shape, min_depth)
    mask = feasible_mask(cs, alphas, betas)
    return {genome_key((a.argmax(-1), b.argmax(-1)), min_depth) for a, b in zip(alphas[mask], betas[mask])}


@pytest.mark.parametrize("seed", range(6))
def test_every_draw_is_feasible_and_the_draws_cover_the_set(seed):
    rng = np.random.default_rng(seed)
    shape, min_depth = (2, 2, 3), 1
    cs = feasible_constraints(rng, int(rng.integers(1, 3)), shape, min_depth)
    sampler = FeasibleSampler(cs)
    keys = set()
    for genome in sampler.draws(300, rng):
        assert cs.satisfied(*one_hot(genome, 3, 2))
        keys.add(genome_key(genome, min_depth))
    feasible = _distinct_feasible(cs, shape, min_depth)
    assert keys <= feasible
    if len(feasible) <= 20:
        assert keys == feasible


def test_draws_are_uniform_over_distinct_architectures():
    # Stage depth 1 or 2 with 3 configs: 3 + 9 architectures per stage; a shallow one must not be
    # 3 times likelier than a deep one (uniform over genomes would make it so).
    rng = np.random.default_rng(0)
    shape, min_depth = (2, 2, 3), 1
    r = random_resource(rng, shape, min_depth)
    cs = ConstraintSet([Constraint(r, r.least() + 0.4 * (r.largest() - r.least()))])
    feasible = _distinct_feasible(cs, shape, min_depth)
    n = 100 * len(feasible)
    counts: dict = {}
    for genome in FeasibleSampler(cs).draws(n, rng):
        key = genome_key(genome, min_depth)
        counts[key] = counts.get(key, 0) + 1
    observed = np.array([counts.get(k, 0) for k in feasible])
    chi2 = ((observed - 100) ** 2 / 100).sum()
    dof = len(feasible) - 1
    assert chi2 < dof + 5 * np.sqrt(2 * dof)          # ~5 sigma of the chi-square


def test_a_bound_on_the_least_value_still_samples_feasibly(monkeypatch):
    # The bound equals the least value: the rounded superset is much larger than the set, so the sampler
    # refines its grid and, with a single coarse grid allowed, falls back to the chain.
    rng = np.random.default_rng(3)
    shape, min_depth = (3, 3, 4), 2
    r = random_resource(rng, shape, min_depth)
    cs = ConstraintSet([Constraint(r, r.least())])
    monkeypatch.setattr(feasible_sampling, "GRIDS", (4,))
    sampler = FeasibleSampler(cs)
    for genome in sampler.draws(20, rng):
        assert cs.satisfied(*one_hot(genome, 4, 2))
