"""The CLI decides what a person sees: library log records on stderr, --quiet and --verbose."""
import logging

import pytest

from orchestrator.cli import build_parser, configure_logging


@pytest.fixture(autouse=True)
def _restore_loggers(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in ("orchestrator", "workers")}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def test_info_lines_are_plain_and_warnings_are_marked(capsys):
    configure_logging()
    logging.getLogger("orchestrator.pipeline").info("[1/8] latency tables ...")
    logging.getLogger("workers.latency").warning("a round was redone")
    logging.getLogger("workers.latency").debug("not shown")
    assert capsys.readouterr().err.splitlines() == ["[1/8] latency tables ...", "warning: a round was redone"]


def test_quiet_keeps_warnings_and_hides_bars(capsys):
    import os

    configure_logging(quiet=True)
    logging.getLogger("orchestrator.pipeline").info("stage line")
    logging.getLogger("orchestrator.pipeline").warning("over target")
    assert capsys.readouterr().err.splitlines() == ["warning: over target"]
    assert os.environ["TQDM_DISABLE"] == "1"


def test_verbose_shows_debug_lines_with_their_logger(capsys):
    configure_logging(verbose=True)
    logging.getLogger("workers.latency").debug("visit 3")
    assert capsys.readouterr().err.splitlines() == ["workers.latency: visit 3"]


def test_every_command_takes_the_flags_and_they_exclude_each_other(capsys):
    assert build_parser("toy").parse_args(["--quiet"]).quiet
    with pytest.raises(SystemExit):
        build_parser("toy").parse_args(["--quiet", "--verbose"])
