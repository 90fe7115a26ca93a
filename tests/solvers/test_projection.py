import collections

import numpy as np
import pytest

from solvers.constraints import ConstraintSet, InfeasibleConstraintError
from solvers.projection import argmax_projection, is_one_hot, project
from solvers.resources import Constraint, ResourceModel

from .instances import all_architectures, feasible_mask, random_distribution, random_resource, random_shape


def _relaxed_and_feasible(rng, num):
    """A random relaxed point and constraints it satisfies, often with equality."""
    shape, min_depth = random_shape(rng)
    resources = [random_resource(rng, shape, min_depth, f"r{i}") for i in range(num)]
    alpha = random_distribution(rng, shape)
    beta = random_distribution(rng, resources[0].beta_shape)
    bounds = [r.evaluate(alpha, beta) + rng.choice([0.0, 0.01, 0.1]) * (r.largest() - r.least())
              for r in resources]
    return ConstraintSet([Constraint(r, b) for r, b in zip(resources, bounds)]), alpha, beta


@pytest.mark.parametrize("num", [1, 2, 3])
def test_the_projection_is_one_hot_and_feasible(num):
    rng = np.random.default_rng(num)
    methods = collections.Counter()
    for _ in range((250, 150, 100)[num - 1]):
        cs, alpha_star, beta_star = _relaxed_and_feasible(rng, num)
        try:
            p = project(cs, alpha_star, beta_star)
        except InfeasibleConstraintError:
            # Only possible with several constraints: a feasible relaxed point, no architecture.
            assert num > 1
            methods["infeasible"] += 1
            continue
        assert is_one_hot(p.alpha) and is_one_hot(p.beta)
        assert all(c.slack(p.alpha, p.beta) >= 0 for c in cs.constraints)
        methods[p.method] += 1
    assert methods["exact"] > 40 and methods["lp"] == methods["feasible"] == 0   # the MIP always solved
    if num == 1:
        assert methods["infeasible"] == 0


def test_without_a_binding_constraint_it_is_argmax():
    rng = np.random.default_rng(4)
    for _ in range(500):
        shape, min_depth = random_shape(rng)
        resources = [random_resource(rng, shape, min_depth, f"r{i}") for i in range(rng.integers(1, 4))]
        cs = ConstraintSet([Constraint(r, r.largest()) for r in resources])
        alpha_star = rng.dirichlet(np.ones(shape[2]), size=shape[:2])
        beta_star = rng.dirichlet(np.ones(resources[0].beta_shape[1]), size=shape[0])
        p = project(cs, alpha_star, beta_star)
        expected = argmax_projection(alpha_star, beta_star)
        assert p.method == "argmax"
        np.testing.assert_array_equal(p.alpha, expected[0])
        np.testing.assert_array_equal(p.beta, expected[1])


def test_argmax_breaks_a_binding_constraint_where_the_projection_does_not():
    """Table 2 in small: a relaxed point on the boundary; argmax of it often lies outside."""
    rng = np.random.default_rng(5)
    argmax_violations = 0
    for _ in range(150):
        r = ResourceModel("latency", rng.uniform(1, 5, size=(3, 4, 6)), 2.0, 2)
        alpha_star = rng.dirichlet(np.ones(6), size=(3, 4))
        beta_star = rng.dirichlet(np.ones(3), size=3)
        cs = ConstraintSet([Constraint(r, r.evaluate(alpha_star, beta_star))])
        argmax_violations += not cs.satisfied(*argmax_projection(alpha_star, beta_star))
        p = project(cs, alpha_star, beta_star)
        assert cs.satisfied(p.alpha, p.beta) and is_one_hot(p.alpha) and is_one_hot(p.beta)
    assert argmax_violations > 25


@pytest.mark.parametrize("num", [1, 2, 3])
def test_an_infeasible_relaxed_point_is_projected_when_an_architecture_exists(num):
    """Soft-penalty results may violate the bound; checked against enumeration of a tiny space."""
    rng = np.random.default_rng(10 + num)
    for _ in range(40):
        shape, min_depth = (2, 3, 2), int(rng.integers(1, 4))
        resources = [random_resource(rng, shape, min_depth, f"r{i}") for i in range(num)]
        cs = ConstraintSet([Constraint(r, r.least() + rng.uniform(0, 0.5) * (r.largest() - r.least()))
                            for r in resources])
        alpha_star, beta_star = random_distribution(rng, shape), random_distribution(rng, cs.beta_shape)
        exists = feasible_mask(cs, *all_architectures(shape, min_depth)).any()
        if not exists:
            with pytest.raises(InfeasibleConstraintError):
                project(cs, alpha_star, beta_star)
            continue
        p = project(cs, alpha_star, beta_star)
        assert cs.satisfied(p.alpha, p.beta) and is_one_hot(p.alpha) and is_one_hot(p.beta)


def test_the_exact_fallback_when_no_rounding_keeps_both_constraints():
    """One block, two configs, costs in opposite directions: the LP vertex mixes the two configs,
    no config keeps both bounds at the mixture's level, a third config does."""
    costs = np.array([[[0.0, 2.0, 0.9]]])
    up = ResourceModel("up", costs, 0.0, 1)
    down = ResourceModel("down", np.array([[[2.0, 0.0, 0.9]]]), 0.0, 1)
    cs = ConstraintSet([Constraint(up, 1.0), Constraint(down, 1.0)])
    alpha_star = np.array([[[0.5, 0.5, 0.0]]])
    p = project(cs, alpha_star, np.ones((1, 1)))
    np.testing.assert_array_equal(p.alpha, [[[0.0, 0.0, 1.0]]])
    assert cs.satisfied(p.alpha, p.beta)


def test_shapes_are_checked():
    r = ResourceModel("r", np.ones((1, 2, 2)), 0.0, 1)
    with pytest.raises(ValueError, match="shapes"):
        project([Constraint(r, 5.0)], np.ones((1, 2, 3)) / 3, np.ones((1, 2)) / 2)
