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
6. measurement of every member's latency on its device, beside the reference network that tells how
   far the machine's speed moved since the table (a member whose passes disagree is measured again);
7. the closed loop: a member measured over its target is searched again with the bound scaled by
   predicted / measured, fine-tuned and measured (``latency.retries`` rounds); the most accurate member
   within its target is kept;
8. registration of every kept member in the MLflow Model Registry, and ``pareto.csv``, ``pareto.png``,
   ``report.md``.

Each stage method reads as its steps; the cache (:mod:`.cache`) decides compute-or-reuse, and an
observer (:class:`~orchestrator.observer.MlflowObserver`) records what each stage produced.
``--resume`` continues an interrupted run in the same output folder: finished searches, fine-tunes,
measurements and registrations are kept, and an interrupted fine-tune goes on from its last epoch.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hardcore_nas import UsageError, content_hash
from hardcore_nas.logs import worker_runtime_env

from .cache import Cached, StageCache
from .config import RunConfig
from .observer import MlflowObserver
from .progress import Progress
from .report import UNDER_USED, StageCost, is_under_used, plot_pareto, render_report, write_pareto_csv
from .state import Finetune, RunState
from .tracking import registered_model_name

__all__ = ["STAGES", "Member", "Pipeline", "run_pipeline"]

logger = logging.getLogger(__name__)

STAGES = ["latency tables", "supernet", "targets", "searches", "fine-tunes", "measurement", "closed loop",
          "registry and report"]
MEASUREMENT_PASSES = 3  # separate measurements of each member (processes: the level moves between them)
SPREAD_REDOS = 2        # more passes of a member whose passes disagree beyond the noise allowance
BUDGET_IMAGES = 512     # validation images scoring such a member beside the largest uniform architecture


@dataclass
class Member:
    """One (device, target) of the family in one round of the closed loop, filled in stage by stage."""
    device: str
    target_ms: float
    key: str
    bound_ms: float = math.nan      # the latency bound searched with: the target, scaled in later rounds
    round: int = 1
    arch: str = ""
    predicted_ms: float = math.nan
    resources: dict[str, int] = field(default_factory=dict)    # params, macs, ... (workers.resources)
    search_run_id: str = ""
    top1: float = math.nan
    finetune_run_id: str = ""
    model_uri: str = ""
    onnx_model_uri: str = ""
    measured_ms: float = math.nan
    measured_spread_ms: float = math.nan
    measurements: int = 0           # passes measured; more than MEASUREMENT_PASSES: they disagreed at first
    drift: float = 1.0              # the reference network's latency now / with the table
    expected_ms: float = math.nan   # the prediction rescaled by the drift when it is beyond noise
    over_target: bool = False
    kept: bool = True               # the member of its (device, target) the family keeps
    loop_end: str = ""              # why the closed loop searched this member's (device, target) no further
    registered_version: int = 0
    registered_uri: str = ""
    # Only for a member predicted below report.UNDER_USED of its target (workers.search_tasks.BudgetUse):
    last_ms: float = math.nan       # expected latency at the search's last iterate
    signal_loss: float = math.nan   # w*'s validation loss of the member, the search's signal
    filled_arch: str = ""           # the largest uniform architecture within the member's bound
    filled_ms: float = math.nan
    filled_loss: float = math.nan


class Pipeline:
    """One ``hardcore-nas run``; :meth:`run` returns the report's path."""

    def __init__(self, config: RunConfig, out: Path, resume: bool = False):
        from supernet.data import load_data

        self.config = config
        self.out = Path(out).resolve()
        self.resume = resume
        self.saved = RunState.load(self.state_path, Member) if resume else None    # refused before any start
        self.observer = MlflowObserver(config)      # first: an unreachable tracking store fails before any work
        self.cache = StageCache(config.cache_dir)
        self.progress = Progress(STAGES)
        self.space = config.space()
        self.splits = load_data(config.data, self.space.input_size, seed=config.training_seed)
        self.num_classes = self.splits.num_classes
        self.state = RunState(content_hash(config.to_dict()))
        self.costs: list[StageCost] = []
        self.reused: list[str] = []
        self.tables: dict = {}               # device -> LatencyTable
        self.resources: dict = {}            # resource name -> workers.resources.Resource
        self.supernet_top1: dict[str, float] = {}
        self.members: list[Member] = []

    @property
    def state_path(self) -> Path:
        return self.out / "state.json"

    @property
    def finetune_epochs(self) -> Path:
        """Where each fine-tune keeps its last epoch, by architecture, for ``--resume``."""
        return self.out / "finetune-epochs"

    # --- the whole run ---------------------------------------------------------------------------
    def run(self) -> Path:
        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self._start_ray()
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
            with self.progress.stage("closed loop"):
                self._closed_loop(weights)
            with self.progress.stage("registry and report"):
                report = self._register_and_report(started)
            failed = False
        finally:
            self.observer.run_ended(failed)
        return report

    def _start_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        # Remote work posts its progress to the driver's bars (ProgressBoard), not as tqdm bars of its own.
        quiet = worker_runtime_env(TQDM_DISABLE="1")
        if self.config.ray_address:
            ray.init(address=self.config.ray_address, runtime_env=quiet)
        else:
            ray.init(num_cpus=self.config.local_cpus,
                     resources={d.resource_label: 1 for d in self.config.devices},
                     include_dashboard=False, runtime_env=quiet)

    def _open_state(self) -> None:
        saved = self.saved
        if saved is not None and saved.config_hash != self.state.config_hash:
            raise UsageError(f"--resume: {self.out} holds a run of another config; run without --resume "
                             f"or give the same config")
        if saved is not None and not self.observer.run_exists(saved.parent_run_id):
            raise UsageError(f"--resume: the MLflow run {saved.parent_run_id} of {self.out} is not in "
                             f"{self.config.tracking_uri}; run without --resume")
        if self.resume and saved is None:
            logger.warning("--resume: nothing to resume in %s; starting a new run", self.out)
        if saved is None:       # a new run: no trials of an earlier run in this folder
            shutil.rmtree(self.finetune_epochs, ignore_errors=True)
        self.state = saved or self.state
        self.state.parent_run_id = self.observer.run_started(self.out, self.state.config_hash,
                                                             saved and saved.parent_run_id)
        self.state.save(self.state_path)

    @contextmanager
    def _cost(self, name: str, per_model: bool = False, **details) -> Iterator[dict]:
        """Time a stage's wall clock; the block fills in what it learns (``cpu`` seconds, ``reused``, a
        ``note``) in the dict it gets."""
        cost = {"cpu_s": 0.0, "reused": False, "note": "", **details}
        tic = time.perf_counter()
        yield cost
        self.costs.append(StageCost(name, time.perf_counter() - tic, per_model=per_model, **cost))

    # --- 1. latency tables -----------------------------------------------------------------------
    def _latency_tables(self) -> None:
        """Measured one device at a time (on one machine every device label is on the same node)."""
        from workers.resources import ResourceContext, build_resources

        for profile in self.config.devices:
            with self.cache.open("tables", self._table_inputs(profile), profile.name) as entry:
                with self._cost(f"latency table {profile.name}") as cost:
                    cached = entry.get_or_compute(_load_table,
                                                  lambda folder, p=profile, c=cost: self._measure_table(p, folder, c))
                    table = cached.value
                    cost.update(reused=cached.reused, note=f"{len(table.entries)} entries")
                table.check_space(self.space)
                model = table.resource_model(self.space)
                self.observer.table_ready(cached, model, profile)
            self.tables[profile.name] = table
            self._say_reused(cached, f"latency table of {profile.name}: {cached.entry.path / 'table.json'}")
            self.progress.say(f"  {profile.name}: {model.least():.3f}..{model.largest():.3f} ms reachable "
                              f"({'reused' if cached.reused else 'measured'}, {table.device.get('cpu')})")
        self.resources = build_resources(ResourceContext(self.space, self.num_classes, self.tables))

    def _table_inputs(self, profile) -> dict:
        from workers.latency import fingerprint

        inputs = {"space": self.space.hash, "profile": profile.to_dict(),
                  "protocol": self.config.latency_protocol, "num_classes": self.num_classes}
        if self.config.ray_address is None:
            # Measured here: another CPU, torch or Python must not reuse this machine's table.
            inputs["machine"] = fingerprint(profile)
        return inputs

    def _measure_table(self, profile, folder: Path, cost: dict):
        from workers.latency import measure_table, table_visits
        from workers.latency_tasks import on_device
        from workers.monitoring import cpu_timed, progress_board

        protocol = self.config.protocol()
        with progress_board() as board:
            ref = on_device(cpu_timed(measure_table), profile).remote(
                self.space, profile, protocol=protocol, num_classes=self.num_classes,
                progress=lambda n: board.add.remote("visits", n))
            table, cost["cpu_s"] = self.progress.wait(ref, f"measuring the {profile.name} table", board,
                                                    table_visits(self.space, protocol))
        table.save(folder / "table.json")
        return table

    # --- 2. supernet -------------------------------------------------------------------------------
    def _supernet(self) -> dict:
        """w-bar and w* as numpy state dicts, trained or read from the cache."""
        recipe = self.config.training_recipe()
        inputs = {"data": self.config.data, "space": self.space.hash, "num_classes": self.num_classes,
                  "heaviest": dataclasses.asdict(recipe.heaviest),
                  "supernet": dataclasses.asdict(recipe.supernet), "seed": self.config.training_seed}
        with self.cache.open("supernet", inputs) as entry:
            with self._cost("supernet (w-bar, w*)") as cost:
                cached = entry.get_or_compute(lambda folder: _load_supernet(folder, self.space),
                                              lambda folder: self._train_supernet(recipe, folder, cost))
                trained = cached.value
                cost.update(reused=cached.reused, note=_top1_note(trained.test_top1))
            self.observer.supernet_ready(cached, trained.test_top1, {} if cached.reused else {
                "heaviest": trained.heaviest_history, "supernet": trained.supernet_history})
        self.supernet_top1 = trained.test_top1
        if not cached.reused:
            self.progress.say("  test top-1: " + _top1_note(trained.test_top1))
        self._say_reused(cached, f"supernet (w-bar, w*): {cached.entry.path}")
        return {"teacher": trained.teacher, "supernet": trained.supernet}

    def _train_supernet(self, recipe, folder: Path, cost: dict):
        from workers.monitoring import progress_board
        from workers.supernet_task import start_supernet_training

        res = self.config.resources.supernet
        # Each epoch's state, in the entry itself: a retried task, or a run started again after its driver
        # died, resumes after the last finished epoch (a cluster keeps its cache on the shared disk).
        epochs = folder / "epochs"
        if epochs.is_dir():
            self.progress.say(f"  resuming from the epochs saved in {epochs}")
        with progress_board() as board:
            ref = start_supernet_training(self.space, self.num_classes, self.config.data, self.config.training_seed,
                                          recipe, self.config.training_seed, board, res.cpus, res.gpus,
                                          str(epochs), self.config.max_failures)
            trained, cost["cpu_s"] = self.progress.wait(ref, "training w-bar, then w*", board,
                                                      recipe.heaviest.epochs + recipe.supernet.epochs)
        _save_supernet(folder, trained, self.space, self.num_classes, recipe,
                       {"data": self.config.data, "seed": self.config.training_seed})
        shutil.rmtree(epochs)       # not part of the entry: its manifest lists only the weights
        return trained

    # --- 3. targets ------------------------------------------------------------------------------
    def _constraints(self, device: str, target_ms: float) -> list:
        return [self.resources[f"latency:{device}"].constraint(target_ms),
                *(self.resources[name].constraint(bound) for name, bound in self.config.bounds.items())]

    def _targets(self) -> None:
        from solvers import ConstraintSet, InfeasibleConstraintError, SolverError, feasible_architecture

        for device in self.config.device_names:
            values = self._target_values(device)
            for target in values:
                try:
                    feasible_architecture(ConstraintSet(self._constraints(device, target)))
                except InfeasibleConstraintError as exc:
                    raise UsageError(f"target {target:g} ms on {device}: {exc}") from None
                except SolverError as exc:      # a limit reached or a HiGHS failure, not an answer
                    raise UsageError(f"target {target:g} ms on {device}: feasibility could not be decided "
                                     f"({exc}); try a looser target or fewer constraints") from None
                self.members.append(Member(device, target, f"{device}@{target:g}ms", bound_ms=target))
            self.progress.say(f"  {device}: targets {', '.join(f'{v:g}' for v in values)} ms")

    def _target_values(self, device: str) -> list[float]:
        """The device's explicit targets, or ``auto: N`` spread evenly inside its reachable range."""
        spec = self.config.targets[device]
        if not spec.auto:
            return list(dict.fromkeys(spec.values_ms))
        model = self.resources[f"latency:{device}"].model
        least, largest = model.least(), model.largest()
        return list(dict.fromkeys(float(f"{least + (largest - least) * i / (spec.auto + 1):.3g}")
                                  for i in range(1, spec.auto + 1)))

    # --- 4. searches -----------------------------------------------------------------------------
    def _searches(self, weights: dict, round_: int = 1) -> None:
        members = [m for m in self.members if m.round == round_]
        for m in members:
            if m.key in self.state.members:
                _restore(m, self.state.members[m.key])
        todo = [m for m in members if m.key not in self.state.members]
        if len(todo) < len(members):
            self.reused.append(f"{len(members) - len(todo)} of {len(members)} searches{_round(round_)}: from the "
                               f"interrupted run (--resume)")
        s = self.config.search
        with self._cost(f"searches{_round(round_)}", per_model=True, reused=not todo,
                        note=f"{len(todo)} searches x {s.steps} steps, {s.gradient_workers} gradient actors"
                        ) as cost:
            if todo:
                cost["cpu_s"] = self._run_searches(weights, todo)

    def _run_searches(self, weights: dict, todo: list[Member]) -> float:
        """One search task per member (``search.algorithm``), all at once on one gradient/score actor pool;
        returns CPU seconds."""
        import ray

        from solvers import InfeasibleConstraintError
        from workers.gradients import GradientPool
        from workers.monitoring import progress_board
        from workers.search_tasks import SearchRequest, start_search

        s, res = self.config.search, self.config.resources
        pool = GradientPool.start(self.space, self.num_classes, ray.put(weights["supernet"]), self.config.data,
                                  self.config.training_seed, s.gradient_workers, res.gradient_worker.cpus,
                                  res.gradient_worker.gpus, s.bn_images)
        solver_s = 0.0
        try:
            with progress_board() as board:
                refs = {m.key: start_search(SearchRequest(m.key, tuple(self._constraints(m.device, m.bound_ms)),
                                                          s.seed + i, s.algorithm, s.options),
                                            self.space, pool, board, res.search.cpus)
                        for i, m in enumerate(todo)}
                by_key = {m.key: m for m in todo}
                finished = []
                for key, ref in self.progress.searches(refs, board, s.steps):
                    try:
                        outcome = ray.get(ref)
                    except InfeasibleConstraintError as exc:
                        self._nothing_found(by_key[key], exc)
                        continue
                    self._search_finished(by_key[key], outcome)
                    solver_s += outcome.result.solver_seconds
                    finished.append((by_key[key], outcome))
            self._explain_budget_use(pool, finished)
            return pool.cpu_seconds() + solver_s
        finally:
            pool.shutdown()

    def _nothing_found(self, member: Member, exc: Exception) -> None:
        """A search whose strategy found no architecture within the bound (``uniform`` can, where only
        mixed architectures fit): the run's error in round 1; in a later round the member is dropped
        and its (device, target) keeps its earlier rounds."""
        reason = str(getattr(exc, "cause", exc))        # a RayTaskError's own text holds the traceback
        if member.round == 1:
            raise UsageError(f"target {member.target_ms:g} ms on {member.device}: {reason}") from None
        self.members.remove(member)
        self._end_loop(self._groups()[member.device, member.target_ms][-1],
                       f"round {member.round} found no architecture within bound {member.bound_ms:.3f} ms "
                       f"({reason})")

    def _search_finished(self, member: Member, outcome) -> None:
        member.arch = str(outcome.arch)
        member.predicted_ms = self.resources[f"latency:{member.device}"].value(outcome.arch)
        member.resources = self._resource_values(outcome.arch)
        member.search_run_id = self.observer.search_finished(member, outcome)
        self._remember(member)

    def _explain_budget_use(self, pool, finished: list) -> None:
        """For each member predicted below :data:`~orchestrator.report.UNDER_USED` of its target: what the
        search's signal says of it and of the largest uniform architecture within its bound, on the same
        validation images."""
        from workers.gradients import SupernetEvaluator
        from workers.search_tasks import budget_use

        evaluator = SupernetEvaluator(pool.compute, pool.score, self.config.search.seed)
        for member, outcome in finished:
            if not is_under_used(member.predicted_ms, member.target_ms):
                continue
            use = budget_use(outcome, self.space, f"latency:{member.device}", evaluator, BUDGET_IMAGES)
            member.last_ms, member.signal_loss = use.last_value, use.loss
            member.filled_arch = str(use.filled) if use.filled is not None else ""
            member.filled_ms, member.filled_loss = use.filled_value, use.filled_loss
            self._remember(member)

    def _resource_values(self, arch) -> dict[str, int]:
        from workers.resources import list_resources

        return {name: round(self.resources[name].value(arch)) for name in list_resources()}

    # --- 5. fine-tunes ---------------------------------------------------------------------------
    def _finetunes(self, weights: dict, round_: int = 1) -> None:
        archs = list(dict.fromkeys(m.arch for m in self.members if m.round == round_))
        todo = [a for a in archs if a not in self.state.finetunes]
        if not todo:
            self.reused.append(f"every fine-tune{_round(round_)}: from the interrupted run (--resume)")
        epochs = self.config.training_recipe().finetune.epochs
        with self._cost(f"fine-tunes{_round(round_)}", reused=not todo, per_model=True,
                        note=f"{len(todo)} distinct architectures of {len(self.members)} members, {epochs} epochs "
                             f"each; models logged to MLflow (torch.export)") as cost:
            if todo:
                cost["cpu_s"] = self._run_trials(weights, todo)
        for m in self.members:
            if m.round != round_:
                continue
            done = self.state.finetunes[m.arch]
            m.top1, m.finetune_run_id = done["top1"], done["run_id"]
            m.model_uri, m.onnx_model_uri = done["model_uri"], done["onnx_model_uri"]

    def _run_trials(self, weights: dict, archs: list[str]) -> float:
        """One Tune trial per architecture; each finished one goes to the observer. Returns CPU seconds."""
        from supernet.arch import Architecture
        from workers.finetune import load_checkpoint_model

        recipe = self.config.training_recipe().finetune
        results = self._tuner(weights, archs, recipe).fit()
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
            with result.checkpoint.as_directory() as folder:
                model = load_checkpoint_model(folder, Architecture.from_string(arch, self.space), self.num_classes)
            run_id, model_uri, onnx_uri = self.observer.finetune_finished(arch, recipe, result, model, example)
            cpu += float(result.metrics.get("cpu_seconds", 0.0))
            self.state.finetunes[arch] = dataclasses.asdict(Finetune(float(result.metrics["test_top1"]), run_id,
                                                                     model_uri, onnx_uri))
            self.state.save(self.state_path)
        return cpu

    def _tuner(self, weights: dict, archs: list[str], recipe):
        """A new Tune experiment over ``archs``. Its trials start from the last epoch an interrupted run
        kept in :attr:`finetune_epochs` (``--resume``), never from Tune's own experiment state, which is
        pickled: a run folder is read only through JSON and safetensors."""
        from ray import tune

        from workers.finetune import FinetuneJob, epochs_folder, trainable

        res = self.config.resources.finetune
        job = FinetuneJob(self.space, self.num_classes, self.config.data, self.config.training_seed, recipe,
                          max(1, int(res.cpus)), use_gpu=res.gpus > 0, epochs_dir=str(self.finetune_epochs))
        fn = trainable(job, weights["supernet"], weights["teacher"], res.cpus, res.gpus)
        kept = sum(epochs_folder(job, arch).is_dir() for arch in archs)
        if kept:
            self.progress.say(f"  {kept} interrupted fine-tune(s) go on from their last epoch")
        storage = self.out / "tune"
        shutil.rmtree(storage, ignore_errors=True)
        return tune.Tuner(
            fn, param_space={"arch": tune.grid_search(archs)},
            tune_config=tune.TuneConfig(reuse_actors=False),
            run_config=tune.RunConfig(
                name="finetune", storage_path=str(storage), verbose=0,
                failure_config=tune.FailureConfig(max_failures=self.config.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                callbacks=[self.progress.tune_callback(len(archs), recipe.epochs)]))

    # --- 6. measurement --------------------------------------------------------------------------
    def _measure(self) -> None:
        """Every member not yet measured, on its device: each network in ``MEASUREMENT_PASSES`` separate
        passes (separate processes under the plain condition, whose level varies from one to the next),
        beside the reference network that tells how far the machine's speed moved since the table. A
        member whose passes disagree by more than the noise allowance is measured again (``SPREAD_REDOS``
        times at most) and all its passes pooled: a wide spread is not an allowance."""
        from workers.latency import Drift

        noise = self.config.latency_noise
        for profile in self.config.devices:
            members = [m for m in self.members if m.device == profile.name and math.isnan(m.measured_ms)]
            if not members:
                continue
            archs = list(dict.fromkeys(m.arch for m in members))
            with self._cost(f"measurement {profile.name}", per_model=True, note=f"{len(archs)} networks") as cost:
                passes, reference, cost["cpu_s"] = self._measure_networks(profile, archs, reference=True)
                for _ in range(SPREAD_REDOS):
                    wide = [a for a in archs if np.ptp(passes[a]) > noise * np.median(passes[a])]
                    if not wide:
                        break
                    again, _, cpu = self._measure_networks(profile, wide)
                    cost["cpu_s"] += cpu
                    for a in wide:
                        passes[a] += again[a]
            drift = Drift(tuple(self.tables[profile.name].reference_ms), tuple(reference))
            self.progress.say(f"  {profile.name}: {drift.describe()}")
            for m in members:
                values = passes[m.arch]
                m.measured_ms, m.measured_spread_ms = float(np.median(values)), float(np.ptp(values))
                m.measurements, m.drift = len(values), drift.ratio
                m.expected_ms = m.predicted_ms * drift.scale
                m.over_target = bool(m.measured_ms > m.target_ms * (1 + noise))
                self._remember(m)

    def _measure_networks(self, profile, archs: list[str], reference: bool = False
                          ) -> tuple[dict[str, list[float]], list[float], float]:
        """Latencies of ``archs`` on ``profile``'s node in ``MEASUREMENT_PASSES`` passes each, by arch
        (the tables' statistic: a quantile of whole-network runs); with ``reference`` also the reference
        network's, :data:`~workers.latency.REFERENCE_RUNS` times in the same call; and the CPU seconds."""
        from supernet.arch import Architecture
        from workers.latency import REFERENCE_RUNS, measure_networks, reference_architecture
        from workers.latency_tasks import on_device
        from workers.monitoring import cpu_timed, progress_board

        protocol = self.config.protocol()
        networks = [Architecture.from_string(a, self.space) for a in archs] * MEASUREMENT_PASSES
        networks += [reference_architecture(self.space)] * (REFERENCE_RUNS if reference else 0)
        with progress_board() as board:
            ref = on_device(cpu_timed(measure_networks), profile).remote(
                self.space, networks, profile, protocol, self.num_classes,
                progress=lambda n: board.add.remote("visits", n))
            timings, cpu = self.progress.wait(ref, f"measuring {len(archs)} members on {profile.name}", board,
                                              len(networks) * protocol.visits)
        values = [t.latency_ms(protocol.run_quantile) for t in timings]
        passes = {a: values[i:len(archs) * MEASUREMENT_PASSES:len(archs)] for i, a in enumerate(archs)}
        return passes, values[len(archs) * MEASUREMENT_PASSES:], cpu

    # --- 7. the closed loop ------------------------------------------------------------------------
    def _closed_loop(self, weights: dict) -> None:
        """Search again each (device, target) whose latest member measured over its target, with the
        bound scaled by the table-to-machine ratio that member showed, for ``latency.retries`` rounds;
        then keep, per (device, target), the most accurate member within its target (else the last)."""
        for round_ in range(2, self.config.latency_retries + 2):
            retry = [m for m in (self._retry(last, round_) for last in self._latest() if last.over_target) if m]
            if not retry:
                break
            self.members += retry
            self.progress.say(f"  round {round_}: {len(retry)} member(s) over target searched again: "
                              + ", ".join(f"{m.device} {m.target_ms:g} ms with bound {m.bound_ms:.3f} ms"
                                          for m in retry))
            self._searches(weights, round_)
            if not any(m.round == round_ for m in self.members):
                break
            self._finetunes(weights, round_)
            self._measure()
        groups = list(self._groups().values())
        for group in groups:
            within = [m for m in group if not m.over_target]
            kept = max(within, key=lambda m: (m.top1, -m.round)) if within else group[-1]
            for m in group:
                m.kept = m is kept
                self._remember(m)
            if not within and not kept.loop_end:
                self._end_loop(kept, f"measured over it in each of its {len(group)} round(s) "
                                     f"(latency.retries: {self.config.latency_retries})")
        if not any(m.kept and m.over_target for m in self.members):
            self.progress.say("  every member measured within its target"
                              + (": nothing searched again" if len(self.members) == len(groups) else ""))

    def _end_loop(self, last: Member, why: str) -> None:
        """Record, and say, why ``last``'s (device, target) stays over its target."""
        last.loop_end = why
        self._remember(last)
        self.progress.say(f"  {last.device} {last.target_ms:g} ms stays over its target: {why}")

    def _groups(self) -> dict[tuple[str, float], list[Member]]:
        """The members of each (device, target), by round."""
        groups: dict[tuple[str, float], list[Member]] = {}
        for m in sorted(self.members, key=lambda m: m.round):
            groups.setdefault((m.device, m.target_ms), []).append(m)
        return groups

    def _latest(self) -> list[Member]:
        return [group[-1] for group in self._groups().values()]

    def _retry(self, last: Member, round_: int) -> Member | None:
        """The next round's member of ``last``'s (device, target), or None where no architecture fits
        the scaled bound (the member stays over its target)."""
        from solvers import ConstraintSet, InfeasibleConstraintError, SolverError, feasible_architecture

        bound = last.target_ms * last.predicted_ms / last.measured_ms
        key = f"{last.device}@{last.target_ms:g}ms#{round_}"
        try:
            feasible_architecture(ConstraintSet(self._constraints(last.device, bound)))
        except (InfeasibleConstraintError, SolverError) as exc:
            self._end_loop(last, f"no architecture fits the scaled bound {bound:.3f} ms of round {round_} ({exc})")
            return None
        return Member(last.device, last.target_ms, key, bound_ms=bound, round=round_)

    # --- 8. registry and report ------------------------------------------------------------------
    def _register_and_report(self, started: float) -> Path:
        from workers.resources import list_resources

        cpu0 = time.process_time()
        with self._cost("registry and report", per_model=True,
                        note="registration, pareto.csv/png, report.md") as cost:
            for m in self.members:
                if m.kept and not m.registered_version:
                    registration = self.observer.register(m, self.config.dataset, self.space.name)
                    m.registered_version, m.registered_uri = registration.version, registration.uri
                    self._remember(m)
            rounds = self._family_table()
            family = rounds[rounds["kept"].astype(bool)]
            csv = write_pareto_csv(family, list_resources(), self.out / "pareto.csv")
            png = plot_pareto(family, self.out / "pareto.png")
            cost["cpu_s"] = time.process_time() - cpu0
        text = render_report(f"hardcore-nas run `{self.config.name}`", self._summary(time.perf_counter() - started),
                             family, list_resources(), self.costs, self.reused, self.config.latency_noise,
                             len(self.splits.test), self.supernet_top1, rounds, UNDER_USED, BUDGET_IMAGES)
        report = self.out / "report.md"
        report.write_text(text)
        self.observer.outputs_written([csv, png, report])
        return report

    def _family_table(self) -> pd.DataFrame:
        """One row per member of every round: its fields, each resource as a column, ``model_uri`` the
        registry's (empty for members the family did not keep)."""
        rows = [{**{k: v for k, v in dataclasses.asdict(m).items() if k != "resources"}, **m.resources}
                for m in self.members]
        table = pd.DataFrame(rows)
        table["model_uri"] = table["registered_uri"]
        return table

    def _summary(self, elapsed_s: float) -> list[str]:
        devices = ", ".join(f"`{d}` ({t.profile.backend} on {t.device.get('cpu')}, {t.device.get('threads')} "
                            f"thread(s), batch {t.device.get('batch_size')}, {t.profile.process} process: "
                            f"{t.profile.condition.instructions()})" for d, t in self.tables.items())
        models = ", ".join(f"`{registered_model_name(self.config.dataset, d)}`" for d in self.config.device_names)
        return [
            f"Data `{self.config.data}` ({self.num_classes} classes, {len(self.splits.test)} held-out test "
            f"images), space `{self.space.name}` (width x{self.space.width_multiplier:g}), devices {devices}.",
            f"MLflow run `{self.state.parent_run_id}` in `{self.config.tracking_uri}`, experiment "
            f"`{self.config.experiment}`; registered models {models}. Whole run: {elapsed_s:.0f} s wall.",
        ]

    # --- bookkeeping -----------------------------------------------------------------------------
    def _say_reused(self, cached: Cached, what: str) -> None:
        if cached.reused:
            self.reused.append(f"{what} (by MLflow run {cached.manifest['run_id']}, key {cached.entry.key})")

    def _remember(self, member: Member) -> None:
        self.state.members[member.key] = dataclasses.asdict(member)
        self.state.save(self.state_path)


def run_pipeline(config: RunConfig, out: Path, resume: bool = False) -> Path:
    return Pipeline(config, out, resume).run()


# --- helpers ---------------------------------------------------------------------------------------
def _round(round_: int) -> str:
    return "" if round_ == 1 else f" (round {round_})"


def _top1_note(top1: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}%" for k, v in top1.items())


def _restore(member: Member, saved: dict) -> None:
    for key, value in saved.items():
        setattr(member, key, value)


def _load_table(folder: Path):
    from workers.latency_table import LatencyTable

    return LatencyTable.load(folder / "table.json")


def _save_supernet(folder: Path, trained, space, num_classes: int, recipe, context: dict) -> None:
    """w-bar and w* as ``train-supernet`` writes them, so that a cache folder also serves
    ``hardcore-nas search --supernet`` and ``train-supernet --out``; each sidecar keeps its stage's
    history and the held-out top-1 figures."""
    from supernet.checkpoints import save_stage
    from workers.gradients import supernet_from_weights, teacher_from_weights

    for stage, model, history in (
            ("heaviest", teacher_from_weights(space, num_classes, trained.teacher), trained.heaviest_history),
            ("supernet", supernet_from_weights(space, num_classes, trained.supernet), trained.supernet_history)):
        save_stage(folder, stage, model, space=space, num_classes=num_classes, recipe=recipe,
                   metrics={"history": history, "test_top1": trained.test_top1}, context=context)


def _load_supernet(folder: Path, space):
    """What :func:`_save_supernet` wrote, as the training task returned it."""
    from supernet.checkpoints import load_heaviest, load_supernet, stage_file
    from workers.gradients import numpy_state
    from workers.supernet_task import TrainedSupernet

    teacher, teacher_meta = load_heaviest(stage_file(folder, "heaviest"), space)
    supernet, supernet_meta = load_supernet(stage_file(folder, "supernet"), space)
    return TrainedSupernet(numpy_state(teacher), numpy_state(supernet), teacher_meta["metrics"]["history"],
                           supernet_meta["metrics"]["history"], supernet_meta["metrics"]["test_top1"])
