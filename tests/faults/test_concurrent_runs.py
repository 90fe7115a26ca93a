"""Two ``hardcore-nas run`` at once on one machine, sharing one cache and one tracking store: both finish,
the latency table and the supernet are computed once (the other run waits on the entry's lock and reads
what the first wrote), and each run registers its own members."""
import pandas as pd
import pytest

from tests.faults.drivers import Driver, fault_config
from tests.faults.report import record_fault
from tests.stores import store_client

pytestmark = [pytest.mark.slow, pytest.mark.fault_long]


def _reused(report: str) -> str:
    return report.split("## Reused")[1].split("##")[0]


def test_two_runs_sharing_cache_and_store_both_finish_and_compute_each_entry_once(tmp_path):
    config = fault_config(tmp_path, tmp_path / "cache")
    drivers = [Driver.start(config, tmp_path / name) for name in ("one", "two")]
    wall = [driver.finish() for driver in drivers]

    assert len(list((tmp_path / "cache" / "tables").iterdir())) == 1
    assert len(list((tmp_path / "cache" / "supernet").iterdir())) == 1
    reports = [(tmp_path / name / "report.md").read_text() for name in ("one", "two")]
    for what in ("latency table of cpu-bs1", "supernet (w-bar, w*)"):
        assert sum(what in _reused(r) for r in reports) == 1, what        # one computed, the other reused
    families = [pd.read_csv(tmp_path / name / "pareto.csv") for name in ("one", "two")]
    assert list(families[0]["arch"]) == list(families[1]["arch"])      # same table, supernet and seeds

    client = store_client(config["tracking"]["uri"])
    name = families[0]["model_uri"][0].removeprefix("models:/").split("@")[0]
    assert len(client.search_model_versions(f"name = '{name}'")) == sum(len(f) for f in families)
    experiment = client.get_experiment_by_name("faults").experiment_id
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
    record_fault("two runs at once sharing `runs/cache` and `mlflow.db`", "two `hardcore-nas run` started together",
                  survived=f"both finished ({wall[0]:.0f} s and {wall[1]:.0f} s wall); table and supernet computed "
                          "once (the other run waited on the lock); each run registered its own members",
                 extra_s=None, lost="nothing")
