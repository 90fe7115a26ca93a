"""``hardcore-nas lut``: measure the latency table of a search space on a device."""
from __future__ import annotations

import argparse
import logging

from hardcore_nas.logs import worker_runtime_env

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", required=True,
                        help="device profile: cpu-bs1 (torch, 1 thread, batch 1), cpu-bs8 (torch, all "
                             "cores, batch 8), cuda-bs64 (torch CUDA, batch 64) or ort-bs1 (ONNX Runtime "
                             "CPU, 1 thread, batch 1)")
    parser.add_argument("--process", default=None,
                        help="process condition the latencies hold for: plain (the profiles' default: each "
                             "network alone in a plain process) or tuned (huge pages and pinned glibc "
                             "thresholds; a deployment must set them too)")
    parser.add_argument("--space", default="imagenet", help="search-space preset (default imagenet)")
    parser.add_argument("--width-multiplier", type=float, default=1.0,
                        help="channel width multiplier of the preset (default 1.0)")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classifier width (default 1000 for imagenet, else 10)")
    parser.add_argument("--out", default=None,
                        help="table file to write (default runs/lut/<space>_<device>.json)")
    parser.add_argument("--contexts", type=int, default=None,
                        help="probe networks each entry is timed in (default 8)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per probe network (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the probe networks")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address: measure on a node labelled device:<name> "
                             "(default: measure on this machine without Ray)")


def protocol_from_args(args: argparse.Namespace):
    """The measurement protocol with the command line's overrides."""
    from dataclasses import replace

    from workers.latency import Protocol

    overrides = {k: getattr(args, k) for k in ("contexts", "repeats")
                 if getattr(args, k, None) is not None}
    return replace(Protocol(), **overrides)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from supernet.space import get_space
    from workers.devices import get_profile
    from workers.latency import measure_table, table_visits

    profile = get_profile(args.device)
    if args.process:
        profile = get_profile({**profile.to_dict(), "process": args.process})
    space = get_space(args.space, args.width_multiplier)
    protocol = protocol_from_args(args)
    out = Path(args.out or f"runs/lut/{space.name}_{profile.name}.json")
    kwargs = dict(protocol=protocol, num_classes=args.num_classes, seed=args.seed)
    if args.address:
        import ray

        from workers.latency_tasks import measure_table_task

        ray.init(address=args.address, ignore_reinit_error=True, runtime_env=worker_runtime_env())
        if ray.cluster_resources().get(profile.resource_label, 0) == 0:
            # An autoscaling cluster launches such a node on demand; anywhere else this would wait forever.
            logger.info("no node labelled %s yet: waiting for the autoscaler to launch one (Ctrl-C to stop)",
                        profile.resource_label)
        logger.info("measuring on a Ray node labelled %s ...", profile.resource_label)
        table = ray.get(measure_table_task(space, profile, **kwargs))
    else:
        with tqdm(total=table_visits(space, protocol, args.seed), unit="visit",
                  desc=f"lut {space.name} on {profile.name}") as bar:
            table = measure_table(space, profile, progress=bar.update, **kwargs)
    table.save(out)
    model = table.resource_model(space)
    print(f"wrote {out}: {len(table.entries)} entries + constant {table.constant.median:.3f} ms, "
          f"{table.protocol['probe_networks']} probe networks, {table.seconds:.0f} s; predicted "
          f"latency range {model.least():.2f}..{model.largest():.2f} ms on {profile.name} "
          f"({table.device['cpu']}{', ' + table.device['gpu'] if table.device['gpu'] else ''})")
    return 0
