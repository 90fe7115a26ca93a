"""Fault-injection tests: their findings go to ``$HCN_FAULTS_REPORT`` at the end of the session."""
import os

from tests.faults.report import write_report


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("HCN_FAULTS_REPORT"):
        write_report(os.environ["HCN_FAULTS_REPORT"])
