import numpy as np
import pytest
from scipy.optimize import linprog

from solvers.constraints import ConstraintSet
from solvers.oracle import BlockOracle
from solvers.resources import Constraint, ResourceModel
from solvers.start import balanced_start

from .instances import feasible_constraints, random_shape


def _extra_nonzeros(x: np.ndarray) -> int:
    return int(((x > 0).sum(-1) - 1).sum())


def _linprog_value(cost, rows, rhs, shape):
    groups, options = int(np.prod(shape[:-1])), shape[-1]
    equalities = np.kron(np.eye(groups), np.ones(options))
    return linprog(cost.ravel(), rows, rhs, equalities, np.ones(groups), bounds=(0, 1),
                   method="highs").fun


@pytest.mark.parametrize("num", [1, 2, 3])
def test_vertices_are_feasible_optimal_and_sparse(num):
    """Theorem 3.1: a vertex has at most one non-zero per group beyond one per constraint."""
    rng = np.random.default_rng(num)
    for _ in range(40):
        shape, min_depth = random_shape(rng)
        cs = feasible_constraints(rng, num, shape, min_depth, headroom=rng.uniform(0, 0.3))
        alpha, beta = balanced_start(cs, rounds=1)
        for block, oracle in (("alpha", BlockOracle(cs, "alpha")), ("beta", BlockOracle(cs, "beta"))):
            for _ in range(3):
                cost = rng.normal(size=oracle.shape)
                x = oracle.minimize(cost, alpha, beta)
                if x is None:
                    continue
                point = (x, beta) if block == "alpha" else (alpha, x)
                assert cs.satisfied(*point)
                assert _extra_nonzeros(x) <= num
                rows, rhs = cs.alpha_rows(beta) if block == "alpha" else cs.beta_rows(alpha)
                best = _linprog_value(cost, rows, rhs, oracle.shape)
                scale = np.abs(cost).sum()
                assert (cost * x).sum() == pytest.approx(best, abs=1e-5 * scale)


def _imagenet_sized_alpha_oracle(rng, level):
    """An alpha oracle of the imagenet shape under one latency-like bound, at a balanced start."""
    r = ResourceModel("latency", rng.uniform(1, 5, size=(5, 4, 12)), 3.0, 2)
    cs = ConstraintSet([Constraint(r, r.least() + level * (r.largest() - r.least()))])
    return BlockOracle(cs, "alpha"), balanced_start(cs)


def test_theorem_3_1_one_fractional_block_under_one_constraint():
    rng = np.random.default_rng(0)
    oracle, (alpha, beta) = _imagenet_sized_alpha_oracle(rng, 0.4)
    for _ in range(50):
        x = oracle.minimize(rng.normal(size=oracle.shape), alpha, beta)
        assert ((x > 0).sum(-1) > 1).sum() <= 1 and _extra_nonzeros(x) <= 1


def test_warm_start_reuses_the_basis():
    rng = np.random.default_rng(1)
    oracle, (alpha, beta) = _imagenet_sized_alpha_oracle(rng, 0.3)
    cost = rng.normal(size=oracle.shape)
    first = oracle.minimize(cost, alpha, beta)
    cold = oracle.iterations
    again = oracle.minimize(cost, alpha, beta)
    np.testing.assert_allclose(first, again, atol=1e-12)
    assert cold > 0 and oracle.iterations == 0


def test_a_bound_at_the_least_value_keeps_its_single_point():
    """The margin would empty this set; the row is met exactly by fixing the costlier options to 0."""
    r = ResourceModel("r", np.array([[[1.0, 2.0], [1.0, 3.0]]]), 0.0, 2)
    cs = ConstraintSet([Constraint(r, 2.0)])               # only the cheapest architecture fits
    alpha, beta = np.eye(2)[[[0, 0]]], np.ones((1, 1))
    np.testing.assert_array_equal(BlockOracle(cs, "alpha").minimize(-np.ones((1, 2, 2)), alpha, beta), alpha)
    np.testing.assert_array_equal(BlockOracle(cs, "alpha").balance(alpha, beta), alpha)


def test_a_zero_one_indicator_row_with_bound_zero_keeps_the_allowed_options():
    """A per-block maximum: "no present block may use a removed option" (options 2, 3 removed)."""
    latency = ResourceModel("latency", np.array([[[1.0, 2.0, 3.0, 4.0]] * 3]), 0.0, 3)
    removed = ResourceModel("removed", np.array([[[0.0, 0.0, 1.0, 1.0]] * 3]), 0.0, 3)
    cs = ConstraintSet([Constraint(latency, 5.0), Constraint(removed, 0.0)])
    alpha, beta = np.eye(4)[[[0, 0, 0]]], np.ones((1, 1))
    x = BlockOracle(cs, "alpha").minimize(-np.arange(4.0) * np.ones((1, 3, 4)), alpha, beta)
    assert x is not None and cs.satisfied(x, beta)
    assert (x[..., 2:] == 0).all() and latency.evaluate(x, beta) == pytest.approx(5.0)
    balanced = BlockOracle(cs, "alpha").balance(alpha, beta)
    assert balanced is not None and cs.satisfied(balanced, beta) and (balanced[..., 2:] == 0).all()


def test_balance_is_uniform_when_nothing_binds():
    r = ResourceModel("r", np.arange(24.0).reshape(2, 3, 4), 0.0, 1)
    cs = ConstraintSet([Constraint(r, r.largest())])
    alpha = np.eye(4)[np.zeros((2, 3), int)]
    beta = np.eye(3)[[0, 0]]
    np.testing.assert_allclose(BlockOracle(cs, "alpha").balance(alpha, beta), 0.25, atol=1e-7)
    np.testing.assert_allclose(BlockOracle(cs, "beta").balance(alpha, beta), 1 / 3, atol=1e-7)


def test_cost_shape_is_checked():
    r = ResourceModel("r", np.ones((1, 2, 2)), 0.0, 1)
    with pytest.raises(ValueError, match="shape"):
        BlockOracle(ConstraintSet([Constraint(r, 5.0)]), "alpha").minimize(
            np.ones(3), np.full((1, 2, 2), 0.5), np.ones((1, 2)) / 2)
    with pytest.raises(ValueError, match="block"):
        BlockOracle(ConstraintSet([Constraint(r, 5.0)]), "gamma")
