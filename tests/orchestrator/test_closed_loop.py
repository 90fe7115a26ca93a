"""The closed loop, forced: a table scaled down on purpose makes the first round's member measure over its
target; the pipeline searches again with the bound scaled by predicted / measured and keeps a member that
measures within its target."""
import math

import pytest

from orchestrator.config import parse_config
from orchestrator.tracking import registered_model_name
from supernet import Architecture
from tests.stores import store_client
from workers.latency_table import EntryStats, load_table

from .conftest import _run, refile_table, uniform_architectures, variant

pytestmark = pytest.mark.slow
# A fuller timing protocol than the end-to-end run's: a few runs per network move with every burst of
# Ray's own processes on a 2-core machine.
PROTOCOL = {"contexts": 1, "warmup": 5, "repeats": 20, "runs_per_visit": 5}


@pytest.fixture(scope="module")
def looped(pipeline_runs, tmp_path_factory):
    """A run on a copy of the end-to-end run's cache with the cpu-bs1 table scaled down until it claims
    every network fits one target, so the ``uniform`` strategy picks in round 1 the uniform architecture
    that table predicts slowest (``top``; not always the heaviest: a table of 3 runs per network can rank
    configurations wrongly).

    The target is placed by ``top`` as the pipeline itself measured it, in a first run (``probe``) whose
    only member is ``top``: measured outside a pipeline, with no Ray beside it, the same networks ran up to
    1.6x faster on CI, and a target placed that way left the lightest networks over it. The target lies
    sqrt(top / lightest) below that measurement (the ratio by the table), so ``top`` stays over it and the
    lightest network under it by the same factor. Each run has its own cache copy and store; the table is
    filed under the key of :data:`PROTOCOL`, as if it had been measured with it."""
    first = pipeline_runs["first"]
    space = first.config.space()
    table = load_table(next((first.out.parent / "cache" / "tables").glob("cpu-bs1-*")) / "table.json")
    top = max(uniform_architectures(space), key=table.predict)
    ratio = table.predict(top) / table.predict(Architecture.lightest(space))

    def scaled_run(name: str, target: float, retries: int, scale: float):
        root = tmp_path_factory.mktemp(name)
        config = variant(first, root, name, search={"algorithm": "uniform"}, targets={"cpu-bs1": [target]})
        config["latency"] = {**config["latency"], "retries": retries, "protocol": PROTOCOL}
        config = parse_config(config)
        refile_table(root / "cache", config.latency_protocol,
                     lambda _, stats: EntryStats(stats.median * scale, stats.spread * scale, stats.count))
        return _run(config, root / "out")

    probe = scaled_run("probe", round(table.predict(top) * 1.01, 3), 0, 1.0)
    (member,) = probe.pareto.itertuples()
    assert member.arch == str(top)
    target = round(member.measured_ms / math.sqrt(ratio), 3)
    # rounds to spare: the end-to-end table (3 runs per network) mis-ranks close architectures by more
    # than 5%, so a round between the extremes can land just over the target (here once 3 rounds in a row)
    run = scaled_run("loop", target, 5, 0.9 * target / table.resource_model(space).largest())
    return run, target, top


def test_a_member_over_its_target_is_searched_again_until_it_measures_within(looped):
    run, target, top = looped
    (member,) = run.pareto.itertuples()
    loop = run.report.split("## Closed loop")[1].split("##")[0]
    assert member.round > 1 and not member.over_target, (member, loop)
    assert member.measured_ms <= target * (1 + run.config.latency_noise)
    assert member.arch != str(top)
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
