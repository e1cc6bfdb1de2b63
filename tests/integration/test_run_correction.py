"""Calls over a whole run: the default calls in runs and the monitor, run-level corrections in
tables, the report and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import tda_interp as ti
from tda_interp.cli import main
from tda_interp.homology import run_level_calls
from tda_interp.options import RipsOptions, SignificanceOptions, SummaryOptions
from tda_interp.reports import build_report

N = 150


def _clouds(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, N)
    circle = np.c_[np.cos(t), np.sin(t), np.zeros((N, 6))] + 0.03 * rng.normal(size=(N, 8))
    return {"circle": circle, "noise": rng.normal(size=(N, 8))}


class TwoTables(nn.Module):
    """Each output is a stored table of points, so every cloud is known exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.circle = nn.Embedding(N, 8)
        self.noise = nn.Embedding(N, 8)
        self.out_circle, self.out_noise = nn.Identity(), nn.Identity()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.out_circle(self.circle(idx)) + self.out_noise(self.noise(idx))


def _checkpoints(folder: Path, n: int = 3) -> list[Path]:
    paths = []
    for step in range(n):
        model = TwoTables()
        with torch.no_grad():
            for name, X in _clouds(step).items():
                getattr(model, name).weight.copy_(torch.as_tensor(X, dtype=torch.float32))
        paths.append(folder / f"step_{step}.pt")
        torch.save(model.state_dict(), paths[-1])
    return paths


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("correction")
    ti.run_pipeline(
        TwoTables(),
        _checkpoints(folder),
        torch.arange(N),
        folder / "run",
        layers=["out_circle", "out_noise"],
        homology=RipsOptions(maxdim=1),
        summary=SummaryOptions(correction="bh"),
        execution=ti.ExecutionOptions(executor="serial", cache=False),
    )
    return folder / "run"


def test_runs_make_the_default_calls_and_record_the_correction(run_dir: Path) -> None:
    run = ti.Run(run_dir)
    assert run.params["significance"] == SignificanceOptions().params()
    assert run.correction == "bh"
    table = run.summaries("diagram").query("dim == 1")
    circle = table[table["layer"] == "out_circle"]
    noise = table[table["layer"] == "out_noise"]
    assert (circle["n_significant"] == 1).all() and (circle["betti_significant"] == 1).all()
    assert (noise["n_significant"] == 0).all()
    h0 = run.summaries("diagram").query("dim == 0")
    assert (h0["betti_significant"] == 1).all()  # one cluster each


@pytest.mark.parametrize("correction", ["bonferroni", "bh"])
def test_run_level_counts_are_those_of_run_level_calls(run_dir: Path, correction: str) -> None:
    run = ti.Run(run_dir)
    results = list(run.results())
    calls = run_level_calls([r.significance for r in results], correction)  # type: ignore[arg-type, misc]
    table = run.summaries(correction)  # type: ignore[arg-type]
    for r, c in zip(results, calls, strict=True):
        rows = table[(table["checkpoint"] == r.checkpoint) & (table["layer"] == r.layer)]
        assert rows["n_significant"].tolist() == [int(x.sum()) for x in c]
    # the circle's loop survives correction over the run; Bonferroni never calls more than BH
    h1 = table.query("dim == 1")
    assert (h1[h1["layer"] == "out_circle"]["n_significant"] == 1).all()
    assert run.summaries().equals(run.summaries("bh"))  # the run's own correction by default


def test_the_report_counts_significant_loops_and_names_its_correction(
    run_dir: Path, tmp_path: Path
) -> None:
    report = build_report(run_dir)
    assert report.correction == "bh" and report.significance == "universal, alpha = 0.05"
    (view,) = report.matrices
    assert view.array("n_significant").tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    assert build_report(run_dir, correction="diagram").correction == "diagram"
    out = tmp_path / "r.html"
    assert main(["report", str(run_dir), "-o", str(out), "--correction", "bonferroni"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Significant H1 bars" in html and "Bonferroni over every bar of the run" in html


def test_a_run_without_calls_says_so(tmp_path: Path) -> None:
    ti.run_pipeline(
        TwoTables(),
        _checkpoints(tmp_path, 1),
        torch.arange(N),
        tmp_path / "run",
        layers=["out_circle"],
        significance=SignificanceOptions(method="none"),
        execution=ti.ExecutionOptions(executor="serial", cache=False),
    )
    run = ti.Run(tmp_path / "run")
    assert run.params["significance"] == {"method": "none"}
    assert next(run.results()).significance is None
    assert "n_significant" not in run.summaries().columns
    report = build_report(tmp_path / "run")
    assert report.significance == "" and report.matrices[0].n_significant == ()


def test_the_monitor_makes_the_default_calls(tmp_path: Path) -> None:
    model = TwoTables()
    with torch.no_grad():
        model.circle.weight.copy_(torch.as_tensor(_clouds(0)["circle"], dtype=torch.float32))
    monitor = ti.TopologyMonitor(tmp_path / "mon", torch.arange(N), layers=["out_circle"], every=1)
    monitor.step(model, 0)
    (result,) = ti.Run(tmp_path / "mon").results()
    assert result.significance is not None and result.significance.n_significant[1] == 1
