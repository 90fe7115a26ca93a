"""Solver benchmark: our projection vs argmax (paper Table 2), and the LP step time of BCSFW.

    flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/solver_benchmark.py [--quick]

Part 1 runs BCSFW searches on the ``imagenet`` preset for many targets over the reachable range and
discretises each relaxed result: argmax (eq. 12), our projection (eq. 13: the exact MIP warm-started
from the alternating-LP path, within its time limit) and the alternating-LP path alone; it counts
constraint violations and their size, how often the MIP solved within its limit and its time, and the
credit the LP path loses against the exact optimum. Part 1c does the same for random relaxed points.
Part 2 replays the LPs of one search: our warm-started HiGHS models vs ``scipy.optimize.linprog`` on
the same LPs, in the same run. The gradient is a synthetic stand-in
for the supernet (a fixed random "accuracy" preference for heavier blocks plus noise per step).

The main resource is a measured latency table given with ``--lut FILE.json`` (``hardcore-nas lut``),
else exact MACs (``supernet.costs``) standing in for it; params are the second resource of the
two-constraint runs. Writes the markdown report to ``--out`` (default
``benchmarks/results/solver.md``).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solvers import (  # noqa: E402
    DEFAULT_LIMITS,
    BlockOracle,
    Constraint,
    ConstraintSet,
    ResourceModel,
    argmax_projection,
    best_architecture,
    project,
    search,
)
from supernet.costs import mac_costs, param_costs  # noqa: E402
from supernet.space import get_space  # noqa: E402


def exact_resources(space) -> tuple[ResourceModel, ResourceModel]:
    """MACs (the stand-in for latency) and params, both in millions, exact."""
    macs, macs_const = mac_costs(space, 1000)
    params, params_const = param_costs(space, 1000)
    return (ResourceModel("macs", macs / 1e6, macs_const / 1e6, space.min_depth, "M"),
            ResourceModel("params", params / 1e6, params_const / 1e6, space.min_depth, "M"))


class PreferenceGradient:
    """Gradient of a linear 'loss' that prefers heavier blocks (diminishing returns), plus noise.

    Keeps the points it was asked about and its answers, so that the LPs of a search can be replayed.
    """

    def __init__(self, resource: ResourceModel, seed: int, noise: float = 1.0):
        self.rng = np.random.default_rng(seed)
        self.noise = noise
        self.alpha_pref = np.sqrt(resource.block_costs / resource.block_costs.max()) \
            + 0.3 * self.rng.normal(size=resource.alpha_shape)
        self.beta_pref = np.linspace(0.0, 1.0, resource.beta_shape[1]) \
            + 0.3 * self.rng.normal(size=resource.beta_shape)
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def __call__(self, alpha, beta):
        g_alpha = -self.alpha_pref + self.noise * self.rng.normal(size=alpha.shape)
        g_beta = -self.beta_pref + self.noise * self.rng.normal(size=beta.shape)
        self.calls.append((alpha.copy(), beta.copy(), g_alpha, g_beta))
        loss = -float((self.alpha_pref * alpha).sum() + (self.beta_pref * beta).sum())
        return g_alpha, g_beta, loss


def _credit(alpha, beta, alpha_star, beta_star) -> float:
    return float((alpha * alpha_star).sum() + (beta * beta_star).sum())


# --- part 1: projection vs argmax ------------------------------------------------------------
def discretise(constraints: ConstraintSet, alpha_star, beta_star) -> dict:
    """Argmax, our projection and the LP path alone at one relaxed point, with their times and credits."""
    argmax = argmax_projection(alpha_star, beta_star)
    tic = time.perf_counter()
    ours = project(constraints, alpha_star, beta_star)
    project_ms = (time.perf_counter() - tic) * 1e3
    tic = time.perf_counter()
    lp = project(constraints, alpha_star, beta_star, exact=False)
    lp_ms = (time.perf_counter() - tic) * 1e3
    exact = best_architecture(constraints, alpha_star, beta_star)
    return dict(
        bounds=constraints.bounds, relaxed=constraints.values(alpha_star, beta_star),
        argmax=constraints.values(*argmax), ours=constraints.values(ours.alpha, ours.beta),
        method=ours.method, project_ms=project_ms, exact_ms=ours.exact_seconds * 1e3, lp_ms=lp_ms,
        credit_ours=_credit(ours.alpha, ours.beta, alpha_star, beta_star),
        credit_lp=_credit(lp.alpha, lp.beta, alpha_star, beta_star),
        credit_argmax=_credit(*argmax, alpha_star, beta_star),
        credit_exact=_credit(*exact, alpha_star, beta_star))


def projection_runs(resources: list[ResourceModel], levels: list[tuple[float, ...]], seeds: int,
                    steps: int) -> list[dict]:
    """One search per (level, seed); ``levels`` give each resource's bound as a fraction of its range."""
    runs = []
    for level in levels:
        constraints = ConstraintSet([
            Constraint(r, r.least() + f * (r.largest() - r.least())) for r, f in zip(resources, level)])
        for seed in range(seeds):
            gradient = PreferenceGradient(resources[0], seed)
            result = search(constraints, gradient, steps, np.random.default_rng(seed))
            run = discretise(constraints, result.relaxed_alpha, result.relaxed_beta)
            runs.append(dict(run, seed=seed, solver_s=result.solver_seconds, steps=steps))
            print(f"  bounds {np.round(constraints.bounds, 1)} seed {seed}: relaxed "
                  f"{np.round(run['relaxed'], 1)} argmax {np.round(run['argmax'], 1)} "
                  f"ours {np.round(run['ours'], 1)} ({run['method']}, MIP {run['exact_ms']:.1f} ms)", flush=True)
    return runs


def random_runs(resources: list[ResourceModel], count: int, seed: int) -> list[dict]:
    """Random relaxed points (Dirichlet per group) under bounds at random levels (5-60% of each range)."""
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(count):
        constraints = ConstraintSet([Constraint(r, r.least() + rng.uniform(0.05, 0.6) * (r.largest() - r.least()))
                                     for r in resources])
        concentration = rng.choice([0.3, 1.0, 3.0])
        alpha_star = rng.dirichlet(np.full(constraints.alpha_shape[2], concentration),
                                   size=constraints.alpha_shape[:2])
        beta_star = rng.dirichlet(np.full(constraints.beta_shape[1], concentration), size=constraints.beta_shape[0])
        runs.append(discretise(constraints, alpha_star, beta_star))
    return runs


def _violation_pct(values: np.ndarray, bounds: np.ndarray) -> float:
    """The largest relative excess over a bound, in % (0 when every bound holds)."""
    return max(0.0, -_slack_pct(values, bounds))


def _slack_pct(values: np.ndarray, bounds: np.ndarray) -> float:
    """The least relative slack over the bounds, in % (negative when a bound is broken)."""
    return float(((bounds - values) / np.abs(bounds)).min() * 100)


def _spread(values: list[float], unit: str = "", digits: int = 1) -> str:
    """``median, p90, max`` of a list, or ``-`` when it is empty."""
    if not values:
        return "-"
    return ", ".join(f"{v:.{digits}f}{unit}" for v in (statistics.median(values), np.percentile(values, 90),
                                                        max(values)))


def summarize_projection(runs: list[dict], noun: str = "searches") -> list[str]:
    argmax_excess = [_violation_pct(r["argmax"], r["bounds"]) for r in runs]
    ours_excess = [_violation_pct(r["ours"], r["bounds"]) for r in runs]
    violated = [e for e in argmax_excess if e > 0]
    slack = {key: statistics.median(_slack_pct(r[key], r["bounds"]) for r in runs)
             for key in ("argmax", "ours")}
    credit_ratio = [r["credit_ours"] / r["credit_exact"] for r in runs]
    methods = {m: sum(r["method"] == m for r in runs) for m in ("argmax", "exact", "lp")}
    methods["other"] = len(runs) - sum(methods.values())         # the MIP's incumbent, any feasible
    binding = [r for r in runs if r["method"] != "argmax"]          # argmax broke a bound
    lp_loss = [(1 - r["credit_lp"] / r["credit_exact"]) * 100 for r in binding]
    lp_optimal = sum(loss <= 1e-7 for loss in lp_loss)
    return [
        "| | argmax (eq. 12) | our projection (eq. 13: exact MIP, LP path as fallback) |",
        "|---|---|---|",
        f"| {noun} violating a bound | {len(violated)} / {len(runs)} | "
        f"{sum(e > 0 for e in ours_excess)} / {len(runs)} |",
        f"| largest violation | {max(argmax_excess):.2f}% | {max(ours_excess):.2f}% |",
        f"| median violation (of the violating) | "
        f"{statistics.median(violated) if violated else 0:.2f}% | - |",
        f"| median slack left (least over the bounds) | {slack['argmax']:.2f}% | {slack['ours']:.2f}% |",
        f"| credit vs the exact optimum (median, min) | - | {statistics.median(credit_ratio):.4f}, "
        f"{min(credit_ratio):.4f} |",
        f"| how our projection ended | | argmax was feasible: {methods['argmax']}, exact MIP: "
        f"{methods['exact']}, LP path (MIP at its limit): {methods['lp']}, other: {methods['other']} |",
        f"| exact MIP solved within its {DEFAULT_LIMITS.projection_seconds:g} s limit | | "
        f"{methods['exact']} / {len(binding)} |",
        f"| MIP time (median, p90, max) | | {_spread([r['exact_ms'] for r in binding], ' ms')} |",
        f"| projection time, LPs + MIP (median, p90, max) | | "
        f"{_spread([r['project_ms'] for r in binding], ' ms')} |",
        f"| the LP path alone: found the optimum | | {lp_optimal} / {len(binding)} |",
        f"| the LP path alone: credit lost vs the optimum (median, p90, max) | | {_spread(lp_loss, '%', 2)} |",
        f"| the LP path alone: time (median, p90, max) | | {_spread([r['lp_ms'] for r in binding], ' ms')} |",
    ]


def table2(runs: list[dict], unit: str) -> list[str]:
    """Paper Table 2 layout for seed 0: the bound, then what each discretisation gives."""
    rows = [r for r in runs if r["seed"] == 0]
    return [
        f"| bound ({unit}) | " + " | ".join(f"{r['bounds'][0]:.1f}" for r in rows) + " |",
        "|---" * (len(rows) + 1) + "|",
        "| relaxed E[value] | " + " | ".join(f"{r['relaxed'][0]:.1f}" for r in rows) + " |",
        "| argmax | " + " | ".join(
            f"**{r['argmax'][0]:.1f}**" if r["argmax"][0] > r["bounds"][0] else f"{r['argmax'][0]:.1f}"
            for r in rows) + " |",
        "| our projection | " + " | ".join(f"{r['ours'][0]:.1f}" for r in rows) + " |",
    ]


# --- part 2: LP time ---------------------------------------------------------------------------
def replay_lps(constraints: ConstraintSet, gradient: PreferenceGradient, log, momentum: float = 0.9):
    """The LPs a BCSFW search solved: (block, cost, alpha, beta) per step, rebuilt from its inputs."""
    direction: dict[str, np.ndarray] = {}
    lps = []
    for (alpha, beta, g_alpha, g_beta), record in zip(gradient.calls, log):
        for name, g in (("alpha", g_alpha), ("beta", g_beta)):
            direction[name] = momentum * direction.get(name, g) + (1 - momentum) * g
        lps.append((record.block, direction[record.block].copy(), alpha, beta))
    return lps


def _linprog(constraints: ConstraintSet, block: str, cost, alpha, beta, method: str):
    rows, rhs = constraints.alpha_rows(beta) if block == "alpha" else constraints.beta_rows(alpha)
    shape = cost.shape
    groups = int(np.prod(shape[:-1]))
    equalities = np.kron(np.eye(groups), np.ones(shape[-1]))
    return linprog(cost.ravel(), rows, rhs, equalities, np.ones(groups), bounds=(0, 1), method=method)


def lp_timing(constraints: ConstraintSet, steps: int) -> dict:
    gradient = PreferenceGradient(constraints.constraints[0].resource, seed=123)
    result = search(constraints, gradient, steps, np.random.default_rng(123))
    lps = replay_lps(constraints, gradient, result.log)
    oracles = {b: BlockOracle(constraints, b) for b in ("alpha", "beta")}
    timings: dict[str, dict[str, list[float]]] = {b: {} for b in ("alpha", "beta")}
    iterations: dict[str, list[int]] = {"alpha": [], "beta": []}
    worst_gap = 0.0
    for block, cost, alpha, beta in lps:
        tic = time.perf_counter()
        x = oracles[block].minimize(cost, alpha, beta)
        timings[block].setdefault("HiGHS warm (ours)", []).append(time.perf_counter() - tic)
        iterations[block].append(oracles[block].iterations)
        tic = time.perf_counter()
        BlockOracle(constraints, block).minimize(cost, alpha, beta)
        timings[block].setdefault("HiGHS cold (new model)", []).append(time.perf_counter() - tic)
        for method in ("highs-ds", "highs"):
            tic = time.perf_counter()
            reference = _linprog(constraints, block, cost, alpha, beta, method)
            timings[block].setdefault(f"linprog {method}", []).append(time.perf_counter() - tic)
        if x is not None:
            worst_gap = max(worst_gap, ((cost * x).sum() - reference.fun) / np.abs(cost).sum())
    step_ms = [r.solver_ms for r in result.log]
    return dict(timings=timings, iterations=iterations, worst_gap=worst_gap, count=len(lps),
                in_search_ms=statistics.median(step_ms), in_search_p90=float(np.percentile(step_ms, 90)))


def summarize_lp(t: dict) -> list[str]:
    lines = ["| LP | solver | median ms | p90 ms | vs ours |", "|---|---|---|---|---|"]
    for block in ("alpha", "beta"):
        ours = statistics.median(t["timings"][block]["HiGHS warm (ours)"])
        for name, values in t["timings"][block].items():
            med = statistics.median(values)
            lines.append(f"| {block} ({len(values)}) | {name} | {med * 1e3:.3f} | "
                         f"{np.percentile(values, 90) * 1e3:.3f} | {med / ours:.1f}x |")
    its = {b: statistics.median(v) for b, v in t["iterations"].items()}
    lines += ["", f"Median simplex iterations per warm solve: alpha {its['alpha']:.0f}, beta "
              f"{its['beta']:.0f}. Oracle time per BCSFW step inside the search (includes building the "
              f"rows, scaling and the exact check): median {t['in_search_ms']:.3f} ms, p90 "
              f"{t['in_search_p90']:.3f} ms. Largest objective gap of our vertices to linprog's optimum "
              f"(relative to sum |cost|, from the 1e-8 safety margin): {t['worst_gap']:.1e}."]
    return lines


def reference_gradient_ms(batch: int = 16, repeats: int = 5) -> float:
    """Forward + backward of one batch through timm hardcorenas_a on this CPU (a lower bound for a
    supernet gradient step: the multipath supernet does more work per image)."""
    import torch

    from supernet.arch import Architecture, timm_arch_def
    from supernet.timm_models import build_timm_model

    torch.set_num_threads(2)
    model = build_timm_model(Architecture.from_arch_def(timm_arch_def("hardcorenas_a")), 1000)
    images, labels = torch.randn(batch, 3, 224, 224), torch.randint(0, 1000, (batch,))
    times = []
    for _ in range(repeats + 1):
        tic = time.perf_counter()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        times.append(time.perf_counter() - tic)
    return statistics.median(times[1:]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few targets and steps (a smoke run)")
    parser.add_argument("--lut", type=Path, help="a latency table JSON: its latency is the main "
                        "resource (default: exact MACs of the imagenet preset)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "solver.md")
    args = parser.parse_args()
    steps, seeds, n_targets, n_random = (200, 1, 4, 20) if args.quick else (2000, 3, 12, 200)

    if args.lut is None:
        space = get_space("imagenet")
        main_resource, params = exact_resources(space)
        resource_note = (
            "**Resource: exact MACs (millions) of the `imagenet` preset, standing in for latency** "
            "(no measured latency table of that preset existed when this ran; formula (3) has the same "
            "form for both; rerun with `--lut FILE.json` for a measured table).")
    else:
        from workers.latency_table import load_table

        table = load_table(args.lut)
        space = table.search_space()
        main_resource, params = table.resource_model(space), exact_resources(space)[1]
        resource_note = (f"**Resource: latency (ms) from the measured table `{args.lut.name}` "
                         f"(device {table.device_name}, preset `{space.name}`).**")
    name, unit = main_resource.name, main_resource.unit
    levels = [(f,) for f in np.linspace(0.05, 0.6, n_targets)]
    print(f"part 1: {len(levels)} {name} targets x {seeds} seeds, {steps} BCSFW steps", flush=True)
    single = projection_runs([main_resource], levels, seeds, steps)
    pairs = [(f, g) for f in np.linspace(0.1, 0.5, max(2, n_targets // 3)) for g in (0.2, 0.4)]
    print(f"part 1b: {len(pairs)} ({name}, params) targets x {seeds} seeds", flush=True)
    double = projection_runs([main_resource, params], pairs, seeds, steps)
    print(f"part 1c: {n_random} random relaxed points, one and two constraints", flush=True)
    random_single = random_runs([main_resource], n_random, seed=1)
    random_double = random_runs([main_resource, params], n_random, seed=2)
    print("part 2: LP timing", flush=True)
    at_30 = [Constraint(r, r.least() + 0.3 * (r.largest() - r.least()))
             for r in (main_resource, params)]
    lp = lp_timing(ConstraintSet(at_30[:1]), steps)
    lp2 = lp_timing(ConstraintSet(at_30), max(steps // 2, 100))
    gradient_ms = reference_gradient_ms()

    import highspy
    import scipy
    version = (f"highspy {highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}."
               f"{highspy.HIGHS_VERSION_PATCH}, scipy {scipy.__version__}")
    report = [
        "# Solver benchmark: projection vs argmax, and the LP time of a BCSFW step", "",
        f"Machine: 2-core AMD EPYC VM ({platform.machine()}), no GPU; shared with other work (times are "
        f"noisy), runs serialised with `flock /tmp/hcn-cpu.lock`. Python {platform.python_version()}, "
        f"{version}.", "",
        "Projection: `solvers.project` returns the exact eq. 13 optimum (the MIP of `solvers/discrete.py`, "
        "warm-started from the alternating-LP path's answer) when the MIP solves within "
        f"`SolverLimits.projection_seconds` = {DEFAULT_LIMITS.projection_seconds:g} s, else the LP path's "
        "answer; 'the LP path alone' is `project(..., exact=False)`, the official alternating LPs plus safe "
        "rounding.", "",
        "Command: `flock /tmp/hcn-cpu.lock .venv/bin/python benchmarks/solver_benchmark.py"
        f"{' --quick' if args.quick else ''}{f' --lut {args.lut}' if args.lut else ''}`", "",
        f"{resource_note} Gradient: a synthetic stand-in for the "
        "supernet, a fixed random preference for heavier blocks plus unit Gaussian noise per step. "
        "Search: `solvers.search` with the official defaults (constant step 0.002, momentum 0.9, "
        f"random block), {steps} steps from the balanced start.", "",
        f"## 1. Discretisation (paper Table 2): {len(single)} searches, one {name} bound each", "",
        f"Bounds at {len(levels)} levels from 5% to 60% of the reachable range "
        f"[{main_resource.least():.1f}, {main_resource.largest():.1f}] {unit}, {seeds} seeds each.",
        "",
        *summarize_projection(single), "",
        "Seed 0, Table 2 layout (bold: over the bound):", "", *table2(single, f"{unit} {name}"), "",
        f"## 1b. Two constraints at once ({name} and params): {len(double)} searches", "",
        *summarize_projection(double), "",
        f"## 1c. Random relaxed points: {n_random} with one {name} bound, {n_random} with {name} and params",
        "",
        "Relaxed points drawn per group from a Dirichlet (concentration 0.3, 1 or 3), each bound at a random "
        "level in 5-60% of its range; the table compares the same three discretisations.", "",
        f"One constraint ({name}):", "", *summarize_projection(random_single, "points"), "",
        f"Two constraints ({name} and params):", "", *summarize_projection(random_double, "points"), "",
        "## 2. LP time per BCSFW step", "",
        f"Goal of issue 4, a BCSFW step's LP under 2 ms: the oracle took {lp['in_search_ms']:.3f} ms "
        f"(median; p90 {lp['in_search_p90']:.3f} ms) per step with one constraint and "
        f"{lp2['in_search_ms']:.3f} ms with two, inside the searches below "
        f"({'met' if max(lp['in_search_p90'], lp2['in_search_p90']) < 2 else 'NOT met'}).", "",
        f"The {lp['count']} LPs of one {steps}-step search under one {name} bound (30% of its range), "
        "replayed in order: our warm-started models, a new HiGHS model per LP, and "
        "`scipy.optimize.linprog` (dual simplex `highs-ds`, and `highs`) on the same LPs, same run.",
        "", *summarize_lp(lp), "",
        f"Two constraints ({name} and params at 30% of their ranges), {lp2['count']} LPs:", "",
        *summarize_lp(lp2), "",
        "For scale: a forward + backward pass of one batch of 16 images (224 px) through timm "
        f"`hardcorenas_a` takes {gradient_ms:.0f} ms on this CPU (median of 5, 2 threads), a lower "
        f"bound for one supernet gradient step; the oracle's median {lp['in_search_ms']:.3f} ms is "
        f"{lp['in_search_ms'] / gradient_ms * 100:.3f}% of it.", "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report))
    print("\n".join(report))


if __name__ == "__main__":
    main()
