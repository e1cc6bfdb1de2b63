"""Notebook views (``_repr_html_``) and tables (``to_frame``) of diagrams, runs, comparisons."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tda_interp.compare.runs import CKA_COLUMNS, DISTANCE_COLUMNS, REFERENCE_COLUMNS, Comparison
from tda_interp.diagrams import Diagram
from tda_interp.diagrams.diagram import html_table
from tda_interp.diagrams.provenance import Certificate, Provenance
from tda_interp.homology import significance
from tda_interp.options import DistanceOptions
from tda_interp.store import Run, RunWriter

EVIL = '<script>alert("x")</script>&'


class _Checker(HTMLParser):
    """Collects tags; fails on anything that runs or loads."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag not in ("script", "style", "link", "img", "iframe", "object"), tag
        assert all(not name.startswith("on") and name not in ("src", "href") for name, _ in attrs)
        self.tags.append(tag)
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(text: str) -> str:
    """Parse ``text``: balanced, nothing that runs or loads; return its visible text."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == [], checker.stack
    assert "table" in checker.tags
    return "".join(checker.text)


def diagram() -> Diagram:
    return Diagram(
        pairs=[[[0.0, np.inf], [0.0, 1.0], [0.0, 2.0]], [[0.5, 2.5], [1.0, 1.5]]],
        scale=4.0,
        n_points=3,
    )


# ---------------------------------------------------------------------- Diagram
def test_diagram_to_frame_known_answer() -> None:
    df = diagram().to_frame()
    assert list(df.columns) == ["dim", "birth", "death", "lifetime", "rel_lifetime"]
    assert str(df["dim"].dtype) == "int64"
    assert df.values.tolist() == [
        [0, 0.0, 1.0, 1.0, 0.25],
        [0, 0.0, 2.0, 2.0, 0.5],
        [0, 0.0, np.inf, np.inf, np.inf],
        [1, 0.5, 2.5, 2.0, 0.5],
        [1, 1.0, 1.5, 0.5, 0.125],
    ]


def test_diagram_to_frame_edge_cases() -> None:
    empty_h1 = Diagram(pairs=[[[0.0, np.inf]], np.empty((0, 2))], scale=0.0, n_points=1)
    df = empty_h1.to_frame()
    assert df["dim"].tolist() == [0] and df["rel_lifetime"].tolist() == [0.0]  # zero scale
    assert len(Diagram(pairs=[np.empty((0, 2))]).to_frame()) == 0


def test_diagram_frame_lines_up_with_its_significance_frame(
    noisy_circle: np.ndarray,
) -> None:
    result = significance(noisy_circle, maxdim=1)
    ours = result.diagram.to_frame()
    theirs = result.to_frame()
    assert len(ours) == len(theirs)
    for column in ("dim", "birth", "death", "rel_lifetime"):
        np.testing.assert_array_equal(ours[column], theirs[column])


def test_diagram_repr_html_without_provenance() -> None:
    text = check_html(diagram()._repr_html_())
    assert "scale 4, 3 points" in text
    assert "H0" in text and "H1" in text
    assert "0.5, 0.25" in text  # longest H0 bars over the scale, longest first
    assert "provenance: none" in text


def test_diagram_repr_html_escapes_provenance() -> None:
    prov = Provenance(
        view=EVIL,
        metric="euclidean",
        backend="gudhi",
        coeff=2,
        seed=0,
        approximation="landmarks:2",
        n_points_total=10,
        subsampled=False,
        certificate=Certificate(kind="landmarks", bound=0.2, bound_rel=0.05),
    )
    d = Diagram(pairs=diagram().pairs, scale=4.0, n_points=3, provenance=prov)
    raw = d._repr_html_()
    assert "<script" not in raw and "&lt;script&gt;" in raw
    text = check_html(raw)
    assert EVIL in text  # shown as text, not run
    assert "3 of 10 points" in text and "certificate landmarks, bound 0.05" in text


def test_html_table_escapes_headers_and_cells() -> None:
    raw = html_table([EVIL], [[EVIL], [1.23456789], [np.nan], [None], [True]])
    assert "<script" not in raw
    text = check_html(raw)
    assert text.count(EVIL) == 2 and "1.235" in text and "-" in text and "yes" in text


# ---------------------------------------------------------------------- Run
def write_run(folder: Path, n_checkpoints: int, *, metrics: bool = True) -> None:
    with RunWriter(folder, {"layers": [EVIL], "views": ["raw"]}, info={"title": EVIL}) as w:
        for i in range(n_checkpoints):
            w.add_checkpoint(f"step_{i}", i)
            if i % 2 == 0:
                w.write(f"step_{i}", EVIL, "raw", diagram(), step=i)
            if metrics:
                w.log_metrics(i, {"loss": 1.0 / (i + 1), EVIL: 0.5})


def test_run_repr_html_counts_and_escapes(tmp_path: Path) -> None:
    write_run(tmp_path, 3)
    raw = Run(tmp_path)._repr_html_()
    assert "<script" not in raw
    text = check_html(raw)
    assert "3 checkpoints x 1 layers x 1 views; 2 of 3 results on disk" in text
    assert "step_0" in text and "1 of 1" in text and "0 of 1" in text
    assert f"metrics: {EVIL}, loss at 3 steps" in text  # names in sorted order
    assert text.count(EVIL) >= 3  # title, layers, metric name


def test_run_repr_html_shortens_long_runs_and_says_when_nothing_is_there(
    tmp_path: Path,
) -> None:
    write_run(tmp_path / "long", 23, metrics=False)
    text = check_html(Run(tmp_path / "long")._repr_html_())
    assert "13 more" in text and "step_4" in text and "step_18" in text
    assert "step_5" not in text and "step_17" not in text
    assert "metrics: none logged" in text
    RunWriter(tmp_path / "empty", {}).close()
    text = check_html(Run(tmp_path / "empty")._repr_html_())
    assert "0 checkpoints x 0 layers x 0 views" in text and "layers: none" in text


def test_run_repr_html_stays_quiet_about_damaged_metrics(tmp_path: Path) -> None:
    write_run(tmp_path, 1)
    with (tmp_path / "metrics.jsonl").open("ab") as fh:
        fh.write(b'{"torn')
    check_html(Run(tmp_path)._repr_html_())  # TdaInterpWarning is an error in this suite


def test_run_to_frame_is_its_summaries(tmp_path: Path) -> None:
    write_run(tmp_path, 3, metrics=False)
    run = Run(tmp_path)
    pd.testing.assert_frame_equal(run.to_frame(), run.summaries())
    pd.testing.assert_frame_equal(run.to_frame("bonferroni"), run.summaries("bonferroni"))
    assert len(run.to_frame()) == 2 * 2  # two results, H0 and H1


# ---------------------------------------------------------------------- Comparison
def comparison(n_rows: int) -> Comparison:
    rows = [
        ("a", EVIL, "raw", 1, "step_1", "step_1", f"l{i}", "l0", 0.1 * i) for i in range(n_rows)
    ]
    return Comparison(
        runs=("a", EVIL),
        control=EVIL,
        dim=1,
        options=DistanceOptions(),
        checkpoints={"a": "step_1", EVIL: "step_1"},
        distances=pd.DataFrame(rows, columns=DISTANCE_COLUMNS),
        trajectories=pd.DataFrame(),
        references=pd.DataFrame(columns=REFERENCE_COLUMNS),
        cka=pd.DataFrame(columns=CKA_COLUMNS),
        notes=(f"no activations for {EVIL}",),
    )


@pytest.mark.parametrize("n_rows", [3, 12])
def test_comparison_repr_html_summary_and_head(n_rows: int) -> None:
    c = comparison(n_rows)
    raw = c._repr_html_()
    assert "<script" not in raw
    text = check_html(raw)
    assert f"2 runs: a, {EVIL} (control: {EVIL})" in text
    assert "H1, bottleneck distance" in text and f"{n_rows} distances" in text
    assert f"note: no activations for {EVIL}" in text
    for column in c.to_frame().columns:
        assert column in text
    assert ("first 10 of 12 rows" in text) == (n_rows == 12)
    assert "l2" in text and ("l9" in text) == (n_rows == 12) and "l10" not in text
