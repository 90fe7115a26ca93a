"""Fault injection inside a whole run: one of its Ray workers killed by SIGKILL (as a lost node ends it)
while the driver goes on. The run must finish by itself, with no ``--resume``, on the family of an
unbroken run: Ray restarts the gradient actor, runs the supernet task again (it resumes from its last
epoch) and Ray Tune retries the fine-tune trial from its checkpoint."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import pandas as pd
import pytest

from tests.faults.drivers import Driver, assert_nothing_running, prepare_cache, ray_pids
from tests.faults.report import record_fault
from tests.stores import store_client

pytestmark = [pytest.mark.slow, pytest.mark.fault_long]


@dataclass(frozen=True)
class Worker:
    name: str
    title: str          # the start of the process title Ray gives it (``ray::<task or actor>``)
    stage: str          # the driver's stage line once the worker can be there
    cache: str          # the cache the case starts from (see prepare_cache)
    marker: str = ""    # a file (glob under the cache or the run folder) that must exist before the kill


WORKERS = [
    Worker("supernet task during w*", "ray::train-supernet", "[2/8] supernet ...", "tables",
           "cache:supernet/*/epochs/w-star.safetensors"),
    Worker("gradient actor mid-search", "ray::GradientWorker", "[4/8] searches ...", "full"),
    Worker("fine-tune trial", "ray::ImplicitFunc", "[5/8] fine-tunes ...", "full",
           "out:tune/finetune/*/checkpoint_000000"),
]


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.name.split()[0])
def test_a_killed_worker_is_recovered_within_the_run(reference, unbroken_s, worker, tmp_path, repeat):
    root, config = reference
    cache, out = tmp_path / "cache", tmp_path / "out"
    prepare_cache(root, worker.cache, cache)
    config = {**config, "cache_dir": str(cache)}
    where, _, pattern = worker.marker.partition(":")

    def ready() -> bool:
        marked = not pattern or any((cache if where == "cache" else out).glob(pattern))
        return worker.stage in driver.log.read_text() and marked and bool(ray_pids(worker.title))

    driver = Driver.start(config, out)
    try:
        driver.wait_for(ready, worker.name)
        victim = ray_pids(worker.title)[0]
        os.kill(victim, signal.SIGKILL)
        wall = driver.finish()
    finally:
        driver.reap()

    family = pd.read_csv(out / "pareto.csv")
    unbroken = pd.read_csv(root / "reference" / "pareto.csv")
    assert list(family["arch"]) == list(unbroken["arch"])
    assert (family["predicted_ms"] <= family["target_ms"]).all()
    client = store_client(config["tracking"]["uri"])
    assert_nothing_running(client, client.get_experiment_by_name("faults").experiment_id)
    baseline = unbroken_s(worker.cache)
    record_fault(f"{worker.name} killed inside a whole run", f"SIGKILL to the `{worker.title}` process",
                 survived="the run finished by itself on the unbroken run's architectures",
                 extra_s=None if baseline is None else wall - baseline, lost="the work in flight")
