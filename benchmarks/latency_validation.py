"""Done-when benchmark of issue 3: latency tables predict whole-network latency on this CPU.

For each preset (imagenet, tiny) on ``cpu-bs1`` (1 thread, batch 1): measure the full table (timed),
then measure >= 30 timm models spread over the predicted range, twice, and compare. Writes the tables,
``validation_<preset>/`` (csv, png, json) and ``latency.md`` under ``benchmarks/results/``.

    flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/latency_validation.py

The machine must be otherwise idle: the script records the load average before and after each step.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.commands.validate_lut import summary, write_validation  # noqa: E402
from supernet.space import get_space  # noqa: E402
from workers.devices import get_profile  # noqa: E402
from workers.latency import Protocol, measure_table  # noqa: E402
from workers.latency_validation import validate_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GOALS = {"r2": 0.99, "ratio_tolerance": 0.03, "within_10_pct": 95.0, "table_seconds": 300.0}


def goal_row(preset: str, m: dict, seconds: float) -> str:
    def ok(flag: bool) -> str:
        return "yes" if flag else "**no**"
    return (f"| {preset} | {m['n']} | {m['ratio']:.3f} ({ok(abs(m['ratio'] - 1) <= GOALS['ratio_tolerance'])}) "
            f"| {m['r2']:.4f} ({ok(m['r2'] >= GOALS['r2'])}) | {m['mape_pct']:.2f}% "
            f"| {m['within_10_pct']:.0f}% ({ok(m['within_10_pct'] >= GOALS['within_10_pct'])}) "
            f"| {m['max_ape_pct']:.1f}% | {seconds:.0f} s ({ok(seconds < GOALS['table_seconds'])}) |")


def repeat_row(preset: str, m: dict) -> str:
    return (f"| {preset} | {m['ratio']:.3f} | {m['r2']:.4f} | {m['mape_pct']:.2f}% "
            f"| {m['within_10_pct']:.0f}% | {m['max_ape_pct']:.1f}% |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["imagenet", "tiny"])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    profile, protocol = get_profile("cpu-bs1"), Protocol()
    rows, repeats, notes = [], [], []
    for preset in args.presets:
        space = get_space(preset)
        load_before = os.getloadavg()
        started = time.monotonic()
        table = measure_table(space, profile, protocol, seed=args.seed)
        table_seconds = time.monotonic() - started
        table.save(RESULTS / f"lut_{preset}_{profile.name}.json")
        validation = validate_table(table, args.samples, passes=args.passes, seed=args.seed)
        write_validation(validation, RESULTS / f"latency_validation_{preset}",
                         f"{preset} on {profile.name} ({table.device['cpu']})")
        print(f"{preset}: table {table_seconds:.0f} s\n{summary(validation)}", flush=True)
        rows.append(goal_row(preset, validation.metrics, table_seconds))
        repeats.append(repeat_row(preset, validation.repeat))
        model = table.resource_model(space)
        others = validation.info
        notes.append(f"- {preset}: {len(table.entries)} entries from {table.protocol['probe_networks']} "
                     f"probe networks; constant {table.constant.median:.3f} ms; predicted range "
                     f"{model.least():.2f}..{model.largest():.2f} ms. Other processes' CPU use "
                     f"(median / max cores over rounds): table {table.protocol['other_cores_median']} / "
                     f"{table.protocol['other_cores_max']}, validation {others['other_cores_median']} / "
                     f"{others['other_cores_max']}; network visits redone: "
                     f"{table.protocol['redone_network_visits']} and {others['redone_network_visits']}; "
                     f"load average before {tuple(round(x, 2) for x in load_before)}, after "
                     f"{tuple(round(x, 2) for x in os.getloadavg())}")

    fp = table.device
    report = f"""# Latency tables vs measured latency (issue 3)

Machine: {fp['cpu']} ({fp['cpu_count']} cores, 2-core AMD EPYC VM, no GPU), {platform.platform()},
torch {fp['torch']}, timm {fp['timm']}. Device profile `{profile.name}`: torch on CPU, 1 thread, batch 1.
Command: `flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/latency_validation.py`
(equivalently `hardcore-nas lut --device cpu-bs1 --space PRESET --out T.json` then
`hardcore-nas validate-lut --lut T.json --samples {args.samples} --out DIR`).

Each architecture ({args.samples} per preset, spread evenly over the predicted latency range) is the
timm `MobileNetV3` a user deploys, measured end-to-end in {args.passes} passes (each in fresh
processes, in a different order); measured = the median of the passes. Protocol (the same for table
and validation): {protocol.warmup} warm-up runs, {protocol.repeats} timed runs visited round-robin in
groups of {protocol.runs_per_visit}, a network's latency = the {protocol.run_quantile:g} quantile of its
runs; a round during which other processes used more than {protocol.max_other_cores:g} cores is redone.
The table is built from the same timm models (probe networks: every entry timed inside
{protocol.contexts} whole networks with forward hooks), so these figures are also the timm figures.
Ratio: least-squares slope of measured on predicted through the origin; R^2 of the line y = x;
MAPE and the share within +-10% relative to measured.

## Prediction vs measurement (goals: ratio 1 +- 0.03, R^2 >= 0.99, >= 95% within +-10%, table < 5 min)

| preset | archs | ratio | R^2 | MAPE | within +-10% | max error | full table time |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Repeatability of the measurement itself (pass 2 vs pass 1, same architectures, fresh processes)

| preset | ratio | R^2 | MAPE | within +-10% | max difference |
|---|---|---|---|---|---|
{chr(10).join(repeats)}

## Notes
{chr(10).join(notes)}
- Tables: `benchmarks/results/lut_<preset>_cpu-bs1.json`; per-architecture rows and Figure-3 plots:
  `benchmarks/results/latency_validation_<preset>/validation.{{csv,png,json}}`.
## How the table is made, and what limits the figures
- Blocks are timed inside whole networks (forward hooks), not alone: alone they run 20-25% faster, by
  an amount that varies per architecture (`shared/reference/environment.md`). 96 probe networks hold
  every (signature x configuration) entry in >= 8 different networks; an entry is the median over those
  networks, each network's segments scaled to sum to its own whole-network latency without hooks.
- Every batch of 10 networks runs in a fresh process with `THP_MEM_ALLOC_ENABLE=1` and glibc's mmap
  threshold pinned, after a throw-away network (without these, the first model of a process ran up to
  40% slower than later ones in our trials).
- Figures depend on the machine being quiet. On this shared VM one process's level can be a few percent
  off another's for the same networks (see the repeatability table). The tiny preset's networks
  (2.5-6.5 ms, much of it per-module Python overhead) have the noisiest measurement: its prediction
  errors are of the same size as its pass-to-pass differences.
"""
    (RESULTS / "latency.md").write_text(report)
    print(f"wrote {RESULTS / 'latency.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
