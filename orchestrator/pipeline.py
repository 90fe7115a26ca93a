"""The ``hardcore-nas run`` pipeline: from a config to a registered Pareto family.

Stages, in this order (on one machine the order is what keeps latency measurement apart from training:
tables are measured before any training and the members after the last fine-tune; on a cluster the
probes run on device-labelled nodes, which nothing else asks for):

1. latency tables, one per device, measured on that device's node (cached by content hash);
2. the supernet: w-bar then w* (cached by content hash);
3. targets: explicit or spread over each table's reachable range, each checked feasible;
4. searches: a pool of gradient actors holding w* (put in the object store once), one BCSFW search
   task per (device, target), all at once;
5. fine-tunes: one Ray Tune trial per distinct architecture found (KD from w-bar, checkpoints, retries);
6. measurement of every member's latency on its device;
7. registration of every member in the MLflow Model Registry, and ``pareto.csv``, ``pareto.png``,
   ``report.md``.

Cached stages live in ``cache_dir`` keyed by a hash of everything they depend on; the hash is recorded
in MLflow and a reused stage says which run produced it. ``--resume`` continues an interrupted run in
the same output folder: finished searches, fine-tune trials (Ray Tune restores its experiment),
measurements and registrations are kept.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hardcore_nas import UsageError, content_hash

from .config import RunConfig
from .progress import Progress
from .report import StageCost, plot_pareto, render_report, write_pareto_csv
from .tracking import Tracker, registered_model_name, target_alias

__all__ = ["STAGES", "Member", "Pipeline", "run_pipeline"]

STAGES = ["latency tables", "supernet", "targets", "searches", "fine-tunes", "measurement",
          "registry and report"]


@dataclass
class Member:
    """One (device, target) of the family, filled in stage by stage."""
    device: str
    target_ms: float
    key: str
    arch: str = ""
    predicted_ms: float = math.nan
    params: int = 0
    macs: int = 0
    search_run_id: str = ""
    top1: float = math.nan
    finetune_run_id: str = ""
    model_uri: str = ""
    measured_ms: float = math.nan
    measured_spread_ms: float = math.nan
    over_target: bool = False
    registered_version: int = 0
    registered_uri: str = ""


@dataclass
class RunState:
    """What a run has finished, on disk (``<out>/state.json``) so that ``--resume`` can continue."""
    config_hash: str
    parent_run_id: str = ""
    members: dict[str, dict] = field(default_factory=dict)
    finetunes: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> RunState | None:
        return cls(**json.loads(path.read_text())) if path.is_file() else None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        tmp.replace(path)


class Pipeline:
    """One ``hardcore-nas run``; :meth:`run` returns the report's path."""

    def __init__(self, config: RunConfig, out: Path, resume: bool = False):
        self.config = config
        self.out = Path(out).resolve()
        self.cache = Path(config.cache_dir).resolve()
        self.resume = resume
        self.progress = Progress(STAGES)
        self.costs: list[StageCost] = []
        self.reused: list[str] = []
        self.space = config.space()
        self.tables: dict = {}
        self.latency_models: dict = {}      # device -> formula (3) of its table (solvers.ResourceModel)
        self.table_hashes: dict[str, str] = {}
        self.supernet_run_id = ""
        self.supernet_top1: dict[str, float] = {}
        self.members: list[Member] = []
        self.state_path = self.out / "state.json"

    # --- the whole run ---------------------------------------------------------------------------
    def run(self) -> Path:
        from supernet.data import load_data
        from workers.counts import count_models

        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.splits = load_data(self.config.data, self.space.input_size, seed=self.config.training_seed)
        self.num_classes = self.splits.num_classes
        self.counts = count_models(self.space, self.num_classes)
        self._start_ray()
        self.tracker = Tracker(self.config.tracking_uri, self.config.experiment, self.config.artifact_root)
        self._open_state()
        failed = True
        try:
            with self.progress.stage("latency tables"):
                self._latency_tables()
            with self.progress.stage("supernet"):
                weights = self._supernet()
            with self.progress.stage("targets"):
                self._targets()
            with self.progress.stage("searches"):
                self._searches(weights)
            with self.progress.stage("fine-tunes"):
                self._finetunes(weights)
            with self.progress.stage("measurement"):
                self._measure()
            with self.progress.stage("registry and report"):
                report = self._register_and_report(time.perf_counter() - started)
            failed = False
        finally:
            self.tracker.end(self.state.parent_run_id, failed=failed)
        return report

    def _start_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        # Remote work posts its progress to the driver's bars (ProgressBoard), not as tqdm bars of its own.
        quiet = {"env_vars": {"TQDM_DISABLE": "1"}}
        if self.config.ray_address:
            ray.init(address=self.config.ray_address, runtime_env=quiet)
        else:
            ray.init(num_cpus=self.config.local_cpus,
                     resources={d.resource_label: 1 for d in self.config.devices},
                     include_dashboard=False, runtime_env=quiet)

    def _open_state(self) -> None:
        config_hash = content_hash(self.config.to_dict())
        state = RunState.load(self.state_path) if self.resume else None
        if state is not None and state.config_hash != config_hash:
            raise UsageError(f"--resume: {self.out} holds a run of another config; run without --resume "
                             f"or give the same config")
        if state is not None and not self.tracker.run_exists(state.parent_run_id):
            raise UsageError(f"--resume: the MLflow run {state.parent_run_id} of {self.out} is not in "
                             f"{self.config.tracking_uri}; run without --resume")
        if self.resume and state is None:
            self.progress.say(f"--resume: nothing to resume in {self.out}; starting a new run")
        if state is None:       # a new run: no trials of an earlier run in this folder
            shutil.rmtree(self.out / "tune", ignore_errors=True)
        self.state = state or RunState(config_hash)
        self.state.parent_run_id = self.tracker.start_parent(
            f"run {self.config.name}", self.config.to_dict(),
            tags={"out": self.out, "config_hash": config_hash}, resume_id=state and state.parent_run_id)
        self.state.save(self.state_path)

    # --- 1. latency tables -----------------------------------------------------------------------
    def _latency_tables(self) -> None:
        """Measured one device at a time (on one machine every device label is on the same node)."""
        import ray

        from workers.latency import fingerprint, measure_table, table_visits
        from workers.latency_table import LatencyTable
        from workers.latency_tasks import on_device
        from workers.monitoring import cpu_timed, start_board

        for profile in self.config.devices:
            inputs = {"space": self.space.hash, "profile": profile.to_dict(),
                      "protocol": self.config.latency_protocol, "num_classes": self.num_classes}
            if self.config.ray_address is None:
                # Measured here: another CPU, torch or Python must not reuse this machine's table.
                inputs["machine"] = fingerprint(profile)
            key = content_hash(inputs)
            path = self.cache / "tables" / f"{profile.name}-{key}" / "table.json"
            manifest = _read_manifest(path.parent / "manifest.json")
            tic = time.perf_counter()
            if path.is_file() and manifest:
                table, cpu = LatencyTable.load(path), 0.0
                self.reused.append(f"latency table of {profile.name}: {path} (measured by MLflow run "
                                   f"{manifest['run_id']}, key {key})")
            else:
                board, protocol = start_board(), self.config.protocol()
                task = on_device(cpu_timed(measure_table), profile)
                ref = task.remote(self.space, profile, protocol=protocol, num_classes=self.num_classes,
                                  progress=lambda n, board=board: board.add.remote("visits", n))
                table, cpu = self.progress.wait(ref, f"measuring the {profile.name} table", board,
                                                table_visits(self.space, protocol))
                ray.kill(board)
                table.save(path)
            table.check_space(self.space)
            model = table.resource_model(self.space)
            run_id = self.tracker.child(
                f"latency table {profile.name}", {"device": profile.to_dict(), "protocol": table.protocol},
                tags={"stage": "latency-table", "input_hash": key, "table_hash": table.content_hash,
                      "reused": bool(manifest), "source_run_id": manifest.get("run_id", "") if manifest else "",
                      "cpu": table.device.get("cpu"), "gpu": table.device.get("gpu")})
            self.tracker.log_metrics(run_id, [(0, {"least_ms": model.least(), "largest_ms": model.largest(),
                                                   "constant_ms": table.constant.median,
                                                   "measure_seconds": table.seconds})])
            self.tracker.log_artifact(run_id, path, "latency_table")
            self.tracker.end(run_id)
            if not manifest:
                _write_manifest(path.parent / "manifest.json", {"run_id": run_id, "key": key, "inputs": inputs})
            self.tables[profile.name] = table
            self.latency_models[profile.name] = model
            self.table_hashes[profile.name] = table.content_hash
            self.costs.append(StageCost(f"latency table {profile.name}", time.perf_counter() - tic, cpu,
                                        reused=bool(manifest), note=f"{len(table.entries)} entries"))
            self.progress.say(f"  {profile.name}: {model.least():.3f}..{model.largest():.3f} ms reachable "
                              f"({'reused' if manifest else 'measured'}, {table.device.get('cpu')})")

    # --- 2. supernet -------------------------------------------------------------------------------
    def _supernet(self) -> dict:
        """w-bar and w* as numpy state dicts, trained or read from the cache."""
        import ray

        from workers.monitoring import start_board
        from workers.supernet_task import start_supernet_training

        recipe = self.config.training_recipe()
        inputs = {"data": self.config.data, "space": self.space.hash, "num_classes": self.num_classes,
                  "heaviest": dataclasses.asdict(recipe.heaviest),
                  "supernet": dataclasses.asdict(recipe.supernet), "seed": self.config.training_seed}
        key = content_hash(inputs)
        folder = self.cache / "supernet" / key
        manifest = _read_manifest(folder / "manifest.json")
        tic = time.perf_counter()
        if manifest:
            weights = _load_weights(folder, self.space)
            self.supernet_run_id, self.supernet_top1 = manifest["run_id"], manifest["test_top1"]
            self.reused.append(f"supernet (w-bar, w*): {folder} (trained by MLflow run {manifest['run_id']}, "
                               f"key {key})")
            run_id = self.tracker.child("supernet (reused)", tags={
                "stage": "supernet", "input_hash": key, "reused": True, "source_run_id": manifest["run_id"]})
            self.tracker.log_metrics(run_id, [(0, {f"test_top1/{k}": v for k, v in manifest["test_top1"].items()})])
            self.tracker.end(run_id)
            self.costs.append(StageCost("supernet (w-bar, w*)", time.perf_counter() - tic, 0.0, reused=True))
            return weights
        run_id = self.tracker.child("supernet", {"inputs": inputs}, tags={"stage": "supernet", "input_hash": key})
        res, board = self.config.resources.supernet, start_board()
        ref = start_supernet_training(self.space, self.num_classes, self.config.data, self.config.training_seed,
                                      recipe, self.config.training_seed, board, res.cpus, res.gpus)
        trained, cpu = self.progress.wait(ref, "training w-bar, then w*", board,
                                          recipe.heaviest.epochs + recipe.supernet.epochs)
        ray.kill(board)
        self.tracker.log_metrics(run_id, [(r["epoch"], _prefixed("heaviest/", r)) for r in trained.heaviest_history])
        self.tracker.log_metrics(run_id, [(r["epoch"], _prefixed("supernet/", r)) for r in trained.supernet_history])
        self.tracker.log_metrics(run_id, [(0, {f"test_top1/{k}": v for k, v in trained.test_top1.items()})])
        weights = {"teacher": trained.teacher, "supernet": trained.supernet}
        _save_weights(folder, trained, self.space, self.num_classes, recipe,
                      {"data": self.config.data, "seed": self.config.training_seed})
        _write_manifest(folder / "manifest.json", {"run_id": run_id, "key": key, "inputs": inputs,
                                                   "test_top1": trained.test_top1})
        self.tracker.log_text(run_id, json.dumps(inputs, indent=1), "inputs.json")
        self.tracker.end(run_id)
        self.supernet_run_id, self.supernet_top1 = run_id, trained.test_top1
        self.costs.append(StageCost("supernet (w-bar, w*)", time.perf_counter() - tic, cpu,
                                    note=", ".join(f"{k} {v:.1f}%" for k, v in trained.test_top1.items())))
        self.progress.say("  test top-1: " + ", ".join(f"{k} {v:.1f}%" for k, v in trained.test_top1.items()))
        return weights

    # --- 3. targets ------------------------------------------------------------------------------
    def _constraints(self, device: str, target_ms: float) -> list:
        from solvers import Constraint
        from workers.counts import count_constraints

        return [Constraint(self.latency_models[device], target_ms),
                *count_constraints(self.counts, self.config.max_params, self.config.max_macs)]

    def _targets(self) -> None:
        from solvers import ConstraintSet, InfeasibleConstraintError, feasible_architecture

        for device in self.config.device_names:
            spec = self.config.targets[device]
            model = self.latency_models[device]
            if spec.auto:
                least, largest = model.least(), model.largest()
                values = [float(f"{least + (largest - least) * i / (spec.auto + 1):.3g}")
                          for i in range(1, spec.auto + 1)]
            else:
                values = list(spec.values_ms)
            for target in dict.fromkeys(values):
                try:
                    feasible_architecture(ConstraintSet(self._constraints(device, target)))
                except InfeasibleConstraintError as exc:
                    raise UsageError(f"target {target:g} ms on {device}: {exc}") from None
                key = f"{device}@{target:g}ms"
                self.members.append(Member(device, target, key))
            self.progress.say(f"  {device}: targets {', '.join(f'{v:g}' for v in values)} ms")

    # --- 4. searches -----------------------------------------------------------------------------
    def _searches(self, weights: dict) -> None:
        import ray

        from workers.gradients import GradientPool
        from workers.monitoring import start_board
        from workers.search_tasks import SearchRequest, start_search

        todo = []
        for m in self.members:
            if m.key in self.state.members:
                _restore(m, self.state.members[m.key])
            else:
                todo.append(m)
        if len(todo) < len(self.members):
            self.reused.append(f"{len(self.members) - len(todo)} of {len(self.members)} searches: from the "
                               f"interrupted run (--resume)")
        if not todo:
            self.costs.append(StageCost("searches", 0.0, 0.0, reused=True, per_model=True))
            return
        s = self.config.search
        tic = time.perf_counter()
        res = self.config.resources
        pool = GradientPool.start(self.space, self.num_classes, ray.put(weights["supernet"]), self.config.data,
                                  self.config.training_seed, s.gradient_workers, res.gradient_worker.cpus,
                                  res.gradient_worker.gpus)
        board = start_board()
        options = {"gamma_max": s.gamma, "schedule": s.schedule, "momentum": s.momentum,
                   "block_choice": s.block_choice}
        refs = {}
        for i, m in enumerate(todo):
            request = SearchRequest(m.key, tuple(self._constraints(m.device, m.target_ms)),
                                    s.steps, s.batch_size, s.seed + i, options)
            refs[m.key] = start_search(request, self.space, pool, board, res.search.cpus)
        by_key = {m.key: m for m in todo}
        solver_s = 0.0
        try:
            for key, outcome in self.progress.searches(refs, board, s.steps):
                self._log_search(by_key[key], outcome)
                solver_s += outcome.result.solver_seconds
            gradient_cpu = pool.cpu_seconds()
        finally:
            pool.shutdown()
            ray.kill(board)
        self.costs.append(StageCost("searches", time.perf_counter() - tic, gradient_cpu + solver_s, per_model=True,
                                    note=f"{len(todo)} searches x {s.steps} steps, {s.gradient_workers} "
                                         f"gradient actors"))

    def _log_search(self, member: Member, outcome) -> None:
        arch = outcome.arch
        one_hot = arch.to_one_hot()
        member.arch = str(arch)
        member.predicted_ms = self.latency_models[member.device].evaluate(*one_hot)
        member.params = round(self.counts["params"].evaluate(*one_hot))
        member.macs = round(self.counts["macs"].evaluate(*one_hot))
        request, result = outcome.request, outcome.result
        run_id = self.tracker.child(
            f"search {member.key}",
            {"device": member.device, "target_ms": member.target_ms, "steps": request.steps,
             "batch_size": request.batch_size, "seed": request.seed, **request.solver_options,
             "constraints": {c.name: c.bound for c in request.constraints}},
            tags={"stage": "search", "latency_table_hash": self.table_hashes[member.device],
                  "supernet_run_id": self.supernet_run_id, "projection": result.projection})
        self.tracker.log_metrics(run_id, [(r.step, r.metrics()) for r in result.log])
        self.tracker.log_metrics(run_id, [(request.steps, {
            "predicted_ms": member.predicted_ms, "params": member.params, "macs": member.macs,
            **{f"slack/{k}": v for k, v in result.slack.items()},
            "search_seconds": outcome.seconds, "solver_seconds": result.solver_seconds})])
        self.tracker.log_text(run_id, member.arch + "\n", "arch.txt")
        self.tracker.end(run_id)
        member.search_run_id = run_id
        self._remember(member)

    # --- 5. fine-tunes ---------------------------------------------------------------------------
    def _finetunes(self, weights: dict) -> None:
        archs = list(dict.fromkeys(m.arch for m in self.members))
        todo = [a for a in archs if a not in self.state.finetunes]
        tic = time.perf_counter()
        cpu = 0.0
        if todo:
            cpu = self._run_trials(weights, todo)
        else:
            self.reused.append("every fine-tune: from the interrupted run (--resume)")
        for m in self.members:
            done = self.state.finetunes[m.arch]
            m.top1, m.finetune_run_id, m.model_uri = done["top1"], done["run_id"], done["model_uri"]
        self.costs.append(StageCost("fine-tunes", time.perf_counter() - tic, cpu, reused=not todo, per_model=True,
                                    note=f"{len(todo)} distinct architectures of {len(self.members)} members, "
                                         f"{self.config.training_recipe().finetune.epochs} epochs each; "
                                         f"models logged to MLflow (torch.export)"))

    def _run_trials(self, weights: dict, archs: list[str]) -> float:
        """One Tune trial per architecture; logs each to MLflow with its model. Returns CPU seconds."""
        from ray import tune

        from supernet.arch import Architecture
        from workers.finetune import FinetuneJob, load_checkpoint_model, trainable

        recipe = self.config.training_recipe().finetune
        res = self.config.resources.finetune
        job = FinetuneJob(self.space, self.num_classes, self.config.data, self.config.training_seed, recipe,
                          max(1, int(res.cpus)), use_gpu=res.gpus > 0)
        fn = trainable(job, weights["supernet"], weights["teacher"], res.cpus, res.gpus)
        storage = self.out / "tune"
        if self.resume and tune.Tuner.can_restore(storage / "finetune"):
            self.progress.say("  resuming the interrupted fine-tune trials")
            tuner = tune.Tuner.restore(str(storage / "finetune"), trainable=fn, resume_errored=True)
        else:
            tuner = tune.Tuner(
                fn, param_space={"arch": tune.grid_search(archs)},
                tune_config=tune.TuneConfig(reuse_actors=False),
                run_config=tune.RunConfig(
                    name="finetune", storage_path=str(storage), verbose=0,
                    failure_config=tune.FailureConfig(max_failures=self.config.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    callbacks=[self.progress.tune_callback(len(archs), recipe.epochs)]))
        results = tuner.fit()
        errors = [r for r in results if r.error is not None]
        if errors:
            raise RuntimeError(f"{len(errors)} fine-tune trial(s) failed after {self.config.max_failures} "
                               f"retries (first: {errors[0].error}); rerun with --resume to continue")
        example = np.stack([self.splits.test[i][0].numpy() for i in range(2)]).astype(np.float32)
        cpu = 0.0
        for result in results:
            arch = result.config["arch"]
            if arch in self.state.finetunes or arch not in archs:
                continue
            history = result.metrics_dataframe
            epochs = history[history["train_loss"].notna()] if "train_loss" in history else history.iloc[:0]
            run_id = self.tracker.child(f"fine-tune {content_hash(arch)}", {
                "arch": arch, **{f"recipe.{k}": v for k, v in dataclasses.asdict(recipe).items()}},
                tags={"stage": "finetune", "supernet_run_id": self.supernet_run_id})
            metric_names = [c for c in ("train_loss", "train_top1", "val_top1", "lr") if c in epochs]
            self.tracker.log_metrics(run_id, [(int(row["epoch"]), {k: row[k] for k in metric_names})
                                              for _, row in epochs.iterrows()])
            self.tracker.log_metrics(run_id, [(recipe.epochs, {"test_top1": result.metrics["test_top1"]})])
            with result.checkpoint.as_directory() as folder:
                model = load_checkpoint_model(folder, Architecture.from_string(arch, self.space), self.num_classes)
            model_uri = self.tracker.log_model(run_id, model, example)
            self.tracker.log_text(run_id, arch + "\n", "arch.txt")
            self.tracker.end(run_id)
            cpu += float(result.metrics.get("cpu_seconds", 0.0))
            self.state.finetunes[arch] = {"top1": float(result.metrics["test_top1"]), "run_id": run_id,
                                          "model_uri": model_uri}
            self.state.save(self.state_path)
        return cpu

    # --- 6. measurement --------------------------------------------------------------------------
    def _measure(self) -> None:
        import ray

        from supernet.arch import Architecture
        from workers.latency import measure_networks
        from workers.latency_tasks import on_device
        from workers.monitoring import cpu_timed, start_board

        for profile in self.config.devices:
            members = [m for m in self.members if m.device == profile.name and math.isnan(m.measured_ms)]
            if not members:
                continue
            tic = time.perf_counter()
            archs = list(dict.fromkeys(m.arch for m in members))
            board, protocol = start_board(), self.config.protocol()
            task = on_device(cpu_timed(measure_networks), profile)
            ref = task.remote(self.space, [Architecture.from_string(a, self.space) for a in archs], profile,
                              protocol, self.num_classes, progress=lambda n, board=board: board.add.remote("visits", n))
            timings, cpu = self.progress.wait(ref, f"measuring {len(archs)} members on {profile.name}", board,
                                              len(archs) * protocol.visits)
            ray.kill(board)
            by_arch = dict(zip(archs, timings))
            for m in members:
                timing = by_arch[m.arch]     # the tables' statistic: a quantile of whole-network runs
                m.measured_ms, m.measured_spread_ms = timing.latency_ms(protocol.run_quantile), timing.spread_ms()
                noise = max(self.config.latency_noise * m.target_ms, m.measured_spread_ms)
                m.over_target = bool(m.measured_ms > m.target_ms + noise)
                self._remember(m)
            self.costs.append(StageCost(f"measurement {profile.name}", time.perf_counter() - tic, cpu,
                                        per_model=True, note=f"{len(archs)} networks"))

    # --- 7. registry and report ------------------------------------------------------------------
    def _register_and_report(self, elapsed_s: float) -> Path:
        tic, cpu0 = time.perf_counter(), time.process_time()
        for m in self.members:
            if not m.registered_version:
                self._register(m)
        table = pd.DataFrame([dataclasses.asdict(m) for m in self.members])
        table["model_uri"] = table["registered_uri"]
        csv = write_pareto_csv(table, self.out / "pareto.csv")
        png = plot_pareto(table, self.out / "pareto.png")
        self.costs.append(StageCost("registry and report", time.perf_counter() - tic, time.process_time() - cpu0,
                                    per_model=True, note="registration, pareto.csv/png, report.md"))
        summary = [
            f"Data `{self.config.data}` ({self.num_classes} classes, {len(self.splits.test)} held-out test "
            f"images), space `{self.space.name}` (width x{self.space.width_multiplier:g}), devices "
            + ", ".join(f"`{d}` ({self.tables[d].device.get('cpu')}, {self.tables[d].device.get('threads')} "
                        f"thread(s), batch {self.tables[d].device.get('batch_size')})"
                        for d in self.config.device_names)
            + ".",
            f"MLflow run `{self.state.parent_run_id}` in `{self.config.tracking_uri}`, experiment "
            f"`{self.config.experiment}`; registered models "
            + ", ".join(f"`{registered_model_name(self.config.dataset, d)}`" for d in self.config.device_names)
            + f". Whole run: {elapsed_s + time.perf_counter() - tic:.0f} s wall.",
        ]
        text = render_report(f"hardcore-nas run `{self.config.name}`", summary, table, self.costs, self.reused,
                             self.config.latency_noise, len(self.splits.test), self.supernet_top1)
        report = self.out / "report.md"
        report.write_text(text)
        for path in (csv, png, report):
            self.tracker.log_artifact(self.state.parent_run_id, path)
        return report

    def _register(self, m: Member) -> None:
        name = registered_model_name(self.config.dataset, m.device)
        tags = {"device": m.device, "target_ms": m.target_ms, "predicted_ms": round(m.predicted_ms, 4),
                "measured_ms": round(m.measured_ms, 4), "measured_spread_ms": round(m.measured_spread_ms, 4),
                "top1": round(m.top1, 3), "params": m.params, "macs": m.macs, "arch": m.arch,
                "latency_table_hash": self.table_hashes[m.device], "supernet_run_id": self.supernet_run_id,
                "over_target": m.over_target, "search_run_id": m.search_run_id,
                "finetune_run_id": m.finetune_run_id, "pipeline_run_id": self.state.parent_run_id}
        description = (f"HardCoRe-NAS family on {self.config.dataset}, space {self.space.name}, for device "
                       f"{m.device}: one version per latency target, aliased by its target in ms "
                       f"({target_alias(m.target_ms)} is the member for {m.target_ms:g} ms)")
        registration = self.tracker.register(m.model_uri, name, target_alias(m.target_ms), tags, description)
        m.registered_version, m.registered_uri = registration.version, registration.uri
        self._remember(m)

    def _remember(self, member: Member) -> None:
        self.state.members[member.key] = dataclasses.asdict(member)
        self.state.save(self.state_path)


def run_pipeline(config: RunConfig, out: Path, resume: bool = False) -> Path:
    return Pipeline(config, out, resume).run()


# --- helpers ---------------------------------------------------------------------------------------
def _prefixed(prefix: str, record: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in record.items() if k != "epoch"}


def _restore(member: Member, saved: dict) -> None:
    for key, value in saved.items():
        setattr(member, key, value)


def _read_manifest(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _write_manifest(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=str))


def _save_weights(folder: Path, trained, space, num_classes: int, recipe, context: dict) -> None:
    """w-bar and w* as ``train-supernet`` writes them, so that a cache folder also serves
    ``hardcore-nas search --supernet`` and ``train-supernet --out``."""
    from supernet.checkpoints import save_stage
    from workers.gradients import supernet_from_weights, teacher_from_weights

    metrics = {"test_top1": trained.test_top1}
    save_stage(folder, "heaviest", teacher_from_weights(space, num_classes, trained.teacher), space=space,
               num_classes=num_classes, recipe=recipe, metrics={"history": trained.heaviest_history, **metrics},
               context=context)
    save_stage(folder, "supernet", supernet_from_weights(space, num_classes, trained.supernet), space=space,
               num_classes=num_classes, recipe=recipe, metrics={"history": trained.supernet_history, **metrics},
               context=context)


def _load_weights(folder: Path, space) -> dict[str, dict[str, np.ndarray]]:
    from supernet.checkpoints import STAGE_FILES, load_heaviest, load_supernet
    from workers.gradients import numpy_state

    return {"teacher": numpy_state(load_heaviest(folder / STAGE_FILES["heaviest"], space)[0]),
            "supernet": numpy_state(load_supernet(folder / STAGE_FILES["supernet"], space)[0])}
