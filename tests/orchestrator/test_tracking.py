"""The tracking store: checked before any work."""
import socket

import pytest

from hardcore_nas import UsageError
from orchestrator.tracking import check_reachable
from tests.faults.report import record_fault


def test_a_tracking_server_that_refuses_connections_is_a_one_line_error_before_any_work():
    with socket.socket() as s:          # a port that nothing listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UsageError, match=f"tracking server http://127.0.0.1:{port} does not answer") as info:
        check_reachable(f"http://127.0.0.1:{port}", timeout_s=2)
    assert "\n" not in str(info.value)
    check_reachable("sqlite:///mlflow.db")          # a local store needs no server
    record_fault("tracking server unreachable", "tracking.uri a port that refuses connections",
                 survived="one-line error before any work", extra_s=None, lost="nothing (nothing started)")


@pytest.fixture
def tracker(tmp_path):
    from orchestrator.tracking import Tracker

    return Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "t", str(tmp_path / "artifacts"))


def test_a_member_registered_before_an_interruption_is_not_registered_twice(tracker):
    import numpy as np
    import torch

    parent = tracker.start_parent("run", {})
    uri = tracker.log_model(tracker.child("fine-tune"), torch.nn.Linear(2, 2), np.zeros((1, 2), np.float32))
    identity = ("pipeline_run_id", "member")
    first = tracker.register(uri, "m", "t1ms", {"pipeline_run_id": parent, "member": "d@1ms"}, "", identity)
    again = tracker.register(uri, "m", "t1ms", {"pipeline_run_id": parent, "member": "d@1ms"}, "", identity)
    other = tracker.register(uri, "m", "t2ms", {"pipeline_run_id": parent, "member": "d@2ms"}, "", identity)
    assert again == first and other.version == first.version + 1
    assert len(tracker.client.search_model_versions("name = 'm'")) == 2


def test_resuming_a_run_ends_its_interrupted_nested_runs_as_killed(tracker):
    parent = tracker.start_parent("run", {})
    interrupted, finished = tracker.child("search a"), tracker.child("search b")
    tracker.end(finished)                           # the driver died with `interrupted` still RUNNING
    assert tracker.start_parent("run", {}, resume_id=parent) == parent
    status = {run_id: tracker.client.get_run(run_id).info.status for run_id in (parent, interrupted, finished)}
    assert status == {parent: "RUNNING", interrupted: "KILLED", finished: "FINISHED"}
