"""The latency table file (JSON, milliseconds): format, validation at load, and formula (3) from it.

A table holds, for one device and one search space, the latency of every (block signature x
configuration) entry and of the constant part (stem, DS block, last conv, pool, head conv, classifier),
each as a median with its spread (IQR) and count, plus the device fingerprint and a content hash.
Anything wrong with a file is a :class:`UsageError` whose one-line message says what would work.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hardcore_nas import UsageError, content_hash
from hardcore_nas.checks import is_number, read_json, short
from solvers.resources import ResourceModel
from supernet.arch import Architecture
from supernet.space import SearchSpace, block_key, get_space

from .devices import DeviceProfile

__all__ = ["FORMAT", "VERSION", "EntryStats", "LatencyTable", "load_table"]

FORMAT = "hardcore-nas/latency-table"
VERSION = 1
_FIELDS = ("device", "space", "num_classes", "protocol", "statistic", "constant", "entries",
           "measured_at", "seconds")
# An hour per entry is far beyond any block's forward pass; it keeps sums of entries (formula (3)) finite.
_MAX_MS = 3.6e6


@dataclass(frozen=True)
class EntryStats:
    """One table entry in ms: ``median`` (the value formula (3) uses), ``spread`` (IQR), ``count``."""
    median: float
    spread: float
    count: int

    @classmethod
    def of(cls, samples) -> EntryStats:
        samples = np.asarray(samples, dtype=np.float64)
        q1, q2, q3 = np.quantile(samples, (0.25, 0.5, 0.75))
        return cls(round(float(q2), 6), round(float(q3 - q1), 6), int(samples.size))  # 1 ns steps

    @classmethod
    def parse(cls, name: str, value) -> EntryStats:
        """Validate one entry read from a file."""
        if not isinstance(value, dict) or set(value) != {"median", "spread", "count"}:
            raise UsageError(f"table entry {short(name)} must be an object with median, spread and count")
        median, spread, count = value["median"], value["spread"], value["count"]
        for field, x in (("median", median), ("spread", spread)):
            if not is_number(x) or not 0 <= x <= _MAX_MS:
                raise UsageError(f"table entry {short(name)} has {field} {short(x)}: latencies must be finite, "
                                 f"non-negative milliseconds up to {_MAX_MS:g}; measure the table again")
        if not is_number(count, int) or count < 1:
            raise UsageError(f"table entry {short(name)} has count {short(count)}; it must be a positive integer")
        return cls(float(median), float(spread), count)


@dataclass(frozen=True)
class LatencyTable:
    """Measured latencies of one search space on one device (ms per forward pass of a batch)."""
    device: dict            # fingerprint: profile, CPU/GPU model, library versions, threads, batch
    space: dict             # name, width_multiplier, hash
    num_classes: int
    protocol: dict          # how it was measured
    statistic: str          # what ``median`` is a median of
    constant: EntryStats
    entries: dict[str, EntryStats]
    measured_at: str
    seconds: float
    # the reference network timed beside the table: {"arch": timm string, "runs_ms": [...]} (absent in
    # tables from before it was); later measurements time it again to see how the machine's speed moved
    reference: dict | None = None

    # --- identity --------------------------------------------------------------------------
    @property
    def profile(self) -> DeviceProfile:
        return recorded_profile(self.device, self.protocol)

    @property
    def device_name(self) -> str:
        return self.device["profile"]["name"]

    def body(self) -> dict:
        d = asdict(self)
        if d["reference"] is None:      # older tables keep their content hash
            del d["reference"]
        return {"format": FORMAT, "version": VERSION, "unit": "ms", **d}

    @property
    def reference_ms(self) -> list[float]:
        """The reference network's latencies measured with the table (empty for older tables)."""
        return list(self.reference["runs_ms"]) if self.reference else []

    @property
    def content_hash(self) -> str:
        return content_hash(self.body(), length=None)

    # --- files -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({**self.body(), "content_hash": self.content_hash}, indent=1,
                          sort_keys=True, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, data, source: str = "table") -> LatencyTable:
        """Parse and validate a decoded JSON document (``source`` names it in messages)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(f"{source} is not a hardcore-nas latency table (expected \"format\": "
                             f"\"{FORMAT}\"); make one with 'hardcore-nas lut'")
        if data.get("version") != VERSION or data.get("unit") != "ms":
            raise UsageError(f"{source} has version {data.get('version')!r} and unit "
                             f"{data.get('unit')!r}; this release reads version {VERSION} in ms")
        missing = [f for f in (*_FIELDS, "content_hash") if f not in data]
        if missing:
            raise UsageError(f"{source} lacks field(s) {', '.join(missing)}; measure it again")
        entries = data["entries"]
        if not isinstance(entries, dict) or not entries:
            raise UsageError(f"{source} has no entries; measure it again")
        try:
            parsed = {k: EntryStats.parse(k, v) for k, v in entries.items()}
            constant = EntryStats.parse("constant", data["constant"])
        except UsageError as exc:
            raise UsageError(f"{source}: {exc}") from None
        body = {k: v for k, v in data.items() if k != "content_hash"}
        if content_hash(body, length=None) != data["content_hash"]:
            raise UsageError(f"{source}: content hash does not match its contents (the file was "
                             f"edited or damaged); measure it again with 'hardcore-nas lut'")
        _check_fields(data, source)
        return cls(
            device=data["device"], space=data["space"], num_classes=data["num_classes"],
            protocol=data["protocol"], statistic=data["statistic"],
            constant=constant, entries=parsed,
            measured_at=data["measured_at"], seconds=float(data["seconds"]),
            reference=_parse_reference(data.get("reference"), source),
        )

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"latency table {path} does not exist; make one with "
                             f"'hardcore-nas lut --device NAME --out {path}'")
        return cls.from_dict(read_json(path, "latency table"), source=str(path))

    # --- the space -------------------------------------------------------------------------
    def check_space(self, space: SearchSpace) -> None:
        """Refuse a table of another space, or one lacking entries of ``space``."""
        if (self.space["name"], self.space["hash"]) != (space.name, space.hash):
            raise UsageError(
                f"latency table of device {self.device_name!r} was measured for space "
                f"{self.space['name']!r} (hash {self.space['hash']}), not {space.name!r} (hash "
                f"{space.hash}); measure one with 'hardcore-nas lut --device {self.device_name} "
                f"--space {space.name}'")
        want = set(space.latency_keys())
        missing, extra = sorted(want - set(self.entries)), sorted(set(self.entries) - want)
        if missing or extra:
            what = (f"lacks {len(missing)} entries (e.g. {missing[0]!r})" if missing
                    else f"has {len(extra)} unknown entries (e.g. {extra[0]!r})")
            raise UsageError(f"latency table of device {self.device_name!r} {what} for space "
                             f"{space.name!r}; measure it again with 'hardcore-nas lut'")

    def search_space(self) -> SearchSpace:
        """The preset the table was measured for (checked against the recorded hash)."""
        try:
            space = get_space(self.space["name"], float(self.space["width_multiplier"]))
        except ValueError as exc:
            raise UsageError(f"latency table: {exc}") from None
        self.check_space(space)
        return space

    # --- formula (3) -----------------------------------------------------------------------
    def block_costs(self, space: SearchSpace) -> np.ndarray:
        """``(stages, max_depth, configs)`` latencies in ms, each slot from its signature's entries."""
        self.check_space(space)
        costs = np.zeros((space.num_stages, space.max_depth, space.num_configs))
        for slot in space.slots:
            costs[slot.stage, slot.index] = [self.entries[block_key(slot.signature, c)].median
                                             for c in space.configs]
        return costs

    def resource_model(self, space: SearchSpace) -> ResourceModel:
        """Formula (3) in ms: ``LAT(alpha, beta) = alpha^T Theta beta + p^T alpha + const``."""
        return ResourceModel(f"latency:{self.device_name}", self.block_costs(space),
                             self.constant.median, space.min_depth, unit="ms")

    def predict(self, arch: Architecture) -> float:
        """Predicted latency (ms) of a discrete architecture: its blocks' entries plus the constant."""
        self.check_space(arch.space)
        return self.constant.median + sum(
            self.entries[block_key(arch.space.slot(s, b).signature, cfg)].median
            for s, b, cfg in arch.blocks())


def _check_fields(data: dict, source: str) -> None:
    """The fields beside the entries, of the types the table's users rely on (after the hash matched, a
    wrong type is a table written by hand or by another program)."""
    from .latency import Protocol

    space, device = data["space"], data["device"]
    if not (isinstance(space, dict) and isinstance(space.get("name"), str) and isinstance(space.get("hash"), str)
            and is_number(space.get("width_multiplier"))):
        raise UsageError(f"{source}: 'space' must give name and hash (strings) and width_multiplier (a number), "
                         f"got {short(space)}")
    if not isinstance(device, dict) or "profile" not in device:
        raise UsageError(f"{source}: 'device' must hold the device profile")
    if not isinstance(data["protocol"], dict):
        raise UsageError(f"{source}: 'protocol' must be an object, got {short(data['protocol'])}")
    try:
        recorded_profile(device, data["protocol"])
        Protocol.from_dict(data["protocol"])
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None
    for key, ok, allowed in (
            ("num_classes", is_number(data["num_classes"], int) and data["num_classes"] >= 1, "a positive integer"),
            ("seconds", is_number(data["seconds"]) and data["seconds"] >= 0, "a non-negative number"),
            ("statistic", isinstance(data["statistic"], str), "a string"),
            ("measured_at", isinstance(data["measured_at"], str), "a string")):
        if not ok:
            raise UsageError(f"{source}: '{key}' must be {allowed}, got {short(data[key])}")


def _parse_reference(value, source: str) -> dict | None:
    if value is None:
        return None
    runs = value.get("runs_ms") if isinstance(value, dict) else None
    if (set(value) if isinstance(value, dict) else None) != {"arch", "runs_ms"} or not isinstance(value["arch"], str) \
            or not isinstance(runs, list) or not runs or not all(is_number(x) and 0 < x <= _MAX_MS for x in runs):
        raise UsageError(f"{source}: 'reference' must give arch (a timm string) and runs_ms (positive "
                         f"milliseconds), got {short(value)}; measure the table again")
    return {"arch": value["arch"], "runs_ms": [float(x) for x in runs]}


def recorded_profile(device: dict, protocol: dict) -> DeviceProfile:
    """The profile a table was measured with. Tables from before profiles named a process condition
    were all measured with the tuned allocator, which their protocol records as ``process_env``."""
    profile = dict(device["profile"])
    if "process" not in profile and protocol.get("process_env"):
        profile["process"] = "tuned"
    return DeviceProfile.from_dict(profile)


def load_table(path: str | Path, space: SearchSpace | None = None) -> LatencyTable:
    """Load and validate a table; with ``space``, also check that it belongs to that space."""
    table = LatencyTable.load(path)
    if space is not None:
        table.check_space(space)
    return table
