"""The stage cache: computed once, reused, damaged files detected by hash and recomputed, one writer at a time."""
import json
import logging
import multiprocessing
import time
from pathlib import Path

from orchestrator.cache import MANIFEST, StageCache
from tests.faults.report import record_fault

INPUTS = {"space": "tiny", "profile": {"name": "cpu-bs1"}}


def _write(folder: Path, text: str = "table") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.json").write_text(text)
    return text


def _read(folder: Path) -> str:
    return (folder / "table.json").read_text()


def _fill(cache: StageCache, text: str = "table"):
    with cache.open("tables", INPUTS, "cpu-bs1") as entry:
        cached = entry.get_or_compute(_read, lambda folder: _write(folder, text))
        if not cached.reused:
            entry.complete(run_id="r1")
    return cached


def test_computed_once_then_reused_with_what_its_producer_recorded(tmp_path):
    cache = StageCache(tmp_path)
    first, second = _fill(cache, "measured"), _fill(cache, "again")
    assert not first.reused and second.reused
    assert second.value == "measured" and second.manifest["run_id"] == "r1"
    assert second.entry.path.name == f"cpu-bs1-{second.entry.key}"
    assert set(second.manifest["files"]) == {"table.json"}
    assert [p.name for p in (tmp_path / "tables").iterdir()] == [second.entry.path.name]   # nothing else listed


def test_a_truncated_file_is_reported_in_one_line_and_computed_again(tmp_path, caplog):
    cache = StageCache(tmp_path)
    path = _fill(cache, "a long latency table").entry.path / "table.json"
    path.write_bytes(path.read_bytes()[:5])
    with caplog.at_level(logging.WARNING, logger="orchestrator.cache"):
        again = _fill(cache, "measured again")
    assert not again.reused and _read(again.entry.path) == "measured again"
    (record,) = caplog.records
    assert "SHA-256 mismatch" in record.getMessage() and "\n" not in record.getMessage()
    assert _fill(cache).reused
    record_fault("cached file truncated", "a cached table cut to 5 bytes on disk",
                 survived="reported in one line (SHA-256 mismatch), computed again, never used", extra_s=None,
                 lost="the cached result (computed again)")


def test_an_edited_or_unreadable_manifest_is_not_trusted(tmp_path, caplog):
    cache = StageCache(tmp_path)
    manifest = _fill(cache).entry.path / MANIFEST
    manifest.write_text(manifest.read_text()[:20])                  # truncated JSON
    with caplog.at_level(logging.WARNING, logger="orchestrator.cache"):
        assert not _fill(cache).reused
    body = json.loads(manifest.read_text())
    del body["files"]                                               # a manifest of an older release
    manifest.write_text(json.dumps(body))
    assert not _fill(cache).reused
    assert len(caplog.records) == 2 and all("computing it again" in r.getMessage() for r in caplog.records)
    record_fault("cache manifest truncated or edited", "the manifest cut short; its file list deleted",
                 survived="reported in one line each, computed again, never used", extra_s=None,
                 lost="the cached result (computed again)")


def _racer(root: str, log: str) -> None:
    def compute(folder: Path) -> str:
        with open(log, "a") as f:
            f.write("computed\n")
        time.sleep(1.0)             # the other process arrives while this one computes
        return _write(folder, "by one run")

    with StageCache(root).open("tables", INPUTS, "cpu-bs1") as entry:
        cached = entry.get_or_compute(_read, compute)
        if not cached.reused:
            entry.complete(run_id="racer")
        assert cached.value == "by one run"


def test_two_runs_sharing_a_cache_compute_once_and_never_read_half_written_files(tmp_path):
    log = tmp_path / "log.txt"
    context = multiprocessing.get_context("spawn")
    racers = [context.Process(target=_racer, args=(str(tmp_path / "cache"), str(log))) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    assert [r.exitcode for r in racers] == [0, 0]
    assert log.read_text().splitlines() == ["computed"]
    record_fault("two runs sharing one cache", "two processes open the same entry at once",
                 survived="one computed, the other waited on the lock and read the finished entry",
                 extra_s=None, lost="nothing")
