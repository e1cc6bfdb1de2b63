"""Reduce a module's output to a point cloud of shape ``(n_points, n_features)``.

Every input of the batch becomes one point. A 2-D ``(batch, features)`` output is already a point
cloud; a ``(batch, seq, features)`` output is pooled over the sequence (``"mean"``), or one
position is kept (``"first"``, ``"last"`` or an int); any other shape can be flattened.
"""

from __future__ import annotations

import math
from typing import Literal, TypeAlias, get_args

import torch

from tda_interp.exceptions import ActivationError, ConfigError

__all__ = ["REDUCTIONS", "Reduction", "ReductionLike", "check_reduction", "reduce_output"]

Reduction: TypeAlias = Literal["none", "flatten", "mean", "last", "first"]
"""Named reductions; see :func:`reduce_output`."""

ReductionLike: TypeAlias = Reduction | int
"""A named reduction, or a fixed sequence position (negative counts from the end)."""

REDUCTIONS: tuple[str, ...] = get_args(Reduction)

_SEQUENCE_REDUCTIONS = frozenset({"mean", "last", "first"})


def check_reduction(reduction: object) -> ReductionLike:
    """Validate a reduction argument and return it unchanged.

    Parameters
    ----------
    reduction : object
        One of ``"none"``, ``"flatten"``, ``"mean"``, ``"last"``, ``"first"`` or an int.

    Returns
    -------
    str or int
        ``reduction`` itself.

    Raises
    ------
    ConfigError
        If ``reduction`` is neither a known name nor an int.

    Examples
    --------
    >>> check_reduction("mean")
    'mean'
    """
    if isinstance(reduction, bool) or not isinstance(reduction, (str, int)):
        raise ConfigError(
            f"Expected reduction to be one of {list(REDUCTIONS)} or an int sequence position, got "
            f"{type(reduction).__name__} {reduction!r}."
        )
    if isinstance(reduction, str) and reduction not in REDUCTIONS:
        raise ConfigError(
            f"Unknown reduction {reduction!r}; expected one of {list(REDUCTIONS)} or an int "
            "sequence position (e.g. reduction=-1 for the last token)."
        )
    return reduction  # type: ignore[return-value]


def _shape(tensor: torch.Tensor) -> str:
    dims = tuple(tensor.shape)
    return str(dims) if len(dims) != 1 else f"({dims[0]},)"


def reduce_output(
    tensor: torch.Tensor, reduction: ReductionLike = "none", *, site: str = "<tensor>"
) -> torch.Tensor:
    """Reduce one batch of module output to ``(n_points, n_features)``.

    Parameters
    ----------
    tensor : torch.Tensor of shape (batch, ...)
        The output of one module for one batch; dimension 0 is the batch.
    reduction : {"none", "flatten", "mean", "last", "first"} or int, default="none"
        - ``"none"``: the output must already be ``(batch, features)``;
        - ``"flatten"``: ``(batch, d1, d2, ...)`` becomes ``(batch, d1 * d2 * ...)``;
        - ``"mean"``: average over dim 1 of a ``(batch, seq, features)`` output;
        - ``"first"`` / ``"last"`` / int ``i``: keep position 0, -1 or ``i`` of dim 1 of a
          ``(batch, seq, features)`` output.

        A 1-D ``(batch,)`` output becomes ``(batch, 1)`` with ``"none"`` and ``"flatten"``.
    site : str, default="<tensor>"
        Module path named in error messages.

    Returns
    -------
    torch.Tensor of shape (n_points, n_features)
        ``n_points == batch``. It may be a view of ``tensor``; copy it before storing.

    Raises
    ------
    ActivationError
        If the output's rank does not fit the reduction, or a position is out of range.
    ConfigError
        If ``reduction`` is not a known reduction.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(8, 3, 64)
    >>> tuple(reduce_output(x, "mean", site="blocks.2.mlp").shape)
    (8, 64)
    >>> tuple(reduce_output(x, "flatten").shape)
    (8, 192)
    >>> tuple(reduce_output(torch.zeros(8), "none").shape)
    (8, 1)
    """
    check_reduction(reduction)
    if tensor.ndim == 0:
        raise ActivationError(
            f"Expected activations with a batch dimension from {site!r}, got a scalar (shape ()); "
            "hook a module whose output keeps one row per input."
        )
    if reduction == "none":
        if tensor.ndim == 1:
            return tensor.unsqueeze(1)
        if tensor.ndim == 2:
            return tensor
        pool_hint = (
            " or reduction='mean' (or 'first', 'last', an int position) to take one vector per "
            "sequence"
            if tensor.ndim == 3
            else ""
        )
        raise ActivationError(
            f"Expected activations of shape (n_points, n_features) from {site!r}, got "
            f"{_shape(tensor)}; pass reduction='flatten' to concatenate all non-batch "
            f"dimensions{pool_hint}."
        )
    if reduction == "flatten":
        if tensor.ndim == 1:
            return tensor.unsqueeze(1)
        return tensor.reshape(tensor.shape[0], math.prod(tensor.shape[1:]))
    # "mean", "first", "last" or an int position: pool over dim 1 of (batch, seq, features).
    if tensor.ndim != 3:
        raise ActivationError(
            f"Expected activations of shape (batch, seq, features) from {site!r} for "
            f"reduction={reduction!r}, got {_shape(tensor)}; pass reduction='flatten' to "
            "concatenate all non-batch dimensions"
            + (", or reduction='none' for a (batch, features) output." if tensor.ndim < 3 else ".")
        )
    seq_len = tensor.shape[1]
    if seq_len == 0:
        raise ActivationError(
            f"Expected at least one sequence position from {site!r}, got shape {_shape(tensor)}; "
            "feed non-empty sequences."
        )
    if reduction == "mean":
        return tensor.mean(dim=1)
    if isinstance(reduction, int):
        position = reduction
    else:
        position = 0 if reduction == "first" else -1
    if not -seq_len <= position < seq_len:
        raise ActivationError(
            f"Position {position} is out of range for the sequence of length {seq_len} from "
            f"{site!r} (shape {_shape(tensor)}); pass a position in [{-seq_len}, {seq_len - 1}], "
            "or reduction='last'."
        )
    return tensor[:, position, :]
