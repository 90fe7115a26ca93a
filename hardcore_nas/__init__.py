"""What every package of hardcore-nas shares: the one user-facing error type, the one content hash,
and the files an installed copy needs (the example configs and ``cluster.yaml``).

``orchestrator``, ``workers``, ``supernet`` and ``solvers`` depend on this package and it on none of
them; it imports nothing heavy, so ``hardcore-nas --help`` stays instant.
"""
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hardcore_nas.errors import UsageError

from .hashing import content_hash

__all__ = ["UsageError", "content_hash", "packaged_file", "__version__"]

try:
    __version__ = version("hardcore-nas")
except PackageNotFoundError:     # a source tree used without installing
    __version__ = "0+unknown"


def packaged_file(name: str) -> Path:
    """A file shipped with the package: ``cluster.yaml`` or ``configs/<name>.yaml``.

    In a clone they are the top-level ``cluster.yaml`` and ``configs/`` (``hardcore_nas/data`` links to
    them); an installed wheel carries copies, so the same call works outside the clone.
    """
    path = Path(str(resources.files(__name__) / "data" / name))
    if not path.is_file():
        raise UsageError(f"{name} is not among the packaged files; they are cluster.yaml and configs/*.yaml")
    return path
