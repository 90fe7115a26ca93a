"""Process conditions: named in a profile, applied to the measuring processes, recorded in tables."""
from pathlib import Path

import pytest

from hardcore_nas.errors import UsageError
from hardcore_nas.process import ALLOCATOR_ENV
from supernet.arch import Architecture
from supernet.space import get_space
from workers.devices import DeviceProfile, get_profile
from workers.latency import Protocol, condition_env, measure_networks
from workers.latency_table import LatencyTable
from workers.processes import ProcessCondition, get_condition, list_conditions, register_condition

QUICK = Protocol(warmup=1, repeats=2, runs_per_visit=2, rewarm=0, contexts=1, networks_per_process=10,
                 redo_limit=0)
OLD_TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "lut_tiny_cpu-bs1.json"


def test_profiles_name_a_registered_condition_plain_by_default():
    assert {"plain", "tuned"} <= set(list_conditions())
    assert get_profile("cpu-bs1").process == "plain" and get_profile("ort-bs1").process == "plain"
    tuned = get_profile({"name": "cpu-tuned", "process": "tuned"})
    assert tuned.condition.env["THP_MEM_ALLOC_ENABLE"] == "1"
    assert "MALLOC_MMAP_THRESHOLD_=" in tuned.condition.instructions()
    assert "plain process" in get_condition("plain").instructions()
    with pytest.raises(UsageError, match="process 'fast' is not one of"):
        get_profile({"name": "x", "process": "fast"})


def test_a_new_condition_is_one_registration():
    condition = register_condition(ProcessCondition("test-arena", env={"MALLOC_ARENA_MAX": "1"}))
    assert DeviceProfile("x", process="test-arena").condition is condition
    assert condition_env(DeviceProfile("x", process="test-arena"))["MALLOC_ARENA_MAX"] == "1"
    with pytest.raises(ValueError, match="already registered"):
        register_condition(ProcessCondition("test-arena"))


def test_a_plain_child_drops_the_tuning_a_parent_was_started_with(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1")
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    plain = condition_env(get_profile("cpu-bs1"))
    assert "MALLOC_MMAP_THRESHOLD_" not in plain and "THP_MEM_ALLOC_ENABLE" not in plain
    assert plain["OMP_NUM_THREADS"] == "1"
    tuned = condition_env(get_profile({"name": "t", "process": "tuned"}))
    assert {k: tuned[k] for k in ALLOCATOR_ENV} == ALLOCATOR_ENV and tuned["THP_MEM_ALLOC_ENABLE"] == "1"


def test_plain_times_each_network_alone_in_its_own_process_tuned_batches_them():
    space = get_space("tiny")
    archs = [Architecture.lightest(space), Architecture.heaviest(space), Architecture.lightest(space)]
    plain = measure_networks(space, archs, get_profile("cpu-bs1"), QUICK, 10)
    tuned = measure_networks(space, archs, get_profile({"name": "t", "process": "tuned"}), QUICK, 10)
    assert len({t.pid for t in plain}) == 3 and len({t.pid for t in tuned}) == 1
    for timing in plain + tuned:
        assert len(timing.total_ms) == QUICK.repeats and min(timing.total_ms) > 0


def test_tables_record_their_condition_and_older_tables_read_as_tuned():
    table = LatencyTable.load(OLD_TABLE)
    assert "process" not in table.device["profile"] and table.protocol["process_env"]
    assert table.profile.process == "tuned"
