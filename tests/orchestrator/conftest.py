"""One reduced pipeline run (tiny space, digits, one device, two targets, a few epochs and steps) through the
real Ray, Ray Tune and MLflow (a temporary SQLite store), shared by the end-to-end and command tests."""
import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from orchestrator.cache import MANIFEST, StageCache
from orchestrator.config import RunConfig, parse_config
from supernet import Architecture, SearchSpace
from tests.stores import own_store
from workers.latency_table import EntryStats, LatencyTable, load_table


def reduced_config(root: Path) -> RunConfig:
    return parse_config({
        "name": "e2e",
        "devices": ["cpu-bs1"],
        "targets": {"cpu-bs1": {"auto": 2}},
        "training": {"heaviest": {"epochs": 2}, "supernet": {"epochs": 1}, "finetune": {"epochs": 1}},
        "search": {"steps": 20, "batch_size": 8},
        # runs compared for the same family need no closed loop (tests/orchestrator/test_closed_loop.py has it)
        "latency": {"protocol": {"contexts": 1, "repeats": 3, "warmup": 2, "runs_per_visit": 3,
                                 "networks_per_process": 40},
                    "retries": 0},
        "tracking": own_store(root, "e2e"),
        "cache_dir": str(root / "cache"),
    })


def uniform_architectures(space: SearchSpace) -> list[Architecture]:
    """Every architecture with one configuration and one depth everywhere (the ``uniform`` strategy's choices)."""
    return [Architecture.uniform(space, c, d) for c in range(space.num_configs) for d in space.depths]


def refile_table(cache: Path, protocol: dict, change: Callable[[str, EntryStats], EntryStats]) -> LatencyTable:
    """Rewrite the cpu-bs1 table in ``cache`` with ``change(key, stats)`` applied to every entry (key ``""``:
    the constant) and file it under the key of ``protocol``, as if it had been measured so."""
    (folder,) = list((cache / "tables").glob("cpu-bs1-*"))
    table = load_table(folder / "table.json")
    manifest = json.loads((folder / MANIFEST).read_text())
    entry = StageCache(cache).entry("tables", {**manifest["inputs"], "protocol": protocol}, "cpu-bs1")
    changed = dataclasses.replace(table, constant=change("", table.constant),
                                  entries={k: change(k, v) for k, v in table.entries.items()})
    changed.save(entry.path / "table.json")
    entry.complete(**{k: v for k, v in manifest.items() if k not in ("key", "inputs", "files")})
    return changed


@dataclass(frozen=True)
class PipelineRun:
    config: RunConfig
    out: Path
    report: str            # report.md as this run wrote it
    pareto: pd.DataFrame   # pareto.csv as this run wrote it


def variant(run: PipelineRun, root: Path, name: str, **changes) -> dict:
    """``run``'s config (as a mapping) named ``name``, on a copy of its cache and with a store of its own,
    both under ``root``, with ``changes``."""
    shutil.copytree(run.out.parent / "cache", root / "cache", ignore=shutil.ignore_patterns(".locks"))
    return dict(run.config.to_dict(), name=name, cache_dir=str(root / "cache"), tracking=own_store(root, name),
                **changes)


def _run(config: RunConfig, out: Path, resume: bool = False) -> PipelineRun:
    import ray

    from orchestrator.pipeline import run_pipeline

    if ray.is_initialized():
        ray.shutdown()
    try:
        report = run_pipeline(config, out, resume=resume)
    finally:
        ray.shutdown()
    return PipelineRun(config, out, report.read_text(), pd.read_csv(out / "pareto.csv"))


def _run_command(config: RunConfig, out: Path, *flags: str) -> PipelineRun:
    """The same through the command line: ``hardcore-nas run --config FILE --out DIR FLAGS``."""
    from orchestrator.cli import main

    path = out.parent / f"{config.name}.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert main(["run", "--config", str(path), "--out", str(out), *flags]) == 0
    return PipelineRun(config, out, (out / "report.md").read_text(), pd.read_csv(out / "pareto.csv"))


@pytest.fixture(scope="session")
def pipeline_runs(tmp_path_factory) -> dict[str, PipelineRun]:
    """``first`` (everything computed), ``second`` (same config and cache, new output folder: the
    table and supernet are reused) and ``resumed`` (``hardcore-nas run --resume`` of the finished
    second run)."""
    root = tmp_path_factory.mktemp("pipeline")
    config = reduced_config(root)
    first = _run(config, root / "first")
    second = _run(config, root / "second")
    resumed = _run_command(config, root / "second", "--resume")
    return {"first": first, "second": second, "resumed": resumed}
