"""Multipath sampling and the elastic supernet's forward pass."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from supernet import Architecture, get_space
from supernet.elastic import ElasticSupernet, timm_features
from supernet.extract import extract_subnet
from supernet.sampling import PathSample
from supernet.timm_models import build_timm_model
from tests.supernet.helpers import randomize_bn

TINY = get_space("tiny")


# --- sampling -------------------------------------------------------------------------------------
def test_uniform_sample_gives_every_image_its_own_path():
    sample = PathSample.uniform(TINY, 32, torch.Generator().manual_seed(0))
    assert sample.configs.shape == (32, TINY.num_stages, TINY.max_depth)
    assert sample.depths.shape == (32, TINY.num_stages)
    assert set(sample.depths.unique().tolist()) <= set(TINY.depths)
    assert sample.distinct_paths(TINY) == 32
    # every block position varies across the batch (no shared per-batch choice)
    assert all(len(sample.configs[:, s, d].unique()) > 1
               for s in range(TINY.num_stages) for d in range(TINY.max_depth))


def test_single_path_sample_shares_one_uniform_path_per_batch():
    sample = PathSample.single_path(TINY, 16, torch.Generator().manual_seed(0))
    assert sample.configs.shape == (16, TINY.num_stages, TINY.max_depth)
    assert sample.distinct_paths(TINY) == 1
    draws = [PathSample.single_path(TINY, 2, torch.Generator().manual_seed(seed)) for seed in range(20)]
    assert len({tuple(d.configs[0].flatten().tolist()) for d in draws}) == 20     # a new path per batch


def test_uniform_sample_marginals():
    n = 20000
    sample = PathSample.uniform(TINY, n, torch.Generator().manual_seed(1))
    freq = torch.bincount(sample.configs.flatten(), minlength=12).double() / sample.configs.numel()
    assert torch.allclose(freq, torch.full((12,), 1 / 12, dtype=torch.float64), atol=0.004)
    dfreq = torch.bincount(sample.depths.flatten() - 2, minlength=3).double() / sample.depths.numel()
    assert torch.allclose(dfreq, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)


def test_sample_from_distributions_has_the_right_marginals():
    rng = np.random.default_rng(0)
    alpha = rng.dirichlet(np.ones(12), size=(TINY.num_stages, TINY.max_depth))
    alpha[0, 0] = 0.0
    alpha[0, 0, [3, 7]] = [0.25, 0.75]                  # zero-probability configs are never drawn
    beta = rng.dirichlet(np.ones(3), size=TINY.num_stages)
    beta[1] = [0.0, 1.0, 0.0]
    n = 20000
    sample = PathSample.from_distributions(TINY, alpha, torch.tensor(beta), n,
                                           torch.Generator().manual_seed(2))
    onehot_a, onehot_b = sample.one_hot(TINY, dtype=torch.float64)
    assert np.abs(onehot_a.mean(0).numpy() - alpha).max() < 0.015
    assert np.abs(onehot_b.mean(0).numpy() - beta).max() < 0.015
    assert set(sample.configs[:, 0, 0].unique().tolist()) == {3, 7}
    assert (sample.depths[:, 1] == 3).all()
    # a generator makes it reproducible
    again = PathSample.from_distributions(TINY, alpha, beta, n, torch.Generator().manual_seed(2))
    assert torch.equal(again.configs, sample.configs) and torch.equal(again.depths, sample.depths)


def test_sample_validation_and_fixed_paths():
    with pytest.raises(ValueError, match="shape"):
        PathSample.from_distributions(TINY, np.ones((2, 2, 12)), np.ones((5, 3)), 4)
    with pytest.raises(ValueError, match="non-negative"):
        PathSample.from_distributions(TINY, -np.ones((5, 4, 12)), np.ones((5, 3)), 4)
    with pytest.raises(ValueError):
        PathSample(torch.zeros(4, 5, 4), torch.zeros(3, 5))
    arch = Architecture.random(TINY, np.random.default_rng(3))
    sample = PathSample.fixed(arch, 5)
    assert sample.distinct_paths(TINY) == 1
    assert all(sample.architecture(TINY, n) == arch for n in range(5))
    assert sample[1:3].batch_size == 2


# --- forward ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_net():
    torch.manual_seed(0)
    return randomize_bn(ElasticSupernet(TINY, 10), seed=1).eval()


def test_multipath_forward_equals_each_images_own_subnet(tiny_net):
    torch.manual_seed(4)
    x = torch.randn(6, 3, 32, 32)
    sample = PathSample.uniform(TINY, 6, torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = tiny_net(x, sample)
        ref = torch.cat([extract_subnet(tiny_net, sample.architecture(TINY, n)).eval()(x[n:n + 1])
                         for n in range(6)])
    assert (out - ref).abs().max() <= 1e-5


def test_features_align_with_timm_teacher_and_heaviest_path_distils_to_zero():
    torch.manual_seed(1)
    heavy = randomize_bn(build_timm_model(Architecture.heaviest(TINY), 10), seed=2).eval()
    net = ElasticSupernet(TINY, 10)
    net.load_heaviest(heavy)
    net.eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        logits, feats = net(x, PathSample.heaviest(TINY, 3), return_features=True)
        t_logits, t_feats = timm_features(heavy, x)
    assert len(feats) == len(t_feats) == TINY.num_stages + 3
    for f, t in zip(feats, t_feats):
        assert f.shape == t.shape and (f - t).abs().max() <= 1e-5
    assert (logits - t_logits).abs().max() <= 1e-5 and (heavy(x) - t_logits).abs().max() == 0


def test_train_mode_matches_the_child_for_a_fixed_path():
    """One architecture for the whole batch: train-mode BN statistics, outputs, gradients and running
    statistics are those of the standalone child."""
    torch.manual_seed(2)
    net = randomize_bn(ElasticSupernet(TINY, 10), seed=3).train()
    arch = Architecture.random(TINY, np.random.default_rng(5))
    child = extract_subnet(net, arch).train()
    x, y = torch.randn(4, 3, 32, 32), torch.randint(10, (4,))
    out_net, out_child = net(x, PathSample.fixed(arch, 4)), child(x)
    assert (out_net - out_child).abs().max() <= 1e-5
    F.cross_entropy(out_net, y).backward()
    F.cross_entropy(out_child, y).backward()
    # gradients sum over the batch and the pixels in a thread-dependent order: float32 rounding, relatively
    torch.testing.assert_close(net.conv_stem.weight.grad, child.conv_stem.weight.grad, rtol=1e-4, atol=1e-5)
    s, b, c = arch.blocks()[-1][0], arch.blocks()[-1][1], arch.stages[-1][-1]
    e_idx = TINY.expansions.index(TINY.configs[c].expansion)
    mid = net.blocks[s + 1][b].mids[e_idx]
    torch.testing.assert_close(net.blocks[s + 1][b].conv_pw.weight.grad[:mid],
                               child.blocks[s + 1][b].conv_pw.weight.grad, rtol=1e-4, atol=1e-5)
    assert (net.blocks[s + 1][b].conv_pw.weight.grad[mid:] == 0).all()
    child2 = extract_subnet(net, arch).eval()   # running statistics were updated the same way
    net.eval()
    child.eval()
    with torch.no_grad():
        assert (child2(x) - child(x)).abs().max() <= 1e-5


def test_privatised_bn_statistics_use_only_their_images():
    torch.manual_seed(3)
    net = ElasticSupernet(TINY, 10).train()
    block = net.blocks[2][1]                      # stage 1, block 1: a residual block
    x = torch.randn(6, block.in_channels, 8, 8)
    cfg = torch.tensor([TINY.config_index((3, 3, False))] * 2 + [TINY.config_index((6, 3, True))] * 4)
    before = {k: v.clone() for k, v in block.state_dict().items()}
    seen = {}
    block.conv_pwl.register_forward_hook(lambda m, i, o: seen.setdefault("z", o.detach()))
    block(x, cfg)
    z = seen["z"]
    for rows, group in ((slice(0, 2), 0), (slice(2, 6), 5)):     # bn3 index = e_idx * 2 + se
        want = 0.9 * before[f"bn3.{group}.running_mean"] + 0.1 * z[rows].mean((0, 2, 3))
        assert torch.allclose(block.bn3[group].running_mean, want, atol=1e-6)
    for group in (1, 2, 3, 4):                                   # unsampled (e, se) pairs untouched
        assert torch.equal(block.bn3[group].running_mean, before[f"bn3.{group}.running_mean"])
    assert torch.equal(block.bn2[1].running_mean, before["bn2.1.running_mean"])   # k5 unsampled


def test_depth_runs_later_blocks_only_on_images_that_use_them():
    torch.manual_seed(4)
    net = ElasticSupernet(TINY, 10).train()
    arch = Architecture.uniform(TINY, 0, 2)
    before = net.blocks[1][3].bn1.running_mean.clone()
    net(torch.randn(4, 3, 32, 32), PathSample.fixed(arch, 4))
    assert torch.equal(net.blocks[1][3].bn1.running_mean, before)


def test_load_heaviest_initialises_small_kernels_from_the_centre_taps():
    torch.manual_seed(5)
    heavy = build_timm_model(Architecture.heaviest(TINY), 10)
    net = ElasticSupernet(TINY, 10)
    net.load_heaviest(heavy)
    w5 = heavy.blocks[1][0].conv_dw.weight
    assert torch.equal(net.blocks[1][0].conv_dw[0].weight, w5[:, :, 1:4, 1:4])
    assert torch.equal(net.blocks[1][0].conv_dw[1].weight, w5)
    with pytest.raises(ValueError, match="heaviest"):
        net.load_heaviest(build_timm_model(Architecture.lightest(TINY), 10))
