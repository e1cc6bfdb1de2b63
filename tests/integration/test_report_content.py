"""What the report says about a run with calls: significant features first, depth, a control
run beside, the calls marked on the bars, subsampling said at the top."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import tda_interp as ti
from tda_interp.cli import main
from tda_interp.exceptions import ConfigError
from tda_interp.options import RipsOptions
from tda_interp.reports import build_report, render_html

N = 120
SERIAL = ti.ExecutionOptions(executor="serial", cache=False)


class Tables(nn.Module):
    """Each output is a stored table of points, so every cloud is known exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Embedding(N, 8)
        self.second = nn.Embedding(N, 8)
        self.out_first, self.out_second = nn.Identity(), nn.Identity()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.out_first(self.first(idx)) + self.out_second(self.second(idx))


def _circle(rng: np.random.Generator) -> np.ndarray:
    t = rng.uniform(0, 2 * np.pi, N)
    return np.c_[np.cos(t), np.sin(t), np.zeros((N, 6))] + 0.03 * rng.normal(size=(N, 8))


def _run(folder: Path, name: str, *, circle: bool, n_ck: int, **kw: object) -> Path:
    paths = []
    for step in range(n_ck):
        rng = np.random.default_rng(step)
        model = Tables()
        with torch.no_grad():
            first = _circle(rng) if circle else rng.normal(size=(N, 8))
            model.first.weight.copy_(torch.as_tensor(first, dtype=torch.float32))
            model.second.weight.copy_(torch.as_tensor(rng.normal(size=(N, 8))))
        paths.append(folder / f"{name}_step_{step}.pt")
        torch.save(model.state_dict(), paths[-1])
    ti.run_pipeline(
        Tables(),
        paths,
        torch.arange(N),
        folder / name,
        layers=["out_first", "out_second"],
        execution=SERIAL,
        **kw,  # type: ignore[arg-type]
    )
    return folder / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("content")
    homology = RipsOptions(maxdim=1)
    return {
        "main": _run(folder, "main", circle=True, n_ck=3, homology=homology),
        "control": _run(folder, "control", circle=False, n_ck=3, homology=homology),
        "single": _run(folder, "single", circle=True, n_ck=1, homology=homology),
        "sub": _run(
            folder,
            "sub",
            circle=True,
            n_ck=1,
            homology=RipsOptions(maxdim=1, approximation="subsample:80"),
        ),
    }


def _data(html: str) -> dict:  # type: ignore[type-arg]
    m = re.search(r'<script type="application/json" id="tda-data">(.*?)</script>', html, re.S)
    assert m is not None
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def test_significant_counts_per_dimension(runs: dict[str, Path]) -> None:
    report = build_report(runs["main"])
    (m,) = report.matrices
    assert len(m.significant_by_dim) == 2
    # the circle layer has one loop at every checkpoint, the noise layer none
    assert m.array("n_significant", 1).tolist() == [[1.0] * 3, [0.0] * 3]
    assert m.array("n_significant", 1).tolist() == m.array("n_significant").tolist()
    assert m.array("n_significant", 0).tolist() == [[1.0] * 3, [1.0] * 3]  # one cluster each
    with pytest.raises(ConfigError, match="H2"):
        m.array("n_significant", 2)


def test_the_call_is_marked_on_the_longest_bar(runs: dict[str, Path]) -> None:
    report = build_report(runs["main"])
    entry = report.entry(report.checkpoint_labels[-1], "out_first", "raw")
    assert entry is not None and entry.significant is not None
    h1 = entry.diagram[1]
    calls = np.array(entry.significant[1])
    assert calls.sum() == 1 and calls[np.argmax(h1[:, 1] - h1[:, 0])]
    item = _data(render_html(report))["bars"]["0-0"][-1]
    assert item["d"][1]["s"][0] == 1 and sum(item["d"][1]["s"]) == 1  # longest bar drawn first


def test_depth_and_distances_are_shown(runs: dict[str, Path]) -> None:
    report = build_report(runs["main"])
    (d,) = report.distances
    assert d.checkpoint == report.checkpoint_labels[-1] and d.layers == ("out_first", "out_second")
    values = np.array(d.values, dtype=float)
    assert values[0, 0] == values[1, 1] == 0.0 and values[0, 1] == values[1, 0] > 0.1
    html = render_html(report)
    assert "Significant H1 bars against depth" in html and "Clusters (H0) against depth" in html
    assert "layer × layer H1 distances" in html and "bottleneck distance" in html


def test_one_checkpoint_draws_depth_profiles_not_single_columns(runs: dict[str, Path]) -> None:
    html = render_html(build_report(runs["single"]))
    data = _data(html)
    first = data["figures"]["fig-0"]  # the headline: H0 clusters by layer
    assert first["data"][0]["type"] == "scatter"
    assert first["layout"]["xaxis"]["ticktext"] == ["out_first", "out_second"]
    assert 'href="#training"' not in html  # nothing "through training" with one checkpoint


def test_a_control_run_sits_beside(runs: dict[str, Path], tmp_path: Path) -> None:
    report = build_report(runs["main"], control=runs["control"])
    assert report.control is not None
    (cm,) = report.control.matrices
    assert cm.array("n_significant", 1).tolist() == [[0.0] * 3, [0.0] * 3]
    html = render_html(report)
    assert html.count("— control</h4>") == 2  # H0 and H1 headline cards
    assert "Control run beside it" in html
    out = tmp_path / "r.html"
    code = main(["report", str(runs["main"]), "-o", str(out), "--control", str(runs["control"])])
    assert code == 0 and "— control</h4>" in out.read_text("utf-8")


def test_subsampling_is_said_at_the_top(runs: dict[str, Path]) -> None:
    html = render_html(build_report(runs["sub"]))
    assert (
        "Clouds were reduced before persistence in 2 of 2 diagrams: 120 points down to 80" in html
    )
    assert "no certified bound" in html
    assert "Clouds were reduced" not in render_html(build_report(runs["single"]))
