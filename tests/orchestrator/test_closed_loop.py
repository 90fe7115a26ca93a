"""The closed loop, forced: a table scaled down on purpose makes the first round's member measure over its
target; the pipeline searches again with the bound scaled by predicted / measured and keeps a member that
measures within its target."""
import math
import statistics

import pytest

from orchestrator.config import parse_config
from orchestrator.tracking import registered_model_name
from supernet import Architecture
from tests.stores import store_client
from workers.latency import Protocol, default_num_classes, measure_networks
from workers.latency_table import EntryStats, load_table

from .conftest import _run, refile_table, uniform_architectures, variant

pytestmark = pytest.mark.slow
# A fuller timing protocol than the end-to-end run's: a few runs per network move with every burst of
# Ray's own processes on a 2-core machine.
PROTOCOL = {"contexts": 1, "warmup": 5, "repeats": 20, "runs_per_visit": 5}
# Each plain process runs a network at its own speed (here the same network read 2.7-4.5 ms from one
# process to the next), so the target is placed by the median of several, as the pipeline measures members.
PASSES = 5


@pytest.fixture(scope="module")
def looped(pipeline_runs, tmp_path_factory):
    """A run on a copy of the end-to-end run's cache with the cpu-bs1 table scaled down until it claims
    every network fits one target, so the ``uniform`` strategy picks in round 1 the uniform architecture
    that table predicts slowest (``top``; not always the heaviest: a table of 3 runs per network can rank
    configurations wrongly, and CI's round 1 once measured within a target placed by the heaviest). The
    target is the geometric mean of the lightest network and ``top`` as measured here now (medians of
    :data:`PASSES` processes), so that both lie the same factor, sqrt(top / lightest), away from it: ``top``
    stays over it when a plain process runs that much faster, and later rounds keep as much to spare.
    Its own store; the scaled table is filed under the key of :data:`PROTOCOL`, as if it had been measured
    with it."""
    first = pipeline_runs["first"]
    root = tmp_path_factory.mktemp("loop")
    cache = root / "cache"
    config = variant(first, root, "loop", search={"algorithm": "uniform"})
    # rounds to spare: the end-to-end table (3 runs per network) mis-ranks close architectures by more
    # than 5%, so a round between the extremes can land just over the target (here once 3 rounds in a row)
    config["latency"] = {**config["latency"], "retries": 5, "protocol": PROTOCOL}
    space, (profile,), protocol = first.config.space(), first.config.devices, Protocol(**PROTOCOL)
    (folder,) = list((cache / "tables").glob("cpu-bs1-*"))
    table = load_table(folder / "table.json")
    top = max(uniform_architectures(space), key=table.predict)
    timings = measure_networks(space, [Architecture.lightest(space), top] * PASSES, profile, protocol,
                               default_num_classes(space))
    values = [t.latency_ms(protocol.run_quantile) for t in timings]
    light, heavy = statistics.median(values[0::2]), statistics.median(values[1::2])
    target = round(math.sqrt(light * heavy), 3)
    config = parse_config(dict(config, targets={"cpu-bs1": [target]}))
    scale = 0.9 * target / table.resource_model(space).largest()
    refile_table(cache, config.latency_protocol,
                 lambda _, stats: EntryStats(stats.median * scale, stats.spread * scale, stats.count))
    return _run(config, root / "out"), target, top, (light, heavy)


def test_a_member_over_its_target_is_searched_again_until_it_measures_within(looped):
    run, target, top, (light, heavy) = looped
    assert heavy > target * (1 + run.config.latency_noise), (light, heavy)     # round 1 (top) must go over
    (member,) = run.pareto.itertuples()
    loop = run.report.split("## Closed loop")[1].split("##")[0]
    assert member.round > 1 and not member.over_target, (member, loop)
    assert member.measured_ms <= target * (1 + run.config.latency_noise)
    assert member.arch != str(top)
    assert f"cpu-bs1 at {target:g} ms: round 1: bound {target:.3f} ms" in loop and "(over)" in loop
    assert "**kept**" in loop and loop.count("round ") >= 2


def test_only_the_kept_member_is_registered(looped):
    run, target, _, _ = looped
    client = store_client(run.config.tracking_uri)
    versions = [v for v in client.search_model_versions(f"name='{registered_model_name('digits', 'cpu-bs1')}'")
                if v.tags.get("member", "").startswith(f"cpu-bs1@{target:g}ms")]
    (version,) = versions
    assert version.tags["over_target"] == "False" and version.tags["process"] == "plain"
    assert version.tags["member"].startswith(f"cpu-bs1@{target:g}ms#")
