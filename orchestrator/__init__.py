"""CLI, configuration, pipeline driver, Ray fan-out, MLflow tracking and reports."""
from supernet.errors import UsageError

__all__ = ["UsageError"]
