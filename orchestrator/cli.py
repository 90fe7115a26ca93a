"""The ``hardcore-nas`` command line: one entry point, one module per subcommand.

Subcommand modules live in ``orchestrator.commands``; each defines ``add_arguments(parser)`` and
``run(args) -> int`` and imports heavy libraries inside ``run``. Only the invoked command's module is
imported, so ``hardcore-nas --help`` and each command's ``--help`` stay fast.

The library logs (``logging.getLogger(__name__)``); this module decides what a person sees: our
packages' INFO lines (stage lines, notes) as plain text on stderr, warnings marked as such, and with
``--verbose`` debug lines and other libraries' INFO lines too; ``--quiet`` keeps warnings and errors
and hides the progress bars. A command's results go to stdout.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from hardcore_nas.logs import route_packages

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


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (only that command's module is imported)."""
    parser = argparse.ArgumentParser(prog=f"hardcore-nas {command}", description=COMMANDS[command])
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="also show debug lines and other libraries' messages")
    loudness.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    _module(command).add_arguments(parser)
    return parser


def _top_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<16}{text}" for name, text in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="hardcore-nas", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Hardware-constrained NAS: a Pareto family of models that provably fit a latency budget.",
        epilog=f"commands:\n{listing}\n\n'hardcore-nas COMMAND --help' shows a command's options.")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


class _ProgressAwareHandler(logging.Handler):
    """Lines to stderr through tqdm, so that they print above a running progress bar, not through it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


class _Format(logging.Formatter):
    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname.lower()}: {text}"
        return f"{record.name}: {text}" if self.verbose else text


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Route our packages' log records to stderr at the level the flags ask for."""
    handler = _ProgressAwareHandler()
    handler.setFormatter(_Format(verbose))
    route_packages(handler, logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if verbose:
        logging.basicConfig(level=logging.INFO)
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"


def main(argv: list[str] | None = None) -> int:
    top = _top_parser().parse_args(argv)
    args = build_parser(top.command).parse_args(top.args)
    configure_logging(args.verbose, args.quiet)
    try:
        return int(_module(top.command).run(args) or 0)
    except (UsageError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"hardcore-nas {top.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hardcore-nas {top.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
