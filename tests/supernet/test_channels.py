"""Taylor channel ordering of w-bar: the network computes the same, and its channels end up sorted."""
import pytest
import torch

from supernet import Architecture, ElasticSupernet, get_space
from supernet.channels import reorder_channels, taylor_importance
from supernet.sampling import PathSample
from supernet.timm_models import build_timm_model

from .helpers import randomize_bn

SPACE = get_space("tiny")


def _heaviest(seed: int):
    torch.manual_seed(seed)
    return randomize_bn(build_timm_model(Architecture.heaviest(SPACE), 10), seed=seed).eval()


def _batches(seed: int, n: int = 3):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 3, 32, 32, generator=g), torch.randint(10, (8,), generator=g)) for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1])
def test_reordering_keeps_the_function_and_sorts_every_block(seed):
    model, batches = _heaviest(seed), _batches(seed)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
    pw_before = [b.conv_pw.weight.clone() for stage in model.blocks[1:-1] for b in stage]
    reorder_channels(model, SPACE, batches)
    with torch.no_grad():
        assert torch.allclose(model(x), before, atol=1e-5)
    pw_after = [b.conv_pw.weight for stage in model.blocks[1:-1] for b in stage]
    assert any(not torch.equal(a, b) for a, b in zip(pw_before, pw_after))      # something moved
    for mid, se in taylor_importance(model, SPACE, batches):
        for score in (mid, se):
            assert torch.all(score[:-1] >= score[1:] - 1e-6 * score.max())


def test_a_supernet_from_the_reordered_heaviest_keeps_its_heaviest_path():
    model = reorder_channels(_heaviest(2), SPACE, _batches(2))
    net = ElasticSupernet(SPACE, 10)
    net.load_heaviest(model)
    net.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x, PathSample.heaviest(SPACE, 4)), model(x), atol=1e-5)
