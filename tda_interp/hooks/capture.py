"""Record module outputs with temporary forward hooks.

Two entry points:

- :func:`capture` is a context manager that only registers hooks: whatever forward passes the
  caller runs inside the ``with`` block are recorded, one batch per call. Grad mode and
  train/eval mode are left to the caller.
- :func:`capture_activations` runs the forward passes itself under :func:`torch.no_grad` with the
  model in eval mode, restores every module's train/eval flag afterwards, and returns one
  ``(n_points, n_features)`` float32 array per site.

Hooks are registered on an :class:`contextlib.ExitStack` and removed when the block exits, also
when the forward pass raises. Stored activations are detached float32 NumPy copies on the CPU;
they hold no reference to the graph, the model or the module's output tensor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from tda_interp.exceptions import (
    ActivationError,
    CaptureError,
    ConfigError,
    SiteNotFoundError,
    TdaInterpWarning,
)
from tda_interp.hooks.reductions import ReductionLike, check_reduction, reduce_output
from tda_interp.hooks.sites import SiteSpec, close_names, resolve_sites

__all__ = ["Capture", "capture", "capture_activations"]

Inputs = torch.Tensor | tuple[Any, ...] | Mapping[str, Any]
"""Model inputs: a tensor, a tuple passed as ``*args``, or a mapping passed as ``**kwargs``."""


class Capture:
    """Activations recorded by :func:`capture`, one list of batches per site.

    Created by :func:`capture`; not meant to be built by hand.

    Parameters
    ----------
    sites : sequence of str
        Resolved module paths, in capture order.
    reduction : {"none", "flatten", "mean", "last", "first"} or int, default="none"
        How each output is reduced to ``(batch, n_features)``; see
        :func:`~tda_interp.hooks.reduce_output`.
    output_index : int or None, default=None
        Element taken when a module returns a tuple or list (``None`` means 0).

    Attributes
    ----------
    sites : list of str
        The watched module paths.
    activations : dict of str to ndarray of shape (n_points, n_features)
        Batches concatenated per site, float32.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> with capture(model, ["0", "2"]) as cap, torch.no_grad():
    ...     _ = model(torch.randn(5, 4))
    ...     _ = model(torch.randn(3, 4))
    >>> cap["0"].shape, cap["2"].shape
    ((8, 8), (8, 2))
    """

    def __init__(
        self,
        sites: Sequence[str],
        reduction: ReductionLike = "none",
        output_index: int | None = None,
    ) -> None:
        self._sites = list(sites)
        self._reduction = check_reduction(reduction)
        self._output_index = output_index
        self._batches: dict[str, list[np.ndarray]] = {site: [] for site in self._sites}

    @property
    def sites(self) -> list[str]:
        """The watched module paths, in capture order (a copy)."""
        return list(self._sites)

    @property
    def n_calls(self) -> dict[str, int]:
        """How many times each site has fired so far."""
        return {site: len(batches) for site, batches in self._batches.items()}

    @property
    def activations(self) -> dict[str, np.ndarray]:
        """Concatenated activations per site, each of shape ``(n_points, n_features)``.

        Raises
        ------
        CaptureError
            If a site never fired.
        ActivationError
            If a site's batches have different numbers of features.
        """
        return {site: self._concatenate(site) for site in self._sites}

    def __getitem__(self, site: str) -> np.ndarray:
        """Return the concatenated activations of one site, shape ``(n_points, n_features)``."""
        if site not in self._batches:
            suggestions = ", ".join(repr(name) for name in close_names(site, self._sites))
            raise SiteNotFoundError(
                f"Site {site!r} was not captured; captured sites close to it: {suggestions}. "
                "See Capture.sites for all of them."
            )
        return self._concatenate(site)

    def __contains__(self, site: object) -> bool:
        return site in self._batches

    def __len__(self) -> int:
        return len(self._sites)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sites)

    def __repr__(self) -> str:
        return f"Capture(sites={self._sites!r}, n_calls={self.n_calls!r})"

    def _concatenate(self, site: str) -> np.ndarray:
        batches = self._batches[site]
        if not batches:
            raise CaptureError(
                f"Site {site!r} never fired during the forward pass; check that model.forward "
                "actually calls this module (it may be skipped by a branch or replaced by a "
                "functional call), or choose another site."
            )
        if len(batches) == 1:
            return batches[0]
        widths = sorted({batch.shape[1] for batch in batches})
        if len(widths) > 1:
            raise ActivationError(
                f"Batches from {site!r} have different numbers of features {widths} with "
                f"reduction={self._reduction!r}; pad inputs to one sequence length, or use "
                "reduction='mean', 'first' or 'last'."
            )
        return np.concatenate(batches, axis=0)

    def _select(self, site: str, output: object) -> torch.Tensor:
        if isinstance(output, torch.Tensor):
            return output
        index = 0 if self._output_index is None else self._output_index
        if isinstance(output, (tuple, list)):
            if not -len(output) <= index < len(output):
                raise CaptureError(
                    f"Site {site!r} returned a {type(output).__name__} of length {len(output)}, "
                    f"so output_index={index} is out of range; pass an output_index in "
                    f"[0, {len(output) - 1}]."
                )
            element = output[index]
            if isinstance(element, torch.Tensor):
                return element
            raise CaptureError(
                f"Expected a tensor at output_index={index} of the {type(output).__name__} "
                f"returned by site {site!r}, got {type(element).__name__}; pass the output_index "
                "of a tensor element, or hook a submodule that returns a tensor."
            )
        raise CaptureError(
            f"Expected site {site!r} to return a tensor, or a tuple/list holding one, got "
            f"{type(output).__name__}; hook a submodule that returns a tensor instead."
        )

    def _record(self, site: str, output: object) -> None:
        tensor = self._select(site, output).detach()
        if tensor.dtype != torch.float32:
            tensor = tensor.float()
        # Reduce before the device transfer so only (batch, n_features) leaves the accelerator.
        reduced = reduce_output(tensor, self._reduction, site=site).cpu()
        # Copy: the output may be a view that a later in-place op (e.g. ReLU(inplace=True))
        # overwrites, and a view would keep the whole output tensor alive.
        self._batches[site].append(np.array(reduced.numpy(), dtype=np.float32, copy=True))

    def _hook(self, site: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self._record(site, output)

        return hook


@contextmanager
def capture(
    model: nn.Module,
    sites: SiteSpec,
    *,
    reduction: ReductionLike = "none",
    output_index: int | None = None,
) -> Iterator[Capture]:
    """Record the outputs of ``sites`` during every forward pass run inside the block.

    Only hooks are managed: grad mode and train/eval mode stay as the caller sets them (use
    :func:`capture_activations` to have both handled). Every forward call appends one batch per
    site. All hooks are removed when the block exits, also on an exception.

    Parameters
    ----------
    model : torch.nn.Module
        The model to watch.
    sites : str, sequence of str, or callable
        Module paths, globs or a predicate; see :func:`~tda_interp.hooks.resolve_sites`.
    reduction : {"none", "flatten", "mean", "last", "first"} or int, default="none"
        How each output is reduced to ``(batch, n_features)``; see
        :func:`~tda_interp.hooks.reduce_output`.
    output_index : int or None, default=None
        Element taken when a module returns a tuple or list; ``None`` means 0.

    Yields
    ------
    Capture
        Read ``cap.activations`` or ``cap[site]`` (arrays of shape ``(n_points, n_features)``)
        after the forward passes.

    Raises
    ------
    SiteNotFoundError
        If a site matches no module.
    CaptureError
        From inside the forward pass, if a site returns something that is not a tensor.
    ActivationError
        From inside the forward pass, if an output does not fit ``reduction``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> with capture(model, "*") as cap, torch.no_grad():
    ...     _ = model(torch.randn(5, 4))
    >>> {site: acts.shape for site, acts in cap.activations.items()}
    {'0': (5, 8), '1': (5, 8), '2': (5, 2)}
    """
    check_reduction(reduction)
    names = resolve_sites(model, sites)
    modules = dict(model.named_modules())
    recorder = Capture(names, reduction=reduction, output_index=output_index)
    with ExitStack() as stack:
        for name in names:
            handle = modules[name].register_forward_hook(recorder._hook(name))
            stack.callback(handle.remove)
        yield recorder


def _n_rows(inputs: Inputs) -> int:
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
    n_rows = batched[0].shape[0]
    sizes = sorted({tensor.shape[0] for tensor in batched})
    if len(sizes) > 1:
        raise ConfigError(
            f"Expected every input tensor to have the same size along dim 0 (the batch), got "
            f"sizes {sizes}; pass 0-d tensors or non-tensors for arguments that are not batched."
        )
    if n_rows == 0:
        raise ConfigError("Expected at least one input row, got 0; pass a non-empty batch.")
    return int(n_rows)


def _split(value: Any, start: int, stop: int) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim > 0:
        return value[start:stop]
    return value


def _batches(
    inputs: Inputs, n_rows: int, batch_size: int
) -> Iterator[tuple[int, tuple[Any, ...], dict[str, Any]]]:
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        if isinstance(inputs, torch.Tensor):
            yield stop - start, (inputs[start:stop],), {}
        elif isinstance(inputs, tuple):
            yield stop - start, tuple(_split(item, start, stop) for item in inputs), {}
        else:
            yield stop - start, (), {key: _split(item, start, stop) for key, item in inputs.items()}


def capture_activations(
    model: nn.Module,
    inputs: Inputs,
    sites: SiteSpec,
    *,
    reduction: ReductionLike = "none",
    batch_size: int | None = None,
    output_index: int | None = None,
) -> dict[str, np.ndarray]:
    """Run ``model`` on ``inputs`` and return the activations of ``sites``.

    The forward passes run under :func:`torch.no_grad` with the model in eval mode; every
    module's original train/eval flag is restored afterwards, also on an exception. Inputs are
    not moved: put them on the model's device first.

    Parameters
    ----------
    model : torch.nn.Module
        The model to run.
    inputs : Tensor of shape (n_points, ...), tuple, or dict
        A tensor is passed as the single positional argument, a tuple as ``*args`` and a dict as
        ``**kwargs``. Tensors with at least one dimension are split along dim 0 into batches;
        0-d tensors and other values are passed unchanged to every batch.
    sites : str, sequence of str, or callable
        Module paths, globs or a predicate; see :func:`~tda_interp.hooks.resolve_sites`.
    reduction : {"none", "flatten", "mean", "last", "first"} or int, default="none"
        How each output is reduced; see :func:`~tda_interp.hooks.reduce_output`.
    batch_size : int or None, default=None
        Rows per forward pass; ``None`` runs all rows at once.
    output_index : int or None, default=None
        Element taken when a module returns a tuple or list; ``None`` means 0.

    Returns
    -------
    dict of str to ndarray of shape (n_points, n_features)
        One float32 array per site, in site order, batches concatenated.

    Raises
    ------
    SiteNotFoundError
        If a site matches no module.
    CaptureError
        If a site never fires or fires more than once per forward pass, or returns no tensor.
    ActivationError
        If an output does not fit ``reduction``.
    ConfigError
        If ``inputs``, ``batch_size`` or ``reduction`` is invalid.

    Warns
    -----
    TdaInterpWarning
        If a site gives a number of rows other than the number of inputs in the batch (its
        batch dimension is probably not dim 0).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> acts = capture_activations(model, torch.randn(10, 4), ["0", "2"], batch_size=4)
    >>> acts["0"].shape, acts["2"].shape, acts["0"].dtype
    ((10, 8), (10, 2), dtype('float32'))
    """
    check_reduction(reduction)
    n_rows = _n_rows(inputs)
    if batch_size is None:
        batch_size = n_rows
    elif isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"Expected batch_size to be a positive int or None, got {batch_size!r}; pass e.g. "
            "batch_size=256, or None for a single forward pass."
        )
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with (
            torch.no_grad(),
            capture(model, sites, reduction=reduction, output_index=output_index) as recorder,
        ):
            for n_batch, args, kwargs in _batches(inputs, n_rows, batch_size):
                before = recorder.n_calls
                model(*args, **kwargs)
                _check_fired(recorder, before, n_batch)
            return recorder.activations
    finally:
        for module, training in modes:
            module.training = training


def _check_fired(recorder: Capture, before: dict[str, int], n_batch: int) -> None:
    for site, n_calls in recorder.n_calls.items():
        fired = n_calls - before[site]
        if fired == 0:
            raise CaptureError(
                f"Site {site!r} never fired during the forward pass; check that model.forward "
                "actually calls this module (it may be skipped by a branch or replaced by a "
                "functional call), or choose another site."
            )
        if fired > 1:
            raise CaptureError(
                f"Site {site!r} fired {fired} times in one forward pass (the module is reused), "
                "so its rows would not match the inputs; hook a module that runs once per "
                "forward pass, or use capture() and split the batches yourself."
            )
        rows = recorder._batches[site][-1].shape[0]
        if rows != n_batch:
            warnings.warn(
                f"Site {site!r} gave {rows} rows for a batch of {n_batch} inputs; its output's "
                "dim 0 is probably not the batch dimension, so rows are not one point per "
                "input. Hook a module with batch-first output or choose a reduction that keeps "
                "one row per input.",
                TdaInterpWarning,
                stacklevel=3,
            )
