"""A reduced real pipeline run makes Ray's autoscaler launch cluster.yaml's node types (scaled down, on
the fake multi-node provider) and remove them when idle; every latency measurement runs on a node
carrying its device's label.

Minutes long and it starts a dozen Ray processes: marked ``cluster``, left out of ``make test``, run by
``make cluster-test``, which also writes what it saw to benchmarks/results/cluster.md
(``HCN_CLUSTER_REPORT``). The fake cluster has its own temp dir and ports and is stopped by process id,
so other Ray instances on the machine are not touched.
"""
from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from orchestrator.cluster import FAKE_HEAD_TYPE, FakeCluster, fake_cluster_config, load_cluster_config, node_types_with
from orchestrator.config import load_config

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
RUN_CONFIG = ROOT / "configs" / "cluster-fake.yaml"
IDLE_TIMEOUT_MIN = 0.25
PLACED = re.compile(r"(\w+)\[([\w.-]+)\] on node ([0-9a-f]+) holding (device:[\w.-]+)=([\d.]+)")


def node_type(resources: dict, types: dict) -> str:
    """The fake node type whose CPU, GPU and device labels ``resources`` (a Ray node's) has, or
    ``unknown``."""
    def key(r: dict) -> tuple:
        return tuple(sorted((k, float(v)) for k, v in r.items()
                            if (k in ("CPU", "GPU") or k.startswith("device:")) and v))

    matches = [name for name, t in types.items() if key(t["resources"]) == key(resources)]
    return matches[0] if len(matches) == 1 else "unknown"


@dataclass
class NodeWatch:
    """Samples the cluster's live nodes (``ray.nodes()``) every ``interval`` seconds in a thread."""
    types: dict
    started: float
    interval: float = 0.5
    samples: list[tuple[float, dict[str, str]]] = field(default_factory=list)   # (t, {node id: type})
    resources: dict[str, dict] = field(default_factory=dict)                     # every node seen
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> dict[str, str]:
        import ray

        alive = {}
        for node in ray.nodes():
            self.resources[node["NodeID"]] = node["Resources"] or self.resources.get(node["NodeID"], {})
            if node["Alive"]:
                alive[node["NodeID"]] = node_type(node["Resources"], self.types)
        self.samples.append((time.monotonic() - self.started, alive))
        return alive

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()

    def counts(self) -> list[tuple[float, dict[str, int]]]:
        """The samples where the live nodes changed: (t, {type: count})."""
        out, previous = [], None
        for t, alive in self.samples:
            count = {name: list(alive.values()).count(name) for name in self.types}
            if count != previous:
                out.append((t, count))
                previous = count
        return out

    def launched(self) -> dict[str, int]:
        """How many nodes of each worker type were ever up."""
        seen: dict[str, str] = {}
        for _, alive in self.samples:
            seen.update(alive)
        return {name: list(seen.values()).count(name) for name in self.types if name != FAKE_HEAD_TYPE}


def run_pipeline(address: str, out: Path, started: float) -> tuple[int, list[tuple[float, str]]]:
    """``hardcore-nas run`` of the reduced config against the fake cluster; its output lines, timed."""
    env = {**os.environ, "RAY_DEDUP_LOGS": "0", "TQDM_DISABLE": "1"}
    command = [str(Path(sys.executable).with_name("hardcore-nas")), "run", "--config", str(RUN_CONFIG),
               "--address", address, "--out", str(out / "run")]
    lines: list[tuple[float, str]] = []
    proc = subprocess.Popen(command, cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        for line in proc.stdout:
            lines.append((time.monotonic() - started, line.rstrip()))
        return proc.wait(), lines
    finally:
        if proc.poll() is None:     # the test timed out: end the run before the cluster goes
            proc.kill()
            proc.wait()


def test_a_reduced_run_scales_the_fake_cluster_up_and_down(tmp_path):
    import ray

    cluster_config = load_cluster_config()
    types = fake_cluster_config(cluster_config, "unused:0")["available_node_types"]
    devices = load_config(RUN_CONFIG).devices
    started = time.monotonic()
    with FakeCluster(cluster_config, idle_timeout_minutes=IDLE_TIMEOUT_MIN) as cluster:
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            watch = NodeWatch(types, started)
            assert set(watch.sample().values()) == {FAKE_HEAD_TYPE}, "workers must start at zero"
            watch.start()
            rc, lines = run_pipeline(cluster.address, tmp_path, started)
            run_ended = time.monotonic() - started
            deadline = time.monotonic() + 6 * 60 * IDLE_TIMEOUT_MIN + 60
            while time.monotonic() < deadline and len(watch.samples[-1][1]) > 1:
                time.sleep(1)
            watch.stop()
            watch.sample()
        finally:
            ray.shutdown()
    assert rc == 0, "\n".join(text for _, text in lines[-60:])

    # Each fake node's log monitor reads the one shared log folder, so a worker's line can come
    # several times: one placement per distinct line.
    placements = list(dict.fromkeys(m.groups() for _, text in lines if (m := PLACED.search(text))))
    report = os.environ.get("HCN_CLUSTER_REPORT")
    if report:
        write_report(Path(report), watch, lines, placements, run_ended, time.monotonic() - started)

    assert all(kind != "unknown" for _, alive in watch.samples for kind in alive.values())
    launched = watch.launched()
    assert launched["gpu-worker"] >= 1, launched          # training, gradient actors, fine-tune
    assert launched["device-xeon"] >= 1, launched         # the latency table and the measurement
    assert launched["device-a10g"] == 0, launched         # no device of the run needs it
    assert max(len(alive) for _, alive in watch.samples) >= 2
    assert set(watch.samples[-1][1].values()) == {FAKE_HEAD_TYPE}, "idle workers must be removed"

    by_task = {}
    for task, device, node, label, held in placements:
        assert label == f"device:{device}" and float(held) == 1
        assert watch.resources[node].get(label, 0) >= 1, (task, node, watch.resources[node])
        assert node_type(watch.resources[node], types) in node_types_with(cluster_config, label)
        by_task.setdefault(task, []).append(device)
    assert sorted(by_task) == ["measure_networks", "measure_table"]
    assert all(sorted(found) == sorted(d.name for d in devices) for found in by_task.values()), by_task

    pareto = pd.read_csv(tmp_path / "run" / "pareto.csv")
    assert list(pareto["device"]) == [d.name for d in devices]
    assert all(math.isfinite(x) and x > 0 for x in pareto["measured_ms"])


def write_report(path: Path, watch: NodeWatch, lines, placements, run_ended: float, total: float) -> None:
    """benchmarks/results/cluster.md: node counts over time beside the pipeline's stage lines."""
    import ray

    from workers.latency import cpu_model

    workers = [name for name in watch.types if name != FAKE_HEAD_TYPE]
    events = [(t, "nodes", count) for t, count in watch.counts()]
    events += [(t, "run", text) for t, text in lines if re.match(r"\[\d+/\d+\]", text)]
    rows = []
    for t, kind, what in sorted(events, key=lambda e: e[0]):
        if kind == "nodes":
            rows.append(f"| {t:6.1f} | {sum(what.values())} | "
                        + " | ".join(str(what[n]) for n in workers) + " | |")
        else:
            rows.append(f"| {t:6.1f} | | " + " | ".join("" for _ in workers) + f" | {what} |")
    peak = max(len(alive) for _, alive in watch.samples)
    down = next((t for t, alive in watch.samples if t > run_ended and len(alive) == 1), float("nan"))
    text = [
        "# Autoscaling on Ray's fake multi-node provider (`make cluster-test`)",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, no GPU (the 2-core AMD EPYC VM); Python "
        f"{platform.python_version()}, Ray {ray.__version__}. Latest output of "
        "`tests/cluster/test_autoscaling.py`: cluster.yaml's node types scaled down to 1 CPU (and 1 "
        "logical GPU) each, device labels kept, head with CPU 0, workers at zero, idle timeout "
        f"{IDLE_TIMEOUT_MIN * 60:g} s; the run is `hardcore-nas run --config configs/cluster-fake.yaml "
        "--address <fake cluster>`.",
        "",
        f"- whole test {total:.0f} s; the pipeline run ended at {run_ended:.0f} s",
        f"- peak {peak} nodes (head included); nodes launched per type: "
        + ", ".join(f"{n} {c}" for n, c in watch.launched().items()),
        f"- back to the head alone at {down:.0f} s ({down - run_ended:.0f} s after the run ended)",
        "- latency measurements and the node each ran on: "
        + "; ".join(f"`{task}[{device}]` on {node_type(watch.resources[node], watch.types)} "
                    f"`{node}` holding `{label}={held}`"
                    for task, device, node, label, held in placements),
        "",
        "Node counts over time (t in s since the cluster started; a row per change) and the pipeline's "
        "stage lines:",
        "",
        "| t (s) | nodes | " + " | ".join(workers) + " | pipeline |",
        "|---:|---:|" + "---:|" * len(workers) + "---|",
        *rows,
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text))
