"""CLI, configuration, pipeline driver, Ray fan-out, MLflow tracking and reports."""
from hardcore_nas.errors import UsageError

__all__ = ["UsageError"]
