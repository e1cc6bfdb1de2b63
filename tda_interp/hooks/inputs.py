"""Probe inputs: count their rows, split them into batches, find token ids and attention masks.

Inputs are a tensor (passed as the one positional argument), a tuple (passed as ``*args``) or a
mapping (passed as ``**kwargs``, e.g. a Hugging Face tokenizer's ``BatchEncoding``). Tensors
with at least one dimension are split along dim 0; 0-d tensors and other values are passed to
every batch unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch

from tda_interp.exceptions import ConfigError

__all__ = [
    "Inputs",
    "ProbeSet",
    "find_attention_mask",
    "find_token_ids",
    "inputs_fingerprint",
    "iter_batches",
    "n_rows",
]

Inputs: TypeAlias = torch.Tensor | tuple[Any, ...] | Mapping[str, Any]
"""Model inputs: a tensor, a tuple passed as ``*args``, or a mapping passed as ``**kwargs``."""


@dataclass(frozen=True)
class ProbeSet:
    """Probe inputs with a label per input (its class, its token...): a run given one forms,
    besides each layer's whole cloud, one cloud per label value, ``"<layer>@<label>"``.

    Parameters
    ----------
    inputs : Tensor, tuple or mapping
        The probe inputs, as :data:`Inputs`.
    labels : array-like of shape (n_inputs,)
        One int or str per input (checked by the run, before anything is written).

    Examples
    --------
    >>> probe = ProbeSet(torch.zeros(4, 2), [0, 1, 0, 1])
    >>> probe.labels
    [0, 1, 0, 1]
    """

    inputs: Inputs
    labels: Any


def n_rows(inputs: Inputs) -> int:
    """Return the number of input rows (the common size of dim 0 of the input tensors).

    Raises
    ------
    ConfigError
        If ``inputs`` has an unsupported type, holds no batched tensor, tensors disagree on
        dim 0, or there are no rows (an empty probe set).

    Examples
    --------
    >>> import torch
    >>> n_rows({"input_ids": torch.zeros(3, 5, dtype=torch.long), "flag": True})
    3
    """
    if isinstance(inputs, torch.Tensor):
        tensors = [inputs]
    elif isinstance(inputs, tuple):
        tensors = [item for item in inputs if isinstance(item, torch.Tensor)]
    elif isinstance(inputs, Mapping):
        tensors = [item for item in inputs.values() if isinstance(item, torch.Tensor)]
    else:
        raise ConfigError(
            f"Expected inputs as a Tensor, a tuple of tensors (passed as *args) or a dict "
            f"(passed as **kwargs), got {type(inputs).__name__}; wrap a list of tensors with "
            "tuple(...)."
        )
    batched = [tensor for tensor in tensors if tensor.ndim > 0]
    if not batched:
        raise ConfigError(
            "Expected at least one input tensor with a batch dimension, got none; pass e.g. "
            "inputs=torch.randn(n_points, n_features)."
        )
    rows = batched[0].shape[0]
    sizes = sorted({tensor.shape[0] for tensor in batched})
    if len(sizes) > 1:
        raise ConfigError(
            f"Expected every input tensor to have the same size along dim 0 (the batch), got "
            f"sizes {sizes}; pass 0-d tensors or non-tensors for arguments that are not batched."
        )
    if rows == 0:
        raise ConfigError(
            "Expected at least one input row, got 0 (an empty probe set); pass a non-empty batch."
        )
    return int(rows)


def _split(value: Any, start: int, stop: int) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim > 0:
        return value[start:stop]
    return value


def iter_batches(
    inputs: Inputs, total: int, batch_size: int
) -> Iterator[tuple[int, int, tuple[Any, ...], dict[str, Any]]]:
    """Yield ``(start, stop, args, kwargs)`` for consecutive batches of ``batch_size`` rows.

    Examples
    --------
    >>> import torch
    >>> [(start, stop) for start, stop, _, _ in iter_batches(torch.zeros(5, 2), 5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        if isinstance(inputs, torch.Tensor):
            yield start, stop, (inputs[start:stop],), {}
        elif isinstance(inputs, tuple):
            yield start, stop, tuple(_split(item, start, stop) for item in inputs), {}
        else:
            kwargs = {key: _split(item, start, stop) for key, item in inputs.items()}
            yield start, stop, (), kwargs


def find_token_ids(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> torch.Tensor | None:
    """Find the token ids of a model call: ``input_ids=``, else a 2-D integer first argument.

    Examples
    --------
    >>> import torch
    >>> find_token_ids((torch.zeros(2, 4, dtype=torch.long),), {}).shape
    torch.Size([2, 4])
    >>> find_token_ids((torch.zeros(2, 4),), {}) is None
    True
    """
    ids = kwargs.get("input_ids")
    if ids is None and args:
        ids = args[0]
    if isinstance(ids, torch.Tensor) and ids.ndim == 2 and not ids.is_floating_point():
        return ids
    return None


def find_attention_mask(kwargs: Mapping[str, Any]) -> torch.Tensor | None:
    """Return the 2-D ``attention_mask=`` of a model call, if any.

    Examples
    --------
    >>> import torch
    >>> find_attention_mask({"attention_mask": torch.ones(2, 4)}).shape
    torch.Size([2, 4])
    """
    mask = kwargs.get("attention_mask")
    if isinstance(mask, torch.Tensor) and mask.ndim == 2:
        return mask
    return None


def inputs_fingerprint(inputs: Inputs) -> dict[str, Any]:
    """Shape, dtype and SHA-256 of every probe tensor, and the number of rows.

    A run records it, so that a rerun into the same directory cannot mix probe sets. Every
    element of a tuple or dict must be a tensor here.

    Examples
    --------
    >>> import torch
    >>> fp = inputs_fingerprint(torch.zeros(3, 2))
    >>> fp["n_inputs"], fp["tensors"]
    (3, {'0': [[3, 2], 'float32']})
    """
    if isinstance(inputs, torch.Tensor):
        items: list[tuple[str, Any]] = [("0", inputs)]
    elif isinstance(inputs, Mapping):
        items = [(str(k), v) for k, v in sorted(inputs.items())]
    elif isinstance(inputs, tuple | list):
        items = [(str(i), v) for i, v in enumerate(inputs)]
    else:
        raise ConfigError(
            f"Expected probe inputs as a Tensor, a tuple of Tensors or a dict of Tensors, got "
            f"{type(inputs).__name__}; make the inputs factory return one of these."
        )
    digest = hashlib.sha256()
    shapes = {}
    for key, tensor in items:
        if not isinstance(tensor, torch.Tensor):
            raise ConfigError(
                f"Probe input {key!r} is a {type(tensor).__name__}, expected a torch.Tensor."
            )
        t = tensor.detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(str(t.dtype).encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(
            t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes()
        )
        shapes[key] = [list(t.shape), str(t.dtype).removeprefix("torch.")]
    rows = n_rows(tuple(inputs) if isinstance(inputs, list) else inputs)
    return {"sha256": digest.hexdigest(), "tensors": shapes, "n_inputs": rows}
