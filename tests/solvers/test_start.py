import numpy as np
import pytest

from solvers.constraints import ConstraintSet, InfeasibleConstraintError
from solvers.discrete import best_architecture
from solvers.projection import is_one_hot
from solvers.resources import Constraint, ResourceModel
from solvers.start import balanced_start, feasible_architecture

from .instances import all_architectures, feasible_constraints, feasible_mask, random_resource, random_shape


def test_a_bound_below_the_least_value_raises_with_that_value():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        shape, min_depth = random_shape(rng)
        r = random_resource(rng, shape, min_depth, "latency")
        least, span = r.least(), r.largest() - r.least()
        with pytest.raises(InfeasibleConstraintError, match="below the least reachable value") as err:
            feasible_architecture(ConstraintSet([Constraint(r, least - span * rng.uniform(1e-6, 1))]))
        assert err.value.least == {"latency": pytest.approx(least, rel=1e-12, abs=1e-9)}
        assert f"{least:.6g}" in str(err.value)
        assert isinstance(err.value, ValueError)


def test_a_bound_at_the_least_value_is_feasible():
    rng = np.random.default_rng(1)
    for _ in range(300):
        shape, min_depth = random_shape(rng)
        r = random_resource(rng, shape, min_depth)
        cs = ConstraintSet([Constraint(r, r.evaluate(*r.least_architecture()))])
        alpha, beta = feasible_architecture(cs)
        assert is_one_hot(alpha) and is_one_hot(beta) and cs.satisfied(alpha, beta)


def _tiny_instance(rng, num):
    shape, min_depth = (2, 3, 2), int(rng.integers(1, 4))
    resources = [random_resource(rng, shape, min_depth, f"r{i}") for i in range(num)]
    bounds = [r.least() + rng.uniform(0, 0.6) * (r.largest() - r.least()) for r in resources]
    return ConstraintSet([Constraint(r, b) for r, b in zip(resources, bounds)]), shape, min_depth


@pytest.mark.parametrize("num", [2, 3])
def test_joint_feasibility_is_decided_exactly(num):
    """Against enumeration of every architecture of a tiny space: an error exactly when none fits."""
    rng = np.random.default_rng(num)
    outcomes = set()
    for _ in range(100):
        cs, shape, min_depth = _tiny_instance(rng, num)
        exists = feasible_mask(cs, *all_architectures(shape, min_depth)).any()
        try:
            alpha, beta = feasible_architecture(cs)
        except InfeasibleConstraintError as err:
            assert not exists
            assert "least reachable" in str(err) and set(err.least) == set(cs.names)
            outcomes.add("infeasible")
        else:
            assert exists and is_one_hot(alpha) and is_one_hot(beta) and cs.satisfied(alpha, beta)
            outcomes.add("feasible")
    assert outcomes == {"feasible", "infeasible"}


def test_opposing_constraints_have_no_common_architecture():
    costs = np.array([[[0.0, 1.0]]])          # one block, two configs
    up, down = ResourceModel("up", costs, 0.0, 1), ResourceModel("down", -costs, 0.0, 1)
    cs = ConstraintSet([Constraint(up, 0.5), Constraint(down, -0.5)])
    # The relaxation has a feasible point (both configs at 1/2); no architecture has.
    assert cs.satisfied(np.full((1, 1, 2), 0.5), np.ones((1, 1)))
    with pytest.raises(InfeasibleConstraintError, match="together"):
        feasible_architecture(cs)


def test_the_mip_finds_the_architecture_of_most_credit():
    rng = np.random.default_rng(7)
    for _ in range(100):
        cs, shape, min_depth = _tiny_instance(rng, int(rng.integers(1, 4)))
        alpha_credit, beta_credit = rng.normal(size=cs.alpha_shape), rng.normal(size=cs.beta_shape)
        alphas, betas = all_architectures(shape, min_depth)
        feasible = feasible_mask(cs, alphas, betas)
        found = best_architecture(cs, alpha_credit, beta_credit)
        if not feasible.any():
            assert found is None
            continue
        credits = (np.einsum("nsdc,sdc->n", alphas, alpha_credit)
                   + np.einsum("nsk,sk->n", betas, beta_credit))
        best = credits[feasible].max()
        alpha, beta = found
        assert cs.satisfied(alpha, beta) and is_one_hot(alpha) and is_one_hot(beta)
        assert (alpha * alpha_credit).sum() + (beta * beta_credit).sum() == pytest.approx(best)


@pytest.mark.parametrize("num", [1, 2, 3])
def test_the_balanced_start_is_feasible(num):
    rng = np.random.default_rng(10 + num)
    for _ in range(100):
        shape, min_depth = random_shape(rng)
        cs = feasible_constraints(rng, num, shape, min_depth)
        alpha, beta = balanced_start(cs)
        assert cs.satisfied(alpha, beta)
        np.testing.assert_allclose(alpha.sum(-1), 1.0)
        np.testing.assert_allclose(beta.sum(-1), 1.0)
        assert alpha.min() >= 0 and beta.min() >= 0


def test_without_a_binding_constraint_the_start_is_uniform():
    rng = np.random.default_rng(3)
    r = random_resource(rng, (3, 4, 5), 2)
    alpha, beta = balanced_start(ConstraintSet([Constraint(r, r.largest())]))
    np.testing.assert_allclose(alpha, 1 / 5, atol=1e-6)
    np.testing.assert_allclose(beta, 1 / 3, atol=1e-6)


def test_a_tight_bound_still_gives_a_start_and_it_is_more_balanced_than_the_anchor():
    rng = np.random.default_rng(4)
    r = random_resource(rng, (3, 4, 5), 2)
    cs = ConstraintSet([Constraint(r, r.least() + 0.2 * (r.largest() - r.least()))])
    anchor = feasible_architecture(cs)
    alpha, beta = balanced_start(cs, anchor)
    assert cs.satisfied(alpha, beta)
    assert (alpha ** 2).sum() + (beta ** 2).sum() < (anchor[0] ** 2).sum() + (anchor[1] ** 2).sum()


def test_an_infeasible_anchor_is_refused():
    r = ResourceModel("r", np.ones((1, 2, 2)), 0.0, 1)
    cs = ConstraintSet([Constraint(r, 1.0)])
    with pytest.raises(ValueError, match="anchor"):
        balanced_start(cs, (np.full((1, 2, 2), 0.5), np.array([[0.0, 1.0]])))
