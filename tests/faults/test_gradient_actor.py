"""Fault injection: a gradient actor's process killed (SIGKILL, as a lost node ends it) mid-search.

The actor restarts from the same weights and shard, the call in flight is retried, and the search goes on
from its current iterate: every step runs once, and the answer is the one of a run without the fault.
"""
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from solvers import Constraint, parse_options
from supernet import get_space
from supernet.elastic import ElasticSupernet
from tests.faults.report import record_fault
from workers.gradients import GradientPool, numpy_state
from workers.latency_table import load_table
from workers.search_tasks import SearchRequest, run_search

pytestmark = pytest.mark.slow

SPACE = get_space("tiny")
TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "lut_tiny_cpu-bs1.json"
STEPS, KILL_AT = 12, 5


@pytest.fixture(scope="module")
def ray_pool():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False)
    torch.manual_seed(0)
    weights = numpy_state(ElasticSupernet(SPACE, 10))
    try:
        # A new object-store copy per pool, held by nobody but the pool (as in the pipeline): a restart
        # must still find it.
        yield lambda: GradientPool.start(SPACE, 10, ray.put(weights), "digits", 0, workers=1, num_cpus=1)
    finally:
        ray.shutdown()


def _pid(actor) -> int:
    import ray

    return ray.get(actor.__ray_call__.remote(lambda self: os.getpid()))


def _search(pool, kill: bool):
    model = load_table(TABLE).resource_model(SPACE)
    bound = model.least() + 0.4 * (model.largest() - model.least())
    request = SearchRequest("fault", (Constraint(model, bound),), 3, "bcsfw",
                            parse_options("bcsfw", {"steps": STEPS, "batch_size": 4}))
    steps, killed = [], []

    def on_step(record):
        steps.append(record.step)
        if kill and record.step == KILL_AT:
            pid = _pid(pool.actors[0])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    outcome = run_search(request, SPACE, pool.compute, on_step)
    return outcome, steps, killed


def test_a_killed_gradient_actor_restarts_and_the_search_carries_on(ray_pool):
    started = time.perf_counter()
    reference, _, _ = _search(ray_pool(), kill=False)
    reference_s = time.perf_counter() - started
    pool = ray_pool()
    outcome, steps, killed = _search(pool, kill=True)
    faulted_s = time.perf_counter() - started - reference_s
    assert killed and _pid(pool.actors[0]) != killed[0]              # a new process serves the pool
    assert steps == list(range(STEPS))                              # no step repeated, none lost
    assert str(outcome.arch) == str(reference.arch)
    assert np.array_equal(outcome.result.alpha, reference.result.alpha)
    assert outcome.result.slack[next(iter(outcome.result.slack))] >= 0
    record_fault("gradient actor killed mid-search", f"SIGKILL to the actor's process at step {KILL_AT} of {STEPS}",
                 survived="the actor restarted, the search went on from its iterate: every step once, the same "
                          "architecture and iterate as unfaulted",
                 extra_s=faulted_s - reference_s, lost="nothing")
