"""Record module outputs (or inputs) with temporary hooks.

Three entry points:

- :func:`capture` is a context manager that only registers hooks: whatever forward passes the
  caller runs inside the ``with`` block are recorded. Grad mode and train/eval mode are left to
  the caller.
- :func:`run_capture` runs the forward passes itself under :func:`torch.no_grad` with the model
  in eval mode, restores every module's train/eval flag afterwards, and returns the
  :class:`Capture` (points and their labels).
- :func:`capture_activations` is :func:`run_capture` returning only the arrays, one
  ``(n_points, n_features)`` array per site.

Hooks are registered on an :class:`contextlib.ExitStack` and removed when the block exits, also
when the forward pass raises. Stored points are detached NumPy copies on the CPU (float32 or
float16, in memory, subsampled, or memory-mapped from disk: :mod:`tda_interp.hooks.buffers`);
they hold no reference to the graph, the model or the module's output tensor.

Modules called several times per forward pass
---------------------------------------------
A *forward pass* is one call of the model given to :func:`capture`. A module called ``k > 1``
times in one pass (shared weights, a loop, a reused activation module) gives ``k`` point clouds,
``"site#0"`` .. ``"site#<k-1>"``, one per call in call order; a module called once gives the
cloud ``"site"``. Every point carries its call index in ``Capture.labels[cloud]["call"]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

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
from tda_interp.hooks.buffers import (
    Labels,
    PointBuffer,
    Storage,
    StorageDtype,
    check_storage,
    make_buffer,
)
from tda_interp.hooks.inputs import (
    Inputs,
    find_attention_mask,
    find_token_ids,
    iter_batches,
    n_rows,
)
from tda_interp.hooks.outputs import CallInputs, ElementLike, select_output
from tda_interp.hooks.reductions import (
    POINTS_PER_INPUT,
    ReductionLike,
    check_reduction,
    reduce_points,
)
from tda_interp.hooks.sites import SiteSpec, close_names, resolve_sites, site_modules

__all__ = [
    "LABELS",
    "Capture",
    "HookKind",
    "NonFinite",
    "capture",
    "capture_activations",
    "cloud_name",
    "run_capture",
]

HookKind: TypeAlias = Literal["output", "input"]
NonFinite: TypeAlias = Literal["raise", "drop", "keep"]
Auto: TypeAlias = Literal["auto"]

LABELS: tuple[str, ...] = ("batch_index", "position", "call", "token_id")
"""Label columns kept beside every point; see :attr:`Capture.labels`."""

_SEQUENCE = frozenset({"mean", "first", "last", "tokens"})
_TOKEN_POSITIONS = frozenset({"first", "last", "tokens"})


def cloud_name(site: str, call: int, n_calls: int) -> str:
    """Name of the cloud of call ``call`` of a site called ``n_calls`` times per pass.

    Examples
    --------
    >>> cloud_name("fc", 0, 1), cloud_name("fc", 1, 2)
    ('fc', 'fc#1')
    """
    return site if n_calls == 1 else f"{site}#{call}"


def _at(checkpoint: str | None) -> str:
    return f" at checkpoint {checkpoint!r}" if checkpoint is not None else ""


def _check_options(hook: object, nonfinite: object, mask: object, tokens: object) -> None:
    if hook not in ("output", "input"):
        raise ConfigError(
            f"Expected hook to be 'output' or 'input', got {hook!r}; 'input' records the "
            "first tensor argument of each site (or the one chosen by output_index)."
        )
    if nonfinite not in ("raise", "drop", "keep"):
        raise ConfigError(
            f"Expected nonfinite to be 'raise', 'drop' or 'keep', got {nonfinite!r}; 'drop' "
            "removes points with NaN or Inf with a warning."
        )
    for name, value in (("attention_mask", mask), ("token_ids", tokens)):
        if value is not None and value != "auto" and not isinstance(value, torch.Tensor):
            raise ConfigError(
                f"Expected {name} to be 'auto', None or a tensor of shape (n_inputs, seq), got "
                f"{type(value).__name__}."
            )


class Capture:
    """Points recorded by :func:`capture`, with labels, per site and call.

    Created by :func:`capture` and :func:`run_capture`; not meant to be built by hand. The
    parameters are those of :func:`capture`.

    Attributes
    ----------
    sites : list of str
        The watched module paths.
    clouds : list of str
        One name per point cloud: the site path, or ``"site#k"`` for call ``k`` of a site
        called several times per forward pass.
    activations : dict of str to ndarray of shape (n_points, n_features)
        Points per cloud (float32 by default; :class:`numpy.memmap` with ``storage="memmap"``).
    labels : dict of str to dict of str to ndarray of shape (n_points,)
        Per cloud, int64 columns aligned with the rows of ``activations``: ``batch_index``
        (index of the input row among all inputs this cloud saw), ``position`` (token position,
        or flat spatial index ``h * W + w``; ``-1`` for pooled points), ``call`` (call index
        within the forward pass) and ``token_id`` (``-1`` where unknown).

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
    >>> cap.labels["0"]["batch_index"].tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    """

    def __init__(
        self,
        sites: Sequence[str],
        reduction: ReductionLike = "none",
        output_index: ElementLike = None,
        *,
        hook: HookKind = "output",
        attention_mask: Auto | None = "auto",
        token_ids: Auto | None = "auto",
        max_points: int | None = None,
        seed: int = 0,
        dtype: StorageDtype = "float32",
        storage: Storage = "memory",
        storage_dir: str | Path | None = None,
        nonfinite: NonFinite = "raise",
        checkpoint: str | None = None,
    ) -> None:
        self._sites = list(sites)
        self._reduction = check_reduction(reduction)
        self._element = output_index
        self._hook_kind = hook
        self._auto_mask = attention_mask == "auto"
        self._auto_tokens = token_ids == "auto"
        self._storage = {
            "max_points": max_points,
            "seed": seed,
            "dtype": dtype,
            "storage": storage,
            "storage_dir": storage_dir,
        }
        self._dtype = np.dtype(dtype)
        self._nonfinite = nonfinite
        self.checkpoint = checkpoint
        self._buffers: dict[str, dict[int, PointBuffer]] = {site: {} for site in self._sites}
        self._offsets: dict[tuple[str, int], int] = {}
        self._widths: dict[tuple[str, int], list[int]] = {}
        self._n_calls = dict.fromkeys(self._sites, 0)
        self._calls_in_pass = dict.fromkeys(self._sites, 0)
        self._last_rows: dict[str, int] = {}
        self._dropped: dict[tuple[str, int], int] = {}
        self._mask: torch.Tensor | None = None
        self._tokens: torch.Tensor | None = None
        self._explicit = False

    # ----------------------------------------------------------------- reading results
    @property
    def sites(self) -> list[str]:
        """The watched module paths, in capture order (a copy)."""
        return list(self._sites)

    @property
    def n_calls(self) -> dict[str, int]:
        """How many times each site has fired so far (all calls of all passes)."""
        return dict(self._n_calls)

    def _cloud_keys(self) -> list[tuple[str, str, int]]:
        keys = []
        for site in self._sites:
            calls = sorted(self._buffers[site])
            keys += [(cloud_name(site, call, len(calls)), site, call) for call in calls]
        return keys

    @property
    def clouds(self) -> list[str]:
        """Names of the recorded point clouds, in site order then call order."""
        return [key for key, _, _ in self._cloud_keys()]

    @property
    def n_seen(self) -> dict[str, int]:
        """Points offered to each cloud, before ``max_points`` subsampling and NaN dropping."""
        return {
            key: self._buffers[site][call].n_seen + self._dropped.get((site, call), 0)
            for key, site, call in self._cloud_keys()
        }

    @property
    def n_dropped(self) -> dict[str, int]:
        """Points dropped for NaN or Inf (``nonfinite="drop"``), per cloud that lost any."""
        return {
            key: self._dropped[(site, call)]
            for key, site, call in self._cloud_keys()
            if (site, call) in self._dropped
        }

    @property
    def activations(self) -> dict[str, np.ndarray]:
        """Points per cloud, each of shape ``(n_points, n_features)``.

        Raises
        ------
        CaptureError
            If a site never fired.
        ActivationError
            If a cloud's batches have different numbers of features.
        """
        self._check_all_fired()
        return {key: self._result(site, call)[0] for key, site, call in self._cloud_keys()}

    @property
    def labels(self) -> dict[str, Labels]:
        """Per cloud, label columns aligned with the rows of :attr:`activations`.

        Columns (int64, shape ``(n_points,)``): ``batch_index``, ``position``, ``call``,
        ``token_id``; see the class docstring.
        """
        self._check_all_fired()
        return {key: self._result(site, call)[1] for key, site, call in self._cloud_keys()}

    def label_frame(self, cloud: str) -> Any:
        """Return the labels of one cloud as a :class:`pandas.DataFrame`, one row per point.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Embedding(10, 4))
        >>> with capture(model, "0", reduction="tokens") as cap:
        ...     _ = model(torch.tensor([[3, 4], [5, 6]]))
        >>> cap.label_frame("0")["token_id"].tolist()
        [3, 4, 5, 6]
        """
        import pandas as pd

        site, call = self._locate(cloud)
        return pd.DataFrame(self._result(site, call)[1])

    def __getitem__(self, cloud: str) -> np.ndarray:
        """Return the points of one cloud, shape ``(n_points, n_features)``."""
        site, call = self._locate(cloud)
        return self._result(site, call)[0]

    def __contains__(self, site: object) -> bool:
        return site in self._buffers or site in self.clouds

    def __len__(self) -> int:
        return len(self._sites)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sites)

    def __repr__(self) -> str:
        return f"Capture(sites={self._sites!r}, n_calls={self.n_calls!r})"

    def _locate(self, cloud: str) -> tuple[str, int]:
        for key, site, call in self._cloud_keys():
            if key == cloud:
                return site, call
        if cloud in self._buffers:
            calls = sorted(self._buffers[cloud])
            if not calls:
                raise self._never_fired(cloud)
            names = ", ".join(repr(cloud_name(cloud, call, len(calls))) for call in calls)
            raise CaptureError(
                f"Site {cloud!r} was called {len(calls)} times per forward pass, so each call "
                f"is its own cloud: {names}; index one of them."
            )
        suggestions = ", ".join(repr(name) for name in close_names(cloud, self.clouds))
        raise SiteNotFoundError(
            f"Site {cloud!r} was not captured; captured clouds close to it: {suggestions}. "
            "See Capture.clouds for all of them."
        )

    def _never_fired(self, site: str) -> CaptureError:
        return CaptureError(
            f"Site {site!r} never fired during the forward pass{_at(self.checkpoint)}; check "
            "that model.forward actually calls this module (it may be skipped by a branch or "
            "replaced by a functional call), or choose another site."
        )

    def _check_all_fired(self) -> None:
        for site in self._sites:
            if not self._buffers[site]:
                raise self._never_fired(site)

    def _result(self, site: str, call: int) -> tuple[np.ndarray, Labels]:
        widths = self._widths.get((site, call))
        if widths:
            raise ActivationError(
                f"Batches from {site!r}{_at(self.checkpoint)} have different numbers of "
                f"features {sorted(set(widths))} with reduction={self._reduction!r}; pad inputs "
                "to one sequence length, or use reduction='mean', 'first', 'last' or 'tokens'."
            )
        return self._buffers[site][call].result()

    def close(self) -> None:
        """Close open files of memory-mapped buffers (results stay readable)."""
        for calls in self._buffers.values():
            for buffer in calls.values():
                buffer.close()

    # ----------------------------------------------------------------- recording
    def set_batch(
        self, attention_mask: torch.Tensor | None = None, token_ids: torch.Tensor | None = None
    ) -> None:
        """Use this mask and these token ids for the following forward passes.

        Overrides what is found in the model call's keyword arguments (``attention_mask=``,
        ``input_ids=``). :func:`run_capture` calls it once per batch.
        """
        self._explicit = True
        self._mask, self._tokens = attention_mask, token_ids

    def _begin_pass(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._calls_in_pass = dict.fromkeys(self._sites, 0)
        if not self._explicit:
            self._mask = find_attention_mask(kwargs) if self._auto_mask else None
            self._tokens = find_token_ids(args, kwargs) if self._auto_tokens else None

    def _token_labels(self, tensor: torch.Tensor, batch: torch.Tensor, pos: torch.Tensor) -> Any:
        tokens = self._tokens
        positional = self._reduction in _TOKEN_POSITIONS or isinstance(self._reduction, int)
        if tokens is None or not positional or tuple(tokens.shape) != tuple(tensor.shape[:2]):
            return np.full(batch.shape[0], -1, dtype=np.int64)
        return tokens.to(batch.device)[batch, pos].cpu().numpy().astype(np.int64)

    def _record(self, site: str, output: object) -> None:
        call = self._calls_in_pass.get(site, 0)
        self._calls_in_pass[site] = call + 1
        self._n_calls[site] += 1
        tensor = select_output(output, self._element, site=site, hook=self._hook_kind).detach()
        if tensor.dtype != torch.float32:
            tensor = tensor.float()
        mask = self._mask
        if tensor.ndim != 3 or not (
            self._reduction in _SEQUENCE or isinstance(self._reduction, int)
        ):
            mask = None
        # Reduce before the device transfer so only the points leave the accelerator.
        reduced = reduce_points(tensor, self._reduction, site=site, mask=mask)
        points = reduced.points.cpu()
        key = (site, call)
        offset = self._offsets.get(key, 0)
        self._offsets[key] = offset + int(tensor.shape[0])
        self._last_rows[site] = int(points.shape[0])
        labels = {
            "batch_index": reduced.batch.cpu().numpy() + offset,
            "position": reduced.position.cpu().numpy(),
            "call": np.full(points.shape[0], call, dtype=np.int64),
            "token_id": self._token_labels(tensor, reduced.batch, reduced.position),
        }
        # Copy: the output may be a view that a later in-place op (e.g. ReLU(inplace=True))
        # overwrites, and a view would keep the whole output tensor alive.
        with np.errstate(over="ignore"):  # float16 overflow is reported below
            array = np.array(points.numpy(), dtype=self._dtype, copy=True)
        finite = cast(np.ndarray, np.isfinite(array).all(axis=1))
        if not finite.all() and (self._nonfinite != "keep" or self._dtype == np.float16):
            array, labels = self._nonfinite_rows(site, call, array, labels, finite, points)
        self._store(site, call, array, labels)

    def _nonfinite_rows(
        self,
        site: str,
        call: int,
        array: np.ndarray,
        labels: Labels,
        finite: np.ndarray,
        points: torch.Tensor,
    ) -> tuple[np.ndarray, Labels]:
        n_bad = int((~finite).sum())
        overflow = self._dtype == np.float16 and bool(torch.isfinite(points).all())
        if overflow:
            raise ActivationError(
                f"Site {site!r}{_at(self.checkpoint)} has activations beyond the float16 range "
                f"(|x| > 65504) in {n_bad} of {len(array)} points; pass dtype='float32'."
            )
        if self._nonfinite == "keep":
            return array, labels
        if self._nonfinite == "raise":
            first = int(labels["batch_index"][~finite][0])
            raise ActivationError(
                f"Site {site!r}{_at(self.checkpoint)} gave NaN or Inf activations in {n_bad} of "
                f"{len(array)} points (first at input row {first}); the model or checkpoint may "
                "have diverged. Pass nonfinite='drop' to drop those points with a warning."
            )
        self._dropped[(site, call)] = self._dropped.get((site, call), 0) + n_bad
        return array[finite], {name: values[finite] for name, values in labels.items()}

    def _store(self, site: str, call: int, array: np.ndarray, labels: Labels) -> None:
        buffers = self._buffers[site]
        if call not in buffers:
            name = site if call == 0 else f"{site}#{call}"
            buffers[call] = make_buffer(name, **self._storage)  # type: ignore[arg-type]
        buffer = buffers[call]
        width = int(array.shape[1])
        if buffer.n_features is not None and buffer.n_features != width:
            self._widths.setdefault((site, call), [buffer.n_features]).append(width)
            return
        buffer.append(array, labels)

    def _warn_dropped(self, stacklevel: int) -> None:
        for name, count in self.n_dropped.items():
            warnings.warn(
                f"Dropped {count} points with NaN or Inf activations from {name!r}"
                f"{_at(self.checkpoint)} (nonfinite='drop'); the remaining points are kept.",
                TdaInterpWarning,
                stacklevel=stacklevel,
            )

    def _output_hook(self, site: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self._record(site, output)

        return hook

    def _input_hook(self, site: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, kwargs: Any) -> None:
            self._record(site, CallInputs(tuple(args), dict(kwargs)))

        return hook


@contextmanager
def _hooks(model: nn.Module, names: Sequence[str], recorder: Capture) -> Iterator[Capture]:
    modules = site_modules(model)
    try:
        with ExitStack() as stack:
            handle = model.register_forward_pre_hook(recorder._begin_pass, with_kwargs=True)
            stack.callback(handle.remove)
            for name in names:
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
    model: nn.Module,
    sites: SiteSpec,
    *,
    reduction: ReductionLike = "none",
    output_index: ElementLike = None,
    hook: HookKind = "output",
    attention_mask: Auto | None = "auto",
    token_ids: Auto | None = "auto",
    max_points: int | None = None,
    seed: int = 0,
    dtype: StorageDtype = "float32",
    storage: Storage = "memory",
    storage_dir: str | Path | None = None,
    nonfinite: NonFinite = "raise",
    checkpoint: str | None = None,
) -> Iterator[Capture]:
    """Record the outputs (or inputs) of ``sites`` during every forward pass run in the block.

    Only hooks are managed: grad mode and train/eval mode stay as the caller sets them (use
    :func:`run_capture` or :func:`capture_activations` to have both handled). Every call of a
    site appends its points to the cloud of that call (see the module docstring for sites
    called several times per pass). All hooks are removed when the block exits, also on an
    exception.

    Parameters
    ----------
    model : torch.nn.Module
        The model to watch. One call of ``model`` is one forward pass.
    sites : str, sequence, callable or module type
        Module paths, globs, a predicate or module types; see
        :func:`~tda_interp.hooks.resolve_sites`.
    reduction : str or int, default="none"
        How each output becomes points: ``"none"``, ``"flatten"``, ``"mean"``, ``"first"``,
        ``"last"``, an int position, ``"tokens"``, ``"avgpool"`` or ``"spatial"``; see
        :func:`~tda_interp.hooks.reduce_points`.
    output_index : int, str or None, default=None
        Element captured when a site returns a tuple, mapping or ``ModelOutput``: a position,
        a name such as ``"last_hidden_state"``, or ``None`` for the first tensor. With
        ``hook="input"``: a positional argument's index or a keyword argument's name.
    hook : {"output", "input"}, default="output"
        Record what each site returns (forward hook) or receives (forward pre-hook, keyword
        arguments included).
    attention_mask : "auto" or None, default="auto"
        ``"auto"``: a 2-D ``attention_mask=`` keyword of the model call masks the sequence
        reductions, so padding never becomes a point; ``None``: no masking.
    token_ids : "auto" or None, default="auto"
        ``"auto"``: token ids for the ``token_id`` label are taken from ``input_ids=``, or from
        a 2-D integer first positional argument; ``None``: no token ids.
    max_points : int or None, default=None
        Keep at most this many points per cloud, a uniform sample of all points seen (seeded
        reservoir sampling); labels are subsampled with them. ``None`` keeps every point.
    seed : int, default=0
        Seed of the reservoir sample (combined with the cloud name).
    dtype : {"float32", "float16"}, default="float32"
        Storage dtype of the points.
    storage : {"memory", "memmap"}, default="memory"
        ``"memmap"`` appends points batch by batch to files in ``storage_dir`` and returns
        :class:`numpy.memmap` arrays, for captures larger than memory.
    storage_dir : str, pathlib.Path or None, default=None
        Folder of the files of ``storage="memmap"``.
    nonfinite : {"raise", "drop", "keep"}, default="raise"
        NaN or Inf activations raise :class:`~tda_interp.exceptions.ActivationError`, are
        dropped with a :class:`~tda_interp.exceptions.TdaInterpWarning` at the end, or are kept
        as they are.
    checkpoint : str or None, default=None
        Named in error messages and warnings.

    Yields
    ------
    Capture
        Read ``cap.activations``, ``cap.labels`` or ``cap[cloud]`` after the forward passes.

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
    >>> {site: acts.shape for site, acts in cap.activations.items()}
    {'0': (5, 8), '1': (5, 8), '2': (5, 2)}
    """
    check_reduction(reduction)
    _check_options(hook, nonfinite, attention_mask, token_ids)
    check_storage(
        max_points=max_points, dtype=dtype, storage=storage, storage_dir=storage_dir, seed=seed
    )
    names = resolve_sites(model, sites)
    recorder = Capture(
        names,
        reduction=reduction,
        output_index=output_index,
        hook=hook,
        attention_mask=attention_mask,
        token_ids=token_ids,
        max_points=max_points,
        seed=seed,
        dtype=dtype,
        storage=storage,
        storage_dir=storage_dir,
        nonfinite=nonfinite,
        checkpoint=checkpoint,
    )
    with _hooks(model, names, recorder):
        yield recorder
    recorder._warn_dropped(stacklevel=4)  # _warn_dropped, capture, contextlib, caller


def _per_row(value: object, name: str, total: int) -> torch.Tensor | None:
    if not isinstance(value, torch.Tensor):
        return None
    if value.ndim != 2 or value.shape[0] != total:
        raise ConfigError(
            f"Expected {name} of shape (n_inputs, seq) = ({total}, seq), got "
            f"{tuple(value.shape)}; pass one row per input."
        )
    return value


def run_capture(
    model: nn.Module,
    inputs: Inputs,
    sites: SiteSpec,
    *,
    reduction: ReductionLike = "none",
    batch_size: int | None = None,
    output_index: ElementLike = None,
    hook: HookKind = "output",
    attention_mask: torch.Tensor | Auto | None = "auto",
    token_ids: torch.Tensor | Auto | None = "auto",
    max_points: int | None = None,
    seed: int = 0,
    dtype: StorageDtype = "float32",
    storage: Storage = "memory",
    storage_dir: str | Path | None = None,
    nonfinite: NonFinite = "raise",
    checkpoint: str | None = None,
) -> Capture:
    """Run ``model`` on ``inputs`` in batches and return the :class:`Capture` of ``sites``.

    The forward passes run under :func:`torch.no_grad` with the model in eval mode; every
    module's original train/eval flag is restored afterwards, also on an exception. Inputs are
    not moved: put them on the model's device first.

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
    batch_size : int or None, default=None
        Rows per forward pass; ``None`` runs all rows at once.
    attention_mask : Tensor of shape (n_inputs, seq), "auto" or None, default="auto"
        Mask of the sequence reductions (padding never becomes a point). ``"auto"`` uses the
        ``attention_mask`` entry of dict inputs.
    token_ids : Tensor of shape (n_inputs, seq), "auto" or None, default="auto"
        Token ids for the ``token_id`` label. ``"auto"`` uses the ``input_ids`` entry of dict
        inputs, or a 2-D integer tensor input.
    reduction, output_index, hook, max_points, seed, dtype, storage, storage_dir, nonfinite, \
checkpoint
        See :func:`capture`.

    Returns
    -------
    Capture
        ``.activations`` and ``.labels`` per cloud; ``batch_index`` labels index ``inputs``.

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
        If ``inputs`` (e.g. an empty probe set), ``batch_size`` or another option is invalid.

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
    >>> cap.activations["1"].shape, cap.labels["1"]["token_id"].tolist()
    ((3, 4), [1, 2, 3])
    """
    return _run(
        model,
        inputs,
        sites,
        reduction=reduction,
        batch_size=batch_size,
        output_index=output_index,
        hook=hook,
        attention_mask=attention_mask,
        token_ids=token_ids,
        max_points=max_points,
        seed=seed,
        dtype=dtype,
        storage=storage,
        storage_dir=storage_dir,
        nonfinite=nonfinite,
        checkpoint=checkpoint,
    )


def _run(
    model: nn.Module,
    inputs: Inputs,
    sites: SiteSpec,
    *,
    reduction: ReductionLike,
    batch_size: int | None,
    attention_mask: torch.Tensor | Auto | None = "auto",
    token_ids: torch.Tensor | Auto | None = "auto",
    **options: Any,
) -> Capture:
    """Body of :func:`run_capture`; warnings use stacklevel 4 (helper, _run, public, caller)."""
    check_reduction(reduction)
    _check_options(
        options.get("hook", "output"), options.get("nonfinite", "raise"), attention_mask, token_ids
    )
    check_storage(
        max_points=options.get("max_points"),
        dtype=options.get("dtype", "float32"),
        storage=options.get("storage", "memory"),
        storage_dir=options.get("storage_dir"),
        seed=options.get("seed", 0),
    )
    total = n_rows(inputs)
    if batch_size is None:
        batch_size = total
    elif isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"Expected batch_size to be a positive int or None, got {batch_size!r}; pass e.g. "
            "batch_size=256, or None for a single forward pass."
        )
    mask = _per_row(attention_mask, "attention_mask", total)
    ids = _per_row(token_ids, "token_ids", total)
    explicit = mask is not None or ids is not None
    names = resolve_sites(model, sites)
    recorder = Capture(
        names,
        reduction=reduction,
        attention_mask=None if attention_mask is None else "auto",
        token_ids=None if token_ids is None else "auto",
        **options,
    )
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with torch.no_grad(), _hooks(model, names, recorder):
            for start, stop, args, kwargs in iter_batches(inputs, total, batch_size):
                if explicit:
                    recorder.set_batch(
                        mask[start:stop] if mask is not None else find_attention_mask(kwargs),
                        ids[start:stop] if ids is not None else find_token_ids(args, kwargs),
                    )
                before = recorder.n_calls
                model(*args, **kwargs)
                _check_fired(recorder, before, stop - start, reduction)
    finally:
        for module, training in modes:
            module.training = training
    recorder._warn_dropped(stacklevel=4)
    _check_sizes(recorder)
    return recorder


def _check_fired(recorder: Capture, before: dict[str, int], n_batch: int, reduction: Any) -> None:
    for site, n_calls in recorder.n_calls.items():
        fired = n_calls - before[site]
        if fired == 0:
            raise recorder._never_fired(site)
        rows = recorder._last_rows[site]
        if reduction not in POINTS_PER_INPUT and rows != n_batch:
            warnings.warn(
                f"Site {site!r} gave {rows} rows for a batch of {n_batch} inputs; its output's "
                "dim 0 is probably not the batch dimension, so rows are not one point per "
                "input. Hook a module with batch-first output or choose a reduction that keeps "
                "one row per input.",
                TdaInterpWarning,
                stacklevel=4,
            )


def _check_sizes(recorder: Capture) -> None:
    for cloud, points in recorder.activations.items():
        if len(points) == 0:
            raise ActivationError(
                f"Cloud {cloud!r}{_at(recorder.checkpoint)} has no points: every point was "
                "padding (attention_mask) or dropped as non-finite; pass inputs with real "
                "tokens and finite activations."
            )
        if len(points) == 1:
            warnings.warn(
                f"Cloud {cloud!r}{_at(recorder.checkpoint)} has a single point, which has no "
                "topology beyond one H0 bar; pass more inputs or a reduction with more points "
                "per input (e.g. reduction='tokens').",
                TdaInterpWarning,
                stacklevel=4,
            )


def capture_activations(
    model: nn.Module,
    inputs: Inputs,
    sites: SiteSpec,
    *,
    reduction: ReductionLike = "none",
    batch_size: int | None = None,
    output_index: ElementLike = None,
    nonfinite: NonFinite = "keep",
    **options: Any,
) -> dict[str, np.ndarray]:
    """Run ``model`` on ``inputs`` and return the activations of ``sites``.

    :func:`run_capture` returning only ``Capture.activations``: the forward passes run under
    :func:`torch.no_grad` with the model in eval mode; every module's original train/eval flag
    is restored afterwards, also on an exception.

    Parameters
    ----------
    model : torch.nn.Module
        The model to run.
    inputs : Tensor of shape (n_inputs, ...), tuple, or dict
        See :func:`run_capture`.
    sites : str, sequence, callable or module type
        See :func:`~tda_interp.hooks.resolve_sites`.
    reduction : str or int, default="none"
        How each output becomes points; see :func:`~tda_interp.hooks.reduce_points`.
    batch_size : int or None, default=None
        Rows per forward pass; ``None`` runs all rows at once.
    output_index : int, str or None, default=None
        Element taken from tuple / mapping / ``ModelOutput`` outputs; ``None``: first tensor.
    nonfinite : {"keep", "raise", "drop"}, default="keep"
        As in :func:`capture`, but NaN and Inf are kept by default here (unlike
        :func:`run_capture`), as before this option existed: the pipeline checks non-finite
        values itself, naming the layer and checkpoint.
    **options
        Any keyword argument of :func:`run_capture` (``hook``, ``attention_mask``,
        ``token_ids``, ``max_points``, ``seed``, ``dtype``, ``storage``, ``storage_dir``,
        ``checkpoint``).

    Returns
    -------
    dict of str to ndarray of shape (n_points, n_features)
        One array per cloud (the site path, or ``"site#k"`` for call ``k`` of a site called
        several times per forward pass), in site order, batches concatenated.

    Raises
    ------
    SiteNotFoundError, CaptureError, ActivationError, ConfigError
        See :func:`run_capture`.

    Warns
    -----
    TdaInterpWarning
        See :func:`run_capture`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> acts = capture_activations(model, torch.randn(10, 4), ["0", "2"], batch_size=4)
    >>> acts["0"].shape, acts["2"].shape, acts["0"].dtype
    ((10, 8), (10, 2), dtype('float32'))
    """
    return _run(
        model,
        inputs,
        sites,
        reduction=reduction,
        batch_size=batch_size,
        output_index=output_index,
        nonfinite=nonfinite,
        **options,
    ).activations
