"""The run's outputs: ``pareto.csv``, ``pareto.png`` (top-1 vs measured latency per device) and ``report.md``.

Everything here takes plain data (a pandas table of family members, stage costs) and writes files; the
pipeline decides what goes in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["pareto_columns", "StageCost", "pareto_front", "accuracy_drops", "write_pareto_csv",
           "plot_pareto", "closed_loop_lines", "budget_use_lines", "render_report"]


def pareto_columns(resources: list[str]) -> list[str]:
    """``pareto.csv``'s columns: the member, its latency and accuracy, one column per resource, the model."""
    return ["device", "target_ms", "predicted_ms", "expected_ms", "measured_ms", "measured_spread_ms", "top1",
            *resources, "arch", "model_uri", "over_target", "round", "registered_version"]


@dataclass(frozen=True)
class StageCost:
    """Wall time and CPU time of one stage; ``per_model`` stages are the marginal cost of the family."""
    name: str
    wall_s: float
    cpu_s: float
    reused: bool = False
    per_model: bool = False
    note: str = ""


def pareto_front(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Mask of the points no other point beats (lower or equal latency and strictly higher accuracy,
    or strictly lower latency and equal or higher accuracy)."""
    latency, accuracy = np.asarray(latency, float), np.asarray(accuracy, float)
    keep = np.ones(len(latency), dtype=bool)
    for i in range(len(latency)):
        better = ((latency <= latency[i]) & (accuracy > accuracy[i])) | \
                 ((latency < latency[i]) & (accuracy >= accuracy[i]))
        keep[i] = not better.any()
    return keep


def accuracy_drops(table: pd.DataFrame, test_size: int) -> list[str]:
    """One line per place where top-1 falls as a device's target grows, with the likely reason: the
    same architecture (no difference to explain), a difference within two binomial standard errors of
    the test set, or a real inversion of the one-shot supernet's ranking."""
    lines = []
    for device, rows in table.sort_values("target_ms").groupby("device", sort=False):
        rows = rows.reset_index(drop=True)
        for i in range(1, len(rows)):
            lo, hi = rows.iloc[i - 1], rows.iloc[i]
            if hi.top1 >= lo.top1:
                continue
            p = lo.top1 / 100.0
            noise = 200.0 * math.sqrt(max(p * (1 - p), 1.0 / test_size) / test_size)
            drop = lo.top1 - hi.top1
            where = (f"{device}: top-1 {lo.top1:.2f}% at {lo.target_ms:g} ms, {hi.top1:.2f}% at "
                     f"{hi.target_ms:g} ms (-{drop:.2f} points)")
            if drop <= noise:
                why = (f"within two standard errors of the {test_size}-image test set "
                       f"({noise:.2f} points): not a measurable difference")
            else:
                why = ("beyond test-set noise: the search ranks subnets by the one-shot supernet's loss, "
                       "whose ranking of the two architectures disagrees with their fine-tuned accuracy "
                       "(short search and fine-tune make this likelier)")
            lines.append(f"{where}: {why}.")
    return lines


def write_pareto_csv(table: pd.DataFrame, resources: list[str], path: Path) -> Path:
    table[pareto_columns(resources)].sort_values(["device", "target_ms"]).to_csv(path, index=False)
    return path


def plot_pareto(table: pd.DataFrame, path: Path) -> Path:
    """Top-1 vs measured latency, one panel per device: members, targets (dotted), Pareto front."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = list(dict.fromkeys(table["device"]))
    fig, axes = plt.subplots(1, len(devices), figsize=(5.5 * len(devices), 4.5), squeeze=False)
    for ax, device in zip(axes[0], devices):
        rows = table[table["device"] == device].sort_values("measured_ms")
        for target in rows["target_ms"]:
            ax.axvline(target, color="grey", linestyle=":", linewidth=1)
        over = rows["over_target"].astype(bool)
        ax.scatter(rows["measured_ms"][~over], rows["top1"][~over], color="tab:blue", zorder=3,
                   label="member (measured)")
        if over.any():
            ax.scatter(rows["measured_ms"][over], rows["top1"][over], color="tab:red", marker="x",
                       zorder=3, label="over its target beyond noise")
        ax.scatter(rows["predicted_ms"], rows["top1"], facecolors="none", edgecolors="tab:blue",
                   alpha=0.5, label="same member, predicted")
        front = rows[pareto_front(rows["measured_ms"].to_numpy(), rows["top1"].to_numpy())]
        ax.step(front["measured_ms"], front["top1"], where="post", color="tab:green", label="Pareto front")
        for _, r in rows.iterrows():
            ax.annotate(f"{r.target_ms:g}", (r.measured_ms, r.top1), textcoords="offset points",
                        xytext=(4, -10), fontsize=7, color="grey")
        ax.set_title(f"{device} (dotted: targets, ms)")
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("test top-1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3f}"


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def closed_loop_lines(rounds: pd.DataFrame) -> list[str]:
    """One line per (device, target) searched again or left over its target: each round's bound,
    prediction, measurement and top-1, which member the family kept, and why the loop stopped short
    (column ``loop_end``, empty where it did not)."""
    rounds = rounds if "loop_end" in rounds else rounds.assign(loop_end="")
    lines = []
    for (device, target), group in rounds.sort_values("round").groupby(["device", "target_ms"], sort=True):
        end = group["loop_end"].iloc[-1]       # the latest round's: the one the loop stopped at
        if len(group) < 2 and not end:
            continue
        steps = "; ".join(
            f"round {r.round}: bound {r.bound_ms:.3f} ms, predicted {r.predicted_ms:.3f}, measured "
            f"{r.measured_ms:.3f} ms ({'over' if r.over_target else 'within'}), top-1 {r.top1:.2f}%"
            + (" **kept**" if r.kept else "") for r in group.itertuples())
        lines.append(f"- {device} at {target:g} ms: {steps}" + (f"; stays over its target: {end}" if end else ""))
    return lines


UNDER_USED = 0.8        # a member predicted below this share of its target: the report says what the search saw


def is_under_used(predicted_ms: float, target_ms: float, share: float = UNDER_USED) -> bool:
    """Whether a member predicted at ``predicted_ms`` leaves more than ``1 - share`` of its target unused."""
    return predicted_ms < share * target_ms


def budget_use_lines(table: pd.DataFrame, share: float, images: int) -> list[str]:
    """One line per member predicted below ``share`` of its target, explained by what its search saw: where
    the search's last iterate stood, and w*'s validation loss (the search's signal, on the same ``images``
    images) of the member beside the largest uniform architecture within its bound (columns ``last_ms``,
    ``signal_loss``, ``filled_arch``, ``filled_ms``, ``filled_loss``; missing: not scored)."""
    columns = ["last_ms", "signal_loss", "filled_arch", "filled_ms", "filled_loss"]
    table = table.reindex(columns=list(dict.fromkeys([*table.columns, *columns])))
    lines = []
    for r in table.sort_values(["device", "target_ms"]).itertuples():
        if not is_under_used(r.predicted_ms, r.target_ms, share):
            continue
        line = (f"- {r.device} at {r.target_ms:g} ms: predicted {r.predicted_ms:.3f} ms, "
                f"{r.predicted_ms / r.target_ms:.0%} of its target. ")
        if math.isnan(r.signal_loss):
            lines.append(line + "Not scored (its search finished in an interrupted run).")
            continue
        if r.last_ms >= share * r.target_ms:
            lines.append(line + f"The search's last iterate expected {r.last_ms:.3f} ms "
                         f"({r.last_ms / r.target_ms:.0%}): the search spent the budget, and rounding its "
                         "relaxed point to one architecture lost the rest.")
            continue
        line += (f"The search's last iterate expected {r.last_ms:.3f} ms ({r.last_ms / r.target_ms:.0%}): its "
                 "signal did not pull it to heavier paths. ")
        if math.isnan(r.filled_loss):
            lines.append(line + "No uniform architecture fits the bound to compare with.")
            continue
        compared = (f"On {images} validation images w*'s loss, the search's signal, is {r.signal_loss:.3f} for "
                    f"this member and {r.filled_loss:.3f} for the largest uniform architecture within the bound "
                    f"(`{r.filled_arch}`, {r.filled_ms:.3f} ms)")
        if r.filled_loss >= r.signal_loss:
            lines.append(line + compared + ": the signal sees no gain in the unused budget.")
        else:
            lines.append(line + compared + ": the signal prefers the heavier architecture, but the search's "
                         "steps ended before reaching it (more steps or a larger step size may).")
    return lines


def render_report(title: str, summary: list[str], table: pd.DataFrame, resources: list[str],
                  costs: list[StageCost], reused: list[str], noise: float, test_size: int,
                  supernet_top1: dict[str, float], rounds: pd.DataFrame | None = None,
                  under_used: float = UNDER_USED, budget_images: int = 0) -> str:
    """``report.md``: the family, the cost of each stage ("400 + 15N"), reuse, over-target members, the
    closed loop's rounds (``rounds``: every member of every round), members predicted below ``under_used``
    of their target (:func:`budget_use_lines`, scored on ``budget_images`` images), and where accuracy does
    not increase with the target (with w*'s own held-out top-1 of its heaviest and lightest paths,
    ``supernet_top1``, which is how the search ranks architectures)."""
    family = table.sort_values(["device", "target_ms"]).assign(
        predicted_ms=lambda f: f.predicted_ms.round(3), measured_ms=lambda f: f.measured_ms.round(3),
        top1=lambda f: f.top1.round(2))
    shown = family[["device", "target_ms", "predicted_ms", "measured_ms", "top1", *resources, "over_target",
                    "model_uri"]]
    n = len(table)
    once = [c for c in costs if not c.per_model]
    per_model = [c for c in costs if c.per_model]
    once_cpu, per_cpu = sum(c.cpu_s for c in once), sum(c.cpu_s for c in per_model)
    once_wall, per_wall = sum(c.wall_s for c in once), sum(c.wall_s for c in per_model)
    cost_rows = pd.DataFrame([{
        "stage": c.name, "wall (s)": f"{c.wall_s:.1f}", "CPU hours": _hours(c.cpu_s),
        "paid": "per model" if c.per_model else "once", "reused": "yes" if c.reused else "no",
        "note": c.note} for c in costs])
    lines = [f"# {title}", "", *summary, "", "## The family", "", _markdown_table(shown), "",
             "Architectures (timm strings) are in `pareto.csv` and in each registered version's `arch` tag.",
             "", "## Cost of each stage", "", _markdown_table(cost_rows), "",
             f"The paper's \"400 + 15N\" accounting for this run: **{_hours(once_cpu)} + "
             f"{_hours(per_cpu / max(n, 1))} N CPU hours** (once: latency tables and supernet, "
             f"{once_wall:.0f} s wall; per model: search, fine-tune, measurement and registration, "
             f"{per_wall / max(n, 1):.0f} s wall per model over N = {n} models). CPU hours are the CPU "
             "time the stage's processes used (all threads); stages reused from the cache cost nothing.",
             "", "## Reused", ""]
    lines += [f"- {r}" for r in reused] or ["- nothing: every stage was computed in this run"]
    over = family[family["over_target"].astype(bool)]
    lines += ["", "## Measured latency against the targets", "",
              f"A member is over its target when its measured latency exceeds the target by more than "
              f"{noise:.0%}. Each member is measured in separate passes and its latency is their median; one "
              f"whose passes differ by more than {noise:.0%} of it was measured again and all passes pooled."]
    ratios = (table.measured_ms / table.predicted_ms).groupby(table.device).median()
    drift = table.groupby("device").drift.median()
    rescaled = (table.expected_ms != table.predicted_ms).groupby(table.device).any()
    lines += ["Measured / predicted latency, median over the members: " + ", ".join(
        f"{device} {ratio:.3f}" for device, ratio in ratios.items())
        + " (the tables' own check is `hardcore-nas validate-lut`)."]
    moves = []
    for device in ratios.index:
        rows = table[table.device == device]
        how = (f"beyond noise: predictions rescaled, measured / rescaled "
               f"{(rows.measured_ms / rows.expected_ms).median():.3f}" if rescaled[device] else "within noise")
        moves.append(f"{device} {drift[device] - 1:+.1%} ({how})")
    lines += ["The reference network, timed with each table and again beside the members, moved by "
              + ", ".join(moves) + "."]
    if over.empty:
        lines.append("No member exceeds its target beyond noise.")
    else:
        lines += [f"- {r.device} at {r.target_ms:g} ms: measured {r.measured_ms:.3f} ms, predicted "
                  f"{r.predicted_ms:.3f} ms" for r in over.itertuples()]
    loop = closed_loop_lines(rounds) if rounds is not None else []
    lines += ["", "## Closed loop", ""]
    lines += (["Members measured over their targets are searched again (`latency.retries` rounds at most) with "
               "the bound scaled by predicted / measured; the family keeps each target's most accurate member "
               "within it:", "", *loop]
              if loop else ["No member was searched again."])
    budget = budget_use_lines(table, under_used, budget_images)
    lines += ["", "## Budget use", ""]
    lines += ([f"Members predicted below {under_used:.0%} of their target, and what their search saw:", "",
               *budget] if budget else [f"Every member is predicted at {under_used:.0%} of its target or more."])
    drops = accuracy_drops(table, test_size)
    lines += ["", "## Accuracy along the targets", ""]
    lines += [f"- {d}" for d in drops] or ["Top-1 does not decrease as the target grows, on every device."]
    heaviest, lightest = supernet_top1.get("w_star_heaviest"), supernet_top1.get("w_star_lightest")
    if heaviest is not None and lightest is not None:
        lines += ["", f"The search ranks architectures by the one-shot supernet w*'s loss. On the held-out "
                      f"test images (before any fine-tune) w*'s heaviest path scores {heaviest:.1f}% and its "
                      f"lightest {lightest:.1f}%"
                      + (": w* does not reward heavier paths, so a larger target need not buy a heavier, "
                         "more accurate architecture (a longer supernet training narrows this)."
                         if heaviest <= lightest else ".")]
    return "\n".join(lines) + "\n"
