"""The machinery behind every option object: a table of allowed values, checked once.

Each option class is a frozen, keyword-only dataclass with a class-level table
``_constraints`` mapping a field to the values it allows (the idea of scikit-learn's
``_parameter_constraints`` and giotto-tda's ``_hyperparameters``). Construction checks every
field against its table and normalises it (an int given for a float, a list for a tuple, ``"4GB"``
for a number of bytes); ``dataclasses.replace`` checks again. Nothing downstream re-validates.

The same table serves the three ways options arrive:

- ``RipsOptions(maxdim=2)``: errors name the argument, in Python's words;
- ``vietoris_rips(X, maxdim=2)``: keyword overrides of a function, merged by
  :meth:`Options.resolve`; unknown names get a "did you mean";
- ``RipsOptions.from_toml(table, file=..., section="homology")``: errors name the file, the
  section and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tda_interp.exceptions import ConfigError

__all__ = [
    "Check",
    "Constraint",
    "InstanceOf",
    "Interval",
    "OneOf",
    "Options",
]


class _Rejected(Exception):
    """A value does not satisfy one constraint (internal; tried against the next one)."""


class Constraint(ABC):
    """One kind of allowed value: :meth:`convert` normalises it or raises ``_Rejected``."""

    @abstractmethod
    def convert(self, value: Any) -> Any:
        """The value, normalised; ``_Rejected`` if this constraint does not allow it."""

    @abstractmethod
    def describe(self) -> str:
        """The allowed values in words ("an int >= 0")."""


@dataclass(frozen=True)
class Interval(Constraint):
    """An int or float in ``[low, high]`` (either end may be open or absent).

    Booleans are never numbers here; an int is accepted for a float (and converted).

    Examples
    --------
    >>> Interval(int, 0, None).convert(3)
    3
    >>> Interval(float, 0, 1, closed="neither").describe()
    'a number in (0, 1)'
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right" or "neither"

    def convert(self, value: Any) -> Any:
        import numpy as np

        if isinstance(value, bool | np.bool_):
            raise _Rejected
        if self.kind is int:
            if not isinstance(value, int | np.integer):
                raise _Rejected
            value = int(value)
        else:
            if not isinstance(value, int | float | np.integer | np.floating):
                raise _Rejected
            value = float(value)
            if math.isnan(value):
                raise _Rejected
        lo_ok = self.low is None or (
            value >= self.low if self.closed in ("both", "left") else value > self.low
        )
        hi_ok = self.high is None or (
            value <= self.high if self.closed in ("both", "right") else value < self.high
        )
        if not (lo_ok and hi_ok):
            raise _Rejected
        return value

    def describe(self) -> str:
        noun = "an int" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            left = "[" if self.closed in ("both", "left") else "("
            right = "]" if self.closed in ("both", "right") else ")"
            return f"{noun} in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{noun} {'>=' if self.closed in ('both', 'left') else '>'} {_num(self.low)}"
        if self.high is not None:
            return f"{noun} {'<=' if self.closed in ('both', 'right') else '<'} {_num(self.high)}"
        return noun


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of values (compared with ``==``; ``None`` may be one of them).

    Examples
    --------
    >>> OneOf(("raise", "drop")).describe()
    "one of 'raise', 'drop'"
    """

    values: tuple[Any, ...]

    def convert(self, value: Any) -> Any:
        for allowed in self.values:
            if value is allowed or (
                type(value) is type(allowed) and value == allowed  # True != 1 here
            ):
                return allowed
        raise _Rejected

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class InstanceOf(Constraint):
    """An instance of some types, optionally converted (``Path`` from ``str``...)."""

    types: tuple[type, ...]
    description: str
    converter: Callable[[Any], Any] | None = None

    def convert(self, value: Any) -> Any:
        if isinstance(value, bool) and bool not in self.types:
            raise _Rejected
        if not isinstance(value, self.types):
            raise _Rejected
        return self.converter(value) if self.converter is not None else value

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class Check(Constraint):
    """Any rule: ``func(value)`` returns the normalised value or raises ``ValueError``,
    ``TypeError`` or :class:`~tda_interp.exceptions.ConfigError` (whose text is kept as the
    reason)."""

    func: Callable[[Any], Any]
    description: str

    def convert(self, value: Any) -> Any:
        try:
            return self.func(value)
        except (ValueError, TypeError) as err:  # a ConfigError is a ValueError
            raise _Rejected(str(err).rstrip(".")) from err

    def describe(self) -> str:
        return self.description


Rule = Constraint | None  # None: the value None is allowed

OptionsT = TypeVar("OptionsT", bound="Options")


def _invalid(
    key: str, value: Any, rules: Sequence[Rule], hint: str, reason: str | None
) -> ConfigError:
    expected = " or ".join(
        "None" if rule is None else rule.describe() for rule in rules
    )  # fmt: skip
    text = f"Expected {key} to be {expected}, got {_show(value)}"
    if reason:
        text += f" ({reason})"
    return ConfigError(
        text + "." + (f" {hint}" if hint else ""),
        key=key,
        expected=expected,
        received=_show(value),
        reason=reason,
        hint=hint,
    )


def _show(value: Any) -> str:
    if isinstance(value, str | int | float | bool | type(None)):
        return repr(value)
    return f"{type(value).__name__} {value!r}"[:200]


@dataclass(frozen=True, kw_only=True)
class Options:
    """Base of the option objects: validation from ``_constraints``, TOML, dicts and merging.

    Subclasses declare their fields with defaults and fill three class-level tables:

    ``_constraints``
        field -> tuple of allowed kinds (:class:`Interval`, :class:`OneOf`, :class:`Check`,
        :class:`InstanceOf`; ``None`` allows the value None). Every field has an entry.
    ``_hints``
        field -> a sentence telling how to fix a bad value (optional).
    ``_not_params``
        fields that change how a result is computed, never what it is (batch size, storage):
        left out of :meth:`params`, hence out of a run's parameters and cache keys.
    """

    _constraints: ClassVar[Mapping[str, tuple[Rule, ...]]] = {}
    _hints: ClassVar[Mapping[str, str]] = {}
    _not_params: ClassVar[frozenset[str]] = frozenset()
    _toml_none: ClassVar[Mapping[str, Any]] = {}  # TOML has no null: this value means None
    _toml_paths: ClassVar[frozenset[str]] = frozenset()  # relative to the config file
    _python_only: ClassVar[frozenset[str]] = frozenset()  # callables and objects: not in TOML

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            rules = self._constraints[f.name]
            value = getattr(self, f.name)
            object.__setattr__(self, f.name, _convert(f.name, value, rules, self._hints))
        self._check()

    def _check(self) -> None:
        """Rules that involve several fields (overridden by subclasses)."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def resolve(
        cls: type[OptionsT], options: OptionsT | None, overrides: Mapping[str, Any], *, caller: str
    ) -> OptionsT:
        """``options`` (or the defaults) with ``overrides`` applied, checked once.

        Parameters
        ----------
        options : instance of this class or None
        overrides : mapping
            Keyword arguments a function received for this class's fields.
        caller : str
            The function's name, for the error on an unknown keyword.
        """
        if options is not None and not isinstance(options, cls):
            raise ConfigError(
                f"{caller}: expected options to be a {cls.__name__} or None, got "
                f"{type(options).__name__}; pass {cls.__name__}(...) or keyword arguments."
            )
        cls._check_names(overrides, caller=caller)
        if options is None:
            return cls(**overrides)
        return dataclasses.replace(options, **overrides) if overrides else options

    @classmethod
    def _check_names(cls, names: Iterable[str], *, caller: str) -> None:
        known = cls.field_names()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError(
                f"{caller} got unknown option(s) {_with_hints(unknown, known)}; "
                f"{cls.__name__} has: {', '.join(known)}.",
                key=unknown[0],
            )

    @classmethod
    def from_toml(
        cls: type[OptionsT],
        table: Mapping[str, Any],
        *,
        file: str | Path,
        section: str,
        base_dir: Path | None = None,
        skip: Iterable[str] = (),
    ) -> OptionsT:
        """Build from one TOML table; errors name the file, the section and the key.

        Parameters
        ----------
        table : mapping
            The parsed section.
        file : str or Path
            The config file (for messages).
        section : str
            Its name (``"homology"``).
        base_dir : Path, optional
            Folder that relative paths (``_toml_paths``) are resolved against.
        skip : iterable of str
            Keys of the section that are not options of this class (read elsewhere).
        """
        skipped = set(skip)
        values = {k: v for k, v in table.items() if k not in skipped}
        known = [name for name in cls.field_names() if name not in cls._python_only]
        unknown = [k for k in values if k not in known]
        if unknown:
            allowed = sorted({*known, *skipped})
            raise ConfigError(
                f"{file}: unknown key(s) {_with_hints(unknown, allowed)} in [{section}]; "
                f"allowed: {', '.join(allowed)}.",
                key=unknown[0],
                section=section,
            )
        for key, none_value in cls._toml_none.items():
            if (
                key in values
                and values[key] == none_value
                and type(values[key]) is type(none_value)
            ):
                values[key] = None
        for key in cls._toml_paths:
            if isinstance(values.get(key), str) and base_dir is not None:
                path = Path(values[key]).expanduser()
                values[key] = path if path.is_absolute() else base_dir / path
        try:
            return cls(**values)
        except ConfigError as err:
            if err.key is None or err.expected is None:
                raise ConfigError(
                    f"{file}: [{section}]: {err}", key=err.key, section=section
                ) from err
            raise ConfigError(
                f"{file}: [{section}] {err.key} must be {err.expected}, got {err.received}"
                + (f" ({err.reason})" if err.reason else "")
                + "."
                + (f" {err.hint}" if err.hint else ""),
                key=err.key,
                section=section,
            ) from err

    @classmethod
    def from_dict(cls: type[OptionsT], data: Mapping[str, Any]) -> OptionsT:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        cls._check_names(data, caller=f"{cls.__name__}.from_dict")
        return cls(**data)

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """Every option as a JSON-safe value (paths and typed values as strings)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def params(self) -> dict[str, Any]:
        """The options that define results: :meth:`to_dict` without ``_not_params``.

        What a run directory records and compares on resume, and what keys the cache.
        """
        return {k: v for k, v in self.to_dict().items() if k not in self._not_params}

    def replace(self: OptionsT, **changes: Any) -> OptionsT:
        """A copy with ``changes`` applied (checked like the constructor)."""
        self._check_names(changes, caller=f"{type(self).__name__}.replace")
        return dataclasses.replace(self, **changes)


def _convert(key: str, value: Any, rules: Sequence[Rule], hints: Mapping[str, str]) -> Any:
    reason = None
    for rule in rules:
        if rule is None:
            if value is None:
                return None
            continue
        try:
            return rule.convert(value)
        except _Rejected as err:
            reason = reason or (str(err) or None)
    raise _invalid(key, value, rules, hints.get(key, ""), reason)


def _with_hints(names: Sequence[str], known: Sequence[str]) -> str:
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, list(known), n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "spec"):  # typed values with a string form (Approximation)
        return str(value.spec)
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    return repr(value)  # objects (an executor, a cache): shown, never compared as params
