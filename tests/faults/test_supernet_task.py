"""Fault injection: the supernet training task's process killed (SIGKILL) during w*.

Ray runs the task again and it resumes after its last finished epoch of w* (w-bar is not trained again),
and ends on the very weights of a run without the fault.
"""
import os
import signal
import time

import numpy as np
import pytest

from supernet import get_space
from supernet.recipes import get_recipe
from tests.faults.drivers import ray_pids
from tests.faults.report import record_fault
from workers.monitoring import progress_board
from workers.supernet_task import start_supernet_training

pytestmark = pytest.mark.slow

SPACE = get_space("tiny", 0.5)
RECIPE = get_recipe("tiny").replace(heaviest={"epochs": 1, "warmup_epochs": 0},
                                    supernet={"epochs": 3, "warmup_epochs": 0, "taylor_batches": 2})
STAGE_EPOCHS = {"w-bar": RECIPE.heaviest.epochs, "w*": RECIPE.supernet.epochs}


@pytest.fixture(scope="module")
def ray_session():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _train(ray, folder, kill_after_wstar_epoch: int | None):
    with progress_board() as board:
        ref = start_supernet_training(SPACE, 10, "digits", 0, RECIPE, 0, board, num_cpus=2,
                                      epoch_states=str(folder), max_retries=1)
        killed = []
        while kill_after_wstar_epoch is not None and not killed:
            ready, _ = ray.wait([ref], timeout=0.2)
            assert not ready, "the task ended before it could be killed"
            if ray.get(board.snapshot.remote()).get("w*", 0) >= kill_after_wstar_epoch:
                (pid,) = ray_pids("ray::train-supernet")
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, (folder / "w-bar.safetensors").stat().st_mtime_ns))
        trained, _ = ray.get(ref, timeout=600)
    return trained, killed


def test_a_killed_supernet_task_resumes_from_its_last_epoch(ray_session, tmp_path):
    started = time.perf_counter()
    reference, _ = _train(ray_session, tmp_path / "reference", None)
    reference_s = time.perf_counter() - started
    trained, killed = _train(ray_session, tmp_path / "faulted", kill_after_wstar_epoch=1)
    faulted_s = time.perf_counter() - started - reference_s
    ((pid, wbar_saved),) = killed
    assert pid not in ray_pids("ray::train-supernet")
    # w-bar's state was not written again: the retry trained no epoch of w-bar.
    assert (tmp_path / "faulted" / "w-bar.safetensors").stat().st_mtime_ns == wbar_saved
    # Histories are the saved ones plus the epochs run after the retry: each epoch once, w-bar not again.
    assert [r["epoch"] for r in trained.heaviest_history] == list(range(1, STAGE_EPOCHS["w-bar"] + 1))
    assert [r["epoch"] for r in trained.supernet_history] == list(range(1, STAGE_EPOCHS["w*"] + 1))
    assert trained.supernet_history == reference.supernet_history
    for name, value in reference.supernet.items():
        np.testing.assert_array_equal(trained.supernet[name], value, err_msg=name)
    for name, value in reference.teacher.items():
        np.testing.assert_array_equal(trained.teacher[name], value, err_msg=name)
    assert trained.test_top1 == reference.test_top1
    record_fault("supernet task killed during w*", "SIGKILL to the task's process after w* epoch 1 of 3",
                 survived="Ray ran the task again; it resumed after w* epoch 1 (w-bar not trained again) and "
                          "ended on bit-identical w-bar and w*",
                 extra_s=faulted_s - reference_s, lost="the epoch in progress")
