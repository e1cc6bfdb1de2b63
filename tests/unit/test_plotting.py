"""Plot functions return plotly figures, handle infinite bars, leave plotly's state alone, and
pass every user-supplied string to plotly as plain text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tda_interp.plotting
from tda_interp.diagrams import Diagram, betti_curve, shared_grid
from tda_interp.exceptions import ConfigError
from tda_interp.homology import vietoris_rips
from tda_interp.plotting import (
    barcode_figure,
    betti_curves_figure,
    diagram_figure,
    heatmap_figure,
    lines_figure,
    plain_text,
)

NASTY = '<img src=x onerror="window.__xss=1"> %{x} </script>'
NASTY_SHOWN = '&lt;img src=x onerror="window.__xss=1"&gt; %{x} &lt;/script&gt;'


@pytest.fixture(scope="module")
def circle_dgm() -> Diagram:
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 60)
    X = np.c_[np.cos(t), np.sin(t)] + 0.02 * rng.normal(size=(60, 2))
    return vietoris_rips(X, maxdim=1, backend="ripser")


@pytest.fixture
def hand() -> Diagram:
    # H0: one infinite bar and two finite; H1: one bar. Scale 4.
    pairs = (np.array([[0.0, np.inf], [0.0, 1.0], [0.0, 2.0]]), np.array([[0.5, 2.0]]))
    return Diagram(pairs=pairs, scale=4.0, n_points=3)


@pytest.fixture(autouse=True)
def no_global_changes(monkeypatch: pytest.MonkeyPatch):
    """Every test: nothing is shown and plotly's defaults are the same afterwards."""

    def forbidden(*args, **kwargs):
        raise AssertionError("plot functions must never call show()")

    monkeypatch.setattr(go.Figure, "show", forbidden)
    template, renderer = pio.templates.default, pio.renderers.default
    yield
    assert pio.templates.default == template
    assert pio.renderers.default == renderer


def _xy(trace) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)


# ---------------------------------------------------------------------------- barcode
def test_barcode_traces_per_dimension(hand: Diagram) -> None:
    fig = barcode_figure(hand)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["H0", "H0 never dies", "H1"]
    # colour per dimension, shared by finite and infinite H0 bars
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    json.loads(fig.to_json())  # serialisable


def test_barcode_bar_segments_relative(hand: Diagram) -> None:
    fig = barcode_figure(hand, relative=True)
    x, y = _xy(fig.data[0])
    segs = x.reshape(-1, 3)
    assert np.isnan(segs[:, 2]).all()  # NaN gap after each bar
    assert sorted(map(tuple, segs[:, :2])) == [(0.0, 0.25), (0.0, 0.5)]
    # longest first: the 0.5 bar sits above (smaller row) the 0.25 bar
    rows = y.reshape(-1, 3)[:, 0]
    assert segs[np.argmin(rows), 1] == 0.5
    h1 = _xy(fig.data[2])[0].reshape(-1, 3)
    np.testing.assert_allclose(h1[0, :2], [0.125, 0.5])


def test_barcode_infinite_bar_runs_past_edge_with_marker(hand: Diagram) -> None:
    fig = barcode_figure(hand)
    inf = fig.data[1]
    x, _ = _xy(inf)
    assert x[0] == 0.0 and x[1] > 1.0  # past the right edge (the diameter, 1.0 relative)
    assert fig.layout.xaxis.range[1] > x[1]
    assert inf.marker.symbol == "triangle-right"
    assert np.asarray(inf.marker.size)[1] > 0 and np.asarray(inf.marker.size)[0] == 0
    assert "∞" in inf.hovertemplate


def test_barcode_absolute_units(hand: Diagram) -> None:
    fig = barcode_figure(hand, relative=False)
    segs = _xy(fig.data[0])[0].reshape(-1, 3)
    assert segs[:, 1].max() == 2.0
    assert _xy(fig.data[1])[0][1] > 4.0  # beyond the scale


def test_barcode_without_infinite_bars() -> None:
    d = Diagram(pairs=(np.array([[0.0, 1.0]]), np.array([[0.2, 0.3]])), scale=1.0, n_points=2)
    assert [t.name for t in barcode_figure(d).data] == ["H0", "H1"]


def test_barcode_empty_dimension_keeps_its_trace() -> None:
    d = Diagram(pairs=(np.array([[0.0, np.inf]]), np.empty((0, 2))), scale=1.0, n_points=1)
    fig = barcode_figure(d)
    assert [t.name for t in fig.data] == ["H0", "H0 never dies", "H1"]
    assert len(fig.data[2].x) == 0


def test_barcode_real_circle_max_bars(circle_dgm: Diagram) -> None:
    fig = barcode_figure(circle_dgm, max_bars=10, title="circle_dgm")
    assert fig.layout.title.text == "circle_dgm"
    names = [t.name for t in fig.data]
    assert names[0] == f"H0 (10 longest of {len(circle_dgm[0])})"
    n_h0 = len(fig.data[0].x) // 3 + len(fig.data[1].x) // 3
    assert n_h0 == 10
    # the circle_dgm's long H1 bar is drawn, as the longest one
    h1 = _xy(fig.data[2])[0].reshape(-1, 3)
    assert h1[0, 1] - h1[0, 0] == pytest.approx(circle_dgm.lifetimes(1, relative=True)[0], rel=1e-5)


def test_barcode_bad_arguments(hand: Diagram) -> None:
    with pytest.raises(ConfigError, match="max_bars"):
        barcode_figure(hand, max_bars=0)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        barcode_figure(hand, dims=[2])
    assert [t.name for t in barcode_figure(hand, dims=[1]).data] == ["H1"]


# ---------------------------------------------------------------------------- diagram
def test_diagram_figure(hand: Diagram) -> None:
    fig = diagram_figure(hand)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["diagonal", "H0", "H0 never dies", "H1"]
    finite_top = max(np.max(_xy(t)[1]) for t in (fig.data[1], fig.data[3]))
    inf_y = _xy(fig.data[2])[1]
    assert (inf_y > finite_top).all() and (inf_y > 1.0).all()
    np.testing.assert_allclose(_xy(fig.data[3])[0], [0.125])


def test_diagram_figure_circle(circle_dgm: Diagram) -> None:
    fig = diagram_figure(circle_dgm, relative=False, title="t")
    assert len(fig.data) == 4
    assert len(fig.data[3].x) == len(circle_dgm[1])


# ---------------------------------------------------------------------------- Betti curves
def test_betti_curves_one_line_per_label(circle_dgm: Diagram, hand: Diagram) -> None:
    grid = shared_grid([circle_dgm, hand], n_bins=50)
    curves = {"first": betti_curve(circle_dgm, 1, grid), "second": betti_curve(hand, 1, grid)}
    fig = betti_curves_figure(curves, grid, dim=1, title="H1")
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["first", "second"]
    assert all(len(t.x) == 50 for t in fig.data)
    assert fig.data[0].line.color != fig.data[1].line.color


def test_betti_curves_label_never_in_hovertemplate() -> None:
    grid = np.linspace(0, 1, 4)
    fig = betti_curves_figure({NASTY: [1, 1, 0, 0]}, grid, dim=0)
    assert fig.data[0].name == NASTY_SHOWN  # plain text for plotly: shown as NASTY
    assert NASTY not in fig.data[0].hovertemplate
    assert NASTY_SHOWN not in fig.data[0].hovertemplate


def test_betti_curves_shape_mismatch() -> None:
    with pytest.raises(ConfigError, match="same shared grid"):
        betti_curves_figure({"a": [1, 2]}, np.linspace(0, 1, 3), dim=0)
    with pytest.raises(ConfigError, match="grid"):
        betti_curves_figure({"a": [1]}, np.zeros((2, 2)), dim=0)


def test_betti_curves_empty_mapping() -> None:
    assert len(betti_curves_figure({}, np.linspace(0, 1, 3), dim=0).data) == 0


# ---------------------------------------------------------------------------- heatmap
def test_heatmap_figure() -> None:
    values = np.array([[1.0, np.nan, 3.0], [0.0, 2.0, 5.0]])
    rows = ["blocks.0", NASTY]
    cols = ["step_0", "100", "100"]  # numeric-looking and repeated labels stay apart
    text = [["1", "missing", "3"], ["0", "2", "5"]]
    fig = heatmap_figure(values, rows, cols, title="T", colorbar_title="bars", text=text)
    assert isinstance(fig, go.Figure) and len(fig.data) == 1
    hm = fig.data[0]
    assert hm.type == "heatmap"
    z = np.asarray(hm.z, dtype=float)
    assert np.isnan(z[0, 1]) and z[1, 2] == 5.0
    assert list(fig.layout.xaxis.ticktext) == cols
    assert list(fig.layout.yaxis.ticktext) == ["blocks.0", NASTY_SHOWN]
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2]
    assert NASTY not in hm.hovertemplate and NASTY_SHOWN not in hm.hovertemplate
    assert np.asarray(hm.customdata, dtype=object)[1, 0, 0] == f"layer {NASTY_SHOWN}"
    assert fig.layout.yaxis.autorange == "reversed"  # first layer on top
    json.loads(fig.to_json())


def test_heatmap_shape_checks() -> None:
    with pytest.raises(ConfigError, match=r"\(2, 2\)"):
        heatmap_figure(np.zeros((2, 3)), ["a", "b"], ["c", "d"])
    with pytest.raises(ConfigError, match="text"):
        heatmap_figure(np.zeros((1, 1)), ["a"], ["c"], text=[["x", "y"]])


def test_explicit_template_only_on_the_figure(hand: Diagram) -> None:
    before = pio.templates.default
    fig = barcode_figure(hand, template="simple_white")
    assert fig.layout.template.layout.xaxis.showgrid is False
    assert pio.templates.default == before


# ---------------------------------------------------------------------------- plain text
# plotly.js reads every string it draws (titles, tick labels, legend names, hover labels, cell
# text, annotations, menu labels) as pseudo-HTML: svg_text_utils.convertToTspans interprets the
# tags below (<a href> becomes a live link, style= reaches the SVG, so a url() in it is fetched),
# decodes these entities in the text between tags, turns newlines into spaces, and, when the
# page has MathJax, typesets $...$. This mirror of it says what a string shows.
_PLOTLY_TAG = re.compile(r"(<[^<>]*>)")
_PLOTLY_ONE_TAG = re.compile(r"<(/?)([^ >]*)(\s+(.*))?>", re.IGNORECASE)
_PLOTLY_ENTITY = re.compile(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);")
_PLOTLY_NAMED = {"mu": "μ", "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "times": "×",
                 "plusmn": "±", "deg": "°"}  # fmt: skip
_PLOTLY_TAGS = {"br", "sup", "sub", "s", "u", "b", "i", "a", "span", "em"}
_PLOTLY_TEX = re.compile(r"([^$]*)([$]+[^$]*[$]+)([^$]*)")
_TEMPLATES = {"hovertemplate", "texttemplate"}


def _entity(m: re.Match[str]) -> str:
    code = m.group(1)
    if code.startswith("#"):
        n = int(code[2:], 16) if code[1:2] == "x" else int(code[1:])
        return chr(n) if n <= 0x10FFFF else m.group(0)
    return _PLOTLY_NAMED.get(code, m.group(0))


def plotly_shows(text: str) -> tuple[str, list[str]]:
    """What plotly.js draws for ``text``: the visible text (a line break as "\\n") and the
    tags it interprets as markup."""
    shown: list[str] = []
    tags: list[str] = []
    for part in _PLOTLY_TAG.split(re.sub(r"\r\n?|\n", " ", text)):
        m = _PLOTLY_ONE_TAG.match(part)
        tag = m.group(2).lower() if m else ""
        if tag == "br":
            shown.append("\n")
            tags.append(tag)
        elif tag in _PLOTLY_TAGS:
            tags.append(tag)  # drawn as a styled tspan or a link, not as text
        else:
            shown.append(_PLOTLY_ENTITY.sub(_entity, part))
    return "".join(shown), tags


def _strings(obj: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string value in a figure's JSON, with the key it sits under."""
    if isinstance(obj, str):
        yield key, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, key)


HOST = "http://127.0.0.1:9"
HOSTILE = (
    f'blocks.0<span style="background-image:url({HOST}/span.png)">x</span>',
    f'<a href="{HOST}/link">click</a>',
    f'<img src="{HOST}/img.png"><link rel="stylesheet" href="{HOST}/s.css">',
    f'<style>@import url("{HOST}/import.css");</style>',
    "fc & relu &lt;b&gt;bold&lt;/b&gt; &#60;i&#62; &amp;",
    "two<br>lines<BR/>three",
    f"$\\href{{{HOST}/tex}}{{x}}$ costs $5",
    "<sup>up</sup><b>bold</b><em>em</em> %{x}",
)


def _figures(names: tuple[str, ...], dgm: Diagram) -> dict[str, go.Figure]:
    """Every figure builder, given ``names`` for every string it takes from its caller."""
    n = len(names)
    grid = np.linspace(0, 1, 5)
    builders: dict[str, Callable[[], go.Figure]] = {
        "barcode_figure": lambda: barcode_figure(dgm, title=names[0], max_bars=2),
        "diagram_figure": lambda: diagram_figure(dgm, title=names[1]),
        "betti_curves_figure": lambda: betti_curves_figure(
            {name: [n - i, 1, 1, 0, 0] for i, name in enumerate(names)},
            grid,
            dim=1,
            title=names[2],
        ),
        "heatmap_figure": lambda: heatmap_figure(
            np.arange(n * n, dtype=float).reshape(n, n),
            names,
            names[::-1],
            title=names[3],
            colorbar_title=names[4],
            text=[[names[(i + j) % n] for j in range(n)] for i in range(n)],
            row_name=names[5],
            col_name=names[6],
        ),
        "lines_figure": lambda: lines_figure(
            {name: ([0, 1, 2], [i, 1, 0]) for i, name in enumerate(names)},
            x_title=names[0],
            y_title=names[1],
            title=names[2],
        ),
    }
    return {name: build() for name, build in builders.items()}


def test_every_figure_builder_is_checked(hand: Diagram) -> None:
    public = {n for n in tda_interp.plotting.__all__ if n.endswith("_figure")}
    assert set(_figures(HOSTILE, hand)) == public


@pytest.mark.parametrize("builder", ["barcode", "diagram", "betti_curves", "heatmap", "lines"])
def test_hostile_names_reach_plotly_as_plain_text(hand: Diagram, builder: str) -> None:
    """In the figure's JSON no user string is markup: plotly shows each one literally."""
    fig = _figures(HOSTILE, hand)[f"{builder}_figure"]
    strings = list(_strings(json.loads(fig.to_json())))
    shown = []
    for key, s in strings:
        if key in _TEMPLATES:  # the library's own templates; user strings never go there
            assert not any(h in s or plain_text(h) in s for h in HOSTILE), (key, s)
            continue
        text, tags = plotly_shows(s)
        assert set(tags) <= {"br"}, (key, s)  # no link, no style, no font change
        assert _PLOTLY_TEX.search(s) is None, (key, s)  # nothing for MathJax
        shown.append(text)
    used = {"barcode": HOSTILE[:1], "diagram": HOSTILE[1:2]}.get(builder, HOSTILE)
    for h in used:
        assert any(h in t for t in shown), h  # displayed literally, "<br>" and "&lt;" too


def test_plain_text_known_values() -> None:
    assert plain_text("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert plain_text("&lt;") == "&amp;lt;"
    assert plain_text("$x$") == "&#36;x&#36;"
    assert plain_text("relative\nlifetime") == "relative<br>lifetime"  # the one markup
    assert plain_text("a\r\nb\rc") == "a<br>b<br>c"
    assert plain_text("step_0 · 100%") == "step_0 · 100%"
    assert plain_text(3) == "3"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>&$;#x0123abr/ \n\r\"'=:%{}")) | st.characters()))
def test_plain_text_is_shown_as_written(text: str) -> None:
    escaped = plain_text(text)
    shown, tags = plotly_shows(escaped)
    assert shown == re.sub(r"\r\n?", "\n", text)
    assert set(tags) <= {"br"}
    assert _PLOTLY_TEX.search(escaped) is None
