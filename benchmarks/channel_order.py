"""Taylor channel ordering before multipath training: held-out top-1 of w* subnets with and without it.

w-bar is trained once (tiny space, digits, tiny recipe). w* is then trained twice from copies of it with
the same seeds (data order, paths): once from timm's channel order, once after
``supernet.channels.reorder_channels`` (the official ``reorganize_channels``) on ``--taylor-batches``
training batches. Both are scored on the same subnets (lightest, heaviest, random ones), as extracted
and after BN re-estimation, on the held-out test images. Writes ``results/channel_order.md``.

    flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/channel_order.py      # ~9 min on 2 cores
"""
from __future__ import annotations

import argparse
import copy
import datetime
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from supernet import Architecture, get_space
from supernet.data import load_data, make_loader
from supernet.extract import extract_subnet
from supernet.recipes import get_recipe
from supernet.training import configure_cpu, evaluate, recalibrate_bn, train_heaviest, train_supernet
from workers.latency import cpu_model

RESULT = Path(__file__).resolve().parent / "results" / "channel_order.md"


def score(wstar, archs: dict, splits, seed: int) -> dict[str, tuple[float, float]]:
    """Per subnet: (test top-1 as extracted, test top-1 after BN re-estimation)."""
    test = make_loader(splits.test, 256, train=False)
    rows = {}
    for name, arch in archs.items():
        model = extract_subnet(wstar, arch).eval()
        extracted = evaluate(model, test)
        calibration = make_loader(splits.train, 128, train=True, seed=seed)
        rows[name] = (extracted, evaluate(recalibrate_bn(model, calibration, 8), test))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taylor-batches", type=int, default=2, help="batches of 64 that rank channels")
    parser.add_argument("--random-subnets", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    configure_cpu()
    space, recipe = get_space("tiny"), get_recipe("tiny")
    splits = load_data("digits", space.input_size, seed=args.seed)
    val = make_loader(splits.val, 256, train=False)
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    teacher, _ = train_heaviest(space, splits.num_classes,
                                make_loader(splits.train, recipe.heaviest.batch_size, train=True, seed=args.seed),
                                recipe.heaviest, val_loader=val)
    rng = np.random.default_rng(args.seed)
    archs = {"lightest": Architecture.lightest(space), "heaviest": Architecture.heaviest(space)}
    archs.update({f"random{i + 1}": Architecture.random(space, rng) for i in range(args.random_subnets)})
    arms, seconds = {}, {}
    for label, batches in (("timm order", 0), ("Taylor order", args.taylor_batches)):
        torch.manual_seed(args.seed + 1)
        tic = time.perf_counter()
        wstar, _ = train_supernet(
            space, copy.deepcopy(teacher),
            make_loader(splits.train, recipe.supernet.batch_size, train=True, seed=args.seed + 1),
            recipe.supernet.replace(taylor_batches=batches), num_classes=splits.num_classes, val_loader=val,
            seed=args.seed)
        seconds[label] = time.perf_counter() - tic
        arms[label] = score(wstar, archs, splits, args.seed + 2)
    total = time.perf_counter() - started

    base, taylor = arms["timm order"], arms["Taylor order"]
    lines = [
        "# Taylor channel ordering before multipath training (tiny space, digits)",
        "",
        "Produced by [`benchmarks/channel_order.py`](../channel_order.py): w-bar trained once (tiny recipe), "
        "then w* trained twice from copies of it with the same seeds, from timm's channel order and after "
        f"`supernet.channels.reorder_channels` on {args.taylor_batches} training batches of 64 (the official "
        "`reorganize_channels`). Held-out top-1 (%) on the "
        f"{len(splits.test)} digits test images of the same subnets, as extracted from w* and after "
        "re-estimating their BN statistics (8 batches of 128 training images).",
        "",
        "| subnet | params | timm order: extracted | BN re-est. | Taylor order: extracted | BN re-est. |",
        "|---|---|---|---|---|---|",
    ]
    for name, arch in archs.items():
        params = sum(p.numel() for p in extract_subnet(wstar, arch).parameters())
        lines.append(f"| {name} ({'-'.join(map(str, arch.depths))}) | {params:,} | {base[name][0]:.1f} | "
                     f"{base[name][1]:.1f} | {taylor[name][0]:.1f} | {taylor[name][1]:.1f} |")
    med = {label: [statistics.median(v[i] for v in rows.values()) for i in (0, 1)] for label, rows in arms.items()}
    wins = sum(taylor[n][1] > base[n][1] for n in archs), sum(taylor[n][1] < base[n][1] for n in archs)
    lines += [
        f"| **median** | | **{med['timm order'][0]:.1f}** | **{med['timm order'][1]:.1f}** | "
        f"**{med['Taylor order'][0]:.1f}** | **{med['Taylor order'][1]:.1f}** |",
        "",
        f"After BN re-estimation the Taylor-ordered w* scores higher on {wins[0]} of {len(archs)} subnets and "
        f"lower on {wins[1]}. One test image is {100 / len(splits.test):.2f} points. One seed: the subnets "
        "share w-bar and the training draws, so the comparison is paired, but it is one training run per arm.",
        "",
        f"- w* training: {seconds['timm order']:.0f} s (timm order), {seconds['Taylor order']:.0f} s (Taylor "
        f"order, ranking included); whole benchmark {total:.0f} s.",
        f"- Machine: {cpu_model()}, 2-core VM, no GPU; torch {torch.__version__}. Date: {datetime.date.today()}.",
        "- Command: `flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/channel_order.py`",
    ]
    RESULT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
