"""The Fashion-MNIST family (issue 15): ``configs/fashion.yaml`` beside the uniform grid a user would pick.

Runs the pipeline on ``configs/fashion.yaml`` (BCSFW) unless ``runs/fashion/pareto.csv`` exists, then the
same config with ``search.algorithm: uniform`` (the largest uniform architecture under each target, the
MobileNet-style width/depth scaling baseline) in ``runs/fashion-uniform``: the latency table and the
supernet come from the cache, so only the fine-tunes and measurements are paid again, and both families
get the same targets and the same fine-tuning recipe. Writes ``benchmarks/results/fashion/``: the searched
family's ``pareto.csv`` and its ``report.md``, ``uniform.csv``, ``pareto.png`` with both fronts and
``family.md`` with the goals checked.

    python -m benchmarks.fashion_family
"""
from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmarks.capacity import TEST_IMAGES, standard_error

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "fashion"
NOTES_MARKER = "<!-- notes: kept when the file is rewritten -->"


def run_family(name: str, algorithm: str, out: Path) -> pd.DataFrame:
    """``configs/fashion.yaml`` under another name and search algorithm (its options left at defaults)."""
    import ray
    import yaml

    from orchestrator.config import parse_config
    from orchestrator.pipeline import run_pipeline

    if (out / "pareto.csv").exists():
        return pd.read_csv(out / "pareto.csv")
    raw = yaml.safe_load((ROOT / "configs" / "fashion.yaml").read_text())
    if algorithm != raw["search"].get("algorithm"):
        raw["search"] = {"algorithm": algorithm, "gradient_workers": raw["search"]["gradient_workers"]}
    raw["name"] = name
    try:
        run_pipeline(parse_config(raw), out)
    finally:
        ray.shutdown()
    return pd.read_csv(out / "pareto.csv")


def goal_lines(family: pd.DataFrame) -> list[str]:
    """Per device: the rise from the lightest to the heaviest target in SEs, any step down beyond one SE,
    and the members that use less than 80% of their target."""
    lines = []
    for device, rows in family.sort_values("target_ms").groupby("device"):
        top1 = rows["top1"].to_numpy()
        se = standard_error(float(top1.mean()))
        rise = (top1[-1] - top1[0]) / se
        falls = [(a, b) for a, b in zip(rows.itertuples(), list(rows.itertuples())[1:]) if a.top1 - b.top1 > se]
        lines.append(f"- **{device}**: top-1 {top1[0]:.2f}% at the lightest target, {top1[-1]:.2f}% at the heaviest: "
                     f"{rise:+.1f} SE (goal > 2: **{'met' if rise > 2 else 'not met'}**); steps down by more "
                     f"than one SE ({se:.2f} points): "
                     + (", ".join(f"{a.target_ms:g} -> {b.target_ms:g} ms ({b.top1 - a.top1:+.2f})" for a, b in falls)
                        if falls else "none"))
        for row in rows.itertuples():
            if row.predicted_ms < 0.8 * row.target_ms:
                lines.append(f"  - the {row.target_ms:g} ms member predicts {row.predicted_ms:.2f} ms "
                             f"({100 * row.predicted_ms / row.target_ms:.0f}% of its target): see the proxy in "
                             "`report.md`")
    return lines


def dominance_lines(family: pd.DataFrame, grid: pd.DataFrame) -> list[str]:
    """Target by target: the searched member against the uniform one (same target, same recipe)."""
    lines = ["| device | target ms | searched: measured ms, top-1 | uniform: measured ms, top-1 | top-1 difference "
             "(SE) |", "|---|---|---|---|---|"]
    merged = family.merge(grid, on=["device", "target_ms"], suffixes=("", "_uniform"))
    for row in merged.sort_values(["device", "target_ms"]).itertuples():
        diff = row.top1 - row.top1_uniform
        lines.append(f"| {row.device} | {row.target_ms:g} | {row.measured_ms:.2f}, {row.top1:.2f} | "
                     f"{row.measured_ms_uniform:.2f}, {row.top1_uniform:.2f} | {diff:+.2f} "
                     f"({diff / standard_error(row.top1):+.1f}) |")
    return lines


def plot(family: pd.DataFrame, grid: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = sorted(family["device"].unique())
    fig, axes = plt.subplots(1, len(devices), figsize=(5.5 * len(devices), 4.2), squeeze=False)
    for ax, device in zip(axes[0], devices):
        for frame, label, style in ((family, "searched (BCSFW)", "o-"), (grid, "uniform grid", "s--")):
            rows = frame[frame["device"] == device].sort_values("target_ms")
            ax.errorbar(rows["measured_ms"], rows["top1"], yerr=[standard_error(t) for t in rows["top1"]],
                        fmt=style, capsize=3, label=label)
        for target in sorted(family.loc[family["device"] == device, "target_ms"]):
            ax.axvline(target, color="grey", lw=0.5, ls=":")
        ax.set_xlabel(f"measured latency on {device} [ms] (dotted: targets)")
        ax.set_ylabel(f"top-1 on {TEST_IMAGES // 1000}k test images [%] (bars: 1 SE)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    family = run_family("fashion", "bcsfw", ROOT / "runs" / "fashion")
    grid = run_family("fashion-uniform", "uniform", ROOT / "runs" / "fashion-uniform")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("pareto.csv", "report.md"):
        shutil.copy(ROOT / "runs" / "fashion" / name, OUT / name)
    grid.to_csv(OUT / "uniform.csv", index=False)
    plot(family, grid, OUT / "pareto.png")
    lines = ["# The Fashion-MNIST family beside the uniform grid", "",
             "`python -m benchmarks.fashion_family`: `hardcore-nas run --config fashion` (BCSFW) and the same "
             "config with `search.algorithm: uniform` (the largest uniform architecture under each target), same "
             f"cached table and supernet, same targets and fine-tuning. Top-1 on the {TEST_IMAGES:,}-image test "
             "set (SE about 0.35 points). The searched run's own report: [report.md](report.md).", "",
             "![both fronts](pareto.png)", "", "## Goals", "", *goal_lines(family), "",
             "## Searched against uniform, target by target", "", *dominance_lines(family, grid), ""]
    # Hand-written findings below the marker survive a rerun.
    notes = (OUT / "family.md").read_text().partition(NOTES_MARKER)[2] if (OUT / "family.md").exists() else ""
    (OUT / "family.md").write_text("\n".join(lines) + "\n" + NOTES_MARKER + (notes or "\n"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
