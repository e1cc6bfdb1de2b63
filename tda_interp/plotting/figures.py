"""Plotly figures of diagrams, Betti curves and layer x checkpoint summaries.

Every function here is pure: it returns a new :class:`plotly.graph_objects.Figure`, never calls
``show()`` and never touches plotly's global state (templates, renderers). The template is
chosen per figure (``layout.template``).

User-supplied strings (titles, layer names, checkpoint labels, cell text, axis names) only ever
reach plotly as data: titles, trace names, tick labels, cell text or ``customdata``, each passed
through :func:`~tda_interp.plotting.text.plain_text` where it enters the figure, so plotly shows
it as written and never reads it as markup (no link, no style, no ``url(...)`` to fetch). They
are never formatted into a ``hovertemplate``, where ``%{...}`` sequences would be interpreted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import plotly.graph_objects as go
from numpy.typing import ArrayLike, NDArray
from plotly.colors import sample_colorscale

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ConfigError
from tda_interp.plotting.text import plain_text

__all__ = [
    "DEFAULT_TEMPLATE",
    "DIM_COLOURS",
    "barcode_figure",
    "betti_curves_figure",
    "diagram_figure",
    "heatmap_figure",
    "lines_figure",
]

#: Colour of each homology dimension (H0, H1, H2, H3), reused by every figure.
DIM_COLOURS: tuple[str, ...] = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")

#: Template of every figure unless the caller passes another one.
DEFAULT_TEMPLATE = "plotly_white"

TemplateLike: TypeAlias = str | go.layout.Template
_INF_GAP = 0.06  # where infinite bars end, as a fraction beyond the right edge


def _colour(dim: int) -> str:
    return DIM_COLOURS[dim % len(DIM_COLOURS)]


def _dims(diagram: Diagram, dims: Sequence[int] | None) -> list[int]:
    if dims is None:
        return list(range(diagram.maxdim + 1))
    bad = [k for k in dims if not 0 <= k <= diagram.maxdim]
    if bad:
        raise ConfigError(
            f"Expected dimensions between 0 and {diagram.maxdim} for this diagram, got {bad}; "
            "compute the diagram with a higher maxdim or pass other dims."
        )
    return list(dims)


def _scaled(diagram: Diagram, dim: int, relative: bool) -> NDArray[np.float64]:
    """Bars of ``dim`` as (birth, death), divided by the scale when ``relative``."""
    bars = np.array(diagram[dim], dtype=np.float64)
    if relative:
        bars = bars / diagram.scale if diagram.scale > 0 else np.where(np.isinf(bars), bars, 0.0)
    return bars


def _right_edge(diagram: Diagram, dims: Sequence[int], relative: bool) -> float:
    """Largest finite value to show: 1.0 (the diameter) in relative units, else the scale."""
    top = 1.0 if relative else diagram.scale
    for k in dims:
        bars = _scaled(diagram, k, relative)
        finite = bars[np.isfinite(bars)]
        if finite.size:
            top = max(top, float(finite.max()))
    return top if top > 0 else 1.0


def _title(title: str | None) -> dict[str, str] | None:
    """A figure title from the caller, as plain text."""
    return {"text": plain_text(title)} if title is not None else None


def _axis_title(relative: bool) -> str:
    return "relative filtration value (fraction of diameter)" if relative else "filtration value"


def barcode_figure(
    diagram: Diagram,
    *,
    relative: bool = True,
    dims: Sequence[int] | None = None,
    max_bars: int | None = None,
    title: str | None = None,
    template: TemplateLike = DEFAULT_TEMPLATE,
) -> go.Figure:
    """Barcode of a diagram: one horizontal bar per (birth, death) pair, grouped by dimension.

    Bars are sorted by lifetime, longest first, H0 above H1. Bars that never die are drawn to
    just past the right edge and end in a triangle marker.

    Parameters
    ----------
    diagram : Diagram
        Holds one array of shape (n_bars_k, 2) per dimension k.
    relative : bool, default True
        Divide births and deaths by the diagram's scale (the cloud's diameter).
    dims : sequence of int, optional
        Dimensions to draw; all stored dimensions by default.
    max_bars : int, optional
        Draw only the ``max_bars`` longest bars of each dimension (bars that never die count
        as longest); the legend says how many were left out. All bars by default.
    title : str, optional
        Figure title, plain text (a newline breaks the line).

    template : str or plotly.graph_objects.layout.Template, default "plotly_white"
        Template of this figure only; plotly's global default is neither used nor changed.

    Returns
    -------
    plotly.graph_objects.Figure
        Per dimension, one trace of finite bars (always present, possibly empty) and, when the
        dimension has bars that never die, one more trace for them.

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> [t.name for t in barcode_figure(d).data]
    ['H0', 'H0 never dies', 'H1']
    """
    if max_bars is not None and max_bars < 1:
        raise ConfigError(f"Expected max_bars >= 1 or None, got {max_bars}.")
    dims = _dims(diagram, dims)
    edge = _right_edge(diagram, dims, relative)
    x_inf = edge * (1.0 + _INF_GAP)
    traces: list[go.Scatter] = []
    row = 0
    n_rows = 0
    f4 = np.float32  # plenty for drawing; halves the size of the embedded JSON
    for k in dims:
        bars = _scaled(diagram, k, relative)
        life = bars[:, 1] - bars[:, 0]
        order = np.argsort(-life, kind="stable")  # inf lifetimes sort first
        n_total = len(order)
        if max_bars is not None:
            order = order[:max_bars]
        bars = bars[order]
        inf = np.isinf(bars[:, 1])
        ys = row + np.arange(len(bars), dtype=np.float64)
        row += len(bars) + 1  # one empty row between dimensions
        n_rows += len(bars)
        shown = f"H{k}" if len(bars) == n_total else f"H{k} ({len(bars)} longest of {n_total})"
        colour = _colour(k)
        fin = bars[~inf]
        fin_y = ys[~inf]
        gap = np.full(len(fin), np.nan)
        life_fin = fin[:, 1] - fin[:, 0]
        # One trace per dimension: segments [birth, death] separated by NaN gaps.
        traces.append(
            go.Scatter(
                x=np.column_stack([fin[:, 0], fin[:, 1], gap]).ravel().astype(f4),
                y=np.column_stack([fin_y, fin_y, gap]).ravel().astype(f4),
                mode="lines",
                name=shown,
                legendgroup=f"H{k}",
                line={"color": colour, "width": 3},
                customdata=np.repeat(np.column_stack([fin, life_fin]), 3, 0).astype(f4),
                hovertemplate=(
                    f"H{k} bar<br>birth %{{customdata[0]:.4g}}<br>death %{{customdata[1]:.4g}}"
                    "<br>lifetime %{customdata[2]:.4g}<extra></extra>"
                ),
                connectgaps=False,
            )
        )
        if inf.any():
            ib = bars[inf]
            iy = ys[inf]
            gap = np.full(len(ib), np.nan)
            traces.append(
                go.Scatter(
                    x=np.column_stack([ib[:, 0], np.full(len(ib), x_inf), gap]).ravel().astype(f4),
                    y=np.column_stack([iy, iy, gap]).ravel().astype(f4),
                    mode="lines+markers",
                    name=f"H{k} never dies",
                    legendgroup=f"H{k}",
                    line={"color": colour, "width": 3},
                    marker={
                        "symbol": "triangle-right",
                        "size": np.tile(np.array([0, 11, 0], dtype=np.uint8), len(ib)),
                        "color": colour,
                    },
                    customdata=np.repeat(ib[:, :1], 3, 0).astype(f4),
                    hovertemplate=(
                        f"H{k} bar<br>birth %{{customdata[0]:.4g}}<br>death ∞<extra></extra>"
                    ),
                    connectgaps=False,
                )
            )
    layout = {
        "template": template,
        "title": _title(title),
        "height": int(min(900, max(260, 140 + 6 * n_rows))),
        "margin": {"l": 30, "r": 20, "t": 50 if title else 20, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        "xaxis": {"title": {"text": _axis_title(relative)},
                  "range": [0.0, edge * (1 + 2 * _INF_GAP)]},
        "yaxis": {"autorange": "reversed", "showticklabels": False, "showgrid": False,
                  "zeroline": False},
        # The right edge (the diameter in relative units): bars that never die pass it.
        "shapes": [{"type": "line", "xref": "x", "yref": "paper", "x0": edge, "x1": edge,
                    "y0": 0, "y1": 1, "line": {"dash": "dot", "color": "#999", "width": 1}}],
    }  # fmt: skip
    return go.Figure(data=traces, layout=layout)


def diagram_figure(
    diagram: Diagram,
    *,
    relative: bool = True,
    dims: Sequence[int] | None = None,
    title: str | None = None,
    template: TemplateLike = DEFAULT_TEMPLATE,
) -> go.Figure:
    """Persistence diagram: one (birth, death) point per bar, with the diagonal.

    Points that never die are drawn on a dashed line labelled ``∞`` above the largest finite
    value.

    Parameters
    ----------
    diagram : Diagram
        Holds one array of shape (n_bars_k, 2) per dimension k.
    relative : bool, default True
        Divide births and deaths by the diagram's scale (the cloud's diameter).
    dims : sequence of int, optional
        Dimensions to draw; all stored dimensions by default.
    title : str, optional
        Figure title, plain text (a newline breaks the line).

    template : str or plotly.graph_objects.layout.Template, default "plotly_white"
        Template of this figure only; plotly's global default is neither used nor changed.

    Returns
    -------
    plotly.graph_objects.Figure
        The diagonal, then per dimension one trace of finite points and, when the dimension has
        bars that never die, one trace for them.

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> len(diagram_figure(d).data)
    4
    """
    dims = _dims(diagram, dims)
    edge = _right_edge(diagram, dims, relative)
    y_inf = edge * (1.0 + _INF_GAP)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0.0, y_inf],
            y=[0.0, y_inf],
            mode="lines",
            name="diagonal",
            line={"color": "#888", "dash": "dash", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    for k in dims:
        bars = _scaled(diagram, k, relative)
        inf = np.isinf(bars[:, 1])
        fin = bars[~inf]
        colour = _colour(k)
        fig.add_trace(
            go.Scatter(
                x=fin[:, 0],
                y=fin[:, 1],
                mode="markers",
                name=f"H{k}",
                legendgroup=f"H{k}",
                marker={"color": colour, "size": 7, "opacity": 0.8},
                customdata=fin[:, 1] - fin[:, 0],
                hovertemplate=(
                    f"H{k}<br>birth %{{x:.4g}}<br>death %{{y:.4g}}"
                    "<br>lifetime %{customdata:.4g}<extra></extra>"
                ),
            )
        )
        if inf.any():
            births = bars[inf, 0]
            fig.add_trace(
                go.Scatter(
                    x=births,
                    y=np.full(len(births), y_inf),
                    mode="markers",
                    name=f"H{k} never dies",
                    legendgroup=f"H{k}",
                    marker={"color": colour, "size": 10, "symbol": "triangle-up"},
                    hovertemplate=f"H{k}<br>birth %{{x:.4g}}<br>death ∞<extra></extra>",
                )
            )
    fig.add_hline(
        y=y_inf,
        line={"dash": "dot", "color": "#999", "width": 1},
        annotation_text="∞",
        annotation_position="top left",
    )
    lim = [0.0, edge * (1 + 2 * _INF_GAP)]
    fig.update_layout(
        template=template,
        title=_title(title),
        height=420,
        margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 50},
        xaxis={"title": {"text": "birth"}, "range": lim},
        yaxis={"title": {"text": "death"}, "range": lim, "scaleanchor": "x", "scaleratio": 1},
    )
    return fig


def betti_curves_figure(
    curves: Mapping[str, ArrayLike],
    grid: ArrayLike,
    *,
    dim: int,
    title: str | None = None,
    relative: bool = True,
    template: TemplateLike = DEFAULT_TEMPLATE,
) -> go.Figure:
    """Betti curves of several diagrams on one shared filtration grid, one line per label.

    Lines are coloured along the Viridis scale in the order of ``curves`` (e.g. training
    order), so that change through training reads as a change of colour.

    Parameters
    ----------
    curves : mapping of str to array-like of shape (n_bins,)
        Label (e.g. checkpoint) -> Betti numbers on ``grid``, e.g. from
        :func:`tda_interp.diagrams.betti_curve`. Labels are plain text.
    grid : array-like of shape (n_bins,)
        The shared filtration grid, e.g. from :func:`tda_interp.diagrams.shared_grid`.
    dim : int
        Homology dimension of the curves, for labels.
    title : str, optional
        Figure title, plain text (a newline breaks the line).
    relative : bool, default True
        Whether ``grid`` is in relative units, for the axis title.

    template : str or plotly.graph_objects.layout.Template, default "plotly_white"
        Template of this figure only; plotly's global default is neither used nor changed.

    Returns
    -------
    plotly.graph_objects.Figure
        One step line per label.

    Examples
    --------
    >>> grid = np.linspace(0, 1, 5)
    >>> fig = betti_curves_figure({"a": [1, 1, 0, 0, 0], "b": [2, 1, 1, 0, 0]}, grid, dim=1)
    >>> len(fig.data)
    2
    """
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 1:
        raise ConfigError(f"Expected a grid of shape (n_bins,), got shape {g.shape}.")
    n = len(curves)
    colours = sample_colorscale("Viridis", [0.5] if n == 1 else list(np.linspace(0, 0.9, n)))
    fig = go.Figure()
    for (label, values), colour in zip(curves.items(), colours, strict=False):
        v = np.asarray(values, dtype=np.float64)
        if v.shape != g.shape:
            raise ConfigError(
                f"Expected the Betti curve of {label!r} on the grid, of shape {g.shape}, "
                f"got shape {v.shape}; compute every curve on the same shared grid."
            )
        fig.add_trace(
            go.Scatter(
                x=g,
                y=v,
                mode="lines",
                name=plain_text(label),
                line={"color": colour, "width": 2, "shape": "hv"},
                # No <extra></extra>: plotly shows the trace name (the label) beside the values.
                hovertemplate=f"t = %{{x:.3f}}<br>β{dim} = %{{y}}",
            )
        )
    fig.update_layout(
        template=template,
        title=_title(title),
        height=340,
        margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 50},
        xaxis={"title": {"text": _axis_title(relative)}},
        yaxis={"title": {"text": f"Betti number β{dim}"}, "rangemode": "tozero"},
        hovermode="closest",
    )
    return fig


def heatmap_figure(
    values: ArrayLike,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    title: str | None = None,
    colorbar_title: str | None = None,
    text: ArrayLike | None = None,
    colorscale: str = "Viridis",
    zmin: float | None = None,
    zmax: float | None = None,
    row_name: str = "layer",
    col_name: str = "checkpoint",
    template: TemplateLike = DEFAULT_TEMPLATE,
) -> go.Figure:
    """Heatmap of one number per (row, column), e.g. per (layer, checkpoint).

    Rows are drawn top to bottom in the given order. Cells holding NaN (missing results) are
    left blank. Rows and columns are placed by position, so repeated or numeric-looking labels
    are kept apart and in order.

    Parameters
    ----------
    values : array-like of shape (n_rows, n_cols)
        The numbers; NaN where missing.
    rows : sequence of str of length n_rows
        Row labels (layers), plain text like every string argument.
    cols : sequence of str of length n_cols
        Column labels (checkpoints or steps).
    title : str, optional
        Figure title, plain text (a newline breaks the line).
    colorbar_title : str, optional
        Title of the colour bar (a newline breaks the line).
    text : array-like of str of shape (n_rows, n_cols), optional
        Text written in each cell.
    colorscale : str, default "Viridis"
    zmin, zmax : float, optional
        Range of the colour scale; the data range by default.
    row_name, col_name : str, default "layer", "checkpoint"
        What rows and columns are, for the hover label.

    template : str or plotly.graph_objects.layout.Template, default "plotly_white"
        Template of this figure only; plotly's global default is neither used nor changed.

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap trace.

    Examples
    --------
    >>> fig = heatmap_figure(np.eye(2), ["l0", "l1"], ["c0", "c1"], title="t")
    >>> fig.data[0].type
    'heatmap'
    """
    z = np.asarray(values, dtype=np.float64)
    if z.ndim != 2 or z.shape != (len(rows), len(cols)):
        raise ConfigError(
            f"Expected values of shape (n_rows, n_cols) = ({len(rows)}, {len(cols)}), "
            f"got shape {z.shape}."
        )
    row_labels = [plain_text(r) for r in rows]
    col_labels = [plain_text(c) for c in cols]
    row_title, col_title = plain_text(row_name), plain_text(col_name)
    custom = np.empty((*z.shape, 2), dtype=object)
    for i, r in enumerate(row_labels):
        for j, c in enumerate(col_labels):
            custom[i, j, 0] = f"{row_title} {r}"
            custom[i, j, 1] = f"{col_title} {c}"
    kwargs: dict[str, Any] = {}
    if text is not None:
        t = np.asarray(text, dtype=object)
        if t.shape != z.shape:
            raise ConfigError(f"Expected text of shape {z.shape}, got shape {t.shape}.")
        cells = [[plain_text(v) for v in row] for row in t.tolist()]
        kwargs = {"text": cells, "texttemplate": "%{text}", "textfont": {"size": 11}}
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=np.arange(len(col_labels)),
            y=np.arange(len(row_labels)),
            customdata=custom,
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            hoverongaps=True,
            colorbar={"title": {"text": plain_text(colorbar_title)}} if colorbar_title else None,
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>value %{z}<extra></extra>",
            **kwargs,
        )
    )
    fig.update_layout(
        template=template,
        title=_title(title),
        height=int(max(260, 120 + 36 * len(row_labels))),
        margin={"l": 20, "r": 20, "t": 50 if title else 20, "b": 40},
        xaxis={"tickmode": "array", "tickvals": list(range(len(col_labels))),
               "ticktext": col_labels, "title": {"text": col_title}, "showgrid": False},
        yaxis={"tickmode": "array", "tickvals": list(range(len(row_labels))),
               "ticktext": row_labels, "autorange": "reversed", "title": {"text": row_title},
               "showgrid": False, "automargin": True},
    )  # fmt: skip
    return fig


def lines_figure(
    series: Mapping[str, tuple[ArrayLike, ArrayLike]],
    *,
    x_title: str,
    y_title: str,
    title: str | None = None,
    x_labels: Sequence[str] | None = None,
    dashed: Sequence[str] = (),
    template: TemplateLike = DEFAULT_TEMPLATE,
) -> go.Figure:
    """One line with markers per label, e.g. a layer's distance to the final checkpoint
    against the training step.

    Lines are coloured along the Viridis scale in the order of ``series`` (e.g. depth).

    Parameters
    ----------
    series : mapping of str to (x, y), each array-like of shape (n_k,)
        Label (plain text) -> its points; NaN values leave a gap.
    x_title, y_title : str
        Axis titles, plain text.
    title : str, optional
        Figure title, plain text.
    x_labels : sequence of str, optional
        Names of the positions ``0, 1, ...`` of the x axis (e.g. layers, in depth order),
        plain text; the x values are then positions.
    dashed : sequence of str
        Labels of ``series`` drawn dashed (e.g. a control run beside the main one).
    template : str or plotly.graph_objects.layout.Template, default "plotly_white"
        Template of this figure only.

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> fig = lines_figure({"fc1": ([0, 10], [0.3, 0.0])}, x_title="step", y_title="d")
    >>> fig.data[0].name, fig.data[0].y.tolist()
    ('fc1', [0.3, 0.0])
    """
    n = len(series)
    colours = sample_colorscale("Viridis", [0.5] if n == 1 else list(np.linspace(0, 0.9, n)))
    fig = go.Figure()
    for (label, (x, y)), colour in zip(series.items(), colours, strict=False):
        xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if xs.shape != ys.shape or xs.ndim != 1:
            raise ConfigError(
                f"Expected x and y of one shape (n_points,) for {label!r}, got {xs.shape} and "
                f"{ys.shape}."
            )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=plain_text(label),
                line={"color": colour, "width": 2, "dash": "dash" if label in dashed else None},
                hovertemplate="%{x}: %{y:.4g}" if x_labels is None else "%{y:.4g}",
            )
        )
    xaxis: dict[str, Any] = {"title": {"text": plain_text(x_title)}}
    if x_labels is not None:
        xaxis.update(
            tickmode="array",
            tickvals=list(range(len(x_labels))),
            ticktext=[plain_text(v) for v in x_labels],
        )
    fig.update_layout(
        template=template,
        title=_title(title),
        height=340,
        margin={"l": 50, "r": 20, "t": 50 if title else 20, "b": 50},
        xaxis=xaxis,
        yaxis={"title": {"text": plain_text(y_title)}, "rangemode": "tozero"},
        hovermode="closest",
    )
    return fig
