"""Does capacity pay? Architectures of one space trained alone on Fashion-MNIST, top-1 on its 10k test set.

Issue 15: on the digits every member of the searched "family" is the same model, because on an easy data
set the heaviest network is no more accurate than the lightest. This trains a list of architectures of a
preset (by default the lightest, one of middle MACs and the heaviest) stand-alone with the project's own
w-bar loop (``supernet.training.fit``, the ``tiny`` recipe's heaviest stage with the given epochs, batch and
lr), one thread, fixed seeds, and appends one row per architecture to ``benchmarks/results/capacity.csv``;
``benchmarks/results/capacity.md`` is then rewritten from the whole CSV, one line per setting.

    cd /work/wt-capacity && python -m benchmarks.capacity --width 0.5 --input-size 16 --epochs 10 --train-images 10000
    python -m benchmarks.capacity --summarise-only      # rewrite capacity.md from capacity.csv
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CSV_PATH = RESULTS / "capacity.csv"
MD_PATH = RESULTS / "capacity.md"
TEST_IMAGES = 10_000
FIELDS = ("date", "preset", "width", "input_size", "role", "arch", "params", "macs", "epochs", "train_images",
          "batch_size", "lr", "augment", "ema_decay", "drop_rate", "seed", "seconds", "train_top1", "test_top1",
          "load_avg")
NOTES_MARKER = "<!-- notes: kept when the table is rewritten -->"
# The columns that make two rows the same setting (one line of the summary).
SETTING = ("preset", "width", "input_size", "epochs", "train_images", "batch_size", "lr", "augment", "ema_decay",
           "drop_rate", "seed")


# --- the space and its architectures ------------------------------------------------------------
def build_space(preset: str, width: float, input_size: int):
    """The preset at ``width``, its input size replaced (costs and MACs follow it; timm models are size-free)."""
    from supernet import get_space

    return dataclasses.replace(get_space(preset, width), input_size=input_size)


def architecture_cost(arch, num_classes: int) -> tuple[int, int]:
    """Exact (params, MACs per image) of ``arch`` from ``supernet.costs`` (the solver's own tables)."""
    from supernet.costs import mac_costs, param_costs

    def total(costs: tuple[np.ndarray, float]) -> int:
        blocks, constant = costs
        return int(round(constant + sum(blocks[s, b, c] for s, st in enumerate(arch.stages)
                                        for b, c in enumerate(st))))

    return total(param_costs(arch.space, num_classes)), total(mac_costs(arch.space, num_classes))


def middle_architecture(space, num_classes: int, seed: int, draws: int = 500):
    """Of ``draws`` uniform random architectures, the one whose MACs are nearest the light/heavy midpoint.

    Stratified by MACs rather than a uniform draw, so that "middle" is middle in cost whatever the seed.
    """
    from supernet import Architecture

    light = architecture_cost(Architecture.lightest(space), num_classes)[1]
    heavy = architecture_cost(Architecture.heaviest(space), num_classes)[1]
    target = (light + heavy) / 2
    rng = np.random.default_rng(seed)
    candidates = [Architecture.random(space, rng) for _ in range(draws)]
    return min(candidates, key=lambda a: abs(architecture_cost(a, num_classes)[1] - target))


def pick_architectures(space, roles: Sequence[str], num_classes: int, seed: int) -> list[tuple[str, object]]:
    """``(role, arch)`` for each of ``lightest``, ``middle``, ``heaviest`` or a printed architecture string."""
    from supernet import Architecture

    picked = []
    for role in roles:
        if role in ("lightest", "heaviest"):
            picked.append((role, getattr(Architecture, role)(space)))
        elif role == "middle":
            picked.append((role, middle_architecture(space, num_classes, seed)))
        else:
            picked.append(("given", Architecture.from_string(role, space)))
    return picked


# --- data ---------------------------------------------------------------------------------------
def training_subset(splits, num_images: int | None, augment: bool, seed: int):
    """``num_images`` of the train split (the same share of every class), with or without augmentation.

    Without augmentation the training images get the evaluation transform (resize, normalise only).
    """
    from supernet.data import TransformedSubset

    train = splits.training_set(augment)
    indices = train.indices
    if num_images is not None and num_images < len(indices):
        targets = np.asarray(train.base.targets)[indices]
        rng = np.random.default_rng(seed)
        classes = np.unique(targets)
        per_class = num_images // len(classes)
        indices = np.sort(np.concatenate([rng.permutation(indices[targets == c])[:per_class] for c in classes]))
    return TransformedSubset(train.base, indices, train.transform)


# --- training -----------------------------------------------------------------------------------
def train_and_test(arch, splits, train_set, recipe, seed: int) -> tuple[float, float, float, object]:
    """(seconds of training, last-epoch train top-1, test top-1, the trained model) of ``arch`` trained
    alone as w-bar is."""
    import torch

    from supernet.data import make_loader
    from supernet.timm_models import build_timm_model
    from supernet.training import evaluate, fit

    torch.manual_seed(seed)
    model = build_timm_model(arch, splits.num_classes, drop_rate=recipe.drop_rate,
                             drop_path_rate=recipe.drop_path_rate)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    def loss_fn(m, images, targets):
        logits = m(images)
        return criterion(logits, targets), logits

    loader = make_loader(train_set, recipe.batch_size, train=True, seed=seed)
    start = time.perf_counter()

    def progress(record: dict, _model) -> None:
        print(f"  epoch {record['epoch']}: train loss {record['train_loss']:.3f} top-1 {record['train_top1']:.2f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)

    history = fit(model, loss_fn, loader, recipe, on_epoch=progress, desc=str(arch.depths))
    seconds = time.perf_counter() - start
    top1 = evaluate(model, make_loader(splits.test, 500, train=False))
    return seconds, history[-1]["train_top1"], top1, model


def make_recipe(args: argparse.Namespace):
    """The ``tiny`` recipe's w-bar stage with this run's epochs, batch, lr, EMA and dropout."""
    from supernet.recipes import get_recipe

    changes = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
    if args.ema_decay is not None:
        changes["ema_decay"] = args.ema_decay
    if args.drop_rate is not None:
        changes["drop_rate"] = args.drop_rate
    return get_recipe("tiny").heaviest.replace(**changes)


def run(args: argparse.Namespace) -> list[dict]:
    """Train every requested architecture of the setting; each row is appended to the CSV as it ends."""
    from supernet.data import load_data
    from supernet.training import configure_cpu

    configure_cpu(1)  # one thread: the machine's 2 cores are shared
    space = build_space(args.preset, args.width, args.input_size)
    splits = load_data("fashion-mnist", args.input_size, seed=args.seed)
    train_set = training_subset(splits, args.train_images, args.augment, args.seed)
    recipe = make_recipe(args)
    rows = []
    for role, arch in pick_architectures(space, args.archs, splits.num_classes, args.seed):
        params, macs = architecture_cost(arch, splits.num_classes)
        seconds, train_top1, top1, _ = train_and_test(arch, splits, train_set, recipe, args.seed)
        row = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), preset=args.preset,
                   width=args.width, input_size=args.input_size, role=role, arch=str(arch), params=params,
                   macs=macs, epochs=args.epochs, train_images=len(train_set), batch_size=args.batch_size,
                   lr=args.lr, augment=int(args.augment), ema_decay=recipe.ema_decay, drop_rate=recipe.drop_rate,
                   seed=args.seed, seconds=round(seconds, 1), train_top1=round(train_top1, 2),
                   test_top1=round(top1, 2), load_avg=round(os.getloadavg()[0], 2))
        print(f"{role:9s} params {params:>8d} MACs {macs / 1e6:6.2f}M  {seconds:6.1f} s  "
              f"train {train_top1:5.2f}  test {top1:5.2f}", flush=True)
        if not args.no_write:
            append_row(CSV_PATH, row)
        rows.append(row)
    return rows


# --- results ------------------------------------------------------------------------------------
def append_row(path: Path, row: dict, fields: Sequence[str] = FIELDS) -> None:
    """Append ``row`` to the CSV at ``path`` (header first when the file is new)."""
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def standard_error(top1: float, n: int = TEST_IMAGES) -> float:
    """Binomial SE of a top-1 (in points) measured on ``n`` test images."""
    p = top1 / 100.0
    return 100.0 * math.sqrt(p * (1.0 - p) / n)


def summarise(rows: list[dict]) -> str:
    """One markdown line per setting: light, middle, heavy top-1, heavy - light in points and in SEs, times."""
    groups: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in SETTING), {})[row["role"]] = row
    lines = [
        "| preset | width | px | epochs | train imgs | batch | lr | aug | ema | drop | seed "
        "| light | middle | heavy | heavy - light | in SE | train light / heavy | light s | middle s | heavy s |",
        "|" + "---|" * 21,
    ]
    for key, by_role in groups.items():
        light, middle, heavy = (by_role.get(r) for r in ("lightest", "middle", "heaviest"))

        def top1(r: dict | None) -> str:
            return f"{float(r['test_top1']):.2f}" if r else "-"

        def secs(r: dict | None) -> str:
            return f"{float(r['seconds']):.0f}" if r else "-"

        if light and heavy:
            diff = float(heavy["test_top1"]) - float(light["test_top1"])
            se = standard_error((float(heavy["test_top1"]) + float(light["test_top1"])) / 2)
            gap, in_se = f"{diff:+.2f}", f"{diff / se:+.1f}"
        else:
            gap = in_se = "-"
        # Training top-1 (last epoch, dropout on) tells underfitting from overfitting.
        train = f"{light['train_top1']} / {heavy['train_top1']}" if light and heavy else "-"
        lines.append("| " + " | ".join([*key, top1(light), top1(middle), top1(heavy), gap, in_se, train,
                                        secs(light), secs(middle), secs(heavy)]) + " |")
    return "\n".join(lines)


def write_markdown(rows: list[dict], path: Path) -> None:
    header = """# Capacity on Fashion-MNIST: lightest vs heaviest trained alone

Written by `python -m benchmarks.capacity` from `capacity.csv` (one row per trained architecture). Each line
is one setting: the preset at a width multiplier and input size (px), trained alone on `train imgs` images of
the 48k train split (the same share of every class) for `epochs` epochs with the `tiny` recipe's w-bar stage
(SGD-Nesterov, cosine with 1 warm-up epoch, label smoothing 0.1, drop-path 0.05; batch, lr, EMA decay, dropout
as listed), one thread, on 2 CPU cores shared with other work (`load_avg` in the CSV: seconds are inflated when
it is high). Top-1 on the full 10k test set. `in SE` is (heavy - light) / SE with SE = sqrt(p(1-p)/10000) at
the two models' mean p (about 0.3 points); the difference of two models has a larger error than one SE, and
seed-to-seed training noise is not in it.

"""
    # Hand-written findings below the marker survive a rewrite of the table.
    notes = path.read_text().partition(NOTES_MARKER)[2] if path.exists() else ""
    path.write_text(header + summarise(rows) + "\n\n" + NOTES_MARKER + (notes or "\n"))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier of the preset")
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-images", type=int, default=10_000, help="0: the whole 48k train split")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random crop and flip of the source (default on)")
    p.add_argument("--ema-decay", type=float, help="default: the recipe's")
    p.add_argument("--drop-rate", type=float, help="dropout before the classifier; default: the recipe's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--archs", nargs="+", default=["lightest", "middle", "heaviest"],
                   help="lightest, middle, heaviest or printed architecture strings")
    p.add_argument("--no-write", action="store_true", help="print only; leave the CSV and markdown alone")
    p.add_argument("--summarise-only", action="store_true", help="rewrite capacity.md from capacity.csv")
    args = p.parse_args(argv)
    args.train_images = args.train_images or None
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    if not args.summarise_only:
        run(args)
    if not args.no_write:
        write_markdown(read_rows(CSV_PATH), MD_PATH)
        print(summarise(read_rows(CSV_PATH)))


if __name__ == "__main__":
    main()
