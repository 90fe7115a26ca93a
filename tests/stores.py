"""The tests' way into a run's MLflow store."""
from pathlib import Path

import mlflow


def own_store(root: Path, experiment: str) -> dict:
    """A run config's ``tracking`` block for an MLflow store of its own under ``root``."""
    return {"uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts"),
            "experiment": experiment}


def store_client(uri: str) -> mlflow.MlflowClient:
    """A client of the store at ``uri``, tracking and model registry both, with the process-wide URIs
    pointed there too (``models:/`` loads follow those). Both are set because a registry URI left unset
    follows the process-wide one, which an earlier test's in-process run may have pointed elsewhere."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
