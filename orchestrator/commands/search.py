"""``hardcore-nas search``: one constrained search from a trained supernet and latency table(s), in this
process (no Ray), by any registered strategy (``--algorithm``, default BCSFW) with its options
(``--option KEY=VALUE``, validated by the strategy's options dataclass; ``--steps``, ``--batch-size``,
``--gamma``, ``--momentum`` are shorthands for the options of those names).

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
    from orchestrator.config import SearchSettings
    from solvers import DEFAULT_STRATEGY, list_strategies

    parser.add_argument("--algorithm", default=DEFAULT_STRATEGY, choices=list_strategies(),
                        help=f"search strategy (default {DEFAULT_STRATEGY}; README 'Search strategies')")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the strategy (e.g. population_size=32); repeat for more")
    for flag, kind in (("--steps", int), ("--batch-size", int), ("--gamma", float), ("--momentum", float)):
        name = flag[2:].replace("-", "_")
        parser.add_argument(flag, type=kind, default=None, dest=name, help=f"shorthand for --option {name}=...")
    parser.add_argument("--seed", type=int, default=0, help="seed of batches, paths and block choices")
    parser.add_argument("--data", default=None,
                        help="validation data of the gradients (default: what the supernet was trained on)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all usable CPUs)")
    parser.add_argument("--bn-images", type=int, default=SearchSettings.bn_images, metavar="N",
                        help="validation images per step re-estimating w*'s BN statistics under the searched "
                             f"paths; 0 keeps training's (default {SearchSettings.bn_images})")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hardcore_nas.errors import UsageError
    from solvers import InfeasibleConstraintError, get_strategy
    from supernet.checkpoints import load_supernet, read_sidecar, stage_file
    from supernet.data import load_data
    from supernet.training import configure_cpu
    from workers.gradients import ShardGradients
    from workers.latency_table import load_table
    from workers.resources import ResourceContext, build_resources, list_resources
    from workers.search_tasks import SearchRequest, run_search

    if len(args.lut) != len(args.target_ms):
        raise UsageError(f"give one --target-ms per --lut: got {len(args.lut)} tables and "
                         f"{len(args.target_ms)} targets")
    options = _options(args)
    tables = [load_table(path) for path in args.lut]
    space = tables[0].search_space()
    names = [t.device_name for t in tables]
    if len(set(names)) != len(names):
        raise UsageError(f"each --lut must be of another device; got {', '.join(names)}")
    path = stage_file(args.supernet, "supernet") if args.supernet.is_dir() else args.supernet
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
    request = SearchRequest("search", tuple(constraints), args.seed, args.algorithm, options)
    if args.bn_images < 0:
        raise UsageError(f"--bn-images must be >= 0, got {args.bn_images}")
    gradients = ShardGradients(net, splits.val, bn_images=args.bn_images)
    with tqdm(total=request.steps, desc=args.algorithm, unit=get_strategy(args.algorithm).signal) as bar:
        try:
            outcome = run_search(request, space, gradients.compute, on_step=lambda record: bar.update(1),
                                 score=gradients.score_compute)
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
    print(f"{args.algorithm}: {result.images} validation images through w* in {outcome.seconds:.1f} s "
          f"(evaluations {result.gradient_seconds:.1f} s, solver {result.solver_seconds:.2f} s); "
          f"projection: {result.projection}" + ("; BREAKS A BOUND" if result.violated else ""))
    return 0


def _options(args: argparse.Namespace):
    """The strategy's options from ``--option KEY=VALUE`` and the shorthand flags, validated by its dataclass."""
    from hardcore_nas.errors import UsageError
    from solvers import OptionError, get_strategy, parse_options

    raw: dict[str, str | int | float] = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--option takes KEY=VALUE, got {item!r}; options of {args.algorithm}: "
                             f"{', '.join(get_strategy(args.algorithm).options.field_names())}")
        raw[key.strip().replace("-", "_")] = value.strip()
    for name in ("steps", "batch_size", "gamma", "momentum"):
        if getattr(args, name) is not None:
            raw[name] = getattr(args, name)
    try:
        return parse_options(args.algorithm, raw)
    except OptionError as exc:
        raise UsageError(f"--algorithm {args.algorithm}: {exc}") from None
