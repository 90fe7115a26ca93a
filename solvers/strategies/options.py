"""Options of a search strategy: one frozen dataclass each, validated once, where it is built.

Checks in the style of scikit-learn's ``check_scalar``; an :class:`OptionError` names the option and
what it accepts, and the config parser and the CLI prefix it with the key or flag the user wrote.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["OptionError", "StrategyOptions", "check_scalar", "check_choice"]

T = TypeVar("T", bound="StrategyOptions")


class OptionError(ValueError):
    """A bad strategy option: ``option`` is its name, ``allowed`` what would work, ``value`` what came."""

    def __init__(self, option: str, allowed: str, value: Any):
        super().__init__(f"option '{option}' must be {allowed}, got {value!r}")
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
    number_types = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, number_types) or not math.isfinite(value):
        raise OptionError(name, allowed, value)
    if min_val is not None and (value < min_val or (value == min_val and not left)):
        raise OptionError(name, allowed, value)
    if max_val is not None and (value > max_val or (value == max_val and not right)):
        raise OptionError(name, allowed, value)
    return kind(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise OptionError(name, "one of " + ", ".join(choices), value)
    return value


@dataclass(frozen=True)
class StrategyOptions:
    """Base of every strategy's options; subclasses add fields and :meth:`validate` them."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`OptionError` for a bad field."""

    @property
    def progress_steps(self) -> int:
        """Units a progress bar counts for this search (steps, generations, architectures)."""
        return 1

    def budget_images(self) -> int:
        """Validation images the search passes through w* at most (the budget the benchmark equalises)."""
        raise NotImplementedError

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls: type[T], raw: Mapping[str, Any]) -> T:
        """Build from a mapping (a config section, or the CLI's ``key=value`` strings, converted to each
        field's type); unknown keys raise :class:`OptionError` naming the known ones."""
        hints = typing.get_type_hints(cls)
        names = cls.field_names()
        values = {}
        for key, value in raw.items():
            if key not in names:
                raise OptionError(key, f"one of the options {', '.join(names)}", value)
            values[key] = _convert(value, hints[key], key)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convert(value: Any, kind: Any, name: str) -> Any:
    """Strings from the command line to the field's type; anything else is left to ``validate``."""
    if not isinstance(value, str) or kind is str:
        return value
    try:
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
    except ValueError:
        raise OptionError(name, "an integer" if kind is int else "a number", value) from None
    return value
