"""Supernet training on the embedded default: wall time and held-out accuracy, and the allocator effect.

1. ``hardcore-nas train-supernet`` (tiny space, digits, tiny recipe, retrained from scratch) in a fresh
   process: wall time of each stage and of the whole command, held-out top-1 of w-bar and of the lightest,
   heaviest and random subnets extracted from w* (as extracted and after BN re-estimation).
2. Side by side, each in a fresh process: training steps of the heaviest tiny network on digits with glibc's
   default allocator settings and with ``supernet.training.configure_cpu`` (mmap/trim thresholds raised).

    flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/supernet_training.py     # ~7 min on 2 cores
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "supernet_training.md"


def step_probe(tuned: bool, steps: int) -> dict:
    """Per-step wall times of plain heaviest-network training on digits (run in a fresh process)."""
    sys.path.insert(0, str(ROOT))
    import torch

    from supernet import Architecture, get_space
    from supernet.data import load_data, make_loader
    from supernet.timm_models import build_timm_model
    from supernet.training import configure_cpu

    if tuned:
        configure_cpu()
    else:
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    space = get_space("tiny")
    loader = make_loader(load_data("digits", space.input_size).train, 64, train=True)
    model = build_timm_model(Architecture.heaviest(space), 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    times = []
    while len(times) < steps:
        for images, targets in loader:
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
            if len(times) == steps:
                break
    return {"times": times}


def _python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "runs" / "bench-supernet"))
    parser.add_argument("--steps", type=int, default=30, help="steps per allocator probe process")
    parser.add_argument("--rounds", type=int, default=3, help="probe processes per allocator setting")
    parser.add_argument("--probe", choices=("default", "tuned"), help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print, do not write the results file")
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(step_probe(args.probe == "tuned", args.steps)))
        return

    started = time.perf_counter()
    command = [str(ROOT / ".venv" / "bin" / "hardcore-nas"), "train-supernet", "--out", args.out, "--force"]
    t0 = time.perf_counter()
    cli = subprocess.run(command, cwd=ROOT, env={**os.environ, "TQDM_DISABLE": "1"}, capture_output=True,
                         text=True, check=True)
    command_s = time.perf_counter() - t0
    metrics = json.loads((Path(args.out) / "metrics.json").read_text())

    probes = {"default": [], "tuned": []}
    for _ in range(args.rounds):  # alternating fresh processes, so that drifts of the machine hit both
        for mode in probes:
            probe = _python(__file__, "--probe", mode, "--steps", str(args.steps))
            probes[mode] += json.loads(probe.stdout.strip().splitlines()[-1])["times"]
    total_s = time.perf_counter() - started

    import torch

    from workers.latency import cpu_model

    lines = [
        "# Supernet training on the embedded default (tiny space, digits)",
        "",
        "Produced by [`benchmarks/supernet_training.py`](../supernet_training.py): "
        f"`hardcore-nas {' '.join(command[1:])}` in a fresh process (both stages retrained, tiny recipe), "
        "then the allocator side-by-side.",
        "",
        "## Wall time (goal: both stages in under 10 minutes on 2 cores)",
        "",
        "| stage | wall time [s] |",
        "|---|---|",
        f"| w-bar: heaviest network, {metrics['recipe']} recipe | {metrics['heaviest']['wall_s']:.0f} |",
        f"| w*: multipath supernet distilled from w-bar | {metrics['supernet']['wall_s']:.0f} |",
        f"| the whole command (imports, data, both stages, evaluation) | **{command_s:.0f}** |",
        "",
        f"## Held-out top-1 on {metrics['test_images']} digits test images (chance {metrics['chance_top1']:.0f}%)",
        "",
        "Subnets are extracted from w* as plain timm models. *BN re-estimated*: the same weights after "
        f"re-estimating BatchNorm statistics on {metrics['bn_recalibration_images']} training images "
        "(multipath training leaves statistics averaged over all paths).",
        "",
        "| model | params | top-1 as extracted [%] | top-1, BN re-estimated [%] | depths |",
        "|---|---|---|---|---|",
        f"| w-bar (heaviest, trained alone) | | **{metrics['heaviest']['test_top1']:.1f}** | | |",
    ]
    for sub in metrics["subnets"]:
        lines.append(f"| w* {sub['name']} | {sub['params']:,} | **{sub['test_top1']:.1f}** | "
                     f"{sub['test_top1_bn_recalibrated']:.1f} | {sub['depths']} |")
    default, tuned = (statistics.median(probes[m]) for m in ("default", "tuned"))
    lines += [
        "",
        "## Allocator settings (same steps, fresh processes, same run)",
        "",
        f"{args.rounds} alternating fresh processes per setting, {args.steps} training steps each, of the "
        "heaviest tiny network (batch 64, digits); statistics over all their steps. glibc hands large freed "
        "blocks back to the kernel and the next step faults fresh pages in; `configure_cpu` raises the mmap "
        "and trim thresholds (`mallopt`) so that the process reuses its heap. The effect depends on the VM's "
        "memory state: large while the VM's memory has not been touched yet (a freshly booted machine; see "
        "`configure_cpu`'s docstring), what the table shows once it has.",
        "",
        "| allocator | median step [s] | max step [s] | total [s] |",
        "|---|---|---|---|",
        f"| glibc defaults | {default:.3f} | {max(probes['default']):.3f} | {sum(probes['default']):.1f} |",
        f"| `configure_cpu` | {tuned:.3f} | {max(probes['tuned']):.3f} | {sum(probes['tuned']):.1f} |",
        "",
        f"Ratio of medians (defaults / tuned): **{default / tuned:.2f}x**.",
        "",
        f"- Machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores visible, no GPU; torch "
        f"{torch.__version__}, Python {platform.python_version()}. Other engineers' jobs share the machine; "
        "timed runs hold `/tmp/hcn-cpu.lock`.",
        f"- Date: {datetime.date.today()}. Whole benchmark: {total_s:.0f} s.",
        "- Command: `flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/supernet_training.py`",
        "",
        "Command output:",
        "",
        "```",
        *cli.stdout.strip().splitlines(),
        "```",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULT.write_text(text)


if __name__ == "__main__":
    main()
