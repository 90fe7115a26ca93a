"""Device profiles, the probe design, real measurements (local, on a labelled Ray node, on CUDA)."""
import numpy as np
import pytest

from hardcore_nas.errors import UsageError
from orchestrator.cli import main
from supernet.arch import Architecture
from supernet.space import block_key, get_space
from workers.devices import BUILTIN_PROFILES, DeviceProfile, get_profile
from workers.latency import Protocol, measure_networks, measure_table, probe_architectures
from workers.latency_table import LatencyTable
from workers.latency_validation import agreement

QUICK = Protocol(warmup=2, repeats=3, runs_per_visit=3, rewarm=1, contexts=1,
                 networks_per_process=12, redo_limit=0)


# --- device profiles ---------------------------------------------------------------------------
def test_builtin_profiles_and_labels():
    assert get_profile("cpu-bs1") == DeviceProfile("cpu-bs1", "torch-cpu", 1, 1)
    bs8 = get_profile("cpu-bs8")
    assert bs8.batch_size == 8 and bs8.threads is None and bs8.resolved_threads() >= 1
    assert get_profile("cuda-bs64").backend == "torch-cuda"
    assert {p.resource_label for p in BUILTIN_PROFILES.values()} == {
        "device:cpu-bs1", "device:cpu-bs8", "device:cuda-bs64", "device:ort-bs1"}


def test_profiles_from_config_mappings():
    profile = get_profile({"name": "cpu-bs4", "threads": 2, "batch_size": 4})
    assert profile == DeviceProfile("cpu-bs4", "torch-cpu", 2, 4)
    assert profile == DeviceProfile.from_dict(profile.to_dict())
    for bad, match in [({"name": "x", "thread": 1}, "unknown keys"),
                       ({"name": "x", "backend": "tpu"}, "backend"),
                       ({"name": "x", "batch_size": 0}, "batch_size"),
                       ({"threads": 1}, "needs a 'name'")]:
        with pytest.raises(UsageError, match=match):
            get_profile(bad)


# --- probe design and figures ------------------------------------------------------------------
@pytest.mark.parametrize("contexts", [1, 3])
def test_probe_networks_hold_every_entry_in_enough_networks(contexts):
    space = get_space("imagenet")
    archs = probe_architectures(space, contexts, np.random.default_rng(0))
    networks_with = {key: 0 for key in space.latency_keys()}
    for arch in archs:
        for key in {block_key(space.slot(s, b).signature, cfg) for s, b, cfg in arch.blocks()}:
            networks_with[key] += 1
    assert min(networks_with.values()) >= contexts
    # the single-slot signatures (first block of a stage) bound the count from below
    assert len(archs) == contexts * space.num_configs


def test_agreement_figures():
    predicted = np.array([10.0, 20.0, 30.0, 40.0])
    exact = agreement(predicted, predicted)
    assert exact["ratio"] == pytest.approx(1) and exact["r2"] == pytest.approx(1)
    assert exact["mape_pct"] == 0 and exact["within_10_pct"] == 100
    slow = agreement(predicted, 1.2 * predicted)
    assert slow["ratio"] == pytest.approx(1.2) and slow["within_10_pct"] == 0
    assert slow["mape_pct"] == pytest.approx(100 * 0.2 / 1.2)
    mixed = agreement(predicted, predicted * np.array([1.05, 0.85, 1.0, 1.0]))
    assert mixed["within_10_pct"] == 75 and mixed["max_ape_pct"] == pytest.approx(100 * 0.15 / 0.85)


# --- real measurements -------------------------------------------------------------------------
def test_blocks_are_timed_inside_whole_networks():
    space = get_space("tiny")
    archs = [Architecture.lightest(space), Architecture.heaviest(space)]
    light, heavy = measure_networks(space, archs, get_profile("cpu-bs1"), QUICK, 10, blocks=True)
    for arch, timing in ((archs[0], light), (archs[1], heavy)):
        segments = np.asarray(timing.segments_ms)      # front, one per block, back
        assert segments.shape == (QUICK.repeats, len(arch.blocks()) + 2) and (segments > 0).all()
        assert len(timing.total_ms) == QUICK.repeats
    assert heavy.latency_ms(0.25) > light.latency_ms(0.25)
    assert np.median(np.sum(heavy.segments_ms, axis=1)) > np.median(np.sum(light.segments_ms, axis=1))


def test_ray_tasks_measure_on_the_labelled_node(tmp_path):
    """The Ray path of both commands, on a local node labelled device:cpu-bs1."""
    ray = pytest.importorskip("ray")
    from workers.latency_tasks import measure_table_task

    space = get_space("tiny")
    ray.init(num_cpus=1, resources={"device:cpu-bs1": 1}, include_dashboard=False,
             log_to_driver=False)
    try:
        table = ray.get(measure_table_task(space, get_profile("cpu-bs1"), protocol=QUICK))
        address = ray.get_runtime_context().gcs_address
        table_path = tmp_path / "tiny.json"
        assert main(["lut", "--device", "cpu-bs1", "--space", "tiny", "--contexts", "1",
                     "--repeats", "2", "--address", address, "--out", str(table_path)]) == 0
        assert main(["validate-lut", "--lut", str(table_path), "--samples", "2", "--passes", "1",
                     "--address", address, "--out", str(tmp_path / "val")]) == 0
    finally:
        ray.shutdown()
    table.check_space(space)
    assert table.device_name == "cpu-bs1" and table.constant.median > 0
    assert table.profile.process == table.protocol["process"] == table.device["process"] == "plain"
    assert table.protocol["process_env"] == {}
    assert LatencyTable.load(table_path).protocol["repeats"] == 2
    assert (tmp_path / "val" / "validation.csv").exists()


@pytest.mark.gpu
def test_cuda_profile_measures_with_events():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    space = get_space("tiny")
    table = measure_table(space, get_profile("cuda-bs64"), QUICK)
    table.check_space(space)
    assert table.device["gpu"] and table.device["batch_size"] == 64
    assert all(e.median >= 0 for e in table.entries.values())
