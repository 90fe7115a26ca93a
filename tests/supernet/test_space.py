import numpy as np
import pytest
import timm
import torch

from hardcore_nas import UsageError
from supernet import Architecture, get_space, list_spaces, timm_arch_def
from supernet.costs import mac_costs, param_costs
from supernet.timm_models import build_timm_model

HARDCORENAS = [f"hardcorenas_{x}" for x in "abcdef"]


def test_presets_listed_and_unknown_refused():
    assert {"imagenet", "tiny"} <= set(list_spaces())
    with pytest.raises(ValueError, match="unknown search space"):
        get_space("nope")


def test_imagenet_preset_matches_the_paper():
    sp = get_space("imagenet")
    assert [st.channels for st in sp.stages] == [24, 40, 80, 112, 192]
    assert [st.stride for st in sp.stages] == [2, 2, 2, 1, 2]
    assert [st.act for st in sp.stages] == ["relu", "relu"] + ["hard_swish"] * 3
    assert sp.num_configs == 12 and sp.depths == (2, 3, 4)
    assert sp.configs[0] == (3, 3, False) and sp.configs[11] == (6, 5, True)
    assert sp.final_size == 7
    assert len(sp.signatures()) == 10 and len(sp.latency_keys()) == 120


@pytest.mark.parametrize("name", HARDCORENAS)
def test_timm_hardcorenas_round_trip_and_param_count(name):
    arch_def = timm_arch_def(name)
    arch = Architecture.from_arch_def(arch_def, "imagenet")
    assert arch.to_arch_def() == arch_def
    assert Architecture.from_string(str(arch), "imagenet") == arch
    ours = build_timm_model(arch, num_classes=1000)
    theirs = timm.create_model(name)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(ours) == count(theirs)
    blocks, const = param_costs(arch.space, 1000)
    predicted = const + sum(blocks[s, b, arch.space.config_index(c)] for s, b, c in arch.blocks())
    assert predicted == count(theirs)


@pytest.mark.parametrize("space", ["imagenet", "tiny"])
def test_random_architectures_round_trip(space):
    sp, rng = get_space(space), np.random.default_rng(0)
    for _ in range(50):
        arch = Architecture.random(sp, rng)
        assert Architecture.from_string(str(arch), sp) == arch
        alpha, beta = arch.to_one_hot()
        assert Architecture.from_one_hot(sp, alpha, beta) == arch


@pytest.mark.parametrize("space", ["imagenet", "tiny"])
def test_exact_params_and_macs(space):
    from torch.utils.flop_counter import FlopCounterMode

    sp, rng = get_space(space), np.random.default_rng(1)
    pb, pc = param_costs(sp, 10)
    mb, mc = mac_costs(sp, 10)
    for _ in range(3):
        arch = Architecture.random(sp, rng)
        model = build_timm_model(arch, 10).eval()
        idx = [(s, b, sp.config_index(c)) for s, b, c in arch.blocks()]
        assert pc + sum(pb[i] for i in idx) == sum(p.numel() for p in model.parameters())
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, sp.input_size, sp.input_size))
        assert mc + sum(mb[i] for i in idx) == counter.get_total_flops() / 2


def test_width_multiplier_scales_channels_and_keeps_strings_valid():
    sp = get_space("tiny", width_multiplier=1.5)
    assert sp.stages[0].channels == 24 and sp.width_multiplier == 1.5
    assert sp.hash != get_space("tiny").hash
    arch = Architecture.heaviest(sp)
    model = build_timm_model(arch, 10)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_bad_strings_are_refused_with_a_reason():
    arch_def = timm_arch_def("hardcorenas_a")
    with pytest.raises(ValueError, match="first and last stages"):
        Architecture.from_arch_def(arch_def, "tiny")
    wrong_channels = [list(st) for st in arch_def]
    wrong_channels[2][1] = wrong_channels[2][1].replace("c40", "c48")
    with pytest.raises(ValueError, match="c must be 40"):
        Architecture.from_arch_def(wrong_channels, "imagenet")
    arch_def[1][0] = arch_def[1][0].replace("e3", "e5")
    with pytest.raises(ValueError, match="not a configuration"):
        Architecture.from_arch_def(arch_def, "imagenet")
    with pytest.raises(ValueError):
        Architecture.from_string("not a list")
    assert issubclass(UsageError, ValueError)
