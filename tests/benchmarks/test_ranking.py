"""The ranking study's statistics and architecture picking, on small cases checked by brute force."""
import itertools

import numpy as np
import pytest

from benchmarks.ranking import (
    SEARCH_SIGNAL,
    bootstrap_intervals,
    correlation_table,
    rank_correlations,
    ranking_rows,
    stratified_picks,
)


def brute_force_tau(a, b) -> float:
    """Kendall's tau-a over all pairs (no ties in the cases below)."""
    pairs = list(itertools.combinations(range(len(a)), 2))
    return sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs) / len(pairs)


def test_rank_correlations_match_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.permutation(9).astype(float), rng.permutation(9).astype(float)
        tau, rho = rank_correlations(a, b)
        assert tau == pytest.approx(brute_force_tau(a, b))
        d = a - b  # ranks are the values themselves
        assert rho == pytest.approx(1 - 6 * (d ** 2).sum() / (9 * (81 - 1)))


def test_rank_correlations_extremes_and_bad_input():
    assert rank_correlations([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx((1.0, 1.0))
    assert rank_correlations([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx((-1.0, -1.0))
    with pytest.raises(ValueError):
        rank_correlations([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        rank_correlations([1, 2], [1, 2])


def test_bootstrap_interval_brackets_estimate_and_narrows_with_agreement():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=30)
    noisy = truth + rng.normal(scale=1.0, size=30)
    close = truth + rng.normal(scale=0.05, size=30)
    wide, narrow = bootstrap_intervals(noisy, truth, draws=500), bootstrap_intervals(close, truth, draws=500)
    tau = rank_correlations(noisy, truth)[0]
    assert wide["tau"][0] <= tau <= wide["tau"][1]
    assert -1 <= wide["tau"][0] < wide["tau"][1] <= 1
    assert narrow["tau"][1] - narrow["tau"][0] < wide["tau"][1] - wide["tau"][0]
    assert narrow["rho"][0] > 0.9


def test_stratified_picks_cover_the_range_evenly():
    rng = np.random.default_rng(2)
    latencies = rng.permutation(100).astype(float)       # 0..99: levels 0, 9, ..., 99 exist exactly
    picks = stratified_picks(latencies, 12)
    assert list(latencies[picks]) == [9.0 * k for k in range(12)]
    # Crowded candidates: distinct picks, extremes first and last, sorted by latency.
    crowded = np.concatenate([rng.normal(3.0, 0.3, size=2000), [1.0, 5.0]])
    picks = stratified_picks(crowded, 10)
    assert len(set(picks)) == 10
    assert crowded[picks][0] == 1.0 and crowded[picks][-1] == 5.0
    assert np.all(np.diff(crowded[picks]) >= 0)
    with pytest.raises(ValueError):
        stratified_picks(crowded[:3], 4)


def test_ranking_rows_orient_signals_and_table_checks_extremes():
    truth = [{"arch": f"a{i}", "seed": "0", "predicted_ms": str(2 + i), "params": "10", "macs": "100",
              "trained_top1": str(80 + i)} for i in range(5)]
    # The eval-mode loss grows with capacity (wrong order); the recalibrated loss falls (right order).
    signals = [{"supernet": "multipath", "arch": f"a{i}", "eval_loss": str(0.5 + 0.1 * i), "eval_top1": "90",
                "recalibrated_loss": str(0.9 - 0.1 * i), "bn_top1": str(70 + i)} for i in range(5)]
    rows = ranking_rows(truth, signals)
    assert [r["signal_eval"] for r in rows] == pytest.approx([-0.5, -0.6, -0.7, -0.8, -0.9])
    assert all(r["signal"] == r[SEARCH_SIGNAL] for r in rows)
    table = {t["signal"]: t for t in correlation_table(rows)}
    assert table["signal_eval"]["tau"] == pytest.approx(-1.0) and not table["signal_eval"]["extremes_agree"]
    assert table["signal_recalibrated"]["tau"] == pytest.approx(1.0)
    assert table["signal_recalibrated"]["extremes_agree"]
