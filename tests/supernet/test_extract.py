"""Extraction of architectures as standalone timm models with weights sliced from the supernet."""
import numpy as np
import pytest
import timm
import torch
from timm.models import MobileNetV3

from supernet import Architecture, get_space, timm_arch_def
from supernet.elastic import ElasticSupernet
from supernet.extract import extract_subnet
from supernet.sampling import PathSample
from supernet.timm_models import build_timm_model
from tests.supernet.helpers import randomize_bn

CASES = [("tiny", 10, 6, 3), ("imagenet", 1000, 2, 1)]   # space, classes, architectures, batch


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return {name: randomize_bn(ElasticSupernet(get_space(name), nc), seed=7).eval()
            for name, nc, _, _ in CASES}


@pytest.mark.parametrize("name,num_classes,count,batch", CASES)
def test_extracted_subnet_equals_supernet_under_that_path(nets, name, num_classes, count, batch):
    net, sp = nets[name], get_space(name)
    rng = np.random.default_rng(11)
    archs = [Architecture.random(sp, rng) for _ in range(count - 1)] + [Architecture.lightest(sp)]
    x = torch.randn(batch, 3, sp.input_size, sp.input_size)
    for arch in archs:
        model = extract_subnet(net, arch)
        assert isinstance(model, MobileNetV3) and not model.training
        with torch.no_grad():
            diff = (net(x, PathSample.fixed(arch, batch)) - model(x)).abs().max().item()
        assert diff <= 1e-5, (str(arch), diff)
        # a plain timm model: its state dict loads strictly into a fresh build of the architecture
        build_timm_model(arch, num_classes).load_state_dict(model.state_dict(), strict=True)


def test_extraction_of_the_heaviest_after_load_heaviest_is_the_heaviest_model():
    sp = get_space("tiny")
    torch.manual_seed(1)
    heavy = randomize_bn(build_timm_model(Architecture.heaviest(sp), 10), seed=3).eval()
    net = ElasticSupernet(sp, 10)
    net.load_heaviest(heavy)
    model = extract_subnet(net.eval(), Architecture.heaviest(sp))
    theirs, ours = heavy.state_dict(), model.state_dict()
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), heavy(x))


def test_extraction_of_timm_hardcorenas_has_timms_parameter_count(nets):
    arch = Architecture.from_arch_def(timm_arch_def("hardcorenas_a"), "imagenet")
    model = extract_subnet(nets["imagenet"], arch)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) == count(timm.create_model("hardcorenas_a"))


def test_extraction_keeps_dtype_and_mode_and_refuses_other_spaces():
    sp = get_space("tiny")
    net = ElasticSupernet(sp, 10).double().train()
    model = extract_subnet(net, Architecture.lightest(sp))
    assert model.training and next(model.parameters()).dtype == torch.float64
    other = get_space("tiny", width_multiplier=1.5)
    with pytest.raises(ValueError, match="space"):
        extract_subnet(net, Architecture.lightest(other))


def test_batch_statistics_equal_an_extracted_subnet_recalibrated_on_the_same_images(nets):
    from supernet.training import recalibrate_bn

    net, sp = nets["tiny"], get_space("tiny")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calibration, x = torch.randn(16, 3, sp.input_size, sp.input_size), torch.randn(4, 3, sp.input_size, sp.input_size)
    for arch in (Architecture.heaviest(sp), Architecture.random(sp, np.random.default_rng(3))):
        model = recalibrate_bn(extract_subnet(net, arch), [(calibration, None)], num_batches=1)
        with torch.no_grad(), net.batch_statistics(calibration, PathSample.fixed(arch, 16)):
            inside = net(x, PathSample.fixed(arch, 4))
            assert not net.training
        with torch.no_grad():
            assert (inside - model(x)).abs().max().item() <= 2e-3      # float32 batch statistics
            assert (net(x, PathSample.fixed(arch, 4)) - model(x)).abs().max().item() > 5e-2   # training's stats
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)          # restored on exit
