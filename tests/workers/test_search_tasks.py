"""A search in process, and what its signal says of a budget it left unused (real digits, real BCSFW)."""
import math

import numpy as np
import pytest
import torch

from solvers import Constraint, ResourceModel, parse_options
from solvers.strategies.uniform import uniform_architectures
from supernet import Architecture, get_space
from supernet.costs import param_costs
from supernet.data import load_data
from supernet.elastic import ElasticSupernet
from workers.gradients import ShardGradients, SupernetEvaluator
from workers.search_tasks import SearchRequest, budget_use, run_search

SPACE = get_space("tiny")


@pytest.fixture(scope="module")
def shard():
    torch.manual_seed(0)
    net = ElasticSupernet(SPACE, 10).eval().requires_grad_(False)
    return ShardGradients(net, load_data("digits", SPACE.input_size).val)


@pytest.fixture(scope="module")
def params():
    costs, constant = param_costs(SPACE, 10)
    return ResourceModel("params", costs, constant, SPACE.min_depth)


def _outcome(shard, params, share: float):
    bound = params.least() + share * (params.largest() - params.least())
    options = parse_options("bcsfw", {"steps": 4, "batch_size": 4})
    request = SearchRequest("k", (Constraint(params, bound),), 0, "bcsfw", options)
    return run_search(request, SPACE, shard.compute, score=shard.score_compute), bound


def test_the_member_is_scored_beside_the_largest_uniform_architecture_within_its_bound(shard, params):
    outcome, bound = _outcome(shard, params, 0.5)
    evaluator = SupernetEvaluator(shard.compute, shard.score_compute, seed=3)
    use = budget_use(outcome, SPACE, "params", evaluator, images=12)
    assert use.last_value == outcome.result.log[-1].resources["params"]
    fitting = [params.evaluate(a, b) for a, b in uniform_architectures(params.alpha_shape, params.beta_shape[1])
               if params.evaluate(a, b) <= bound]
    assert use.filled_value == pytest.approx(max(fitting)) and use.filled_value <= bound
    alpha, beta = use.filled.to_one_hot()
    assert (alpha.argmax(-1) == alpha.argmax(-1).flat[0]).all() and (beta.argmax(-1) == beta.argmax(-1)[0]).all()
    archs = [outcome.arch, use.filled]
    loss, _ = evaluator.score(*(np.stack(v) for v in zip(*(a.to_one_hot() for a in archs))), 12)
    assert (use.loss, use.filled_loss) == pytest.approx(tuple(loss), rel=1e-6)
    again = budget_use(outcome, SPACE, "params", SupernetEvaluator(shard.compute, shard.score_compute, seed=3), 12)
    assert again.loss == use.loss                               # the same seed scores on the same images


def test_a_bound_no_uniform_architecture_meets_leaves_nothing_to_compare(shard, params):
    # Random block costs: the least architecture mixes configurations, so a bound just above it fits no
    # uniform one (the params of the tiny space are least for a uniform architecture).
    costs = np.random.default_rng(0).uniform(1.0, 10.0, params.block_costs.shape)
    mixed = ResourceModel("params", costs, 0.0, SPACE.min_depth)
    lightest_uniform = min(mixed.evaluate(a, b)
                           for a, b in uniform_architectures(mixed.alpha_shape, mixed.beta_shape[1]))
    share = (lightest_uniform - mixed.least()) / (mixed.largest() - mixed.least()) / 2
    outcome, bound = _outcome(shard, mixed, share)
    assert bound < lightest_uniform
    use = budget_use(outcome, SPACE, "params", SupernetEvaluator(shard.compute, shard.score_compute, 0), 8)
    assert use.filled is None and math.isnan(use.filled_value) and math.isnan(use.filled_loss)
    assert math.isfinite(use.loss) and use.loss > 0
    assert Architecture.from_one_hot(SPACE, outcome.result.alpha, outcome.result.beta) == outcome.arch
