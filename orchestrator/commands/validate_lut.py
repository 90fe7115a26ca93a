"""``hardcore-nas validate-lut``: predicted vs measured latency of subnets across a table's range."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from hardcore_nas.logs import worker_runtime_env

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lut", required=True, help="latency table JSON (from 'hardcore-nas lut')")
    parser.add_argument("--samples", type=int, default=30,
                        help="architectures, spread evenly over the predicted latency range (default 30)")
    parser.add_argument("--out", default="runs/validate-lut",
                        help="folder for validation.csv, validation.png, validation.json")
    parser.add_argument("--passes", type=int, default=3,
                        help="separate measurements of every architecture, each in fresh processes; "
                             "measured = their median (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled architectures")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address: measure on a node labelled device:<name> "
                             "(default: measure on this machine without Ray)")


def plot_validation(validation, path: Path, title: str) -> None:
    """Measured vs predicted latency with the y = x line and the +-10% band (the paper's Figure 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame, m = validation.frame, validation.metrics
    passes = frame.filter(like="pass_").to_numpy()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.errorbar(frame.predicted_ms, frame.measured_ms,
                yerr=[frame.measured_ms - passes.min(1), passes.max(1) - frame.measured_ms],
                fmt="o", ms=4, capsize=2, label="architectures (bars: range over passes)")
    lo, hi = 0.95 * frame[["predicted_ms", "measured_ms"]].min().min(), \
        1.05 * frame[["predicted_ms", "measured_ms"]].max().max()
    ax.plot([lo, hi], [lo, hi], "k-", lw=1, label="y = x")
    ax.fill_between([lo, hi], [0.9 * lo, 0.9 * hi], [1.1 * lo, 1.1 * hi], color="0.85", zorder=0,
                    label="+-10%")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="predicted latency (ms)",
           ylabel="measured latency (ms)", title=title)
    ax.text(0.04, 0.96, f"ratio {m['ratio']:.3f}\nR$^2$ {m['r2']:.3f}\nMAPE {m['mape_pct']:.1f}%\n"
            f"within 10%: {m['within_10_pct']:.0f}%", transform=ax.transAxes, va="top")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def summary(validation) -> str:
    """The figures, one line each for the prediction and for the measurement's repeatability."""
    def line(name, m):
        return (f"{name}: ratio {m['ratio']:.3f}, R^2 {m['r2']:.4f}, MAPE {m['mape_pct']:.2f}%, "
                f"within +-10% {m['within_10_pct']:.0f}%, max error {m['max_ape_pct']:.1f}%")
    lines = [line(f"predicted vs measured ({validation.metrics['n']} timm models)", validation.metrics)]
    if validation.repeat:
        lines.append(line("pass 2 vs pass 1 (repeatability)", validation.repeat))
    return "\n".join(lines)


def write_validation(validation, out: Path, title: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    validation.frame.to_csv(out / "validation.csv", index=False)
    plot_validation(validation, out / "validation.png", title)
    (out / "validation.json").write_text(json.dumps(
        {"metrics": validation.metrics, "repeat": validation.repeat, "info": validation.info},
        indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from workers.latency import Protocol, fingerprint
    from workers.latency_table import LatencyTable
    from workers.latency_validation import validate_table

    table = LatencyTable.load(args.lut)
    table.search_space()          # refuses a table whose space this release does not know
    kwargs = dict(passes=args.passes, seed=args.seed)
    if args.address:
        import ray

        from workers.latency_tasks import validate_table_task

        ray.init(address=args.address, ignore_reinit_error=True, runtime_env=worker_runtime_env())
        logger.info("measuring on a Ray node labelled %s ...", table.profile.resource_label)
        validation = ray.get(validate_table_task(table, args.samples, **kwargs))
    else:
        here = fingerprint(table.profile)
        for key in ("cpu", "gpu", "threads", "torch"):
            if here[key] != table.device.get(key):
                logger.warning("table was measured with %s %r, this machine has %r", key, table.device.get(key),
                               here[key])
        visits = args.samples * args.passes * Protocol.from_dict(table.protocol).visits
        with tqdm(total=visits, unit="visit", desc=f"validate {table.device_name}") as bar:
            validation = validate_table(table, args.samples, progress=bar.update, **kwargs)
    out = Path(args.out)
    write_validation(validation, out, f"{table.space['name']} on {table.device_name} "
                                      f"({table.device['cpu']})")
    print(summary(validation))
    print(f"wrote {out / 'validation.csv'}, {out / 'validation.png'}, {out / 'validation.json'}")
    return 0
