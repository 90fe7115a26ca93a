import numpy as np
import pytest

from solvers import InfeasibleConstraintError, search
from solvers.resources import Constraint, ResourceModel
from supernet.arch import Architecture
from supernet.costs import block_macs, block_params, mac_costs, param_costs
from supernet.space import get_space


def _resources(space):
    macs, macs_const = mac_costs(space, 1000)
    params, params_const = param_costs(space, 1000)
    return (ResourceModel("macs", macs / 1e6, macs_const / 1e6, space.min_depth, "M"),
            ResourceModel("params", params / 1e6, params_const / 1e6, space.min_depth, "M"))


def _preference_gradient(rng, resource):
    """A structured stand-in for the supernet: heavier blocks are 'more accurate', plus noise."""
    alpha_pref = np.sqrt(resource.block_costs / resource.block_costs.max()) + 0.3 * rng.normal(
        size=resource.alpha_shape)
    beta_pref = np.linspace(0, 1, resource.beta_shape[1]) + 0.3 * rng.normal(size=resource.beta_shape)

    def gradient(alpha, beta):
        loss = -float((alpha_pref * alpha).sum() + (beta_pref * beta).sum())
        return (-alpha_pref + rng.normal(size=alpha.shape), -beta_pref + rng.normal(size=beta.shape),
                loss)
    return gradient


def test_a_search_on_the_imagenet_space_under_macs_and_params():
    space = get_space("imagenet")
    macs, params = _resources(space)
    rng = np.random.default_rng(0)
    constraints = [Constraint(macs, macs.least() + 0.25 * (macs.largest() - macs.least())),
                   Constraint(params, params.least() + 0.5 * (params.largest() - params.least()))]
    records = []
    result = search(constraints, _preference_gradient(rng, macs), 150, rng, gamma_max=0.02,
                    on_step=records.append)
    assert len(records) == len(result.log) == 150
    for c in constraints:
        assert result.slack[c.name] >= 0
        assert result.values[c.name] == pytest.approx(c.bound - result.slack[c.name])
        assert c.slack(result.relaxed_alpha, result.relaxed_beta) >= 0
        assert c.slack(result.start_alpha, result.start_beta) >= 0
    # The one-hot answer is an architecture of the space, and its exact MACs and params are the values.
    arch = Architecture.from_one_hot(space, result.alpha, result.beta)
    exact_macs = (mac_costs(space, 1000)[1] + sum(block_macs(space, space.slot(s, b), cfg)
                                                  for s, b, cfg in arch.blocks())) / 1e6
    exact_params = (param_costs(space, 1000)[1] + sum(block_params(space, space.slot(s, b), cfg)
                                                      for s, b, cfg in arch.blocks())) / 1e6
    assert result.values["macs"] == pytest.approx(exact_macs)
    assert result.values["params"] == pytest.approx(exact_params)
    assert result.projection in ("argmax", "exact")       # eq. 13's optimum: the MIP solves in time
    assert result.solver_seconds > 0 and result.gradient_seconds > 0


def test_an_infeasible_target_fails_before_any_gradient():
    space = get_space("tiny")
    macs, _ = _resources(space)
    calls = []

    def gradient(alpha, beta):
        calls.append(1)
        return np.zeros(alpha.shape), np.zeros(beta.shape)

    with pytest.raises(InfeasibleConstraintError, match=f"least reachable value {macs.least():.6g} M"):
        search(Constraint(macs, 0.9 * macs.least()), gradient, 10, np.random.default_rng(0))
    assert calls == []
