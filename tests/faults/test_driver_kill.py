"""Fault injection: the driver (``hardcore-nas run``) killed by SIGKILL in each stage, then ``--resume``.

Every case runs the real command line in its own process session, kills the driver's process by PID when
its stage is under way (read from the driver's output and the files it writes), runs ``--resume`` in the
same folder, and checks what a user would: the family is complete and the same as an unbroken run's (same
architectures; the searches are seeded and the supernet resumes bit for bit), the registry holds one
version per member, and no MLflow run is left RUNNING. A kill in the latency-table stage measures the
table again (a new sample of a noisy measurement), so that case checks completion, not equality.

``make test`` runs three cases (the supernet and the fine-tunes, which resume from their last epoch, and the
registry); ``make fault-test`` runs them all.
"""
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.faults.drivers import Driver, assert_nothing_running, prepare_cache
from tests.faults.report import record_fault
from tests.stores import store_client

pytestmark = pytest.mark.slow

@dataclass(frozen=True)
class Case:
    stage: str
    trigger: Callable[[Path, Path, str], bool]     # (out, cache, driver output so far) -> kill now
    cache: str          # the cache it starts from: "empty", "tables" (no supernet) or "full"
    same_family: bool = True


def _after(line: str, seconds: float) -> Callable[[Path, Path, str], bool]:
    seen: dict[str, float] = {}

    def trigger(out: Path, cache: Path, text: str) -> bool:
        if line in text:
            seen.setdefault(line, time.monotonic())
            return time.monotonic() - seen[line] >= seconds
        return False
    return trigger


def _exists(pattern: str, under: str) -> Callable[[Path, Path, str], bool]:
    return lambda out, cache, text: any((cache if under == "cache" else out).glob(pattern))


CASES = [
    pytest.param(Case("latency tables", _after("[1/8] latency tables ...", 3), "empty", same_family=False),
                 marks=pytest.mark.fault_long, id="latency-tables"),
    pytest.param(Case("supernet (during w*)", _exists("supernet/*/epochs/w-star.safetensors", "cache"), "tables"),
                 id="supernet"),
    pytest.param(Case("searches", _after("[4/8] searches ...", 4), "full"),
                 marks=pytest.mark.fault_long, id="searches"),
    pytest.param(Case("fine-tunes", _exists("finetune-epochs/*/progress.json", "out"), "full"), id="fine-tunes"),
    pytest.param(Case("measurement", _after("[6/8] measurement ...", 2), "full"),
                 marks=pytest.mark.fault_long, id="measurement"),
    pytest.param(Case("registry and report", _after("Created version", 0), "full"), id="registry"),
]


@pytest.mark.parametrize("case", CASES)
def test_a_killed_driver_resumes_to_the_same_family(reference, unbroken_s, case, tmp_path, repeat):
    root, config = reference
    cache, out = tmp_path / "cache", tmp_path / "out"
    prepare_cache(root, case.cache, cache)
    config = {**config, "cache_dir": str(cache)}
    driver = Driver.start(config, out)
    try:
        ran_s = driver.wait_for(lambda: case.trigger(out, cache, driver.log.read_text()), case.stage)
        os.kill(driver.process.pid, signal.SIGKILL)
        driver.process.wait()
    finally:
        driver.reap()
    resumed_s = Driver.start(config, out, "--resume").finish()

    family = pd.read_csv(out / "pareto.csv")
    assert (family["predicted_ms"] <= family["target_ms"]).all()
    if case.same_family:
        unbroken = pd.read_csv(root / "reference" / "pareto.csv")
        assert list(family["target_ms"]) == list(unbroken["target_ms"])
        assert list(family["arch"]) == list(unbroken["arch"])

    client = store_client(config["tracking"]["uri"])
    parent = json.loads((out / "state.json").read_text())["parent_run_id"]
    names = {uri.removeprefix("models:/").split("@")[0] for uri in family["model_uri"]}
    versions = [v for name in names
                for v in client.search_model_versions(f"name = '{name}' and tags.pipeline_run_id = '{parent}'")]
    assert sorted(v.tags["member"] for v in versions) == sorted(
        f"{d}@{t:g}ms" for d, t in zip(family["device"], family["target_ms"]))     # one version per member
    experiment = client.get_experiment_by_name("faults").experiment_id
    assert_nothing_running(client, experiment)

    nested = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=1000)
    unbroken = unbroken_s(case.cache)
    record_fault(f"driver SIGKILL during {case.stage}",
                 "`os.kill(driver, SIGKILL)` once the stage is under way, then `hardcore-nas run --resume`",
                 survived=("family complete" + (", the same architectures and targets" if case.same_family
                                                else " (the table measured again)")
                           + f", {len(versions)} registry versions for {len(family)} members, no run RUNNING "
                           + f"({sum(r.info.status == 'KILLED' for r in nested)} interrupted nested runs "
                           + "ended as KILLED)"),
                 extra_s=None if unbroken is None else ran_s + resumed_s - unbroken,
                 lost="nothing" if case.same_family else "the half-measured table")
