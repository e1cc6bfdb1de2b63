"""The comparison page in a real headless Chromium: every figure renders offline, hostile names
stay text, nothing is fetched. Same browser set-up as tests/integration/test_report_browser.py
(which says how to install or skip it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_report_browser import TIMEOUT, _chrome

from tda_interp.compare import compare_runs
from tda_interp.homology import vietoris_rips
from tda_interp.options import ExecutionOptions
from tda_interp.reports.compare import write_compare_report
from tda_interp.store import RunWriter

pytestmark = pytest.mark.slow

XSS_LAYER = '<script>window.__xss=2</script><img src=x onerror="window.__xss=1">'
LAYERS = ["embed", XSS_LAYER]
SERIAL = ExecutionOptions(executor="serial", cache=False)


def _clouds(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, 60)
    return {
        "embed": np.c_[np.cos(t), np.sin(t), 0.05 * rng.normal(size=(60, 2))],
        XSS_LAYER: rng.normal(size=(60, 4)),
    }


def _make_run(run_dir: Path, seed: int) -> Path:
    params = {"layers": LAYERS, "views": ["raw"], "homology": {"maxdim": 1, "seed": 0}}
    writer = RunWriter(run_dir, params=params, info={"model": "toy"})
    for s, ck in enumerate(["step_0", "step_9"]):
        writer.add_checkpoint(ck, 9 * s)
        for layer, X in _clouds(seed + s).items():
            writer.write(ck, layer, "raw", vietoris_rips(X, maxdim=1), step=9 * s)
    return run_dir


@pytest.fixture(scope="module")
def html_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("compare-page")
    a, b = _make_run(tmp / "run<a>", 0), _make_run(tmp / "run&b", 5)
    comparison = compare_runs(
        [a, b],
        activations={"run<a>": _clouds(1), "run&b": _clouds(6)},
        replicates=2,
        execution=SERIAL,
    )
    return write_compare_report(comparison, tmp / "compare.html", title="<b>title</b>")


def test_the_page_is_offline_and_escaped(html_path: Path) -> None:
    html = html_path.read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    assert "<script>window.__xss" not in html and "<b>title</b>" not in html
    assert "&lt;b&gt;title&lt;/b&gt;" in html


def test_the_page_lists_references_and_nearest_layers(html_path: Path) -> None:
    html = html_path.read_text(encoding="utf-8")
    refs = html.split('id="references"', 1)[1].split("</section>", 1)[0]
    assert refs.count("<tr>") == 1 + 2 * len(LAYERS)  # header + (run, layer) rows
    nearest = html.split('id="nearest"', 1)[1].split("</section>", 1)[0]
    assert nearest.count("<tr>") == 1 + 2 * len(LAYERS)  # each layer of each run, matched


@pytest.fixture(scope="module")
def page(html_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp = tmp_path_factory.mktemp("compare-browser")
    driver = _chrome(tmp)
    try:
        from selenium.webdriver.support.ui import WebDriverWait

        driver.set_page_load_timeout(TIMEOUT)
        driver.get(html_path.resolve().as_uri())
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: d.execute_script(
                "if (window.tdaReport) { window.tdaReport.drawAll(); } "  # lazy figures
                "return document.readyState === 'complete' && "
                "Array.from(document.querySelectorAll('div.plot'))"
                ".every(el => el.querySelector('svg.main-svg') !== null);"
            )
        )
        yield driver, driver.get_log("browser")
    finally:
        driver.quit()


def test_every_figure_renders_without_errors(page: tuple[Any, Any]) -> None:
    driver, log = page
    assert [e for e in log if e.get("level") == "SEVERE"] == []
    counts = driver.execute_script(
        "return [document.querySelectorAll('div.plot').length,"
        " document.querySelectorAll('div.plot.js-plotly-plot').length];"
    )
    # 3 run pairs x (distance + CKA) heatmaps, 2 runs x 2 trajectory plots
    assert counts == [3 * 2 + 2 * 2] * 2


def test_names_are_text_and_nothing_is_fetched(page: tuple[Any, Any]) -> None:
    driver, _ = page
    assert driver.execute_script("return window.__xss;") is None
    assert driver.execute_script("return document.querySelectorAll('img').length;") == 0
    text = driver.execute_script("return document.body.innerText;")
    assert XSS_LAYER in text and "run<a>" in text and "run&b" in text
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert [n for n in names if not n.startswith(("file:", "data:", "blob:"))] == []
