"""Fault-injection tests: an unbroken run the cases compare with, and their findings, written to
``$HCN_FAULTS_REPORT`` at the end of the session."""
import os

import pytest

from tests.faults.drivers import Driver, fault_config, prepare_cache
from tests.faults.report import write_report


def pytest_generate_tests(metafunc):
    """Kills inside whole runs (driver, workers) run ``$HCN_FAULT_REPEATS`` times each (default once;
    ``make fault-test`` runs them twice)."""
    if "repeat" in metafunc.fixturenames:
        metafunc.parametrize("repeat", range(int(os.environ.get("HCN_FAULT_REPEATS", "1"))),
                             ids=lambda i: f"try{i + 1}")


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("HCN_FAULTS_REPORT"):
        write_report(os.environ["HCN_FAULTS_REPORT"])


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The root of every case, with one unbroken run whose cache the cases start from."""
    root = tmp_path_factory.mktemp("faults")
    config = fault_config(root, root / "cache")
    Driver.start(config, root / "reference").finish()
    return root, config


@pytest.fixture(scope="session")
def unbroken_s(reference):
    """Wall time of an unbroken run from each starting cache (measured once, and only for the results file)."""
    root, config = reference
    times: dict[str, float] = {}

    def measure(kind: str) -> float | None:
        if not os.environ.get("HCN_FAULTS_REPORT"):
            return None
        if kind not in times:
            cache = root / f"cache-{kind}"
            prepare_cache(root, kind, cache)
            times[kind] = Driver.start({**config, "cache_dir": str(cache)}, root / f"unbroken-{kind}").finish()
        return times[kind]
    return measure
