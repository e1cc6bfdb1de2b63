"""Configurable Betti scales ([summary] betti_scales) and the max-over-views table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tda_interp.diagrams import Diagram, summarize
from tda_interp.exceptions import ConfigError
from tda_interp.options import SummaryOptions
from tda_interp.store import Run, RunWriter
from tda_interp.store.manifest import params_digest
from tda_interp.store.reader import max_over_views

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
D = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)


# ---------------------------------------------------------------------- betti_scales
def test_default_scales_keep_the_params_and_digest_of_older_runs() -> None:
    opts = SummaryOptions()
    assert opts.betti_scales == (0.1, 0.25, 0.5)
    assert opts.params() == {"long_bar": 0.25}
    run_params = {"summary": opts.params(), "views": ["raw"]}
    assert params_digest(run_params) == params_digest(
        {"summary": {"long_bar": 0.25}, "views": ["raw"]}
    )


def test_an_existing_run_directory_still_reads() -> None:
    df = Run(FIXTURES / "v1_run").summaries()
    assert {"betti_at_0.10", "betti_at_0.25", "betti_at_0.50"} <= set(df.columns)
    assert len(df) == 16


def test_scales_choose_the_columns() -> None:
    rows = summarize(D, SummaryOptions(betti_scales=[0.05, 0.125, 1]))
    assert [k for k in rows[0] if k.startswith("betti_at_")] == [
        "betti_at_0.05",
        "betti_at_0.125",
        "betti_at_1.00",
    ]
    # H1 bar [0.5, 2.0] of a diagram of scale 4: alive at relative 0.125 (0.5) only
    assert (rows[1]["betti_at_0.05"], rows[1]["betti_at_0.125"], rows[1]["betti_at_1.00"]) == (
        0,
        1,
        0,
    )
    assert summarize(D, betti_scales=[0.1, 0.1000001])[0].keys() >= {
        "betti_at_0.10",
        "betti_at_0.1000001",
    }
    assert SummaryOptions(betti_scales=(0.2,)).params() == {"long_bar": 0.25, "betti_scales": [0.2]}
    assert SummaryOptions.from_dict(SummaryOptions(betti_scales=[0.2]).to_dict()).betti_scales == (
        0.2,
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([0.5, 0.1], "not increasing"),
        ([0.1, 0.1], "not increasing"),
        ([0.0, 0.5], "0.0 is not in (0, 1]"),
        ([0.5, 1.5], "1.5 is not in (0, 1]"),
        ([], "no scale given"),
        ("0.1", None),
        ([True], None),
    ],
)
def test_bad_scales_say_where_and_how(value: object, reason: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        SummaryOptions.from_toml({"betti_scales": value}, file="my.toml", section="summary")
    msg = str(info.value)
    assert msg.startswith("my.toml: [summary] betti_scales must be a non-empty, increasing list")
    assert "E.g. [0.1, 0.25, 0.5]" in msg
    if reason:
        assert reason in msg


# ---------------------------------------------------------------------- max_over_views
FRAME = pd.DataFrame(
    {
        "checkpoint": ["a"] * 4 + ["b"] * 4,
        "step": [0] * 4 + [10] * 4,
        "layer": "fc",
        "view": ["raw", "raw", "pc1-2", "pc1-2"] * 2,
        "dim": [0, 1] * 4,
        "max_rel_persistence": [0.9, 0.1, 0.8, 0.7, 0.5, 0.6, 0.5, float("nan")],
        "n_significant": [1, 0, 1, 1, 2, 1, 2, 0],
    }
)


def test_max_over_views_on_a_known_frame() -> None:
    out = max_over_views(FRAME)
    assert out.columns.tolist() == [
        "checkpoint",
        "step",
        "layer",
        "dim",
        "n_views",
        "max_rel_persistence",
        "max_rel_persistence_view",
        "n_significant",
        "n_significant_view",
    ]
    rows = out.to_dict("records")
    assert [(r["checkpoint"], r["dim"]) for r in rows] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert [r["max_rel_persistence"] for r in rows] == [0.9, 0.7, 0.5, 0.6]
    # the loop moves from pc1-2 to raw; a tie goes to the first view in the run's order
    assert [r["max_rel_persistence_view"] for r in rows] == ["raw", "pc1-2", "raw", "raw"]
    assert [r["n_significant"] for r in rows] == [1, 1, 2, 1]
    assert [r["n_significant_view"] for r in rows] == ["raw", "pc1-2", "raw", "raw"]
    assert out["n_views"].tolist() == [2, 2, 2, 2]


def test_max_over_views_columns_and_errors() -> None:
    out = max_over_views(FRAME, ["n_significant"])
    assert "max_rel_persistence" not in out.columns and len(out) == 4
    no_calls = FRAME.drop(columns="n_significant")
    assert "n_significant" not in max_over_views(no_calls).columns
    with pytest.raises(ConfigError, match=r"no column\(s\) \['entropy'\]"):
        max_over_views(FRAME, ["entropy"])
    with pytest.raises(ConfigError, match=r"lacks \['view'\].*Run\(run_dir\)\.summaries\(\)"):
        max_over_views(FRAME.drop(columns="view"))
    empty = max_over_views(FRAME.iloc[:0])
    assert empty.empty and "max_rel_persistence_view" in empty.columns
    all_nan = max_over_views(FRAME.assign(max_rel_persistence=float("nan")))
    assert math.isnan(all_nan["max_rel_persistence"].iloc[0])


def test_run_max_over_views(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "run", params={"layers": ["fc"], "views": ["raw", "pc1-2"]})
    small = Diagram(pairs=[[[0.0, np.inf]], [[0.0, 0.5]]], scale=4.0, n_points=3)
    writer.write("step_1", "fc", "raw", small, step=1)
    writer.write("step_1", "fc", "pc1-2", D, step=1)
    out = Run(tmp_path / "run").max_over_views()
    h1 = out[out["dim"] == 1].iloc[0]
    assert h1["max_rel_persistence_view"] == "pc1-2" and h1["max_rel_persistence"] == 0.375
