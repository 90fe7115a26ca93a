"""Resources as data: exact counts that match timm's models, a peak that is a maximum, bounds as constraints."""
import numpy as np
import pytest
import timm
import torch

from hardcore_nas import UsageError
from solvers import ConstraintSet, best_architecture
from supernet import Architecture, get_space, timm_arch_def
from supernet.timm_models import build_timm_model
from workers.resources import ResourceContext, build_resources, list_resources, register_resource
from workers.resources.registry import _PROVIDERS


def _resources(space, num_classes=10, tables=None):
    return build_resources(ResourceContext(space, num_classes, tables or {}))


def test_the_registry_lists_every_boundable_resource_and_latency_per_table():
    assert list_resources() == ["params", "macs", "peak_activation"]
    assert set(_resources(get_space("tiny"))) == {"params", "macs", "peak_activation"}


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="already registered"):
        register_resource("params")(lambda context: {})
    assert "params" in _PROVIDERS


@pytest.mark.parametrize("name", ["hardcorenas_a", "hardcorenas_f"])
def test_params_count_what_timm_builds(name):
    space = get_space("imagenet")
    arch = Architecture.from_arch_def(timm_arch_def(name), space)
    resources = _resources(space, 1000)
    assert resources["params"].value(arch) == sum(p.numel() for p in timm.create_model(name).parameters())
    macs = resources["macs"]
    assert macs.least() < macs.value(arch) < macs.model.largest()


def _measured_peak(model: torch.nn.Module, input_size: int) -> int:
    """Bytes alive at once, from the tensors of a real forward pass: each convolution's input and output,
    plus a block's input while its skip connection waits (BatchNorm folded, activations in place)."""
    sums, skips = [], [None]

    def enter(module, inputs):
        skips.append(inputs[0] if module.has_skip else None)

    def leave(module, inputs, output):
        skips.pop()

    def conv(module, inputs, output):
        kept = skips[-1]
        extra = kept.numel() if kept is not None and inputs[0] is not kept else 0
        sums.append(inputs[0].numel() + output.numel() + extra)

    for module in model.modules():
        if hasattr(module, "has_skip"):
            module.register_forward_pre_hook(enter)
            module.register_forward_hook(leave)
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(conv)
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, input_size, input_size))
    return 4 * max(sums)


def test_peak_activation_is_a_maximum_over_the_present_blocks():
    space = get_space("tiny")
    peak = _resources(space)["peak_activation"]
    light, heavy = Architecture.lightest(space), Architecture.heaviest(space)
    assert peak.least() <= peak.value(light) < peak.value(heavy)
    rng = np.random.default_rng(0)
    for arch in [light, heavy, *(Architecture.random(space, rng) for _ in range(3))]:
        # The maximum, not a sum: adding blocks never adds their peaks together.
        assert peak.value(arch) == pytest.approx(_measured_peak(build_timm_model(arch, 10), space.input_size))


def test_a_peak_bound_removes_the_options_that_exceed_it():
    space = get_space("tiny")
    resources = _resources(space)
    peak = resources["peak_activation"]
    light, heavy = peak.value(Architecture.lightest(space)), peak.value(Architecture.heaviest(space))
    bound = (light + heavy) / 2
    constraints = ConstraintSet([resources["params"].constraint(1e9), peak.constraint(bound)])
    credit_a = np.ones(constraints.alpha_shape) * np.arange(space.num_configs)     # prefers heavy options
    credit_b = np.ones(constraints.beta_shape) * np.arange(constraints.beta_shape[1])
    alpha, beta = best_architecture(constraints, credit_a, credit_b)
    arch = Architecture.from_one_hot(space, alpha, beta)
    assert peak.value(arch) <= bound < heavy
    with pytest.raises(UsageError, match="least any architecture reaches"):
        peak.constraint(peak.least() - 1)


def test_only_the_bounds_given_become_constraints():
    resources = _resources(get_space("tiny"))
    (only,) = [resources[name].constraint(5_000_000) for name in ["macs"]]
    assert only.resource is resources["macs"].model and only.bound == 5_000_000
