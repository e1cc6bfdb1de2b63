"""Runs written by tda-interp 0.1 keep working, and the redesign changed no number.

The fixtures under tests/fixtures/ were written by the code of 0.1 (commit 095c4d6) with
tests/fixtures/make_v1_fixtures.py.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tda_interp import (
    ExecutionOptions,
    RipsOptions,
    Run,
    SignificanceOptions,
    build_report,
    read_summaries,
    run_pipeline,
)
from tda_interp.cli import main
from tda_interp.exceptions import RunDirError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SERIAL = ExecutionOptions(executor="serial", cache=False)


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 8))


@pytest.fixture
def v1(tmp_path: Path) -> tuple[Path, list[Path], torch.Tensor]:
    run = tmp_path / "v1_run"
    shutil.copytree(FIXTURES / "v1_run", run)
    ckpts = sorted((FIXTURES / "v1_inputs").glob("step_*.pt"))
    return run, ckpts, torch.load(FIXTURES / "v1_inputs" / "inputs.pt")


def _resume(
    run: Path,
    ckpts: list[Path],
    inputs: torch.Tensor,
    homology: RipsOptions = RipsOptions(backend="ripser"),  # noqa: B008 - frozen
    significance: SignificanceOptions = SignificanceOptions(method="gaussian", n_null=19),  # noqa: B008
) -> int:
    """Rerun the fixture's pipeline (the options 0.1 wrote it with, in today's words)."""
    outcome = run_pipeline(
        _model(),
        ckpts,
        inputs,
        run,
        layers=["0", "2"],
        views=["raw", "pc1-2"],
        homology=homology,
        significance=significance,
        execution=SERIAL,
    )
    return outcome.computed


def test_v1_run_reads_with_provenance_and_calls() -> None:
    run = Run(FIXTURES / "v1_run")
    assert run.format_version == 1
    assert run.layers == ("0", "2") and run.views == ("raw", "pc1-2")
    assert [c.label for c in run.checkpoints] == ["step_00", "step_10"]
    results = list(run.results())
    assert len(results) == 8
    for r in results:
        prov = r.diagram.provenance
        assert prov is not None and prov.view == r.view and prov.backend == "ripser"
        assert prov.certificate.kind == "exact" and prov.certificate.bound == 0.0
        assert r.significance is not None and r.significance.n_significant[1] == 1
        row = r.summary[1]
        assert row["n_significant"] == r.significance.n_significant[1]
    df = run.summaries()
    assert len(df) == 16 and set(df["n_significant"]) == {0, 1}


def test_v1_landmark_run_reads_its_certified_bounds() -> None:
    results = list(Run(FIXTURES / "v1_landmarks_run").results())
    for r in results:
        cert = r.diagram.provenance.certificate
        assert cert.kind == "landmarks" and cert.n_landmarks == 12 == r.diagram.n_points
        assert cert.bound_rel == r.summary[0]["bound_rel"] > 0


def test_v1_run_resumes_without_recomputing_and_is_upgraded(
    v1: tuple[Path, list[Path], torch.Tensor],
) -> None:
    run, ckpts, inputs = v1
    before = read_summaries(run)
    assert _resume(run, ckpts, inputs) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["format_version"] == 2 and manifest["upgraded_from"] == 1
    assert manifest["params"] == Run(run).params
    pd.testing.assert_frame_equal(read_summaries(run), before)
    # and again, now as a version-2 run
    assert _resume(run, ckpts, inputs) == 0


def test_v1_run_gains_a_checkpoint_in_the_new_format(
    v1: tuple[Path, list[Path], torch.Tensor], tmp_path: Path
) -> None:
    run, ckpts, inputs = v1
    third = tmp_path / "step_20.pt"
    torch.save({k: v * 1.5 for k, v in torch.load(ckpts[-1]).items()}, third)
    assert _resume(run, [*ckpts, third], inputs) == 4
    results = list(Run(run).results())
    assert [r.checkpoint for r in results] == ["step_00"] * 4 + ["step_10"] * 4 + ["step_20"] * 4
    assert all(r.significance is not None for r in results)
    report = build_report(run)
    assert report.missing == () and len(report.diagrams) == 12


def test_v1_run_with_other_options_names_the_difference(
    v1: tuple[Path, list[Path], torch.Tensor],
) -> None:
    run, ckpts, inputs = v1
    with pytest.raises(RunDirError, match=r"differing: homology\.maxdim"):
        _resume(run, ckpts, inputs, homology=RipsOptions(backend="ripser", maxdim=2))


def test_v1_landmark_run_resumes_with_the_equivalent_approximation(
    v1: tuple[Path, list[Path], torch.Tensor], tmp_path: Path
) -> None:
    _, ckpts, inputs = v1
    run = tmp_path / "lm"
    shutil.copytree(FIXTURES / "v1_landmarks_run", run)
    landmarks = RipsOptions(backend="ripser", approximation="landmarks:12")
    no_calls = SignificanceOptions(method="none")  # the fixture was run with n_null = 0
    assert _resume(run, ckpts, inputs, homology=landmarks, significance=no_calls) == 0


def test_v1_run_report_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(FIXTURES / "v1_run"), "-o", str(out)]) == 0
    assert "step_10" in out.read_text(encoding="utf-8")


def test_demo_summaries_are_those_of_0_1(tmp_path: Path) -> None:
    """The redesign changed no number: `tda-interp demo --steps 40 --every 20` gives the
    summaries 0.1 gave (tests/fixtures/demo_summaries_v1.csv)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the demo's own config is current
        assert main(["demo", "-o", str(tmp_path), "--steps", "40", "--every", "20", "-q"]) == 0
    new = pd.read_csv(io.StringIO(read_summaries(tmp_path / "run").to_csv(index=False)))
    old = pd.read_csv(FIXTURES / "demo_summaries_v1.csv")
    # significance calls are on by default since 0.2: two columns more, the others unchanged
    assert list(new.columns) == [*old.columns, "n_significant", "betti_significant"]
    assert new.shape == (old.shape[0], old.shape[1] + 2)
    for column in old.columns:
        a, b = new[column].to_numpy(), old[column].to_numpy()
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=column)
        else:
            assert (a == b).all(), column
