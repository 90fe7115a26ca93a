"""The latency table: a real quick measurement on the tiny space, formula (3) from it, the file format."""
import dataclasses
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from hardcore_nas.errors import UsageError
from orchestrator.cli import main
from supernet.arch import Architecture
from supernet.space import block_key, get_space
from workers.latency_table import EntryStats, LatencyTable, load_table
from workers.latency_validation import sample_across_range


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    """A real table of the tiny space, measured through the CLI with a quick protocol."""
    path = tmp_path_factory.mktemp("lut") / "tiny.json"
    code = main(["lut", "--device", "cpu-bs1", "--space", "tiny", "--contexts", "1",
                 "--repeats", "3", "--out", str(path)])
    assert code == 0
    return path


@pytest.fixture(scope="module")
def table(table_path):
    return load_table(table_path, get_space("tiny"))


def test_quick_measurement_is_a_complete_table(table):
    space = get_space("tiny")
    assert set(table.entries) == set(space.latency_keys())
    values = np.array([e.median for e in table.entries.values()])
    assert (values > 0).all() and np.isfinite(values).all()
    assert all(e.count >= 1 and e.spread >= 0 for e in table.entries.values())
    assert table.constant.median > 0 and table.constant.count == table.protocol["probe_networks"]
    assert table.space == {"name": "tiny", "width_multiplier": 1.0, "hash": space.hash}
    assert table.device["threads"] == 1 and table.device["batch_size"] == 1
    assert table.device["backend"] == "torch-cpu" and table.device["cpu"]
    assert table.num_classes == 10


def test_formula_on_one_hot_is_the_sum_of_the_architectures_entries(table):
    space = get_space("tiny")
    model = table.resource_model(space)
    assert model.unit == "ms" and model.block_costs.dtype == np.float64
    rng = np.random.default_rng(0)
    for arch in [Architecture.random(space, rng) for _ in range(20)] + [
            Architecture.heaviest(space), Architecture.lightest(space)]:
        direct = table.constant.median + sum(
            table.entries[block_key(space.slot(s, b).signature, cfg)].median
            for s, b, cfg in arch.blocks())
        assert model.evaluate(*arch.to_one_hot()) == pytest.approx(direct, rel=1e-12)
        assert table.predict(arch) == pytest.approx(direct, rel=1e-12)


def test_formula_on_distributions_is_the_expectation_over_architectures(table):
    """Fractional choices in two blocks and over stage 0's depth: enumerate the 2 x 3 x 3 cases."""
    space = get_space("tiny")
    model = table.resource_model(space)
    rng = np.random.default_rng(1)
    base = Architecture.heaviest(space)
    alpha, _ = base.to_one_hot()
    beta = np.eye(len(space.depths))[np.full(space.num_stages, len(space.depths) - 1)]
    p_cfg = {(0, 1): (rng.dirichlet(np.ones(2)), (0, 5)), (0, 3): (rng.dirichlet(np.ones(3)), (2, 7, 11))}
    for (s, b), (probs, configs) in p_cfg.items():
        alpha[s, b] = 0.0
        alpha[s, b, list(configs)] = probs
    beta[0] = rng.dirichlet(np.ones(len(space.depths)))

    expected = 0.0
    for d_idx, (c1, p1), (c3, p3) in itertools.product(
            range(len(space.depths)), zip(p_cfg[0, 1][1], p_cfg[0, 1][0]),
            zip(p_cfg[0, 3][1], p_cfg[0, 3][0])):
        stage0 = list(base.stages[0])
        stage0[1], stage0[3] = c1, c3
        arch = Architecture(space, (tuple(stage0[:space.depths[d_idx]]),) + base.stages[1:])
        expected += beta[0, d_idx] * p1 * p3 * table.predict(arch)
    assert model.evaluate(alpha, beta) == pytest.approx(expected, rel=1e-12)


def test_file_round_trip_keeps_everything(table, table_path, tmp_path):
    again = LatencyTable.load(table.save(tmp_path / "copy.json"))
    assert again == table and again.content_hash == table.content_hash
    assert json.loads(table_path.read_text())["content_hash"] == table.content_hash
    assert again.search_space() == get_space("tiny")


def _one_line_error(fn, match):
    with pytest.raises(UsageError, match=match) as info:
        fn()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_table_for_another_space_is_refused(table, table_path):
    message = _one_line_error(lambda: load_table(table_path, get_space("imagenet")), "measured for")
    assert "hardcore-nas lut" in message
    _one_line_error(lambda: table.resource_model(get_space("tiny", 1.5)), "measured for")


def test_missing_entries_are_refused(table, tmp_path):
    entries = dict(table.entries)
    entries.pop(next(iter(entries)))
    path = dataclasses.replace(table, entries=entries).save(tmp_path / "missing.json")
    _one_line_error(lambda: load_table(path, get_space("tiny")), "lacks 1 entries")


@pytest.mark.parametrize("bad", ["-0.5", "NaN", "Infinity", "\"fast\""])
def test_negative_or_non_finite_entries_are_refused(table_path, tmp_path, bad):
    data = json.loads(table_path.read_text())
    key = next(iter(data["entries"]))
    data["entries"][key]["median"] = "BAD"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data).replace('"BAD"', bad))
    _one_line_error(lambda: LatencyTable.load(path), "finite")


def test_a_tampered_table_is_refused(table_path, tmp_path):
    data = json.loads(table_path.read_text())
    key = next(iter(data["entries"]))
    data["entries"][key]["median"] *= 0.5
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    _one_line_error(lambda: LatencyTable.load(path), "content hash")


@pytest.mark.parametrize("text, match", [
    ("not json at all", "not JSON"),
    ('{"entries": {}}', "not a hardcore-nas latency table"),
    ("[1, 2, 3]", "not a hardcore-nas latency table"),
])
def test_a_file_that_is_not_a_table_is_refused(tmp_path, text, match):
    path = tmp_path / "x.json"
    path.write_text(text)
    _one_line_error(lambda: LatencyTable.load(path), match)
    _one_line_error(lambda: LatencyTable.load(tmp_path / "absent.json"), "does not exist")


def test_entry_statistics():
    stats = EntryStats.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (stats.median, stats.spread, stats.count) == (3.0, 2.0, 5)


def test_validation_samples_cover_the_predicted_range(table):
    space = get_space("tiny")
    model = table.resource_model(space)
    samples = sample_across_range(table, space, 10, np.random.default_rng(0))
    predicted = np.sort([table.predict(a) for a in samples])
    assert len({a.stages for a in samples}) == 10
    width = (model.largest() - model.least()) / 10
    assert predicted[0] < model.least() + 2 * width and predicted[-1] > model.largest() - 2 * width
    assert np.diff(predicted).max() < 3 * width


def test_validate_lut_cli_writes_csv_png_json(table_path, tmp_path, capsys):
    out = tmp_path / "val"
    assert main(["validate-lut", "--lut", str(table_path), "--samples", "4", "--out", str(out)]) == 0
    frame = pd.read_csv(out / "validation.csv")
    assert len(frame) == 4 and {"arch", "predicted_ms", "measured_ms", "pass_1_ms",
                                "pass_2_ms"} <= set(frame.columns)
    assert (frame.measured_ms > 0).all()
    assert (out / "validation.png").stat().st_size > 0
    figures = json.loads((out / "validation.json").read_text())
    assert set(figures["metrics"]) == {"n", "ratio", "r2", "mape_pct", "within_10_pct", "max_ape_pct"}
    assert "ratio" in figures["repeat"]
    assert "predicted vs measured" in capsys.readouterr().out


def test_cli_exits_non_zero_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["validate-lut", "--lut", str(bad), "--samples", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a hardcore-nas latency table" in err and "\n" not in err
    assert main(["lut", "--device", "tpu-v9", "--out", str(tmp_path / "t.json")]) == 2
    assert "unknown device 'tpu-v9'" in capsys.readouterr().err
    assert main(["lut", "--device", "cpu-bs1", "--process", "warm", "--out", str(tmp_path / "t.json")]) == 2
    assert "process 'warm' is not one of plain, tuned" in capsys.readouterr().err
