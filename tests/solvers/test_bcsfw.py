import numpy as np
import pytest

from solvers.bcsfw import bcsfw, step_size
from solvers.constraints import ConstraintSet
from solvers.projection import argmax_projection
from solvers.resources import Constraint, ResourceModel
from solvers.start import balanced_start

from .instances import feasible_constraints, random_shape


class RecordingGradient:
    """Noisy gradients of a random linear objective; keeps every point it is asked about."""

    def __init__(self, rng, alpha_shape, beta_shape):
        self.rng, self.points = rng, []
        self.alpha_pref, self.beta_pref = rng.normal(size=alpha_shape), rng.normal(size=beta_shape)

    def __call__(self, alpha, beta):
        self.points.append((alpha.copy(), beta.copy()))
        noise = self.rng.normal(size=alpha.shape), self.rng.normal(size=beta.shape)
        objective = float((self.alpha_pref * alpha).sum() + (self.beta_pref * beta).sum())
        return self.alpha_pref + noise[0], self.beta_pref + noise[1], objective


def _in_simplices(x):
    return x.min() >= 0 and np.allclose(x.sum(-1), 1.0, atol=1e-12)


@pytest.mark.parametrize("num", [1, 2, 3])
def test_every_iterate_satisfies_every_constraint(num):
    rng = np.random.default_rng(num)
    for _ in range(50):
        shape, min_depth = random_shape(rng)
        cs = feasible_constraints(rng, num, shape, min_depth)
        start = balanced_start(cs, rounds=2)
        gradient = RecordingGradient(rng, cs.alpha_shape, cs.beta_shape)
        result = bcsfw(cs, gradient, start, 12, rng, gamma_max=rng.choice([0.05, 0.5, 1.0]),
                       schedule=rng.choice(["constant", "decay"]), momentum=rng.choice([0.0, 0.9]))
        for alpha, beta in gradient.points[1:] + [(result.alpha, result.beta)]:
            assert _in_simplices(alpha) and _in_simplices(beta)
            assert all(c.slack(alpha, beta) >= 0 for c in cs.constraints)
        for record in result.log:
            assert all(record.resources[c.name] <= c.bound for c in cs.constraints)


def test_the_log_has_one_record_per_step_and_reaches_on_step():
    rng = np.random.default_rng(0)
    cs = feasible_constraints(rng, 2, (3, 4, 5), 2, headroom=0.2)
    seen = []
    result = bcsfw(cs, RecordingGradient(rng, cs.alpha_shape, cs.beta_shape), balanced_start(cs),
                   20, rng, block_choice="alternate", on_step=seen.append)
    assert seen == result.log and [r.step for r in result.log] == list(range(20))
    assert [r.block for r in result.log] == ["alpha", "beta"] * 10
    for record in result.log:
        assert set(record.resources) == set(cs.names) and record.objective is not None
        assert record.gap >= -1e-6 and record.solver_ms > 0
        metrics = record.metrics()
        assert {"objective", "fw_gap", "step_size", "resource/r0", "resource/r1"} <= set(metrics)
    assert result.solver_seconds > 0 and result.gradient_seconds > 0


def test_with_nothing_binding_it_converges_to_the_argmin_of_a_fixed_gradient():
    rng = np.random.default_rng(1)
    r = ResourceModel("r", rng.normal(size=(2, 3, 4)), 0.0, 1)
    cs = ConstraintSet([Constraint(r, r.largest())])
    g_alpha, g_beta = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3))
    result = bcsfw(cs, lambda a, b: (g_alpha, g_beta), balanced_start(cs), 200, rng,
                   gamma_max=1.0, schedule="decay")
    alpha, beta = argmax_projection(result.alpha, result.beta)
    np.testing.assert_array_equal(alpha.argmax(-1), g_alpha.argmin(-1))
    np.testing.assert_array_equal(beta.argmax(-1), g_beta.argmin(-1))
    assert result.log[-1].gap < 1e-2 * result.log[0].gap


def test_under_a_binding_constraint_it_ends_on_the_boundary():
    rng = np.random.default_rng(2)
    r = ResourceModel("latency", rng.uniform(1, 5, size=(3, 4, 6)), 2.0, 2)
    bound = r.least() + 0.3 * (r.largest() - r.least())
    cs = ConstraintSet([Constraint(r, bound)])
    heavy = -r.block_costs, -np.arange(3.0) * np.ones((3, 1))     # the gradient prefers heavy
    result = bcsfw(cs, lambda a, b: heavy, balanced_start(cs), 400, rng, gamma_max=0.05)
    assert bound - 1e-3 * (r.largest() - r.least()) <= r.evaluate(result.alpha, result.beta) <= bound


def test_step_sizes():
    assert step_size(10, 0.002, "constant") == 0.002
    assert step_size(0, 0.5, "decay") == 0.5 and step_size(4, 1.0, "decay") == 0.5
    with pytest.raises(ValueError, match="schedule"):
        step_size(0, 1.0, "cosine")


def test_inputs_are_checked():
    r = ResourceModel("r", np.ones((1, 2, 2)), 0.0, 1)
    cs = ConstraintSet([Constraint(r, 1.5)])
    start = np.full((1, 2, 2), 0.5), np.array([[1.0, 0.0]])
    ok = lambda a, b: (np.zeros((1, 2, 2)), np.zeros((1, 2)))    # noqa: E731
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="start violates"):
        bcsfw(cs, ok, (start[0], np.array([[0.0, 1.0]])), 1, rng)
    with pytest.raises(ValueError, match="shapes"):
        bcsfw(cs, lambda a, b: (np.zeros(3), np.zeros((1, 2))), start, 1, rng)
    with pytest.raises(ValueError, match="non-finite"):
        bcsfw(cs, lambda a, b: (np.full((1, 2, 2), np.nan), np.zeros((1, 2))), start, 1, rng)
    with pytest.raises(ValueError, match="must return"):
        bcsfw(cs, lambda a, b: (np.zeros((1, 2, 2)),), start, 1, rng)
    with pytest.raises(ValueError, match="momentum"):
        bcsfw(cs, ok, start, 1, rng, momentum=1.0)
    with pytest.raises(ValueError, match="block_choice"):
        bcsfw(cs, ok, start, 1, rng, block_choice="cyclic")
