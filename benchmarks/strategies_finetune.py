"""Fine-tune the families of the best two strategies of ``benchmarks/strategies.py`` with one recipe and
report their test top-1 (what the proxy signal stands for).

For each chosen strategy and each constraint set of ``--seed``, the architecture in ``strategies.csv``
is sliced from w*, its BN statistics re-estimated, and KD fine-tuned from w-bar with the tiny recipe's
fine-tune stage (``--epochs`` of it), in this process with 1 torch thread, exactly as the pipeline's
fine-tune trial does (``workers.finetune.finetune_trial``) minus Ray Tune. Architectures shared by both
strategies are trained once. Appends ``strategies_finetune.csv``.

    python -m benchmarks.strategies_finetune --supernet /tmp/strat_supernet --strategies bcsfw,evolution
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", type=Path, default=Path("/tmp/strat_supernet"))
    parser.add_argument("--strategies", default="bcsfw,evolution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", default=None, help="comma-separated constraint sets (default all)")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tune epochs (the default run uses 3)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from supernet.arch import Architecture
    from supernet.checkpoints import STAGE_FILES, load_heaviest, load_supernet
    from supernet.data import load_data, make_loader
    from supernet.extract import extract_subnet
    from supernet.recipes import get_recipe
    from supernet.space import get_space
    from supernet.training import evaluate, finetune_subnet, recalibrate_bn

    space = get_space("tiny")
    net, meta = load_supernet(args.supernet / STAGE_FILES["supernet"], space)
    teacher, _ = load_heaviest(args.supernet / STAGE_FILES["heaviest"], space)
    teacher.eval().requires_grad_(False)
    seed = meta.get("seed", 0)
    splits = load_data(meta.get("data", "digits"), space.input_size, seed=seed)
    recipe = get_recipe("tiny").finetune.replace(epochs=args.epochs)
    strategies = args.strategies.split(",")
    with (RESULTS / "strategies.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["strategy"] in strategies and int(r["seed"]) == args.seed
                and (args.sets is None or r["constraint_set"] in args.sets.split(","))]
    trained: dict[str, float] = {}
    out = RESULTS / "strategies_finetune.csv"
    new = not out.exists()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["strategy", "constraint_set", "seed", "epochs", "signal",
                                               "test_top1", "seconds", "arch"])
        if new:
            writer.writeheader()
        for r in rows:
            tic = time.perf_counter()
            if r["arch"] not in trained:
                torch.manual_seed(seed)
                arch = Architecture.from_string(r["arch"], space)
                student = extract_subnet(net, arch)
                recalibrate_bn(student, make_loader(splits.train, recipe.batch_size, train=True, seed=seed))
                student.train().requires_grad_(True)
                finetune_subnet(student, teacher, make_loader(splits.train, recipe.batch_size, train=True, seed=seed),
                                recipe)
                trained[r["arch"]] = evaluate(student, make_loader(splits.test, 256, train=False))
            row = {"strategy": r["strategy"], "constraint_set": r["constraint_set"], "seed": r["seed"],
                   "epochs": args.epochs, "signal": r["signal"], "test_top1": trained[r["arch"]],
                   "seconds": round(time.perf_counter() - tic, 1), "arch": r["arch"]}
            writer.writerow(row)
            f.flush()
            print(f"{r['constraint_set']:<14} {r['strategy']:<13} test top-1 {trained[r['arch']]:.1f}", flush=True)


if __name__ == "__main__":
    main()
