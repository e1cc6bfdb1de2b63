"""Reports of a real (small) run directory: content, escaping, offline HTML, JSON round trip."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape
from plotly.offline import get_plotlyjs

from tda_interp.diagrams import Diagram
from tda_interp.exceptions import ActivationError, RunDirError
from tda_interp.homology import vietoris_rips
from tda_interp.options import CaptureOptions, RipsOptions, SummaryOptions
from tda_interp.plotting import plain_text
from tda_interp.reports import (
    ReportData,
    build_report,
    render_html,
    render_json,
    write_report,
)
from tda_interp.store import RunWriter, read_summaries

XSS_LAYER = '<script>alert(1)</script><img src=x onerror="window.__xss=1">'
ODD_CHECKPOINT = 'ck"&<>1'
LAYERS = ["embed", XSS_LAYER, "blocks.1.mlp"]
CHECKPOINTS = ["step_0000", ODD_CHECKPOINT, "final"]
VIEWS = ["raw", "pc1-2"]
MISSING = ("final", "blocks.1.mlp", "pc1-2")
LONG_BAR = 0.25
HOMOLOGY = RipsOptions(maxdim=1, backend="ripser", approximation="auto")


def make_run(run_dir: Path, *, n_points: int = 40) -> Path:
    """Noisy circles in 4-D that get cleaner through training; one result left out."""
    rng = np.random.default_rng(0)
    params = {
        "layers": LAYERS,
        "views": VIEWS,
        "capture": CaptureOptions(reduction="mean").params(),
        "homology": HOMOLOGY.params(),
        "significance": None,
        "summary": SummaryOptions(long_bar=LONG_BAR).params(),
        "inputs": {"kind": "synthetic", "n": n_points},
    }
    info = {"model": "toy <b>net</b>", "title": "Toy </script> run", "description": "a & b"}
    writer = RunWriter(run_dir, params=params, info=info)
    for s, ck in enumerate(CHECKPOINTS):
        writer.add_checkpoint(ck, 100 * s)
        noise = [0.8, 0.3, 0.05][s]
        for li, layer in enumerate(LAYERS):
            t = rng.uniform(0, 2 * np.pi, n_points)
            X = np.c_[np.cos(t), np.sin(t), noise * rng.normal(size=(n_points, 2))]
            if li == 0:
                X = rng.normal(size=(n_points, 4))  # pure noise layer
            for view in VIEWS:
                if (ck, layer, view) == MISSING:
                    continue
                dgm = vietoris_rips(X, HOMOLOGY, view=view)
                writer.write(
                    ck, layer, view, dgm, step=100 * s, summary=SummaryOptions(long_bar=LONG_BAR)
                )
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def report(run_dir: Path) -> ReportData:
    return build_report(run_dir)


@pytest.fixture(scope="module")
def html(report: ReportData) -> str:
    return render_html(report)


def _without_plotlyjs(html: str) -> str:
    js = get_plotlyjs()
    assert html.count(js) == 1, "plotly.js must be embedded exactly once"
    return html.replace(js, "")


# ---------------------------------------------------------------------------- data model
def test_model_order_and_shapes(report: ReportData) -> None:
    assert report.layers == tuple(LAYERS)
    assert report.views == tuple(VIEWS)
    assert report.checkpoint_labels == tuple(CHECKPOINTS)
    assert [c.step for c in report.checkpoints] == [0, 100, 200]
    assert report.title == "Toy </script> run"
    assert report.model == "toy <b>net</b>"
    assert report.long_bar == LONG_BAR
    assert report.dims == (0, 1)
    assert [m.view for m in report.matrices] == VIEWS
    for m in report.matrices:
        assert m.array("n_long").shape == (len(LAYERS), len(CHECKPOINTS))
        assert m.array("max_rel_persistence").shape == (len(LAYERS), len(CHECKPOINTS))
    assert len(report.diagrams) == len(LAYERS) * len(CHECKPOINTS) * len(VIEWS) - 1


def test_title_override(run_dir: Path) -> None:
    assert build_report(run_dir, title="Other").title == "Other"


def test_matrices_match_summaries(report: ReportData, run_dir: Path) -> None:
    df = read_summaries(run_dir)
    h1 = df[df["dim"] == 1].set_index(["checkpoint", "layer", "view"])
    for m in report.matrices:
        n_long = m.array("n_long")
        max_rel = m.array("max_rel_persistence")
        for i, layer in enumerate(LAYERS):
            for j, ck in enumerate(CHECKPOINTS):
                if (ck, layer, m.view) == MISSING:
                    assert math.isnan(n_long[i, j]) and math.isnan(max_rel[i, j])
                    assert m.n_long[i][j] is None
                    continue
                row = h1.loc[(ck, layer, m.view)]
                assert n_long[i, j] == row["n_long"]
                assert max_rel[i, j] == pytest.approx(row["max_rel_persistence"])
    # the clean circle at the last checkpoint has one long loop; the noise layer none
    raw = report.matrices[0].array("n_long")
    assert raw[1, -1] == 1
    assert raw[0, -1] == 0


def test_betti_curves_on_one_shared_grid(report: ReportData) -> None:
    np.testing.assert_allclose(report.grid, np.linspace(0, 1, len(report.grid)))
    assert len(report.betti) == len(LAYERS) * len(VIEWS)
    for b in report.betti:
        assert len(b.curves) == 2
        for k, per_ck in enumerate(b.curves):
            assert len(per_ck) == len(CHECKPOINTS)
            for c, curve in enumerate(per_ck):
                if (CHECKPOINTS[c], b.layer, b.view) == MISSING:
                    assert curve is None
                else:
                    assert curve is not None and len(curve) == len(report.grid)
                    if k == 0:
                        assert curve[0] == 40  # every point is a component at t = 0
                        assert curve[-1] == 1  # the one infinite H0 bar


def test_missing_results_listed(report: ReportData, html: str) -> None:
    assert [(m.checkpoint, m.layer, m.view) for m in report.missing] == [MISSING]
    assert "1 of 18 expected results" in html
    missing_section = html[html.index('id="missing"') : html.index('id="run"')]
    for name in MISSING:
        assert f"<td>{escape(name)}</td>" in missing_section
    # the missing checkpoint is a disabled option of its barcode menu
    assert re.search(r"<option value=\"2\" disabled>final \(step 200\) — missing</option>", html)


def test_missing_manifest_is_a_run_dir_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"manifest\.json is missing"):
        build_report(tmp_path)


def test_empty_run(tmp_path: Path) -> None:
    writer = RunWriter(
        tmp_path, params={"layers": ["fc"], "views": ["raw"], "homology": {"maxdim": 1}}
    )
    writer.add_checkpoint("step_0", 0)
    report = build_report(tmp_path)
    assert len(report.missing) == 1 and report.diagrams == ()
    page = render_html(report)
    assert "No results for this layer and view." in page


def test_results_outside_the_manifest_are_kept(tmp_path: Path) -> None:
    writer = RunWriter(
        tmp_path, params={"layers": ["fc"], "views": ["raw"], "homology": {"maxdim": 1}}
    )
    writer.add_checkpoint("step_0", 0)
    X = np.random.default_rng(1).normal(size=(20, 2))
    writer.write("step_0", "fc", "raw", vietoris_rips(X), step=0)
    writer.write("later", "extra", "raw", vietoris_rips(X), step=5)
    report = build_report(tmp_path)
    assert report.layers == ("fc", "extra")
    assert report.checkpoint_labels == ("step_0", "later")
    assert {(m.checkpoint, m.layer) for m in report.missing} == {
        ("step_0", "extra"),
        ("later", "fc"),
    }


# ---------------------------------------------------------------------------- HTML
def test_every_label_appears_escaped(report: ReportData, html: str) -> None:
    for name in [*LAYERS, *CHECKPOINTS, *VIEWS, report.title, report.model]:
        assert str(escape(name)) in html, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "ck&#34;&amp;&lt;&gt;1" in html


def test_no_raw_user_strings(html: str) -> None:
    assert "<script>alert" not in html
    assert ODD_CHECKPOINT not in html
    assert 'onerror="window.__xss' not in html
    assert "<b>net</b>" not in html
    assert "Toy </script> run" not in html
    # only the three script elements the renderer writes: plotly.js, data, app
    assert len(re.findall(r"<script\b", _without_plotlyjs(html), re.IGNORECASE)) == 3


def test_no_external_loads(html: str) -> None:
    page = _without_plotlyjs(html)
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    assert not re.search(
        r"<(img|iframe|source|embed|object|video|audio)\b[^>]*\b(src|data)\s*=", page, re.I
    )
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", page, re.IGNORECASE)
    assert not re.search(r"@import", page)
    assert "http://" not in page and "https://" not in page


def test_embedded_json_is_script_safe(html: str) -> None:
    m = re.search(r'<script type="application/json" id="tda-data">(.*?)</script>', html, re.S)
    assert m is not None
    text = m.group(1)
    assert "<" not in text and ">" not in text and "&" not in text
    data = json.loads(text)
    assert set(data) == {"template", "figures", "labels", "steps", "grid", "xmax", "betti", "bars"}
    # built in Python: per view the two H1 heatmaps (no calls in this run), the topology
    # against the step, the layer x layer distances; the rest is drawn from compact data
    assert len(data["figures"]) == 4 * len(VIEWS)
    assert len(data["bars"]) == len(data["betti"]) == len(LAYERS) * len(VIEWS)
    per_ck = data["bars"]["2-1"]  # blocks.1.mlp, pc1-2
    assert per_ck[2] is None and per_ck[0] is not None
    assert data["labels"] == [plain_text(c) for c in CHECKPOINTS]
    assert data["steps"] == [0, 100, 200]
    ticks = data["figures"]["fig-0"]["layout"]["yaxis"]["ticktext"]
    # JSON.parse gives the names back as plotly's plain text (their markup escaped)
    assert ticks == [plain_text(n) for n in LAYERS]


def test_compact_bars_are_the_relative_diagram(report: ReportData, html: str) -> None:
    m = re.search(r'<script type="application/json" id="tda-data">(.*?)</script>', html, re.S)
    assert m is not None
    data = json.loads(m.group(1))
    dgm = report.diagram(CHECKPOINTS[0], LAYERS[2], VIEWS[0])
    assert dgm is not None
    item = data["bars"]["2-0"][0]
    assert item["n"] == dgm.n_points
    for k, dm in enumerate(item["d"]):
        bars = dgm[k][dgm[k][:, 1] != dgm[k][:, 0]]
        assert dm["m"] == len(bars)
        life = bars[:, 1] - bars[:, 0]
        longest = bars[np.argsort(-life, kind="stable")][: len(dm["b"])] / dgm.scale
        np.testing.assert_allclose(dm["b"], longest[:, 0], atol=6e-5)
        deaths = [np.inf if e is None else e for e in dm["e"]]
        np.testing.assert_allclose(deaths, longest[:, 1], atol=6e-5)
        assert "s" not in dm  # this run made no calls
    assert 0 < data["xmax"] <= 1.0


def test_html_structure(report: ReportData, html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert "How to read this report" in html
    assert "divided by the diameter of the point cloud" in html
    assert html.count('class="card barcode-panel"') == len(LAYERS) * len(VIEWS)
    assert html.count('class="checkpoint-select"') == len(LAYERS) * len(VIEWS)
    assert "Long-lived H1 bars (relative lifetime &gt; 0.25)" in html
    for key, _ in report.params:
        assert f"<th>{key}</th>" in html
    assert "ripser" in html  # a parameter value and a version


def test_write_report_atomic_creates_parents(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "report.html"
    assert write_report(run_dir, out, title="T") == out
    first = out.read_text(encoding="utf-8")
    assert "<title>T</title>" in first
    write_report(run_dir, out)  # overwrite
    assert out.read_text(encoding="utf-8") != first
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temp files
    assert out.stat().st_mode & 0o777 == 0o644
    size = out.stat().st_size
    assert size < len(get_plotlyjs()) + 2_000_000


# ---------------------------------------------------------------------------- JSON
def test_json_round_trip(report: ReportData) -> None:
    text = render_json(report)
    data = json.loads(text)  # strict JSON: no NaN
    assert "NaN" not in text and "Infinity" not in text
    assert data["layers"] == LAYERS
    assert [c["label"] for c in data["checkpoints"]] == CHECKPOINTS
    missing = dict(zip(["checkpoint", "layer", "view"], MISSING, strict=True))
    assert data["missing"] == [missing | {"reason": None}]  # not computed yet
    back = ReportData.from_dict(data)
    assert back == report
    assert back.diagram("final", XSS_LAYER, "raw") == report.diagram("final", XSS_LAYER, "raw")
    assert render_json(back, indent=2) == render_json(report, indent=2)


def test_json_infinite_bar_is_null(report: ReportData) -> None:
    data = json.loads(render_json(report))
    h0 = data["diagrams"][0]["pairs"][0]
    assert sum(d is None for _, d in h0) == 1


def test_from_dict_rejects_other_json() -> None:
    with pytest.raises(RunDirError, match="render_json"):
        ReportData.from_dict({"title": "x"})


def test_approximate_barcodes_carry_their_bound(tmp_path: Path) -> None:
    params = {"layers": ["fc"], "views": ["raw"], "homology": {"maxdim": 1}}
    writer = RunWriter(tmp_path, params=params)
    rng = np.random.default_rng(3)
    t = rng.uniform(0, 2 * np.pi, 200)
    X = np.c_[np.cos(t), np.sin(t)] + 0.02 * rng.normal(size=(200, 2))
    kinds = {
        "exact": vietoris_rips(X, backend="ripser", approximation="auto"),
        "landmarks": vietoris_rips(X, backend="ripser", approximation="landmarks:30"),
        "subsample": vietoris_rips(X, backend="ripser", approximation="subsample:50"),
    }
    for step, (label, dgm) in enumerate(kinds.items()):
        writer.add_checkpoint(label, step)
        writer.write(label, "fc", "raw", dgm, step=step)
    report = build_report(tmp_path)
    assert kinds["landmarks"].provenance is not None
    bound = kinds["landmarks"].provenance.certificate.bound_rel
    assert bound is not None
    assert report.bound_rel("exact", "fc", "raw") == 0.0
    assert report.bound_rel("landmarks", "fc", "raw") == bound > 0
    assert report.bound_rel("subsample", "fc", "raw") is None
    assert ReportData.from_dict(json.loads(render_json(report))) == report
    page = render_html(report)
    assert f"approximate: within {bound:.1%} of the diameter" in page
    assert "no certified bound to the exact diagram (uniform subsample, or unknown)" in page
    assert page.count("approximate: within") == 1


def test_a_failed_result_is_listed_with_its_reason(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, {"layers": ["fc"], "views": ["raw", "pc1-2"]})
    w.add_checkpoint("step_0", 0)
    d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]]], scale=2.0, n_points=2)
    w.write("step_0", "fc", "raw", d, step=0)
    w.write_failure("step_0", "fc", "pc1-2", ActivationError("All 9 points are identical."), step=0)
    report = build_report(tmp_path)
    [missing] = report.missing
    assert missing.view == "pc1-2"
    assert missing.reason == "ActivationError: All 9 points are identical."
    page = render_html(report)
    assert "ActivationError: All 9 points are identical." in page and "not retried" in page
    assert ReportData.from_dict(json.loads(render_json(report))) == report
