"""Parameter and MAC counts as resource models: their params match timm's models, bounds become constraints."""
import pytest
import timm

from supernet import Architecture, get_space, timm_arch_def
from workers.counts import count_constraints, count_models


@pytest.mark.parametrize("name", ["hardcorenas_a", "hardcorenas_f"])
def test_the_params_model_counts_what_timm_builds(name):
    space = get_space("imagenet")
    arch = Architecture.from_arch_def(timm_arch_def(name), space)
    models = count_models(space, 1000)
    assert set(models) == {"params", "macs"}
    timm_params = sum(p.numel() for p in timm.create_model(name).parameters())
    assert models["params"].evaluate(*arch.to_one_hot()) == timm_params
    assert models["macs"].least() < models["macs"].evaluate(*arch.to_one_hot()) < models["macs"].largest()


def test_only_the_bounds_given_become_constraints():
    models = count_models(get_space("tiny"), 10)
    assert count_constraints(models) == []
    (only,) = count_constraints(models, max_macs=5_000_000)
    assert only.resource is models["macs"] and only.bound == 5_000_000
    assert [c.resource.name for c in count_constraints(models, 400_000, 5_000_000)] == ["params", "macs"]
