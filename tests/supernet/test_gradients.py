"""Search-time architecture gradients: shapes, the official all-configurations mixture, finite differences."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from supernet import get_space
from supernet.elastic import ElasticSupernet
from supernet.sampling import PathSample
from tests.supernet.helpers import randomize_bn

TINY = get_space("tiny")


def _uniform(space):
    alpha = np.full((space.num_stages, space.max_depth, space.num_configs), 1 / space.num_configs)
    beta = np.full((space.num_stages, len(space.depths)), 1 / len(space.depths))
    return alpha, beta


@pytest.fixture(scope="module")
def net64():
    torch.manual_seed(0)
    return randomize_bn(ElasticSupernet(TINY, 10), seed=5).double()


def test_gradient_shapes_and_frozen_weights():
    torch.manual_seed(1)
    net = ElasticSupernet(TINY, 10).train()
    alpha, beta = _uniform(TINY)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(10, (4,))
    g_alpha, g_beta, stats = net.architecture_gradients(x, y, alpha, beta, torch.Generator().manual_seed(0),
                                                        return_stats=True)
    assert g_alpha.shape == (5, 4, 12) and g_alpha.dtype == np.float64
    assert g_beta.shape == (5, 3) and g_beta.dtype == np.float64
    assert np.isfinite(g_alpha).all() and np.isfinite(g_beta).all() and np.abs(g_alpha).sum() > 0
    assert stats["loss"] > 0 and 0 <= stats["correct"] <= 4
    # weights frozen and untouched, mode restored
    assert net.training and all(p.requires_grad and p.grad is None for p in net.parameters())
    again = net.architecture_gradients(x, y, alpha, beta, torch.Generator().manual_seed(0))
    assert np.array_equal(again[0], g_alpha) and np.array_equal(again[1], g_beta)


def test_fast_gradients_equal_autograd_through_the_official_mixture(net64):
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    alpha = rng.dirichlet(np.ones(12), size=(5, 4))
    beta = rng.dirichlet(np.ones(3), size=5)
    x, y = torch.randn(3, 3, 32, 32, dtype=torch.float64), torch.randint(10, (3,))
    sample = PathSample.from_distributions(TINY, alpha, beta, 3, torch.Generator().manual_seed(3))
    fast_a, fast_b = net64.architecture_gradients(x, y, None, None, sample=sample)
    ref_a, ref_b = net64.mixture_architecture_gradients(x, y, None, None, sample=sample)
    scale = np.abs(ref_a).max()
    assert scale > 0 and np.abs(fast_a - ref_a).max() <= 1e-10 * scale
    assert np.abs(fast_b - ref_b).max() <= 1e-10 * np.abs(ref_b).max()
    # blocks past every image's depth get no gradient
    for s in range(TINY.num_stages):
        for d in range(int(sample.depths[:, s].max()), TINY.max_depth):
            assert not fast_a[s, d].any()


def test_fast_gradients_match_central_finite_differences(net64):
    """Perturb one configuration weight of one block (for every image) in the mixture, float64."""
    torch.manual_seed(4)
    x, y = torch.randn(2, 3, 32, 32, dtype=torch.float64), torch.randint(10, (2,))
    sample = PathSample.uniform(TINY, 2, torch.Generator().manual_seed(4))
    sample.depths[:] = 4                      # every block on the path, so every block has a gradient
    g_alpha, g_beta = net64.architecture_gradients(x, y, None, None, sample=sample)
    a0, b0 = sample.one_hot(TINY, dtype=torch.float64)
    net64.eval()

    def loss(a, b):
        with torch.no_grad():
            return F.cross_entropy(net64.mixture_forward(x, a, b, skip_unused=True), y).item()

    eps = 1e-6
    rng = np.random.default_rng(5)
    picks = [(0, 0, int(sample.configs[0, 0, 0])), (2, 3, 5), (4, 1, 11),
             tuple(int(v) for v in np.unravel_index(np.abs(g_alpha).argmax(), g_alpha.shape)),
             (int(rng.integers(5)), int(rng.integers(4)), int(rng.integers(12)))]
    for s, d, i in picks:
        plus, minus = a0.clone(), a0.clone()
        plus[:, s, d, i] += eps
        minus[:, s, d, i] -= eps
        fd = (loss(plus, b0) - loss(minus, b0)) / (2 * eps)
        assert fd == pytest.approx(g_alpha[s, d, i], rel=1e-5, abs=1e-8), (s, d, i)
    for s, j in ((1, 0), (3, 2)):
        plus, minus = b0.clone(), b0.clone()
        plus[:, s, j] += eps
        minus[:, s, j] -= eps
        fd = (loss(a0, plus) - loss(a0, minus)) / (2 * eps)
        assert fd == pytest.approx(g_beta[s, j], rel=1e-5, abs=1e-8), (s, j)


def test_imagenet_fast_gradients_equal_the_mixture():
    """The imagenet preset's channels, strides and SE widths (at 96x96 input to keep it quick)."""
    sp = get_space("imagenet")
    torch.manual_seed(6)
    net = randomize_bn(ElasticSupernet(sp, 20), seed=6)
    x, y = torch.randn(2, 3, 96, 96), torch.randint(20, (2,))
    sample = PathSample.uniform(sp, 2, torch.Generator().manual_seed(7))
    fast_a, fast_b = net.architecture_gradients(x, y, None, None, sample=sample)
    ref_a, ref_b = net.mixture_architecture_gradients(x, y, None, None, sample=sample)
    assert np.abs(fast_a - ref_a).max() <= 1e-4 * np.abs(ref_a).max()
    assert np.abs(fast_b - ref_b).max() <= 1e-4 * np.abs(ref_b).max()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gradients_and_multipath_forward():
    torch.manual_seed(8)
    net = randomize_bn(ElasticSupernet(TINY, 10), seed=8).cuda()
    x, y = torch.randn(8, 3, 32, 32, device="cuda"), torch.randint(10, (8,), device="cuda")
    sample = PathSample.uniform(TINY, 8, torch.Generator().manual_seed(9))
    fast_a, fast_b = net.architecture_gradients(x, y, None, None, sample=sample)
    ref_a, ref_b = net.mixture_architecture_gradients(x, y, None, None, sample=sample)
    # loose: cuDNN may run the convolutions in TF32; a wrong formula would be off by O(1)
    assert np.abs(fast_a - ref_a).max() <= 5e-3 * np.abs(ref_a).max()
    assert np.abs(fast_b - ref_b).max() <= 5e-3 * np.abs(ref_b).max()
    net.train()
    logits, features = net(x, sample, return_features=True)
    F.cross_entropy(logits, y).backward()
    assert logits.is_cuda and len(features) == TINY.num_stages + 3
