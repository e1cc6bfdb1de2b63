"""The HTML report in a real headless Chromium: plots render offline, names stay text, the
checkpoint menu switches barcodes.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) and selenium. Missing pieces FAIL the test (CI installs them);
set ``TDA_INTERP_SKIP_BROWSER=1`` to skip it instead. Selenium is never allowed to download a
browser or a driver: the driver path is given explicitly, which bypasses Selenium Manager.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tda_interp.homology import vietoris_rips
from tda_interp.reports import write_report
from tda_interp.store import RunWriter

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
XSS_LAYER = '<script>window.__xss=2</script><img src=x onerror="window.__xss=1">'
ODD_CHECKPOINT = 'ck"&<>1'
LAYERS = ["embed", XSS_LAYER]
CHECKPOINTS = ["step_0000", ODD_CHECKPOINT, "final"]
VIEWS = ["raw", "pc1-2"]
MISSING = ("final", "embed", "pc1-2")
TIMEOUT = 60


def _make_run(run_dir: Path) -> Path:
    rng = np.random.default_rng(0)
    params = {
        "layers": LAYERS,
        "views": VIEWS,
        "homology": {"maxdim": 1, "seed": 0},
        "summary": {"long_bar": 0.25},
    }
    writer = RunWriter(run_dir, params=params, info={"model": "toy <i>net</i>"})
    for s, ck in enumerate(CHECKPOINTS):
        writer.add_checkpoint(ck, 10 * s)
        for layer in LAYERS:
            t = rng.uniform(0, 2 * np.pi, 30)
            X = np.c_[np.cos(t), np.sin(t), (0.6 - 0.25 * s) * rng.normal(size=(30, 2))]
            for view in VIEWS:
                if (ck, layer, view) != MISSING:
                    dgm = vietoris_rips(X, view=view, maxdim=1, backend="ripser")
                    writer.write(ck, layer, view, dgm, step=10 * s)
    return run_dir


def _chrome(tmp: Path) -> Any:
    if os.environ.get("TDA_INTERP_SKIP_BROWSER") == "1":
        pytest.skip("TDA_INTERP_SKIP_BROWSER=1: headless-browser test of the report skipped")
    absent = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if absent:
        pytest.fail(
            f"The browser test needs {', '.join(absent)}, which is missing. Install Debian's "
            "packages with `apt-get install chromium chromium-driver`, or set "
            "TDA_INTERP_SKIP_BROWSER=1 to skip this test.",
            pytrace=False,
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        pytest.fail(f"The browser test needs selenium ({err}); pip install selenium.")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp / 'chrome-profile'}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager (which could download things) is never run.
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp / "driver.log"))
    return webdriver.Chrome(service=service, options=options)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[Any]]]:
    """The driver, after loading the report, and the browser log of the load."""
    tmp = tmp_path_factory.mktemp("browser")
    driver = _chrome(tmp)
    try:
        from selenium.webdriver.support.ui import WebDriverWait

        out = write_report(_make_run(tmp / "run"), tmp / "report" / "report.html")
        driver.set_page_load_timeout(TIMEOUT)
        driver.get(out.resolve().as_uri())
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: d.execute_script(
                "if (window.tdaReport) { window.tdaReport.drawAll(); } "  # lazy figures
                "return document.readyState === 'complete' && "
                "document.querySelectorAll('div.plot').length > 0 && "
                "Array.from(document.querySelectorAll('div.plot'))"
                ".every(el => el.querySelector('svg.main-svg') !== null);"
            )
        )
        yield driver, driver.get_log("browser")
    finally:
        driver.quit()


def test_no_console_errors(page: tuple[Any, list[Any]]) -> None:
    _, log = page
    severe = [entry for entry in log if entry.get("level") == "SEVERE"]
    assert severe == [], severe


def test_every_figure_rendered(page: tuple[Any, list[Any]]) -> None:
    driver, _ = page
    # per view 2 heatmaps, the topology against the step and the layer x layer distances;
    # per (layer, view) Betti H0, Betti H1 and one barcode
    expected = 4 * len(VIEWS) + 3 * len(LAYERS) * len(VIEWS)
    counts = driver.execute_script(
        "return [document.querySelectorAll('div.plot').length,"
        " document.querySelectorAll('div.plot.js-plotly-plot').length,"
        " document.querySelectorAll('div.plot svg.main-svg').length > 0,"
        " document.querySelectorAll('.js-plotly-plot .heatmaplayer image, "
        ".js-plotly-plot .hm image').length,"
        " document.querySelectorAll('.js-plotly-plot .scatterlayer path.js-line').length];"
    )
    assert counts[0] == expected
    assert counts[1] == expected
    assert counts[2]
    assert counts[3] >= 3 * len(VIEWS)  # heatmaps drew their cells
    assert counts[4] > 0  # curves and bars drew lines


def test_names_are_text_not_markup(page: tuple[Any, list[Any]]) -> None:
    driver, _ = page
    assert driver.execute_script("return window.__xss;") is None
    assert driver.execute_script("return document.querySelectorAll('img').length;") == 0
    text = driver.execute_script("return document.body.innerText;")
    assert XSS_LAYER in text  # shown literally
    assert ODD_CHECKPOINT in text
    assert "toy <i>net</i>" in text
    # plotly tick labels of the heatmaps carry the names as SVG text, not elements
    ticks = driver.execute_script(
        "return Array.from(document.querySelectorAll('.ytick text')).map(t => t.textContent);"
    )
    assert any("window.__xss" in t for t in ticks)


def test_offline_no_network_resources(page: tuple[Any, list[Any]]) -> None:
    driver, _ = page
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert [n for n in names if not n.startswith(("file:", "data:", "blob:"))] == []


def _barcode_state(driver: Any, panel: Any) -> tuple[str, str]:
    return driver.execute_script(
        "const p = arguments[0];"
        "const s = p.querySelector('select.checkpoint-select');"
        "return [p.querySelector('div.plot').getAttribute('data-checkpoint-index'),"
        " s.options[s.selectedIndex].textContent];",
        panel,
    )


def test_checkpoint_menu_switches_barcode(page: tuple[Any, list[Any]]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver, _ = page
    panels = driver.find_elements(By.CSS_SELECTOR, "div.barcode-panel")
    assert len(panels) == len(LAYERS) * len(VIEWS)
    panel = panels[1]  # layer "embed", view "pc1-2": its last checkpoint is missing
    index, title = _barcode_state(driver, panel)
    assert index == "1"  # the latest checkpoint with a result is shown first
    assert ODD_CHECKPOINT in title  # the odd label is text, unescaped once

    menu = Select(panel.find_element(By.CSS_SELECTOR, "select"))
    assert not menu.options[2].is_enabled()  # the missing one cannot be chosen
    menu.select_by_index(0)
    WebDriverWait(driver, TIMEOUT).until(lambda d: _barcode_state(d, panel)[0] == "0")
    index, title = _barcode_state(driver, panel)
    assert "step_0000" in title and ODD_CHECKPOINT not in title

    panel.find_element(By.CSS_SELECTOR, "button[data-step='1']").click()
    WebDriverWait(driver, TIMEOUT).until(lambda d: _barcode_state(d, panel)[0] == "1")
    panel.find_element(By.CSS_SELECTOR, "button[data-step='1']").click()  # "final" is missing
    assert _barcode_state(driver, panel)[0] == "1"
    severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert severe == []


def test_report_data_matches_page(page: tuple[Any, list[Any]]) -> None:
    driver, _ = page
    options = driver.execute_script(
        "return Array.from(document.querySelector('div.barcode-panel select').options)"
        ".map(o => o.textContent.trim());"
    )
    assert [o.split(" (step")[0] for o in options] == CHECKPOINTS
