"""The report of a large run (issue 12): 48 layers x 50 checkpoints x 2 views of 80-point
clouds, 4,800 diagrams with significance calls.

Prints the report's size, the time to write it, and the time headless Chromium needs until
the page is interactive (its script has run and drawn the figures in view), against the
baseline of the previous renderer: one plotly barcode figure per diagram built in Python and
embedded whole (measured on one diagram in ten and scaled up). Targets (issue 12): under
25 MB, written in under 10 s, interactive in under 5 s; measured before: 66.5 MB, 64 s, 53 s.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from tda_interp.homology import significance, vietoris_rips
from tda_interp.options import RipsOptions, SignificanceOptions
from tda_interp.plotting import barcode_figure
from tda_interp.reports import write_report
from tda_interp.reports.html import MAX_BARS
from tda_interp.store import RunWriter

N_LAYERS, N_CHECKPOINTS, VIEWS, N_POINTS = 48, 50, ("raw", "pc1-2"), 80
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _run(folder: Path) -> tuple[Path, list]:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    layers = [f"blocks.{i}.mlp" for i in range(N_LAYERS)]
    params = {"layers": layers, "views": list(VIEWS), "homology": {"maxdim": 1}}
    writer = RunWriter(folder, params=params, info={"model": "bench"})
    options = SignificanceOptions()
    # 24 distinct clouds (noisy circles and noise) reused: persistence is not what is measured
    clouds = []
    for i in range(24):
        t = rng.uniform(0, 2 * np.pi, N_POINTS)
        noise = 0.05 + 0.1 * (i % 6)
        clouds.append(np.c_[np.cos(t), np.sin(t), noise * rng.normal(size=(N_POINTS, 6))])
    computed = {}
    for i, X in enumerate(clouds):
        for view in VIEWS:
            dgm = vietoris_rips(X, RipsOptions(maxdim=1), view=view)
            sig = significance(X, options, view=view, rips=RipsOptions(maxdim=1), diagram=dgm)
            computed[i, view] = (dgm, sig)
    diagrams = []
    for c in range(N_CHECKPOINTS):
        label = f"step_{c:04d}"
        writer.add_checkpoint(label, 100 * c)
        for li, layer in enumerate(layers):
            for view in VIEWS:
                dgm, sig = computed[(c + li) % len(clouds), view]
                writer.write(label, layer, view, dgm, step=100 * c, significance=sig)
                diagrams.append(dgm)
    return folder, diagrams


def _load_seconds(html: Path, tmp: Path) -> float | None:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        print("  (no chromium/chromedriver: load time not measured)")
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp / 'profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(300)
        t0 = time.perf_counter()
        driver.get(html.resolve().as_uri())
        WebDriverWait(driver, 300, poll_frequency=0.05).until(
            lambda d: d.execute_script(
                "return document.body.getAttribute('data-ready') === '1' && "
                "window.tdaReport.drawn() > 0;"
            )
        )
        seconds = time.perf_counter() - t0
        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        if severe:
            raise SystemExit(f"console errors: {severe[:3]}")
        return seconds
    finally:
        driver.quit()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        t0 = time.perf_counter()
        run_dir, diagrams = _run(tmp / "run")
        print(f"run of {len(diagrams):,} diagrams written in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        out = write_report(run_dir, tmp / "report.html")
        write_s = time.perf_counter() - t0
        size_mb = os.path.getsize(out) / 1e6

        sample = diagrams[::10]
        t0 = time.perf_counter()
        old_bytes = sum(len(barcode_figure(d, max_bars=MAX_BARS).to_json()) for d in sample)
        old_s = (time.perf_counter() - t0) * len(diagrams) / len(sample)
        old_mb = old_bytes * len(diagrams) / len(sample) / 1e6
        load_s = _load_seconds(out, tmp)

        print(f"report: {size_mb:.1f} MB, written in {write_s:.1f} s (target: < 25 MB, < 10 s)")
        print(
            f"baseline, one plotly barcode per diagram built in Python: {old_mb:.1f} MB and "
            f"{old_s:.1f} s for the barcodes alone -> {old_mb / size_mb:.1f}x the size, "
            f"{old_s / write_s:.1f}x the time of the whole report"
        )
        if load_s is not None:
            print(f"interactive in headless Chromium after {load_s:.1f} s (target: < 5 s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
