"""Options of a search strategy: one frozen dataclass each, validated once, where it is built.

Checks in the style of scikit-learn's ``check_scalar`` (:mod:`hardcore_nas.checks`, shared with the
recipes and the latency protocol); an :class:`OptionError` names the option and what it accepts, and the
config parser and the CLI prefix it with the key or flag the user wrote.
"""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from hardcore_nas.checks import OptionError, check_choice, check_scalar

__all__ = ["OptionError", "StrategyOptions", "check_scalar", "check_choice"]

T = TypeVar("T", bound="StrategyOptions")


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
