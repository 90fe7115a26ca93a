"""Gradient shards, their averaging, the seeded solver callback and the Ray actor pool (real Ray, real digits)."""
import numpy as np
import pytest
import torch

from supernet import Architecture, get_space
from supernet.data import load_data
from supernet.elastic import ElasticSupernet
from workers.gradients import (
    GradientPart,
    GradientPool,
    SeededGradient,
    ShardGradients,
    SupernetEvaluator,
    combine,
    combine_scores,
    numpy_state,
    shard_indices,
    supernet_from_weights,
)

SPACE = get_space("tiny")


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return ElasticSupernet(SPACE, 10).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def val():
    return load_data("digits", SPACE.input_size).val


def _uniform():
    return np.full((SPACE.num_stages, SPACE.max_depth, SPACE.num_configs), 1 / SPACE.num_configs), \
        np.full((SPACE.num_stages, len(SPACE.depths)), 1 / len(SPACE.depths))


def test_shards_partition_the_data():
    shards = [shard_indices(11, i, 3) for i in range(3)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(11))
    assert [len(s) for s in shards] == [4, 4, 3]


def test_combined_shard_gradients_equal_the_gradient_of_the_whole_batch(net, val):
    # A one-hot (alpha, beta) fixes every image's path, so the shards see exactly the paths of the whole.
    alpha, beta = Architecture.random(SPACE, np.random.default_rng(1)).to_one_hot()
    x = torch.stack([val[i][0] for i in range(8)])
    y = torch.tensor([val[i][1] for i in range(8)])
    whole = net.architecture_gradients(x, y, alpha, beta, return_stats=True)
    parts = []
    for idx in (slice(0, 3), slice(3, 8)):
        ga, gb, stats = net.architecture_gradients(x[idx], y[idx], alpha, beta, return_stats=True)
        parts.append(GradientPart(ga, gb, stats["loss"], len(y[idx])))
    g_alpha, g_beta, loss = combine(parts)
    assert np.allclose(g_alpha, whole[0], rtol=1e-4, atol=1e-6)
    assert np.allclose(g_beta, whole[1], rtol=1e-4, atol=1e-6)
    assert loss == pytest.approx(whole[2]["loss"], rel=1e-5)


def test_seeded_gradient_repeats_itself_whatever_runs_in_between(net, val):
    shard = ShardGradients(net, val)
    alpha, beta = _uniform()
    first = SeededGradient(shard.compute, 4, seed=7)
    a1, b1, l1 = first(alpha, beta)
    a2, _, _ = first(alpha, beta)
    again = SeededGradient(shard.compute, 4, seed=7)
    shard(alpha, beta, 6, seed=123)                  # another search's call in between
    c1, d1, m1 = again(alpha, beta)
    assert np.array_equal(a1, c1) and np.array_equal(b1, d1) and l1 == m1
    assert not np.array_equal(a1, a2)               # the next step draws other images and paths
    assert a1.shape == alpha.shape and b1.shape == beta.shape and np.isfinite(a1).all()


def _evolution_through_the_pool(pool):
    """A strategy that scores discrete architectures, as the pipeline runs it: a Ray task on the pool."""
    import ray

    from solvers import Constraint, ResourceModel, parse_options
    from supernet.costs import param_costs
    from workers.monitoring import progress_board
    from workers.search_tasks import SearchRequest, start_search

    costs, constant = param_costs(SPACE, 10)
    params = ResourceModel("params", costs, constant, SPACE.min_depth)
    bound = params.least() + 0.3 * (params.largest() - params.least())
    options = parse_options("evolution", {"population_size": 4, "generations": 1, "eval_images": 3})
    request = SearchRequest("evo", (Constraint(params, bound),), 0, "evolution", options)
    with progress_board() as board:
        return ray.get(start_search(request, SPACE, pool, board))


def test_ray_pool_averages_its_actors_like_the_same_shards_in_process(net, val):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        weights = numpy_state(net)
        pool = GradientPool.start(SPACE, 10, ray.put(weights), "digits", 0, workers=2, num_cpus=1)
        alpha, beta = _uniform()
        got = combine(pool.compute(alpha, beta, 7, seed=5))
        archs = [Architecture.random(SPACE, np.random.default_rng(i)).to_one_hot() for i in range(3)]
        alphas, betas = np.stack([a for a, _ in archs]), np.stack([b for _, b in archs])
        got_scores = combine_scores(pool.score(alphas, betas, 5, seed=9))
        outcome = _evolution_through_the_pool(pool)
        assert outcome.result.strategy == "evolution" and not outcome.result.violated
        assert 0 < outcome.result.images <= 2 * 4 * 3        # two generations of 4, 3 images each (repeats free)
        assert pool.cpu_seconds() > 0
        pool.shutdown()
    finally:
        ray.shutdown()
    # What each actor does, here: its shard of the val split, its share of the batch, its seed.
    local_net = supernet_from_weights(SPACE, 10, weights)
    seeds = np.random.SeedSequence([5, 7]).generate_state(2)
    parts = [ShardGradients(local_net, torch.utils.data.Subset(val, shard_indices(len(val), i, 2).tolist()))(
        alpha, beta, n, int(s)) for i, (n, s) in enumerate(zip((4, 3), seeds))]
    want = combine(parts)
    assert np.allclose(got[0], want[0], rtol=1e-4, atol=1e-7)
    assert np.allclose(got[1], want[1], rtol=1e-4, atol=1e-7)
    assert got[2] == pytest.approx(want[2], rel=1e-5)
    seeds = np.random.SeedSequence([9, 5]).generate_state(2)
    want_scores = combine_scores([ShardGradients(local_net, torch.utils.data.Subset(
        val, shard_indices(len(val), i, 2).tolist())).scores(alphas, betas, n, int(s))
        for i, (n, s) in enumerate(zip((3, 2), seeds))])
    assert np.allclose(got_scores[0], want_scores[0], rtol=1e-5) and np.array_equal(got_scores[1], want_scores[1])


def test_scores_are_the_loss_and_top1_of_each_architecture_on_the_same_images(net, val):
    shard = ShardGradients(net, val)
    archs = [Architecture.random(SPACE, np.random.default_rng(i)) for i in range(5)]
    alphas = np.stack([a.to_one_hot()[0] for a in archs])
    betas = np.stack([a.to_one_hot()[1] for a in archs])
    part = shard.scores(alphas, betas, 6, seed=3)
    x, y = shard.batch(6, np.random.default_rng(3))                 # the images the scores used
    for i in range(len(archs)):
        _, _, stats = net.architecture_gradients(x, y, alphas[i], betas[i], return_stats=True)
        assert part.loss_sum[i] / 6 == pytest.approx(stats["loss"], rel=1e-4)
        assert part.correct[i] == stats["correct"]
    evaluator = SupernetEvaluator(shard.compute, shard.score_compute, seed=1)
    loss, top1 = evaluator.score(alphas, betas, 6)
    again, _ = evaluator.score(alphas[::-1], betas[::-1], 6)       # same images whatever the batch
    assert np.allclose(loss, again[::-1], rtol=1e-5) and loss.shape == top1.shape == (5,)


def test_scores_and_gradients_with_bn_images_use_each_paths_own_statistics(val):
    from supernet.extract import extract_subnet
    from supernet.training import recalibrate_bn
    from tests.supernet.helpers import randomize_bn

    torch.manual_seed(0)
    net = randomize_bn(ElasticSupernet(SPACE, 10), seed=5).eval().requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    shard = ShardGradients(net, val, bn_images=12)
    archs = [Architecture.heaviest(SPACE), Architecture.lightest(SPACE)]
    alphas, betas = (np.stack(v) for v in zip(*(a.to_one_hot() for a in archs)))
    part = shard.scores(alphas, betas, 6, seed=3)
    x, y = shard.batch(6, np.random.default_rng(3))
    calibration, _ = shard.batch(12, np.random.default_rng([3, 1]))
    for i, arch in enumerate(archs):
        model = recalibrate_bn(extract_subnet(net, arch), [(calibration, None)], num_batches=1)
        with torch.no_grad():
            loss = torch.nn.functional.cross_entropy(model(x), y).item()
        assert part.loss_sum[i] / 6 == pytest.approx(loss, rel=1e-4)
    plain = ShardGradients(net, val).scores(alphas, betas, 6, seed=3)
    assert not np.allclose(plain.loss_sum, part.loss_sum)
    alpha, beta = _uniform()
    first, again = shard(alpha, beta, 4, seed=9), shard(alpha, beta, 4, seed=9)
    assert np.array_equal(first.g_alpha, again.g_alpha) and first.loss == again.loss
    assert not np.allclose(ShardGradients(net, val)(alpha, beta, 4, seed=9).g_alpha, first.g_alpha)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="bn_images"):
        ShardGradients(net, val, bn_images=-1)
