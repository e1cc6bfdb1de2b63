"""Reduce a module's output to a point cloud of shape ``(n_points, n_features)``.

One point per input: a 2-D ``(batch, features)`` output is already a point cloud; a
``(batch, seq, features)`` output is pooled over the sequence (``"mean"``), or one position is
kept (``"first"``, ``"last"`` or an int); a conv feature map ``(batch, channels, *spatial)`` is
average-pooled (``"avgpool"``); any other shape can be flattened (``"flatten"``).

Several points per input: ``"tokens"`` makes every token of ``(batch, seq, features)`` a point,
``"spatial"`` every spatial position of ``(batch, channels, H, W)`` (``channels`` features).

Sequence reductions take an optional ``attention_mask`` of shape ``(batch, seq)`` so that padding
never becomes a point: ``"tokens"`` drops padded tokens, ``"mean"`` averages real tokens only,
and positions (``"first"``, ``"last"``, an int) count real tokens only, so ``"last"`` is the last
real token of each row with left or right padding.

:func:`reduce_points` also returns, for every point, the index of its input in the batch and its
position (token index, or flat spatial index ``h * W + w``; ``-1`` for pooled points).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.options.capture import POINTS_PER_INPUT, REDUCTIONS, Reduction, ReductionLike

__all__ = [
    "POINTS_PER_INPUT",
    "REDUCTIONS",
    "ReducedBatch",
    "Reduction",
    "ReductionLike",
    "check_reduction",
    "reduce_output",
    "reduce_points",
]


def check_reduction(reduction: object) -> ReductionLike:
    """Validate a reduction argument and return it unchanged.

    Parameters
    ----------
    reduction : object
        A name in :data:`REDUCTIONS` or an int.

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


class ReducedBatch(NamedTuple):
    """One batch reduced to points, with where each point came from.

    Attributes
    ----------
    points : torch.Tensor of shape (n_points, n_features)
        May be a view of the module output; copy it before storing.
    batch : torch.Tensor of shape (n_points,), int64
        Index of each point's input within the batch.
    position : torch.Tensor of shape (n_points,), int64
        Token position, or flat spatial index ``h * W + w``; ``-1`` for pooled points.
    """

    points: torch.Tensor
    batch: torch.Tensor
    position: torch.Tensor


def _check_mask(mask: torch.Tensor, tensor: torch.Tensor, site: str) -> torch.Tensor:
    if tuple(mask.shape) != tuple(tensor.shape[:2]):
        raise ActivationError(
            f"Expected an attention_mask of shape (batch, seq) = {tuple(tensor.shape[:2])} for "
            f"the output {_shape(tensor)} of {site!r}, got {tuple(mask.shape)}; pass the mask of "
            "the inputs this site sees, or attention_mask=None to use every position."
        )
    return mask.to(device=tensor.device, dtype=torch.bool)


def _positions(
    tensor: torch.Tensor, position: int, mask: torch.Tensor | None, site: str
) -> torch.Tensor:
    """Column of the ``position``-th real token of each row, shape (batch,)."""
    batch, seq_len = tensor.shape[:2]
    if mask is None:
        lengths = torch.full((batch,), seq_len, dtype=torch.long, device=tensor.device)
    else:
        lengths = mask.sum(dim=1)
    shortest = int(lengths.min()) if batch else seq_len
    if not -shortest <= position < shortest:
        where = "" if mask is None else " unpadded (attention_mask)"
        raise ActivationError(
            f"Position {position} is out of range for the{where} sequence of length {shortest} "
            f"from {site!r} (shape {_shape(tensor)}); pass a position in "
            f"[{-shortest}, {shortest - 1}], or reduction='last'."
        )
    target = lengths + position if position < 0 else torch.full_like(lengths, position)
    if mask is None:
        return target
    hits = (mask.cumsum(dim=1) == (target + 1).unsqueeze(1)) & mask
    return hits.to(torch.uint8).argmax(dim=1)


def _arange(n: int, tensor: torch.Tensor) -> torch.Tensor:
    return torch.arange(n, dtype=torch.long, device=tensor.device)


def _pooled(points: torch.Tensor) -> ReducedBatch:
    n = points.shape[0]
    return ReducedBatch(points, _arange(n, points), torch.full_like(_arange(n, points), -1))


def _conv(tensor: torch.Tensor, reduction: str, site: str) -> ReducedBatch:
    if tensor.ndim < 3:
        raise ActivationError(
            f"Expected a feature map of shape (batch, channels, *spatial) from {site!r} for "
            f"reduction={reduction!r}, got {_shape(tensor)}; pass reduction='none' for a "
            "(batch, features) output."
        )
    n, channels = tensor.shape[:2]
    if reduction == "avgpool":
        return _pooled(tensor.mean(dim=tuple(range(2, tensor.ndim))))
    n_positions = math.prod(tensor.shape[2:])
    points = tensor.movedim(1, -1).reshape(n * n_positions, channels)
    batch = _arange(n, tensor).repeat_interleave(n_positions)
    return ReducedBatch(points, batch, _arange(n_positions, tensor).repeat(n))


def _sequence(
    tensor: torch.Tensor, reduction: ReductionLike, site: str, mask: torch.Tensor | None
) -> ReducedBatch:
    if tensor.ndim != 3:
        conv_hint = ", or reduction='avgpool' / 'spatial' for a conv feature map" * (
            tensor.ndim > 3
        )
        raise ActivationError(
            f"Expected activations of shape (batch, seq, features) from {site!r} for "
            f"reduction={reduction!r}, got {_shape(tensor)}; pass reduction='flatten' to "
            "concatenate all non-batch dimensions"
            + (", or reduction='none' for a (batch, features) output." if tensor.ndim < 3 else "")
            + (conv_hint + "." if tensor.ndim > 3 else "")
        )
    batch, seq_len, features = tensor.shape
    if seq_len == 0:
        raise ActivationError(
            f"Expected at least one sequence position from {site!r}, got shape {_shape(tensor)}; "
            "feed non-empty sequences."
        )
    if mask is not None:
        mask = _check_mask(mask, tensor, site)
    if reduction == "tokens":
        points = tensor.reshape(batch * seq_len, features)
        rows = _arange(batch, tensor).repeat_interleave(seq_len)
        cols = _arange(seq_len, tensor).repeat(batch)
        if mask is None or bool(mask.all()):
            return ReducedBatch(points, rows, cols)  # no padding: no gather, no extra copy
        keep = mask.reshape(-1)
        return ReducedBatch(points[keep], rows[keep], cols[keep])
    if reduction == "mean":
        if mask is None:
            return _pooled(tensor.mean(dim=1))
        counts = mask.sum(dim=1, keepdim=True)
        if bool((counts == 0).any()):
            empty = torch.nonzero(counts[:, 0] == 0)[:, 0].tolist()
            raise ActivationError(
                f"Rows {empty} of the batch given to {site!r} are fully padded (attention_mask "
                "all 0), so they have no mean; drop empty sequences from the inputs."
            )
        summed = torch.where(mask.unsqueeze(-1), tensor, torch.zeros((), dtype=tensor.dtype)).sum(1)
        return _pooled(summed / counts.to(tensor.dtype))
    if isinstance(reduction, int):
        position = reduction
    else:
        position = 0 if reduction == "first" else -1
    cols = _positions(tensor, position, mask, site)
    rows = _arange(batch, tensor)
    return ReducedBatch(tensor[rows, cols], rows, cols)


def reduce_points(
    tensor: torch.Tensor,
    reduction: ReductionLike = "none",
    *,
    site: str = "<tensor>",
    mask: torch.Tensor | None = None,
) -> ReducedBatch:
    """Reduce one batch of module output to points, and say where each point came from.

    Parameters
    ----------
    tensor : torch.Tensor of shape (batch, ...)
        The output of one module for one batch; dimension 0 is the batch.
    reduction : str or int, default="none"
        - ``"none"``: the output must already be ``(batch, features)`` (1-D becomes one column);
        - ``"flatten"``: ``(batch, d1, d2, ...)`` becomes ``(batch, d1 * d2 * ...)``;
        - ``"mean"``: average over the tokens of ``(batch, seq, features)``;
        - ``"first"`` / ``"last"`` / int ``i``: keep token 0, -1 or ``i`` of each row;
        - ``"tokens"``: every token of ``(batch, seq, features)`` is a point,
          ``(batch * seq, features)``;
        - ``"avgpool"``: global average pool of ``(batch, channels, *spatial)`` to
          ``(batch, channels)``;
        - ``"spatial"``: every spatial position of ``(batch, channels, *spatial)`` is a point,
          ``(batch * H * W, channels)``.
    site : str, default="<tensor>"
        Module path named in error messages.
    mask : torch.Tensor of shape (batch, seq) or None, default=None
        Attention mask (1 or True for real tokens). Used by the sequence reductions only:
        ``"tokens"`` drops padded tokens, ``"mean"`` averages real tokens, positions count real
        tokens only (so ``"last"`` is each row's last real token).

    Returns
    -------
    ReducedBatch
        ``points`` of shape ``(n_points, n_features)``, and ``batch`` and ``position`` of shape
        ``(n_points,)``.

    Raises
    ------
    ActivationError
        If the output's rank does not fit the reduction, a position is out of range, the mask
        has the wrong shape, or a masked row is empty for ``"mean"``.
    ConfigError
        If ``reduction`` is not a known reduction.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(12.0).reshape(2, 3, 2)
    >>> mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    >>> out = reduce_points(x, "tokens", mask=mask)
    >>> tuple(out.points.shape), out.batch.tolist(), out.position.tolist()
    ((5, 2), [0, 0, 1, 1, 1], [0, 1, 0, 1, 2])
    >>> reduce_points(x, "last", mask=mask).points.tolist()
    [[2.0, 3.0], [10.0, 11.0]]
    """
    check_reduction(reduction)
    if tensor.ndim == 0:
        raise ActivationError(
            f"Expected activations with a batch dimension from {site!r}, got a scalar (shape ()); "
            "hook a module whose output keeps one row per input."
        )
    if reduction == "none":
        if tensor.ndim == 1:
            return _pooled(tensor.unsqueeze(1))
        if tensor.ndim == 2:
            return _pooled(tensor)
        pool_hint = (
            " or reduction='mean' (or 'first', 'last', an int position) to take one vector per "
            "sequence, or reduction='tokens' to make every token a point"
            if tensor.ndim == 3
            else ", or reduction='avgpool' (one point per input) or 'spatial' (one point per "
            "spatial position) for a conv feature map (batch, channels, height, width)"
        )
        raise ActivationError(
            f"Expected activations of shape (n_points, n_features) from {site!r}, got "
            f"{_shape(tensor)}; pass reduction='flatten' to concatenate all non-batch "
            f"dimensions{pool_hint}."
        )
    if reduction == "flatten":
        if tensor.ndim == 1:
            return _pooled(tensor.unsqueeze(1))
        return _pooled(tensor.reshape(tensor.shape[0], math.prod(tensor.shape[1:])))
    if reduction in ("spatial", "avgpool"):
        return _conv(tensor, str(reduction), site)
    return _sequence(tensor, reduction, site, mask)


def reduce_output(
    tensor: torch.Tensor,
    reduction: ReductionLike = "none",
    *,
    site: str = "<tensor>",
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce one batch of module output to ``(n_points, n_features)``.

    The points of :func:`reduce_points`, without their batch indices and positions.

    Parameters
    ----------
    tensor : torch.Tensor of shape (batch, ...)
        The output of one module for one batch; dimension 0 is the batch.
    reduction : str or int, default="none"
        One of :data:`REDUCTIONS` or an int position; see :func:`reduce_points`.
    site : str, default="<tensor>"
        Module path named in error messages.
    mask : torch.Tensor of shape (batch, seq) or None, default=None
        Attention mask for the sequence reductions; see :func:`reduce_points`.

    Returns
    -------
    torch.Tensor of shape (n_points, n_features)
        ``n_points == batch`` except for ``"tokens"`` and ``"spatial"``. It may be a view of
        ``tensor``; copy it before storing.

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
    >>> tuple(reduce_output(torch.zeros(2, 16, 5, 5), "spatial").shape)
    (50, 16)
    """
    return reduce_points(tensor, reduction, site=site, mask=mask).points
