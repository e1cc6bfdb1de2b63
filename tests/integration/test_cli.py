"""The command line: run, report, demo, errors and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tda_interp.cli import main
from tda_interp.demo.modular import train
from tda_interp.store import read_summaries

MODELS_PY = """
import torch
from torch import nn

def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 8))

def circle_inputs():
    t = torch.linspace(0, 6.283, 41)[:-1]
    return torch.stack([torch.cos(t), torch.sin(t)], dim=1)
"""

CONFIG = """
title = "A user's own model"
[model]
factory = "models.py:make_model"
checkpoints = "ckpts"
[inputs]
factory = "models.py:circle_inputs"
[capture]
layers = ["0", "2"]
[homology]
views = ["raw", "pc1-2"]
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    import torch

    (tmp_path / "models.py").write_text(MODELS_PY)
    (tmp_path / "run.toml").write_text(CONFIG)
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    for step in (900, 1000, 50):
        torch.manual_seed(step)
        net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
        torch.save(net.state_dict(), ckpts / f"step_{step}.pt")
    return tmp_path


def test_run_then_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = project / "out"
    code = main(["run", str(project / "run.toml"), "-o", str(run_dir), "-q"])
    assert code == 0
    assert "12 results computed" in capsys.readouterr().out
    df = read_summaries(run_dir)
    assert list(df["checkpoint"].unique()) == ["step_50", "step_900", "step_1000"]
    # a circle through a smooth injective map keeps its loop in the first layer
    first = df[(df.layer == "0") & (df.view == "raw") & (df.dim == 1)]
    assert (first["n_long"] == 1).all()

    assert main(["run", str(project / "run.toml"), "-o", str(run_dir), "-q"]) == 0
    assert "0 results computed, 12 already done" in capsys.readouterr().out

    html = project / "r" / "report.html"
    assert main(["report", str(run_dir), "-o", str(html)]) == 0
    assert str(html.resolve()) in capsys.readouterr().out
    text = html.read_text(encoding="utf-8")
    assert ("step_900" in text and "A user&#39;s own model" in text) or "A user's own model" in text


def test_run_writes_report_when_asked(project: Path) -> None:
    html = project / "report.html"
    code = main(
        ["run", str(project / "run.toml"), "-o", str(project / "o"), "-q", "--report", str(html)]
    )
    assert code == 0 and html.is_file()


def test_errors_exit_2_with_a_message(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(project / "missing.toml"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(project / "nothing-here")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    bad = project / "bad.toml"
    bad.write_text(CONFIG.replace('layers = ["0", "2"]', 'layers = ["3"]'))
    assert main(["run", str(bad), "-o", str(project / "o2"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "'3'" in err and "'2'" in err  # closest real names listed
    assert main(["run", str(project / "run.toml"), "-q"]) == 2  # no run_dir anywhere
    assert "-o/--run-dir" in capsys.readouterr().err


def test_python_dash_m_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tda_interp", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("tda-interp 0.")
    helptext = subprocess.run(
        [sys.executable, "-m", "tda_interp", "run", "--help"], capture_output=True, text=True
    )
    assert helptext.returncode == 0 and "factory" in helptext.stdout


def test_checkpoint_glob_with_no_match(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = project / "none.toml"
    cfg.write_text(CONFIG.replace('checkpoints = "ckpts"', 'checkpoints = "nowhere/*.pt"'))
    assert main(["run", str(cfg), "-o", str(project / "o3"), "-q"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_demo_checkpoints_feed_run(tmp_path: Path) -> None:
    """The demo's saved checkpoints are plain safetensors state_dicts any run can read."""
    paths = train(tmp_path / "c", steps=10, every=5)
    assert [p.name for p in paths] == [
        "step_00000.safetensors",
        "step_00005.safetensors",
        "step_00010.safetensors",
    ]


def test_a_config_of_0_1_runs_and_says_how_its_keys_moved(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = CONFIG + "maxdim = 1\nmax_points = 0\nlong_bar = 0.3\nn_null = 0\n"
    (project / "old.toml").write_text(old)
    assert main(["run", str(project / "old.toml"), "-o", str(project / "out"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "DeprecationWarning" in err and "uses option names of tda-interp 0.1" in err
    assert "[homology] max_points -> [homology] approximation = 'auto'" in err
    assert "[homology] long_bar -> [summary] long_bar = 0.3" in err
    from tda_interp import Run

    run = Run(project / "out")
    assert run.params["homology"]["approximation"] == "auto"
    assert run.params["summary"] == {"long_bar": 0.3}
    assert run.params["significance"] == {"method": "none"}  # n_null = 0: 0.1 made no calls
    h1 = read_summaries(project / "out").query("dim == 1")
    assert ((h1["n_long"] > 0) == (h1["max_rel_persistence"] > 0.3)).all()
