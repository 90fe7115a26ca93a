import csv

import numpy as np
import pytest

from orchestrator.cli import main
from solvers.toy import run_toy, toy_bcsfw, toy_blocks, toy_optimum, toy_start


def test_bcsfw_reaches_the_optimum_with_zero_violation_and_sgd_does_not():
    traces = run_toy(steps=1000, seed=0)
    optimum = toy_optimum(10)
    bcsfw, sgd = traces[0], traces[1:]
    assert bcsfw.method == "bcsfw"
    assert abs(bcsfw.objective[-1] - optimum) < 0.005 * optimum
    assert bcsfw.violation.max() <= 1e-12
    for t in sgd:      # each lambda either breaks the constraint or stays away from the optimum
        assert t.violation[-1] > 1e-4 or abs(t.objective[-1] - optimum) > 0.02 * optimum
    assert {t.penalty for t in sgd} == {0.1, 1.0, 10.0, 100.0}
    assert max(t.violation[-1] for t in sgd) > 0.1


def test_the_blocks_overlap_and_cover_every_coordinate():
    first, second = toy_blocks(10)
    assert set(first) | set(second) == set(range(10)) and len(set(first) & set(second)) == 2


def test_the_optimum_is_the_lagrange_solution():
    assert toy_optimum(10) == pytest.approx(0.1)
    x = np.full(10, 0.1)
    assert x @ x == pytest.approx(toy_optimum(10))


def test_a_bcsfw_run_is_reproducible():
    x0 = toy_start(np.random.default_rng(0), 10)
    a = toy_bcsfw(x0, 50, np.random.default_rng(1))
    b = toy_bcsfw(x0, 50, np.random.default_rng(1))
    np.testing.assert_array_equal(a.objective, b.objective)


def test_the_command_writes_csv_and_png_and_prints_the_gaps(tmp_path, capsys):
    assert main(["toy", "--out", str(tmp_path), "--steps", "200", "--seed", "3"]) == 0
    rows = list(csv.DictReader((tmp_path / "toy.csv").open()))
    assert len(rows) == 5 * 201
    assert set(rows[0]) == {"method", "lambda", "iteration", "objective", "violation"}
    assert {r["lambda"] for r in rows if r["method"] == "sgd"} == {"0.1", "1.0", "10.0", "100.0"}
    assert (tmp_path / "toy.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "bcsfw" in out and "sgd lambda=100" in out and "optimum" in out


def test_the_command_refuses_bad_arguments(tmp_path, capsys):
    assert main(["toy", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps >= 1" in capsys.readouterr().err
