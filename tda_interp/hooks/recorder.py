"""The record of a capture: :class:`Capture`, a mapping from cloud name to points.

Stored points are detached NumPy copies on the CPU (float32 or float16, in memory, subsampled,
or memory-mapped from disk: :mod:`tda_interp.hooks.buffers`); they hold no reference to the
graph, the model or the module's output tensor.

Modules called several times per forward pass
---------------------------------------------
A *forward pass* is one call of the model given to :func:`~tda_interp.hooks.capture`. A module
called ``k > 1`` times in one pass (shared weights, a loop, a reused activation module) gives
``k`` point clouds, ``"site#0"`` .. ``"site#<k-1>"``, one per call in call order; a module called
once gives the cloud ``"site"``. Every point carries its call index in
``Capture.labels[cloud]["call"]``. A ``"param:NAME"`` site counts the lookups of its parameter
inside the forward pass the same way (:mod:`tda_interp.hooks.lookups`); lookups outside it, e.g.
in the ``with`` block after the model call, are not recorded.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from tda_interp.exceptions import (
    ActivationError,
    CaptureError,
    SiteNotFoundError,
    TdaInterpWarning,
)
from tda_interp.hooks.buffers import Labels, PointBuffer, make_buffer
from tda_interp.hooks.inputs import find_attention_mask, find_token_ids
from tda_interp.hooks.lookups import is_param_site, param_name
from tda_interp.hooks.outputs import CallInputs, select_output
from tda_interp.hooks.reductions import reduce_points
from tda_interp.hooks.sites import close_names
from tda_interp.options.capture import CaptureOptions

__all__ = ["LABELS", "Capture", "cloud_name"]

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


class Capture(Mapping[str, np.ndarray]):
    """Points recorded by :func:`~tda_interp.hooks.capture`, with labels, per site and call.

    A mapping from cloud name to points: ``len``, iteration, ``in`` and ``[]`` all speak of
    clouds (the site path, or ``"site#k"`` for call ``k`` of a site called several times per
    forward pass), so ``dict(cap)`` is :attr:`activations` for the sites that fired. Created by
    :func:`~tda_interp.hooks.capture` and :func:`~tda_interp.hooks.run_capture`; not meant to
    be built by hand.

    Parameters
    ----------
    sites : sequence of str
        The watched module paths (and ``"param:NAME"`` sites).
    options : CaptureOptions, optional

    Attributes
    ----------
    options : CaptureOptions
        The options the points were recorded with.
    sites : list of str
        The watched module paths (and ``"param:NAME"`` sites).
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
    >>> from tda_interp.hooks import capture
    >>> with capture(model, ["0", "2"]) as cap, torch.no_grad():
    ...     _ = model(torch.randn(5, 4))
    ...     _ = model(torch.randn(3, 4))
    >>> cap["0"].shape, cap["2"].shape
    ((8, 8), (8, 2))
    >>> len(cap), list(cap), "0" in cap
    (2, ['0', '2'], True)
    >>> cap.labels["0"]["batch_index"].tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    """

    def __init__(self, sites: Sequence[str], options: CaptureOptions | None = None) -> None:
        opts = options or CaptureOptions()
        self.options = opts
        self._sites = list(sites)
        self._reduction = opts.reduction
        self._element = opts.output_index
        self._hook_kind = opts.hook
        self._auto_mask = opts.attention_mask == "auto"
        self._auto_tokens = opts.token_ids == "auto"
        self._dtype = np.dtype(opts.dtype)
        self._nonfinite = opts.nonfinite
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
        self._in_pass = False

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
        >>> from tda_interp.hooks import capture
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
        """Return the points of one cloud, shape ``(n_points, n_features)``.

        Raises
        ------
        SiteNotFoundError
            (a ``KeyError``) for a name that is not a cloud: never captured, never fired, or a
            site called several times per pass (its clouds are ``"site#0"``, ``"site#1"``...).
        """
        site, call = self._locate(cloud)
        return self._result(site, call)[0]

    def __contains__(self, cloud: object) -> bool:
        return cloud in self.clouds

    def __len__(self) -> int:
        return len(self._cloud_keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.clouds)

    def __repr__(self) -> str:
        return f"Capture(clouds={self.clouds!r}, n_calls={self.n_calls!r})"

    def _locate(self, cloud: str) -> tuple[str, int]:
        for key, site, call in self._cloud_keys():
            if key == cloud:
                return site, call
        if cloud in self._buffers:
            calls = sorted(self._buffers[cloud])
            if not calls:
                raise SiteNotFoundError(str(self._never_fired(cloud)))
            names = ", ".join(repr(cloud_name(cloud, call, len(calls))) for call in calls)
            raise SiteNotFoundError(
                f"Site {cloud!r} was called {len(calls)} times per forward pass, so each call "
                f"is its own cloud: {names}; index one of them."
            )
        suggestions = ", ".join(repr(name) for name in close_names(cloud, self.clouds))
        raise SiteNotFoundError(
            f"Site {cloud!r} was not captured; captured clouds close to it: {suggestions}. "
            "See Capture.clouds for all of them."
        )

    def _never_fired(self, site: str) -> CaptureError:
        if is_param_site(site):
            name = param_name(site)
            return CaptureError(
                f"Site {site!r} never fired during the forward pass: forward never looked up "
                f"rows of the parameter {name!r} itself (as {name}[index], F.embedding(index, "
                f"{name}) or index_select). A lookup on a derived tensor (.to(), .T, a copy) or a "
                "product with one-hot vectors is not seen: index the parameter directly, or "
                "capture the input of the module that receives the result (hook='input')."
            )
        return CaptureError(
            f"Site {site!r} never fired during the forward pass; check "
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
                f"Batches from {site!r} have different numbers of "
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
        self._in_pass = True
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

    def _record(self, site: str, output: object, *, lookup: bool = False) -> None:
        call = self._calls_in_pass.get(site, 0)
        self._calls_in_pass[site] = call + 1
        self._n_calls[site] += 1
        if lookup:  # the rows of a parameter lookup: a tensor, whatever hook / output_index say
            tensor = cast(torch.Tensor, output).detach()
        else:
            tensor = select_output(output, self._element, site=site, hook=self._hook_kind)
            tensor = tensor.detach()
        if tensor.is_meta:
            raise CaptureError(
                f"Site {site!r} gave a meta tensor (shape {tuple(tensor.shape)}, no data): the "
                "model's weights were never materialised; load them (e.g. load_state_dict with "
                "assign=True, or build the model on a real device) before capturing."
            )
        if tensor.is_complex():
            raise ActivationError(
                f"Site {site!r} gave complex activations ({tensor.dtype}); distances between "
                "complex points are not defined here: capture a real-valued site, or split "
                "real and imaginary parts in the model."
            )
        if tensor.dtype != torch.float32:  # float16, bfloat16, float64, ints: float32 points
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
                f"Site {site!r} has activations beyond the float16 range "
                f"(|x| > 65504) in {n_bad} of {len(array)} points; pass dtype='float32'."
            )
        if self._nonfinite == "keep":
            return array, labels
        if self._nonfinite == "raise":
            first = int(labels["batch_index"][~finite][0])
            raise ActivationError(
                f"Site {site!r} gave NaN or Inf activations in {n_bad} of "
                f"{len(array)} points (first at input row {first}); the model or checkpoint may "
                'have diverged. Pass nonfinite="drop" to drop those points with a warning.'
            )
        self._dropped[(site, call)] = self._dropped.get((site, call), 0) + n_bad
        return array[finite], {name: values[finite] for name, values in labels.items()}

    def _store(self, site: str, call: int, array: np.ndarray, labels: Labels) -> None:
        buffers = self._buffers[site]
        if call not in buffers:
            name = site if call == 0 else f"{site}#{call}"
            buffers[call] = make_buffer(name, self.options)
        buffer = buffers[call]
        width = int(array.shape[1])
        if buffer.n_features is not None and buffer.n_features != width:
            self._widths.setdefault((site, call), [buffer.n_features]).append(width)
            return
        buffer.append(array, labels)

    def _warn_dropped(self, stacklevel: int) -> None:
        for name, count in self.n_dropped.items():
            warnings.warn(
                TdaInterpWarning(
                    f"Dropped {count} points with NaN or Inf activations from {name!r} "
                    '(nonfinite="drop"); the remaining points are kept.',
                    kind="nonfinite-dropped",
                ),
                stacklevel=stacklevel,
            )

    def _output_hook(self, site: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            self._record(site, output)

        return hook

    def _end_pass(self, module: nn.Module, args: Any, output: Any) -> None:
        self._in_pass = False

    def _record_lookup(self, site: str, rows: torch.Tensor) -> None:
        if self._in_pass:  # only lookups inside the forward pass of the model count
            self._record(site, rows, lookup=True)

    def _input_hook(self, site: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, args: Any, kwargs: Any) -> None:
            self._record(site, CallInputs(tuple(args), dict(kwargs)))

        return hook
