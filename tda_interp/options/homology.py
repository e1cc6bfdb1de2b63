"""How a point cloud becomes a diagram: :class:`RipsOptions` and its :class:`Approximation`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from tda_interp.exceptions import ConfigError
from tda_interp.options._base import Check, Interval, OneOf, Options

__all__ = [
    "BACKENDS",
    "DEFAULT_APPROXIMATION",
    "DEFAULT_MEMORY_BUDGET",
    "MAX_MAXDIM",
    "METRICS",
    "Approximation",
    "ApproximationMode",
    "Backend",
    "Metric",
    "RipsOptions",
    "parse_memory",
]

Metric: TypeAlias = Literal["euclidean", "cosine", "correlation", "abs_correlation", "precomputed"]
"""Distances between points; ``"precomputed"``: the input already is a distance matrix."""
METRICS: tuple[str, ...] = ("euclidean", "cosine", "correlation", "abs_correlation", "precomputed")

Backend: TypeAlias = Literal["auto", "gudhi", "giotto-ph", "ripser"]
BACKENDS: tuple[str, ...] = ("auto", "gudhi", "giotto-ph", "ripser")

#: Highest homology dimension accepted (H3 of a few hundred points is already hours).
MAX_MAXDIM = 3

ApproximationMode: TypeAlias = Literal["auto", "exact", "subsample", "landmarks", "bound"]
_MODES: tuple[str, ...] = ("auto", "exact", "subsample", "landmarks", "bound")

DEFAULT_MEMORY_BUDGET = "4GB"
DEFAULT_APPROXIMATION = "subsample:1000"

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")


def parse_memory(value: int | float | str) -> int:
    """Parse a memory size: bytes as a number, or a string such as ``"2GB"``, ``"512 MiB"``.

    ``KB``/``MB``/``GB``/``TB`` (and ``K``/``M``/``G``/``T``) are decimal powers of 1000;
    ``KiB``/``MiB``/``GiB``/``TiB`` binary powers of 1024 (as in dask). Case-insensitive.

    Examples
    --------
    >>> parse_memory("2GB"), parse_memory("1.5 GiB"), parse_memory(1000)
    (2000000000, 1610612736, 1000)
    """
    import numpy as np

    if isinstance(value, bool):
        raise ConfigError(
            f"Expected a memory size such as '4GB' or a number of bytes, got {value!r}."
        )
    if isinstance(value, int | float | np.integer | np.floating):
        number, unit = float(value), ""
    else:
        match = _MEMORY.match(str(value).lower())
        if match is None or match.group(2) not in _UNITS:
            raise ConfigError(
                f"Cannot read the memory size {value!r}; expected a number of bytes or a "
                "number with a unit, e.g. '4GB', '512MB', '1.5GiB'."
            )
        number, unit = float(match.group(1)), match.group(2)
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"Expected a positive memory size, got {value!r}.")
    return int(number * _UNITS[unit])


@dataclass(frozen=True)
class Approximation:
    """Which points a diagram is computed from, and what bound it then carries: one value.

    ``"auto"``
        Every point; exact while the estimated cost fits ``memory_budget``, else the largest
        set of max-min landmarks that fits, with a warning and a certified bound.
    ``"exact"``
        Every point, exactly; over the budget it is a :class:`~tda_interp.exceptions.HomologyError`.
    ``"subsample:N"``
        A seeded uniform sample of ``N`` points when the cloud is larger (recorded; no bound to
        the whole cloud's diagram exists), then as ``"auto"``. The default, ``"subsample:1000"``,
        keeps the cost of every diagram to seconds.
    ``"landmarks:N"``, ``"landmarks"``
        ``N`` max-min (farthest-point) landmarks, or the most that fit the budget, with a
        certified bottleneck bound to the exact diagram.
    ``"bound:B"``
        The fewest landmarks whose certified bound is at most ``B`` times the diameter; when
        no subset can (high-dimensional noise), every point with the filtration stopped short
        of the enclosing radius, which certifies the same bound.

    Parameters
    ----------
    mode : {"auto", "exact", "subsample", "landmarks", "bound"}
    value : int or float, optional
        ``N`` for "subsample" and "landmarks" (an int >= 2), ``B`` for "bound" (in (0, 1]).

    Examples
    --------
    >>> Approximation.parse("landmarks:500")
    Approximation('landmarks:500')
    >>> Approximation.parse("bound:0.05").value
    0.05
    """

    mode: ApproximationMode
    value: int | float | None = None

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; expected one of {_MODES}")
        value = self.value
        if self.mode in ("auto", "exact"):
            if value is not None:
                raise ConfigError(f"{self.mode!r} takes no number, got {value!r}")
        elif self.mode == "bound":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 < value <= 1)
            ):
                raise ConfigError(
                    f"'bound' needs a fraction of the diameter in (0, 1], e.g. 'bound:0.05', "
                    f"got {value!r}"
                )
            object.__setattr__(self, "value", float(value))
        elif value is not None or self.mode == "subsample":
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(
                    f"{self.mode!r} needs a number of points >= 2, e.g. '{self.mode}:500', "
                    f"got {value!r}"
                )

    @classmethod
    def parse(cls, spec: str | Approximation) -> Approximation:
        """Read ``"auto"``, ``"exact"``, ``"subsample:N"``, ``"landmarks[:N]"``, ``"bound:B"``."""
        if isinstance(spec, Approximation):
            return spec
        if not isinstance(spec, str):
            raise ConfigError(f"expected a string such as 'landmarks:500', got {spec!r}")
        mode, _, number = spec.strip().lower().partition(":")
        if mode not in _MODES:
            raise ConfigError(f"unknown mode {mode!r}")
        value: int | float | None = None
        if number:
            try:
                value = float(number) if mode == "bound" else int(number)
            except ValueError as err:
                raise ConfigError(
                    f"cannot read the number {number!r}; e.g. "
                    f"'{mode}:{'0.05' if mode == 'bound' else '500'}'"
                ) from err
        return cls(mode, value)  # type: ignore[arg-type]

    @property
    def spec(self) -> str:
        """The string form, as in a config file."""
        if self.value is None:
            return self.mode
        value = f"{self.value:g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.mode}:{value}"

    def __str__(self) -> str:
        return self.spec

    def __repr__(self) -> str:
        return f"Approximation({self.spec!r})"


_DEFAULT_APPROXIMATION = Approximation.parse(DEFAULT_APPROXIMATION)
_DEFAULT_BUDGET_BYTES = parse_memory(DEFAULT_MEMORY_BUDGET)


def _approximation(value: Any) -> Approximation:
    if not isinstance(value, str | Approximation):
        raise TypeError
    return Approximation.parse(value)


def _budget(value: Any) -> int:
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        raise TypeError
    return parse_memory(value)


def _prime(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    if value < 2 or any(value % q == 0 for q in range(2, math.isqrt(value) + 1)):
        raise ValueError("not a prime")
    return value


@dataclass(frozen=True, kw_only=True)
class RipsOptions(Options):
    """How each cloud becomes a Vietoris-Rips diagram: the ``[homology]`` section of a config.

    The view is not here: it is chosen per call (``vietoris_rips(X, view=...)``), and a run
    lists its views beside its layers.

    Parameters
    ----------
    maxdim : int, default 1
        Highest homology dimension, 0 to 3 (H0 .. H``maxdim``).
    metric : str, default "euclidean"
        ``"euclidean"``, ``"cosine"``, ``"correlation"``, ``"abs_correlation"`` or
        ``"precomputed"``: the distance between points; a view that implies one (``"neurons"``)
        overrides it.
        ``"precomputed"``: the input is a square distance matrix (view ``"raw"`` only).
    coeff : int, default 2
        Prime field of coefficients (gudhi: up to 65521; ripser and giotto-ph: up to 127).
    backend : {"auto", "gudhi", "giotto-ph", "ripser"}, default "auto"
    seed : int, default 0
        Seeds the uniform subsample, the first landmark and any null clouds.
    approximation : str or Approximation, default "subsample:1000"
        Which points the diagram is computed from; see :class:`Approximation`.
    memory_budget : int or str, default "4GB"
        Largest estimated peak memory of one diagram, in bytes or as "4GB", "512MiB"...;
        stored in bytes.
    nonfinite : {"raise", "drop"}, default "raise"
        Points holding NaN or Inf raise :class:`~tda_interp.exceptions.ActivationError`, or are
        dropped with a warning.

    Examples
    --------
    >>> RipsOptions(maxdim=2, approximation="landmarks:300").approximation
    Approximation('landmarks:300')
    >>> RipsOptions(memory_budget="2GB").memory_budget
    2000000000
    """

    maxdim: int = 1
    metric: Metric = "euclidean"
    coeff: int = 2
    backend: Backend = "auto"
    seed: int = 0
    approximation: Approximation = _DEFAULT_APPROXIMATION
    memory_budget: int = _DEFAULT_BUDGET_BYTES
    nonfinite: Literal["raise", "drop"] = "raise"

    _constraints: ClassVar[dict[str, tuple[Any, ...]]] = {
        "maxdim": (Interval(int, 0, MAX_MAXDIM),),
        "metric": (OneOf(METRICS),),
        "coeff": (Check(_prime, "a prime (2, 3, 5, ...)"),),
        "backend": (OneOf(BACKENDS),),
        "seed": (Interval(int, 0, None),),
        "approximation": (
            Check(
                _approximation,
                "'auto', 'exact', 'subsample:N', 'landmarks', 'landmarks:N' or 'bound:B'",
            ),
        ),
        "memory_budget": (Check(_budget, "a memory size such as '4GB' or a number of bytes"),),
        "nonfinite": (OneOf(("raise", "drop")),),
    }
    _hints: ClassVar[dict[str, str]] = {
        "maxdim": f"H{MAX_MAXDIM} of a few hundred points already takes hours.",
        "coeff": "Homology with non-prime coefficients is not a vector space.",
        "nonfinite": "'drop' removes the points that hold NaN or Inf, with a warning.",
    }
