"""The report's layout in a real headless Chromium, read from element geometry: no title or
note under a plot's toolbar, no panel of a layer row taller than twice its neighbour, Betti
curves on an axis that ends where the run's bars do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_report_browser import TIMEOUT, _chrome, _make_run

from tda_interp.reports import build_report, write_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    tmp = tmp_path_factory.mktemp("layout")
    run_dir = _make_run(tmp / "run")
    out = write_report(run_dir, tmp / "report.html")
    driver = _chrome(tmp)
    try:
        from selenium.webdriver.support.ui import WebDriverWait

        driver.set_page_load_timeout(TIMEOUT)
        driver.get(out.resolve().as_uri())
        WebDriverWait(driver, TIMEOUT).until(
            lambda d: d.execute_script(
                "window.tdaReport.drawAll();"
                "return Array.from(document.querySelectorAll('div.plot'))"
                ".every(el => el.querySelector('svg.main-svg') !== null);"
            )
        )
        # show every toolbar, as a hover would
        driver.execute_script(
            "document.querySelectorAll('.modebar').forEach(m => m.style.opacity = 1);"
        )
        driver.save_screenshot(str(tmp / "report.png"))  # kept for a human who debugs
        yield driver, run_dir
    finally:
        driver.quit()


_OVERLAPS = """
const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const out = [];
document.querySelectorAll('div.card').forEach(card => {
  const bars = Array.from(card.querySelectorAll('.modebar'))
    .map(m => m.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
  const texts = Array.from(card.querySelectorAll('h4, p.note:not([hidden]), .gtitle, .controls'));
  texts.forEach(t => {
    const r = t.getBoundingClientRect();
    if (r.width === 0) { return; }
    bars.forEach(b => { if (hit(r, b)) { out.push(t.textContent.slice(0, 60)); } });
  });
});
return [out, document.querySelectorAll('.modebar').length];
"""


def test_no_title_or_note_under_a_toolbar(loaded: tuple[Any, Path]) -> None:
    driver, _ = loaded
    overlapping, n_bars = driver.execute_script(_OVERLAPS)
    assert n_bars > 10  # the toolbars exist and were measured
    assert overlapping == []


def test_no_panel_taller_than_twice_its_neighbour(loaded: tuple[Any, Path]) -> None:
    driver, _ = loaded
    rows = driver.execute_script(
        "return Array.from(document.querySelectorAll('.layer-row')).map(row =>"
        " Array.from(row.children).map(c => c.getBoundingClientRect().height));"
    )
    assert rows and all(len(r) == 3 for r in rows)  # Betti H0, Betti H1, bars
    for heights in rows:
        assert max(heights) <= 2 * min(heights), heights


def test_betti_axis_ends_where_the_bars_do(loaded: tuple[Any, Path]) -> None:
    driver, run_dir = loaded
    ends = driver.execute_script(
        "return Array.from(document.querySelectorAll('div.plot.betti'))"
        ".map(el => el._fullLayout.xaxis.range[1]);"
    )
    report = build_report(run_dir)
    last = max(
        float(np.max(e.diagram[k][np.isfinite(e.diagram[k][:, 1]), 1])) / e.diagram.scale
        for e in report.diagrams
        for k in range(2)
        if np.isfinite(e.diagram[k][:, 1]).any()
    )
    assert ends and all(end == pytest.approx(min(1.0, 1.05 * last), rel=1e-3) for end in ends)
    # the curves fill the plot: some curve still changes near the end of its axis
    fill = driver.execute_script(
        "return Array.from(document.querySelectorAll('div.plot.betti')).map(el => {"
        " let last = 0;"
        " el.data.forEach(t => { for (let i = 1; i < t.y.length; i++) {"
        "   if (t.y[i] !== t.y[i - 1]) { last = Math.max(last, t.x[i]); } } });"
        " return last / el._fullLayout.xaxis.range[1]; });"
    )
    assert max(fill) > 0.85, fill
