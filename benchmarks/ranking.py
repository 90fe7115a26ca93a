"""Does the search's signal rank architectures the way training them does? (paper Fig. 4, issue 15)

On Fashion-MNIST with the ``tiny16`` space (where capacity pays: ``benchmarks/results/capacity.md``):

1. ``archs``: 24 architectures stratified over the predicted latency range of ``cpu-bs1`` (lightest and
   heaviest included), written to ``runs/ranking/archs.json``.
2. ``truth``: each trained alone from scratch (the capacity study's recipe: all 48k training images, no
   augmentation, 3 epochs, lr 0.4), top-1 on the 10k test set, one row per architecture appended to
   ``benchmarks/results/ranking_truth.csv`` (resumable; ``--shard i/n`` splits the list over processes).
   The heaviest's trained weights are kept as w-bar for step 3.
3. ``supernet --sampling multipath|single-path``: w* trained from that w-bar, same epochs and seeds.
4. ``signals --sampling ...``: per architecture, what the gradient actors compute: w*'s validation loss
   with BN on the statistics training left (the search until issue 15) and with BN re-estimated on 64
   validation images (``search.bn_images``, the search now); and w*'s test top-1 after re-estimating BN
   on 1024 training images.
5. ``search``: BCSFW at four targets on either signal; the picks' latency and BN-re-estimated top-1.
6. ``report``: Kendall tau and Spearman rho of each signal against the trained top-1 with bootstrap 95%
   intervals, ``ranking.csv``, ``ranking.md``, ``ranking.png``.

    python -m benchmarks.ranking archs
    python -m benchmarks.ranking truth --shard 0/2 & python -m benchmarks.ranking truth --shard 1/2
    python -m benchmarks.ranking supernet --sampling multipath     # once w-bar exists
    python -m benchmarks.ranking signals --sampling multipath
    python -m benchmarks.ranking search --sampling multipath
    python -m benchmarks.ranking report
"""
from __future__ import annotations

import argparse
import ast
import csv
import datetime
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from benchmarks.capacity import append_row, read_rows
from supernet.recipes import SAMPLINGS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "ranking"
TRUTH_CSV = RESULTS / "ranking_truth.csv"
SIGNALS_CSV = RESULTS / "ranking_signals.csv"
RANKING_CSV = RESULTS / "ranking.csv"
RANKING_MD = RESULTS / "ranking.md"
RANKING_PNG = RESULTS / "ranking.png"
SPACE, DATA, DEVICE, INPUT_SIZE = "tiny16", "fashion-mnist", "cpu-bs1", 16
TRUTH_FIELDS = ("date", "arch", "predicted_ms", "params", "macs", "epochs", "lr", "seed", "seconds",
                "train_top1", "trained_top1", "load_avg")
SIGNAL_FIELDS = ("supernet", "arch", "eval_loss", "eval_top1", "recalibrated_loss", "recalibrated_top1",
                 "bn_top1")
NOTES_MARKER = "<!-- notes: kept when the report is rewritten -->"


# --- rank statistics (plain arrays) -------------------------------------------------------------
def rank_correlations(signal: Sequence[float], truth: Sequence[float]) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho of two equally long score lists (higher is better in both)."""
    signal, truth = np.asarray(signal, float), np.asarray(truth, float)
    if signal.shape != truth.shape or signal.ndim != 1 or len(signal) < 3:
        raise ValueError(f"need two 1-D score lists of the same length >= 3, got {signal.shape}, {truth.shape}")
    return float(stats.kendalltau(signal, truth).statistic), float(stats.spearmanr(signal, truth).statistic)


def bootstrap_intervals(signal: Sequence[float], truth: Sequence[float], draws: int = 2000, seed: int = 0,
                        level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile intervals of tau and rho over ``draws`` resamples of the architectures (with replacement;
    resamples whose scores are all tied, where the statistics are undefined, are skipped)."""
    signal, truth = np.asarray(signal, float), np.asarray(truth, float)
    rng = np.random.default_rng(seed)
    taus, rhos = [], []
    for _ in range(draws):
        pick = rng.integers(len(signal), size=len(signal))
        if np.ptp(signal[pick]) == 0 or np.ptp(truth[pick]) == 0:
            continue
        tau, rho = rank_correlations(signal[pick], truth[pick])
        taus.append(tau)
        rhos.append(rho)
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return {"tau": tuple(np.percentile(taus, [lo, hi])), "rho": tuple(np.percentile(rhos, [lo, hi]))}


def stratified_picks(latencies: np.ndarray, count: int) -> list[int]:
    """Indices of ``count`` distinct candidates spread evenly over ``[min, max]`` of ``latencies``: the two
    extremes, then for each of ``count - 2`` evenly spaced inner levels the unused candidate nearest it."""
    latencies = np.asarray(latencies, float)
    if count < 2 or len(latencies) < count:
        raise ValueError(f"need count >= 2 and at least count candidates, got {count} of {len(latencies)}")
    picks = [int(latencies.argmin()), int(latencies.argmax())]
    for level in np.linspace(latencies.min(), latencies.max(), count)[1:-1]:
        order = np.argsort(np.abs(latencies - level), kind="stable")
        picks.append(int(next(i for i in order if i not in picks)))
    return sorted(picks, key=lambda i: latencies[i])


# --- shared set-up ------------------------------------------------------------------------------
def _space():
    from supernet import get_space

    return get_space(SPACE)


def _table():
    from workers.latency_table import LatencyTable

    path = WORK / f"lut_{SPACE}_{DEVICE}.json"
    if not path.exists():
        raise SystemExit(f"no latency table at {path}: hardcore-nas lut --space {SPACE} --device {DEVICE} "
                         f"--out {path}")
    return LatencyTable.load(path)


def _splits():
    from supernet.data import load_data

    return load_data(DATA, INPUT_SIZE, seed=0)


def load_archs() -> list[dict]:
    path = WORK / "archs.json"
    if not path.exists():
        raise SystemExit(f"no architecture list at {path}: python -m benchmarks.ranking archs")
    return json.loads(path.read_text())


def truth_recipe(epochs: int, lr: float):
    """The capacity study's setting: the ``tiny`` recipe's w-bar stage at batch 128."""
    from supernet.recipes import get_recipe

    return get_recipe("tiny").heaviest.replace(epochs=epochs, batch_size=128, lr=lr)


def supernet_recipe(sampling: str, epochs: int):
    """The ``tiny`` recipe's w* stage (KD from w-bar, Taylor channel order) at batch 128."""
    from supernet.recipes import get_recipe

    return get_recipe("tiny").supernet.replace(epochs=epochs, batch_size=128, sampling=sampling)


# --- 1. the architectures -----------------------------------------------------------------------
def pick(args: argparse.Namespace) -> None:
    from benchmarks.capacity import architecture_cost
    from supernet import Architecture

    space, table = _space(), _table()
    rng = np.random.default_rng(args.seed)
    candidates = [Architecture.lightest(space), Architecture.heaviest(space)]
    candidates += [Architecture.random(space, rng) for _ in range(args.candidates)]
    latencies = np.array([table.predict(a) for a in candidates])
    archs = []
    for i in stratified_picks(latencies, args.count):
        params, macs = architecture_cost(candidates[i], 10)
        archs.append({"arch": str(candidates[i]), "predicted_ms": round(float(latencies[i]), 4),
                      "params": params, "macs": macs})
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "archs.json").write_text(json.dumps(archs, indent=1))
    print(f"{len(archs)} architectures, {archs[0]['predicted_ms']:.2f}..{archs[-1]['predicted_ms']:.2f} ms "
          f"predicted on {DEVICE}")


# --- 2. ground truth ----------------------------------------------------------------------------
def truth(args: argparse.Namespace) -> None:
    import torch

    from benchmarks.capacity import train_and_test, training_subset
    from supernet import Architecture
    from supernet.training import configure_cpu

    configure_cpu(1)
    space, splits = _space(), _splits()
    train_set = training_subset(splits, None, augment=False, seed=args.seed)
    recipe = truth_recipe(args.epochs, args.lr)
    done = {(r["arch"], r["seed"]) for r in read_rows(TRUTH_CSV)}
    shard, shards = (int(v) for v in args.shard.split("/"))
    heaviest = str(Architecture.heaviest(space))
    # Heaviest first: its weights are w-bar, which the supernets wait for.
    archs = sorted(load_archs(), key=lambda a: a["arch"] != heaviest)
    for entry in archs[shard::shards]:
        if (entry["arch"], str(args.seed)) in done:
            continue
        arch = Architecture.from_string(entry["arch"], space)
        seconds, train_top1, top1, model = train_and_test(arch, splits, train_set, recipe, args.seed)
        if entry["arch"] == heaviest:
            torch.save(model.state_dict(), WORK / f"wbar_seed{args.seed}.pt")
        append_row(TRUTH_CSV, fields=TRUTH_FIELDS, row=dict(
            date=datetime.datetime.now().isoformat(timespec="seconds"), arch=entry["arch"],
            predicted_ms=entry["predicted_ms"], params=entry["params"], macs=entry["macs"], epochs=args.epochs,
            lr=args.lr, seed=args.seed, seconds=round(seconds, 1), train_top1=round(train_top1, 2),
            trained_top1=round(top1, 2), load_avg=round(os.getloadavg()[0], 2)))
        print(f"{entry['predicted_ms']:.2f} ms  {seconds:5.0f} s  test {top1:5.2f}", flush=True)


# --- 3. the supernets ---------------------------------------------------------------------------
def wbar(seed: int):
    import torch

    from supernet import Architecture
    from supernet.timm_models import build_timm_model

    path = WORK / f"wbar_seed{seed}.pt"
    if not path.exists():
        raise SystemExit(f"no w-bar at {path}: the truth step trains it (the heaviest architecture) first")
    model = build_timm_model(Architecture.heaviest(_space()), 10)
    model.load_state_dict(torch.load(path))
    return model.eval()


def supernet(args: argparse.Namespace) -> None:
    import torch

    from benchmarks.capacity import training_subset
    from supernet.data import make_loader
    from supernet.training import configure_cpu, train_supernet

    configure_cpu(1)
    splits = _splits()
    train_set = training_subset(splits, None, augment=False, seed=args.seed)
    recipe = supernet_recipe(args.sampling, args.epochs)
    start = time.perf_counter()

    def progress(record: dict, _model) -> None:
        print(f"  epoch {record['epoch']}: train loss {record['train_loss']:.3f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)

    net, _ = train_supernet(_space(), wbar(args.seed), make_loader(train_set, recipe.batch_size, train=True,
                                                                   seed=args.seed),
                            recipe, num_classes=splits.num_classes, on_epoch=progress, seed=args.seed)
    torch.save(net.state_dict(), WORK / f"wstar_{args.sampling}_seed{args.seed}.pt")
    print(f"w* ({args.sampling}) trained in {time.perf_counter() - start:.0f} s", flush=True)


# --- 4. the signals -----------------------------------------------------------------------------
def signals(args: argparse.Namespace) -> None:
    import torch

    from benchmarks.capacity import training_subset
    from supernet import Architecture
    from supernet.data import make_loader
    from supernet.elastic import ElasticSupernet
    from supernet.extract import extract_subnet
    from supernet.training import configure_cpu, evaluate, recalibrate_bn
    from workers.gradients import ShardGradients

    configure_cpu(1)
    space, splits = _space(), _splits()
    net = ElasticSupernet(space, splits.num_classes)
    net.load_state_dict(torch.load(WORK / f"wstar_{args.sampling}_seed{args.seed}.pt"))
    net.eval().requires_grad_(False)
    archs = [Architecture.from_string(a["arch"], space) for a in load_archs()]
    alphas, betas = (np.stack(v) for v in zip(*(a.to_one_hot() for a in archs)))
    # (a) exactly what the gradient actors compute, every architecture on the same validation images:
    # BN on training's running statistics, and BN re-estimated on bn_images validation images.
    scores = {}
    for bn_images in (0, args.search_bn_images):
        part = ShardGradients(net, splits.val, bn_images=bn_images).scores(alphas, betas, args.val_images,
                                                                           seed=args.seed)
        scores[bn_images] = (part.loss_sum / part.count, 100.0 * part.correct / part.count)
    calibration = make_loader(training_subset(splits, None, augment=False, seed=args.seed), args.bn_batch_size,
                              train=True, seed=args.seed)
    test = make_loader(splits.test, 500, train=False)
    (eval_loss, eval_top1), (loss, loss_top1) = scores[0], scores[args.search_bn_images]
    for i, arch in enumerate(archs):
        # (b) the extracted subnet with BN re-estimated on training images, on the 10k test set.
        top1 = evaluate(recalibrate_bn(extract_subnet(net, arch), calibration, args.bn_batches), test)
        append_row(SIGNALS_CSV, fields=SIGNAL_FIELDS, row=dict(
            supernet=args.sampling, arch=str(arch), eval_loss=round(float(eval_loss[i]), 5),
            eval_top1=round(float(eval_top1[i]), 2), recalibrated_loss=round(float(loss[i]), 5),
            recalibrated_top1=round(float(loss_top1[i]), 2), bn_top1=round(top1, 2)))
        print(f"{i + 1}/{len(archs)} val loss {eval_loss[i]:.3f}, BN re-estimated {loss[i]:.3f}; "
              f"test top-1 BN re-estimated {top1:.2f}", flush=True)


# --- 5. what the search picks with each signal --------------------------------------------------
SEARCH_CSV = RESULTS / "ranking_search.csv"
SEARCH_FIELDS = ("supernet", "bn_images", "target_ms", "predicted_ms", "arch", "params", "bn_top1", "seconds")


def search(args: argparse.Namespace) -> None:
    """BCSFW (default options) at targets spread over the table's range, on w*'s search signal with BN
    re-estimated under the searched paths (``bn_images``) and with training's statistics (0); each pick
    is extracted, its BN re-estimated on training images, and tested on the 10k test set."""
    import torch

    from benchmarks.capacity import architecture_cost, training_subset
    from supernet import Architecture
    from supernet.data import make_loader
    from supernet.elastic import ElasticSupernet
    from supernet.extract import extract_subnet
    from supernet.training import configure_cpu, evaluate, recalibrate_bn
    from workers.gradients import ShardGradients
    from workers.resources import ResourceContext, build_resources
    from workers.search_tasks import SearchRequest, run_search

    configure_cpu(1)
    space, splits, table = _space(), _splits(), _table()
    net = ElasticSupernet(space, splits.num_classes)
    net.load_state_dict(torch.load(WORK / f"wstar_{args.sampling}_seed{args.seed}.pt"))
    net.eval().requires_grad_(False)
    latency = build_resources(ResourceContext(space, splits.num_classes, {DEVICE: table}))[f"latency:{DEVICE}"]
    low, high = table.predict(Architecture.lightest(space)), table.predict(Architecture.heaviest(space))
    calibration = make_loader(training_subset(splits, None, augment=False, seed=args.seed), args.bn_batch_size,
                              train=True, seed=args.seed)
    test = make_loader(splits.test, 500, train=False)
    for fraction in (0.15, 0.4, 0.65, 0.9):
        target = round(low + fraction * (high - low), 3)
        for bn_images in args.bn_image_counts:
            shard = ShardGradients(net, splits.val, bn_images=bn_images)
            start = time.perf_counter()
            outcome = run_search(SearchRequest("ranking", (latency.constraint(target),), args.seed), space,
                                 shard.compute, score=shard.score_compute)
            seconds = time.perf_counter() - start
            model = recalibrate_bn(extract_subnet(net, outcome.arch), calibration, args.bn_batches)
            top1 = evaluate(model, test)
            append_row(SEARCH_CSV, fields=SEARCH_FIELDS, row=dict(
                supernet=args.sampling, bn_images=bn_images, target_ms=target,
                predicted_ms=round(table.predict(outcome.arch), 4), arch=str(outcome.arch),
                params=architecture_cost(outcome.arch, splits.num_classes)[0], bn_top1=round(top1, 2),
                seconds=round(seconds, 1)))
            print(f"target {target:.2f} ms, bn_images {bn_images:3d}: {table.predict(outcome.arch):.2f} ms, "
                  f"depths {outcome.arch.depths}, BN-re-estimated top-1 {top1:.2f} ({seconds:.0f} s)", flush=True)


# --- 6. the report --------------------------------------------------------------------------------
# Each signal as "higher is better", with the column it comes from and how it reads in the report.
SIGNALS = {
    "signal_eval": ("eval_loss", -1, "w*'s val loss, training's BN statistics (the search's signal)"),
    "signal_recalibrated": ("recalibrated_loss", -1, "w*'s val loss, BN re-estimated on 64 val images"),
    "bn_top1": ("bn_top1", 1, "w*'s test top-1, BN re-estimated for the architecture"),
    "predicted_ms": ("predicted_ms", 1, "predicted latency alone (more is better)"),
}
# What the search optimises by default (search.bn_images 0): w*'s loss on training's BN statistics.
SEARCH_SIGNAL = "signal_eval"


def ranking_rows(truth_rows: list[dict], signal_rows: list[dict], seed: int = 0) -> list[dict]:
    """One row per (supernet, architecture) with every signal oriented so that higher is better."""
    truth = {r["arch"]: r for r in truth_rows if int(r["seed"]) == seed}
    rows = []
    for sig in signal_rows:
        t = truth.get(sig["arch"])
        if t is None:
            continue
        row = {"supernet": sig["supernet"], "arch": sig["arch"], "predicted_ms": float(t["predicted_ms"]),
               "params": int(t["params"]), "macs": int(t["macs"])}
        source = {**t, **sig}
        for name, (column, sign, _) in SIGNALS.items():
            row[name] = sign * float(source[column])
        row["signal"] = row[SEARCH_SIGNAL]
        row["eval_top1"] = float(sig["eval_top1"])
        row["trained_top1"] = float(t["trained_top1"])
        rows.append(row)
    return rows


def correlation_table(rows: list[dict]) -> list[dict]:
    """Per supernet and signal: tau, rho and their bootstrap intervals against the trained top-1, and
    whether the signal orders the heaviest and the lightest architecture as training does."""
    out = []
    for supernet_name in sorted({r["supernet"] for r in rows}):
        sub = sorted((r for r in rows if r["supernet"] == supernet_name), key=lambda r: r["predicted_ms"])
        truth = [r["trained_top1"] for r in sub]
        for name in SIGNALS:
            signal = [r[name] for r in sub]
            tau, rho = rank_correlations(signal, truth)
            ci = bootstrap_intervals(signal, truth)
            light, heavy = sub[0], sub[-1]
            agrees = (heavy[name] - light[name]) * (heavy["trained_top1"] - light["trained_top1"]) > 0
            out.append({"supernet": supernet_name, "signal": name, "n": len(sub), "tau": tau, "rho": rho,
                        "tau_ci": ci["tau"], "rho_ci": ci["rho"], "extremes_agree": agrees})
    return out


def mean_truth_table(rows: list[dict], truth_rows: list[dict]) -> list[str]:
    """Markdown: each signal against the mean top-1 over every seed, on the architectures trained with
    more than one seed (a less noisy truth on fewer architectures)."""
    seeds: dict[str, list[float]] = {}
    for r in truth_rows:
        seeds.setdefault(r["arch"], []).append(float(r["trained_top1"]))
    means = {arch: float(np.mean(v)) for arch, v in seeds.items() if len(v) > 1}
    subset = [{**r, "trained_top1": means[r["arch"]]} for r in rows if r["arch"] in means]
    if len({r["arch"] for r in subset}) < 3:
        return []
    lines = ["", f"## Against the mean of {max(len(v) for v in seeds.values())} seeds",
             "", f"The {len(means)} architectures trained with more than one seed, each signal against their mean "
             "trained top-1 (less seed noise, fewer architectures).", "",
             "| w* | signal | architectures | tau [95% CI] | rho [95% CI] |", "|---|---|---|---|---|"]
    for t in correlation_table(subset):
        lines.append(f"| {t['supernet']} | {SIGNALS[t['signal']][2]} | {t['n']} | {t['tau']:.2f} "
                     f"[{t['tau_ci'][0]:.2f}, {t['tau_ci'][1]:.2f}] | {t['rho']:.2f} "
                     f"[{t['rho_ci'][0]:.2f}, {t['rho_ci'][1]:.2f}] |")
    return lines


def seed_agreement(truth_rows: list[dict]) -> list[str]:
    """Markdown: how well the ground truth ranks itself, seed 0 against every other seed trained."""
    by_seed: dict[str, dict[str, float]] = {}
    for r in truth_rows:
        by_seed.setdefault(r["seed"], {})[r["arch"]] = float(r["trained_top1"])
    base = by_seed.get("0", {})
    lines = []
    for seed, scores in sorted(by_seed.items()):
        common = sorted(set(base) & set(scores))
        if seed == "0" or len(common) < 3:
            continue
        a, b = [base[k] for k in common], [scores[k] for k in common]
        tau, rho = rank_correlations(b, a)
        ci = bootstrap_intervals(b, a)
        diffs = np.abs(np.subtract(a, b))
        lines.append(f"| seed {seed} vs seed 0 | {len(common)} | {tau:.2f} [{ci['tau'][0]:.2f}, "
                     f"{ci['tau'][1]:.2f}] | {rho:.2f} [{ci['rho'][0]:.2f}, {ci['rho'][1]:.2f}] | "
                     f"{np.median(diffs):.2f} / {diffs.max():.2f} |")
    if not lines:
        return []
    return ["", "## How well the ground truth ranks itself", "",
            "The same architectures trained again with another seed (same recipe): the rank agreement any "
            "signal could reach against one seed's accuracies.", "",
            "| truth | architectures | tau [95% CI] | rho [95% CI] | top-1 difference median / max |",
            "|---|---|---|---|---|", *lines]


def write_report(rows: list[dict], truth_rows: list[dict]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = ["supernet", "arch", "predicted_ms", "params", "macs", "signal", *[k for k in SIGNALS if k not in
              ("predicted_ms", "bn_top1")], "eval_top1", "bn_top1", "trained_top1"]
    with RANKING_CSV.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    table = correlation_table(rows)
    supernets = sorted({r["supernet"] for r in rows})
    shown = [k for k in SIGNALS if k != "predicted_ms"]
    fig, axes = plt.subplots(len(supernets), len(shown), figsize=(4.2 * len(shown), 3.6 * len(supernets)),
                             squeeze=False)
    for i, name in enumerate(supernets):
        sub = [r for r in rows if r["supernet"] == name]
        for j, signal in enumerate(shown):
            ax = axes[i][j]
            points = ax.scatter([r[signal] for r in sub], [r["trained_top1"] for r in sub],
                                c=[r["predicted_ms"] for r in sub], cmap="viridis", s=22)
            stat = next(t for t in table if t["supernet"] == name and t["signal"] == signal)
            ax.set_title(f"{name}: tau {stat['tau']:.2f}, rho {stat['rho']:.2f}", fontsize=9)
            ax.set_xlabel(SIGNALS[signal][2], fontsize=7)
            ax.set_ylabel("trained alone, test top-1 [%]", fontsize=8)
        fig.colorbar(points, ax=axes[i][-1], label="predicted ms")
    fig.tight_layout()
    fig.savefig(RANKING_PNG, dpi=110)
    plt.close(fig)

    trained = sorted(truth_rows, key=lambda r: float(r["predicted_ms"]))
    lines = [
        "# Ranking: does the search's signal order architectures as training them does? (paper Fig. 4)",
        "",
        f"Written by `python -m benchmarks.ranking report` from `ranking_truth.csv` and `ranking_signals.csv`. "
        f"Space `{SPACE}` (16x16 inputs), Fashion-MNIST (48k train / 12k val / 10k test), {len(trained)} "
        f"architectures stratified over the predicted latency range of `{DEVICE}` "
        f"({float(trained[0]['predicted_ms']):.2f}..{float(trained[-1]['predicted_ms']):.2f} ms, lightest and "
        "heaviest included). Ground truth: each architecture **trained alone from scratch** (all 48k training "
        "images, no augmentation, 3 epochs, lr 0.4, batch 128, the `tiny` recipe's w-bar stage otherwise), "
        "top-1 on the 10k test set (standard error about 0.33 points). w-bar is the heaviest of those; both w* "
        "are trained from it for the same epochs with the same seed, with multipath (every image its own "
        "path) or single-path (one path per batch) sampling. Intervals: 95% bootstrap over architectures.",
        "",
        "| w* | signal | tau [95% CI] | rho [95% CI] | heaviest vs lightest as trained |",
        "|---|---|---|---|---|",
    ]
    for t in table:
        lines.append(f"| {t['supernet']} | {SIGNALS[t['signal']][2]} | {t['tau']:.2f} [{t['tau_ci'][0]:.2f}, "
                     f"{t['tau_ci'][1]:.2f}] | {t['rho']:.2f} [{t['rho_ci'][0]:.2f}, {t['rho_ci'][1]:.2f}] | "
                     f"{'yes' if t['extremes_agree'] else 'no'} |")
    lines += ["", f"The search's signal (`signal` in `ranking.csv`): {SIGNALS[SEARCH_SIGNAL][2]}.", "",
              "![signals against trained accuracy](ranking.png)", "",
              "| predicted ms | params | trained alone top-1 | train s | architecture |", "|---|---|---|---|---|"]
    for r in trained:
        lines.append(f"| {float(r['predicted_ms']):.2f} | {int(r['params']):,} | {float(r['trained_top1']):.2f} | "
                     f"{float(r['seconds']):.0f} | `{r['arch']}` |")
    every_seed = read_rows(TRUTH_CSV)
    lines += seed_agreement(every_seed) + mean_truth_table(rows, every_seed) + search_table(read_rows(SEARCH_CSV))
    notes = RANKING_MD.read_text().partition(NOTES_MARKER)[2] if RANKING_MD.exists() else ""
    text = "\n".join(lines) + "\n\n" + NOTES_MARKER + (notes or "\n")
    RANKING_MD.write_text(text)
    return text


def search_table(rows: list[dict]) -> list[str]:
    """Markdown: per target, what BCSFW picked on each signal (the last run of each setting)."""
    if not rows:
        return []
    latest = {(r["supernet"], r["target_ms"], r["bn_images"]): r for r in rows}
    lines = ["", "## What the search picks on each signal", "",
             "BCSFW (default options: 200 steps, batch 16, gamma 0.02) on w*'s validation data at four targets "
             f"over the `{DEVICE}` range; `bn images` 0 is training's BN statistics, N > 0 re-estimates them on N "
             "images per step under the searched paths (`search.bn_images`). Each pick is extracted, its BN "
             "re-estimated on 1024 training images, and tested on the 10k test set (no fine-tuning). Seconds: "
             "the whole search, on a loaded 2-core machine (compare within a target only).", "",
             "| w* | target ms | bn images | picked ms | params | depths | top-1, BN re-estimated | search s |",
             "|---|---|---|---|---|---|---|---|"]
    for key in sorted(latest, key=lambda k: (k[0], float(k[1]), int(k[2]))):
        r = latest[key]
        depths = "-".join(str(len(stage)) for stage in ast.literal_eval(r["arch"])[1:-1])
        lines.append(f"| {r['supernet']} | {float(r['target_ms']):.2f} | {r['bn_images']} | "
                     f"{float(r['predicted_ms']):.2f} | {int(r['params']):,} | {depths} | {float(r['bn_top1']):.2f} | "
                     f"{float(r['seconds']):.0f} |")
    return lines


def report(args: argparse.Namespace) -> None:
    truth_rows = read_rows(TRUTH_CSV)
    rows = ranking_rows(truth_rows, read_rows(SIGNALS_CSV), args.seed)
    if not rows:
        raise SystemExit("nothing to report: run the truth and signals steps first")
    print(write_report(rows, [r for r in truth_rows if int(r["seed"]) == args.seed]))


# --- command line -------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("archs", "truth", "supernet", "signals", "search", "report"))
    p.add_argument("--count", type=int, default=24, help="architectures (archs)")
    p.add_argument("--candidates", type=int, default=20_000, help="random architectures to stratify (archs)")
    p.add_argument("--shard", default="0/1", help="i/n: this process trains every n-th architecture (truth)")
    p.add_argument("--epochs", type=int, help="training epochs (truth: 3, supernet: 2)")
    p.add_argument("--lr", type=float, default=0.4, help="learning rate (truth)")
    p.add_argument("--sampling", choices=SAMPLINGS, default="multipath", help="w*'s path sampling")
    p.add_argument("--val-images", type=int, default=2000, help="validation images of the signals")
    p.add_argument("--search-bn-images", type=int, default=64,
                   help="signals: validation images re-estimating BN, as the gradient actors do")
    p.add_argument("--bn-batches", type=int, default=8, help="training batches re-estimating BN (signals)")
    p.add_argument("--bn-batch-size", type=int, default=128)
    p.add_argument("--bn-image-counts", type=int, nargs="+", default=[64, 0],
                   help="search: BN re-estimation images per step to compare")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 2 if args.step == "supernet" else 3
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    {"archs": pick, "truth": truth, "supernet": supernet, "signals": signals, "search": search,
     "report": report}[args.step](args)


if __name__ == "__main__":
    main()
