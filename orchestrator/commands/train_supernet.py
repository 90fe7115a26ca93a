"""``hardcore-nas train-supernet``: train w-bar (the heaviest network), then w* (the multipath supernet).

A stage whose checkpoint is already in ``--out`` (same space, data and classes) is loaded instead of
retrained, unless ``--force``; retraining w-bar retrains w*. Prints, and writes to ``metrics.json``, the
held-out top-1 (%) of w-bar and of subnets extracted from w* (lightest, heaviest, random ones), as
extracted and after re-estimating their BatchNorm statistics on a few training batches.
"""
from __future__ import annotations

import argparse

METRICS_FILE = "metrics.json"
EVAL_BATCH, BN_BATCH, BN_BATCHES = 256, 128, 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", default="tiny", help="search-space preset (default tiny)")
    parser.add_argument("--width-multiplier", type=float, default=1.0,
                        help="channel width multiplier of the preset (default 1.0)")
    parser.add_argument("--data", default="digits",
                        help="a data source: digits (bundled, offline; default), fashion-mnist[:ROOT], "
                             "cifar10:ROOT, cifar100:ROOT or imagenet:ROOT (ROOT/train and ROOT/val class folders)")
    parser.add_argument("--recipe", default=None,
                        help="training recipe: tiny or imagenet (default: the space's name if it is a "
                             "recipe, else tiny)")
    parser.add_argument("--epochs-heaviest", type=int, default=None, help="override the recipe's w-bar epochs")
    parser.add_argument("--epochs-supernet", type=int, default=None, help="override the recipe's w* epochs")
    parser.add_argument("--out", default="runs/supernet", help="output folder (default runs/supernet)")
    parser.add_argument("--force", action="store_true", help="retrain stages whose checkpoints exist")
    parser.add_argument("--random-subnets", type=int, default=5,
                        help="random architectures extracted from w* and evaluated (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all usable CPUs)")
    parser.add_argument("--workers", type=int, default=0, help="data-loading worker processes (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, batches and paths")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch

    from hardcore_nas.errors import UsageError
    from supernet.data import load_data
    from supernet.recipes import get_recipe, list_recipes
    from supernet.space import get_space
    from supernet.training import configure_cpu

    space = get_space(args.space, args.width_multiplier)
    if args.random_subnets < 0:
        raise UsageError(f"--random-subnets must be >= 0, got {args.random_subnets}")
    recipe = get_recipe(args.recipe or (args.space if args.space in list_recipes() else "tiny"))
    for stage, epochs in (("heaviest", args.epochs_heaviest), ("supernet", args.epochs_supernet)):
        if epochs is not None:
            recipe = recipe.replace(**{stage: {"epochs": epochs}})
    configure_cpu(args.threads)
    data = load_data(args.data, space.input_size, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)

    stages = _Stages(args, space, recipe, data, out)
    wbar, wbar_wall_s = stages.heaviest()
    wstar, wstar_wall_s = stages.supernet(wbar)
    report = {
        "space": space.name, "width_multiplier": space.width_multiplier, "space_hash": space.hash,
        "data": args.data, "num_classes": data.num_classes, "recipe": recipe.name,
        "test_images": len(data.test), "chance_top1": 100.0 / data.num_classes,
        "bn_recalibration_images": BN_BATCH * BN_BATCHES,
        "heaviest": {"test_top1": stages.test_top1(wbar), "wall_s": wbar_wall_s},
        "supernet": {"wall_s": wstar_wall_s},
        "subnets": stages.subnets(wstar),
    }
    (out / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n")
    _print_report(report, out / METRICS_FILE)
    return 0


class _Stages:
    """The two training stages (train or reuse a checkpoint) and the evaluation of extracted subnets."""

    def __init__(self, args, space, recipe, data, out):
        from supernet.data import make_loader

        self.args, self.space, self.recipe, self.data = args, space, recipe, data
        from supernet.checkpoints import STAGE_FILES, stage_file

        self.out = out
        self.paths = {stage: stage_file(out, stage) for stage in STAGE_FILES}
        self.val_loader = make_loader(data.val, EVAL_BATCH, train=False, num_workers=args.workers)
        self.test_loader = make_loader(data.test, EVAL_BATCH, train=False, num_workers=args.workers)
        self.context = {"data": args.data, "seed": args.seed}
        self.retrain_supernet = False

    def _train_loader(self, batch_size: int, seed: int, augment: bool = True):
        from supernet.data import make_loader

        return make_loader(self.data.training_set(augment), batch_size, train=True, seed=seed,
                           num_workers=self.args.workers)

    def _reusable(self, stage: str) -> bool:
        from hardcore_nas.errors import UsageError
        from supernet.checkpoints import read_sidecar

        path = self.paths[stage]
        if self.args.force or not path.is_file():
            return False
        meta = read_sidecar(path, self.space, stage)
        if meta.get("data") != self.args.data or meta["num_classes"] != self.data.num_classes:
            raise UsageError(f"{path} was trained on {meta.get('data')!r} ({meta['num_classes']} classes), "
                             f"not {self.args.data!r}; pass --force to retrain or choose another --out")
        return True

    def _save(self, stage: str, model, history: list, wall_s: float) -> None:
        from supernet.checkpoints import save_stage

        save_stage(self.out, stage, model, space=self.space, num_classes=self.data.num_classes, recipe=self.recipe,
                   metrics={"wall_s": wall_s, "history": history}, context=self.context)
        print(f"{stage}: trained in {wall_s:.0f} s -> {self.paths[stage]}")

    def heaviest(self):
        """w-bar and its training wall time (from the sidecar when reused)."""
        import time

        from supernet.checkpoints import load_heaviest
        from supernet.training import train_heaviest

        if self._reusable("heaviest"):
            model, meta = load_heaviest(self.paths["heaviest"], self.space)
            print(f"heaviest: loaded {self.paths['heaviest']}")
            return model, meta["metrics"].get("wall_s")
        start = time.perf_counter()
        recipe = self.recipe.heaviest
        model, history = train_heaviest(self.space, self.data.num_classes,
                                        self._train_loader(recipe.batch_size, self.args.seed, recipe.augment), recipe,
                                        val_loader=self.val_loader)
        wall_s = time.perf_counter() - start
        self._save("heaviest", model, history, wall_s)
        self.retrain_supernet = True  # w* is derived from w-bar
        return model, wall_s

    def supernet(self, wbar):
        """w* and its training wall time (from the sidecar when reused)."""
        import time

        from supernet.checkpoints import load_supernet
        from supernet.training import train_supernet

        if not self.retrain_supernet and self._reusable("supernet"):
            net, meta = load_supernet(self.paths["supernet"], self.space)
            print(f"supernet: loaded {self.paths['supernet']}")
            return net, meta["metrics"].get("wall_s")
        start = time.perf_counter()
        recipe = self.recipe.supernet
        net, history = train_supernet(self.space, wbar,
                                      self._train_loader(recipe.batch_size, self.args.seed, recipe.augment),
                                      recipe, num_classes=self.data.num_classes, val_loader=self.val_loader,
                                      seed=self.args.seed)
        wall_s = time.perf_counter() - start
        self._save("supernet", net, history, wall_s)
        return net, wall_s

    def test_top1(self, model) -> float:
        from supernet.training import evaluate

        return evaluate(model, self.test_loader)

    def subnets(self, wstar) -> list[dict]:
        """Held-out top-1 of the lightest, heaviest and random subnets, as extracted and BN-recalibrated."""
        import numpy as np

        from supernet.arch import Architecture
        from supernet.extract import extract_subnet
        from supernet.training import recalibrate_bn

        rng = np.random.default_rng(self.args.seed)
        archs = {"lightest": Architecture.lightest(self.space), "heaviest": Architecture.heaviest(self.space)}
        archs.update({f"random{i + 1}": Architecture.random(self.space, rng)
                      for i in range(self.args.random_subnets)})
        rows = []
        for name, arch in archs.items():
            model = extract_subnet(wstar, arch).eval()
            row = {"name": name, "test_top1": self.test_top1(model)}
            calibration = self._train_loader(BN_BATCH, self.args.seed + 1)
            row["test_top1_bn_recalibrated"] = self.test_top1(recalibrate_bn(model, calibration, BN_BATCHES))
            row.update(params=sum(p.numel() for p in model.parameters()), depths=list(arch.depths),
                       arch=str(arch))
            rows.append(row)
        return rows


def _print_report(report: dict, path) -> None:
    print(f"held-out top-1 on {report['test_images']} {report['data']} test images "
          f"(chance {report['chance_top1']:.1f}%):")
    print(f"  {'w-bar (heaviest, trained alone)':<34}{report['heaviest']['test_top1']:6.2f}%")
    print(f"  {'w* subnets':<34}{'extracted':>9}  {'BN recal.':>9}  {'params':>10}")
    for sub in report["subnets"]:
        print(f"  {'  ' + sub['name']:<34}{sub['test_top1']:8.2f}%  {sub['test_top1_bn_recalibrated']:8.2f}%"
              f"  {sub['params']:>10,}")
    print(f"wrote {path}")
