"""Rendering a :class:`~tda_interp.reports.model.ReportData` as one self-contained HTML file, or
as JSON.

The HTML file works offline: plotly.js is embedded inline once, every figure travels as JSON in
one ``<script type="application/json">`` block and is drawn by a small inline script
(``templates/report.js``); there are no external loads, and the page's Content-Security-Policy
(:func:`content_security_policy`) forbids any. Every user-supplied string (title, model, layer,
view and checkpoint names) is escaped three times over, once per language it lands in: by
Jinja2's autoescaping in the markup; by the figure builders of :mod:`tda_interp.plotting`, which
give plotly only :func:`~tda_interp.plotting.plain_text`, so plotly's pseudo-HTML draws a name
such as ``<a href=...>`` as text; and by ``\\u003c``-style escapes in the embedded JSON, so a name
such as ``</script><script>...`` stays text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from tda_interp.exceptions import TdaInterpError
from tda_interp.homology.views import parse_view
from tda_interp.options.run import Correction
from tda_interp.plotting.figures import (
    DEFAULT_TEMPLATE,
    heatmap_figure,
    lines_figure,
)
from tda_interp.plotting.text import plain_text
from tda_interp.reports.model import (
    CloudEntry,
    CloudsMode,
    DiagramEntry,
    ReportData,
    ViewMatrices,
    build_report,
)
from tda_interp.store.writer import atomic_write_bytes

__all__ = ["MAX_BARS", "render_html", "render_json", "write_report"]

#: Longest bars of each dimension drawn in a report's barcodes (the legend says when bars were
#: left out); keeps reports of large clouds small.
MAX_BARS = 60

_TEMPLATE = "report.html.j2"
_APP_JS = "report.js"
_BLANK = go.layout.Template()
_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)
_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _template_file(name: str) -> str:
    return files("tda_interp.reports").joinpath("templates", name).read_text("utf-8")


def _environment() -> jinja2.Environment:
    """The report templates (the run report, the comparison, their shared style)."""
    names = (_TEMPLATE, "compare.html.j2", "_style.html.j2")
    env = jinja2.Environment(
        loader=jinja2.DictLoader({name: _template_file(name) for name in names}),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env


def _finite(obj: Any) -> Any:
    """Replace NaN and infinities by ``None`` (JSON ``null``), recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def script_json(obj: Any) -> str:
    """JSON text safe to place inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` (and the JavaScript line separators) are written as ``\\uXXXX``
    escapes, so no string in ``obj`` can close the element or open a comment; ``JSON.parse``
    reads the text back unchanged.

    Examples
    --------
    >>> script_json({"layer": "</script>"})
    '{"layer":"\\\\u003c/script\\\\u003e"}'
    """
    try:  # most data holds no NaN: skip the walk that replaces them
        text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except ValueError:
        text = json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return re.sub("[<>&\u2028\u2029]", lambda m: _JSON_ESCAPES[m.group(0)], text)


class _Figures:
    """Collects figures as JSON dicts.

    Figures are built with an empty template (validating and copying a full template per
    figure is slow) and the page applies :data:`DEFAULT_TEMPLATE` to every figure, stored once.
    """

    def __init__(self) -> None:
        self.template: dict[str, Any] = pio.templates[DEFAULT_TEMPLATE].to_plotly_json()
        self.figures: dict[str, Any] = {}

    @staticmethod
    def encode(fig: go.Figure) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(fig.to_json())
        data.get("layout", {}).pop("template", None)
        return data

    def add(self, fig: go.Figure) -> str:
        key = f"fig-{len(self.figures)}"
        self.figures[key] = self.encode(fig)
        return key


@dataclass(frozen=True)
class _Option:
    index: int
    label: str
    step: int
    missing: bool
    selected: bool


#: How the report names each run-level correction.
CORRECTION_TEXT = {
    "diagram": "per diagram and dimension (family-wise)",
    "bonferroni": "Bonferroni over every bar of the run (family-wise)",
    "bh": "Benjamini-Hochberg over every bar of the run (false discovery rate)",
}


def _fmt_cell(v: float, integer: bool) -> str:
    if np.isnan(v):
        return "missing"
    return f"{int(v)}" if integer else f"{v:.2f}"


def _param_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, indent=1)


#: Most checkpoints drawn as separate lines in a depth profile (evenly spaced, first and last
#: included); the heatmaps show them all.
MAX_DEPTH_LINES = 6


def _round(values: np.ndarray) -> list[float | None]:
    """Relative values for drawing: 4 decimals (1e-4 of the diameter), ``None`` for inf."""
    out = np.round(values.astype(np.float64), 4)
    return [None if not math.isfinite(v) else v for v in out.tolist()]


def _bars_data(entry: DiagramEntry) -> dict[str, Any]:
    """One diagram, compactly, for the page script to draw its barcode and diagram.

    Per dimension the ``MAX_BARS`` longest bars (infinite first), relative to the diameter:
    births ``b``, deaths ``e`` (``None``: never dies), calls ``s`` (1 significant, 0 not;
    absent without calls), and ``m`` the number of bars of the dimension.
    """
    d = entry.diagram
    dims = []
    for k in range(d.maxdim + 1):
        bars = d[k]
        keep = bars[:, 1] != bars[:, 0]
        life = bars[:, 1] - bars[:, 0]
        order = np.flatnonzero(keep)[np.argsort(-life[keep], kind="stable")][:MAX_BARS]
        scale = d.scale if d.scale > 0 else 1.0
        item: dict[str, Any] = {
            "b": _round(bars[order, 0] / scale),
            "e": _round(bars[order, 1] / scale),
            "m": int(keep.sum()),
        }
        if entry.significant is not None and k < len(entry.significant):
            calls = np.asarray(entry.significant[k], dtype=bool)
            item["s"] = [int(v) for v in calls[order]] if len(calls) == len(bars) else None
        dims.append(item)
    return {"n": d.n_points, "t": entry.n_points_total, "d": dims}


class _CloudLabels:
    """The label lists of the drawn clouds, each stored once (clouds of one layer share them):
    plain text for plotly (``t``), and either numbers for a continuous colour scale (``v``) or
    category numbers (``g``)."""

    def __init__(self) -> None:
        self.tables: list[dict[str, Any]] = []
        self._index: dict[tuple[str, ...], int] = {}

    def add(self, labels: tuple[str, ...]) -> int:
        found = self._index.get(labels)
        if found is not None:
            return found
        table: dict[str, Any] = {"t": [plain_text(v) for v in labels], "v": None, "g": None}
        try:
            numbers = [float(v) for v in labels]
        except ValueError:
            numbers = []
        if numbers and all(math.isfinite(v) for v in numbers):
            table["v"] = numbers
        else:
            names: dict[str, int] = {}
            table["g"] = [names.setdefault(v, len(names)) for v in labels]
        self._index[labels] = len(self.tables)
        self.tables.append(table)
        return self._index[labels]


def _cloud_data(entry: CloudEntry, labels: _CloudLabels) -> dict[str, Any]:
    """One drawn cloud, compactly: coordinates, its label table, cycles and their bars."""
    return {
        "x": [p[0] for p in entry.xy],
        "y": [p[1] for p in entry.xy],
        "l": labels.add(entry.labels),
        "cy": [list(c) for c in entry.cycles],
        "cb": [[round(b, 3), round(d, 3)] for b, d in entry.cycle_bars],
    }


def _cloud_axes(view: str) -> list[str]:
    """Axis titles of a view's scatter (see tda_interp.homology.cycles.cloud_scatter)."""
    try:
        v = parse_view(view)
    except TdaInterpError:  # a view from Python whose name cannot be parsed
        v = None
    if v is not None and v.kind == "pca" and len(v.components) == 2:
        return [f"PC{v.components[0] + 1}", f"PC{v.components[1] + 1}"]
    return ["PC1 of the view's points", "PC2 of the view's points"]


def _cloud_panel(report: ReportData, layer: str, view: str) -> dict[str, Any] | None:
    """What the template shows of the clouds of one (layer, view): the checkpoint menu and,
    per checkpoint, the loops with the labels of their points (escaped by Jinja)."""
    found = [
        (c, ck, e)
        for c, ck in enumerate(report.checkpoints)
        if (e := report.cloud(ck.label, layer, view)) is not None
    ]
    if not found:
        return None
    chosen = found[-1][0]
    options = [_Option(c, ck.label, ck.step, False, c == chosen) for c, ck, _ in found]
    lists = []
    for c, ck, e in found:
        shown = len(e.xy)
        size = f"{shown:,} points" if shown == e.n_points else f"{shown:,} of {e.n_points:,} points"
        lists.append(
            {
                "index": c,
                "note": f"checkpoint {ck.label} · step {ck.step} · {size}",
                "cycles": [
                    {
                        "bar": f"{b:.3f} to {d:.3f}",
                        "labels": [e.labels[i] for i in cycle],
                    }
                    for cycle, (b, d) in zip(e.cycles, e.cycle_bars, strict=True)
                ],
            }
        )
    return {
        "options": options,
        "lists": lists,
        "axes": " and ".join(_cloud_axes(view)),
    }


def _pick(n: int, most: int) -> list[int]:
    """Up to ``most`` evenly spaced indices of ``range(n)``, first and last included."""
    if n <= most:
        return list(range(n))
    return sorted({round(i * (n - 1) / (most - 1)) for i in range(most)})


def _sampling_note(report: ReportData) -> str:
    """What the header says about subsampled clouds ('' when every cloud was used whole)."""
    sub = [
        (e.n_points_total, e.diagram.n_points)
        for e in report.diagrams
        if e.n_points_total is not None and e.n_points_total > e.diagram.n_points
    ]
    if not sub:
        return ""
    totals = sorted({t for t, _ in sub})
    kept = sorted({n for _, n in sub})

    def span(v: list[int]) -> str:
        return f"{v[0]:,}" if len(v) == 1 else f"{v[0]:,} to {v[-1]:,}"

    unbounded = sum(1 for e in report.diagrams if e.bound_rel is None)
    note = (
        f"Clouds were reduced before persistence in {len(sub)} of {len(report.diagrams)} "
        f"diagrams: {span(totals)} points down to {span(kept)}."
    )
    if unbounded:
        note += (
            f" {unbounded} of them have no certified bound to the diagram of the whole cloud "
            "(uniform subsamples): a bar there may be missing or shorter in the whole cloud."
        )
    else:
        note += " Each carries a certified bound to the diagram of the whole cloud (landmarks)."
    return note


def _view_figures(
    figs: _Figures, report: ReportData, m: ViewMatrices, control: ViewMatrices | None
) -> dict[str, Any]:
    """The headline figures of one view: significant features (and the control's beside)."""
    labels = list(report.checkpoint_labels)
    one = len(labels) == 1
    out: dict[str, Any] = {"name": m.view, "significant": [], "secondary": []}

    def headline(rd: ReportData, mat: ViewMatrices, k: int) -> go.Figure:
        values = mat.array("n_significant", k)
        if one:
            return lines_figure(
                {"significant": (np.arange(len(rd.layers)), values[:, 0])},
                x_title="layer",
                y_title="clusters" if k == 0 else f"significant H{k} bars",
                x_labels=rd.layers,
                template=_BLANK,
            )
        return _heatmap(rd, list(rd.checkpoint_labels), values, "bars", count=True)

    if m.significant_by_dim:
        for k in range(len(m.significant_by_dim)):
            card = {
                "dim": k,
                "title": "Clusters (H0 bars the cluster rule calls)"
                if k == 0
                else f"Significant H{k} bars",
                "id": figs.add(headline(report, m, k)),
                "control": None,
            }
            if control is not None and report.control is not None and control.significant_by_dim:
                if k < len(control.significant_by_dim):
                    card["control"] = figs.add(headline(report.control, control, k))
            out["significant"].append(card)
    n_long = m.array("n_long")
    max_rel = m.array("max_rel_persistence")
    if one:
        x = np.arange(len(report.layers))
        out["secondary"] = [
            {
                "title": f"Long-lived H1 bars (relative lifetime > {report.long_bar})",
                "id": figs.add(
                    lines_figure(
                        {"long-lived": (x, n_long[:, 0])},
                        x_title="layer",
                        y_title="bars",
                        x_labels=report.layers,
                        template=_BLANK,
                    )
                ),
            },
            {
                "title": "Largest relative H1 lifetime",
                "id": figs.add(
                    lines_figure(
                        {"largest": (x, max_rel[:, 0])},
                        x_title="layer",
                        y_title="relative lifetime",
                        x_labels=report.layers,
                        template=_BLANK,
                    )
                ),
            },
        ]
    else:
        out["secondary"] = [
            {
                "title": f"Long-lived H1 bars (relative lifetime > {report.long_bar})"
                " — layer × checkpoint",
                "id": figs.add(_heatmap(report, labels, n_long, "bars", count=True)),
            },
            {
                "title": "Largest relative H1 lifetime — layer × checkpoint",
                "id": figs.add(
                    _heatmap(report, labels, max_rel, "relative\nlifetime", count=False)
                ),
            },
        ]
    return out


def _depth_figures(figs: _Figures, report: ReportData, m: ViewMatrices) -> dict[str, Any]:
    """Betti numbers of significant bars against depth, one line per checkpoint."""
    x = np.arange(len(report.layers))
    picked = _pick(len(report.checkpoints), MAX_DEPTH_LINES)
    cards = []
    for k in range(len(m.significant_by_dim)):
        values = m.array("n_significant", k)
        series = {
            f"{report.checkpoints[c].label} (step {report.checkpoints[c].step})": (x, values[:, c])
            for c in picked
        }
        dashed: list[str] = []
        control = _control_matrices(report, m.view)
        if (
            control is not None
            and report.control is not None
            and k < len(control.significant_by_dim)
        ):
            cvals = control.array("n_significant", k)
            rows = [
                report.control.layers.index(n) if n in report.control.layers else -1
                for n in report.layers
            ]
            col = cvals[:, -1] if cvals.size else np.array([])
            y = np.array([col[r] if r >= 0 else np.nan for r in rows])
            name = f"control, {report.control.checkpoints[-1].label}"
            series[name] = (x, y)
            dashed.append(name)
        cards.append(
            {
                "title": "Clusters (H0) against depth"
                if k == 0
                else f"Significant H{k} bars against depth",
                "id": figs.add(
                    lines_figure(
                        series,
                        x_title="layer",
                        y_title="clusters" if k == 0 else f"significant H{k} bars",
                        x_labels=report.layers,
                        dashed=dashed,
                        template=_BLANK,
                    )
                ),
            }
        )
    return {"name": m.view, "cards": cards}


def _control_matrices(report: ReportData, view: str) -> ViewMatrices | None:
    if report.control is None:
        return None
    for m in report.control.matrices:
        if m.view == view:
            return m
    return None


def _training_figures(figs: _Figures, report: ReportData) -> dict[str, Any] | None:
    """Logged metrics and the topology on one step axis (None with one checkpoint and no
    metrics)."""
    steps = np.array([c.step for c in report.checkpoints], dtype=np.float64)
    if len(steps) < 2 and not report.metrics:
        return None
    lo = min([*steps.tolist(), *(s for m in report.metrics for s in m.steps)], default=0.0)
    hi = max([*steps.tolist(), *(s for m in report.metrics for s in m.steps)], default=1.0)
    span = [lo - 0.02 * (hi - lo + 1), hi + 0.02 * (hi - lo + 1)]
    out: dict[str, Any] = {"metrics": [], "views": []}
    # fractions (accuracies) on one plot, the rest (losses...) on another: one axis each
    unit = [m for m in report.metrics if m.values and 0.0 <= min(m.values) <= max(m.values) <= 1.0]
    groups = [
        ("metrics in [0, 1] (accuracies...)", unit),
        ("other metrics (losses...)", [m for m in report.metrics if m not in unit]),
    ]
    for what, group in groups:
        if not group:
            continue
        fig = lines_figure(
            {m.name: (m.steps, m.values) for m in group},
            x_title="step",
            y_title="value",
            template=_BLANK,
        )
        fig.update_traces(mode="lines")
        _on_step_axis(fig, span)
        logged = [v for m in group for v in m.values]
        if min(logged) > 0 and max(logged) > 100 * min(logged):
            fig.update_yaxes(type="log", rangemode="normal")
        out["metrics"].append({"what": what, "id": figs.add(fig)})
    if len(steps) >= 2:
        for m in report.matrices:
            if m.significant_by_dim and len(m.significant_by_dim) > 1:
                values, what = m.array("n_significant", 1), "significant H1 bars"
            else:
                values, what = m.array("max_rel_persistence"), "largest relative H1 lifetime"
            fig = lines_figure(
                {layer: (steps, values[i]) for i, layer in enumerate(report.layers)},
                x_title="step",
                y_title=what,
                template=_BLANK,
            )
            _on_step_axis(fig, span)
            out["views"].append({"name": m.view, "what": what, "id": figs.add(fig)})
    return out


def _on_step_axis(fig: go.Figure, span: list[float]) -> None:
    """One step axis for every figure of the training section: same range, same margins,
    legend below, so that figures stacked on full-width cards line up step for step."""
    fig.update_xaxes(range=span)
    fig.update_layout(
        height=300,
        margin={"l": 70, "r": 20, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.25, "x": 0},
        showlegend=len(fig.data) <= 12,  # more lines: names on hover only
    )


def _distance_figures(figs: _Figures, report: ReportData) -> list[dict[str, Any]]:
    out = []
    for d in report.distances:
        values = np.array(
            [[np.nan if v is None else v for v in row] for row in d.values], dtype=np.float64
        )
        fig = heatmap_figure(
            values,
            d.layers,
            d.layers,
            colorbar_title="distance",
            text=[[_fmt_cell(v, False) for v in row] for row in values],
            zmin=0.0,
            row_name="layer",
            col_name="layer",
            template=_BLANK,
        )
        out.append(
            {
                "view": d.view,
                "checkpoint": d.checkpoint,
                "dim": d.dim,
                "metric": d.metric,
                "id": figs.add(fig),
            }
        )
    return out


def _context(report: ReportData) -> dict[str, Any]:
    figs = _Figures()
    labels = list(report.checkpoint_labels)
    n_ck = len(labels)
    views = [
        _view_figures(figs, report, m, _control_matrices(report, m.view)) for m in report.matrices
    ]
    depth = [_depth_figures(figs, report, m) for m in report.matrices if m.significant_by_dim]
    training = _training_figures(figs, report)
    distances = _distance_figures(figs, report)

    betti: dict[str, Any] = {}
    bars: dict[str, Any] = {}
    clouds: dict[str, Any] = {}
    cloud_axes: dict[str, Any] = {}
    cloud_labels = _CloudLabels()
    xmax = 0.0
    layers = []
    for li, layer in enumerate(report.layers):
        panels = []
        for vi, view in enumerate(report.views):
            key = f"{li}-{vi}"
            curves = report.curves(layer, view)
            betti[key] = [[None if c is None else list(c) for c in per] for per in curves.curves]
            entries = [report.entry(c, layer, view) for c in labels]
            bars[key] = [None if e is None else _bars_data(e) for e in entries]
            for e in entries:
                if e is not None and e.diagram.scale > 0:
                    for k in range(e.diagram.maxdim + 1):
                        deaths = e.diagram[k][:, 1]
                        finite = deaths[np.isfinite(deaths)]
                        if finite.size:
                            xmax = max(xmax, float(finite.max()) / e.diagram.scale)
            present_idx = [c for c, e in enumerate(entries) if e is not None]
            chosen = present_idx[-1] if present_idx else -1
            options = [
                _Option(c, ck.label, ck.step, entries[c] is None, c == chosen)
                for c, ck in enumerate(report.checkpoints)
            ]
            notes = [
                ""
                if e is None
                else " · ".join(
                    x
                    for x in (
                        f"checkpoint {ck.label} · step {ck.step}",
                        _approximation_note(e.bound_rel, e),
                    )
                    if x
                )
                for ck, e in zip(report.checkpoints, entries, strict=True)
            ]
            n_missing = n_ck - len(present_idx)
            cloud = _cloud_panel(report, layer, view)
            if cloud is not None:
                clouds[key] = [
                    None
                    if (ce := report.cloud(ck.label, layer, view)) is None
                    else _cloud_data(ce, cloud_labels)
                    for ck in report.checkpoints
                ]
                cloud_axes[key] = [plain_text(a) for a in _cloud_axes(view)]
            panels.append(
                {
                    "view": view,
                    "key": key,
                    "dims": report.dims,
                    "options": options,
                    "notes": notes,
                    "has_any": bool(present_idx),
                    "betti_note": f"{n_missing} of {n_ck} checkpoints missing"
                    if n_missing and present_idx
                    else "",
                    "cloud": cloud,
                }
            )
        layers.append({"name": layer, "anchor": f"layer-{li}", "panels": panels})

    data = {
        "template": figs.template,
        "figures": figs.figures,
        "labels": [plain_text(label) for label in labels],
        "steps": [c.step for c in report.checkpoints],
        "grid": _round(np.asarray(report.grid)),
        "xmax": min(1.0, xmax * 1.05) if xmax > 0 else 1.0,
        "betti": betti,
        "bars": bars,
    }
    if clouds:  # only pages with clouds carry their data
        data["clouds"] = clouds
        data["cloudAxes"] = cloud_axes
        data["cloudLabels"] = cloud_labels.tables
        data["cloudLabel"] = plain_text(report.cloud_label or "label")
    return {
        "report": report,
        "correction_text": CORRECTION_TEXT.get(report.correction, report.correction),
        "sampling_note": _sampling_note(report),
        "views": views,
        "depth": depth,
        "training": training,
        "distances": distances,
        "layers": layers,
        "n_checkpoints": n_ck,
        "params": [(k, _param_text(v)) for k, v in report.params],
        "n_expected": n_ck * len(report.layers) * len(report.views),
        **page_assets(data),
    }


def page_assets(data: dict[str, Any]) -> dict[str, Any]:
    """What every report page carries: plotly.js and the page script inline, their
    Content-Security-Policy, the version, and ``data`` (figures...) as script-safe JSON."""
    plotlyjs = _SCRIPT_END.sub(r"<\\/\1", get_plotlyjs())
    app_js = _template_file(_APP_JS)
    from tda_interp import __version__  # at call time: tda_interp/__init__ may import reports

    return {
        "version": __version__,
        "plotlyjs": Markup(plotlyjs),  # trusted library code, not user input
        "app_js": Markup(app_js),  # package data, not user input
        "csp": Markup(content_security_policy([plotlyjs, app_js])),  # no user input either
        "data_json": Markup(script_json(data)),  # every "<", ">", "&" escaped in script_json
    }


def content_security_policy(scripts: Sequence[str]) -> str:
    """The Content-Security-Policy of a report page, for its ``<meta http-equiv>`` tag.

    Nothing may be loaded from the network or from another file (``default-src 'none'``; no
    ``connect-src``, ``font-src``, ``frame-src``...). What the page needs, measured in Chromium:

    - ``script-src``: only its own inline ``scripts``, each by its SHA-256 hash, so a script that
      a name smuggled into the page would not run; no ``eval``, no event-handler attributes;
    - ``style-src 'unsafe-inline'``: the page's ``<style>``, and plotly.js, which adds
      ``<style>`` elements and sets ``style`` attributes while it draws (styles cannot load
      anything: every ``url()`` falls under the other directives);
    - ``img-src data: blob:``: the icon (``data:,``), heatmaps (plotly.js draws them as
      ``data:`` PNGs) and the mode bar's "download plot as png" (a ``blob:`` SVG);
    - ``base-uri 'none'`` and ``form-action 'none'``.

    Parameters
    ----------
    scripts : sequence of str
        The text of every inline ``<script>`` the page runs, exactly as written between the
        tags (JSON data blocks are not run and need no entry).

    Returns
    -------
    str
        The policy, made only of keywords, hashes, ``data:`` and ``blob:``: safe in an HTML
        attribute.

    Examples
    --------
    >>> content_security_policy(["alert(1)"]).split("; ")[:2]
    ["default-src 'none'", "script-src 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"]
    """
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode('utf-8')).digest()).decode()}'"
        for s in scripts
    )
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {hashes}",
            "style-src 'unsafe-inline'",
            "img-src data: blob:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _heatmap(
    report: ReportData,
    labels: list[str],
    values: np.ndarray,
    colorbar_title: str,
    *,
    count: bool,
) -> go.Figure:
    """Layer x checkpoint heatmap: a count scale starts at 0 and spans at least one bar (even
    when no cell has one); a relative lifetime spans [0, 1]."""
    top = 1.0
    if count and np.isfinite(values).any():
        top = max(1.0, float(np.nanmax(values)))
    return heatmap_figure(
        values,
        report.layers,
        labels,
        colorbar_title=colorbar_title,
        text=[[_fmt_cell(v, count) for v in row] for row in values],
        zmin=0.0,
        zmax=top,
        template=_BLANK,
    )


def _approximation_note(bound_rel: float | None, entry: DiagramEntry | None = None) -> str:
    """What the page says above an approximate diagram ('' when exact or missing)."""
    if entry is None:
        return ""
    d = entry.diagram
    size = ""
    if entry.n_points_total is not None and entry.n_points_total > d.n_points:
        size = f"{d.n_points:,} of {entry.n_points_total:,} points; "
    if bound_rel is None:
        return size + "no certified bound to the exact diagram (uniform subsample, or unknown)"
    if bound_rel == 0.0:
        return size.rstrip("; ")
    return size + f"approximate: within {bound_rel:.1%} of the diameter of the exact diagram (d_B)"


def render_html(report: ReportData, *, links: Sequence[tuple[str, str]] = ()) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    report : ReportData
        From :func:`tda_interp.reports.build_report`.
    links : sequence of (str, str)
        (relative file name, text) of related pages (the comparison of several runs), listed
        at the top.

    Returns
    -------
    str
        An HTML document with plotly.js inline (about 4.8 MB) and no external loads.

    Examples
    --------
    >>> import tempfile
    >>> from tda_interp.store import RunWriter
    >>> d = tempfile.mkdtemp()
    >>> RunWriter(d, params={"layers": ["fc"], "views": ["raw"]}).add_checkpoint("step_0", 0)
    >>> html = render_html(build_report(d))
    >>> html.startswith("<!DOCTYPE html>") and "Missing results" in html
    True
    """
    context = _context(report)
    context["links"] = [(quote(href), text) for href, text in links]
    return _environment().get_template(_TEMPLATE).render(**context)


def render_json(report: ReportData, *, indent: int | None = None) -> str:
    """The report's data as JSON, readable back with ``ReportData.from_dict(json.loads(...))``.

    Parameters
    ----------
    report : ReportData
    indent : int, optional
        Indentation; compact by default.

    Returns
    -------
    str
        Strict JSON (no NaN): missing values and infinite deaths are ``null``.

    Examples
    --------
    >>> import json, tempfile
    >>> from tda_interp.diagrams import Diagram
    >>> from tda_interp.store import RunWriter
    >>> folder = tempfile.mkdtemp()
    >>> dgm = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]]], scale=2.0, n_points=2)
    >>> RunWriter(folder, params={}).write("step_0", "fc", "raw", dgm, step=0)  # doctest: +ELLIPSIS
    PosixPath(...)
    >>> report = build_report(folder)
    >>> ReportData.from_dict(json.loads(render_json(report))) == report
    True
    """
    return json.dumps(report.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)


def write_report(
    run_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    title: str | None = None,
    correction: Correction | None = None,
    control: str | os.PathLike[str] | None = None,
    clouds: CloudsMode = "auto",
    links: Sequence[tuple[str, str]] = (),
) -> Path:
    """Build the report of a run directory and write it as one HTML file, atomically.

    The page goes to a temporary file beside ``out_path`` that is renamed over it, so a reader
    never sees half a report; missing parent directories are created.

    Parameters
    ----------
    run_dir : path
        A run directory written by :class:`tda_interp.store.RunWriter`.
    out_path : path
        Where to write the HTML file.
    title : str, optional
        Report title (see :func:`tda_interp.reports.build_report`).
    correction : {"diagram", "bonferroni", "bh"}, optional
        Which significance calls the report counts; the run's own by default (see
        :func:`tda_interp.reports.build_report`).
    control : path, optional
        A control run directory (untrained, shuffled labels...) shown beside this run in every
        headline figure.
    clouds : bool or "auto", default "auto"
        Draw each layer's points in a plane with the loops of its significant H1 bars
        (activations captured again for runs made from a config; see
        :func:`tda_interp.reports.build_report`).
    links : sequence of (str, str)
        (relative file name, text) of related pages, listed at the top.

    Returns
    -------
    pathlib.Path
        ``out_path``.

    Raises
    ------
    RunDirError
        If ``run_dir`` holds no readable run.
    """
    out = Path(out_path)
    report = build_report(
        run_dir, title=title, correction=correction, control=control, clouds=clouds
    )
    html = render_html(report, links=links)
    atomic_write_bytes(out, html.encode("utf-8"))
    return out
