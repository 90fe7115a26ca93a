"""Log records of remote work: Ray worker processes print our packages' INFO lines on stderr, which Ray
forwards to the driver (and to a cluster's log files), so a run says where its tasks ran."""
from __future__ import annotations

import logging
import sys

__all__ = ["PACKAGES", "log_to_stderr", "route_packages", "worker_runtime_env"]

PACKAGES = ("hardcore_nas", "orchestrator", "workers", "supernet", "solvers")


def route_packages(handler: logging.Handler, level: int) -> None:
    """Send our packages' records at ``level`` and above to ``handler`` alone (not to the root logger)."""
    for name in PACKAGES:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def log_to_stderr(level: int = logging.INFO) -> None:
    """Our packages' records at ``level`` and above as plain lines on stderr (a Ray worker's set-up hook)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    route_packages(handler, level)


def worker_runtime_env(**env_vars: str) -> dict:
    """A Ray ``runtime_env`` whose workers log through :func:`log_to_stderr` and get ``env_vars``."""
    return {"env_vars": dict(env_vars), "worker_process_setup_hook": "hardcore_nas.logs.log_to_stderr"}
