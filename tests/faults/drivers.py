"""``hardcore-nas run`` as a user starts it, in a process of its own that a test can kill."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestrator.config import parse_config
from tests.stores import own_store


def fault_config(root: Path, cache: Path) -> dict:
    """Small enough for minutes, with two epochs in w* and in the fine-tunes so that kills can land inside
    them; one tracking store for every case."""
    return parse_config({
        "name": "faults",
        "devices": ["cpu-bs1"],
        "targets": {"cpu-bs1": {"auto": 2}},
        "training": {"heaviest": {"epochs": 1}, "supernet": {"epochs": 2}, "finetune": {"epochs": 2}},
        "search": {"steps": 20, "batch_size": 8},
        # the same family on every resume needs no closed loop (its rounds follow measurement noise)
        "latency": {"protocol": {"contexts": 1, "repeats": 3, "warmup": 2, "runs_per_visit": 3,
                                 "networks_per_process": 40},
                    "retries": 0},
        "tracking": own_store(root, "faults"),
        "cache_dir": str(cache),
    }).to_dict()


@dataclass
class Driver:
    """``hardcore-nas run`` in a process session of its own, its output in ``log``."""
    process: subprocess.Popen
    log: Path
    started: float          # time.perf_counter() at its start

    @classmethod
    def start(cls, config: dict, out: Path, *flags: str) -> Driver:
        path = out.with_suffix(".yaml")
        path.write_text(yaml.safe_dump(config))
        log = out.with_name(f"{out.name}{'-resume' if flags else ''}.log")
        with log.open("w") as f:
            # Unbuffered: the kill triggers read the output as it is written.
            env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
            process = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "run", "--config", str(path),
                                        "--out", str(out), *flags], stdout=f, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
        return cls(process, log, time.perf_counter())

    def finish(self, timeout_s: float = 900) -> float:
        """Wait for a successful end; its wall time since it started."""
        try:
            code = self.process.wait(timeout=timeout_s)
        finally:
            self.reap()
        assert code == 0, self.log.read_text()[-3000:]
        return time.perf_counter() - self.started

    def wait_for(self, condition, what: str, timeout_s: float = 600) -> float:
        """Poll ``condition()`` while the run goes on; the seconds until it held."""
        started = time.monotonic()
        while not condition():
            assert self.process.poll() is None, f"the run ended before {what} could be interrupted"
            assert time.monotonic() - started < timeout_s, f"{what} never started"
            time.sleep(0.05)
        return time.monotonic() - started

    def reap(self) -> None:
        """Whatever the driver left in its session (Ray's agents outlive a killed driver for minutes)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def prepare_cache(root: Path, kind: str, cache: Path) -> None:
    """A case's starting cache: ``empty``, ``tables`` (the unbroken run's, without the supernet) or ``full``."""
    if kind == "empty":
        return
    shutil.copytree(root / "cache", cache)
    if kind == "tables":
        shutil.rmtree(cache / "supernet")


def assert_nothing_running(client, experiment_id: str) -> None:
    running = client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    assert not running, [r.info.run_name for r in running]


def ray_pids(title: str) -> list[int]:
    """Processes whose title starts with ``title``: Ray names a worker ``ray::<task or actor>`` while it runs."""
    found = subprocess.run(["pgrep", "-f", f"^{title}"], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]

