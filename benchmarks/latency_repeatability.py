"""Issue 13's repeatability goal: on the default's preset and devices, a fresh table validates within the
goals twice in a row.

For each device (default: the default run's ``cpu-bs1`` and ``ort-bs1``, both in a plain process) and
each of ``--tries`` successive tries: measure the ``tiny`` table as ``hardcore-nas lut`` does, then
validate it on ``--samples`` timm networks as ``hardcore-nas validate-lut`` does. The tries of all
devices alternate (device A try 1, device B try 1, A try 2, ...), so a slow hour hits both. Writes
``benchmarks/results/latency_repeatability.md`` (tables and validations under
``latency_repeatability/``). The machine must be otherwise idle::

    flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/latency_repeatability.py
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.latency_validation import _loads, _step, goal_row, goals_met, repeat_row  # noqa: E402
from orchestrator.commands.validate_lut import summary, write_validation  # noqa: E402
from supernet.space import get_space  # noqa: E402
from workers.devices import get_profile  # noqa: E402
from workers.latency import Protocol, measure_table  # noqa: E402
from workers.latency_validation import validate_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--devices", nargs="+", default=["cpu-bs1", "ort-bs1"])
    parser.add_argument("--tries", type=int, default=2)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    space, protocol, out = get_space(args.preset), Protocol(), RESULTS / "latency_repeatability"
    rows, repeats, notes = [], [], []
    missed: dict[str, list[int]] = {name: [] for name in args.devices}   # tries that missed a goal
    for attempt in range(1, args.tries + 1):
        for name in args.devices:
            profile = get_profile(name)
            label = f"{name} try {attempt}"
            table, seconds, loads = _step(f"{label} table", measure_table, space, profile, protocol, seed=attempt)
            table.save(out / f"lut_{args.preset}_{name}_try{attempt}.json")
            validation, _, vloads = _step(f"{label} validation", validate_table, table, args.samples,
                                          passes=args.passes, seed=attempt)
            write_validation(validation, out / f"validation_{name}_try{attempt}", f"{args.preset} on {label}")
            print(f"{label}: table {seconds:.0f} s\n{summary(validation)}", flush=True)
            m = validation.metrics
            if not all(goals_met(m).values()):
                missed[name].append(attempt)
            rows.append(goal_row(label, m, seconds))
            repeats.append(repeat_row(label, validation.repeat))
            model = table.resource_model(space)
            notes.append(f"- {label}: predicted range {model.least():.3f}..{model.largest():.3f} ms; reference "
                         f"network {np.median(table.reference_ms):.3f} ms; other processes' CPU use (median / max "
                         f"cores): table {table.protocol['other_cores_median']} / {table.protocol['other_cores_max']}, "
                         f"validation {validation.info['other_cores_median']} / {validation.info['other_cores_max']}; "
                         f"load average table {_loads(loads)}, validation {_loads(vloads)}")
    fp = table.device
    verdict = "\n".join(f"- {name}: " + ("**not met** in " + ", ".join(f"try {t}" for t in tries) if tries
                                         else "**met in every try**") for name, tries in missed.items())
    devices = ", ".join(f"`{n}` ({get_profile(n).backend}, 1 thread, batch 1, {get_profile(n).process} process)"
                        for n in args.devices)
    report = f"""# Repeatability of fresh tables on the default's preset and devices (issue 13)

Machine: {fp['cpu']} ({fp['cpu_count']} cores, shared VM, no GPU), {platform.platform()}; torch {fp['torch']},
timm {fp['timm']}, onnxruntime {fp.get('onnxruntime', '-')}. Preset `{args.preset}`; devices
{devices}.
Command: `flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/latency_repeatability.py` (each try is
`hardcore-nas lut --device D --space {args.preset}` then `hardcore-nas validate-lut --samples {args.samples}
--passes {args.passes}`). Tries alternate between the devices. Protocol: the `lut` default ({protocol.contexts}
contexts per entry, {protocol.warmup} warm-up runs, {protocol.repeats} timed runs, the {protocol.run_quantile:g}
quantile); under the plain condition every network is timed alone in its own process.

## Goals: ratio 1 +- 0.03, R^2 >= 0.99, >= 95% within +-10%, in every try

{verdict}

| device and try | archs | ratio | R^2 | MAPE | within +-10% | max error | table time |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Repeatability of the measurement itself (validation pass 2 vs pass 1)

| device and try | ratio | R^2 | MAPE | within +-10% | max difference |
|---|---|---|---|---|---|
{chr(10).join(repeats)}

## Notes
{chr(10).join(notes)}
- Files: `benchmarks/results/latency_repeatability/` (each try's table and validation csv/png/json).
"""
    (RESULTS / "latency_repeatability.md").write_text(report)
    print(f"wrote {RESULTS / 'latency_repeatability.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
