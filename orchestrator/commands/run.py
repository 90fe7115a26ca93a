"""``hardcore-nas run``: the whole pipeline, from a config (or the embedded default) to a registered family."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="YAML config (default: the embedded default, see configs/default.yaml)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/<name>)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address, e.g. auto (default: the config's ray.address, else a "
                             "local Ray)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run in --out (same config)")
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective config as YAML and exit")


def run(args: argparse.Namespace) -> int:
    import os

    # Quiet defaults: no usage reports, and no Tune warning about checkpointing every epoch (on purpose).
    for key, value in (("RAY_USAGE_STATS_ENABLED", "0"), ("MLFLOW_DISABLE_TELEMETRY", "true"),
                       ("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")):
        os.environ.setdefault(key, value)
    from orchestrator.config import load_config

    config = load_config(args.config, ray_address=args.address)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    import ray

    from orchestrator.pipeline import run_pipeline

    out = args.out or Path("runs") / config.name
    try:
        report = run_pipeline(config, out, resume=args.resume)
    finally:
        ray.shutdown()
    import pandas as pd

    family = pd.read_csv(report.parent / "pareto.csv")
    print(f"{'device':<12}{'target ms':>10}{'predicted':>11}{'measured':>10}{'top-1 %':>9}  model")
    for row in family.itertuples():
        flag = "  (over target)" if row.over_target else ""
        print(f"{row.device:<12}{row.target_ms:>10g}{row.predicted_ms:>11.3f}{row.measured_ms:>10.3f}"
              f"{row.top1:>9.2f}  {row.model_uri}{flag}")
    over = family[family["over_target"].astype(bool)]
    if len(over):
        print(f"{len(over)} member(s) still measure over their target (report.md's closed-loop section says why), "
              f"registered with over_target=true: "
              + ", ".join(f"{r.device} {r.target_ms:g} ms ({r.measured_ms:.3f} ms)" for r in over.itertuples()))
    print(f"wrote {report.parent / 'pareto.csv'}, {report.parent / 'pareto.png'} and {report}")
    print(f"browse: mlflow ui --backend-store-uri {config.tracking_uri}")
    return 0
