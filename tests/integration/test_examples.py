"""The examples of `examples/` reproduce their published results on the quick budget.

Each example is run as a script (`python examples/NN_name.py --quick -o TMP`), as a user runs
it: it trains its model from scratch, writes a config, runs the pipeline and a report, and
prints `PASS: ...` or `FAIL: ...` last (exit code 0 on PASS). The full budgets are run by
`make examples` (times in the README's "Examples" section).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_example(name: str, tmp_path: Path) -> str:
    env = {**os.environ, "TDA_INTERP_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"{name} printed nothing; stderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0 and lines[-1].startswith("PASS: "), (
        f"{name} exited {proc.returncode}; stdout:\n{proc.stdout[-3000:]}\n"
        f"stderr:\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def test_tms_pentagon_bar_matches_the_analytic_bar(tmp_path: Path) -> None:
    stdout = _run_example("03_tms_pentagon", tmp_path)
    assert "analytic H1 bar" in stdout and "measured H1 bar" in stdout
    assert (tmp_path / "out" / "tms.toml").is_file()
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.slow
def test_grokking_circle_shows_beside_the_shuffled_label_control(tmp_path: Path) -> None:
    _run_example("01_grokking_control", tmp_path)
    for name in ("grokking.toml", "control.toml", "report.html"):
        assert (tmp_path / "out" / name).is_file()


@pytest.mark.slow
def test_neurons_of_one_frequency_form_a_torus(tmp_path: Path) -> None:
    stdout = _run_example("02_neuron_torus", tmp_path)
    assert "H1: 2 significant" in stdout and "H2: 1 significant" in stdout
    assert (tmp_path / "out" / "report.html").is_file()


def test_minilm_output_layer_clusters_paraphrases_by_meaning(tmp_path: Path) -> None:
    stdout = _run_example("05_minilm_depth", tmp_path)
    assert "encoder.layer.5" in stdout and "embeddings" in stdout
    for name in ("minilm.toml", "report.html"):
        assert (tmp_path / "out" / name).is_file()


@pytest.mark.slow
def test_topology_simplifies_through_depth(tmp_path: Path) -> None:
    stdout = _run_example("04_topology_simplification", tmp_path)
    assert "hidden.7" in stdout
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.slow
def test_two_architectures_share_the_embedding_circle(tmp_path: Path) -> None:
    stdout = _run_example("06_cross_architecture", tmp_path)
    assert "replicate reference" in stdout
    assert (tmp_path / "out" / "compare.html").is_file()
