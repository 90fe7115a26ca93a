"""The tracking store: checked before any work."""
import socket

import pytest

from hardcore_nas import UsageError
from orchestrator.tracking import check_reachable


def test_a_tracking_server_that_refuses_connections_is_a_one_line_error_before_any_work():
    with socket.socket() as s:          # a port that nothing listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UsageError, match=f"tracking server http://127.0.0.1:{port} does not answer") as info:
        check_reachable(f"http://127.0.0.1:{port}", timeout_s=2)
    assert "\n" not in str(info.value)
    check_reachable("sqlite:///mlflow.db")          # a local store needs no server
