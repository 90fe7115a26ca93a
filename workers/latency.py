"""Latency measurement as plain functions: whole networks, and blocks timed inside whole networks.

Why blocks are timed inside networks: a block timed alone runs 20-25% faster than inside a network
(its neighbours evict its weights and activations from the caches), and the gap varies per
architecture. So the probe builds a set of timm networks that together contain every
(block signature x configuration) entry in several different contexts, and times every block inside
them. How a network is run and split into segments is its device's backend's business
(:mod:`workers.backends`: torch forward hooks, ONNX Runtime's profiler); this module owns the rest.

Why fresh processes set up as the profile's process condition says (:mod:`workers.processes`): the
first model of a process and models measured after many others run at a different speed (glibc's
dynamic mmap threshold and heap state), and a latency only holds for the process state it was measured
in. Under the default ``plain`` condition every network is timed first and alone in a new process, as
a user's process runs one model; under ``tuned`` a process pins glibc's thresholds, turns on huge
pages and times a batch of networks after a throw-away one.

Why rounds and a lower quartile: on a shared machine other processes only ever add time. Networks of
a batch are visited round-robin, a round during which other processes used the CPU is redone (within
a budget), and a network's latency is the lower quartile of its runs.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hardcore_nas.checks import check_scalar
from supernet.arch import Architecture
from supernet.space import SearchSpace, StageSpec, block_key

from .backends import TimedNetwork, get_backend
from .devices import DeviceProfile
from .latency_table import EntryStats, LatencyTable
from .processes import get_condition, list_conditions

__all__ = ["Protocol", "NetworkTiming", "cpu_model", "fingerprint", "probe_architectures",
           "time_networks", "measure_networks", "table_entries", "disturbance", "measure_table",
           "table_visits", "default_num_classes", "REFERENCE_RUNS", "reference_architecture", "Drift",
           "condition_env"]

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class Protocol:
    """How networks are timed (shared by table measurement and validation).

    A network's latency is the ``run_quantile`` quantile of its timed runs: on a shared machine other
    processes only ever add time, and the lower quartile is robust to that where the median is not.
    """
    warmup: int = 10                 # untimed runs after a network is built
    repeats: int = 30                # timed runs per network
    runs_per_visit: int = 5          # timed runs each time a network is visited (round-robin)
    rewarm: int = 2                  # untimed runs at each visit (back-to-back inference state)
    networks_per_process: int = 10   # networks measured by one fresh process (if the condition allows)
    contexts: int = 8                # networks each table entry is timed in (table only)
    run_quantile: float = 0.25       # statistic over a network's runs
    max_other_cores: float = 0.25    # a round during which other processes used more is redone
    redo_limit: int = 6              # disturbed rounds a process may redo (then it keeps them)

    def __post_init__(self) -> None:
        check_scalar(self.run_quantile, "run_quantile", float, min_val=0.0, max_val=1.0, include_boundaries="neither")
        check_scalar(self.max_other_cores, "max_other_cores", float, min_val=0.0, include_boundaries="neither")
        for name, value in asdict(self).items():
            if name not in ("run_quantile", "max_other_cores"):
                check_scalar(value, name, int, min_val=0 if name in ("warmup", "rewarm", "redo_limit") else 1)

    @classmethod
    def from_dict(cls, data: dict) -> Protocol:
        """The protocol recorded in a table (which also holds other facts of the measurement)."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def visits(self) -> int:
        return math.ceil(self.repeats / self.runs_per_visit)


@dataclass
class NetworkTiming:
    """Per-run times (ms) of one network.

    ``segments_ms[r]`` (when blocks were timed): front (stem + DS block), each present searched block
    in order, back (last conv, pool, head conv, classifier); its sum is that run's hooked total.
    """
    total_ms: list[float]
    segments_ms: list[list[float]] = field(default_factory=list)
    other_cores: list[float] = field(default_factory=list)   # others' CPU use in each kept round
    redone_rounds: int = 0
    pid: int = 0                                             # the process that measured it

    def latency_ms(self, quantile: float) -> float:
        """The network's latency: a quantile of its whole-network runs."""
        return float(np.quantile(self.total_ms, quantile))

    def spread_ms(self) -> float:
        """Interquartile range of the whole-network runs."""
        q1, q3 = np.quantile(self.total_ms, (0.25, 0.75))
        return float(q3 - q1)

    def segment_latencies_ms(self, quantile: float) -> np.ndarray:
        """Per-segment quantiles scaled to sum to :meth:`latency_ms`.

        The scaling removes the hooks' own cost and keeps the network's segments additive.
        """
        segments = np.quantile(np.asarray(self.segments_ms), quantile, axis=0)
        return segments * self.latency_ms(quantile) / segments.sum()


# --- the reference network: how the machine's speed moves -----------------------------------------
REFERENCE_RUNS = 3      # separate measurements of the reference (separate processes under ``plain``)


def reference_architecture(space: SearchSpace) -> Architecture:
    """The fixed network timed beside every table and every measurement of members: every block in
    the middle configuration, every stage at its middle depth."""
    return Architecture.uniform(space, space.num_configs // 2, space.depths[len(space.depths) // 2])


@dataclass(frozen=True)
class Drift:
    """How far the machine's speed moved between a table and a later measurement, read off the
    reference network timed in both.

    The move counts (``significant``) only when it exceeds ``tolerance`` and the two sets of runs do
    not overlap: then a prediction from the table is rescaled by ``ratio`` to compare it with what
    the machine measures now.
    """
    table_ms: tuple[float, ...]
    now_ms: tuple[float, ...]
    tolerance: float = 0.03

    @property
    def ratio(self) -> float:
        if not self.table_ms or not self.now_ms:
            return 1.0
        return float(np.median(self.now_ms) / np.median(self.table_ms))

    @property
    def significant(self) -> bool:
        if not self.table_ms or not self.now_ms:
            return False
        apart = min(self.now_ms) > max(self.table_ms) or max(self.now_ms) < min(self.table_ms)
        return apart and abs(self.ratio - 1.0) > self.tolerance

    @property
    def scale(self) -> float:
        """What a table's prediction is multiplied by to compare with a measurement made now."""
        return self.ratio if self.significant else 1.0

    def describe(self) -> str:
        if not self.table_ms:
            return "no reference network in the table (measured before there was one): predictions not rescaled"
        moved = (f"reference network {np.median(self.table_ms):.3f} ms with the table, "
                 f"{np.median(self.now_ms):.3f} ms now")
        if self.significant:
            return f"{moved} ({self.ratio - 1:+.1%}, beyond noise): predictions rescaled by {self.ratio:.3f}"
        return f"{moved} ({self.ratio - 1:+.1%}, within noise): predictions not rescaled"


def default_num_classes(space: SearchSpace) -> int:
    """Classifier width the pipeline uses with a preset: ImageNet's 1000, else 10 (digits, CIFAR-10)."""
    return 1000 if space.name == "imagenet" else 10


# --- fingerprint -------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo, else the platform)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fingerprint(profile: DeviceProfile) -> dict:
    """What the numbers depend on: hardware, library versions (the backend's too) and the profile's settings."""
    import timm
    import torch

    return {
        "profile": profile.to_dict(),
        "backend": profile.backend,
        "threads": profile.resolved_threads(),
        "batch_size": profile.batch_size,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": None,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "process": profile.process,
        "process_env": dict(profile.condition.env),
        **get_backend(profile.backend).versions(profile),
    }


# --- the probe networks ------------------------------------------------------------------------
def probe_architectures(space: SearchSpace, contexts: int, rng: np.random.Generator
                        ) -> list[Architecture]:
    """Networks that together hold every latency entry of ``space`` in at least ``contexts`` networks.

    Depths are drawn uniformly; each present block takes the configuration its signature has been
    timed least often with (random tie-break), so entries are balanced and contexts vary.
    """
    signatures = {sig: i for i, sig in enumerate(space.signatures())}
    seen = np.zeros((len(signatures), space.num_configs), dtype=int)    # networks holding an entry
    archs: list[Architecture] = []
    while seen.min() < contexts:
        stages = []
        in_network = np.zeros_like(seen, dtype=bool)
        for s in range(space.num_stages):
            depth = int(rng.choice(space.depths))
            choice = []
            for b in range(depth):
                row = signatures[space.slot(s, b).signature]
                counts = seen[row] + in_network[row] * (seen.max() + 1)   # prefer new entries
                least = np.flatnonzero(counts == counts.min())
                c = int(rng.choice(least))
                in_network[row, c] = True
                choice.append(c)
            stages.append(tuple(choice))
        seen += in_network
        archs.append(Architecture(space, tuple(stages)))
    return archs


# --- timing inside one process -----------------------------------------------------------------
def time_networks(space: SearchSpace, archs: Sequence[Architecture], profile: DeviceProfile,
                  protocol: Protocol, num_classes: int, blocks: bool = False,
                  tick: Callable[[], None] = lambda: None) -> list[NetworkTiming]:
    """Time ``archs`` in this process on the profile's backend (eval mode, threads as it says).

    Every network gets ``protocol.repeats`` timed whole-network runs; with ``blocks`` also as many
    runs giving per-block segments. ``tick`` is called after every visit of a network.
    """
    import torch

    from supernet.timm_models import build_timm_model

    backend = get_backend(profile.backend)(profile)
    backend.setup()
    x = torch.rand(profile.batch_size, space.in_chans, space.input_size, space.input_size)

    def load(arch: Architecture) -> TimedNetwork:
        return backend.load(build_timm_model(arch, num_classes).eval(), x, blocks)

    timings = [NetworkTiming([], pid=os.getpid()) for _ in archs]
    others = _OtherLoad()
    if profile.condition.warm_allocator:        # the first model of a process runs at its own speed
        first = load(Architecture.heaviest(space))
        first.warmup(protocol.warmup + protocol.repeats, blocks)
        first.close()
        del first
    networks = [load(arch) for arch in archs]
    for network in networks:
        network.warmup(protocol.warmup, blocks)
    redo_budget = protocol.redo_limit
    for visit in range(protocol.visits):
        runs = min(protocol.runs_per_visit, protocol.repeats - visit * protocol.runs_per_visit)
        redone = 0
        while True:
            others.restart()
            rounds = [_visit(network, protocol.rewarm, runs, blocks) for network in networks]
            busy = others.cores()
            if busy <= protocol.max_other_cores or redone == redo_budget:
                break
            redone += 1
            if not others.wait_until_below(protocol.max_other_cores):
                redo_budget = redone          # busy for good: keep what comes next
        redo_budget -= redone
        for timing, (total, segments) in zip(timings, rounds):
            timing.total_ms += total
            timing.segments_ms += segments
            timing.other_cores.append(round(busy, 3))
            timing.redone_rounds += redone
            tick()
    for timing, network in zip(timings, networks):
        timing.segments_ms = network.segment_times(timing.segments_ms)   # kept rounds only
        network.close()
    return timings


def _visit(network: TimedNetwork, rewarm: int, runs: int, blocks: bool) -> tuple[list[float], list]:
    """One visit of a network: re-warm, whole-network runs, then per-segment runs when ``blocks``."""
    network.totals(rewarm)
    return network.totals(runs), (network.segments(runs) if blocks else [])


class _OtherLoad:
    """CPU cores used by other processes (and the hypervisor's steal) since :meth:`restart`.

    From ``/proc/stat`` minus this process's own CPU time; 0 where ``/proc/stat`` is missing.
    """

    def __init__(self) -> None:
        self.restart()

    @staticmethod
    def _read() -> tuple[float, float, float]:
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            values = []
        # user, nice, system, irq, softirq, steal: everything but idle and iowait
        busy = sum(values[i] for i in (0, 1, 2, 5, 6, 7) if i < len(values))
        own = sum(os.times()[:2]) if values else 0.0
        return busy / os.sysconf("SC_CLK_TCK"), own, time.monotonic()

    def restart(self) -> None:
        self._start = self._read()

    def cores(self) -> float:
        (busy0, own0, t0), (busy1, own1, t1) = self._start, self._read()
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / max(t1 - t0, 1e-9)

    def wait_until_below(self, cores: float, window_s: float = 0.5, limit_s: float = 5.0) -> bool:
        """Sleep until other processes use at most ``cores`` over a window; False after ``limit_s``."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            self.restart()
            time.sleep(window_s)
            if self.cores() <= cores:
                return True
        return False


# --- fresh processes ---------------------------------------------------------------------------
def _space_to_json(space: SearchSpace) -> dict:
    return space.to_dict()


def _space_from_json(data: dict) -> SearchSpace:
    """Rebuild a space in a child process (also spaces that are not registered presets)."""
    data = dict(data)
    data["stages"] = tuple(StageSpec(**st) for st in data["stages"])
    for key in ("expansions", "kernels"):
        data[key] = tuple(data[key])
    return SearchSpace(**data)


def condition_env(profile: DeviceProfile) -> dict:
    """This process's environment less every variable a process condition sets, plus the profile's
    condition's own: a plain process stays plain whatever the parent was started with."""
    threads = str(profile.resolved_threads())
    root = str(Path(__file__).resolve().parent.parent)
    tuning = {key for name in list_conditions() for key in get_condition(name).env}
    env = {k: v for k, v in os.environ.items() if k not in tuning}
    env.update(profile.condition.env)
    env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))})
    return env


class _Launcher:
    """A process started in the profile's condition that imports the runtime once and forks a child per
    batch of networks.

    A forked child starts in the state a new process reaches after its imports (its allocator read
    the condition's environment at the launcher's start, and nothing was allocated for a network
    yet), so a plain condition's one network per process costs a fork instead of a Python start-up
    (~5 s with torch here). The launcher runs no torch operation, so forking it is safe.
    """

    def __init__(self, profile: DeviceProfile, folder: Path) -> None:
        self.folder = folder
        # stderr to a file: a pipe read only after stdout could fill up and block the children.
        self.err = open(folder / "stderr.txt", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers.latency", get_backend(profile.backend).__module__, profile.backend],
            env=condition_env(profile), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)

    def run(self, request: dict, index: int, progress: ProgressFn) -> list[NetworkTiming]:
        req_path, out_path = self.folder / f"request-{index}.json", self.folder / f"result-{index}.json"
        req_path.write_text(json.dumps(request))
        self.proc.stdin.write(f"{req_path}\t{out_path}\n")
        self.proc.stdin.flush()
        status = None
        for line in self.proc.stdout:
            if line.startswith("exit "):
                status = int(line.split()[1])
                break
            progress(1)
        if status != 0:
            self.err.seek(0)
            what = "the launcher ended" if status is None else f"a child exited with {status}"
            raise RuntimeError(f"latency measurement failed ({what}):\n{self.err.read()[-4000:]}")
        return [NetworkTiming(**t) for t in json.loads(out_path.read_text())]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def measure_networks(space: SearchSpace, archs: Sequence[Architecture], profile: DeviceProfile,
                     protocol: Protocol, num_classes: int, blocks: bool = False,
                     progress: ProgressFn = lambda n: None) -> list[NetworkTiming]:
    """Time ``archs`` in batches, each in a fresh process: ``protocol.networks_per_process`` networks,
    or as few as the profile's process condition says.

    ``progress(n)`` is called as network visits complete (``len(archs) * protocol.visits`` in all).
    """
    per_process = profile.condition.networks_per_process or protocol.networks_per_process
    request = {"space": _space_to_json(space), "profile": profile.to_dict(), "protocol": asdict(protocol),
               "num_classes": num_classes, "blocks": blocks}
    timings: list[NetworkTiming] = []
    with tempfile.TemporaryDirectory(prefix="hcn-latency-") as tmp:
        launcher = _Launcher(profile, Path(tmp))
        try:
            for start in range(0, len(archs), per_process):
                batch = [list(map(list, a.stages)) for a in archs[start:start + per_process]]
                timings += launcher.run({**request, "archs": batch}, start, progress)
        finally:
            launcher.close()
    return timings


# --- the table ---------------------------------------------------------------------------------
STATISTIC = ("per entry: median over the probe networks holding it of the block's in-network "
             "latency (the protocol's run quantile per segment, scaled so that a network's segments "
             "sum to its whole-network latency without hooks); spread: IQR over those networks; "
             "count: networks")


def table_entries(space: SearchSpace, archs: Sequence[Architecture],
                  timings: Sequence[NetworkTiming], quantile: float
                  ) -> tuple[dict[str, EntryStats], EntryStats]:
    """Per-entry and constant statistics from the hooked timings of the probe networks."""
    per_entry: dict[str, list[float]] = {key: [] for key in space.latency_keys()}
    constant: list[float] = []
    for arch, timing in zip(archs, timings):
        segments = timing.segment_latencies_ms(quantile)
        constant.append(segments[0] + segments[-1])
        for (s, b, cfg), ms in zip(arch.blocks(), segments[1:-1]):
            per_entry[block_key(space.slot(s, b).signature, cfg)].append(float(ms))
    empty = [key for key, values in per_entry.items() if not values]
    if empty:
        raise ValueError(f"probe networks miss {len(empty)} entries, e.g. {empty[0]}")
    return {k: EntryStats.of(v) for k, v in per_entry.items()}, EntryStats.of(constant)


def measure_table(space: SearchSpace, profile: DeviceProfile, protocol: Protocol = Protocol(),
                  num_classes: int | None = None, seed: int = 0,
                  progress: ProgressFn = lambda n: None) -> LatencyTable:
    """Measure the latency table of ``space`` on this machine as ``profile`` says.

    ``progress(n)`` reports network visits; there are :func:`table_visits` of them in all.
    """
    num_classes = default_num_classes(space) if num_classes is None else num_classes
    started, load_before = time.monotonic(), os.getloadavg()
    archs = probe_architectures(space, protocol.contexts, np.random.default_rng(seed))
    timings = measure_networks(space, archs, profile, protocol, num_classes, blocks=True,
                               progress=progress)
    entries, constant = table_entries(space, archs, timings, protocol.run_quantile)
    reference = reference_architecture(space)
    reference_runs = measure_networks(space, [reference] * REFERENCE_RUNS, profile, protocol, num_classes,
                                      progress=progress)
    return LatencyTable(
        device=fingerprint(profile),
        space={"name": space.name, "width_multiplier": space.width_multiplier, "hash": space.hash},
        num_classes=num_classes,
        protocol={**asdict(protocol), "seed": seed, "probe_networks": len(archs),
                  "process": profile.process, "process_env": dict(profile.condition.env),
                  **disturbance(timings),
                  "load_average_before": list(load_before),
                  "load_average_after": list(os.getloadavg())},
        statistic=STATISTIC, constant=constant, entries=entries,
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - started, 3),
        reference={"arch": str(reference),
                   "runs_ms": [round(t.latency_ms(protocol.run_quantile), 6) for t in reference_runs]},
    )


def disturbance(timings: Sequence[NetworkTiming]) -> dict:
    """How much other processes used the CPU while ``timings`` were taken, and what was redone."""
    cores = np.concatenate([t.other_cores for t in timings])
    return {"other_cores_median": round(float(np.median(cores)), 3),
            "other_cores_max": round(float(cores.max()), 3),
            "redone_network_visits": int(sum(t.redone_rounds for t in timings))}


def table_visits(space: SearchSpace, protocol: Protocol, seed: int = 0) -> int:
    """How many network visits :func:`measure_table` reports through ``progress``."""
    probes = len(probe_architectures(space, protocol.contexts, np.random.default_rng(seed)))
    return (probes + REFERENCE_RUNS) * protocol.visits


def _time_request(request_path: str, result_path: str) -> None:
    """In a forked child: time the networks a request names and write their timings."""
    request = json.loads(Path(request_path).read_text())
    space = _space_from_json(request["space"])
    archs = [Architecture(space, tuple(map(tuple, st))) for st in request["archs"]]
    timings = time_networks(
        space, archs, DeviceProfile.from_dict(request["profile"]), Protocol(**request["protocol"]),
        request["num_classes"], request["blocks"], tick=lambda: print(".", flush=True))
    Path(result_path).write_text(json.dumps([asdict(t) for t in timings]))


def _serve(backend_module: str, backend: str) -> None:
    """The launcher's loop: one forked child per request line, its exit status reported on stdout."""
    importlib.import_module(backend_module)       # registers a backend defined outside workers.backends
    for name in (*get_backend(backend).preload, "supernet.timm_models"):
        importlib.import_module(name)
    for line in sys.stdin:
        request_path, result_path = line.rstrip("\n").split("\t")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _time_request(request_path, result_path)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    _serve(*sys.argv[1:3])
