import pickle

import numpy as np
import pytest

from solvers.constraints import ConstraintSet, InfeasibleConstraintError, as_constraint_set
from solvers.resources import Constraint, ResourceModel

from .instances import random_distribution, random_resource, random_shape


@pytest.mark.parametrize("seed", range(5))
def test_block_rows_are_the_constraints_with_the_other_block_fixed(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        shape, min_depth = random_shape(rng)
        resources = [random_resource(rng, shape, min_depth, f"r{i}") for i in range(3)]
        cs = ConstraintSet([Constraint(r, rng.normal()) for r in resources])
        alpha = random_distribution(rng, cs.alpha_shape)
        beta = random_distribution(rng, cs.beta_shape)
        excess = cs.values(alpha, beta) - cs.bounds
        scale = np.abs(cs.values(alpha, beta)).max() + np.abs(cs.bounds).max()
        rows, rhs = cs.alpha_rows(beta)
        np.testing.assert_allclose(rows @ alpha.ravel() - rhs, excess, atol=1e-12 * scale)
        rows, rhs = cs.beta_rows(alpha)
        np.testing.assert_allclose(rows @ beta.ravel() - rhs, excess, atol=1e-12 * scale)


def test_least_architecture_attains_the_least_value():
    rng = np.random.default_rng(0)
    for _ in range(500):
        shape, min_depth = random_shape(rng)
        r = random_resource(rng, shape, min_depth)
        alpha, beta = r.least_architecture()
        assert r.evaluate(alpha, beta) == pytest.approx(r.least(), rel=1e-12, abs=1e-9)


def test_validation_at_the_boundary():
    a = ResourceModel("a", np.ones((2, 3, 2)), 0.0, 1)
    b = ResourceModel("b", np.ones((2, 3, 2)), 0.0, 2)
    with pytest.raises(ValueError, match="at least one"):
        ConstraintSet([])
    with pytest.raises(ValueError, match="share one space"):
        ConstraintSet([Constraint(a, 1.0), Constraint(b, 1.0)])
    with pytest.raises(ValueError, match="unique"):
        ConstraintSet([Constraint(a, 1.0), Constraint(a, 2.0)])
    with pytest.raises(ValueError, match="finite"):
        ConstraintSet([Constraint(a, np.inf)])
    cs = as_constraint_set(Constraint(a, 3.0))
    assert as_constraint_set(cs) is cs and cs.names == ("a",)
    assert "least reachable 2" in cs.describe()
    assert [(r.least, r.largest) for r in cs.ranges()] == [(2.0, 6.0)]


def test_the_infeasibility_error_survives_pickling_with_its_least_values():
    # Search tasks raise it inside Ray, which pickles the exception back to the driver.
    error = pickle.loads(pickle.dumps(InfeasibleConstraintError("no architecture fits", {"latency:cpu": 1.5})))
    assert isinstance(error, InfeasibleConstraintError)
    assert str(error) == "no architecture fits" and error.least == {"latency:cpu": 1.5}
