"""A reader of the IDX format (MNIST's and Fashion-MNIST's files), plain or gzip-compressed.

Layout: two zero bytes, a type code, the number of dimensions, each dimension as a big-endian uint32,
then the values big-endian in C order. http://yann.lecun.com/exdb/mnist/ describes it.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from hardcore_nas.errors import UsageError

__all__ = ["IDX_DTYPES", "parse_idx", "read_idx", "write_idx"]

IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """The array in an IDX file (``.gz`` or not: told by content); a bad or truncated file is a UsageError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:  # IDX starts with two zero bytes, so no IDX file looks like gzip
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot read IDX file {path}: {reason}") from None
    return parse_idx(raw, path)


def parse_idx(raw: bytes, name: str | Path = "<bytes>") -> np.ndarray:
    """The array in IDX bytes, in native byte order; ``name`` is for the error messages."""
    if len(raw) < 4:
        raise UsageError(f"IDX file {name} is truncated: {len(raw)} bytes, no header")
    if raw[:2] != b"\0\0":
        raise UsageError(f"{name} is not an IDX file (magic number 0x{raw[:4].hex()}, expected 0x0000TTNN)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise UsageError(f"IDX file {name} has unknown type code 0x{code:02x} (known: "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)})")
    if ndim == 0:
        raise UsageError(f"IDX file {name} declares 0 dimensions")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise UsageError(f"IDX file {name} is truncated: its header needs {offset} bytes, it has {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:offset])
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - offset != expected:
        what = "truncated" if len(raw) - offset < expected else "too long"
        raise UsageError(f"IDX file {name} is {what}: shape {dims} needs {expected} data bytes, "
                         f"it has {len(raw) - offset}")
    values = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=offset)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX (gzip-compressed when ``compress``, or by default when the name ends in .gz)."""
    path = Path(path)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    array = np.asarray(array)
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX has no type for {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(IDX_DTYPES[code], copy=False).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path
