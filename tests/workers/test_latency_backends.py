"""Latency backends: the registry, profiles naming them, and ONNX Runtime's per-block times."""
import json
from pathlib import Path

import numpy as np
import pytest

from hardcore_nas.errors import UsageError
from supernet.arch import Architecture
from supernet.space import get_space
from supernet.timm_models import build_timm_model
from workers.backends import LatencyBackend, TimedNetwork, get_backend, list_backends, register_backend, registry
from workers.devices import DeviceProfile, get_profile
from workers.latency import Protocol, fingerprint, measure_networks
from workers.latency_table import LatencyTable

QUICK = Protocol(warmup=2, repeats=3, runs_per_visit=3, rewarm=1, contexts=1, networks_per_process=12,
                 redo_limit=0)
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_registry_names_the_builtin_backends():
    assert {"torch-cpu", "torch-cuda", "onnxruntime"} <= set(list_backends())
    assert get_backend("onnxruntime").name == "onnxruntime"
    with pytest.raises(UsageError, match="not one of .*onnxruntime.*torch-cpu"):
        get_backend("tflite")


def test_a_registered_backend_is_a_valid_profile_backend():
    with pytest.raises(UsageError, match="backend 'echo'"):
        DeviceProfile("echo-bs1", "echo")

    @register_backend("echo")
    class Echo(LatencyBackend):
        def load(self, model, example, blocks) -> TimedNetwork:
            raise NotImplementedError

    try:
        assert DeviceProfile("echo-bs1", "echo").backend == "echo"
        with pytest.raises(ValueError, match="already registered"):
            register_backend("echo")(type("Other", (Echo,), {}))
    finally:
        del registry._REGISTRY["echo"]


def test_ort_profiles():
    assert get_profile("ort-bs1") == DeviceProfile("ort-bs1", "onnxruntime", 1, 1)
    custom = get_profile({"name": "ort-bs4", "backend": "onnxruntime", "threads": 2, "batch_size": 4})
    assert custom.backend == "onnxruntime" and custom.batch_size == 4
    fp = fingerprint(custom)
    assert fp["onnxruntime"] and fp["execution_provider"] == "CPUExecutionProvider" and fp["threads"] == 2
    assert fp["torch"] and "gpu" in fp and "cpu" in fp


@pytest.mark.parametrize("path", sorted(RESULTS.glob("lut_*.json")), ids=lambda p: p.name)
def test_existing_tables_still_load(path):
    table = LatencyTable.load(path)
    table.search_space()
    assert table.profile.backend in list_backends()


def test_ort_segments_come_from_inside_the_whole_network():
    """Profiled ORT runs of a tiny network: one segment per block, summing to the run's wall time."""
    torch = pytest.importorskip("torch")
    space = get_space("tiny")
    arch = Architecture.heaviest(space)
    backend = get_backend("onnxruntime")(get_profile("ort-bs1"))
    backend.setup()
    x = torch.rand(1, space.in_chans, space.input_size, space.input_size)
    network = backend.load(build_timm_model(arch, 10), x, blocks=True)
    try:
        network.warmup(2, blocks=True)
        totals = network.totals(3)
        records = network.segments(3)
        segments = np.asarray(network.segment_times(records))
        assert segments.shape == (3, len(arch.blocks()) + 2) and (segments > 0).all()
        walls = np.asarray(network.walls_ms)[records]
        np.testing.assert_allclose(segments.sum(axis=1), walls, rtol=1e-9)   # the gap is shared, not lost
        assert len(totals) == 3 and min(totals) > 0
    finally:
        network.close()


def test_ort_networks_are_timed_in_fresh_processes():
    space = get_space("tiny")
    archs = [Architecture.lightest(space), Architecture.heaviest(space)]
    light, heavy = measure_networks(space, archs, get_profile("ort-bs1"), QUICK, 10, blocks=True)
    for arch, timing in zip(archs, (light, heavy)):
        assert np.asarray(timing.segments_ms).shape == (QUICK.repeats, len(arch.blocks()) + 2)
        assert len(timing.total_ms) == QUICK.repeats
        json.dumps(timing.segments_ms)            # plain floats: the child's result is JSON
    assert heavy.latency_ms(0.25) > light.latency_ms(0.25)


def test_a_config_names_an_ort_device_without_parser_changes():
    from orchestrator.config import parse_config

    config = parse_config({"devices": ["ort-bs1", {"name": "ort-bs4", "backend": "onnxruntime", "threads": 2,
                                                   "batch_size": 4}],
                           "targets": {"ort-bs1": [3.0], "ort-bs4": {"auto": 2}}})
    assert [d.backend for d in config.devices] == ["onnxruntime", "onnxruntime"]
    assert config.to_dict()["devices"][0] == "ort-bs1"
