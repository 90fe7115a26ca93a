import itertools

import numpy as np
import pytest

from solvers.resources import Constraint, ResourceModel


def _random_model(rng, stages=2, depth=3, configs=2, min_depth=1):
    return ResourceModel("r", rng.normal(size=(stages, depth, configs)), rng.normal(), min_depth)


def _expectation_by_enumeration(model, alpha, beta):
    s_n, d_n, c_n = model.alpha_shape
    total = 0.0
    for depths in itertools.product(range(model.beta_shape[1]), repeat=s_n):
        for cfg in itertools.product(range(c_n), repeat=s_n * d_n):
            cfg = np.reshape(cfg, (s_n, d_n))
            prob, value = 1.0, model.constant
            for s in range(s_n):
                prob *= beta[s, depths[s]] * np.prod(alpha[s, np.arange(d_n), cfg[s]])
                value += sum(model.block_costs[s, b, cfg[s, b]]
                             for b in range(model.min_depth + depths[s]))
            total += prob * value
    return total


@pytest.mark.parametrize("seed", range(20))
def test_formula_is_the_expectation_over_architectures(seed):
    rng = np.random.default_rng(seed)
    model = _random_model(rng, min_depth=int(rng.integers(1, 3)))
    alpha = rng.dirichlet(np.ones(model.alpha_shape[2]), size=model.alpha_shape[:2])
    beta = rng.dirichlet(np.ones(model.beta_shape[1]), size=model.beta_shape[0])
    expected = _expectation_by_enumeration(model, alpha, beta)
    assert model.evaluate(alpha, beta) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    matrix = alpha.reshape(-1) @ model.p + alpha.reshape(-1) @ model.theta @ beta.reshape(-1)
    assert matrix + model.constant == pytest.approx(expected, rel=1e-12, abs=1e-12)
    b, offset = model.beta_coefficients(alpha)
    assert (b * beta).sum() + offset + model.constant == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_one_hot_is_the_sum_of_present_blocks():
    rng = np.random.default_rng(0)
    model = _random_model(rng, stages=3, depth=4, configs=5, min_depth=2)
    alpha = np.zeros(model.alpha_shape)
    choice = rng.integers(5, size=(3, 4))
    for s in range(3):
        alpha[s, np.arange(4), choice[s]] = 1
    depth_idx = rng.integers(model.beta_shape[1], size=3)
    beta = np.eye(model.beta_shape[1])[depth_idx]
    direct = model.constant + sum(model.block_costs[s, b, choice[s, b]]
                                  for s in range(3) for b in range(2 + depth_idx[s]))
    assert model.evaluate(alpha, beta) == pytest.approx(direct)


def test_reachable_range_is_exact():
    rng = np.random.default_rng(3)
    model = _random_model(rng)
    values = []
    s_n, d_n, c_n = model.alpha_shape
    for depths in itertools.product(range(model.beta_shape[1]), repeat=s_n):
        for cfg in itertools.product(range(c_n), repeat=s_n * d_n):
            alpha = np.eye(c_n)[np.reshape(cfg, (s_n, d_n))]
            values.append(model.evaluate(alpha, np.eye(model.beta_shape[1])[list(depths)]))
    assert model.least() == pytest.approx(min(values))
    assert model.largest() == pytest.approx(max(values))


def test_validation_at_the_boundary():
    with pytest.raises(ValueError, match="non-finite"):
        ResourceModel("r", np.full((1, 2, 2), np.nan), 0.0, 1)
    model = ResourceModel("r", np.ones((1, 2, 2)), 0.0, 1)
    with pytest.raises(ValueError, match="shape"):
        model.evaluate(np.ones((2, 2, 2)), np.ones((1, 2)))
    constraint = Constraint(model, 1.5)
    assert constraint.slack(np.full((1, 2, 2), 0.5), np.array([[1.0, 0.0]])) == pytest.approx(0.5)
