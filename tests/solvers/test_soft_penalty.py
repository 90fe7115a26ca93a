import numpy as np
import pytest

from solvers.constraints import ConstraintSet
from solvers.resources import Constraint, ResourceModel
from solvers.soft_penalty import _logit_gradient, soft_penalty_search, softmax


def _latency(rng):
    return ResourceModel("latency", rng.uniform(1, 5, size=(3, 4, 6)), 2.0, 2, "ms")


def test_the_logit_gradient_is_the_chain_rule_through_softmax():
    rng = np.random.default_rng(0)
    logits, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    analytic = _logit_gradient(softmax(logits), g)
    eps = 1e-6
    numeric = np.zeros_like(logits)
    for i in np.ndindex(logits.shape):
        step = np.zeros_like(logits)
        step[i] = eps
        loss_up, loss_down = (g * softmax(logits + step)).sum(), (g * softmax(logits - step)).sum()
        numeric[i] = (loss_up - loss_down) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, atol=1e-8)


def test_the_penalty_alone_pulls_an_infeasible_point_to_the_bound():
    rng = np.random.default_rng(1)
    r = _latency(rng)
    bound = r.least() + 0.3 * (r.largest() - r.least())
    heavy = 3 * r.block_costs / r.block_costs.max(), np.arange(3.0) * np.ones((3, 1))
    zero = lambda a, b: (np.zeros(a.shape), np.zeros(b.shape))   # noqa: E731
    result = soft_penalty_search([Constraint(r, bound)], zero, 300, lr=50.0, penalty=1.0, logits=heavy)
    first, last = result.log[0], result.log[-1]
    assert first.resources["latency"] > bound and first.penalty > 0
    assert last.resources["latency"] < first.resources["latency"]
    assert r.evaluate(result.alpha, result.beta) <= bound * 1.01


def test_the_outcome_depends_on_lambda():
    """Accuracy pressure toward heavy blocks: a small lambda ends far over the bound, a large one
    closer (the soft penalty trades the constraint against the loss; it never enforces it)."""
    rng = np.random.default_rng(2)
    r = _latency(rng)
    cs = ConstraintSet([Constraint(r, r.least() + 0.3 * (r.largest() - r.least()))])
    pull = -r.block_costs / r.block_costs.max(), -np.arange(3.0) * np.ones((3, 1))
    excess = {}
    for penalty in (0.1, 100.0):
        result = soft_penalty_search(cs, lambda a, b: (*pull, 0.0), 300, lr=5.0, penalty=penalty)
        excess[penalty] = -cs.slacks(result.alpha, result.beta)[0]
        assert result.log[-1].objective == pytest.approx(result.log[-1].penalty)
    assert excess[0.1] > 0 and excess[100.0] < excess[0.1]


def test_inputs_are_checked():
    r = ResourceModel("r", np.ones((1, 2, 2)), -5.0, 1)
    zero = lambda a, b: (np.zeros(a.shape), np.zeros(b.shape))   # noqa: E731
    with pytest.raises(ValueError, match="positive bounds"):
        soft_penalty_search([Constraint(r, -1.0)], zero, 1, lr=1.0, penalty=1.0)
    with pytest.raises(ValueError, match="lr > 0"):
        soft_penalty_search([Constraint(r, 1.0)], zero, 1, lr=0.0, penalty=1.0)
