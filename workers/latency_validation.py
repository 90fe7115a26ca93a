"""Predicted vs measured latency of architectures spread across a table's latency range.

The measured networks are the timm ``MobileNetV3`` models a user deploys (``build_timm_model``),
timed end-to-end with the table's own protocol in fresh processes. Each architecture is measured in
``passes`` separate passes (different processes and orders); the measured value is their median
(a process's level can be a few percent off: its memory layout is its own) and the pass-vs-pass
agreement is reported beside the prediction's, since a table cannot be more accurate than the
measurement it is checked against.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from hardcore_nas.errors import UsageError
from supernet.arch import Architecture
from supernet.space import SearchSpace

from .latency import ProgressFn, Protocol, disturbance, fingerprint, measure_networks
from .latency_table import LatencyTable
from .resources import ResourceContext, build_resources, list_resources

__all__ = ["Validation", "agreement", "tilted_architecture", "sample_across_range", "validate_table"]


def agreement(predicted, measured) -> dict[str, float]:
    """How well ``predicted`` matches ``measured`` (both ms).

    ``ratio``: least-squares slope of measured on predicted through the origin; ``r2``: coefficient of
    determination of the line y = x (not of a refitted line); ``mape``: mean absolute percentage error
    relative to measured; ``within_10``: share with ``|predicted - measured| <= 10% of measured``.
    """
    p, m = np.asarray(predicted, np.float64), np.asarray(measured, np.float64)
    ape = np.abs(p - m) / m
    return {
        "n": int(p.size),
        "ratio": float(p @ m / (p @ p)),
        "r2": float(1.0 - ((m - p) ** 2).sum() / ((m - m.mean()) ** 2).sum()),
        "mape_pct": float(100 * ape.mean()),
        "within_10_pct": float(100 * (ape <= 0.10).mean()),
        "max_ape_pct": float(100 * ape.max()),
    }


def tilted_architecture(costs: np.ndarray, space: SearchSpace, tilt: float,
                        rng: np.random.Generator) -> Architecture:
    """A draw leaning light (``tilt`` 0) or heavy (1): ranks ~ Binomial(options - 1, tilt).

    With ``tilt`` uniform on [0, 1] every block's rank is uniform, yet blocks of one draw lean the
    same way, so draws reach both ends of the latency range.
    """
    order = np.argsort(costs, axis=2)              # per slot, configs from cheapest to dearest
    stages = []
    for s in range(space.num_stages):
        depth = space.depths[rng.binomial(len(space.depths) - 1, tilt)]
        stages.append(tuple(int(order[s, b, rng.binomial(space.num_configs - 1, tilt)])
                            for b in range(depth)))
    return Architecture(space, tuple(stages))


def sample_across_range(table: LatencyTable, space: SearchSpace, n: int, rng: np.random.Generator,
                        pool_size: int = 4000) -> list[Architecture]:
    """``n`` distinct architectures whose predicted latencies cover the range evenly.

    A pool of tilted draws is split into ``n`` equal-width bins of predicted latency; each bin gives
    one random member (an empty bin gives the unused pool member nearest to its centre).
    """
    costs = table.block_costs(space)
    pool = list({a.stages: a for a in (tilted_architecture(costs, space, rng.uniform(), rng)
                                       for _ in range(max(pool_size, 4 * n)))}.values())
    if len(pool) < n:
        raise UsageError(f"space {space.name!r} has too few distinct architectures for {n} samples")
    predicted = np.array([table.predict(a) for a in pool])
    edges = np.linspace(predicted.min(), predicted.max(), n + 1)
    free = np.ones(len(pool), dtype=bool)
    chosen = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = np.flatnonzero(free & (predicted >= lo) & (predicted <= hi))
        pick = int(rng.choice(in_bin)) if in_bin.size else int(
            np.flatnonzero(free)[np.argmin(np.abs(predicted[free] - (lo + hi) / 2))])
        free[pick] = False
        chosen.append(pool[pick])
    return chosen


@dataclass
class Validation:
    """One validation run: per-architecture rows and the agreement figures."""
    frame: pd.DataFrame
    metrics: dict            # predicted vs measured (median of the passes)
    repeat: dict             # pass 2 vs pass 1: the measurement's own repeatability
    info: dict = field(default_factory=dict)


def validate_table(table: LatencyTable, samples: int, passes: int = 3,
                   protocol: Protocol | None = None, seed: int = 0,
                   progress: ProgressFn = lambda n: None,
                   archs: Sequence[Architecture] | None = None) -> Validation:
    """Measure ``samples`` architectures across the table's range and compare with its predictions.

    Runs on the table's device (this machine must be it). ``progress`` reports network visits,
    ``samples * passes * protocol.visits`` in all. ``archs`` (``samples`` of them) replaces the draw,
    e.g. to compare two devices on the same networks.
    """
    if samples < 2 or passes < 1:
        raise UsageError(f"need at least 2 samples and 1 pass, got {samples} and {passes}")
    space = table.search_space()
    protocol = protocol or Protocol.from_dict(table.protocol)
    rng = np.random.default_rng(seed)
    archs = sample_across_range(table, space, samples, rng) if archs is None else list(archs)
    if len(archs) != samples:
        raise UsageError(f"got {len(archs)} architectures for {samples} samples")
    measured = np.zeros((passes, samples))
    spread = np.zeros((passes, samples))
    all_timings = []
    for p in range(passes):
        order = rng.permutation(samples)
        timings = measure_networks(space, [archs[i] for i in order], table.profile, protocol,
                                   table.num_classes, progress=progress)
        all_timings += timings
        for i, timing in zip(order, timings):
            measured[p, i] = timing.latency_ms(protocol.run_quantile)
            spread[p, i] = timing.spread_ms()
    predicted = np.array([table.predict(a) for a in archs])
    resources = build_resources(ResourceContext(space, table.num_classes))
    frame = pd.DataFrame({
        "arch": [str(a) for a in archs],
        "depths": ["-".join(map(str, a.depths)) for a in archs],
        "predicted_ms": predicted,
        "measured_ms": np.median(measured, axis=0),
        **{f"pass_{p + 1}_ms": measured[p] for p in range(passes)},
        "iqr_ms": spread.mean(axis=0),
        **{name: [resources[name].value(a) for a in archs] for name in list_resources()},
    })
    frame["error_pct"] = 100 * (frame.predicted_ms - frame.measured_ms) / frame.measured_ms
    frame["within_10"] = frame.error_pct.abs() <= 10
    return Validation(
        frame=frame,
        metrics=agreement(frame.predicted_ms, frame.measured_ms),
        repeat=agreement(measured[0], measured[1]) if passes > 1 else {},
        info={"device": table.device_name, "space": space.name, "passes": passes, "seed": seed,
              "protocol": asdict(protocol), **disturbance(all_timings),
              "network": "timm MobileNetV3 (build_timm_model)",
              "table_content_hash": table.content_hash, "measured_on": fingerprint(table.profile)},
    )

