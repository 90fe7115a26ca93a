"""MLflow: one parent run per ``hardcore-nas run``, nested runs per stage, search and fine-tune, and the
Model Registry entries of the family.

Runs are written through an explicit :class:`mlflow.MlflowClient` with run ids (no global "active run"
stack), so stages and threads cannot log into each other's runs. The one exception is
:meth:`Tracker.log_model`: MLflow logs models only into an active run, so it opens the member's run
around that call (MLflow keeps the active run per thread). Each model is logged twice: as torch
(:meth:`Tracker.log_model`) and as ONNX for ONNX Runtime (:meth:`Tracker.log_onnx_model`). Registered
models are named ``hardcore-nas-<dataset>-<device>``; each family member is a version with an alias per target
(:func:`target_alias`) and tags that say what it is and how it measured.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardcore_nas import UsageError

from .locks import exclusive_lock

__all__ = ["Tracker", "Registration", "check_reachable", "registered_model_name", "target_alias", "flatten_params"]

_BATCH = 1000   # MLflow's limit of metrics per log_batch call


def registered_model_name(dataset: str, device: str) -> str:
    return f"hardcore-nas-{dataset}-{device}"


def target_alias(target_ms: float) -> str:
    """``t40ms`` for 40 ms, ``t0p85ms`` for 0.85 ms (aliases allow letters, digits, ``_`` and ``-``)."""
    return f"t{target_ms:g}ms".replace(".", "p")


def flatten_params(params: Mapping, prefix: str = "") -> dict[str, str]:
    """Nested config mappings as flat ``a.b`` MLflow params (values as text, 500 characters at most)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:500]
    return flat


@dataclass(frozen=True)
class Registration:
    """One registered version: where it lives and how to load it."""
    name: str
    version: int
    alias: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail in one line, before any work, when a tracking server does not answer (MLflow's own client
    would retry for minutes); a local store (``sqlite:``, a path) needs no check."""
    import urllib.error
    import urllib.request

    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s).close()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"tracking server {uri} does not answer ({reason}); start it, or set tracking.uri "
                         f"to a local store such as sqlite:///mlflow.db") from None


@contextmanager
def _first_use_lock(uri: str) -> Iterator[None]:
    """One process at a time through a SQLite store's first use: MLflow creates and migrates its tables
    then, and two runs doing it at once on a new ``mlflow.db`` fail ("duplicate column name"), as would
    two creating the same experiment. A server store serialises this itself."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    with exclusive_lock(Path(f"{uri.removeprefix('sqlite:///')}.lock")):
        yield


class Tracker:
    """An experiment in one tracking store, with a local (or remote) artifact root."""

    def __init__(self, uri: str, experiment: str, artifact_root: str):
        import mlflow

        check_reachable(uri)

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        self.uri = uri
        with _first_use_lock(uri):
            self.client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            self.client.search_registered_models(max_results=1)      # the registry's tables, made now
            found = self.client.get_experiment_by_name(experiment)
            if found is None:
                location = artifact_root if "://" in artifact_root else Path(artifact_root).resolve().as_uri()
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
            else:
                self.experiment_id = found.experiment_id
        self.parent_id: str | None = None

    # --- runs --------------------------------------------------------------------------------
    def start_parent(self, name: str, params: Mapping, tags: Mapping | None = None,
                     resume_id: str | None = None) -> str:
        """The run of one ``hardcore-nas run``, or the interrupted one resumed: then its nested runs still
        RUNNING (their driver died before it could end them) end as KILLED, since what they were doing is
        done again."""
        if resume_id is not None:
            self.client.update_run(resume_id, status="RUNNING")
            self.parent_id = resume_id
            for run in self.client.search_runs(
                    [self.experiment_id], max_results=10_000,
                    filter_string=f"tags.mlflow.parentRunId = '{resume_id}' and attributes.status = 'RUNNING'"):
                self.client.set_terminated(run.info.run_id, status="KILLED")
            return resume_id
        run = self.client.create_run(self.experiment_id, run_name=name,
                                     tags={k: str(v) for k, v in (tags or {}).items()})
        self.parent_id = run.info.run_id
        self.log_params(self.parent_id, flatten_params(params))
        return self.parent_id

    def child(self, name: str, params: Mapping | None = None, tags: Mapping | None = None) -> str:
        """A run nested under the parent run."""
        all_tags = {"mlflow.parentRunId": self.parent_id, **{k: str(v) for k, v in (tags or {}).items()}}
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        if params:
            self.log_params(run.info.run_id, flatten_params(params))
        return run.info.run_id

    @contextmanager
    def child_run(self, name: str, params: Mapping | None = None, tags: Mapping | None = None) -> Iterator[str]:
        """A nested run for the length of a ``with`` block: FINISHED at its end, FAILED on an error."""
        run_id = self.child(name, params, tags)
        try:
            yield run_id
        except BaseException:
            self.end(run_id, failed=True)
            raise
        self.end(run_id)

    def end(self, run_id: str, failed: bool = False) -> None:
        self.client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")

    def run_exists(self, run_id: str | None) -> bool:
        from mlflow.exceptions import MlflowException

        if not run_id:
            return False
        try:
            self.client.get_run(run_id)
        except MlflowException:
            return False
        return True

    # --- data --------------------------------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i:i + 100])

    def log_metrics(self, run_id: str, rows: Iterable[tuple[int, Mapping[str, float]]]) -> None:
        """``rows`` of ``(step, {name: value})``; non-finite values are skipped."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, int(step)) for step, values in rows for k, v in values.items()
                   if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and np.isfinite(v)]
        for i in range(0, len(metrics), _BATCH):
            self.client.log_batch(run_id, metrics=metrics[i:i + _BATCH])

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_artifact(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    # --- models ------------------------------------------------------------------------------
    def log_model(self, run_id: str, model, input_example: np.ndarray) -> str:
        """Log a torch model (pt2: ``torch.export``) with its signature and input example; its URI."""
        import mlflow
        import timm
        import torch
        from mlflow.models import infer_signature

        model = model.eval()
        with torch.no_grad():
            output = model(torch.as_tensor(input_example)).numpy()
        requirements = [f"torch=={torch.__version__.split('+')[0]}", f"timm=={timm.__version__}"]
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pytorch.log_model(model, name="model", input_example=input_example,
                                            signature=infer_signature(input_example, output),
                                            pip_requirements=requirements)
        return info.model_uri

    def log_onnx_model(self, run_id: str, model, input_example: np.ndarray, name: str = "onnx_model") -> str:
        """Log ``model`` as ONNX beside its torch model (same signature and example); its URI.

        Exported as the ONNX Runtime latency backend exports what it times (module paths in node names),
        with a free batch axis for serving.
        """
        import mlflow
        import onnx
        import onnxruntime
        import torch
        from mlflow.models import infer_signature

        from workers.backends.onnxruntime import export_onnx

        model = model.eval()
        example = torch.as_tensor(input_example)
        with torch.no_grad():
            output = model(example).numpy()
        onnx_model = onnx.load_from_string(export_onnx(model, example, dynamic_batch=True))
        requirements = [f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"]
        with mlflow.start_run(run_id=run_id):
            info = mlflow.onnx.log_model(onnx_model, name=name, input_example=input_example,
                                         signature=infer_signature(input_example, output),
                                         pip_requirements=requirements,
                                         onnx_execution_providers=["CPUExecutionProvider"])
        return info.model_uri

    def register(self, model_uri: str, name: str, alias: str, tags: Mapping, description: str,
                 identity: tuple[str, ...] = ()) -> Registration:
        """A new version of ``name`` from ``model_uri`` with ``tags``; ``alias`` moves to it.

        A version whose ``identity`` tags (names in ``tags``) equal these is that same member registered
        before its run was interrupted: it is kept, not registered twice.
        """
        import mlflow
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description=description)
        tags = {k: str(v) for k, v in tags.items()}
        same = " and ".join([f"name = '{name}'", *(f"tags.{k} = '{tags[k]}'" for k in identity)])
        found = self.client.search_model_versions(same) if identity else []
        version = found[0] if found else mlflow.register_model(model_uri, name, tags=tags)
        self.client.set_registered_model_alias(name, alias, version.version)
        return Registration(name, int(version.version), alias)
