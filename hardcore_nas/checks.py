"""Checks of what a user's file can bring in: numbers, settings, records, JSON text, and where a file lies.

Every failure is a :class:`UsageError` (one line: the file or key, what is wrong, what would work), so a
hostile file (NaN, 10**400, a list for a number, bytes that are not UTF-8, a symlink out of a run folder)
ends a command with a message, never a traceback. Scalar checks follow scikit-learn's ``check_scalar``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import reprlib
import types
import typing
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["INT64_MAX", "OptionError", "check_choice", "check_inside", "check_record", "check_scalar",
           "is_number", "read_json", "short"]

INT64_MAX = 2**63 - 1       # numpy and torch hold integers in 64 bits; a larger one cannot reach them

_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlong = 60, 60, 40


def short(value: Any) -> str:
    """``repr(value)`` cut to a short line: a hostile file may hold a megabyte string or 10**400."""
    return _repr.repr(value)


def is_number(value: Any, kind: type = float) -> bool:
    """Whether ``value`` is a finite ``kind``: an int within int64, or (``float``) such an int or a finite
    float. Never a bool (YAML reads ``yes`` as one)."""
    if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)):
        return False
    return -INT64_MAX - 1 <= value <= INT64_MAX if isinstance(value, int) else math.isfinite(value)


class OptionError(UsageError):
    """A bad setting: ``option`` is its name, ``allowed`` what would work, ``value`` what came; callers that
    know the key the user wrote (``search.gamma``, ``--option gamma=...``) re-word it."""

    def __init__(self, option: str, allowed: str, value: Any):
        super().__init__(f"option '{option}' must be {allowed}, got {short(value)}")
        self.option, self.allowed, self.value = option, allowed, value


def check_scalar(value: Any, name: str, kind: type, *, min_val: float | None = None,
                 max_val: float | None = None, include_boundaries: str = "both") -> Any:
    """``value`` as ``kind`` (int or float) within ``[min_val, max_val]`` (``include_boundaries``:
    ``"both"``, ``"left"``, ``"right"`` or ``"neither"``), else :class:`OptionError`."""
    left = include_boundaries in ("both", "left")
    right = include_boundaries in ("both", "right")
    allowed = "an integer" if kind is int else "a number"
    if min_val is not None:
        allowed += f" {'>=' if left else '>'} {min_val:g}"
    if max_val is not None:
        allowed += f"{' and' if min_val is not None else ''} {'<=' if right else '<'} {max_val:g}"
    if not is_number(value, kind):
        raise OptionError(name, allowed, value)
    if min_val is not None and (value < min_val or (value == min_val and not left)):
        raise OptionError(name, allowed, value)
    if max_val is not None and (value > max_val or (value == max_val and not right)):
        raise OptionError(name, allowed, value)
    return kind(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise OptionError(name, "one of " + ", ".join(choices), value)
    return value


def check_record(raw: Any, cls: type, where: str, *, nan: bool = False) -> dict:
    """``raw`` as keyword arguments of the dataclass ``cls``: a mapping of its fields (those without a
    default required, no others), each of its annotated type (``str``, ``int``, ``float``, ``bool``,
    ``dict[str, T]``, ``T | None``). Floats are finite; with ``nan``, NaN too (a field not known yet)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: must be an object with {', '.join(fields)}, got {short(raw)}")
    hints = typing.get_type_hints(cls)
    missing = [name for name, f in fields.items() if name not in raw and _required(f)]
    unknown = sorted(set(raw) - set(fields))
    if missing or unknown:
        what = f"lacks '{missing[0]}'" if missing else f"has the unknown key {short(unknown[0])}"
        raise UsageError(f"{where} {what}; its keys are {', '.join(fields)}")
    for name, value in raw.items():
        if not _fits(value, hints[name], nan):
            noun = _noun(hints[name])
            raise UsageError(f"{where}: '{name}' must be {'an' if noun[0] in 'aeiou' else 'a'} {noun}, "
                             f"got {short(value)}")
    return raw


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _fits(value: Any, kind: Any, nan: bool) -> bool:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, arg, nan) for arg in args)
    if kind is type(None):
        return value is None
    if kind is dict or origin is dict:
        return isinstance(value, dict) and (not args or all(
            isinstance(k, str) and _fits(v, args[1], nan) for k, v in value.items()))
    if kind is bool:
        return isinstance(value, bool)
    if kind in (int, float):
        return is_number(value, kind) or (nan and kind is float and isinstance(value, float) and math.isnan(value))
    return isinstance(value, kind)


def _noun(kind: Any) -> str:
    names = {str: "string", int: "integer", float: "finite number", bool: "boolean", dict: "object",
             type(None): "null"}
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        return " or ".join(_noun(arg) for arg in typing.get_args(kind))
    if typing.get_origin(kind) is dict:
        return f"object of {_noun(typing.get_args(kind)[1])} values"
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def read_json(path: Path, what: str, *, allow_nan: bool = False) -> Any:
    """The JSON document in ``path`` (``what`` names the kind of file in messages). Refused in one line:
    an unreadable or empty file, bytes that are not UTF-8, text that is not JSON, NaN or Infinity (unless
    ``allow_nan``), an integer of more digits than Python converts, nesting deeper than the parser goes."""
    def refuse(constant: str):
        raise UsageError(f"{what} {path} holds {constant}; its numbers must be finite")

    try:
        text = path.read_bytes().decode("utf-8")
        if not text.strip():
            raise UsageError(f"{what} {path} is empty")
        return json.loads(text, parse_constant=None if allow_nan else refuse)
    except OSError as exc:
        raise UsageError(f"{what} {path} cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} {path} is not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise UsageError(f"{what} {path} is not JSON this reader takes (nested too deeply)") from None
    except UsageError:
        raise
    except ValueError as exc:     # an integer of more than 4300 digits
        raise UsageError(f"{what} {path} is not JSON this reader takes ({str(exc).splitlines()[0]})") from None


def check_inside(path: Path, folder: Path, what: str) -> Path:
    """``path`` if it lies in ``folder`` with every symlink resolved, else a :class:`UsageError`.

    The rule for files the tool names itself inside its own folders (``<out>/state.json``, a cache entry's
    files, a supernet folder's checkpoints): a symlink out of the folder is refused, since the tool would
    read, and later overwrite, a file it never wrote. A path the user gives (``--config``, ``--lut``) may
    be anywhere."""
    real, root = path.resolve(), folder.resolve()
    if not real.is_relative_to(root):
        raise UsageError(f"{what} {path} is a symlink to {real}, outside {root}; remove the link (files the "
                         f"tool keeps in its folders must lie inside them)")
    return path
