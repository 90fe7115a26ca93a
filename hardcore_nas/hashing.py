"""The project's one content hash: what cache keys, space hashes and table checksums are made of."""
from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["content_hash"]


def content_hash(obj: Any, length: int | None = 16) -> str:
    """SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces), as hex.

    ``length`` hex digits are kept (16 for names of cache folders and spaces; ``None`` for the whole
    digest, as a file's checksum needs). Values JSON cannot hold are written with ``str``; NaN and
    infinities are refused, since JSON has no spelling for them that every reader agrees on.
    """
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()
    return digest if length is None else digest[:length]
