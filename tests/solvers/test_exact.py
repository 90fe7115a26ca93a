"""Feasibility, infeasibility and optimality decided exactly, checked against every architecture.

The instances (see ``instances.dyadic_constraints``) have dyadic costs, so each architecture's value is
exact whatever the summation order, and bounds sit exactly on an architecture's value, 2**-30 off it,
or anywhere; some add a 0/1 indicator row with bound 0 (a per-block maximum: no removed option).
"""
import threading
import time

import highspy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvers import (
    Constraint,
    ConstraintSet,
    InfeasibleConstraintError,
    ResourceModel,
    SolverError,
    SolverLimitError,
    SolverLimits,
    balanced_start,
    best_architecture,
    feasible_architecture,
    project,
)
from solvers.limits import ClockedHighs
from solvers.oracle import BlockOracle, _SimplexProductModel
from solvers.projection import is_one_hot

from .instances import all_architectures, dyadic_constraints, exact_values, random_distribution

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _instance(seed: int, num: int, indicator: bool):
    rng = np.random.default_rng(seed)
    stages, depth = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    shape, min_depth = (stages, depth, int(rng.integers(2, 4))), int(rng.integers(1, depth + 1))
    cs = dyadic_constraints(rng, shape, min_depth, num, indicator)
    alphas, betas = all_architectures(shape, min_depth)
    feasible = (exact_values(cs, alphas, betas) <= cs.bounds).all(axis=1)
    return rng, cs, alphas, betas, feasible


def _credit(alpha, beta, alpha_credit, beta_credit) -> float:
    return float((alpha * alpha_credit).sum() + (beta * beta_credit).sum())


def _best_credit(alphas, betas, feasible, alpha_credit, beta_credit) -> float:
    credits = np.einsum("nsdc,sdc->n", alphas, alpha_credit) + np.einsum("nsk,sk->n", betas, beta_credit)
    return float(credits[feasible].max())


INSTANCES = dict(seed=st.integers(0, 2**32 - 1), num=st.integers(1, 3), indicator=st.booleans())


@PROPERTY
@given(**INSTANCES)
def test_feasibility_is_decided_exactly(seed, num, indicator):
    _, cs, _, _, feasible = _instance(seed, num, indicator)
    if not feasible.any():
        with pytest.raises(InfeasibleConstraintError):
            feasible_architecture(cs)
        assert best_architecture(cs) is None
        return
    alpha, beta = feasible_architecture(cs)
    assert is_one_hot(alpha) and is_one_hot(beta) and cs.satisfied(alpha, beta)


@PROPERTY
@given(**INSTANCES)
def test_best_architecture_is_the_true_optimum(seed, num, indicator):
    rng, cs, alphas, betas, feasible = _instance(seed, num, indicator)
    alpha_credit, beta_credit = rng.normal(size=cs.alpha_shape), rng.normal(size=cs.beta_shape)
    found = best_architecture(cs, alpha_credit, beta_credit)
    if not feasible.any():
        assert found is None
        return
    assert found is not None and is_one_hot(found[0]) and is_one_hot(found[1]) and cs.satisfied(*found)
    best = _best_credit(alphas, betas, feasible, alpha_credit, beta_credit)
    assert _credit(*found, alpha_credit, beta_credit) == pytest.approx(best, abs=1e-9)


@PROPERTY
@given(**INSTANCES)
def test_the_projection_is_the_eq13_optimum(seed, num, indicator):
    rng, cs, alphas, betas, feasible = _instance(seed, num, indicator)
    alpha_star, beta_star = random_distribution(rng, cs.alpha_shape), random_distribution(rng, cs.beta_shape)
    if not feasible.any():
        with pytest.raises(InfeasibleConstraintError):
            project(cs, alpha_star, beta_star)
        return
    p = project(cs, alpha_star, beta_star)
    assert is_one_hot(p.alpha) and is_one_hot(p.beta) and cs.satisfied(p.alpha, p.beta)
    assert p.optimal, p.method
    best = _best_credit(alphas, betas, feasible, alpha_star, beta_star)
    assert _credit(p.alpha, p.beta, alpha_star, beta_star) == pytest.approx(best, abs=1e-9)
    if p.lp_credit is not None:                 # the fallback path is feasible, never better
        assert p.lp_credit <= best + 1e-9


@settings(max_examples=100, deadline=None, derandomize=True)
@given(**INSTANCES)
def test_the_balanced_start_stays_feasible(seed, num, indicator):
    _, cs, _, _, feasible = _instance(seed, num, indicator)
    if feasible.any():
        alpha, beta = balanced_start(cs)
        assert cs.satisfied(alpha, beta)
        np.testing.assert_allclose(alpha.sum(-1), 1.0)
        assert alpha.min() >= 0 and beta.min() >= 0


# --- the audit's two instances, as written -------------------------------------------------------
def _issue_instance_1() -> ConstraintSet:
    r0 = ResourceModel("r0", np.array([[[6.0, 6.0, 1.0, 6.0]]]), 0.0, 1)
    r1 = ResourceModel("r1", np.array([[[4.0, 6.0, 4.0, 6.0]]]), 0.0, 1)
    return ConstraintSet([Constraint(r0, 1.000005), Constraint(r1, 4.0)])


def _issue_instance_2() -> ConstraintSet:
    r0 = ResourceModel("r0", np.array([[[1.000000001, 1.0], [5.0, 5.0]]]), 0.0, 2)
    r1 = ResourceModel("r1", np.array([[[5.0, 6.0], [6.0, 5.0]]]), 0.0, 2)
    return ConstraintSet([Constraint(r0, 6.0), Constraint(r1, 11.0)])


@pytest.mark.timeout(60, method="thread")
def test_the_balanced_start_of_a_set_emptied_by_the_margin_returns():
    cs = _issue_instance_1()
    only = (np.eye(4)[[[2]]], np.ones((1, 1)))
    np.testing.assert_array_equal(feasible_architecture(cs)[0], only[0])
    tic = time.perf_counter()
    alpha, beta = balanced_start(cs)
    assert time.perf_counter() - tic < 5.0
    np.testing.assert_array_equal(alpha, only[0])
    assert cs.satisfied(alpha, beta)


def test_an_architecture_on_both_bounds_is_found_and_is_the_optimum():
    cs = _issue_instance_2()
    only = np.eye(2)[[[1, 1]]]
    assert cs.satisfied(only, np.ones((1, 1)))
    for found in (best_architecture(cs), feasible_architecture(cs),
                  best_architecture(cs, np.eye(2)[[[0, 0]]], np.zeros((1, 1)))):
        np.testing.assert_array_equal(found[0], only)
    p = project(cs, np.array([[[0.9, 0.1], [0.6, 0.4]]]), np.ones((1, 1)))
    np.testing.assert_array_equal(p.alpha, only)
    assert p.method == "exact"


# --- limits --------------------------------------------------------------------------------------
def _hard_mip():
    """Three knapsack rows, credit close to their mean cost: HiGHS needs ~0.2 s to prove the optimum."""
    rng = np.random.default_rng(1)
    shape = (5, 4, 12)
    resources = [ResourceModel(f"r{i}", rng.integers(100, 1000, size=shape).astype(float), 0.0, 2)
                 for i in range(3)]
    cs = ConstraintSet([Constraint(r, r.least() + 0.5 * (r.largest() - r.least()) + 0.5) for r in resources])
    credit = sum(r.block_costs for r in resources) / 3 + rng.uniform(0, 1, size=shape)
    return cs, credit, np.zeros(cs.beta_shape)


def test_the_mip_returns_within_its_time_limit():
    cs, alpha_credit, beta_credit = _hard_mip()
    tic = time.perf_counter()
    with pytest.raises(SolverLimitError, match="Time limit") as err:
        best_architecture(cs, alpha_credit, beta_credit, limits=SolverLimits(mip_seconds=0.005))
    assert time.perf_counter() - tic < 0.005 + 0.5       # model building and one HiGHS check interval
    assert isinstance(err.value, TimeoutError) and err.value.status == "Time limit reached"
    assert err.value.incumbent is None or cs.satisfied(*err.value.incumbent)


def test_the_projection_falls_back_to_the_lp_path_at_its_limit():
    cs, alpha_credit, beta_credit = _hard_mip()
    alpha_star = np.exp(alpha_credit / 100) / np.exp(alpha_credit / 100).sum(-1, keepdims=True)
    beta_star = np.tile([0.2, 0.3, 0.5], (cs.beta_shape[0], 1))         # argmax: the deepest, too heavy
    p = project(cs, alpha_star, beta_star, limits=SolverLimits(projection_seconds=0.005))
    assert p.method in ("lp", "incumbent") and not p.optimal
    assert p.exact_seconds < 0.5 and cs.satisfied(p.alpha, p.beta) and p.lp_credit is not None


@pytest.mark.parametrize("limits", [SolverLimits(qp_seconds=0.2, qp_iterations=2**31 - 1),
                                    SolverLimits(qp_seconds=60.0, qp_iterations=1000)])
def test_a_qp_on_an_empty_set_stops_at_its_limit(limits):
    """HiGHS 1.16's QP solver loops without end on an empty set; either limit stops it."""
    model = _SimplexProductModel(1, 4, 2, True, limits)
    rows = np.array([[6.0, 6.0, 1.0, 6.0], [4.0, 6.0, 4.0, 6.0]]) / 6
    result: list = []
    worker = threading.Thread(target=lambda: result.append(model.solve(
        np.zeros(4), rows, np.array([1.0, 3.9]) / 6, np.ones(4))), daemon=True)
    tic = time.perf_counter()
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the QP did not stop at its limit"
    assert result[0][0] in ("limit", "infeasible") and time.perf_counter() - tic < limits.qp_seconds + 1.0


def _random_feasible_problem(rng: np.random.Generator):
    """One latency-like constraint at 30% of its range, and a feasible point of it."""
    r = ResourceModel("r", rng.uniform(1, 5, size=(5, 4, 12)), 0.0, 2)
    cs = ConstraintSet([Constraint(r, r.least() + 0.3 * (r.largest() - r.least()))])
    return cs, *feasible_architecture(cs)


def test_an_lp_at_its_iteration_limit_keeps_the_current_point():
    rng = np.random.default_rng(0)
    cs, alpha, beta = _random_feasible_problem(rng)
    oracle = BlockOracle(cs, "alpha", SolverLimits(lp_iterations=1))
    assert oracle.minimize(rng.normal(size=cs.alpha_shape), alpha, beta) is None


def test_a_time_limit_counts_from_each_solve_not_from_the_model():
    """HiGHS's clock starts with the model: a reused model must still get its full limit per solve."""
    rng = np.random.default_rng(0)
    cs, alpha, beta = _random_feasible_problem(rng)
    oracle = BlockOracle(cs, "alpha", SolverLimits(lp_seconds=0.05))
    time.sleep(0.1)
    for _ in range(3):
        assert oracle.minimize(rng.normal(size=cs.alpha_shape), alpha, beta) is not None


def test_a_solve_error_is_a_solver_error_naming_the_status(monkeypatch):
    monkeypatch.setattr(ClockedHighs, "run", lambda self: highspy.HighsModelStatus.kSolveError)
    monkeypatch.setattr(ClockedHighs, "status_name", lambda self: "Solve error")
    cs = _issue_instance_2()
    with pytest.raises(SolverError, match="Solve error") as err:
        best_architecture(cs)
    assert not isinstance(err.value, TimeoutError)


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="mip_seconds"):
        SolverLimits(mip_seconds=0)
