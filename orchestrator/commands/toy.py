"""``hardcore-nas toy``: the paper's toy problem (eq. 15, Figure 5), hard constraint vs soft penalty.

Writes ``toy.csv`` (per iteration: method, lambda, objective, violation) and ``toy.png`` (objective
and constraint violation over iterations) into ``--out`` and prints each method's final objective gap
and violation.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from hardcore_nas.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/toy"), help="output folder")
    parser.add_argument("--steps", type=int, default=1000, help="iterations of every method")
    parser.add_argument("--seed", type=int, default=0, help="seed of the start and the noise")
    parser.add_argument("--penalties", type=float, nargs="+", default=[0.1, 1.0, 10.0, 100.0],
                        metavar="LAMBDA", help="soft-penalty weights of the SGD baselines")
    parser.add_argument("--dim", type=int, default=10, help="dimension d of x")


def run(args: argparse.Namespace) -> int:
    from solvers.toy import run_toy, toy_optimum

    if args.steps < 1 or args.dim < 4 or any(p < 0 for p in args.penalties):
        raise UsageError(f"need --steps >= 1, --dim >= 4 and non-negative --penalties; got "
                         f"{args.steps}, {args.dim}, {args.penalties}")
    traces = run_toy(args.steps, args.seed, tuple(args.penalties), args.dim)
    optimum = toy_optimum(args.dim)
    args.out.mkdir(parents=True, exist_ok=True)
    _write_csv(args.out / "toy.csv", traces)
    _plot(args.out / "toy.png", traces, optimum)
    print(f"optimum of the expected objective: {optimum:.6g} (d = {args.dim}, {args.steps} steps)")
    print(f"{'method':<22}{'objective':>12}{'gap':>12}{'violation':>12}{'max violation':>15}")
    for t in traces:
        gap = (t.objective[-1] - optimum) / optimum
        print(f"{t.label:<22}{t.objective[-1]:>12.6g}{gap:>+12.3%}{t.violation[-1]:>12.3g}"
              f"{t.violation[1:].max():>15.3g}")
    print(f"wrote {args.out / 'toy.csv'} and {args.out / 'toy.png'}")
    return 0


def _write_csv(path: Path, traces) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "lambda", "iteration", "objective", "violation"])
        for t in traces:
            penalty = "" if t.penalty is None else t.penalty
            for i, (objective, violation) in enumerate(zip(t.objective, t.violation)):
                writer.writerow([t.method, penalty, i, repr(float(objective)), repr(float(violation))])


def _plot(path: Path, traces, optimum: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
    for t in traces:
        top.plot(t.objective, label=t.label)
        bottom.plot(t.violation, label=t.label)
    top.axhline(optimum, color="black", linestyle="--", linewidth=1, label="optimum")
    top.set_ylabel("expected objective")
    top.set_ylim(0.0, 3 * optimum)
    top.legend(fontsize=8)
    bottom.set_yscale("symlog", linthresh=1e-6)        # BCSFW's violation is 0 up to round-off
    bottom.set_ylim(bottom=0.0)
    bottom.set_ylabel("violation |sum x - 1|")
    bottom.set_xlabel("iteration")
    top.set_title("Toy problem (eq. 15): hard constraint (BCSFW) vs soft penalty (SGD)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
