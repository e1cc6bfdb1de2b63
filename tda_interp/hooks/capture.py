"""Record module outputs (or inputs) with temporary hooks: one stack of entry points.

Layered as TransformerLens layers ``hooks`` -> ``run_with_hooks`` -> ``run_with_cache``, each
adding one thing to the one below:

- :func:`capture` registers the hooks, and only that: whatever forward passes the caller runs
  inside the ``with`` block are recorded into a :class:`~tda_interp.hooks.Capture` (grad mode
  and train/eval mode stay as the caller set them);
- :func:`run_capture` is :func:`capture` around forward passes it runs itself, batch by batch,
  under :func:`~tda_interp.hooks.guards.inference_mode`, and checks that every site fired.

Both take a :class:`~tda_interp.options.CaptureOptions`, or its fields as keyword arguments.
Hooks are registered on an :class:`contextlib.ExitStack` and removed when the block exits,
also when the forward pass raises. :func:`capture_activations` is the deprecated name of
``run_capture(...).activations``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from tda_interp.exceptions import ActivationError, ConfigError, TdaInterpWarning
from tda_interp.hooks.guards import inference_mode
from tda_interp.hooks.inputs import (
    Inputs,
    find_attention_mask,
    find_token_ids,
    iter_batches,
    n_rows,
)
from tda_interp.hooks.lookups import ParameterLookups
from tda_interp.hooks.recorder import Capture
from tda_interp.hooks.sites import SiteSpec, resolve_sites, site_modules, site_parameters
from tda_interp.options.capture import POINTS_PER_INPUT, CaptureOptions

__all__ = ["capture", "capture_activations", "run_capture"]


@contextmanager
def _hooks(model: nn.Module, names: Sequence[str], recorder: Capture) -> Iterator[Capture]:
    modules = site_modules(model)
    params = site_parameters(model)
    lookups = {name: params[name] for name in names if name not in modules and name in params}
    try:
        with ExitStack() as stack:
            handle = model.register_forward_pre_hook(recorder._begin_pass, with_kwargs=True)
            stack.callback(handle.remove)
            if lookups:  # "param:NAME" sites: a torch function mode, exited like the hooks
                handle = model.register_forward_hook(recorder._end_pass, always_call=True)
                stack.callback(handle.remove)
                stack.enter_context(ParameterLookups(lookups, recorder._record_lookup))
            for name in names:
                if name in lookups:
                    continue
                if recorder._hook_kind == "input":
                    handle = modules[name].register_forward_pre_hook(
                        recorder._input_hook(name), with_kwargs=True
                    )
                else:
                    handle = modules[name].register_forward_hook(recorder._output_hook(name))
                stack.callback(handle.remove)
            yield recorder
    finally:
        recorder.close()


@contextmanager
def capture(
    model: nn.Module, sites: SiteSpec, options: CaptureOptions | None = None, **overrides: Any
) -> Iterator[Capture]:
    """Record the outputs (or inputs) of ``sites`` during every forward pass run in the block.

    Only hooks are managed: grad mode and train/eval mode stay as the caller sets them (use
    :func:`run_capture` to have both handled). Every call of a site appends its points to the
    cloud of that call (see :mod:`tda_interp.hooks.recorder` for sites called several times per
    pass). All hooks are removed when the block exits, also on an exception.

    Parameters
    ----------
    model : torch.nn.Module
        The model to watch. One call of ``model`` is one forward pass.
    sites : str, sequence, callable or module type
        Module paths, globs, a predicate or module types; see
        :func:`~tda_interp.hooks.resolve_sites`. ``"param:NAME"`` records the rows of every
        lookup of the parameter ``NAME`` in forward (``W_E[tokens]``), whatever ``hook`` and
        ``output_index`` say; see :mod:`tda_interp.hooks.lookups`.
    options : CaptureOptions, optional
        How outputs become points; the defaults when omitted.
    **overrides
        Any field of :class:`~tda_interp.options.CaptureOptions`, applied over ``options``:
        ``reduction``, ``output_index``, ``hook``, ``max_points``, ``seed``, ``dtype``,
        ``storage``, ``storage_dir``, ``nonfinite``, ``attention_mask`` ("auto": taken from the
        model call's ``attention_mask=`` keyword), ``token_ids`` ("auto": from ``input_ids=``
        or a 2-D integer first argument); ``batch_size`` is not used here.

    Yields
    ------
    Capture
        Read ``cap[cloud]``, ``cap.activations`` or ``cap.labels`` after the forward passes.

    Raises
    ------
    SiteNotFoundError
        If a site matches no module.
    CaptureError
        From inside the forward pass, if a site gives no tensor (or not the chosen element).
    ActivationError
        From inside the forward pass, if an output does not fit ``reduction`` or holds NaN/Inf.
    ConfigError
        If an option has a wrong value.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> with capture(model, "*") as cap, torch.no_grad():
    ...     _ = model(torch.randn(5, 4))
    >>> {cloud: points.shape for cloud, points in cap.items()}
    {'0': (5, 8), '1': (5, 8), '2': (5, 2)}
    """
    opts = CaptureOptions.resolve(options, overrides, caller="capture()")
    names = resolve_sites(model, sites)
    recorder = Capture(names, opts)
    with _hooks(model, names, recorder):
        yield recorder
    recorder._warn_dropped(stacklevel=4)  # _warn_dropped, capture, contextlib, caller


def _per_row(value: torch.Tensor | None, name: str, total: int) -> torch.Tensor | None:
    if value is not None and (value.ndim != 2 or value.shape[0] != total):
        raise ConfigError(
            f"Expected {name} of shape (n_inputs, seq) = ({total}, seq), got "
            f"{tuple(value.shape)}; pass one row per input."
        )
    return value


def run_capture(
    model: nn.Module,
    inputs: Inputs,
    sites: SiteSpec,
    options: CaptureOptions | None = None,
    **overrides: Any,
) -> Capture:
    """Run ``model`` on ``inputs`` in batches and return the :class:`Capture` of ``sites``.

    :func:`capture` around forward passes run here, under
    :func:`~tda_interp.hooks.guards.inference_mode` (no gradients, eval mode, every module's
    train/eval flag restored afterwards, also on an exception). Inputs are not moved: put them
    on the model's device first.

    Parameters
    ----------
    model : torch.nn.Module
        The model to run.
    inputs : Tensor of shape (n_inputs, ...), tuple, or dict
        A tensor is passed as the single positional argument, a tuple as ``*args`` and a dict
        (e.g. a tokenizer's output) as ``**kwargs``. Tensors with at least one dimension are
        split along dim 0 into batches; other values are passed unchanged to every batch.
    sites : str, sequence, callable or module type
        See :func:`~tda_interp.hooks.resolve_sites`.
    options : CaptureOptions, optional
        How outputs become points, and ``batch_size`` (rows per forward pass; ``None``: all).
    **overrides
        Any field of :class:`~tda_interp.options.CaptureOptions` (see :func:`capture`).
        ``attention_mask`` and ``token_ids`` may also be tensors of shape ``(n_inputs, seq)``:
        the mask of the sequence reductions (padding never becomes a point) and the ids of the
        ``token_id`` label, split with the batches.

    Returns
    -------
    Capture
        A mapping from cloud to points, with ``.labels``; ``batch_index`` labels index
        ``inputs``.

    Raises
    ------
    SiteNotFoundError
        If a site matches no module.
    CaptureError
        If a site never fires, or gives no tensor.
    ActivationError
        If an output does not fit ``reduction``, holds NaN/Inf (``nonfinite="raise"``), or a
        cloud ends up with no point.
    ConfigError
        If ``inputs`` (e.g. an empty probe set) or an option is invalid.

    Warns
    -----
    TdaInterpWarning
        If a site gives a number of rows other than the number of inputs in the batch with a
        one-point-per-input reduction, if a cloud has a single point, or if non-finite points
        were dropped.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4))
    >>> ids = torch.tensor([[1, 2, 0], [3, 0, 0]])
    >>> cap = run_capture(model, ids, "1", reduction="tokens", attention_mask=ids > 0)
    >>> cap["1"].shape, cap.labels["1"]["token_id"].tolist()
    ((3, 4), [1, 2, 3])
    """
    data = {
        name: overrides.pop(name)
        for name in ("attention_mask", "token_ids")
        if isinstance(overrides.get(name), torch.Tensor)
    }
    opts = CaptureOptions.resolve(options, overrides, caller="run_capture()")
    total = n_rows(inputs)
    mask = _per_row(data.get("attention_mask"), "attention_mask", total)
    ids = _per_row(data.get("token_ids"), "token_ids", total)
    names = resolve_sites(model, sites)
    recorder = Capture(names, opts)
    with inference_mode(model), _hooks(model, names, recorder):
        for start, stop, args, kwargs in iter_batches(inputs, total, opts.batch_size or total):
            if data:
                recorder.set_batch(
                    mask[start:stop] if mask is not None else find_attention_mask(kwargs),
                    ids[start:stop] if ids is not None else find_token_ids(args, kwargs),
                )
            before = recorder.n_calls
            model(*args, **kwargs)
            _check_fired(recorder, before, stop - start)
    recorder._warn_dropped(stacklevel=3)
    _check_sizes(recorder)
    return recorder


def _check_fired(recorder: Capture, before: dict[str, int], n_batch: int) -> None:
    for site, n_calls in recorder.n_calls.items():
        if n_calls == before[site]:
            raise recorder._never_fired(site)
        rows = recorder._last_rows[site]
        if recorder.options.reduction not in POINTS_PER_INPUT and rows != n_batch:
            warnings.warn(
                TdaInterpWarning(
                    f"Site {site!r} gave {rows} rows for a batch of {n_batch} inputs; its "
                    "output's dim 0 is probably not the batch dimension, so rows are not one "
                    "point per input. Hook a module with batch-first output or choose a "
                    "reduction that keeps one row per input.",
                    kind="rows-not-inputs",
                ),
                stacklevel=4,
            )


def _check_sizes(recorder: Capture) -> None:
    for cloud, points in recorder.items():
        if len(points) == 0:
            raise ActivationError(
                f"Cloud {cloud!r} has no points: every point was padding (attention_mask) or "
                "dropped as non-finite; pass inputs with real tokens and finite activations."
            )
        if len(points) == 1:
            warnings.warn(
                TdaInterpWarning(
                    f"Cloud {cloud!r} has a single point, which has no topology beyond one H0 "
                    "bar; pass more inputs or a reduction with more points per input (e.g. "
                    'reduction="tokens").',
                    kind="single-point",
                ),
                stacklevel=4,
            )


def capture_activations(
    model: nn.Module,
    inputs: Inputs,
    sites: SiteSpec,
    options: CaptureOptions | None = None,
    **overrides: Any,
) -> dict[str, np.ndarray]:
    """Deprecated: ``run_capture(model, inputs, sites, ...).activations``.

    Takes what :func:`run_capture` takes, with the same defaults (NaN and Inf raise, as
    everywhere, where 0.1 kept them here).

    Examples
    --------
    >>> import torch, warnings
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     acts = capture_activations(model, torch.randn(10, 4), ["0", "2"], batch_size=4)
    >>> acts["0"].shape, acts["2"].shape
    ((10, 8), (10, 2))
    """
    warnings.warn(
        "capture_activations(model, inputs, sites, ...) is deprecated and will be removed; use "
        "run_capture(model, inputs, sites, ...).activations (or dict(run_capture(...))).",
        DeprecationWarning,
        stacklevel=2,
    )
    return run_capture(model, inputs, sites, options, **overrides).activations
