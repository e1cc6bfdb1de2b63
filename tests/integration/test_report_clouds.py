"""The report's clouds: a run made from a config is captured again, its circle layer's scatter
carries a loop around the circle and its noise layer none; labels stay text; nothing is written
into the run directory."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_report_browser import TIMEOUT, _chrome

from tda_interp.cli import main
from tda_interp.compare import run_activations
from tda_interp.exceptions import RunDirError
from tda_interp.plotting import plain_text
from tda_interp.reports import ReportData, build_report, render_html, render_json
from tda_interp.reports.model import MAX_CLOUD_POINTS
from tda_interp.store import RunWriter

N = 80
HOSTILE = "<img src=x onerror=alert({})>"

# "circle": a linear map of points on a circle (an ellipse in 12 dimensions); "noise": the same
# number of Gaussian points whatever the input.
MODELS = f"""
import math
import torch
from torch import nn

N = {N}


class Noise(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.register_buffer("z", torch.randn(N, 12, generator=g))

    def forward(self, x):
        return self.z[: len(x)] + 0.0 * x.sum()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.circle = nn.Linear(2, 12)
        self.noise = Noise()

    def forward(self, x):
        return self.noise(self.circle(x))


def model():
    torch.manual_seed(0)
    return Net()


def inputs():
    t = torch.linspace(0, 2 * math.pi, N + 1)[:-1]
    return torch.stack([torch.cos(t), torch.sin(t)], 1)
"""

CONFIG = """
[model]
factory = "models.py:model"
checkpoints = "ckpt/*.pt"
[inputs]
factory = "models.py:inputs"
[capture]
layers = ["circle", "noise"]
[homology]
maxdim = 1
views = ["raw", "pc1-2"]
[execution]
executor = "serial"
cache = false
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("clouds")
    (project / "models.py").write_text(MODELS)
    ns: dict = {}  # type: ignore[type-arg]
    exec(MODELS, ns)
    (project / "ckpt").mkdir()
    for step in (0, 10):
        torch.manual_seed(step)
        torch.save(ns["model"]().state_dict(), project / "ckpt" / f"step_{step}.pt")
    cfg = project / "run.toml"
    cfg.write_text(textwrap.dedent(CONFIG))
    assert main(["run", str(cfg), "-o", str(project / "run"), "-q"]) == 0
    return project / "run"


@pytest.fixture(scope="module")
def report(run_dir: Path) -> ReportData:
    labels = [HOSTILE.format(i) for i in range(N)]
    return build_report(run_dir, point_labels=labels)


def _coverage(xy: np.ndarray, cycle: tuple[int, ...]) -> float:
    centred = xy[list(cycle)] - xy.mean(axis=0)
    a = np.sort(np.arctan2(centred[:, 1], centred[:, 0]))
    return float(1 - np.diff(np.r_[a, a[0] + 2 * np.pi]).max() / (2 * np.pi))


def test_the_circle_layer_has_a_loop_around_the_circle(report: ReportData) -> None:
    assert len(report.clouds) == 2 * 2 * 2  # checkpoints x layers x views
    for view in ("raw", "pc1-2"):
        entry = report.cloud("step_10", "circle", view)
        assert entry is not None
        assert len(entry.xy) == N == entry.n_points
        assert len(entry.cycles) == 1  # the one significant H1 bar
        assert _coverage(np.array(entry.xy), entry.cycles[0]) > 0.85
        ((birth, death),) = entry.cycle_bars
        assert 0 < birth < death <= 1


def test_the_noise_layer_has_no_loop(report: ReportData) -> None:
    for ck in ("step_0", "step_10"):
        for view in ("raw", "pc1-2"):
            entry = report.cloud(ck, "noise", view)
            assert entry is not None and entry.cycles == ()


def test_labels_are_the_callers_and_round_trip(report: ReportData) -> None:
    entry = report.cloud("step_10", "circle", "pc1-2")
    assert entry is not None and entry.labels[3] == HOSTILE.format(3)
    assert report.cloud_label == "your labels"
    assert all(v == float(f"{v:.4g}") for p in entry.xy for v in p)  # 4 significant digits
    assert ReportData.from_dict(json.loads(render_json(report))) == report


def test_hostile_labels_stay_text(report: ReportData) -> None:
    html = render_html(report)
    assert "<img" not in html
    data = json.loads(
        re.search(r'<script type="application/json" id="tda-data">(.*?)</script>', html, re.S)[1]
    )
    tables = data["cloudLabels"]
    assert plain_text(HOSTILE.format(0)) in tables[0]["t"]  # plotly gets plain text
    assert HOSTILE.format(0) not in tables[0]["t"]
    entry = report.cloud("step_10", "circle", "pc1-2")
    assert entry is not None
    on_loop = entry.labels[entry.cycles[0][0]]
    assert f"<code>{on_loop.replace('<', '&lt;').replace('>', '&gt;')}</code>" in html


def test_index_labels_by_default_and_given_activations_agree(run_dir: Path) -> None:
    plain = build_report(run_dir)
    assert plain.cloud_label == "input index"
    entry = plain.cloud("step_10", "circle", "raw")
    assert entry is not None and entry.labels[:3] == ("0", "1", "2")
    acts = {ck: run_activations(run_dir, ck) for ck in ("step_0", "step_10")}
    given = build_report(run_dir, activations=acts)
    assert given.clouds == plain.clouds


def test_nothing_is_written_into_the_run(run_dir: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    build_report(run_dir)
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


def test_a_run_without_factories_gets_a_note(tmp_path: Path) -> None:
    from tda_interp.homology import vietoris_rips

    writer = RunWriter(tmp_path / "run", params={"layers": ["fc"], "views": ["raw"]})
    writer.add_checkpoint("step_0", 0)
    X = np.random.default_rng(0).normal(size=(30, 3))
    writer.write("step_0", "fc", "raw", vietoris_rips(X, maxdim=1), step=0)
    report = build_report(tmp_path / "run")
    assert report.clouds == () and "activations=" in report.clouds_note
    assert "clouds-note" in render_html(report)
    with pytest.raises(RunDirError, match="does not record how to rebuild"):
        build_report(tmp_path / "run", clouds=True)
    assert build_report(tmp_path / "run", clouds=False).clouds_note == ""
    assert MAX_CLOUD_POINTS == 1000


@pytest.mark.slow
def test_the_page_draws_the_loop_and_lists_its_points(report: ReportData, tmp_path: Path) -> None:
    """In Chromium: the cloud panels draw, the loop is a trace, its list shows the labels as
    text, and the menu switches checkpoints."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    driver = _chrome(tmp_path)
    try:
        driver.set_page_load_timeout(TIMEOUT)
        driver.get(page.resolve().as_uri())
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: d.execute_script(
                "if (window.tdaReport) { window.tdaReport.drawAll(); } "
                "return document.readyState === 'complete' && "
                "Array.from(document.querySelectorAll('div.plot'))"
                ".every(el => el.querySelector('svg.main-svg') !== null);"
            )
        )
        assert [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"] == []
        assert driver.execute_script("return document.querySelectorAll('img').length;") == 0
        panels = driver.find_elements(By.CSS_SELECTOR, "div.cloud-panel")
        assert len(panels) == 4  # layers x views
        panel = panels[1]  # layer "circle", view "pc1-2", last checkpoint first

        def state() -> list[Any]:
            return driver.execute_script(  # type: ignore[no-any-return]
                "const p = arguments[0];"
                "return [p.querySelector('div.plot').getAttribute('data-checkpoint-index'),"
                " p.querySelectorAll('.scatterlayer .trace').length,"
                " Array.from(p.querySelectorAll('div.cycles')).filter(x => !x.hidden)"
                "   .map(x => x.innerText).join('')];",
                panel,
            )

        index, traces, listed = state()
        assert (index, traces) == ("1", 2)  # the points and one loop
        assert "<img src=x onerror=alert(" in listed and "Loop 1" in listed
        Select(panel.find_element(By.CSS_SELECTOR, "select")).select_by_index(0)
        WebDriverWait(driver, TIMEOUT).until(lambda d: state()[0] == "0")
        assert "step_0 " in state()[2] and "Loop 1" in state()[2]  # a linear map keeps it
        noise = panels[3]  # layer "noise", view "pc1-2"
        text = driver.execute_script("return arguments[0].innerText;", noise)
        assert "No significant H1 bar" in text
    finally:
        driver.quit()
