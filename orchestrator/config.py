"""The run configuration: the embedded default, YAML loading, and validation at the boundary.

The default lives here, once, as the dataclass defaults below; ``configs/default.yaml`` spells it out
(a test keeps the two equal). A config file gives any subset of the keys; what it leaves out keeps
the default. Every problem is a :class:`UsageError` whose one line names the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardcore_nas import UsageError, packaged_file
from hardcore_nas.checks import is_number, short
from solvers.strategies import (
    DEFAULT_STRATEGY,
    OptionError,
    StrategyOptions,
    get_strategy,
    list_strategies,
    parse_options,
)
from workers.devices import BUILTIN_PROFILES, DeviceProfile, get_profile
from workers.resources import list_resources

__all__ = ["Resources", "ResourceRequests", "SearchSettings", "TargetSpec", "RunConfig", "default_config",
           "load_config", "packaged_configs", "parse_config"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# --- small checks; ``key`` is the dotted path printed in messages -------------------------------
def _fail(key: str, allowed: str, value: Any) -> UsageError:
    return UsageError(f"config key '{key}': must be {allowed}, got {short(value)}")


def _mapping(value: Any, key: str, known: set[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        if not key:
            raise UsageError(f"a config is a mapping of sections ({', '.join(sorted(known))}), got {short(value)}")
        raise _fail(key, "a mapping", value)
    unknown = sorted(set(value) - known)
    if unknown:
        where = f"'{key}'" if key else "the config"
        raise UsageError(f"unknown key '{(key + '.') if key else ''}{unknown[0]}' in {where}; "
                         f"known keys: {', '.join(sorted(known))}")
    return value


def _int(value: Any, key: str, least: int) -> int:
    if not is_number(value, int) or value < least:
        raise _fail(key, f"an integer >= {least}", value)
    return value


def _number(value: Any, key: str, least: float, *, strict: bool = False,
            most: float | None = None) -> float:
    ok = (is_number(value) and (value > least if strict else value >= least)
          and (most is None or value <= most))
    if not ok:
        bound = f"> {least}" if strict else f">= {least}"
        raise _fail(key, f"a number {bound}" + (f" and <= {most}" if most is not None else ""), value)
    return float(value)


def _choice(value: Any, key: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(key, "one of " + ", ".join(choices), value)
    return value


def _text(value: Any, key: str, pattern: re.Pattern | None = None) -> str:
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
        what = "a name of letters, digits, '_', '.', '-'" if pattern is not None else "a non-empty string"
        raise _fail(key, what, value)
    return value


def _optional(value: Any, key: str, check: Callable[[Any, str], Any]):
    return None if value is None else check(value, key)


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


# --- sections ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resources:
    """What one unit of a kind of work asks Ray for (the autoscaler provisions nodes from these)."""
    cpus: float
    gpus: float = 0.0

    @classmethod
    def parse(cls, raw: Any, key: str, default: Resources) -> Resources:
        raw = _mapping(raw, key, _fields(cls))
        return cls(_number(raw.get("cpus", default.cpus), f"{key}.cpus", 0.0),
                   _number(raw.get("gpus", default.gpus), f"{key}.gpus", 0.0))


@dataclass(frozen=True)
class ResourceRequests:
    """Ray requests per kind of work. Latency probes ask for their device's label (``device:<name>``),
    which nothing else asks for; keeping training off a device node is the cluster's business (its
    training requests ask for what device nodes lack, e.g. GPUs)."""
    supernet: Resources = Resources(cpus=2)
    gradient_worker: Resources = Resources(cpus=1)
    search: Resources = Resources(cpus=0)        # a search waits on gradients; its LPs take ms
    finetune: Resources = Resources(cpus=1)

    @classmethod
    def parse(cls, raw: Any) -> ResourceRequests:
        raw = _mapping(raw, "resources", _fields(cls))
        default = cls()
        return cls(**{name: Resources.parse(raw.get(name), f"resources.{name}", getattr(default, name))
                      for name in _fields(cls)})


def _default_options() -> StrategyOptions:
    return parse_options(DEFAULT_STRATEGY)


@dataclass(frozen=True)
class SearchSettings:
    """The search strategy of every (device, target) (``algorithm``: a name of
    :func:`solvers.list_strategies`), its options (one frozen dataclass per strategy, which validates
    them; flat in the ``search`` section), the gradient/score actor pool (``bn_images``: validation images
    per actor and call re-estimating w*'s BN statistics under the judged paths; 0: training's) and the seed."""
    algorithm: str = DEFAULT_STRATEGY
    options: StrategyOptions = field(default_factory=_default_options)
    gradient_workers: int = 2
    bn_images: int = 0
    seed: int = 0

    @property
    def steps(self) -> int:
        """Progress units of one search (steps, generations, batches of architectures)."""
        return self.options.progress_steps

    @classmethod
    def parse(cls, raw: Any) -> SearchSettings:
        algorithm = (raw or {}).get("algorithm", DEFAULT_STRATEGY) if isinstance(raw, dict) else DEFAULT_STRATEGY
        algorithm = _choice(algorithm, "search.algorithm", tuple(list_strategies()))
        option_names = set(get_strategy(algorithm).options.field_names())
        raw = _mapping(raw, "search", {"algorithm", "gradient_workers", "bn_images", "seed"} | option_names)
        try:
            options = parse_options(algorithm, {k: v for k, v in raw.items() if k in option_names})
        except OptionError as exc:
            raise _fail(f"search.{exc.option}", exc.allowed, exc.value) from None
        workers = _int(raw.get("gradient_workers", cls.gradient_workers), "search.gradient_workers", 1)
        return cls(algorithm=algorithm, options=options, gradient_workers=workers,
                   bn_images=_int(raw.get("bn_images", cls.bn_images), "search.bn_images", 0),
                   seed=_int(raw.get("seed", cls.seed), "search.seed", 0))

    def to_yaml(self) -> dict:
        return {"algorithm": self.algorithm, **self.options.as_dict(), "gradient_workers": self.gradient_workers,
                "bn_images": self.bn_images, "seed": self.seed}


@dataclass(frozen=True)
class TargetSpec:
    """Latency targets of one device: explicit values (ms) or ``auto`` targets spread over the
    range the device's table can reach."""
    values_ms: tuple[float, ...] = ()
    auto: int = 0

    @classmethod
    def parse(cls, raw: Any, key: str) -> TargetSpec:
        if isinstance(raw, dict):
            _mapping(raw, key, {"auto"})
            return cls(auto=_int(raw.get("auto"), f"{key}.auto", 1))
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise _fail(key, "a list of latencies in ms or {auto: N}", raw)
        values = [_number(v, key, 0.0, strict=True) for v in raw]
        if len(set(values)) != len(values):
            raise _fail(key, "distinct latencies", raw)
        return cls(values_ms=tuple(sorted(values)))

    def to_yaml(self) -> Any:
        return {"auto": self.auto} if self.auto else list(self.values_ms)


@dataclass(frozen=True)
class RunConfig:
    """Everything one ``hardcore-nas run`` needs. The defaults are the embedded default run."""
    name: str = "default"
    data: str = "digits"
    preset: str = "tiny"
    width_multiplier: float = 1.0
    devices: tuple[DeviceProfile, ...] = (BUILTIN_PROFILES["cpu-bs1"], BUILTIN_PROFILES["ort-bs1"])
    targets: dict[str, TargetSpec] = field(default_factory=lambda: {
        "cpu-bs1": TargetSpec(auto=4), "ort-bs1": TargetSpec(auto=4)})
    bounds: dict[str, float] = field(default_factory=dict)   # resource name -> bound (workers.resources)
    recipe: str = "tiny"
    heaviest: dict = field(default_factory=dict)
    supernet: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=lambda: {"epochs": 3})
    max_failures: int = 2
    training_seed: int = 0
    search: SearchSettings = SearchSettings()
    latency_protocol: dict = field(default_factory=lambda: {"contexts": 4, "repeats": 20})
    latency_noise: float = 0.05
    latency_retries: int = 2
    resources: ResourceRequests = ResourceRequests()
    ray_address: str | None = None
    ray_num_cpus: int | None = None
    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_root: str = "mlartifacts"
    experiment: str = "hardcore-nas"
    cache_dir: str = "runs/cache"

    # --- derived -----------------------------------------------------------------------------
    @property
    def device_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.devices)

    @property
    def local_cpus(self) -> int:
        """CPUs of a local Ray: ``ray.num_cpus``, else every CPU this process may use."""
        import os

        return self.ray_num_cpus or len(os.sched_getaffinity(0))

    @property
    def dataset(self) -> str:
        """The data set's kind (``digits``, ``cifar10``, ...): part of registered model names."""
        return self.data.partition(":")[0]

    def space(self):
        from supernet.space import get_space

        return get_space(self.preset, self.width_multiplier)

    def training_recipe(self):
        """The recipe named by ``recipe`` with this config's per-stage overrides."""
        from supernet.recipes import get_recipe

        return get_recipe(self.recipe).replace(heaviest=self.heaviest, supernet=self.supernet,
                                               finetune=self.finetune)

    def protocol(self):
        from workers.latency import Protocol

        return Protocol(**self.latency_protocol)

    # --- YAML form ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The YAML form (what ``configs/default.yaml`` holds for the default)."""
        def device(p: DeviceProfile):
            return p.name if BUILTIN_PROFILES.get(p.name) == p else p.to_dict()

        return {
            "name": self.name,
            "data": self.data,
            "space": {"preset": self.preset, "width_multiplier": self.width_multiplier},
            "devices": [device(p) for p in self.devices],
            "targets": {name: spec.to_yaml() for name, spec in self.targets.items()},
            "constraints": {f"max_{name}": self.bounds.get(name) for name in list_resources()},
            "training": {"recipe": self.recipe, "heaviest": dict(self.heaviest),
                         "supernet": dict(self.supernet), "finetune": dict(self.finetune),
                         "max_failures": self.max_failures, "seed": self.training_seed},
            "search": self.search.to_yaml(),
            "latency": {"protocol": dict(self.latency_protocol), "noise": self.latency_noise,
                        "retries": self.latency_retries},
            "resources": dataclasses.asdict(self.resources),
            "ray": {"address": self.ray_address, "num_cpus": self.ray_num_cpus},
            "tracking": {"uri": self.tracking_uri, "artifact_root": self.artifact_root,
                         "experiment": self.experiment},
            "cache_dir": self.cache_dir,
        }


_SECTIONS = {"name", "data", "space", "devices", "targets", "constraints", "training", "search",
             "latency", "resources", "ray", "tracking", "cache_dir"}


def default_config() -> RunConfig:
    """The embedded default: digits, ``tiny`` preset, this CPU as two devices, local Ray, SQLite MLflow."""
    return RunConfig()


def parse_config(raw: Any, ray_address: str | None = None) -> RunConfig:
    """A validated :class:`RunConfig` from a decoded YAML document (missing keys keep the default);
    ``ray_address`` (the command line's) replaces the config's ``ray.address`` before the resource check."""
    raw = _mapping(raw, "", _SECTIONS)
    base = RunConfig()
    changes: dict[str, Any] = {}
    if "name" in raw:
        changes["name"] = _text(raw["name"], "name", _NAME)
    if "data" in raw:
        changes["data"] = _data(raw["data"])
    changes.update(_space(raw.get("space"), base))
    devices = _devices(raw["devices"]) if "devices" in raw else base.devices
    changes["devices"] = devices
    if "targets" in raw:
        changes["targets"] = _targets(raw["targets"], devices)
    elif "devices" in raw:
        changes["targets"] = {d.name: TargetSpec(auto=4) for d in devices}
    changes["bounds"] = _bounds(raw.get("constraints"))
    changes.update(_training(raw.get("training"), base))
    changes["search"] = SearchSettings.parse(raw.get("search"))
    changes.update(_latency(raw.get("latency"), base))
    changes["resources"] = ResourceRequests.parse(raw.get("resources"))
    ray_cfg = _mapping(raw.get("ray"), "ray", {"address", "num_cpus"})
    changes["ray_address"] = ray_address or _optional(ray_cfg.get("address"), "ray.address", _text)
    changes["ray_num_cpus"] = _optional(ray_cfg.get("num_cpus"), "ray.num_cpus", lambda v, k: _int(v, k, 1))
    tracking = _mapping(raw.get("tracking"), "tracking", {"uri", "artifact_root", "experiment"})
    for key, attr in (("uri", "tracking_uri"), ("artifact_root", "artifact_root"),
                      ("experiment", "experiment")):
        if key in tracking:
            changes[attr] = _text(tracking[key], f"tracking.{key}")
    if "cache_dir" in raw:
        changes["cache_dir"] = _text(raw["cache_dir"], "cache_dir")
    config = dataclasses.replace(base, **changes)
    _check_requests(config)
    return config


def load_config(path: str | Path | None, ray_address: str | None = None) -> RunConfig:
    """The config in a YAML file, or the embedded default when ``path`` is None; ``ray_address``
    overrides the config's ``ray.address`` (a cluster's resources are the autoscaler's to judge)."""
    if path is None:
        return dataclasses.replace(default_config(), ray_address=ray_address)
    import yaml

    path = _config_path(path)
    try:
        # safe_load builds only plain data: a python/object tag is a ConstructorError, never a call.
        raw = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"config file {path} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = f": {exc.problem}" if getattr(exc, "problem", None) else ""
        raise UsageError(f"config file {path} is not valid YAML{where}{problem}") from None
    except RecursionError:
        raise UsageError(f"config file {path} is not valid YAML: nested too deeply") from None
    except ValueError as exc:       # an integer of more digits than Python converts
        raise UsageError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return parse_config(raw, ray_address)
    except UsageError as exc:
        raise UsageError(f"config file {path}: {exc}") from None


def _config_path(path: str | Path) -> Path:
    """A file, or the name of a packaged config (``cifar`` is ``configs/cifar.yaml``, also when installed)."""
    path = Path(path)
    if path.is_file():
        return path
    packaged = packaged_configs()
    if path.suffix == "" and path.name in packaged:
        return packaged[path.name]
    raise UsageError(f"config file {path} does not exist; give a YAML file or a packaged config: "
                     f"{', '.join(sorted(packaged))}")


def packaged_configs() -> dict[str, Path]:
    """The example configs shipped with the package, by name (``default``, ``cifar``, ...)."""
    folder = packaged_file("configs/default.yaml").parent
    return {p.stem: p for p in folder.glob("*.yaml")}


# --- section parsers ------------------------------------------------------------------------------
def _data(value: Any) -> str:
    from supernet.data import parse_data_spec

    spec = _text(value, "data")
    try:
        parse_data_spec(spec)
    except UsageError as exc:
        raise UsageError(f"config key 'data': {exc}") from None
    return spec


def _bounds(raw: Any) -> dict[str, float]:
    """``constraints: {max_<resource>: bound}`` for every resource of the registry; null leaves it free."""
    keys = {f"max_{name}": name for name in list_resources()}
    raw = _mapping(raw, "constraints", set(keys))
    return {keys[key]: _number(value, f"constraints.{key}", 0.0, strict=True)
            for key, value in raw.items() if value is not None}


def _space(raw: Any, base: RunConfig) -> dict:
    from supernet.space import get_space, list_spaces

    raw = _mapping(raw, "space", {"preset", "width_multiplier"})
    preset = _choice(raw.get("preset", base.preset), "space.preset", tuple(list_spaces()))
    width = _number(raw.get("width_multiplier", base.width_multiplier), "space.width_multiplier", 0.0,
                    strict=True)
    try:
        get_space(preset, width)        # the space owns the range a width multiplier may take
    except UsageError as exc:
        raise UsageError(f"config key 'space.width_multiplier': {exc}") from None
    return {"preset": preset, "width_multiplier": width}


def _devices(raw: Any) -> tuple[DeviceProfile, ...]:
    if isinstance(raw, (str, dict)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise _fail("devices", f"a list of device names ({', '.join(BUILTIN_PROFILES)}) or profiles "
                    "{name, backend, threads, batch_size}", raw)
    profiles = []
    for i, item in enumerate(raw):
        try:
            profiles.append(get_profile(item))
        except (UsageError, TypeError) as exc:
            raise UsageError(f"config key 'devices[{i}]': {exc}") from None
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise _fail("devices", "distinct device names", names)
    return tuple(profiles)


def _targets(raw: Any, devices: tuple[DeviceProfile, ...]) -> dict[str, TargetSpec]:
    names = [d.name for d in devices]
    raw = _mapping(raw, "targets", set(names))
    missing = [n for n in names if n not in raw]
    if missing:
        raise UsageError(f"config key 'targets.{missing[0]}' is missing: every device needs targets "
                         f"(a list of ms or {{auto: N}})")
    return {n: TargetSpec.parse(raw[n], f"targets.{n}") for n in names}


def _training(raw: Any, base: RunConfig) -> dict:
    from supernet.recipes import StageRecipe, get_recipe, list_recipes

    raw = _mapping(raw, "training", {"recipe", "heaviest", "supernet", "finetune", "max_failures", "seed"})
    recipe = _choice(raw.get("recipe", base.recipe), "training.recipe", tuple(list_recipes()))
    out: dict[str, Any] = {"recipe": recipe}
    known = _fields(StageRecipe)
    for stage in ("heaviest", "supernet", "finetune"):
        # The default's overrides belong to the default recipe; another recipe starts from its own.
        default = getattr(base, stage) if recipe == base.recipe else {}
        overrides = dict(_mapping(raw.get(stage, default), f"training.{stage}", known))
        try:
            getattr(get_recipe(recipe), stage).replace(**overrides)
        except OptionError as exc:
            raise _fail(f"training.{stage}.{exc.option}", exc.allowed, exc.value) from None
        out[stage] = overrides
    out["max_failures"] = _int(raw.get("max_failures", base.max_failures), "training.max_failures", 0)
    out["training_seed"] = _int(raw.get("seed", base.training_seed), "training.seed", 0)
    return out


def _latency(raw: Any, base: RunConfig) -> dict:
    from workers.latency import Protocol

    raw = _mapping(raw, "latency", {"protocol", "noise", "retries"})
    protocol = dict(_mapping(raw.get("protocol", base.latency_protocol), "latency.protocol",
                             _fields(Protocol)))
    try:
        Protocol(**protocol)
    except OptionError as exc:
        raise _fail(f"latency.protocol.{exc.option}", exc.allowed, exc.value) from None
    noise = _number(raw.get("noise", base.latency_noise), "latency.noise", 0.0, most=1.0)
    retries = _int(raw.get("retries", base.latency_retries), "latency.retries", 0)
    return {"latency_protocol": protocol, "latency_noise": noise, "latency_retries": retries}


def _check_requests(config: RunConfig) -> None:
    """A local Ray has ``ray.num_cpus`` CPUs (all cores by default) and no GPU: a request beyond
    that would wait forever, so it is refused here. A cluster's autoscaler decides for itself."""
    if config.ray_address is not None:
        return
    cpus = config.local_cpus
    for name in _fields(ResourceRequests):
        req: Resources = getattr(config.resources, name)
        if req.cpus > cpus:
            raise UsageError(f"config key 'resources.{name}.cpus': {req.cpus:g} CPUs requested but the "
                             f"local Ray has {cpus}; lower it or set ray.num_cpus / ray.address")
        if req.gpus > 0:
            import torch

            if not torch.cuda.is_available():
                raise UsageError(f"config key 'resources.{name}.gpus': this machine has no GPU; set 0 "
                                 f"or run on a cluster (ray.address)")
