"""The Ray cluster: ``cluster.yaml`` checked by Ray's own validation, the device labels its node types
carry, and the same node types scaled down on Ray's fake multi-node provider.

The fake provider makes each "node" a set of Ray processes on this machine, launched and removed by
the real autoscaler, so a run's scale-up and scale-down can be watched locally. :class:`FakeCluster`
gives it its own temp dir and ports and never runs ``ray stop``: it ends only the processes it
started, and other Ray instances on the machine are left alone.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from hardcore_nas import UsageError, packaged_file
from workers.devices import DeviceProfile

__all__ = ["CLUSTER_YAML", "FAKE_HEAD_TYPE", "load_cluster_config", "validate_cluster_config",
           "node_types_with", "devices_without_nodes", "fake_cluster_config", "FakeCluster"]

CLUSTER_YAML = packaged_file("cluster.yaml")
FAKE_HEAD_TYPE = "ray.head.default"     # the fake provider names the head's node type so

# Everything the fake provider needs in a cluster config (Ray's wheel lacks its example file).
_FAKE_BASE = {
    "cluster_name": "fake-hardcore-nas",
    "upscaling_speed": 1.0,
    "docker": {},
    "auth": {},
    "head_node_type": FAKE_HEAD_TYPE,
    "file_mounts": {},
    "cluster_synced_files": [],
    "file_mounts_sync_continuously": False,
    "rsync_exclude": [],
    "rsync_filter": [],
    "initialization_commands": [],
    "setup_commands": [],
    "head_setup_commands": [],
    "worker_setup_commands": [],
    "head_start_ray_commands": [],
    "worker_start_ray_commands": [],
}


def load_cluster_config(path: str | Path = CLUSTER_YAML) -> dict:
    """A cluster launcher config as a plain dict."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"cluster config {path} does not exist; the repository's is {CLUSTER_YAML}")
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict) or not isinstance(config.get("available_node_types"), dict):
        raise UsageError(f"cluster config {path} has no 'available_node_types' mapping")
    return config


def validate_cluster_config(config: dict) -> dict:
    """Ray's own checks of a cluster config, the ones ``ray up`` makes before it contacts the cloud:
    the provider's defaults filled in, then the schema and the node-type rules. Returns the filled-in
    config; raises what Ray raises (``jsonschema.ValidationError``, ``ValueError``)."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def node_types_with(config: dict, resource: str) -> list[str]:
    """The worker node types of ``config`` that offer ``resource`` (e.g. ``device:xeon-bs1``)."""
    return [name for name, node in config["available_node_types"].items()
            if name != config.get("head_node_type") and node.get("resources", {}).get(resource, 0) > 0]


def devices_without_nodes(config: dict, devices: Iterable[DeviceProfile]) -> list[str]:
    """The device profiles no worker node type of ``config`` carries the label of: their latency
    probes would wait forever on that cluster."""
    return [d.name for d in devices if not node_types_with(config, d.resource_label)]


def fake_cluster_config(config: dict, gcs_address: str, *, idle_timeout_minutes: float = 0.25,
                        object_store_bytes: int = 128 * 2**20) -> dict:
    """``config``'s node types on the fake multi-node provider, scaled down to fit a small machine.

    Every worker type keeps its custom resources (the device labels), offers at most 1 CPU and 1 GPU
    (a fake node's GPU is a logical resource: what lands there runs on the CPU) and may run one node;
    none starts with the cluster. The head keeps its own resources (``CPU: 0`` in ``cluster.yaml``).
    """
    def scaled(resources: dict) -> dict:
        out = {k: min(v, 1) if k in ("CPU", "GPU") else v for k, v in resources.items()}
        return {**out, "object_store_memory": object_store_bytes}

    head = config["available_node_types"][config["head_node_type"]]
    types = {FAKE_HEAD_TYPE: {"resources": dict(head.get("resources", {})), "node_config": {},
                              "max_workers": 0}}
    for name, node in config["available_node_types"].items():
        if name != config["head_node_type"]:
            types[name] = {"resources": scaled(node.get("resources", {})), "node_config": {},
                           "min_workers": 0, "max_workers": min(node.get("max_workers", 1), 1)}
    return {
        **copy.deepcopy(_FAKE_BASE),
        "max_workers": len(types) - 1,
        "idle_timeout_minutes": idle_timeout_minutes,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                     "disable_launch_config_check": True, "gcs_address": gcs_address},
        "available_node_types": types,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class FakeCluster:
    """A local autoscaling Ray cluster of ``cluster.yaml``'s node types (see :func:`fake_cluster_config`).

    ``with FakeCluster(config) as cluster:`` starts the head (the autoscaler with it) and gives
    ``cluster.address`` for ``ray.init`` or ``hardcore-nas run --address``; leaving the block ends
    every process whose command line names this cluster's temp dir, and nothing else.
    """

    def __init__(self, config: dict, **scale):
        self.config = config
        self.scale = scale
        self.temp_dir = ""
        self.address = ""

    def start(self) -> str:
        from ray._private.services import get_node_ip_address

        # Short: Ray's socket paths under it must stay within the 107-character limit.
        self.temp_dir = tempfile.mkdtemp(prefix="hcn-fake-", dir="/tmp")
        port = _free_port()
        self.address = f"{get_node_ip_address()}:{port}"
        autoscaling = fake_cluster_config(self.config, self.address, **self.scale)
        path = Path(self.temp_dir, "autoscaling.json")
        path.write_text(json.dumps(autoscaling))
        head = dict(autoscaling["available_node_types"][FAKE_HEAD_TYPE]["resources"])
        command = [str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={port}",
                   f"--temp-dir={self.temp_dir}", f"--dashboard-port={_free_port()}",
                   f"--dashboard-agent-listen-port={_free_port()}",
                   f"--num-cpus={head.pop('CPU', 0)}", f"--num-gpus={head.pop('GPU', 0)}",
                   f"--object-store-memory={self.scale.get('object_store_bytes', 128 * 2**20)}",
                   "--include-dashboard=false", "--disable-usage-stats", f"--autoscaling-config={path}"]
        if head:
            command.append(f"--resources={json.dumps(head)}")
        env = {**os.environ, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
        try:
            subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            self.stop()
            raise RuntimeError(f"ray start --head failed:\n{exc.stderr[-3000:]}") from None
        return self.address

    def processes(self) -> list[int]:
        """Ids of the live processes of this cluster: those whose command line names its temp dir
        (GCS, raylets, autoscaler, ...) and their descendants (agents and workers rename themselves)."""
        if not self.temp_dir:
            return []
        children: dict[int, list[int]] = {}
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes()
                state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except (OSError, ValueError):
                continue
            if state == "Z":        # ended, not yet reaped by its parent
                continue
            parent = int(parent)
            children.setdefault(parent, []).append(int(entry.name))
            if self.temp_dir.encode() in command:
                found.append(int(entry.name))
        pending, result = list(found), set()
        while pending:
            pid = pending.pop()
            if pid not in result and pid != os.getpid():
                result.add(pid)
                pending += children.get(pid, [])
        return sorted(result)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM to this cluster's processes, SIGKILL to those still there after ``grace_s``; then
        the temp dir (logs included) goes."""
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
            pids = self.processes()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while pids and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = self.processes()
            if not pids:
                break
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> FakeCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
