"""How activations become points: :class:`CaptureOptions` (the ``[capture]`` section)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias

from tda_interp.exceptions import ConfigError
from tda_interp.options._base import Check, InstanceOf, Interval, OneOf, Options

__all__ = [
    "DTYPES",
    "POINTS_PER_INPUT",
    "REDUCTIONS",
    "STORAGES",
    "CaptureOptions",
    "ElementLike",
    "HookKind",
    "NonFinite",
    "Reduction",
    "ReductionLike",
    "Storage",
    "StorageDtype",
]

Reduction: TypeAlias = Literal[
    "none", "flatten", "mean", "last", "first", "tokens", "spatial", "avgpool"
]
"""Named reductions; see :func:`tda_interp.hooks.reduce_output`."""

ReductionLike: TypeAlias = Reduction | int
"""A named reduction, or a fixed sequence position (negative counts from the end)."""

REDUCTIONS: tuple[str, ...] = (
    "none", "flatten", "mean", "last", "first", "tokens", "spatial", "avgpool"
)  # fmt: skip

POINTS_PER_INPUT: frozenset[str] = frozenset({"tokens", "spatial"})
"""Reductions that give several points per input (the others give exactly one)."""

ElementLike: TypeAlias = int | str | None
"""Which element of a tuple / mapping / ``ModelOutput`` to capture; ``None``: the first tensor."""

HookKind: TypeAlias = Literal["output", "input"]
NonFinite: TypeAlias = Literal["raise", "drop", "keep"]
Storage: TypeAlias = Literal["memory", "memmap"]
StorageDtype: TypeAlias = Literal["float32", "float16"]
STORAGES: tuple[str, ...] = ("memory", "memmap")
DTYPES: tuple[str, ...] = ("float32", "float16")


def _path(value: Any) -> Path:
    return Path(value).expanduser()


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    if value.lstrip("-").isdigit():
        raise ValueError(f"a position written as text; write {value} without quotes")
    return value


@dataclass(frozen=True, kw_only=True)
class CaptureOptions(Options):
    """How each module output becomes points: the ``[capture]`` section of a run config.

    Which modules to watch is not here: it is the ``sites`` argument of
    :func:`~tda_interp.hooks.capture` and the ``layers`` of a run.

    Parameters
    ----------
    reduction : str or int, default "none"
        ``"none"``, ``"flatten"``; for sequences ``"tokens"`` (every token a point), ``"mean"``,
        ``"first"``, ``"last"`` or an int position; for convolution maps ``"avgpool"`` or
        ``"spatial"``. See :func:`~tda_interp.hooks.reduce_points`.
    output_index : int, str or None, default None
        Element captured when a site returns a tuple, mapping or ``ModelOutput``: a position,
        a name such as ``"last_hidden_state"``, or ``None`` for the first tensor. With
        ``hook="input"``: a positional argument's index or a keyword argument's name.
    hook : {"output", "input"}, default "output"
        Record what each site returns (forward hook) or receives (forward pre-hook).
    batch_size : int or None, default None
        Probe inputs per forward pass of :func:`~tda_interp.hooks.run_capture`; ``None``: all
        at once (in a config: ``0``).
    max_points : int or None, default None
        Keep at most this many points per cloud: a seeded uniform (reservoir) sample of all
        points seen, labels included, so memory stays bounded. ``None`` keeps every point (in a
        config: ``0``).
    seed : int, default 0
        Seed of the reservoir sample (combined with the cloud's name).
    dtype : {"float32", "float16"}, default "float32"
        Storage dtype of the points.
    storage : {"memory", "memmap"}, default "memory"
        ``"memmap"`` appends points batch by batch to files in ``storage_dir`` (returned as
        :class:`numpy.memmap`), for captures larger than memory.
    storage_dir : path or None, default None
        Folder of the ``"memmap"`` files (relative to the config file in a config).
    nonfinite : {"raise", "drop", "keep"}, default "raise"
        NaN or Inf activations raise :class:`~tda_interp.exceptions.ActivationError`, are
        dropped with a warning, or are kept as they are.
    attention_mask : {"auto"} or None, default "auto"
        ``"auto"``: a 2-D ``attention_mask`` keyword of the model call (or entry of dict
        inputs) masks the sequence reductions, so padding never becomes a point; ``None``: no
        masking.
    token_ids : {"auto"} or None, default "auto"
        ``"auto"``: token ids for the ``token_id`` label come from ``input_ids`` or a 2-D
        integer first argument; ``None``: no token ids.

    Examples
    --------
    >>> CaptureOptions(reduction="tokens", max_points=5000).reduction
    'tokens'
    >>> try:
    ...     CaptureOptions(storage="memmap")
    ... except ValueError as err:  # a ConfigError
    ...     print(err)
    storage='memmap' needs a folder for the files; pass storage_dir='path/to/dir'.
    """

    reduction: ReductionLike = "none"
    output_index: ElementLike = None
    hook: HookKind = "output"
    batch_size: int | None = None
    max_points: int | None = None
    seed: int = 0
    dtype: StorageDtype = "float32"
    storage: Storage = "memory"
    storage_dir: Path | None = None
    nonfinite: NonFinite = "raise"
    attention_mask: Literal["auto"] | None = "auto"
    token_ids: Literal["auto"] | None = "auto"

    _constraints: ClassVar[dict[str, tuple[Any, ...]]] = {
        "reduction": (OneOf(REDUCTIONS), Interval(int)),
        "output_index": (Interval(int), Check(_name, "a name"), None),
        "hook": (OneOf(("output", "input")),),
        "batch_size": (Interval(int, 1, None), None),
        "max_points": (Interval(int, 1, None), None),
        "seed": (Interval(int, 0, None),),
        "dtype": (OneOf(DTYPES),),
        "storage": (OneOf(STORAGES),),
        "storage_dir": (InstanceOf((str, Path), "a folder path", _path), None),
        "nonfinite": (OneOf(("raise", "drop", "keep")),),
        "attention_mask": (OneOf(("auto",)), None),
        "token_ids": (OneOf(("auto",)), None),
    }
    _hints: ClassVar[dict[str, str]] = {
        "reduction": "An int is a sequence position, e.g. reduction=-1 for the last token.",
        "batch_size": "Pass e.g. batch_size=256, or None for a single forward pass.",
        "max_points": "Pass e.g. max_points=2000, or None to keep every point.",
        "dtype": "float16 halves memory and disk use.",
        "hook": "'input' records the first tensor argument of each site (or output_index's).",
        "nonfinite": "'drop' removes points with NaN or Inf with a warning.",
    }
    _not_params: ClassVar[frozenset[str]] = frozenset({"batch_size", "storage", "storage_dir"})
    _toml_none: ClassVar[dict[str, Any]] = {"batch_size": 0, "max_points": 0}
    _toml_paths: ClassVar[frozenset[str]] = frozenset({"storage_dir"})

    def _check(self) -> None:
        if self.storage == "memmap" and self.storage_dir is None:
            raise ConfigError(
                "storage='memmap' needs a folder for the files; pass storage_dir='path/to/dir'.",
                key="storage_dir",
            )
