"""Search strategies side by side: BCSFW, evolution, random search and the soft penalty on the same w*,
the same validation data, the same constraint sets and the same budget of validation images through w*.

Every strategy runs through :func:`solvers.run_strategy` with a :class:`workers.gradients.SupernetEvaluator`
over one in-process shard (the whole validation split): the Ray pool computes the same numbers (its test
checks it) but costs actor processes this 2-core machine cannot spare. The answer of every run is then
scored the same way, on images no strategy saw: ``signal`` = minus w*'s mean cross-entropy on the first
``--signal-images`` images of the *test* split (higher is better), ``top1`` its top-1 there.

Evolution and random search run to twice the budget; their answer at the equal budget is their incumbent
after ``--budget`` images (a prefix of the same run: both are generation- or draw-wise sequential), and
the budget ratio is the first checkpoint (0.5x, 1x, 2x) at which their incumbent scores at least
BCSFW's final signal on the same constraint set and seed.

    python -m benchmarks.strategies --supernet /tmp/strat_supernet             # writes benchmarks/results
    python -m benchmarks.strategies --report-only                               # tables and plot from the CSV
"""
from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STRATEGIES = ("bcsfw", "evolution", "random", "soft-penalty")
DEVICES = ("cpu-bs1", "cpu-bs8")
FRACTIONS = (0.15, 0.3, 0.5, 0.7)          # targets: least + f * (largest - least) of each device's table
CHECKPOINTS = (0.5, 1.0, 2.0)              # budget multiples at which the incumbents are scored
EVAL_IMAGES = 32                           # images per architecture scored (evolution, random)
BATCH = 16                                 # images per gradient (BCSFW, soft penalty)
COLUMNS = ("strategy", "constraint_set", "device", "target_ms", "seed", "budget_images", "images_spent",
           "seconds", "signal", "top1", "predicted_ms", "other_bounds", "violated", "budget_ratio",
           "signal_at_0.5x", "signal_at_2x", "arch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", type=Path, default=Path("/tmp/strat_supernet"))
    parser.add_argument("--budget", type=int, default=1024, help="validation images through w* per search")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--signal-images", type=int, default=200)
    parser.add_argument("--sets", default=None, help="comma-separated constraint-set names to run (default all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--variant", default=None, metavar="NAME:KEY=VALUE,...",
                        help="run only this variant of a strategy (rows labelled NAME[KEY=VALUE,...]), "
                             "e.g. bcsfw:gamma=0.1")
    args = parser.parse_args()
    csv_path = args.out / "strategies.csv"
    if not args.report_only:
        run(args, csv_path)
    report(csv_path, args.out)


# --- the runs ------------------------------------------------------------------------------------------
def run(args: argparse.Namespace, csv_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    from solvers import parse_options, run_strategy
    from supernet.arch import Architecture
    from supernet.checkpoints import STAGE_FILES, load_supernet, read_sidecar
    from supernet.data import load_data
    from workers.gradients import ShardGradients, SupernetEvaluator, combine_scores
    from workers.latency_table import load_table
    from workers.resources import ResourceContext, build_resources

    tables = {d: load_table(RESULTS / f"lut_tiny_{d}.json") for d in DEVICES}
    space = tables[DEVICES[0]].search_space()
    path = args.supernet / STAGE_FILES["supernet"]
    meta = read_sidecar(path, space, "supernet")
    net, _ = load_supernet(path, space)
    splits = load_data(meta.get("data", "digits"), space.input_size, seed=meta.get("seed", 0))
    shard = ShardGradients(net, splits.val)
    held_out = ShardGradients(net, torch.utils.data.Subset(splits.test, list(range(args.signal_images))))
    resources = build_resources(ResourceContext(space, net.num_classes, tables))
    sets = constraint_sets(resources)
    if args.sets:
        sets = {k: v for k, v in sets.items() if k in args.sets.split(",")}
    cache: dict[str, tuple[float, float]] = {}

    def signal(alpha, beta) -> tuple[float, float]:
        key = str(Architecture.from_one_hot(space, alpha, beta))
        if key not in cache:
            # Every held-out image once, in order: the same images for every architecture.
            part = held_out.scores(alpha[None], beta[None], args.signal_images, seed=0)
            loss, top1 = combine_scores([part])
            cache[key] = (-float(loss[0]), float(top1[0]))
        return cache[key]

    runs = [(name, {}) for name in STRATEGIES]
    if args.variant:
        name, _, extra = args.variant.partition(":")
        runs = [(name, dict(kv.split("=", 1) for kv in extra.split(",") if kv))]
    done = _done(csv_path, [_label(n, o) for n, o in runs])
    for seed in range(args.seeds):             # every set at seed 0 first: a cut-short run stays balanced
        for name, (device, target, constraints) in sets.items():
            if (name, seed) in done:
                continue
            rows = []
            for strategy, extra in runs:
                options = parse_options(strategy, {**strategy_options(strategy, args.budget), **extra})
                evaluator = SupernetEvaluator(shard.compute, shard.score_compute, seed)
                tic = time.perf_counter()
                # Same evaluator seed (same images) for all; each strategy its own draws.
                rng = np.random.default_rng([seed, STRATEGIES.index(strategy)])
                result = run_strategy(strategy, constraints, evaluator, options, rng)
                seconds = time.perf_counter() - tic
                rows.append(_row(strategy, name, device, target, seed, args.budget, result, seconds, signal,
                                 resources, space, constraints))
                rows[-1]["strategy"] = label = _label(strategy, extra)
                print(f"{name} seed {seed} {label:<13} signal {rows[-1]['signal']:.4f} top1 "
                      f"{rows[-1]['top1']:.1f} predicted {rows[-1]['predicted_ms']:.3f} / {target:.3f} ms "
                      f"violated {rows[-1]['violated']} images {rows[-1]['images_spent']} {seconds:.0f} s",
                      flush=True)
            if not args.variant:
                _budget_ratios(rows)
            _append(csv_path, rows)


def _label(name: str, extra: dict) -> str:
    return f"{name}[{','.join(f'{k}={v}' for k, v in extra.items())}]" if extra else name


def constraint_sets(resources) -> dict:
    """4 latency targets per device, and one set with latency on both devices plus a parameter bound."""
    sets = {}
    for device in DEVICES:
        model = resources[f"latency:{device}"].model
        for f in FRACTIONS:
            target = float(f"{model.least() + f * (model.largest() - model.least()):.4g}")
            sets[f"{device}@{f:g}"] = (device, target, [resources[f"latency:{device}"].constraint(target)])
    both = []
    for device in DEVICES:
        model = resources[f"latency:{device}"].model
        both.append(resources[f"latency:{device}"].constraint(
            float(f"{model.least() + 0.35 * (model.largest() - model.least()):.4g}")))
    params = resources["params"].model
    bound = float(round(params.least() + 0.3 * (params.largest() - params.least())))
    both.append(resources["params"].constraint(bound))
    sets["both+params"] = (DEVICES[0], both[0].bound, both)
    return sets


def strategy_options(strategy: str, budget: int) -> dict:
    """Equal budgets: gradient strategies spend ``budget`` images; evolution and random twice that (their
    answer at ``budget`` is read off the same run's trace)."""
    if strategy in ("bcsfw", "soft-penalty"):
        return {"steps": budget // BATCH, "batch_size": BATCH}
    evaluations = 2 * budget // EVAL_IMAGES
    if strategy == "random":
        return {"samples": evaluations, "eval_images": EVAL_IMAGES}
    population = 16
    return {"population_size": population, "generations": evaluations // population - 1, "eval_images": EVAL_IMAGES}


def _incumbent_at(result, images: float):
    """The last incumbent of the trace recorded within ``images`` images (None if none yet)."""
    within = [inc for inc in result.trace if inc.images <= images]
    return within[-1] if within else None


def _row(strategy, name, device, target, seed, budget, result, seconds, signal, resources, space,
         constraints) -> dict:
    from supernet.arch import Architecture

    gradient_based = strategy in ("bcsfw", "soft-penalty")
    final = result.trace[-1] if gradient_based else _incumbent_at(result, budget)
    arch = Architecture.from_one_hot(space, final.alpha, final.beta)
    value, top1 = signal(final.alpha, final.beta)
    latency = resources[f"latency:{device}"].value(arch)
    bounds = {c.name: c.bound for c in constraints}
    values = {name: float(resources[name].value(arch)) for name in bounds}
    curve = {}
    for mult in CHECKPOINTS:
        inc = _incumbent_at(result, mult * budget)
        if gradient_based and mult > 1:          # they stop at the budget
            curve[mult] = float("nan")
            continue
        curve[mult] = signal(inc.alpha, inc.beta)[0] if inc is not None else float("nan")
    spent = min(result.images, budget) if not gradient_based else result.images
    return {
        "strategy": strategy, "constraint_set": name, "device": device, "target_ms": target, "seed": seed,
        "budget_images": budget, "images_spent": spent,
        # Evolution and random ran to 2x: their wall time at 1x is the run's, scaled by images.
        "seconds": round(seconds * (spent / result.images if result.images else 1.0), 2),
        "signal": value, "top1": top1, "predicted_ms": latency,
        "other_bounds": ";".join(f"{c}={values[c]:.6g}/{bounds[c]:.6g}" for c in values
                                 if c != f"latency:{device}"),
        "violated": any(values[c] > bounds[c] for c in values), "budget_ratio": "",
        "signal_at_0.5x": curve[0.5], "signal_at_2x": curve[2.0], "arch": str(arch),
        "_curve": curve,
    }


def _budget_ratios(rows: list[dict]) -> None:
    """The first checkpoint at which each strategy's incumbent reaches BCSFW's final signal."""
    target = next(r["signal"] for r in rows if r["strategy"] == "bcsfw")
    for r in rows:
        reached = [m for m in CHECKPOINTS if r["_curve"][m] >= target - 1e-12]
        r["budget_ratio"] = f"{reached[0]:g}" if reached else ">2"
        if r["strategy"] == "bcsfw":
            r["budget_ratio"] = "1"


def _done(csv_path: Path, labels: list[str]) -> set:
    if not csv_path.exists():
        return set()
    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    by_key: dict = {}
    for r in rows:
        by_key.setdefault((r["constraint_set"], int(r["seed"])), set()).add(r["strategy"])
    return {k for k, v in by_key.items() if v >= set(labels)}


def _append(csv_path: Path, rows: list[dict]) -> None:
    new = not csv_path.exists()
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


# --- the report ----------------------------------------------------------------------------------------
def report(csv_path: Path, out: Path) -> None:
    import pandas as pd

    df = pd.read_csv(csv_path)
    df["violated"] = df["violated"].astype(str).str.lower() == "true"
    by = df.groupby("strategy")
    summary = [[name, len(g), f"{g['signal'].mean():.4f}", f"{g['top1'].mean():.1f}", int(g["violated"].sum()),
                f"{g['seconds'].mean():.1f}", _ratio_counts(g["budget_ratio"])] for name, g in by]
    pivot = df.pivot_table(index=["constraint_set", "seed"], columns="strategy", values="signal")
    wins = int((pivot["bcsfw"] >= pivot["evolution"]).sum())
    mean_wins = {c: int((pivot["bcsfw"] >= pivot[c]).sum()) for c in pivot.columns if c != "bcsfw"}
    per_set = [[f"{k[0]} (seed {k[1]})", *(f"{row[c]:.4f}" for c in pivot.columns)] for k, row in pivot.iterrows()]
    lines = [
        "# Search strategies side by side (generated by `benchmarks/strategies.py`)",
        "",
        f"Generated {datetime.date.today()} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared), 1 torch thread. Rows: [`strategies.csv`](strategies.csv).",
        "",
        "## Summary at equal budget",
        "",
        *_table(["strategy", "runs", "mean signal", "mean top-1 [%]", "violations", "mean wall [s]",
                 "reached BCSFW's signal by 0.5x / 1x / 2x / never"], summary),
        "",
        f"BCSFW >= evolution on {wins} of {len(pivot)} (constraint set, seed) pairs "
        f"(>= each: {', '.join(f'{c} {n}' for c, n in mean_wins.items())}).",
        "",
        "## Signal per constraint set (minus held-out cross-entropy of w*, higher is better)",
        "",
        *_table(["constraint set", *pivot.columns], per_set),
        "",
    ]
    (out / "strategies_tables.md").write_text("\n".join(lines) + "\n")
    _plot(df, out / "strategies.png")
    print("\n".join(lines))


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(v) for v in row) + " |" for row in rows)]


def _ratio_counts(values) -> str:
    values = [str(v) for v in values]
    return " / ".join(str(sum(v == k for v in values)) for k in ("0.5", "1", "2", ">2"))


def _plot(df, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, group in df.groupby("strategy"):
        xs, ys = [0.5, 1.0], [group["signal_at_0.5x"].mean(), group["signal"].mean()]
        if strategy in ("evolution", "random"):
            xs.append(2.0)
            ys.append(group["signal_at_2x"].mean())
        ax.plot(xs, ys, marker="o", label=strategy)
    ax.set_xlabel("budget (multiples of the equal budget, validation images through w*)")
    ax.set_ylabel("mean signal (minus held-out CE)")
    ax.set_xscale("log", base=2)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
