"""The closed loop, forced: a table scaled down on purpose makes the first round's member measure over its
target; the pipeline searches again with the bound scaled by predicted / measured and keeps a member that
measures within its target."""
import dataclasses
import json
import shutil

import pytest

from orchestrator.cache import MANIFEST, StageCache
from orchestrator.config import parse_config
from orchestrator.tracking import registered_model_name
from supernet import Architecture
from tests.stores import store_client
from workers.latency import Protocol, default_num_classes, measure_networks
from workers.latency_table import EntryStats, load_table

from .conftest import _run

pytestmark = pytest.mark.slow
# A fuller timing protocol than the end-to-end run's: a few runs per network move with every burst of
# Ray's own processes on a 2-core machine.
PROTOCOL = {"contexts": 1, "warmup": 5, "repeats": 20, "runs_per_visit": 5}


@pytest.fixture(scope="module")
def looped(pipeline_runs, tmp_path_factory):
    """A run on a copy of the end-to-end run's cache, one target 40% of the way from the lightest to the
    heaviest network as measured here now, and the cpu-bs1 table scaled down until it claims every network
    fits that target; the ``uniform`` strategy (the largest uniform architecture within the bound) then
    picks the heaviest uniform one in round 1, which measures over the target even in a process 30%
    faster than this one (plain processes differ that much: at 60% of the way, CI once measured round 1
    within its target). Its own store; the scaled table is filed under the key of :data:`PROTOCOL`, as if
    it had been measured with it."""
    first = pipeline_runs["first"]
    root = tmp_path_factory.mktemp("loop")
    cache = root / "cache"
    shutil.copytree(first.out.parent / "cache", cache, ignore=shutil.ignore_patterns(".locks"))
    config = dict(first.config.to_dict(), name="loop", cache_dir=str(cache),
                  search={"algorithm": "uniform"},
                  tracking={"uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts"),
                            "experiment": "loop"})
    config["latency"] = {**config["latency"], "retries": 3, "protocol": PROTOCOL}
    space, (profile,), protocol = first.config.space(), first.config.devices, Protocol(**PROTOCOL)
    light, heavy = (t.latency_ms(protocol.run_quantile) for t in measure_networks(
        space, [Architecture.lightest(space), Architecture.heaviest(space)], profile, protocol,
        default_num_classes(space)))
    target = round(light + 0.4 * (heavy - light), 3)
    config = parse_config(dict(config, targets={"cpu-bs1": [target]}))

    (folder,) = list((cache / "tables").glob("cpu-bs1-*"))
    table = load_table(folder / "table.json")
    scale = 0.9 * target / table.resource_model(space).largest()

    def scaled(stats: EntryStats) -> EntryStats:
        return EntryStats(stats.median * scale, stats.spread * scale, stats.count)

    manifest = json.loads((folder / MANIFEST).read_text())
    entry = StageCache(cache).entry("tables", {**manifest["inputs"], "protocol": config.latency_protocol},
                                    "cpu-bs1")
    dataclasses.replace(table, constant=scaled(table.constant),
                        entries={k: scaled(v) for k, v in table.entries.items()}).save(entry.path / "table.json")
    entry.complete(**{k: v for k, v in manifest.items() if k not in ("key", "inputs", "files")})
    return _run(config, root / "out"), target, (light, heavy)


def test_a_member_over_its_target_is_searched_again_until_it_measures_within(looped):
    run, target, (light, heavy) = looped
    assert heavy > target * (1 + run.config.latency_noise), (light, heavy)     # round 1 must go over
    (member,) = run.pareto.itertuples()
    assert member.round > 1 and not member.over_target
    assert member.measured_ms <= target * (1 + run.config.latency_noise)
    assert member.arch != str(Architecture.heaviest(run.config.space()))
    loop = run.report.split("## Closed loop")[1].split("##")[0]
    assert f"cpu-bs1 at {target:g} ms: round 1: bound {target:.3f} ms" in loop and "(over)" in loop
    assert "**kept**" in loop and loop.count("round ") >= 2


def test_only_the_kept_member_is_registered(looped):
    run, target, _ = looped
    client = store_client(run.config.tracking_uri)
    versions = [v for v in client.search_model_versions(f"name='{registered_model_name('digits', 'cpu-bs1')}'")
                if v.tags.get("member", "").startswith(f"cpu-bs1@{target:g}ms")]
    (version,) = versions
    assert version.tags["over_target"] == "False" and version.tags["process"] == "plain"
    assert version.tags["member"].startswith(f"cpu-bs1@{target:g}ms#")
