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

import jinja2
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from tda_interp.diagrams.diagram import Diagram
from tda_interp.options.run import Correction
from tda_interp.plotting.figures import (
    DEFAULT_TEMPLATE,
    barcode_figure,
    betti_curves_figure,
    heatmap_figure,
)
from tda_interp.reports.model import ReportData, build_report
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


def _context(report: ReportData) -> dict[str, Any]:
    figs = _Figures()
    labels = list(report.checkpoint_labels)
    n_ck = len(labels)
    views = []
    for m in report.matrices:
        n_long = m.array("n_long")
        max_rel = m.array("max_rel_persistence")
        n_long_fig = _heatmap(report, labels, n_long, "bars", count=True)
        max_rel_fig = _heatmap(report, labels, max_rel, "relative\nlifetime", count=False)
        n_sig_fig = (
            _heatmap(report, labels, m.array("n_significant"), "bars", count=True)
            if m.n_significant
            else None
        )
        views.append(
            {
                "name": m.view,
                "n_long_fig": figs.add(n_long_fig),
                "max_rel_fig": figs.add(max_rel_fig),
                "n_sig_fig": None if n_sig_fig is None else figs.add(n_sig_fig),
            }
        )

    grid = np.asarray(report.grid)
    barcodes: dict[str, list[Any]] = {}
    layers = []
    for li, layer in enumerate(report.layers):
        panels = []
        for vi, view in enumerate(report.views):
            curves = report.curves(layer, view)
            betti = []
            for k, per_ck in zip(report.dims, curves.curves, strict=True):
                present = {labels[c]: np.asarray(v) for c, v in enumerate(per_ck) if v is not None}
                n_missing = n_ck - len(present)
                title = f"{n_missing} of {n_ck} checkpoints missing" if n_missing else None
                fig_id = (
                    figs.add(
                        betti_curves_figure(present, grid, dim=k, title=title, template=_BLANK)
                    )
                    if present
                    else None
                )
                betti.append({"dim": k, "id": fig_id})
            key = f"bc-{li}-{vi}"
            diagrams: list[Diagram | None] = [report.diagram(c, layer, view) for c in labels]
            barcodes[key] = [
                None
                if d is None
                else figs.encode(
                    barcode_figure(
                        d,
                        max_bars=MAX_BARS,
                        template=_BLANK,
                        title=f"checkpoint {labels[c]} · step {report.checkpoints[c].step}"
                        + _approximation_note(report.bound_rel(labels[c], layer, view)),
                    )
                )
                for c, d in enumerate(diagrams)
            ]
            present_idx = [c for c, d in enumerate(diagrams) if d is not None]
            chosen = present_idx[-1] if present_idx else -1
            options = [
                _Option(c, ck.label, ck.step, diagrams[c] is None, c == chosen)
                for c, ck in enumerate(report.checkpoints)
            ]
            panels.append(
                {
                    "view": view,
                    "betti": betti,
                    "barcode_key": key,
                    "options": options,
                    "has_any": bool(present_idx),
                }
            )
        layers.append({"name": layer, "anchor": f"layer-{li}", "panels": panels})

    data = {"template": figs.template, "figures": figs.figures, "barcodes": barcodes}
    return {
        "report": report,
        "correction_text": CORRECTION_TEXT.get(report.correction, report.correction),
        "views": views,
        "layers": layers,
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


def _approximation_note(bound_rel: float | None) -> str:
    """Barcode title suffix for approximate diagrams ('' when exact)."""
    if bound_rel is None:
        return " · no certified bound to the exact diagram (uniform subsample, or unknown)"
    if bound_rel == 0.0:
        return ""
    return f" · approximate: within {bound_rel:.1%} of the diameter of the exact diagram (d_B)"


def render_html(report: ReportData) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    report : ReportData
        From :func:`tda_interp.reports.build_report`.

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
    return _environment().get_template(_TEMPLATE).render(**_context(report))


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
    html = render_html(build_report(run_dir, title=title, correction=correction))
    atomic_write_bytes(out, html.encode("utf-8"))
    return out
