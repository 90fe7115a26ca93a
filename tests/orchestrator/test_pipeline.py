"""End to end: a reduced ``hardcore-nas run`` through the real Ray, Ray Tune and MLflow, checked through what
a user sees: the output files, the registry (versions, aliases, tags, loadable models) and the caches."""
import json
import math

import mlflow
import numpy as np
import onnxruntime as ort
import pytest
import torch

from orchestrator.report import pareto_columns
from orchestrator.tracking import registered_model_name, target_alias
from supernet import Architecture
from supernet.timm_models import build_timm_model
from tests.stores import store_client
from workers.resources import list_resources

pytestmark = pytest.mark.slow

TAGS = {"target_ms", "predicted_ms", "measured_ms", "top1", "params", "macs", "peak_activation", "arch",
        "latency_table_hash", "supernet_run_id", "over_target"}


def test_outputs_hold_one_member_per_target(pipeline_runs):
    run = pipeline_runs["first"]
    for name in ("pareto.csv", "pareto.png", "report.md"):
        assert (run.out / name).stat().st_size > 0
    table = run.pareto
    assert list(table.columns) == pareto_columns(list_resources())
    assert {"params", "macs", "peak_activation"} <= set(table.columns)
    assert list(table["device"]) == ["cpu-bs1", "cpu-bs1"] and table["target_ms"].is_monotonic_increasing
    assert (table["measured_ms"] > 0).all() and table["top1"].between(0, 100).all()
    for heading in ("## The family", "## Cost of each stage", "400 + 15N", "## Reused",
                    "## Measured latency against the targets", "## Accuracy along the targets"):
        assert heading in run.report


def test_every_member_is_predicted_within_its_target(pipeline_runs):
    for run in pipeline_runs.values():
        table = run.pareto
        assert (table["predicted_ms"] <= table["target_ms"]).all(), table[["target_ms", "predicted_ms"]]


def test_a_member_under_its_budget_is_explained_by_what_its_search_saw(pipeline_runs):
    run = pipeline_runs["first"]
    members = [m for m in json.loads((run.out / "state.json").read_text())["members"].values() if m["kept"]]
    section = run.report.split("## Budget use")[1].split("\n## ")[0]
    for m in members:
        under = m["predicted_ms"] < 0.8 * m["target_ms"]
        assert (f"- {m['device']} at {m['target_ms']:g} ms:" in section) == under, section
        assert math.isfinite(m["signal_loss"]) == under and (not under or m["signal_loss"] > 0)


def test_auto_targets_lie_inside_the_reachable_range(pipeline_runs):
    from workers.latency_table import load_table

    run = pipeline_runs["first"]
    (table_path,) = list((run.out.parent / "cache" / "tables").glob("cpu-bs1-*/table.json"))
    model = load_table(table_path).resource_model(run.config.space())
    assert all(model.least() < t < model.largest() for t in run.pareto["target_ms"])


def test_registry_holds_every_member_with_alias_tags_and_a_loadable_model(pipeline_runs):
    run = pipeline_runs["second"]
    client = store_client(run.config.tracking_uri)
    name = registered_model_name("digits", "cpu-bs1")
    versions = client.search_model_versions(f"name='{name}'")
    assert len(versions) == 4       # two runs of two members each
    x = torch.randn(3, 3, 32, 32)
    for row in run.pareto.itertuples():
        alias = target_alias(row.target_ms)
        assert row.model_uri == f"models:/{name}@{alias}"
        version = client.get_model_version_by_alias(name, alias)
        assert int(version.version) == row.registered_version > 2     # the alias moved to the second run
        assert TAGS <= set(version.tags)
        assert math.isclose(float(version.tags["target_ms"]), row.target_ms)
        assert float(version.tags["predicted_ms"]) <= row.target_ms
        assert version.tags["over_target"] in ("True", "False")
        loaded = mlflow.pytorch.load_model(row.model_uri)
        plain = build_timm_model(Architecture.from_string(version.tags["arch"], run.config.space()), 10).eval()
        plain.load_state_dict(loaded.state_dict())
        with torch.no_grad():
            assert torch.allclose(loaded(x), plain(x), atol=1e-5)
        # the same member as ONNX beside it, tagged with the runtime its device measures with
        assert version.tags["runtime"] == "torch-cpu"
        session = ort.InferenceSession(mlflow.onnx.load_model(version.tags["onnx_model_uri"]).SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        (onnx_out,) = session.run(None, {"input": x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(onnx_out, plain(x).numpy(), atol=1e-4)


def test_mlflow_has_nested_runs_per_stage_search_and_finetune(pipeline_runs):
    run = pipeline_runs["first"]
    client = store_client(run.config.tracking_uri)
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id], max_results=200)
    parents = [r for r in runs if r.data.tags.get("mlflow.runName") == "run e2e"]
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    stages = [r.data.tags.get("stage") for r in runs if r.data.tags.get("mlflow.parentRunId")]
    assert {"latency-table", "supernet", "search", "finetune"} <= set(stages)
    search = next(r for r in runs if r.data.tags.get("stage") == "search")
    assert {"device", "target_ms", "constraints.latency:cpu-bs1"} <= set(search.data.params)
    steps = client.get_metric_history(search.info.run_id, "resource/latency:cpu-bs1")
    assert len(steps) == run.config.search.steps
    assert max(m.value for m in steps) <= float(search.data.params["target_ms"])
    assert {"objective", "fw_gap"} <= set(search.data.metrics)
    finetune = next(r for r in runs if r.data.tags.get("stage") == "finetune")
    assert {"test_top1", "train_loss", "val_top1"} <= set(finetune.data.metrics)


def test_second_run_reuses_supernet_and_tables_and_says_so(pipeline_runs):
    first, second = pipeline_runs["first"], pipeline_runs["second"]
    reused = second.report.split("## Reused")[1].split("##")[0]
    assert "latency table of cpu-bs1" in reused and "supernet (w-bar, w*)" in reused
    assert "nothing: every stage was computed" in first.report.split("## Reused")[1].split("##")[0]
    once = [line for line in second.report.splitlines() if "| once |" in line]
    assert once and all("| yes |" in line for line in once)
    # Same supernet and tables, same searches: the same architectures (the searches are seeded).
    assert list(second.pareto["arch"]) == list(first.pareto["arch"])
    assert np.allclose(second.pareto["predicted_ms"], first.pareto["predicted_ms"])


def test_resume_of_a_finished_run_recomputes_nothing(pipeline_runs):
    second, resumed = pipeline_runs["second"], pipeline_runs["resumed"]
    assert "2 of 2 searches: from the interrupted run" in resumed.report
    assert "every fine-tune: from the interrupted run" in resumed.report
    assert list(resumed.pareto["registered_version"]) == list(second.pareto["registered_version"])


def test_a_target_only_mixed_architectures_meet_fails_the_uniform_strategy_in_one_line(pipeline_runs, tmp_path):
    """Exact feasibility passes (a mixed architecture fits), the ``uniform`` strategy then finds nothing
    inside its Ray task: the run ends with that strategy's reason, not an unreadable Ray error. The table
    makes the lightest configuration costly in the first stage and every other costly elsewhere, so the
    least latency takes mixed blocks."""
    from hardcore_nas import UsageError
    from orchestrator.config import parse_config
    from supernet.space import block_key
    from workers.latency_table import EntryStats

    from .conftest import _run, refile_table, uniform_architectures, variant

    first = pipeline_runs["first"]
    config = parse_config(variant(first, tmp_path, "mixed", search={"algorithm": "uniform"}))
    space = first.config.space()
    costly = {block_key(space.slot(s, b).signature, block)
              for s in range(len(space.stages)) for b in range(space.max_depth)
              for c, block in enumerate(space.configs) if (c == space.lightest_config) == (s == 0)}

    def change(key: str, stats: EntryStats) -> EntryStats:
        return EntryStats(stats.median * 10, stats.spread * 10, stats.count) if key in costly else stats

    table = refile_table(tmp_path / "cache", config.latency_protocol, change)
    least_uniform = min(map(table.predict, uniform_architectures(space)))
    least = table.resource_model(space).least()
    assert least < least_uniform
    target = round((least + least_uniform) / 2, 4)
    config = parse_config(dict(config.to_dict(), targets={"cpu-bs1": [target]}))
    with pytest.raises(UsageError, match=rf"^target {target:g} ms on cpu-bs1: no uniform architecture fits") as e:
        _run(config, tmp_path / "out")
    assert "\n" not in str(e.value)
