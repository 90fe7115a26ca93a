"""``hardcore-nas search`` on the supernet and latency table the reduced pipeline run left in its cache."""
import ast
import re

import pytest

from orchestrator.cli import main
from supernet import Architecture, get_space
from workers.latency_table import load_table

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cached(pipeline_runs):
    cache = pipeline_runs["first"].out.parent / "cache"
    (supernet,) = list((cache / "supernet").iterdir())
    (table,) = list((cache / "tables").glob("cpu-bs1-*/table.json"))
    return supernet, table


def _search(cached, *extra):
    supernet, table = cached
    return main(["search", "--supernet", str(supernet), "--lut", str(table), "--steps", "8",
                 "--batch-size", "4", *extra])


def test_search_prints_a_timm_architecture_within_every_bound(cached, capsys):
    model = load_table(cached[1]).resource_model(get_space("tiny"))
    target = model.least() + 0.3 * (model.largest() - model.least())
    assert _search(cached, "--target-ms", f"{target}", "--max-params", "400000") == 0
    out = capsys.readouterr().out.splitlines()
    arch = Architecture.from_arch_def(ast.literal_eval(out[1]), get_space("tiny"))
    assert load_table(cached[1]).predict(arch) <= target
    rows = {line.split()[0]: line.split()[1:4] for line in out[3:7]}
    value, bound, slack = map(float, rows["latency:cpu-bs1"])
    assert value <= bound == pytest.approx(target, rel=1e-5) and slack >= 0
    value, bound, slack = map(float, rows["params"])
    assert value <= bound == 400000 and slack >= 0
    assert float(rows["macs"][0]) > 0 and rows["macs"][1:] == ["-", "-"]     # reported, not constrained
    assert float(rows["peak_activation"][0]) > 0 and rows["peak_activation"][1:] == ["-", "-"]


def test_a_peak_activation_bound_holds_on_every_block(cached, capsys):
    from workers.resources import ResourceContext, build_resources

    space = get_space("tiny")
    peak = build_resources(ResourceContext(space, 10))["peak_activation"]
    bound = (peak.value(Architecture.lightest(space)) + peak.value(Architecture.heaviest(space))) / 2
    model = load_table(cached[1]).resource_model(space)
    assert _search(cached, "--target-ms", f"{model.largest()}", "--max-peak-activation", f"{bound}") == 0
    out = capsys.readouterr().out.splitlines()
    arch = Architecture.from_arch_def(ast.literal_eval(out[1]), space)
    assert peak.value(arch) <= bound
    value, shown_bound, slack = map(float, next(line.split()[1:4] for line in out if line.startswith("peak_")))
    assert value == peak.value(arch) and shown_bound == pytest.approx(bound) and slack >= 0


def test_an_unreachable_target_fails_in_one_line_with_the_least_latency(cached, capsys):
    least = load_table(cached[1]).resource_model(get_space("tiny")).least()
    assert _search(cached, "--target-ms", f"{least / 2}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "least reachable" in err[0]
    # the message rounds to 6 digits; the solver's sum and this one may differ in the last bit
    shown = re.search(r"least reachable value ([0-9.e+-]+) ms", err[0])
    assert shown and float(shown.group(1)) == pytest.approx(least, rel=1e-5)


def test_tables_and_targets_must_pair_up(cached, capsys):
    with pytest.raises(SystemExit):          # argparse: --target-ms is required
        _search(cached)
    capsys.readouterr()
    supernet, table = cached
    code = main(["search", "--supernet", str(supernet), "--lut", str(table), "--lut", str(table),
                 "--target-ms", "5"])
    assert code == 2 and "one --target-ms per --lut" in capsys.readouterr().err


def test_a_table_measured_for_another_classifier_is_refused(cached, capsys, tmp_path):
    import dataclasses

    supernet, table = cached
    other = dataclasses.replace(load_table(table), num_classes=100).save(tmp_path / "table.json")
    assert main(["search", "--supernet", str(supernet), "--lut", str(other), "--target-ms", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "100-class classifier" in err[0] and "--num-classes 10" in err[0]


def test_bn_re_estimation_runs_within_the_bound_and_rejects_negative_counts(cached, capsys):
    model = load_table(cached[1]).resource_model(get_space("tiny"))
    target = model.least() + 0.5 * (model.largest() - model.least())
    assert _search(cached, "--target-ms", f"{target}", "--bn-images", "16") == 0
    arch = Architecture.from_arch_def(ast.literal_eval(capsys.readouterr().out.splitlines()[1]), get_space("tiny"))
    assert load_table(cached[1]).predict(arch) <= target
    assert _search(cached, "--target-ms", f"{target}", "--bn-images", "-1") == 2
    assert "--bn-images must be >= 0" in capsys.readouterr().err
