"""The ``hardcore-nas`` command line: one entry point, one module per subcommand.

Subcommand modules live in ``orchestrator.commands``; each defines ``add_arguments(parser)`` and
``run(args) -> int`` and imports heavy libraries inside ``run`` so that ``--help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import UsageError

COMMANDS = {
    "run": "the whole pipeline: supernet, latency tables, one search per (device, target), fine-tunes",
    "train-supernet": "train the heaviest network (w-bar) and the multipath one-shot supernet (w*)",
    "lut": "measure a latency table of a search space on a device",
    "validate-lut": "predicted vs measured latency of random subnets",
    "search": "one hard-constrained search from a supernet checkpoint and latency table(s)",
    "toy": "the paper's toy problem (eq. 15): hard-constrained BCSFW vs soft-penalty SGD",
}


def _module(name: str):
    return importlib.import_module(f"orchestrator.commands.{name.replace('-', '_')}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hardcore-nas", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _module(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_module(args.command).run(args) or 0)
    except (UsageError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"hardcore-nas {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hardcore-nas {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
