"""``hardcore-nas search``: one hard-constrained search from a trained supernet and latency table(s),
in this process (no Ray).

Every ``--lut FILE --target-ms T`` pair is a latency constraint (several devices at once are fine);
``--max-<resource>`` adds a bound on each resource of ``workers.resources`` (params, MACs, peak
activation memory, ...). Prints the architecture as a timm string, each constrained resource with its
bound and slack, and every resource's value. A target below what the space can reach fails with one line
naming the least reachable value.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--supernet", type=Path, required=True,
                        help="folder written by 'hardcore-nas train-supernet' (or a supernet .safetensors)")
    parser.add_argument("--lut", type=Path, action="append", required=True,
                        help="latency table (JSON from 'hardcore-nas lut'); repeat for more devices")
    parser.add_argument("--target-ms", type=float, action="append", required=True,
                        help="latency bound (ms) of the matching --lut; repeat with each --lut")
    from workers.resources import list_resources

    for name in list_resources():
        parser.add_argument(f"--max-{name.replace('_', '-')}", type=float, default=None, metavar="BOUND",
                            dest=f"max_{name}", help=f"bound on {name}")
    parser.add_argument("--steps", type=int, default=200, help="BCSFW steps (default 200)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per gradient (default 16)")
    parser.add_argument("--gamma", type=float, default=0.02, help="constant step size (default 0.02)")
    parser.add_argument("--momentum", type=float, default=0.9, help="gradient momentum (default 0.9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of batches, paths and block choices")
    parser.add_argument("--data", default=None,
                        help="validation data of the gradients (default: what the supernet was trained on)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all usable CPUs)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hardcore_nas.errors import UsageError
    from solvers import InfeasibleConstraintError
    from supernet.checkpoints import STAGE_FILES, load_supernet, read_sidecar
    from supernet.data import load_data
    from supernet.training import configure_cpu
    from workers.gradients import ShardGradients
    from workers.latency_table import load_table
    from workers.resources import ResourceContext, build_resources, list_resources
    from workers.search_tasks import SearchRequest, run_search

    if len(args.lut) != len(args.target_ms):
        raise UsageError(f"give one --target-ms per --lut: got {len(args.lut)} tables and "
                         f"{len(args.target_ms)} targets")
    for name, value, least in (("--steps", args.steps, 1), ("--batch-size", args.batch_size, 1)):
        if value < least:
            raise UsageError(f"{name} must be >= {least}, got {value}")
    if not 0.0 < args.gamma <= 1.0 or not 0.0 <= args.momentum < 1.0:
        raise UsageError(f"need 0 < --gamma <= 1 and 0 <= --momentum < 1, got {args.gamma}, {args.momentum}")
    tables = [load_table(path) for path in args.lut]
    space = tables[0].search_space()
    names = [t.device_name for t in tables]
    if len(set(names)) != len(names):
        raise UsageError(f"each --lut must be of another device; got {', '.join(names)}")
    path = args.supernet / STAGE_FILES["supernet"] if args.supernet.is_dir() else args.supernet
    meta = read_sidecar(path, space, "supernet")
    configure_cpu(args.threads)
    net, _ = load_supernet(path, space)
    for table in tables:    # the classifier is part of the table's constant
        if table.num_classes != net.num_classes:
            raise UsageError(f"the {table.device_name} table was measured with a {table.num_classes}-class "
                             f"classifier, the supernet has {net.num_classes}; measure it with "
                             f"'hardcore-nas lut --device {table.device_name} --space {space.name} "
                             f"--num-classes {net.num_classes}'")
    data = args.data or meta.get("data", "digits")
    splits = load_data(data, space.input_size, seed=meta.get("seed", 0))
    if splits.num_classes != net.num_classes:
        raise UsageError(f"--data {data} has {splits.num_classes} classes but the supernet {net.num_classes}; "
                         f"give the data it was trained on")

    resources = build_resources(ResourceContext(space, net.num_classes, {t.device_name: t for t in tables}))
    bounds = {resources[f"latency:{t.device_name}"].name: target for t, target in zip(tables, args.target_ms)}
    bounds.update({name: getattr(args, f"max_{name}") for name in list_resources()
                   if getattr(args, f"max_{name}") is not None})
    constraints = [resources[name].constraint(bound) for name, bound in bounds.items()]
    request = SearchRequest("search", tuple(constraints), args.steps, args.batch_size, args.seed,
                            {"gamma_max": args.gamma, "momentum": args.momentum})
    gradients = ShardGradients(net, splits.val)
    with tqdm(total=args.steps, desc="BCSFW", unit="step") as bar:
        try:
            outcome = run_search(request, space, gradients.compute, on_step=lambda record: bar.update(1))
        except InfeasibleConstraintError as exc:
            raise UsageError(str(exc)) from None

    result = outcome.result
    print(f"architecture (timm decode_arch_def), depths {'-'.join(map(str, outcome.arch.depths))}:")
    print(str(outcome.arch))
    print(f"{'resource':<24}{'value':>14}{'bound':>14}{'slack':>14}")
    for name in [*bounds, *(n for n in list_resources() if n not in bounds)]:
        value, bound = resources[name].value(outcome.arch), bounds.get(name)
        limits = f"{bound:>14.6g}{bound - value:>14.6g}" if bound is not None else f"{'-':>14}{'-':>14}"
        print(f"{name:<24}{value:>14.6g}{limits}  {resources[name].unit}".rstrip())
    print(f"{args.steps} steps in {outcome.seconds:.1f} s (gradients {result.gradient_seconds:.1f} s, "
          f"LPs {result.solver_seconds:.2f} s); projection: {result.projection}")
    return 0
