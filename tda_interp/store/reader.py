"""Reading a run directory back: :class:`Run` (manifest read once), tidy pandas DataFrames."""

from __future__ import annotations

import html
import os
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from tda_interp.diagrams.diagram import Diagram, html_table
from tda_interp.diagrams.summaries import significant_betti
from tda_interp.exceptions import ActivationError, ConfigError, RunDirError, TdaInterpWarning
from tda_interp.homology.significance import SignificanceResult, run_level_calls
from tda_interp.options.run import Correction
from tda_interp.store.codec import decode_result, read_record
from tda_interp.store.format import RESULTS, decode_component, result_path
from tda_interp.store.manifest import load_manifest, params_digest
from tda_interp.store.metrics import read_metrics

__all__ = [
    "CheckpointRecord",
    "Failure",
    "Result",
    "Run",
    "iter_results",
    "max_over_views",
    "read_diagram",
    "read_manifest",
    "read_summaries",
]

_KEY_COLUMNS = ["checkpoint", "step", "layer", "view", "dim"]
_BEST_OF = ("max_rel_persistence", "n_significant")  # default columns of max_over_views


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint of a run, as the manifest records it."""

    label: str
    step: int
    source: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class Result:
    """One stored (checkpoint, layer, view) result.

    Attributes
    ----------
    checkpoint, layer, view : str
    step : int
    diagram : Diagram
        With its :class:`~tda_interp.diagrams.Provenance`.
    significance : SignificanceResult or None
        The calls on its bars, when the run made them.
    summary : list of dict
        One row per dimension (:func:`tda_interp.diagrams.summarize`).
    """

    checkpoint: str
    step: int
    layer: str
    view: str
    diagram: Diagram
    significance: SignificanceResult | None
    summary: list[dict[str, Any]]


@dataclass(frozen=True)
class Failure:
    """A (checkpoint, layer, view) whose diagram could not be computed, and why.

    Attributes
    ----------
    checkpoint, layer, view : str
    step : int
    error : str
        The exception's class (``"ActivationError"``...).
    message : str
    """

    checkpoint: str
    step: int
    layer: str
    view: str
    error: str
    message: str


_DAMAGED = (
    OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, ActivationError,
    ConfigError,
)  # fmt: skip


def _load(path: Path, params_sha256: str | Sequence[str] | None = None) -> Result | Failure:
    """One result file: its result or its failure. RunDirError if damaged, or computed with
    parameters other than ``params_sha256`` (when given: one digest, or the run's digests
    after it grew)."""
    try:
        record = read_record(path)
        accepted = (params_sha256,) if isinstance(params_sha256, str) else params_sha256
        if accepted is not None and record.get("params_sha256", accepted[0]) not in accepted:
            raise ValueError("it was computed with other parameters than the run's manifest")
        if "failed" in record:
            return Failure(
                checkpoint=str(record["checkpoint"]),
                step=int(record["step"]),
                layer=str(record["layer"]),
                view=str(record["view"]),
                error=str(record["failed"]["error"]),
                message=str(record["failed"]["message"]),
            )
        decoded = decode_result(path)
        record = decoded.record
        return Result(
            checkpoint=str(record["checkpoint"]),
            step=int(record["step"]),
            layer=str(record["layer"]),
            view=str(record["view"]),
            diagram=decoded.diagram,
            significance=decoded.significance,
            summary=list(record["summary"]),
        )
    except _DAMAGED as err:
        raise RunDirError(
            f"Result file {str(path)!r} is unreadable ({type(err).__name__}: {err}); delete it "
            "and rerun to recompute."
        ) from err


class Run:
    """A run directory, read: its manifest once, its results on demand.

    Reads format version 1 (tda-interp 0.1) and 2; ``params`` are always in the current layout.

    Parameters
    ----------
    run_dir : path
        A directory written by ``tda-interp run``, ``tda-interp demo``, :func:`run_pipeline` or
        :class:`~tda_interp.TopologyMonitor`.

    Attributes
    ----------
    path : Path
    manifest : dict
        The whole manifest (``params`` in the current layout).

    Raises
    ------
    RunDirError
        No manifest, or not a tda-interp run.

    Examples
    --------
    >>> import tempfile
    >>> from tda_interp.store import RunWriter
    >>> folder = tempfile.mkdtemp()
    >>> w = RunWriter(folder, params={"layers": ["fc"], "views": ["raw"]})
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]]], scale=1.0, n_points=2)
    >>> _ = w.write("step_1", "fc", "raw", d, step=1)
    >>> run = Run(folder)
    >>> run.layers, run.diagram("step_1", "fc", "raw") == d
    (('fc',), True)
    >>> run.summaries()[["checkpoint", "layer", "dim", "n_bars"]].values.tolist()
    [['step_1', 'fc', 0, 1]]
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir)
        self.manifest = load_manifest(self.path)

    def __repr__(self) -> str:
        return (
            f"Run({str(self.path)!r}: {len(self.checkpoints)} checkpoints x "
            f"{len(self.layers)} layers x {len(self.views)} views)"
        )

    def _repr_html_(self) -> str:
        """Notebook view: checkpoints x layers x views, results on disk per checkpoint (files
        counted, none read), the metrics logged. Plain escaped HTML: no script, nothing
        loaded."""
        checkpoints, layers, views = self.checkpoints, self.layers, self.views
        on_disk: dict[str, int] = {}
        for path in Path(self.path, RESULTS).glob("*/*/*.npz"):
            label = decode_component(path.parent.parent.name)
            on_disk[label] = on_disk.get(label, 0) + 1
        expected = len(layers) * len(views)
        shown = list(checkpoints)
        rows: list[tuple[Any, ...]] = [
            (c.label, c.step, f"{on_disk.get(c.label, 0)} of {expected}") for c in shown[:5]
        ]
        if len(shown) > 10:
            rows.append(("...", f"{len(shown) - 10} more", "..."))
        rows += [
            (c.label, c.step, f"{on_disk.get(c.label, 0)} of {expected}")
            for c in shown[max(5, len(shown) - 5) :]
        ]
        title = self.info.get("title")

        def names(items: tuple[str, ...] | list[str], limit: int = 8) -> str:
            text = ", ".join(items[:limit]) + (
                f" and {len(items) - limit} more" if len(items) > limit else ""
            )
            return text or "none"

        with warnings.catch_warnings():  # a notebook view stays quiet; metrics() warns
            warnings.simplefilter("ignore")
            metrics = self.metrics()
        lines = [
            f"{len(checkpoints)} checkpoints x {len(layers)} layers x {len(views)} views; "
            f"{sum(on_disk.values())} of {len(checkpoints) * expected} results on disk",
            f"layers: {names(list(layers))}",
            f"views: {names(list(views))}",
            "metrics: "
            + (
                f"{names(list(dict.fromkeys(metrics['name'])))} at "
                f"{metrics['step'].nunique()} steps"
                if not metrics.empty
                else "none logged"
            ),
        ]
        head = f"<strong>Run</strong> {html.escape(str(self.path))}"
        if title:
            head += f": {html.escape(str(title))}"
        body = "".join(f"<br>{html.escape(line)}" for line in lines)
        return (
            f'<div class="tda-interp-run">{head}{body}'
            f"{html_table(['checkpoint', 'step', 'results'], rows)}</div>"
        )

    @property
    def params(self) -> dict[str, Any]:
        """What defines the results (layers, views, options, inputs' fingerprint)."""
        return dict(self.manifest.get("params", {}))

    @property
    def info(self) -> dict[str, Any]:
        """Descriptive fields (title, model and inputs factories...)."""
        return dict(self.manifest.get("info", {}))

    @property
    def versions(self) -> dict[str, str]:
        """Library versions the run was started with."""
        return dict(self.manifest.get("versions", {}))

    @property
    def format_version(self) -> int:
        """Run format version of the manifest as written (1 for tda-interp 0.1)."""
        return int(self.manifest.get("format_version", 1))

    @property
    def checkpoints(self) -> tuple[CheckpointRecord, ...]:
        """Checkpoints in the order they were recorded."""
        return tuple(
            CheckpointRecord(
                label=str(c["label"]),
                step=int(c.get("step", i)),
                source=c.get("source"),
                fingerprint=c.get("fingerprint"),
            )
            for i, c in enumerate(self.manifest.get("checkpoints", []))
        )

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers results are stored under: the run's layers, a module called k times per
        pass as ``site#0`` .. ``site#k-1`` (recorded in the manifest; for runs of 0.1, found
        among the result files)."""
        recorded = self.manifest.get("clouds", {})
        stored: set[str] | None = None
        out: list[str] = []
        for layer in self.params.get("layers", []):
            if layer in recorded:
                out += recorded[layer]
                continue
            if stored is None:
                stored = {
                    decode_component(p.name)
                    for p in Path(self.path, RESULTS).glob("*/*")
                    if p.is_dir()
                }
            prefix = f"{layer}#"
            calls = [s for s in stored if s.startswith(prefix) and s[len(prefix) :].isdigit()]
            out += sorted(calls, key=lambda s: int(s[len(prefix) :])) or [layer]
        return tuple(out)

    @property
    def views(self) -> tuple[str, ...]:
        """View names."""
        return tuple(self.params.get("views", []))

    def result(self, checkpoint: str, layer: str, view: str) -> Result:
        """The stored result of one (checkpoint, layer, view).

        Raises
        ------
        RunDirError
            Not computed (yet), or the file is damaged.
        """
        path = result_path(self.path, checkpoint, layer, view)
        if not path.is_file():
            raise RunDirError(
                f"No result for checkpoint {checkpoint!r}, layer {layer!r}, view {view!r} in "
                f"{str(self.path)!r}; run `tda-interp run` to compute it."
            )
        found = _load(path, self._digests())
        if isinstance(found, Failure):
            raise RunDirError(
                f"Checkpoint {checkpoint!r}, layer {layer!r}, view {view!r} has no diagram: its "
                f"computation failed ({found.error}: {found.message})."
            )
        return found

    def diagram(self, checkpoint: str, layer: str, view: str) -> Diagram:
        """The stored diagram of one (checkpoint, layer, view); see :meth:`result`."""
        return self.result(checkpoint, layer, view).diagram

    def _digests(self) -> tuple[str, ...] | None:
        """The parameter digests a valid result may carry: the run's, and those of its earlier
        stages if it grew (more layers or views); None for a format-1 run (none recorded)."""
        if self.format_version < 2:
            return None
        return (params_digest(self.params), *self.manifest.get("accepted_params_sha256", ()))

    def _all(self) -> list[Result | Failure]:
        """Every readable result and failure; damaged files are left out with one warning."""
        digest = self._digests()
        found: list[Result | Failure] = []
        damaged: list[str] = []
        for path in sorted(Path(self.path, RESULTS).glob("*/*/*.npz")):
            try:
                found.append(_load(path, digest))
            except RunDirError as err:
                damaged.append(f"{path.relative_to(self.path)} ({err.__cause__})")
        if damaged:
            shown = "; ".join(damaged[:3]) + ("; ..." if len(damaged) > 3 else "")
            warnings.warn(
                TdaInterpWarning(
                    f"{len(damaged)} result file(s) of {str(self.path)!r} are unreadable or "
                    f"were computed with other parameters and are left out: {shown}. Rerun the "
                    "run to recompute them.",
                    kind="damaged-results",
                ),
                stacklevel=3,
            )
        layers, views = self.layers, self.views
        order = {c.label: i for i, c in enumerate(self.checkpoints)}

        def key(r: Result | Failure) -> tuple[int, int, int, int, str, str]:
            return (
                order.get(r.checkpoint, len(order)),
                r.step,
                layers.index(r.layer) if r.layer in layers else len(layers),
                views.index(r.view) if r.view in views else len(views),
                r.layer,
                r.view,
            )

        return sorted(found, key=key)

    def results(self) -> Iterator[Result]:
        """Every stored result, in checkpoint order, then layer and view order.

        A damaged result file (truncated, corrupt, or computed with other parameters) is left
        out, with one :class:`~tda_interp.exceptions.TdaInterpWarning` naming it; rerunning the
        run recomputes it.
        """
        yield from (r for r in self._all() if isinstance(r, Result))

    def failures(self) -> list[Failure]:
        """Every (checkpoint, layer, view) whose diagram could not be computed, and why."""
        return [r for r in self._all() if isinstance(r, Failure)]

    @property
    def correction(self) -> Correction:
        """The run-level correction its tables and report use by default: the ``[summary]``
        ``correction`` it was run with (``"diagram"`` when none was recorded)."""
        found = self.info.get("correction", "diagram")
        return cast(Correction, found if found in ("bonferroni", "bh") else "diagram")

    def summaries(self, correction: Correction | None = None) -> pd.DataFrame:
        """All summaries as a tidy DataFrame, one row per (checkpoint, layer, view, dim).

        Columns: ``checkpoint, step, layer, view, dim`` then the fields of
        :func:`tda_interp.diagrams.summarize`.

        Parameters
        ----------
        correction : {"diagram", "bonferroni", "bh"}, optional
            Which calls ``n_significant`` and ``betti_significant`` count (see
            :func:`tda_interp.homology.run_level_calls`): each diagram's own, or corrected over
            every result of the run. Default: :attr:`correction`.
        """
        how: Correction = self.correction if correction is None else correction
        results = list(self.results())
        counts: dict[int, tuple[int, ...]] = {}
        if how != "diagram":
            tested = [(i, r.significance) for i, r in enumerate(results) if r.significance]
            corrected = run_level_calls([sig for _, sig in tested], how)
            counts = {
                i: tuple(int(c.sum()) for c in calls)
                for (i, _), calls in zip(tested, corrected, strict=True)
            }
        rows = []
        for i, r in enumerate(results):
            betti = None
            if i in counts:
                betti = significant_betti(r.diagram, counts[i])
            key: dict[str, Any] = {
                "checkpoint": r.checkpoint,
                "step": r.step,
                "layer": r.layer,
                "view": r.view,
            }
            for stored in r.summary:
                row = key | stored
                if betti is not None:
                    k = int(stored["dim"])
                    row["n_significant"], row["betti_significant"] = counts[i][k], betti[k]
                rows.append(row)
        return pd.DataFrame(rows) if rows else pd.DataFrame(columns=_KEY_COLUMNS)

    def to_frame(self, correction: Correction | None = None) -> pd.DataFrame:
        """The run's table: :meth:`summaries`, one row per (checkpoint, layer, view, dim).

        Examples
        --------
        >>> import tempfile
        >>> from tda_interp.store import RunWriter
        >>> folder = tempfile.mkdtemp()
        >>> _ = RunWriter(folder, params={})
        >>> Run(folder).to_frame().columns.tolist()
        ['checkpoint', 'step', 'layer', 'view', 'dim']
        """
        return self.summaries(correction)

    def max_over_views(
        self, columns: Sequence[str] | None = None, correction: Correction | None = None
    ) -> pd.DataFrame:
        """The largest value of each summary over the views, per (checkpoint, layer, dim), and
        the view that reached it: :func:`max_over_views` of :meth:`summaries`.

        Parameters
        ----------
        columns : sequence of str, optional
            Summary columns; default ``max_rel_persistence`` and ``n_significant`` (when the
            run made calls).
        correction : {"diagram", "bonferroni", "bh"}, optional
            As for :meth:`summaries`.
        """
        return max_over_views(self.summaries(correction), columns)

    def metrics(self) -> pd.DataFrame:
        """Scalar metrics logged per training step (loss, accuracy...), as a tidy DataFrame.

        Written by :meth:`RunWriter.log_metrics <tda_interp.store.RunWriter.log_metrics>`,
        :meth:`TopologyMonitor.log <tda_interp.TopologyMonitor.log>` and the demo; the steps
        are those of :attr:`checkpoints`, so the table lines up with :meth:`summaries`.

        Returns
        -------
        DataFrame
            Columns ``step`` (int64), ``name`` (str), ``value`` (float64, NaN and infinities
            as logged) and ``checkpoint`` (the label given with the values; missing,
            ``isna()``, where none was); one row per ``(step, name)`` (the later value where
            one was logged twice), sorted by step, then name. Empty, with these columns, for
            a run without metrics. A wide table:
            ``run.metrics().pivot(index="step", columns="name", values="value")``.

        Warns
        -----
        TdaInterpWarning
            Kind ``"damaged-metrics"``, when lines torn by a crash or damaged are left out.
        """
        return read_metrics(self.path)


def max_over_views(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The largest value of each column over the views, and the view that reached it.

    A loop can move from one view to another between checkpoints (from one plane of principal
    components to the next); this table follows the best view.

    Parameters
    ----------
    frame : DataFrame
        A summaries table (:meth:`Run.summaries`): columns ``checkpoint``, ``layer``, ``view``,
        ``dim`` (and ``step``), and the columns to maximise.
    columns : sequence of str, optional
        Numeric columns; default ``max_rel_persistence`` and ``n_significant``, those of them
        that ``frame`` has.

    Returns
    -------
    DataFrame
        One row per (checkpoint, step, layer, dim), in the order of ``frame``: ``n_views``
        (views with a result), then for each column ``c``, ``c`` (its maximum over the views)
        and ``c_view`` (the view reaching it; the first in ``frame``'s order on a tie; missing
        when no view has a value).

    Raises
    ------
    ConfigError
        ``frame`` lacks a key column or a requested column.

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "checkpoint": ["a", "a", "b", "b"], "step": [0, 0, 1, 1], "layer": "fc",
    ...     "view": ["pc1-2", "pc3-4"] * 2, "dim": 1,
    ...     "max_rel_persistence": [0.8, 0.1, 0.2, 0.6], "n_significant": [1, 0, 1, 1]})
    >>> best = max_over_views(frame)
    >>> best[["checkpoint", "n_views", "max_rel_persistence", "max_rel_persistence_view"]]
      checkpoint  n_views  max_rel_persistence max_rel_persistence_view
    0          a        2                  0.8                    pc1-2
    1          b        2                  0.6                    pc3-4
    >>> best["n_significant_view"].tolist()  # a tie: the first view
    ['pc1-2', 'pc1-2']
    """
    required = ["checkpoint", "layer", "view", "dim"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"max_over_views needs a summaries table with columns {required}; the frame lacks "
            f"{missing}. Pass Run(run_dir).summaries()."
        )
    if columns is None:
        cols = [c for c in _BEST_OF if c in frame.columns]
    else:
        cols = list(columns)
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise ConfigError(
                f"max_over_views: the frame has no column(s) {absent}; choose among "
                f"{[c for c in frame.columns if c not in _KEY_COLUMNS]}."
            )
    keys = [c for c in ("checkpoint", "step", "layer", "dim") if c in frame.columns]
    out_columns = [*keys, "n_views", *(x for c in cols for x in (c, f"{c}_view"))]
    if frame.empty:
        return pd.DataFrame(columns=out_columns)
    groups = frame.groupby(keys, sort=False)
    out = groups["view"].nunique().rename("n_views").reset_index()
    for c in cols:
        valid = frame[frame[c].notna()]
        if valid.empty:
            out[c], out[f"{c}_view"] = float("nan"), None
            continue
        best = valid.loc[valid.groupby(keys, sort=False)[c].idxmax(), [*keys, c, "view"]]
        out = out.merge(best.rename(columns={"view": f"{c}_view"}), on=keys, how="left")
    return out[out_columns]


def read_summaries(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """All summaries of a run as one tidy DataFrame: ``Run(run_dir).summaries()``.

    Examples
    --------
    >>> import tempfile
    >>> from tda_interp.store import RunWriter
    >>> folder = tempfile.mkdtemp()
    >>> _ = RunWriter(folder, params={})
    >>> list(read_summaries(folder).columns)
    ['checkpoint', 'step', 'layer', 'view', 'dim']
    """
    return Run(run_dir).summaries()


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated and will be removed; use {new}.", DeprecationWarning, stacklevel=3
    )


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Deprecated: use ``Run(run_dir).manifest``."""
    _deprecated("read_manifest(run_dir)", "tda_interp.Run(run_dir).manifest")
    return Run(run_dir).manifest


def iter_results(run_dir: str | os.PathLike[str]) -> Iterator[Result]:
    """Deprecated: use ``Run(run_dir).results()``."""
    _deprecated("iter_results(run_dir)", "tda_interp.Run(run_dir).results()")
    return Run(run_dir).results()


def read_diagram(
    run_dir: str | os.PathLike[str], checkpoint: str, layer: str, view: str
) -> Diagram:
    """Deprecated: use ``Run(run_dir).diagram(checkpoint, layer, view)``."""
    _deprecated("read_diagram(...)", "tda_interp.Run(run_dir).diagram(checkpoint, layer, view)")
    return Run(run_dir).diagram(checkpoint, layer, view)
