"""MLflow's view of a pipeline run: the stages report what they produced, this writes it down.

Like Ray's MLflow logger callback, it observes: a stage computes, then hands its result over in one
call, and every MLflow run, metric, artifact and registry version is made here. One parent run per
``hardcore-nas run``; a nested run per latency table, supernet, search and fine-tune.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

from hardcore_nas import content_hash

from .cache import Cached
from .tracking import Registration, Tracker, registered_model_name, target_alias

__all__ = ["MlflowObserver"]


class MlflowObserver:
    """Records one pipeline run in ``config``'s tracking store and model registry."""

    def __init__(self, config):
        self.config = config
        self.tracker = Tracker(config.tracking_uri, config.experiment, config.artifact_root)
        self.parent_id = ""
        self.supernet_run_id = ""
        self.table_hashes: dict[str, str] = {}

    # --- the run ---------------------------------------------------------------------------------
    def run_exists(self, run_id: str) -> bool:
        return self.tracker.run_exists(run_id)

    def run_started(self, out: Path, config_hash: str, resume_id: str | None) -> str:
        self.parent_id = self.tracker.start_parent(
            f"run {self.config.name}", self.config.to_dict(), tags={"out": out, "config_hash": config_hash},
            resume_id=resume_id)
        return self.parent_id

    def run_ended(self, failed: bool) -> None:
        if self.parent_id:
            self.tracker.end(self.parent_id, failed=failed)

    def outputs_written(self, paths: list[Path]) -> None:
        for path in paths:
            self.tracker.log_artifact(self.parent_id, path)

    # --- stages ----------------------------------------------------------------------------------
    def table_ready(self, cached: Cached, model, profile) -> None:
        table, manifest = cached.value, cached.manifest
        self.table_hashes[profile.name] = table.content_hash
        tags = {"stage": "latency-table", "input_hash": cached.entry.key, "table_hash": table.content_hash,
                "reused": cached.reused, "source_run_id": (manifest or {}).get("run_id", ""),
                "cpu": table.device.get("cpu"), "gpu": table.device.get("gpu")}
        with self.tracker.child_run(f"latency table {profile.name}",
                                    {"device": profile.to_dict(), "protocol": table.protocol}, tags) as run_id:
            self.tracker.log_metrics(run_id, [(0, {"least_ms": model.least(), "largest_ms": model.largest(),
                                                   "constant_ms": table.constant.median,
                                                   "measure_seconds": table.seconds})])
            self.tracker.log_artifact(run_id, cached.entry.path / "table.json", "latency_table")
        if not cached.reused:
            cached.entry.complete(run_id=run_id)

    def supernet_ready(self, cached: Cached, test_top1: Mapping[str, float], histories: Mapping[str, list]) -> str:
        """w-bar and w*: reused (``histories`` empty) or trained in this run; the run id that trained them."""
        top1 = [(0, {f"test_top1/{k}": v for k, v in test_top1.items()})]
        entry = cached.entry
        if cached.reused:
            self.supernet_run_id = cached.manifest["run_id"]
            tags = {"stage": "supernet", "input_hash": entry.key, "reused": True,
                    "source_run_id": self.supernet_run_id}
            with self.tracker.child_run("supernet (reused)", tags=tags) as run_id:
                self.tracker.log_metrics(run_id, top1)
            return self.supernet_run_id
        tags = {"stage": "supernet", "input_hash": entry.key}
        with self.tracker.child_run("supernet", {"inputs": entry.inputs}, tags) as run_id:
            for stage, history in histories.items():
                self.tracker.log_metrics(run_id, [(r["epoch"], {f"{stage}/{k}": v for k, v in r.items()
                                                                if k != "epoch"}) for r in history])
            self.tracker.log_metrics(run_id, top1)
            self.tracker.log_text(run_id, json.dumps(entry.inputs, indent=1), "inputs.json")
        entry.complete(run_id=run_id, test_top1=dict(test_top1))
        self.supernet_run_id = run_id
        return run_id

    def search_finished(self, member, outcome) -> str:
        request, result = outcome.request, outcome.result
        params = {"device": member.device, "target_ms": member.target_ms, "algorithm": request.algorithm,
                  **request.resolved_options.as_dict(), "seed": request.seed,
                  "constraints": {c.name: c.bound for c in request.constraints}}
        tags = {"stage": "search", "latency_table_hash": self.table_hashes[member.device],
                "supernet_run_id": self.supernet_run_id, "projection": result.projection}
        with self.tracker.child_run(f"search {member.key}", params, tags) as run_id:
            self.tracker.log_metrics(run_id, [(r.step, r.metrics()) for r in result.log])
            self.tracker.log_metrics(run_id, [(request.steps, {
                "predicted_ms": member.predicted_ms, **member.resources,
                **{f"slack/{k}": v for k, v in result.slack.items()},
                "search_seconds": outcome.seconds, "solver_seconds": result.solver_seconds,
                "images": result.images, "violated": float(result.violated)})])
            self.tracker.log_text(run_id, member.arch + "\n", "arch.txt")
        return run_id

    def finetune_finished(self, arch: str, recipe, result, model, example) -> tuple[str, str, str]:
        """A fine-tune trial's history, test top-1 and model (torch, and ONNX for ONNX Runtime); returns
        ``(run id, torch model URI, ONNX model URI)``."""
        history = result.metrics_dataframe
        epochs = history[history["train_loss"].notna()] if "train_loss" in history else history.iloc[:0]
        metric_names = [c for c in ("train_loss", "train_top1", "val_top1", "lr") if c in epochs]
        params = {"arch": arch, **{f"recipe.{k}": v for k, v in dataclasses.asdict(recipe).items()}}
        tags = {"stage": "finetune", "supernet_run_id": self.supernet_run_id}
        with self.tracker.child_run(f"fine-tune {content_hash(arch)}", params, tags) as run_id:
            self.tracker.log_metrics(run_id, [(int(row["epoch"]), {k: row[k] for k in metric_names})
                                              for _, row in epochs.iterrows()])
            self.tracker.log_metrics(run_id, [(recipe.epochs, {"test_top1": result.metrics["test_top1"]})])
            model_uri = self.tracker.log_model(run_id, model, example)
            onnx_uri = self.tracker.log_onnx_model(run_id, model, example)
            self.tracker.log_text(run_id, arch + "\n", "arch.txt")
        return run_id, model_uri, onnx_uri

    # --- the registry ----------------------------------------------------------------------------
    def register(self, member, dataset: str, space_name: str) -> Registration:
        """A version of the device's registered model for ``member``, aliased by its target."""
        name = registered_model_name(dataset, member.device)
        profile = {d.name: d for d in self.config.devices}[member.device]
        tags = {"device": member.device, "target_ms": member.target_ms,
                "predicted_ms": round(member.predicted_ms, 4), "measured_ms": round(member.measured_ms, 4),
                "measured_spread_ms": round(member.measured_spread_ms, 4), "top1": round(member.top1, 3),
                **member.resources, "arch": member.arch,
                "latency_table_hash": self.table_hashes[member.device], "supernet_run_id": self.supernet_run_id,
                "over_target": member.over_target, "search_run_id": member.search_run_id,
                "finetune_run_id": member.finetune_run_id, "pipeline_run_id": self.parent_id, "member": member.key,
                # the latency backend the device measures with, and the same network for ONNX Runtime
                "runtime": profile.backend,
                "onnx_model_uri": member.onnx_model_uri,
                # the process the latencies hold for, and how a deployment gets the same process
                "process": profile.process, "process_setup": profile.condition.instructions()}
        description = (f"HardCoRe-NAS family on {dataset}, space {space_name}, for device {member.device}: "
                       f"one version per latency target, aliased by its target in ms "
                       f"({target_alias(member.target_ms)} is the member for {member.target_ms:g} ms). "
                       f"Latencies hold for {profile.threads or 'all'} thread(s), batch {profile.batch_size}, "
                       f"on {profile.backend} in {profile.condition.instructions()}.")
        return self.tracker.register(member.model_uri, name, target_alias(member.target_ms), tags, description,
                                     identity=("pipeline_run_id", "member"))
