"""Significance calls, summaries and execution: the ``[significance]``, ``[summary]`` and
``[execution]`` sections."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias

from tda_interp.exceptions import ConfigError
from tda_interp.options._base import Check, Interval, OneOf, Options

__all__ = [
    "DEFAULT_BETTI_SCALES",
    "DEFAULT_LONG_BAR",
    "Correction",
    "ExecutionOptions",
    "ProgressCallback",
    "SignificanceMethod",
    "SignificanceOptions",
    "SummaryOptions",
    "betti_column",
    "parse_executor",
]

SignificanceMethod: TypeAlias = Literal["universal", "gaussian", "subsample", "none"]
Correction: TypeAlias = Literal["diagram", "bonferroni", "bh"]

#: Default threshold on the relative lifetime (fraction of the cloud's diameter) above which a
#: bar counts as long-lived. Bars of Gaussian noise clouds of a few hundred points rarely exceed
#: 0.15 of the diameter; a clean circle's H1 bar is about 0.87 of it.
DEFAULT_LONG_BAR = 0.25

#: Default relative filtration values (fractions of the diameter) of the ``betti_at_<t>``
#: summary columns.
DEFAULT_BETTI_SCALES: tuple[float, ...] = (0.1, 0.25, 0.5)

#: ``progress(description, done, total)``, called before work starts and after each result.
ProgressCallback: TypeAlias = Callable[[str, int, int], None]


@dataclass(frozen=True, kw_only=True)
class SignificanceOptions(Options):
    """How every bar is called significant or noise: the ``[significance]`` section.

    Calls are on by default everywhere (the API, runs, the monitor); ``method = "none"``
    turns them off. See :func:`tda_interp.homology.significance` for what each method means.

    Parameters
    ----------
    method : {"universal", "gaussian", "subsample", "none"}, default "universal"
        ``"universal"``: is the bar a feature of the shape, or one that noise or sparse
        sampling makes (Bobrowski and Skraba's universal null for H1 and above, a cluster rule
        for H0; calibrated on noise, nearly free). ``"gaussian"``: departure from matched
        Gaussian noise (Monte Carlo, ``n_null`` extra diagrams). ``"subsample"``: the
        subsampling band of Fasy et al. (2014). ``"none"``: no calls.
    n_null : int, default 99
        Null clouds (or subsamples) of the Monte Carlo methods: that many extra Vietoris-Rips
        computations per diagram; the smallest p-value is ``1 / (n_null + 1)``. Not used by
        ``"universal"``.
    alpha : float, default 0.05
        Family-wise level per diagram and dimension.
    subsample_size : int or None, default None
        Points per subsample for ``"subsample"``; ``None``: half the cloud.

    Examples
    --------
    >>> SignificanceOptions().method
    'universal'
    >>> SignificanceOptions(method="gaussian", n_null=39, alpha=0.025).params()["n_null"]
    39
    >>> SignificanceOptions(method="none").params()
    {'method': 'none'}
    """

    method: SignificanceMethod = "universal"
    n_null: int = 99
    alpha: float = 0.05
    subsample_size: int | None = None

    _constraints: ClassVar[dict[str, tuple[Any, ...]]] = {
        "method": (OneOf(("universal", "gaussian", "subsample", "none")),),
        "n_null": (Interval(int, 1, None),),
        "alpha": (Interval(float, 0, 1, closed="neither"),),
        "subsample_size": (Interval(int, 2, None), None),
    }
    _hints: ClassVar[dict[str, str]] = {
        "n_null": "With alpha=0.05 use 19 or more (the smallest p-value is 1 / (n_null + 1)).",
        "alpha": "E.g. 0.05.",
        "method": (
            "'universal': feature or noise (the default); 'gaussian': departure from matched "
            "Gaussian noise; 'subsample': Fasy et al. band; 'none': no calls."
        ),
    }

    @property
    def enabled(self) -> bool:
        """Whether calls are made (``method != "none"``)."""
        return self.method != "none"

    def params(self) -> dict[str, Any]:
        """The fields that define the calls: only ``method`` for ``"none"``, and no
        ``n_null`` or ``subsample_size`` for ``"universal"`` (which uses neither)."""
        if self.method == "none":
            return {"method": "none"}
        out = super().params()
        if self.method == "universal":
            del out["n_null"], out["subsample_size"]
        elif self.method == "gaussian":
            del out["subsample_size"]
        return out


def _betti_scales(value: Any) -> tuple[float, ...]:
    """Scales as a tuple of floats: non-empty, strictly increasing, in (0, 1] (distinct scales
    have distinct :func:`betti_column` names)."""
    import numpy as np

    if isinstance(value, str) or not isinstance(value, list | tuple | np.ndarray):
        raise TypeError("not a list")
    scales = []
    for item in value:
        if isinstance(item, bool | np.bool_) or not isinstance(
            item, int | float | np.integer | np.floating
        ):
            raise TypeError(f"{item!r} is not a number")
        scales.append(float(item))
    if not scales:
        raise ValueError("no scale given")
    bad = [s for s in scales if not 0 < s <= 1]
    if bad:
        raise ValueError(f"{bad[0]} is not in (0, 1]")
    if any(b <= a for a, b in itertools.pairwise(scales)):
        raise ValueError("not increasing; sort them and list each once")
    return tuple(scales)


def betti_column(scale: float) -> str:
    """The summary column of the Betti number at relative scale ``scale``: two decimals when
    they say it exactly (``betti_at_0.10``), else as many as it needs (``betti_at_0.125``).

    Examples
    --------
    >>> betti_column(0.1), betti_column(0.125), betti_column(1)
    ('betti_at_0.10', 'betti_at_0.125', 'betti_at_1.00')
    """
    text = f"{scale:.2f}"
    return f"betti_at_{text if float(text) == scale else repr(float(scale))}"


@dataclass(frozen=True, kw_only=True)
class SummaryOptions(Options):
    """How diagrams are summarised in tables and reports: the ``[summary]`` section.

    Parameters
    ----------
    long_bar : float, default 0.25
        Relative lifetime (fraction of the cloud's diameter) above which a bar counts as
        long-lived (the ``n_long`` column).
    correction : {"diagram", "bonferroni", "bh"}, default "diagram"
        Which significance calls the run's tables and report count, when a run tests many
        diagrams: ``"diagram"``, each diagram's own calls (family-wise level ``alpha`` per
        diagram and dimension); ``"bonferroni"``, family-wise level ``alpha`` over every bar
        the run tested (H1 and above); ``"bh"``, Benjamini-Hochberg false discovery rate
        ``alpha`` over them. Applied when results are read, so changing it recomputes nothing
        (see :func:`tda_interp.homology.run_level_calls`).
    betti_scales : sequence of float, default (0.1, 0.25, 0.5)
        Relative filtration values (fractions of the cloud's diameter), increasing, in
        ``(0, 1]``, at which the summaries give Betti numbers: one column
        ``betti_at_<t>`` each (:func:`tda_interp.diagrams.summaries.betti_column`). Part of a
        run's parameters only when not the default, so runs made before it existed resume.

    Examples
    --------
    >>> SummaryOptions(long_bar=0.3).long_bar
    0.3
    >>> SummaryOptions(correction="bh").params()
    {'long_bar': 0.25}
    >>> SummaryOptions(betti_scales=[0.05, 0.5, 1]).params()
    {'long_bar': 0.25, 'betti_scales': [0.05, 0.5, 1.0]}
    """

    long_bar: float = DEFAULT_LONG_BAR
    correction: Correction = "diagram"
    betti_scales: tuple[float, ...] = DEFAULT_BETTI_SCALES

    _constraints: ClassVar[dict[str, tuple[Any, ...]]] = {
        "long_bar": (Interval(float, 0, None),),
        "correction": (OneOf(("diagram", "bonferroni", "bh")),),
        "betti_scales": (
            Check(_betti_scales, "a non-empty, increasing list of numbers in (0, 1]"),
        ),
    }
    _hints: ClassVar[dict[str, str]] = {
        "correction": (
            "'diagram': per diagram and dimension; 'bonferroni': family-wise over the run; "
            "'bh': false discovery rate over the run."
        ),
        "betti_scales": "E.g. [0.1, 0.25, 0.5]: fractions of each cloud's diameter.",
    }
    _not_params: ClassVar[frozenset[str]] = frozenset({"correction"})

    def params(self) -> dict[str, Any]:
        """The fields that define the summaries; ``betti_scales`` only when not the default
        (a run's parameters, and its digest, stay those of runs made before it existed)."""
        out = super().params()
        if self.betti_scales == DEFAULT_BETTI_SCALES:
            del out["betti_scales"]
        return out


def parse_executor(spec: str) -> tuple[str, Any]:
    """Read an executor spec: ``("auto", None)``, ``("serial", None)``,
    ``("processes", N or None)``, ``("dask", address)`` or ``("dask-checkpoints", address)``.

    Examples
    --------
    >>> parse_executor("processes:2"), parse_executor("dask:tcp://127.0.0.1:8786")
    (('processes', 2), ('dask', 'tcp://127.0.0.1:8786'))
    """
    text = spec.strip()
    if text in ("auto", "serial", "processes"):
        return text, None
    if text.startswith("processes:"):
        try:
            n = int(text.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"Executor {spec!r}: expected 'processes:N' with N >= 1.")
        return "processes", n
    for kind in ("dask", "dask-checkpoints"):
        if text.startswith(f"{kind}:") and text.split(":", 1)[1]:
            return kind, text.split(":", 1)[1]
    raise ConfigError(
        f"Unknown executor {spec!r}; expected 'auto', 'serial', 'processes', 'processes:N', "
        "'dask:ADDRESS' or 'dask-checkpoints:ADDRESS'."
    )


def _executor(value: Any) -> Any:
    if isinstance(value, str):
        parse_executor(value)
        return value.strip()
    if callable(getattr(value, "imap", None)) and callable(getattr(value, "close", None)):
        return value
    raise TypeError


def _cache(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str | Path):
        return Path(value).expanduser()
    if callable(getattr(value, "get", None)) and callable(getattr(value, "put", None)):
        return value  # a DiagramCache
    raise TypeError


def _callable(value: Any) -> Any:
    if not callable(value):
        raise TypeError
    return value


@dataclass(frozen=True, kw_only=True)
class ExecutionOptions(Options):
    """How the work of a run is carried out and reported, never what it computes: the
    ``[execution]`` section. None of these options is part of a run's parameters.

    Parameters
    ----------
    executor : str or Executor, default "auto"
        Where independent (layer, view) tasks run: ``"auto"`` (worker processes when the
        clouds are big enough to pay for them), ``"serial"``, ``"processes"``,
        ``"processes:N"``, ``"dask:ADDRESS"`` (homology tasks on a Dask cluster, forward
        passes in the driver), ``"dask-checkpoints:ADDRESS"`` (whole checkpoints on the
        cluster: load, forward pass and homology on a worker; see
        :class:`tda_interp.execution.ClusterExecutor`), or an executor object (used as is, not
        closed).
    cache : bool, path or DiagramCache, default True
        Content-addressed diagram cache: ``True`` the default folder (``$TDA_INTERP_CACHE`` or
        ``~/.cache/tda-interp``), a folder (relative to the config file in a config), or
        ``False``.
    progress : callable or None, default None
        ``progress(description, done, total)`` after each result (the command line draws a
        progress bar with it; ``-q`` turns it off).
    stall_timeout : float, default 300
        Seconds a Dask cluster may have no worker while tasks wait before the run ends with a
        clear error (finished results are kept; rerun to resume). For the executors a run
        makes from a string (``"dask:..."``, ``"dask-checkpoints:..."``); an executor object
        keeps its own (``ClusterOptions(stall_timeout=...)``).
    on_error : {"record", "raise"}, default "record"
        What a diagram that cannot be computed from its cloud (a dead layer's constant
        activations, too few points, over the memory budget) does to a run: it is recorded as a
        failure with its reason (readers and the report list it, a rerun does not retry it) and
        the run goes on; or the run stops with the error.

    Examples
    --------
    >>> ExecutionOptions(executor="processes:2", cache=False).executor
    'processes:2'
    """

    executor: Any = "auto"
    cache: Any = True
    progress: ProgressCallback | None = None
    stall_timeout: float = 300.0
    on_error: Literal["record", "raise"] = "record"

    _constraints: ClassVar[dict[str, tuple[Any, ...]]] = {
        "executor": (
            Check(
                _executor,
                "'auto', 'serial', 'processes', 'processes:N', 'dask:ADDRESS', "
                "'dask-checkpoints:ADDRESS' or an executor",
            ),
        ),
        "cache": (Check(_cache, "true, false, a folder or a DiagramCache"),),
        "progress": (Check(_callable, "a callable"), None),
        "stall_timeout": (Interval(float, 0, None, closed="neither"),),
        "on_error": (OneOf(("record", "raise")),),
    }
    _not_params: ClassVar[frozenset[str]] = frozenset(
        {"executor", "cache", "progress", "stall_timeout", "on_error"}
    )
    _toml_paths: ClassVar[frozenset[str]] = frozenset({"cache"})
    _python_only: ClassVar[frozenset[str]] = frozenset({"progress"})
