"""A finished run grows: new layers, views and checkpoints are computed, nothing else is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import tda_interp as ti
from tda_interp.exceptions import RunDirError
from tda_interp.options import RipsOptions

SERIAL = ti.ExecutionOptions(executor="serial", cache=False)


def _checkpoints(folder: Path, n: int) -> list[Path]:
    paths = []
    for step in range(n):
        torch.manual_seed(step)
        net = nn.Sequential(nn.Linear(3, 12), nn.Tanh(), nn.Linear(12, 6), nn.Tanh())
        paths.append(folder / f"step_{step}.pt")
        torch.save(net.state_dict(), paths[-1])
    return paths


def _run(paths: list[Path], run_dir: Path, layers: list[str], views: list[str], **kw: object):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 12), nn.Tanh(), nn.Linear(12, 6), nn.Tanh())
    probe = torch.randn(40, 3, generator=torch.Generator().manual_seed(1))
    return ti.run_pipeline(
        net,
        paths,
        probe,
        run_dir,
        layers=layers,
        views=views,
        homology=kw.pop("homology", RipsOptions(maxdim=1)),
        execution=SERIAL,
        **kw,  # type: ignore[arg-type]
    )


def test_new_layers_views_and_checkpoints_are_all_that_is_computed(tmp_path: Path) -> None:
    paths = _checkpoints(tmp_path, 3)
    run_dir = tmp_path / "run"
    first = _run(paths[:2], run_dir, ["1"], ["raw"])
    assert first.computed == 2
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*.npz")}

    grown = _run(paths, run_dir, ["1", "3"], ["raw", "pc1-2"])
    assert grown.computed == 3 * 4 - 2  # every (checkpoint, layer, view) but the two done
    assert {p: p.stat().st_mtime_ns for p in before} == before  # untouched
    run = ti.Run(run_dir)
    assert list(run.layers) == ["1", "3"] and list(run.views) == ["raw", "pc1-2"]
    assert len(list(run.results())) == 12  # the old results are still read as valid

    # the same results as a run made whole at once
    whole = tmp_path / "whole"
    _run(paths, whole, ["1", "3"], ["raw", "pc1-2"])
    ours = {(r.checkpoint, r.layer, r.view): r.diagram for r in run.results()}
    theirs = {(r.checkpoint, r.layer, r.view): r.diagram for r in ti.Run(whole).results()}
    assert ours == theirs

    # naming fewer layers later keeps the run's list; nothing is recomputed
    again = _run(paths, run_dir, ["3"], ["raw"])
    assert again.computed == 0 and list(ti.Run(run_dir).layers) == ["1", "3"]


def test_other_parameter_changes_are_still_refused(tmp_path: Path) -> None:
    paths = _checkpoints(tmp_path, 1)
    _run(paths, tmp_path / "run", ["1"], ["raw"])
    with pytest.raises(RunDirError, match=r"homology\.maxdim"):
        _run(paths, tmp_path / "run", ["1", "3"], ["raw"], homology=RipsOptions(maxdim=2))
    assert np.isfinite(ti.Run(tmp_path / "run").diagram("step_0", "1", "raw").scale)
