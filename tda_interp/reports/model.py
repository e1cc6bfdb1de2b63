"""The report's data model: frozen dataclasses built from a run directory, renderer-agnostic.

Everything a renderer needs is computed here once; the HTML and JSON renderers only format it.
Numbers are stored as plain tuples of Python numbers, ``None`` where a result is missing, so
that a report compares with ``==`` and maps one-to-one onto JSON
(:meth:`ReportData.to_dict` / :meth:`ReportData.from_dict`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from tda_interp.diagrams.betti import betti_curve, shared_grid
from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.summaries import DEFAULT_LONG_BAR
from tda_interp.exceptions import ConfigError, RunDirError, TdaInterpError
from tda_interp.homology.cycles import cloud_scatter, representative_cycles
from tda_interp.homology.persistence import check_input, uniform_subsample, used_points
from tda_interp.homology.significance import run_level_calls
from tda_interp.homology.views import parse_view
from tda_interp.options import RipsOptions
from tda_interp.options.run import Correction
from tda_interp.store.reader import Failure, Result, Run

__all__ = [
    "BettiCurves",
    "CheckpointInfo",
    "CloudEntry",
    "DiagramEntry",
    "LayerDistances",
    "MetricSeries",
    "MissingResult",
    "ReportData",
    "ViewMatrices",
    "build_report",
]

#: Number of values of the report's shared relative filtration grid.
N_BINS = 100

#: Most checkpoints per (layer, view) whose cloud the report draws (evenly spaced, first and
#: last included).
MAX_CLOUD_CHECKPOINTS = 12
#: Most points per drawn cloud (a fixed-seed subsample; the points of the cycles are kept).
MAX_CLOUD_POINTS = 1000
#: Most significant H1 bars per cloud given a representative cycle (the most persistent).
MAX_CYCLES = 3

CloudsMode = bool | Literal["auto"]

Matrix = tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of the run, in training order."""

    label: str
    step: int


@dataclass(frozen=True)
class MissingResult:
    """A (checkpoint, layer, view) the manifest asks for but the run directory has no diagram
    of: not computed yet (``reason`` None), or failed (``reason``: the error, e.g. a dead
    layer's constant activations)."""

    checkpoint: str
    layer: str
    view: str
    reason: str | None = None


@dataclass(frozen=True)
class ViewMatrices:
    """Layer x checkpoint summaries of the H1 bars of one view.

    Attributes
    ----------
    view : str
    n_long : tuple of tuple of (float or None), shape (n_layers, n_checkpoints)
        Number of H1 bars whose relative lifetime exceeds the run's ``long_bar``; ``None``
        where the result is missing.
    max_rel_persistence : tuple of tuple of (float or None), shape (n_layers, n_checkpoints)
        Largest relative H1 lifetime; ``None`` where the result is missing.
    n_significant : tuple of tuple of (float or None), shape (n_layers, n_checkpoints)
        Number of significant H1 bars under the report's correction; ``None`` where the result
        is missing or has no calls (empty when the run made none).
    significant_by_dim : tuple of Matrix, one per dimension 0..maxdim
        The same count for every dimension: ``significant_by_dim[0]`` counts the clusters
        (1 + the finite H0 bars the cluster rule calls), ``[1]`` equals ``n_significant``.
        Empty when the run made no calls.
    """

    view: str
    n_long: Matrix
    max_rel_persistence: Matrix
    n_significant: Matrix = ()
    significant_by_dim: tuple[Matrix, ...] = ()

    def array(self, name: str, dim: int | None = None) -> NDArray[np.float64]:
        """``n_long``, ``max_rel_persistence``, ``n_significant`` (or, with ``dim``,
        ``significant_by_dim[dim]``) as an array of shape (n_layers, n_checkpoints), NaN where
        missing."""
        if name not in ("n_long", "max_rel_persistence", "n_significant"):
            raise ConfigError(
                "ViewMatrices holds 'n_long', 'max_rel_persistence' and 'n_significant', not "
                f"{name!r}."
            )
        if dim is not None and name == "n_significant":
            if not 0 <= dim < len(self.significant_by_dim):
                raise ConfigError(
                    f"View {self.view!r} has significant counts for dimensions "
                    f"0..{len(self.significant_by_dim) - 1}, not H{dim}."
                )
            return _to_array(self.significant_by_dim[dim])
        return _to_array(getattr(self, name))


@dataclass(frozen=True)
class BettiCurves:
    """Betti curves of one (layer, view) at every checkpoint, on the report's shared grid.

    Attributes
    ----------
    layer, view : str
    curves : tuple of tuple of (tuple of int or None), shape (n_dims, n_checkpoints, n_bins)
        ``curves[k][c]`` is the Betti-``k`` curve at checkpoint ``c`` (``None`` if missing).
    """

    layer: str
    view: str
    curves: tuple[tuple[tuple[int, ...] | None, ...], ...]


@dataclass(frozen=True, eq=True)
class DiagramEntry:
    """The stored diagram of one (checkpoint, layer, view).

    ``bound_rel`` is its certified bottleneck distance to the exact diagram over the diameter:
    0 when exact, None when none is known (a uniform subsample, or no provenance).
    ``significant`` holds the report's calls, one tuple of bool per dimension aligned with
    ``diagram.pairs`` (None when the run made no call on it). ``n_points_total`` is the size of
    the cloud before any subsample or landmark selection (None when unknown).
    """

    checkpoint: str
    layer: str
    view: str
    diagram: Diagram
    bound_rel: float | None = 0.0
    significant: tuple[tuple[bool, ...], ...] | None = None
    n_points_total: int | None = None


@dataclass(frozen=True)
class CloudEntry:
    """The points of one (checkpoint, layer, view) in a plane, with the loops of its most
    persistent significant H1 bars.

    Attributes
    ----------
    checkpoint, layer, view : str
    xy : tuple of (float, float), length n_shown
        The view's own plane for ``pc<i>-<j>`` views, else the first two principal components
        of the view's points (:func:`tda_interp.homology.cycles.cloud_scatter`), to 4
        significant digits; at most ``MAX_CLOUD_POINTS`` points (a fixed-seed subsample that
        keeps every point of the cycles).
    labels : tuple of str, length n_shown
        What each point is: the report's ``cloud_label`` (the input index by default, the
        caller's ``point_labels``, ``unit <j>`` for the ``neurons`` view).
    cycles : tuple of tuple of int
        One per drawn bar, most persistent first (at most ``MAX_CYCLES``): indices into ``xy``
        along a representative cycle of the bar, closed by the last-to-first edge
        (:func:`tda_interp.homology.cycles.representative_cycles`).
    cycle_bars : tuple of (float, float)
        The bar of each cycle, ``(birth, death)`` over the cloud's diameter.
    n_points : int
        Points of the view's cloud before the drawing's subsample.
    """

    checkpoint: str
    layer: str
    view: str
    xy: tuple[tuple[float, float], ...]
    labels: tuple[str, ...]
    cycles: tuple[tuple[int, ...], ...] = ()
    cycle_bars: tuple[tuple[float, float], ...] = ()
    n_points: int = 0


@dataclass(frozen=True)
class LayerDistances:
    """Layer x layer distances between the diagrams of one view at one checkpoint.

    Attributes
    ----------
    view, checkpoint : str
    dim : int
        Homology dimension compared.
    metric : str
        The distance, in words (``"bottleneck distance, relative"``).
    layers : tuple of str, length n
    values : Matrix, shape (n, n)
        Symmetric, zero diagonal; ``None`` where a layer has no diagram.
    """

    view: str
    checkpoint: str
    dim: int
    metric: str
    layers: tuple[str, ...]
    values: Matrix


@dataclass(frozen=True)
class MetricSeries:
    """One scalar the run logged during training (loss, accuracy...), by step.

    Attributes
    ----------
    name : str
    steps : tuple of int
    values : tuple of float
        Same length as ``steps``.
    """

    name: str
    steps: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class ReportData:
    """Everything a report of one run shows.

    Attributes
    ----------
    title, created, model, description : str
        Header; ``description`` may be empty.
    versions : tuple of (str, str)
        Library versions recorded in the manifest.
    params : tuple of (str, Any)
        The run's parameters (JSON values), sorted by name.
    long_bar : float
        Relative-lifetime threshold of a long-lived bar.
    checkpoints : tuple of CheckpointInfo, length n_checkpoints
        In training order.
    layers, views : tuple of str
        In the run's order; results found for names outside the manifest are appended.
    dims : tuple of int
        Homology dimensions of the Betti curves (0 and 1 when the run computed H1).
    grid : tuple of float, length n_bins
        The one relative filtration grid shared by every curve of the report.
    matrices : tuple of ViewMatrices, one per view
    betti : tuple of BettiCurves, one per (layer, view), layer-major
    diagrams : tuple of DiagramEntry
        Every stored diagram, in checkpoint, layer, view order.
    missing : tuple of MissingResult
        Every expected (checkpoint, layer, view) without a result.
    significance : str
        How bars were called, in words (``"universal, alpha = 0.05"``); ``""`` when the run
        made no calls.
    correction : str
        Which calls the significant-bar counts use: ``"diagram"``, ``"bonferroni"`` or
        ``"bh"`` (see :func:`tda_interp.homology.run_level_calls`).
    maxdim : int
        Highest homology dimension of the run's diagrams.
    distances : tuple of LayerDistances
        Per view, layer x layer distances at the last checkpoint (see
        :func:`tda_interp.compare.pairwise_distances`); empty with one layer.
    metrics : tuple of MetricSeries
        Scalars logged during training, by name.
    control : ReportData or None
        A control run (untrained, shuffled labels...) shown beside this one.
    clouds : tuple of CloudEntry
        The clouds drawn, at up to ``MAX_CLOUD_CHECKPOINTS`` checkpoints per (layer, view), in
        checkpoint, layer, view order; empty when the activations could not be had.
    cloud_label : str
        What the clouds' labels are, in words (``"input index"``).
    clouds_note : str
        Why some or all clouds are missing, and how to get them; ``""`` when none is.
    """

    title: str
    created: str
    model: str
    description: str
    versions: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, Any], ...]
    long_bar: float
    checkpoints: tuple[CheckpointInfo, ...]
    layers: tuple[str, ...]
    views: tuple[str, ...]
    dims: tuple[int, ...]
    grid: tuple[float, ...]
    matrices: tuple[ViewMatrices, ...]
    betti: tuple[BettiCurves, ...]
    diagrams: tuple[DiagramEntry, ...]
    missing: tuple[MissingResult, ...]
    significance: str = ""
    correction: str = "diagram"
    maxdim: int = 1
    distances: tuple[LayerDistances, ...] = ()
    metrics: tuple[MetricSeries, ...] = ()
    control: ReportData | None = None
    clouds: tuple[CloudEntry, ...] = ()
    cloud_label: str = ""
    clouds_note: str = ""

    # ------------------------------------------------------------------ lookups
    @property
    def checkpoint_labels(self) -> tuple[str, ...]:
        """Checkpoint labels in training order."""
        return tuple(c.label for c in self.checkpoints)

    def bound_rel(self, checkpoint: str, layer: str, view: str) -> float | None:
        """Certified relative bound of one stored diagram (0 when exact, None if unknown)."""
        entry = self.entry(checkpoint, layer, view)
        return None if entry is None else entry.bound_rel

    def diagram(self, checkpoint: str, layer: str, view: str) -> Diagram | None:
        """The diagram of one (checkpoint, layer, view), ``None`` if it is missing."""
        entry = self.entry(checkpoint, layer, view)
        return None if entry is None else entry.diagram

    def entry(self, checkpoint: str, layer: str, view: str) -> DiagramEntry | None:
        """The stored diagram of one (checkpoint, layer, view) with its calls, or ``None``."""
        index = self.__dict__.get("_index")
        if index is None:  # built once: reports hold thousands of diagrams
            index = {(e.checkpoint, e.layer, e.view): e for e in self.diagrams}
            object.__setattr__(self, "_index", index)
        return index.get((checkpoint, layer, view))

    def cloud(self, checkpoint: str, layer: str, view: str) -> CloudEntry | None:
        """The drawn cloud of one (checkpoint, layer, view), or ``None``."""
        index = self.__dict__.get("_cloud_index")
        if index is None:  # built once, like entry()'s
            index = {(c.checkpoint, c.layer, c.view): c for c in self.clouds}
            object.__setattr__(self, "_cloud_index", index)
        return index.get((checkpoint, layer, view))

    def curves(self, layer: str, view: str) -> BettiCurves:
        """The Betti curves of one (layer, view)."""
        for b in self.betti:
            if (b.layer, b.view) == (layer, view):
                return b
        raise ConfigError(
            f"No Betti curves for layer {layer!r}, view {view!r} in this report; its layers are "
            f"{list(self.layers)} and its views {list(self.views)}."
        )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; infinite deaths become ``None`` (JSON ``null``)."""
        return {
            "title": self.title,
            "created": self.created,
            "model": self.model,
            "description": self.description,
            "versions": dict(self.versions),
            "params": dict(self.params),
            "long_bar": self.long_bar,
            "checkpoints": [{"label": c.label, "step": c.step} for c in self.checkpoints],
            "layers": list(self.layers),
            "views": list(self.views),
            "dims": list(self.dims),
            "grid": list(self.grid),
            "matrices": [
                {
                    "view": m.view,
                    "n_long": [list(r) for r in m.n_long],
                    "max_rel_persistence": [list(r) for r in m.max_rel_persistence],
                    "n_significant": [list(r) for r in m.n_significant],
                    "significant_by_dim": [[list(r) for r in mat] for mat in m.significant_by_dim],
                }
                for m in self.matrices
            ],
            "betti": [
                {
                    "layer": b.layer,
                    "view": b.view,
                    "curves": [[None if c is None else list(c) for c in dim] for dim in b.curves],
                }
                for b in self.betti
            ],
            "diagrams": [
                {
                    "checkpoint": e.checkpoint,
                    "layer": e.layer,
                    "view": e.view,
                    "scale": e.diagram.scale,
                    "n_points": e.diagram.n_points,
                    "bound_rel": e.bound_rel,
                    "n_points_total": e.n_points_total,
                    "significant": None
                    if e.significant is None
                    else [[bool(v) for v in calls] for calls in e.significant],
                    "pairs": [
                        [[float(b), None if math.isinf(d) else float(d)] for b, d in p]
                        for p in e.diagram.pairs
                    ],
                }
                for e in self.diagrams
            ],
            "missing": [
                {"checkpoint": m.checkpoint, "layer": m.layer, "view": m.view, "reason": m.reason}
                for m in self.missing
            ],
            "significance": self.significance,
            "correction": self.correction,
            "maxdim": self.maxdim,
            "distances": [
                {
                    "view": d.view,
                    "checkpoint": d.checkpoint,
                    "dim": d.dim,
                    "metric": d.metric,
                    "layers": list(d.layers),
                    "values": [list(r) for r in d.values],
                }
                for d in self.distances
            ],
            "metrics": [
                {"name": m.name, "steps": list(m.steps), "values": list(m.values)}
                for m in self.metrics
            ],
            "control": None if self.control is None else self.control.to_dict(),
            "clouds": [
                {
                    "checkpoint": c.checkpoint,
                    "layer": c.layer,
                    "view": c.view,
                    "xy": [list(p) for p in c.xy],
                    "labels": list(c.labels),
                    "cycles": [list(cy) for cy in c.cycles],
                    "cycle_bars": [list(b) for b in c.cycle_bars],
                    "n_points": c.n_points,
                }
                for c in self.clouds
            ],
            "cloud_label": self.cloud_label,
            "clouds_note": self.clouds_note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportData:
        """Inverse of :meth:`to_dict` (e.g. on ``json.loads(render_json(report))``)."""
        try:
            return cls(
                title=data["title"],
                created=data["created"],
                model=data["model"],
                description=data["description"],
                versions=tuple((str(k), str(v)) for k, v in data["versions"].items()),
                params=tuple(sorted(data["params"].items())),
                long_bar=float(data["long_bar"]),
                checkpoints=tuple(
                    CheckpointInfo(label=c["label"], step=int(c["step"]))
                    for c in data["checkpoints"]
                ),
                layers=tuple(data["layers"]),
                views=tuple(data["views"]),
                dims=tuple(int(k) for k in data["dims"]),
                grid=tuple(float(t) for t in data["grid"]),
                matrices=tuple(
                    ViewMatrices(
                        view=m["view"],
                        n_long=_matrix(m["n_long"]),
                        max_rel_persistence=_matrix(m["max_rel_persistence"]),
                        n_significant=_matrix(m.get("n_significant", ())),
                        significant_by_dim=tuple(
                            _matrix(mat) for mat in m.get("significant_by_dim", ())
                        ),
                    )
                    for m in data["matrices"]
                ),
                betti=tuple(
                    BettiCurves(
                        layer=b["layer"],
                        view=b["view"],
                        curves=tuple(
                            tuple(None if c is None else tuple(int(v) for v in c) for c in dim)
                            for dim in b["curves"]
                        ),
                    )
                    for b in data["betti"]
                ),
                diagrams=tuple(
                    DiagramEntry(
                        checkpoint=e["checkpoint"],
                        layer=e["layer"],
                        view=e["view"],
                        diagram=Diagram(
                            pairs=tuple(
                                np.array(
                                    [[b, math.inf if d is None else d] for b, d in p],
                                    dtype=np.float64,
                                ).reshape(-1, 2)
                                for p in e["pairs"]
                            ),
                            scale=float(e["scale"]),
                            n_points=int(e["n_points"]),
                        ),
                        bound_rel=None if e.get("bound_rel") is None else float(e["bound_rel"]),
                        significant=None
                        if e.get("significant") is None
                        else tuple(tuple(bool(v) for v in c) for c in e["significant"]),
                        n_points_total=None
                        if e.get("n_points_total") is None
                        else int(e["n_points_total"]),
                    )
                    for e in data["diagrams"]
                ),
                missing=tuple(
                    MissingResult(
                        checkpoint=m["checkpoint"],
                        layer=m["layer"],
                        view=m["view"],
                        reason=m.get("reason"),
                    )
                    for m in data["missing"]
                ),
                significance=str(data.get("significance", "")),
                correction=str(data.get("correction", "diagram")),
                maxdim=int(data.get("maxdim", 1)),
                distances=tuple(
                    LayerDistances(
                        view=d["view"],
                        checkpoint=d["checkpoint"],
                        dim=int(d["dim"]),
                        metric=str(d["metric"]),
                        layers=tuple(d["layers"]),
                        values=_matrix(d["values"]),
                    )
                    for d in data.get("distances", ())
                ),
                metrics=tuple(
                    MetricSeries(
                        name=str(m["name"]),
                        steps=tuple(int(v) for v in m["steps"]),
                        values=tuple(float(v) for v in m["values"]),
                    )
                    for m in data.get("metrics", ())
                ),
                control=None
                if data.get("control") is None
                else ReportData.from_dict(data["control"]),
                clouds=tuple(
                    CloudEntry(
                        checkpoint=str(c["checkpoint"]),
                        layer=str(c["layer"]),
                        view=str(c["view"]),
                        xy=tuple((float(x), float(y)) for x, y in c["xy"]),
                        labels=tuple(str(v) for v in c["labels"]),
                        cycles=tuple(tuple(int(i) for i in cy) for cy in c["cycles"]),
                        cycle_bars=tuple((float(b), float(d)) for b, d in c["cycle_bars"]),
                        n_points=int(c["n_points"]),
                    )
                    for c in data.get("clouds", ())
                ),
                cloud_label=str(data.get("cloud_label", "")),
                clouds_note=str(data.get("clouds_note", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise RunDirError(
                f"Not a tda-interp report JSON ({type(err).__name__}: {err}); pass the output "
                "of render_json()."
            ) from err


def _to_array(m: Matrix) -> NDArray[np.float64]:
    return np.array([[np.nan if v is None else v for v in row] for row in m], dtype=np.float64)


def _matrix(rows: Sequence[Sequence[float | None]]) -> Matrix:
    return tuple(tuple(None if v is None else float(v) for v in row) for row in rows)


def _merge(known: Sequence[str], found: Sequence[str]) -> tuple[str, ...]:
    """``known`` in order, then names only seen in results, in the order seen."""
    out = [str(x) for x in known]
    for name in found:
        if name not in out:
            out.append(name)
    return tuple(out)


def _h1_value(result: Result | None, key: str) -> float | None:
    if result is None:
        return None
    for row in result.summary:
        if int(row.get("dim", -1)) == 1:
            return float(row[key])
    return None  # the run computed H0 only


def build_report(
    run_dir: str | os.PathLike[str],
    *,
    title: str | None = None,
    correction: Correction | None = None,
    control: str | os.PathLike[str] | None = None,
    clouds: CloudsMode = "auto",
    activations: Mapping[str, Mapping[str, Any]] | None = None,
    point_labels: Sequence[Any] | None = None,
) -> ReportData:
    """Read a run directory into the data of its report.

    Parameters
    ----------
    run_dir : path
        A run directory written by :class:`tda_interp.store.RunWriter`.
    title : str, optional
        Report title; the manifest's ``info.title``, else one naming the model, by default.
    correction : {"diagram", "bonferroni", "bh"}, optional
        Which significance calls are counted (see
        :func:`tda_interp.homology.run_level_calls`); by default the run's own
        (:attr:`tda_interp.store.Run.correction`).
    control : path, optional
        A control run directory (untrained, shuffled labels...), read the same way (with the
        same correction) and shown beside this run.
    clouds : bool or "auto", default "auto"
        Draw the clouds (:class:`CloudEntry`) at up to ``MAX_CLOUD_CHECKPOINTS`` checkpoints.
        Their activations are ``activations`` or, for runs made from a config (``tda-interp
        run``, ``demo``), captured again from the model and inputs factories the run records
        (:func:`tda_interp.compare.run_activations`; nothing is written into the run
        directory). ``"auto"``: clouds when the activations can be had, else a note
        (``clouds_note``); ``True``: an error instead of the note; ``False``: none.
    activations : mapping of str to mapping of str to array-like, optional
        ``{checkpoint label: {layer: cloud of shape (n_points, n_features)}}``, the clouds the
        run's diagrams were computed from (for runs made from Python); used instead of
        capturing again.
    point_labels : sequence, optional
        One label per point of a cloud (per probe input with a one-point-per-input
        reduction): token ids, classes, positions... shown on hover and beside the loops, and
        coloured on a continuous scale when all are numbers. By default the row index of the
        cloud (the input index with a one-point-per-input reduction). Clouds of another size
        keep the index.

    Returns
    -------
    ReportData
        Layer x checkpoint matrices per view (significant bars per dimension, long-lived H1
        bars, the longest H1 bar), Betti curves H0/H1 per (layer, view) on one relative grid
        shared by the whole run (``N_BINS`` values in [0, 1]), every diagram with its calls,
        layer x layer distances at the last checkpoint, logged training metrics, the clouds,
        and the list of missing results.

    Raises
    ------
    RunDirError
        If ``run_dir`` holds no run, or a result file is unreadable; with ``clouds=True``, if
        the run's activations cannot be had.

    Examples
    --------
    >>> import tempfile
    >>> from tda_interp.store import RunWriter
    >>> d = tempfile.mkdtemp()
    >>> w = RunWriter(d, params={"layers": ["fc"], "views": ["raw"]})
    >>> w.add_checkpoint("step_0", 0)
    >>> report = build_report(d)
    >>> [(m.checkpoint, m.layer, m.view) for m in report.missing]
    [('step_0', 'fc', 'raw')]
    """
    run = Run(run_dir)
    params = run.params
    info = run.info
    everything = run._all()  # results and failures, every file read once
    results = [r for r in everything if isinstance(r, Result)]

    ckpts = [CheckpointInfo(label=c.label, step=c.step) for c in run.checkpoints]
    known = {c.label for c in ckpts}
    for r in results:  # results of checkpoints the manifest does not list are kept, at the end
        if r.checkpoint not in known:
            ckpts.append(CheckpointInfo(label=r.checkpoint, step=r.step))
            known.add(r.checkpoint)
    layers = _merge(run.layers, [r.layer for r in results])
    views = _merge(run.views, [r.view for r in results])
    by_key = {(r.checkpoint, r.layer, r.view): r for r in results}

    failed = {
        (f.checkpoint, f.layer, f.view): f"{f.error}: {f.message}"
        for f in everything
        if isinstance(f, Failure)
    }
    missing = tuple(
        MissingResult(c.label, layer, view, failed.get((c.label, layer, view)))
        for c in ckpts
        for layer in layers
        for view in views
        if (c.label, layer, view) not in by_key
    )

    how: Correction = run.correction if correction is None else correction
    tested = [r for r in results if r.significance is not None]
    corrected = run_level_calls([r.significance for r in tested if r.significance], how)
    calls_of = {
        (r.checkpoint, r.layer, r.view): calls for r, calls in zip(tested, corrected, strict=True)
    }
    homology = params.get("homology") or {}
    maxdim = int(homology.get("maxdim", max((r.diagram.maxdim for r in results), default=1)))
    matrices = []
    for view in views:
        keys = [[(c.label, layer, view) for c in ckpts] for layer in layers]
        cells = [[by_key.get(key) for key in row] for row in keys]
        by_dim = tuple(
            tuple(tuple(_count(calls_of.get(key), k) for key in row) for row in keys)
            for k in range(maxdim + 1)
        )
        matrices.append(
            ViewMatrices(
                view=view,
                n_long=tuple(tuple(_h1_value(r, "n_long") for r in row) for row in cells),
                max_rel_persistence=tuple(
                    tuple(_h1_value(r, "max_rel_persistence") for r in row) for row in cells
                ),
                n_significant=by_dim[1] if calls_of and maxdim >= 1 else (),
                significant_by_dim=by_dim if calls_of else (),
            )
        )

    dims = tuple(range(min(maxdim, 1) + 1))
    grid = shared_grid([r.diagram for r in results], n_bins=N_BINS, relative=True)
    betti = []
    for layer in layers:
        for view in views:
            per_dim = []
            for k in dims:
                row: list[tuple[int, ...] | None] = []
                for c in ckpts:
                    found = by_key.get((c.label, layer, view))
                    if found is None or found.diagram.maxdim < k:
                        row.append(None)
                    else:
                        curve = betti_curve(found.diagram, k, grid, relative=True)
                        row.append(tuple(int(v) for v in curve))
                per_dim.append(tuple(row))
            betti.append(BettiCurves(layer=layer, view=view, curves=tuple(per_dim)))

    diagrams = tuple(
        DiagramEntry(
            checkpoint=c.label,
            layer=layer,
            view=view,
            diagram=by_key[key].diagram,
            bound_rel=_bound_rel(by_key[key].diagram),
            significant=None
            if key not in calls_of
            else tuple(tuple(bool(v) for v in c) for c in calls_of[key]),
            n_points_total=_n_points_total(by_key[key].diagram),
        )
        for c in ckpts
        for layer in layers
        for view in views
        if (key := (c.label, layer, view)) in by_key
    )
    model = str(info.get("model", "")) or "unknown model"
    drawn, cloud_label, clouds_note = _clouds(
        run,
        by_key,
        calls_of,
        ckpts,
        layers,
        views,
        mode=clouds,
        activations=activations,
        point_labels=point_labels,
    )
    return ReportData(
        title=title or str(info.get("title", "") or f"tda-interp report: {model}"),
        created=str(run.manifest.get("created", "")),
        model=model,
        description=str(info.get("description", "") or ""),
        versions=tuple((str(k), str(v)) for k, v in run.versions.items()),
        params=tuple(sorted(_flat(params).items())),
        long_bar=float((params.get("summary") or {}).get("long_bar", DEFAULT_LONG_BAR)),
        checkpoints=tuple(ckpts),
        layers=layers,
        views=views,
        dims=dims,
        grid=tuple(float(t) for t in grid),
        matrices=tuple(matrices),
        betti=tuple(betti),
        diagrams=diagrams,
        missing=missing,
        significance=_describe_calls(tested),
        correction=how,
        maxdim=maxdim,
        distances=_layer_distances(by_key, ckpts, layers, views, maxdim),
        metrics=_metrics(run),
        control=None if control is None else build_report(control, correction=how, clouds=False),
        clouds=drawn,
        cloud_label=cloud_label,
        clouds_note=clouds_note,
    )


def _pick_evenly(n: int, most: int) -> list[int]:
    """Up to ``most`` evenly spaced indices of ``range(n)``, first and last included."""
    if n <= most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})


def _sig4(v: float) -> float:
    """``v`` to 4 significant digits."""
    return float(f"{v:.4g}")


def _clouds(
    run: Run,
    by_key: Mapping[tuple[str, str, str], Result],
    calls_of: Mapping[tuple[str, str, str], tuple[NDArray[np.bool_], ...]],
    ckpts: Sequence[CheckpointInfo],
    layers: Sequence[str],
    views: Sequence[str],
    *,
    mode: CloudsMode,
    activations: Mapping[str, Mapping[str, Any]] | None,
    point_labels: Sequence[Any] | None,
) -> tuple[tuple[CloudEntry, ...], str, str]:
    """The drawn clouds, what their labels are, and a note on those missing."""
    if mode is False or mode is None:
        return (), "", ""
    if mode not in (True, "auto"):
        raise ConfigError(f'clouds must be True, False or "auto", got {mode!r}.')
    from tda_interp.compare.runs import run_activations  # compare is optional here

    if point_labels is None and activations is None:
        point_labels = _run_labels(run)
    params = run.params
    capture = params.get("capture") or {}
    per_input = str(capture.get("reduction", "none")) not in ("tokens", "spatial") and not (
        capture.get("max_points") or 0
    )
    label_name = (
        "your labels"
        if point_labels is not None
        else ("input index" if per_input else "point index (row of the captured cloud)")
    )
    homology = {
        k: v for k, v in (params.get("homology") or {}).items() if k in RipsOptions.field_names()
    }
    try:
        rips = RipsOptions.from_dict(homology)
    except TdaInterpError as err:
        return (), label_name, f"No clouds: the run's homology options cannot be read ({err})."
    if rips.metric == "precomputed":
        return (), label_name, "No clouds: this run's diagrams come from distance matrices."
    with_results = [
        c for c in ckpts if any((c.label, la, v) in by_key for la in layers for v in views)
    ]
    picked = [with_results[i] for i in _pick_evenly(len(with_results), MAX_CLOUD_CHECKPOINTS)]
    notes: dict[str, None] = {}
    missing: dict[str, None] = {}  # why a checkpoint's activations could not be had
    out: list[CloudEntry] = []
    for ck in picked:
        if activations is not None:
            acts = activations.get(ck.label)
            if acts is None:
                notes[f"No activations were given for checkpoint {ck.label!r}."] = None
                continue
        else:
            try:
                acts = run_activations(run, ck.label)
            except TdaInterpError as err:
                if mode is True:
                    raise RunDirError(f"No clouds for the report: {err}") from err
                missing[str(err)] = None
                continue
        for layer in layers:
            if "@" in layer and layer.split("@", 1)[0] in acts:
                continue  # a cloud per label: its points are drawn, coloured, in the whole one
            for view in views:
                key = (ck.label, layer, view)
                result = by_key.get(key)
                if result is None:
                    continue
                if layer not in acts:
                    notes[f"No activations of layer {layer!r} at checkpoint {ck.label!r}."] = None
                    continue
                try:
                    # small SVDs and distance matrices: one BLAS thread is several times faster
                    with threadpool_limits(limits=1, user_api="blas"):
                        entry = _cloud_entry(
                            np.asarray(acts[layer]), result, calls_of.get(key), rips, point_labels
                        )
                except TdaInterpError as err:
                    notes[
                        f"No cloud for layer {layer!r}, view {view!r} at checkpoint "
                        f"{ck.label!r}: {err}"
                    ] = None
                    continue
                out.append(entry)
    if missing:
        how = (
            "Runs made with tda-interp run or demo record their model and inputs factories; "
            "from Python, pass build_report(..., activations={checkpoint: {layer: cloud}})."
        )
        first = next(iter(missing))
        more = f" ({len(missing) - 1} more reasons)" if len(missing) > 1 else ""
        where = "some checkpoints" if out else "any checkpoint"
        notes = {f"No point clouds at {where}: {first}{more} {how}": None, **notes}
    return tuple(out), label_name, " ".join(notes)


def _run_labels(run: Run) -> list[Any] | None:
    """The labels of the probe inputs from the run's labels factory (runs made from a config
    with ``[inputs] labels``), else None."""
    info = run.info
    if not info.get("labels") or "base_dir" not in info:
        return None
    from tda_interp.config import call_factory

    try:
        labels = call_factory(
            str(info["labels"]),
            base_dir=Path(info["base_dir"]),
            what="labels factory",
            args=info.get("inputs_args"),
        )
        return [str(v) for v in np.asarray(labels).tolist()]
    except TdaInterpError:
        return None


def _cloud_entry(
    cloud: NDArray[Any],
    result: Result,
    calls: tuple[NDArray[np.bool_], ...] | None,
    rips: RipsOptions,
    point_labels: Sequence[Any] | None,
) -> CloudEntry:
    """One drawn cloud: the points the diagram was computed from, in a plane, with cycles."""
    view = parse_view(result.view)
    diagram = result.diagram
    pts = check_input(cloud, rips)
    rows = np.arange(len(cloud))
    if rips.nonfinite == "drop" and cloud.ndim == 2:
        rows = np.flatnonzero(np.isfinite(cloud).all(axis=1))
    # the same points as the diagram: its subsample, view and landmarks (see used_points)
    used, metric, unit = used_points(pts, view, rips, diagram)
    approx = rips.approximation
    sub = np.arange(len(pts))
    if approx.mode == "subsample" and len(pts) > int(approx.value or 0):
        sub = uniform_subsample(sub, int(approx.value or 0), rips.seed)
    plane = cloud_scatter(pts[sub], view)
    if view.kind == "neurons":
        names = [f"unit {j}" for j in range(len(plane))]
    else:
        given = point_labels is not None and len(point_labels) == len(cloud)
        names = [
            str(point_labels[i]) if given and point_labels is not None else str(i)
            for i in rows[sub]
        ]
    cert = None if diagram.provenance is None else diagram.provenance.certificate
    land = (
        np.asarray(cert.landmark_indices, dtype=np.intp)
        if cert is not None and cert.landmark_indices is not None
        else np.arange(len(plane))
    )
    scale = diagram.scale if diagram.scale > 0 else 1.0
    cycles: list[NDArray[np.intp]] = []
    bars: list[tuple[float, float]] = []
    if calls is not None and len(calls) > 1 and diagram.maxdim >= 1:
        h1 = diagram[1]
        significant = np.flatnonzero(np.asarray(calls[1], dtype=bool)[: len(h1)])
        life = h1[significant, 1] - h1[significant, 0]
        top = significant[np.argsort(-life, kind="stable")][:MAX_CYCLES]
        if top.size:
            found = representative_cycles(used, h1[top] / unit, metric=metric)
            for bar, cycle in zip(h1[top], found, strict=True):
                if cycle.size:
                    cycles.append(land[cycle])
                    bars.append((_sig4(bar[0] / scale), _sig4(min(bar[1], diagram.scale) / scale)))
    shown = np.arange(len(plane))
    if len(plane) > MAX_CLOUD_POINTS:
        keep = np.unique(np.concatenate([c for c in cycles] or [np.empty(0, np.intp)]))
        rest = np.setdiff1d(shown, keep)
        rng = np.random.default_rng(0)
        extra = rng.choice(rest, size=max(0, MAX_CLOUD_POINTS - len(keep)), replace=False)
        shown = np.sort(np.concatenate([keep, extra]).astype(np.intp))
    position = {int(r): i for i, r in enumerate(shown)}
    return CloudEntry(
        checkpoint=result.checkpoint,
        layer=result.layer,
        view=result.view,
        xy=tuple((_sig4(float(plane[r, 0])), _sig4(float(plane[r, 1]))) for r in shown),
        labels=tuple(names[r] for r in shown),
        cycles=tuple(tuple(position[int(v)] for v in c) for c in cycles),
        cycle_bars=tuple(bars),
        n_points=len(plane),
    )


def _count(calls: tuple[NDArray[np.bool_], ...] | None, k: int) -> float | None:
    """Significant H_k bars; for H0 the clusters, 1 + the significant finite bars (the
    infinite bar is never called: see tda_interp.homology.significance)."""
    if calls is None or len(calls) <= k:
        return None
    return float(calls[k].sum()) + (1.0 if k == 0 else 0.0)


def _n_points_total(diagram: Diagram) -> int | None:
    return None if diagram.provenance is None else int(diagram.provenance.n_points_total)


#: Most (pairs x bars) the report's layer x layer exact distances may cost; above, the
#: distances are between persistence landscapes (a fast path, see tda_interp.compare).
EXACT_DISTANCE_BUDGET = 20_000


def _layer_distances(
    by_key: Mapping[tuple[str, str, str], Result],
    ckpts: Sequence[CheckpointInfo],
    layers: Sequence[str],
    views: Sequence[str],
    maxdim: int,
) -> tuple[LayerDistances, ...]:
    """Per view, distances between the layers' diagrams at the last checkpoint that has any."""
    from tda_interp.compare.matrices import pairwise_distances  # compare is optional here
    from tda_interp.options import DistanceOptions, ExecutionOptions

    dim = min(maxdim, 1)
    out = []
    for view in views:
        # the last checkpoint with every layer, else the last with two or more
        candidates = []
        for ck in reversed(ckpts):
            found = [(layer, by_key.get((ck.label, layer, view))) for layer in layers]
            usable = [
                (layer, r.diagram)
                for layer, r in found
                if r is not None and r.diagram.maxdim >= dim and r.diagram.scale > 0
            ]
            if len(usable) >= 2:
                candidates.append((ck, usable))
        if not candidates:
            continue
        ck, present = next(((c, u) for c, u in candidates if len(u) == len(layers)), candidates[0])
        n_pairs = len(present) * (len(present) - 1) // 2
        n_bars = float(np.mean([len(d[dim]) for _, d in present]))
        exact = n_pairs * n_bars <= EXACT_DISTANCE_BUDGET
        options = DistanceOptions(metric="bottleneck" if exact else "landscape")
        values = pairwise_distances(
            [d for _, d in present],
            dim=dim,
            options=options,
            execution=ExecutionOptions(executor="serial", cache=False),
        )
        index = {layer: i for i, (layer, _) in enumerate(present)}
        matrix = tuple(
            tuple(
                None if a not in index or b not in index else float(values[index[a], index[b]])
                for b in layers
            )
            for a in layers
        )
        metric = (
            "bottleneck distance of the relative diagrams"
            if exact
            else "L2 distance of persistence landscapes (relative; a fast path for many bars)"
        )
        out.append(LayerDistances(view, ck.label, dim, metric, tuple(layers), matrix))
    return tuple(out)


def _metrics(run: Run) -> tuple[MetricSeries, ...]:
    """Scalars logged during training (finite values only), by name in the order logged."""
    frame = run.metrics()
    if len(frame) == 0:
        return ()
    out = []
    for name in dict.fromkeys(frame["name"]):
        rows = frame[frame["name"] == name].sort_values("step", kind="stable")
        keep = np.isfinite(rows["value"].to_numpy(dtype=np.float64))
        out.append(
            MetricSeries(
                name=str(name),
                steps=tuple(int(v) for v in rows["step"].to_numpy()[keep]),
                values=tuple(float(v) for v in rows["value"].to_numpy(dtype=np.float64)[keep]),
            )
        )
    return tuple(out)


def _describe_calls(tested: Sequence[Result]) -> str:
    """The methods and levels of the calls, in words; "" without calls."""
    found = dict.fromkeys(
        f"{r.significance.method}, alpha = {r.significance.alpha:g}"
        for r in tested
        if r.significance is not None
    )
    return "; ".join(found)


def _bound_rel(diagram: Diagram) -> float | None:
    """Certified relative bound (0 when exact), None when none is known."""
    return None if diagram.provenance is None else diagram.provenance.certificate.bound_rel


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"homology": {"maxdim": 1}}`` as ``{"homology.maxdim": 1}`` (the inputs' fingerprint
    stays one entry)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and key != "inputs":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
