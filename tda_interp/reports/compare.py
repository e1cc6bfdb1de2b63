"""The comparison page: a :class:`~tda_interp.compare.Comparison` as one offline HTML file.

Same rendering as the run report (:mod:`tda_interp.reports.html`): plotly.js inline, a
Content-Security-Policy that forbids every network load, every user string escaped or passed
to plotly as plain text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from tda_interp.compare.runs import Comparison
from tda_interp.plotting.figures import heatmap_figure, lines_figure
from tda_interp.reports.html import _BLANK, _environment, _Figures, page_assets
from tda_interp.store.writer import atomic_write_bytes

__all__ = ["render_compare_html", "write_compare_report"]


def _number(value: Any) -> str:
    if value is None:
        return "–"
    v = float(value)
    return "–" if math.isnan(v) else f"{v:.4g}"


def options_text(comparison: Comparison) -> str:
    """The distance used, in words (``"bottleneck, relative diagrams, ..."``)."""
    o = comparison.options
    if o.metric == "wasserstein":
        ground = "L∞" if math.isinf(o.ground) else f"L{o.ground:g}"
        metric = f"{o.order:g}-Wasserstein, {ground} ground metric"
    elif o.metric == "bottleneck":
        metric = "bottleneck (L∞ ground metric)"
    else:
        metric = f"{o.metric} (fast vector distance, {o.resolution}-point grid)"
    scale = "relative diagrams (divided by each cloud's diameter)" if o.relative else "absolute"
    infinite = "essential bars matched" if o.infinite == "match" else "essential bars dropped"
    return f"{metric}; {scale}; {infinite}"


def _context(comparison: Comparison, title: str | None) -> dict[str, Any]:
    figs = _Figures()
    c = comparison
    views = []
    dist = c.distances
    for vi, view in enumerate(dict.fromkeys(dist["view"])):
        panels = []
        rows = dist[dist["view"] == view]
        for run_a, run_b in dict.fromkeys(zip(rows["run_a"], rows["run_b"], strict=True)):
            table = c.matrix(run_a, run_b, view)
            values = table.to_numpy(dtype=np.float64)
            text = [[_number(v) for v in row] for row in values]
            dfig = heatmap_figure(
                values,
                list(table.index),
                list(table.columns),
                colorbar_title="distance",
                text=text,
                colorscale="Viridis_r",
                zmin=0.0,
                row_name=f"{run_a}:",
                col_name=f"{run_b}:",
                template=_BLANK,
            )
            cka_fig = None
            pair = c.cka[(c.cka["run_a"] == run_a) & (c.cka["run_b"] == run_b)]
            if not pair.empty:
                ck = pair.pivot(index="layer_a", columns="layer_b", values="cka")
                order_a = [x for x in table.index if x in ck.index]
                order_b = [x for x in table.columns if x in ck.columns]
                ck = ck.loc[order_a, order_b]
                cv = ck.to_numpy(dtype=np.float64)
                cka_fig = figs.add(
                    heatmap_figure(
                        cv,
                        order_a,
                        order_b,
                        colorbar_title="CKA",
                        text=[[_number(v) for v in row] for row in cv],
                        zmin=0.0,
                        zmax=1.0,
                        row_name=f"{run_a}:",
                        col_name=f"{run_b}:",
                        template=_BLANK,
                    )
                )
            panels.append(
                {
                    "run_a": run_a,
                    "run_b": run_b,
                    "control": run_b == c.control and run_a != run_b,
                    "distance_fig": figs.add(dfig),
                    "cka_fig": cka_fig,
                }
            )
        views.append({"name": view, "anchor": f"view-{vi}", "panels": panels})

    trajectories = []
    traj = c.trajectories
    for (run, view), part in traj.groupby(["run", "view"], sort=False):
        series_final: dict[str, tuple[Any, Any]] = {}
        series_prev: dict[str, tuple[Any, Any]] = {}
        for layer, rows in part.groupby("layer", sort=False):
            series_final[str(layer)] = (rows["step"].to_numpy(), rows["to_final"].to_numpy())
            series_prev[str(layer)] = (rows["step"].to_numpy(), rows["to_previous"].to_numpy())
        trajectories.append(
            {
                "run": run,
                "view": view,
                "final_fig": figs.add(
                    lines_figure(series_final, x_title="step", y_title="distance", template=_BLANK)
                ),
                "previous_fig": figs.add(
                    lines_figure(series_prev, x_title="step", y_title="distance", template=_BLANK)
                ),
            }
        )
    nearest = [
        {
            k: (_number(v) if k in ("distance", "reference", "ratio", "cka") else v)
            for k, v in r.items()
        }
        for r in c.nearest().to_dict("records")
    ]
    references = [
        {"run": r["run"], "view": r["view"], "layer": r["layer"],
         "median": _number(r["median"]), "max": _number(r["max"])}
        for r in c.reference().to_dict("records")
    ]  # fmt: skip
    n_replicates = int(c.references["replicate"].max()) + 1 if not c.references.empty else 0
    runs = [
        {"name": name, "checkpoint": c.checkpoints[name], "control": name == c.control}
        for name in c.runs
    ]
    default = "tda-interp comparison: " + " vs ".join(c.runs)
    data = {"template": figs.template, "figures": figs.figures, "barcodes": {}}
    return {
        "title": title or default,
        "runs": runs,
        "dim": c.dim,
        "options_text": options_text(c),
        "notes": list(c.notes),
        "views": views,
        "nearest": nearest,
        "references": references,
        "n_replicates": n_replicates,
        "trajectories": trajectories,
        **page_assets(data),
    }


def render_compare_html(
    comparison: Comparison,
    *,
    title: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> str:
    """The comparison as one self-contained HTML page.

    Parameters
    ----------
    comparison : Comparison
        From :func:`tda_interp.compare.compare_runs`.
    title : str, optional
        Page title; one naming the runs by default.
    links : sequence of (str, str)
        (relative file name, text) of related pages, e.g. each run's report, listed at the top.

    Returns
    -------
    str
        An HTML document with plotly.js inline and no external loads.
    """
    context = _context(comparison, title)
    context["links"] = [(quote(href), text) for href, text in links]
    return _environment().get_template("compare.html.j2").render(**context)


def write_compare_report(
    comparison: Comparison,
    out_path: str | os.PathLike[str],
    *,
    title: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write :func:`render_compare_html` to ``out_path`` atomically (parents created).

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    out = Path(out_path)
    html = render_compare_html(comparison, title=title, links=links)
    atomic_write_bytes(out, html.encode("utf-8"))
    return out
