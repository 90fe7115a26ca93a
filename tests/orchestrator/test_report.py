"""Pareto fronts, accuracy checks along the targets, the output files and the report's accounting."""
import pandas as pd
import pytest

from orchestrator.report import (
    StageCost,
    accuracy_drops,
    budget_use_lines,
    closed_loop_lines,
    pareto_columns,
    pareto_front,
    plot_pareto,
    render_report,
    write_pareto_csv,
)
from orchestrator.tracking import flatten_params, target_alias


def _family() -> pd.DataFrame:
    rows = [("cpu-bs1", 3.0, 2.9, 2.8, 80.0), ("cpu-bs1", 4.0, 3.9, 4.5, 92.0), ("cpu-bs1", 5.0, 4.8, 4.6, 85.0),
            ("cpu-bs8", 10.0, 9.5, 9.0, 88.0), ("cpu-bs8", 12.0, 11.0, 11.5, 90.0)]
    frame = pd.DataFrame(rows, columns=["device", "target_ms", "predicted_ms", "measured_ms", "top1"])
    return frame.assign(measured_spread_ms=0.05, params=1000, macs=2000, arch="[['ds']]",
                        model_uri=[f"models:/m@t{i}" for i in range(5)], registered_version=range(1, 6),
                        over_target=lambda f: f.measured_ms > f.target_ms * 1.1, round=1, kept=True,
                        bound_ms=lambda f: f.target_ms, drift=[1.01] * 3 + [1.2] * 2,
                        expected_ms=lambda f: f.predicted_ms * pd.Series([1.0, 1.0, 1.0, 1.2, 1.2]))


def test_pareto_front_keeps_exactly_the_undominated_points():
    latency = [1.0, 2.0, 2.0, 3.0, 4.0]
    accuracy = [50.0, 60.0, 55.0, 60.0, 70.0]
    assert pareto_front(latency, accuracy).tolist() == [True, True, False, False, True]


def test_accuracy_drops_separate_noise_from_real_inversions():
    family = _family()
    big = accuracy_drops(family, test_size=10000)     # 7 points on 10k images: beyond noise
    assert len(big) == 1 and "cpu-bs1" in big[0] and "4 ms" in big[0] and "beyond test-set noise" in big[0]
    small = accuracy_drops(family, test_size=50)      # 7 points on 50 images: within two standard errors
    assert len(small) == 1 and "within two standard errors of the 50-image test set" in small[0]
    assert accuracy_drops(family[family.device == "cpu-bs8"], 50) == []


def test_files_and_report(tmp_path):
    family = _family()
    write_pareto_csv(family, ["params", "macs"], tmp_path / "pareto.csv")
    columns = list(pd.read_csv(tmp_path / "pareto.csv").columns)
    assert columns == pareto_columns(["params", "macs"])
    assert columns[6:10] == ["top1", "params", "macs", "arch"]
    plot_pareto(family, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    costs = [StageCost("latency table cpu-bs1", 60, 60, reused=True), StageCost("supernet", 300, 720),
             StageCost("searches", 50, 90, per_model=True), StageCost("fine-tunes", 100, 180, per_model=True)]
    text = render_report("t", ["summary line"], family, ["params", "macs"], costs, ["supernet: from cache"], 0.1, 359,
                         {"w_star_heaviest": 40.0, "w_star_lightest": 60.0})
    assert "**0.217 + 0.015 N CPU hours**" in text          # (60 + 720) s once; (90 + 180) s / 5 models
    assert "- supernet: from cache" in text
    assert "cpu-bs1 at 4 ms: measured 4.500 ms" in text       # 4.5 > 4 * 1.1: flagged
    assert "median over the members: cpu-bs1 0.966, cpu-bs8 0.996" in text
    assert text.count("models:/m@t") == 5
    assert "heaviest path scores 40.0% and its lightest 60.0%: w* does not reward heavier paths" in text
    assert "moved by cpu-bs1 +1.0% (within noise), cpu-bs8 +20.0% (beyond noise: predictions rescaled, " \
           "measured / rescaled 0.830)" in text
    assert "No member was searched again." in text


def test_the_closed_loop_shows_every_round_and_the_kept_member():
    family = _family()
    second = family.iloc[[1]].assign(round=2, bound_ms=3.4, predicted_ms=3.3, measured_ms=3.9, top1=90.5,
                                     over_target=False)
    rounds = pd.concat([family.assign(kept=lambda f: f.index != 1), second], ignore_index=True)
    (line,) = closed_loop_lines(rounds)
    assert line == ("- cpu-bs1 at 4 ms: round 1: bound 4.000 ms, predicted 3.900, measured 4.500 ms (over), "
                    "top-1 92.00%; round 2: bound 3.400 ms, predicted 3.300, measured 3.900 ms (within), "
                    "top-1 90.50% **kept**")
    text = render_report("t", [], rounds[rounds.kept], ["params"], [], [], 0.1, 359, {}, rounds)
    assert line in text and "No member exceeds its target beyond noise." in text


def test_a_target_the_loop_gave_up_on_says_why_even_after_one_round():
    rounds = _family().assign(kept=True, loop_end="")
    rounds.loc[1, "loop_end"] = "no architecture fits the scaled bound 1.200 ms of round 2 (least 1.3 ms)"
    (line,) = closed_loop_lines(rounds)
    assert line == ("- cpu-bs1 at 4 ms: round 1: bound 4.000 ms, predicted 3.900, measured 4.500 ms (over), "
                    "top-1 92.00% **kept**; stays over its target: no architecture fits the scaled bound "
                    "1.200 ms of round 2 (least 1.3 ms)")
    text = render_report("t", [], rounds, ["params"], [], [], 0.1, 359, {}, rounds)
    assert line in text and "No member was searched again." not in text


def test_members_that_leave_their_budget_are_explained_by_what_the_search_saw():
    nan = float("nan")
    rows = [  # target, predicted, last iterate, member's loss, largest uniform's ms and loss
        (5.0, 4.5, nan, nan, nan, nan),          # 90% of its target: not listed
        (6.0, 3.0, 5.5, 0.30, 5.9, 0.35),        # the search spent the budget, projection lost it
        (7.0, 3.5, 3.6, 0.30, 6.8, 0.35),        # the signal rates the heavier network worse
        (8.0, 4.0, 4.1, 0.30, 7.9, 0.25),        # the signal prefers the heavier network
        (9.0, 1.0, 1.1, 0.30, nan, nan),         # no uniform network fits
        (10.0, 2.0, nan, nan, nan, nan),         # finished in an interrupted run
    ]
    table = pd.DataFrame(rows, columns=["target_ms", "predicted_ms", "last_ms", "signal_loss", "filled_ms",
                                        "filled_loss"]).assign(device="cpu-bs1", filled_arch="ds_r1_k3_s1_e1_c16")
    lines = budget_use_lines(table, 0.8, 512)
    assert len(lines) == 5 and not any("at 5 ms" in line for line in lines)
    spent, worse, better, none, interrupted = lines
    assert "50% of its target" in spent and "expected 5.500 ms (92%)" in spent and "rounding" in spent
    assert "On 512 validation images w*'s loss, the search's signal, is 0.300 for this member and 0.350 for " \
           "the largest uniform architecture within the bound (`ds_r1_k3_s1_e1_c16`, 6.800 ms): the signal sees " \
           "no gain" in worse
    assert "0.250" in better and "prefers the heavier architecture" in better
    assert "No uniform architecture fits" in none and "Not scored" in interrupted
    text = render_report("t", [], _family().assign(**table.iloc[[1, 2, 3, 4, 0]].reset_index(drop=True)),
                         ["params"], [], [], 0.1, 359, {}, None, 0.8, 512)
    assert "## Budget use" in text and "Members predicted below 80% of their target" in text
    assert "Every member is predicted at 80% of its target or more." in render_report(
        "t", [], _family(), ["params"], [], [], 0.1, 359, {})


def test_aliases_and_flat_params():
    assert target_alias(40.0) == "t40ms" and target_alias(0.85) == "t0p85ms" and target_alias(3.47) == "t3p47ms"
    assert flatten_params({"a": {"b": 1, "c": {"d": "x"}}, "e": None}) == {"a.b": "1", "a.c.d": "x", "e": "None"}


@pytest.mark.parametrize("target", [1e-3, 123.456, 7.0])
def test_aliases_are_valid_mlflow_aliases(target):
    import re

    assert re.fullmatch(r"[\w\-]+", target_alias(target)) and not re.fullmatch(r"v\d+", target_alias(target))

