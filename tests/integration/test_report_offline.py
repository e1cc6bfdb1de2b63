"""The report is offline: names crafted to make the page load URLs stay text, and the page's
Content-Security-Policy forbids every network load.

A local HTTP server records every request it gets; the run's layer and checkpoint names carry
payloads pointing at it (a CSS background, an image, a stylesheet link, an ``@import``, a
hyperlink, a MathJax ``\\href``). The report is opened from a ``file://`` URL in headless Chromium,
its plots drawn, hovered and switched through the checkpoint menu: the server must receive no
request, the names must be shown literally, and the page must cause no CSP violation or console
error. A last test checks that the policy itself blocks a load the page did not plan.

Needs Debian's ``chromium`` and ``chromium-driver`` and selenium, like
``test_report_browser.py``; ``TDA_INTERP_SKIP_BROWSER=1`` skips the browser tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tda_interp.homology import vietoris_rips
from tda_interp.plotting import plain_text
from tda_interp.reports import build_report, render_html, write_report
from tda_interp.store import RunWriter

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
VIEWS = ["raw", "pc1-2"]
TIMEOUT = 60
SETTLE_S = 1.5  # time given to any load the page might still start


# ---------------------------------------------------------------------------- the recorder
class _Recorder(BaseHTTPRequestHandler):
    """Records every request and answers it as if the load had worked."""

    server: _RecordingServer

    def _record(self) -> None:
        with self.server.lock:
            self.server.requests.append(f"{self.command} {self.path}")
        body = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Private-Network", "true")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = do_OPTIONS = _record

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.lock = threading.Lock()
        self.requests: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def seen(self) -> list[str]:
        with self.lock:
            return list(self.requests)


@pytest.fixture(scope="module")
def server() -> Iterator[_RecordingServer]:
    srv = _RecordingServer()
    thread = threading.Thread(target=srv.serve_forever, name="request-recorder", daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def test_recorder_records(server: _RecordingServer) -> None:
    """The recorder works: a request that does reach it is seen (a control for the tests)."""
    from urllib.request import urlopen

    before = len(server.seen())
    with urlopen(f"{server.base}/control", timeout=10) as answer:
        assert answer.status == 200
    assert server.seen()[before:] == ["GET /control"]
    with server.lock:
        del server.requests[before:]


# ---------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class Names:
    layers: list[str]
    checkpoints: list[str]
    urls: list[str]


def _names(base: str) -> Names:
    urls = [f"{base}/{what}" for what in ("span-bg", "img", "link", "import", "a", "ck-bg", "tex")]
    layers = [
        f'blocks.0<span style="background-image:url({urls[0]})">x</span>',
        f'<img src="{urls[1]}"><link rel="stylesheet" href="{urls[2]}">',
        f'<style>@import url("{urls[3]}");</style><a href="{urls[4]}">click me</a>',
    ]
    checkpoints = [
        "step_0",
        f'<b style="background:url({urls[5]})">ck</b> & co &lt;1&gt;',
        f"two<br>lines $\\href{{{urls[6]}}}{{x}}$",
    ]
    return Names(layers, checkpoints, urls)


def _make_run(run_dir: Path, names: Names) -> Path:
    rng = np.random.default_rng(0)
    params = {"layers": names.layers, "views": VIEWS, "homology": {"maxdim": 1, "seed": 0}}
    writer = RunWriter(run_dir, params=params, info={"model": names.layers[0]})
    for s, ck in enumerate(names.checkpoints):
        writer.add_checkpoint(ck, 10 * s)
        for layer in names.layers:
            t = rng.uniform(0, 2 * np.pi, 24)
            X = np.c_[np.cos(t), np.sin(t), (0.6 - 0.25 * s) * rng.normal(size=(24, 2))]
            for view in VIEWS:
                dgm = vietoris_rips(X, view=view, maxdim=1, backend="ripser")
                writer.write(ck, layer, view, dgm, step=10 * s)
    return run_dir


# ---------------------------------------------------------------------------- the page, no browser
_CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> str:
    names = _names("http://127.0.0.1:9")
    return render_html(build_report(_make_run(tmp_path_factory.mktemp("run"), names)))


def _policy(html: str) -> dict[str, list[str]]:
    head = html[: html.index("<script")]  # before any script, so it covers all of them
    found = _CSP.findall(head)
    assert len(found) == 1, "one CSP <meta> in the <head>, before the first script"
    directives = [d.split() for d in found[0].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def test_csp_forbids_network_loads(html: str) -> None:
    policy = _policy(html)
    assert policy["default-src"] == ["'none'"]
    for directive, sources in policy.items():
        for source in sources:  # only keywords, hashes and data:/blob:; never a host or scheme
            assert re.fullmatch(r"'[a-z-]+'|'sha256-[A-Za-z0-9+/]+=*'|data:|blob:", source), (
                directive,
                source,
            )
            assert source not in ("'unsafe-eval'", "'strict-dynamic'"), (directive, source)
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    for directive in ("connect-src", "font-src", "frame-src", "object-src", "media-src"):
        assert directive not in policy  # default-src 'none' applies


def test_csp_allows_exactly_the_inline_scripts(html: str) -> None:
    allowed = set(_policy(html)["script-src"])
    scripts = _INLINE_SCRIPT.findall(html)
    assert len(scripts) == 2  # plotly.js and the page's own script; the data is not run
    hashes = {
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in scripts
    }
    assert allowed == hashes


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_figure_data_holds_names_as_plain_text(html: str) -> None:
    names = _names("http://127.0.0.1:9")
    m = re.search(r'<script type="application/json" id="tda-data">(.*?)</script>', html, re.S)
    assert m is not None
    data = json.loads(m.group(1))
    ticks = data["figures"]["fig-0"]["layout"]["yaxis"]["ticktext"]
    assert ticks == [plain_text(n) for n in names.layers]
    strings = list(_strings([data["figures"], data["labels"], data["bars"], data["betti"]]))
    for tag in ("<span", "<a ", "<img", "<link", "<style", "<b ", "$"):
        assert not any(tag in s for s in strings), tag
    assert "relative<br>lifetime" in strings  # the library's own line break survives


# ---------------------------------------------------------------------------- the browser
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
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
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


# Installed before the page's own scripts: records every CSP violation of the page.
_WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push([e.effectiveDirective, e.blockedURI, e.sourceFile, e.lineNumber].join(" "));
});
"""

_ALL_DRAWN = (
    "if (window.tdaReport) { window.tdaReport.drawAll(); } "  # lazy figures
    "return document.readyState === 'complete' && "
    "document.querySelectorAll('div.plot').length > 0 && "
    "Array.from(document.querySelectorAll('div.plot'))"
    ".every(el => el.querySelector('svg.main-svg') !== null);"
)


@dataclass
class Visit:
    driver: Any
    names: Names
    requests: list[str]  # what the server got while the page was open
    violations: list[str]  # CSP violations of the page
    log: list[dict[str, Any]]  # the browser console
    texts: list[str]  # every SVG text plotly drew, hover labels included
    links: int  # <a> elements plotly drew inside its SVG
    titles: list[str]  # the note above the barcode after each checkpoint switch


def _svg_texts(driver: Any) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('div.plot svg text')).map(t => t.textContent);"
    )


@pytest.fixture(scope="module")
def visit(server: _RecordingServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Visit]:
    """The report of a run with hostile names, opened, drawn, hovered and switched."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    tmp = tmp_path_factory.mktemp("offline")
    names = _names(server.base)
    out = write_report(_make_run(tmp / "run", names), tmp / "report" / "report.html")
    before = len(server.seen())
    driver = _chrome(tmp)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _WATCH_CSP})
        driver.set_page_load_timeout(TIMEOUT)
        driver.get(out.resolve().as_uri())
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.execute_script(_ALL_DRAWN))
        texts = _svg_texts(driver)

        # hover every heatmap cell of the first heatmap: hover labels draw the names too
        for i in range(len(names.layers)):
            for j in range(len(names.checkpoints)):
                driver.execute_script(
                    "const el = document.querySelector('div.plot[data-fig]');"
                    "Plotly.Fx.hover(el, [{curveNumber: 0, pointNumber: [arguments[0], "
                    "arguments[1]]}]);",
                    i,
                    j,
                )
                texts += driver.execute_script(
                    "return Array.from(document.querySelectorAll('.hoverlayer text'))"
                    ".map(t => t.textContent);"
                )

        # switch the checkpoint menu of the first barcode through every checkpoint
        panel = driver.find_elements(By.CSS_SELECTOR, "div.barcode-panel")[0]
        menu = Select(panel.find_element(By.CSS_SELECTOR, "select"))
        titles = []
        for index in range(len(names.checkpoints)):
            menu.select_by_index(index)
            WebDriverWait(driver, TIMEOUT).until(
                lambda d, i=index: (
                    panel.find_element(By.CSS_SELECTOR, "div.plot").get_attribute(
                        "data-checkpoint-index"
                    )
                    == str(i)
                )
            )
            titles.append(
                driver.execute_script(
                    "const t = arguments[0].querySelector('p.note:not([hidden])');"
                    "return t ? t.textContent : '';",
                    panel,
                )
            )
        texts += _svg_texts(driver)
        time.sleep(SETTLE_S)
        yield Visit(
            driver=driver,
            names=names,
            requests=server.seen()[before:],
            violations=driver.execute_script("return window.__csp;"),
            log=driver.get_log("browser"),
            texts=texts,
            links=driver.execute_script("return document.querySelectorAll('svg a').length;"),
            titles=titles,
        )
    finally:
        driver.quit()


def test_no_request_reaches_the_network(visit: Visit) -> None:
    assert visit.requests == []


def test_no_csp_violation_or_console_error(visit: Visit) -> None:
    assert visit.violations == []
    severe = [e for e in visit.log if e.get("level") in ("SEVERE", "WARNING")]
    assert severe == [], severe


def test_hostile_names_are_literal_text(visit: Visit) -> None:
    driver, names = visit.driver, visit.names
    assert visit.links == 0  # no live link in any plot
    assert driver.execute_script("return document.querySelectorAll('img').length;") == 0
    hrefs = driver.execute_script(
        "return Array.from(document.querySelectorAll('link')).map(l => l.href);"
    )
    assert hrefs == ["data:,"]  # the icon, nothing else
    shown = "\n".join(visit.texts)
    for layer in names.layers:
        assert layer in shown, layer  # tick labels and hover labels, literally
    for ck in names.checkpoints:
        assert ck in shown, ck  # tick labels and legends, literally
    # the note above the barcode of each checkpoint names it literally, "<br>" included
    for ck, title in zip(names.checkpoints, visit.titles, strict=True):
        assert f"checkpoint {ck} · step" in title, (ck, title)
    page = driver.execute_script("return document.body.innerText;")
    assert all(n in page for n in names.layers + names.checkpoints)  # and in the HTML


def test_png_download_works_under_the_policy(visit: Visit) -> None:
    """The mode bar's "download plot as png" needs blob: images; the policy allows them."""
    driver = visit.driver
    before = len(driver.execute_script("return window.__csp;"))
    driver.set_script_timeout(TIMEOUT)
    url = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const el = document.querySelector('div.plot[data-fig]');"
        "Plotly.toImage(el, {format: 'png'}).then(done, e => done('failed: ' + e));"
    )
    assert url.startswith("data:image/png;base64,")
    assert driver.execute_script("return window.__csp;")[before:] == []


def test_policy_blocks_unplanned_loads(visit: Visit, server: _RecordingServer) -> None:
    """A load the page did not plan (an image, a fetch, a stylesheet) is refused by the CSP."""
    driver = visit.driver
    before = len(server.seen())
    driver.execute_script(
        "const base = arguments[0];"
        "new Image().src = base + '/probe-img';"
        "fetch(base + '/probe-fetch').catch(() => {});"
        "const l = document.createElement('link'); l.rel = 'stylesheet';"
        "l.href = base + '/probe-css'; document.head.appendChild(l);",
        server.base,
    )
    time.sleep(SETTLE_S)
    assert server.seen()[before:] == []
    blocked = driver.execute_script("return window.__csp;")
    assert {v.split()[0] for v in blocked} >= {"img-src", "connect-src", "style-src-elem"}
