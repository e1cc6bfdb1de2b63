"""`tda-interp demo`: train -> checkpoints -> barcodes per layer -> HTML report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tda_interp.cli import main
from tda_interp.demo import run_demo
from tda_interp.store import Run, read_summaries


def test_demo_end_to_end_on_a_tiny_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "-o", str(tmp_path), "--steps", "40", "--every", "20", "-q"]) == 0
    out = capsys.readouterr().out
    report = tmp_path / "report.html"
    assert str(report.resolve()) in out
    df = read_summaries(tmp_path / "run")
    labels = ["step_00000", "step_00020", "step_00040"]
    assert list(df["checkpoint"].unique()) == labels
    assert set(df["layer"]) == {"embed", "mlp", "unembed"}
    assert set(df["view"]) == {"raw", "pc1-2", "pc3-4", "pc5-6"}
    assert len(df) == 3 * 3 * 4 * 2
    text = report.read_text(encoding="utf-8")
    for name in [*labels, "embed", "mlp", "unembed", "pc1-2"]:
        assert name in text
    # the written config reproduces the run with `tda-interp run`: nothing left to compute
    assert main(["run", str(tmp_path / "demo.toml"), "-q"]) == 0
    assert "0 results computed" in capsys.readouterr().out
    assert Run(tmp_path / "run").info["model"].endswith(":make_model")


@pytest.mark.slow
def test_full_demo_shows_the_embedding_circle_forming(tmp_path: Path) -> None:
    accuracy: dict[int, float] = {}
    run_demo(tmp_path, on_train=lambda step, loss, acc: accuracy.__setitem__(step, acc))
    assert accuracy[0] < 0.1 and accuracy[3000] > 0.95  # memorise, then generalise
    df = read_summaries(tmp_path / "run")
    h1 = df[(df.dim == 1) & (df.layer == "embed")].set_index(["checkpoint", "view"])
    start, end = "step_00000", "step_03000"
    # untrained: no loop in any view; generalised: a long loop in the top PC plane
    assert h1.loc[start]["max_rel_persistence"].max() < 0.2
    assert h1.loc[(end, "pc1-2"), "max_rel_persistence"] > 0.35
    assert h1.loc[(end, "pc1-2"), "n_long"] >= 1
    # the raw 128-d embedding hides it (views matter)
    assert h1.loc[(end, "raw"), "max_rel_persistence"] < 0.2
    # what the report shows without reading numbers: the loop called significant in the pc1-2
    # scatter of the trained embedding, drawn through its points; nothing in the untrained one;
    # the test accuracy on the same step axis
    from tda_interp.reports import build_report

    report = build_report(tmp_path / "run")
    (pc12,) = [m for m in report.matrices if m.view == "pc1-2"]
    embed = report.layers.index("embed")
    calls = pc12.array("n_significant", 1)
    assert calls[embed, -1] >= 1
    assert all(m.array("n_significant", 1)[:, 0].sum() == 0 for m in report.matrices)
    last = report.cloud(end, "embed", "pc1-2")
    assert last is not None and last.cycles and len(last.cycles[0]) >= 10
    first = report.cloud(start, "embed", "pc1-2")
    assert first is not None and not first.cycles
    assert {"test_accuracy", "train_loss"} <= {m.name for m in report.metrics}
