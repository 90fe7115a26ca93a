"""The closed loop, forced: a table scaled down on purpose makes the first round's member measure over its
target; the pipeline searches again with the bound scaled by predicted / measured and keeps a member that
measures within its target."""
import dataclasses
import json
import shutil

import mlflow
import pytest

from orchestrator.cache import MANIFEST, CacheEntry
from orchestrator.config import parse_config
from orchestrator.tracking import registered_model_name
from supernet import Architecture
from workers.latency_table import EntryStats, load_table

from .conftest import _run

pytestmark = pytest.mark.slow
SCALE = 0.5     # the table claims every block is twice as fast as it is


def _scaled(stats: EntryStats) -> EntryStats:
    return EntryStats(stats.median * SCALE, stats.spread * SCALE, stats.count)


@pytest.fixture(scope="module")
def looped(pipeline_runs, tmp_path_factory):
    """A run on a copy of the end-to-end run's cache whose cpu-bs1 table is scaled by ``SCALE``, with the
    ``uniform`` strategy (the largest uniform architecture within the bound: it uses the budget it gets)
    and one target halfway along the true table's range."""
    first = pipeline_runs["first"]
    root = tmp_path_factory.mktemp("loop")
    cache = root / "cache"
    shutil.copytree(first.out.parent / "cache", cache, ignore=shutil.ignore_patterns(".locks"))
    (folder,) = list((cache / "tables").glob("cpu-bs1-*"))
    true = load_table(folder / "table.json")
    model = true.resource_model(first.config.space())
    target = round(model.least() + 0.5 * (model.largest() - model.least()), 3)
    manifest = json.loads((folder / MANIFEST).read_text())
    dataclasses.replace(true, constant=_scaled(true.constant),
                        entries={k: _scaled(v) for k, v in true.entries.items()}).save(folder / "table.json")
    entry = CacheEntry(folder, manifest["key"], manifest["inputs"])   # as if it had been measured so
    entry.complete(**{k: v for k, v in manifest.items() if k not in ("key", "inputs", "files")})
    config = dict(first.config.to_dict(), name="loop", cache_dir=str(cache), targets={"cpu-bs1": [target]},
                  search={"algorithm": "uniform"})
    config["latency"] = {**config["latency"], "retries": 3}
    return _run(parse_config(config), root / "out"), target, true


def test_a_member_over_its_target_is_searched_again_until_it_measures_within(looped):
    run, target, true = looped
    (member,) = run.pareto.itertuples()
    assert member.round > 1 and not member.over_target
    assert member.measured_ms <= target * (1 + run.config.latency_noise)
    # the kept architecture is light enough by the true table too
    assert true.predict(Architecture.from_string(member.arch, run.config.space())) <= target * 1.2
    loop = run.report.split("## Closed loop")[1].split("##")[0]
    assert f"cpu-bs1 at {target:g} ms: round 1: bound {target:.3f} ms" in loop and "(over)" in loop
    assert "**kept**" in loop and loop.count("round ") >= 2


def test_only_the_kept_member_is_registered(looped):
    run, target, _ = looped
    client = mlflow.MlflowClient(run.config.tracking_uri)
    versions = [v for v in client.search_model_versions(f"name='{registered_model_name('digits', 'cpu-bs1')}'")
                if v.tags.get("member", "").startswith(f"cpu-bs1@{target:g}ms")]
    (version,) = versions
    assert version.tags["over_target"] == "False" and version.tags["process"] == "plain"
    assert version.tags["member"].startswith(f"cpu-bs1@{target:g}ms#")
