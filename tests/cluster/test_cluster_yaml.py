"""cluster.yaml passes Ray's own validation, and every device and request of the cluster run configs
has a node type the autoscaler can launch for it (fast: no Ray processes)."""
import copy
from pathlib import Path

import jsonschema
import pytest

from hardcore_nas.errors import UsageError
from orchestrator.cluster import (
    FAKE_HEAD_TYPE,
    devices_without_nodes,
    fake_cluster_config,
    load_cluster_config,
    node_types_with,
    validate_cluster_config,
)
from orchestrator.config import load_config
from workers.devices import DeviceProfile

CLUSTER_RUNS = sorted(Path(__file__).resolve().parents[2].glob("configs/cluster-*.yaml"))


@pytest.fixture(scope="module")
def cluster():
    return load_cluster_config()


def test_cluster_yaml_passes_rays_validation(cluster):
    prepared = validate_cluster_config(cluster)
    assert prepared["provider"]["type"] == "aws"
    head = prepared["available_node_types"][prepared["head_node_type"]]
    assert head["resources"]["CPU"] == 0 and head["max_workers"] == 0
    workers = {n: t for n, t in prepared["available_node_types"].items() if n != prepared["head_node_type"]}
    assert all(t["min_workers"] == 0 for t in workers.values())
    assert prepared["max_workers"] > 0 and prepared["idle_timeout_minutes"] > 0


def test_rays_validation_rejects_a_misspelt_key(cluster):
    broken = copy.deepcopy(cluster)
    broken["available_node_types"]["gpu-worker"]["max_wokers"] = 2
    with pytest.raises(jsonschema.ValidationError, match="max_wokers"):
        validate_cluster_config(broken)


def test_each_device_label_is_on_its_own_node_type(cluster):
    labels = {name: [r for r in t.get("resources", {}) if r.startswith("device:")]
              for name, t in cluster["available_node_types"].items()}
    assert labels["device-xeon"] == ["device:xeon-bs1"]
    assert labels["device-a10g"] == ["device:a10g-bs64"]
    assert labels["head"] == labels["gpu-worker"] == []
    # Training asks for GPUs: a device node that offered one could get training beside a probe.
    assert all(cluster["available_node_types"][n]["resources"].get("GPU", 0) == 0
               for n, found in labels.items() if found)


def test_cluster_run_configs_exist():
    assert {p.name for p in CLUSTER_RUNS} >= {"cluster-aws.yaml", "cluster-fake.yaml"}


def _target_cluster(path: Path, cluster: dict) -> dict:
    """The node types a cluster run config is for: the fake, scaled-down ones for cluster-fake.yaml."""
    return fake_cluster_config(cluster, "127.0.0.1:1") if path.name == "cluster-fake.yaml" else cluster


@pytest.mark.parametrize("path", CLUSTER_RUNS, ids=lambda p: p.name)
def test_every_device_of_a_cluster_run_has_a_labelled_node_type(cluster, path):
    run, target = load_config(path), _target_cluster(path, cluster)
    assert run.ray_address is not None
    assert devices_without_nodes(target, run.devices) == []
    for profile in run.devices:
        for name in node_types_with(target, profile.resource_label):
            # A probe asks for its label and `threads` CPUs (workers.latency_tasks.on_device).
            assert target["available_node_types"][name]["resources"]["CPU"] >= (profile.threads or 1)


@pytest.mark.parametrize("path", CLUSTER_RUNS, ids=lambda p: p.name)
def test_every_request_of_a_cluster_run_fits_a_training_node_type(cluster, path):
    run, target = load_config(path), _target_cluster(path, cluster)
    training_types = [t["resources"] for n, t in target["available_node_types"].items()
                      if n != target["head_node_type"] and not any(r.startswith("device:") for r in t["resources"])]
    for kind in ("supernet", "gradient_worker", "finetune"):
        request = getattr(run.resources, kind)
        assert any(r.get("CPU", 0) >= request.cpus and r.get("GPU", 0) >= request.gpus
                   for r in training_types), kind


def test_devices_without_nodes_names_the_unlabelled_device(cluster):
    devices = [DeviceProfile("xeon-bs1"), DeviceProfile("arm-bs1")]
    assert devices_without_nodes(cluster, devices) == ["arm-bs1"]


def test_fake_config_keeps_the_labels_and_scales_the_workers_down(cluster):
    fake = fake_cluster_config(cluster, "127.0.0.1:6390", idle_timeout_minutes=0.2)
    from ray.autoscaler._private.util import validate_config

    validate_config(fake)
    assert fake["provider"]["type"] == "fake_multinode"
    assert fake["provider"]["gcs_address"] == "127.0.0.1:6390"
    types = fake["available_node_types"]
    assert set(types) == {FAKE_HEAD_TYPE} | set(cluster["available_node_types"]) - {cluster["head_node_type"]}
    assert types[FAKE_HEAD_TYPE]["resources"] == {"CPU": 0}
    for name, node in types.items():
        if name == FAKE_HEAD_TYPE:
            continue
        original = cluster["available_node_types"][name]["resources"]
        assert node["min_workers"] == 0 and node["max_workers"] == 1
        assert node["resources"]["CPU"] == min(original["CPU"], 1)
        assert node["resources"].get("GPU", 0) == min(original.get("GPU", 0), 1)
        assert {k: v for k, v in node["resources"].items() if k.startswith("device:")} == \
            {k: v for k, v in original.items() if k.startswith("device:")}


def test_a_missing_cluster_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_cluster_config(tmp_path / "cluster.yaml")
