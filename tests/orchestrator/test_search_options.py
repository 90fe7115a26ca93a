"""``hardcore-nas search --algorithm NAME --option KEY=VALUE``: options validated by the strategy's dataclass."""
import argparse

import pytest

from hardcore_nas import UsageError
from orchestrator.cli import main
from orchestrator.commands.search import _options, add_arguments


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--supernet", "s", "--lut", "t.json", "--target-ms", "3", *argv])


def test_options_and_shorthands_reach_the_strategy():
    options = _options(_parse("--algorithm", "evolution", "--option", "population_size=8",
                              "--option", "mutate-prob=0.2"))
    assert (options.population_size, options.mutate_prob, options.generations) == (8, 0.2, 3)
    options = _options(_parse("--steps", "5", "--gamma", "0.1"))
    assert (options.steps, options.gamma, options.batch_size) == (5, 0.1, 16)


@pytest.mark.parametrize("argv, words", [
    (["--algorithm", "evolution", "--option", "population=8"], "one of the options population_size"),
    (["--algorithm", "random", "--gamma", "0.1"], "option 'gamma'"),
    (["--gamma", "2"], "option 'gamma' must be a number > 0 and <= 1"),
    (["--option", "steps"], "KEY=VALUE"),
])
def test_bad_options_fail_in_one_line_naming_what_works(argv, words):
    with pytest.raises(UsageError, match=words):
        _options(_parse(*argv))


def test_the_cli_exits_2_before_loading_anything(capsys):
    code = main(["search", "--supernet", "missing", "--lut", "missing.json", "--target-ms", "3",
                 "--algorithm", "evolution", "--option", "generations=-1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "generations" in err[0]
