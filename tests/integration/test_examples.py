"""The examples of `examples/` reproduce their published results on the quick budget.

Each example is run as a script (`python examples/NN_name.py --quick -o TMP`), as a user runs
it, two at a time on two cores (each uses one thread), longest first: it trains its model
from scratch, writes a config, runs the pipeline and a report, and prints `PASS: ...` or
`FAIL: ...` last (exit code 0 on PASS). The full budgets are run by `make examples` (times in
the README's "Examples" section).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 900  # seconds, from the start of an example's process
# the longest first: each is one process with one torch thread, so two run side by side on
# two cores in about half the time of running them one after another
ORDER = (
    "02_neuron_torus",
    "06_cross_architecture",
    "01_grokking_control",
    "05_minilm_depth",
    "04_topology_simplification",
    "03_tms_pentagon",
)


@dataclass
class _Launcher:
    """Runs the selected examples as scripts, ``os.cpu_count()`` at a time, in ORDER."""

    root: Path
    queue: list[str]
    slots: int
    running: dict[str, tuple[subprocess.Popen[str], float]] = field(default_factory=dict)
    done: dict[str, tuple[int | None, str, str]] = field(default_factory=dict)

    def _start_free(self) -> None:
        while self.queue and len(self.running) < self.slots:
            name = self.queue.pop(0)
            out = self.root / name
            out.mkdir()
            env = {**os.environ, "TDA_INTERP_CACHE": str(out / "cache"), "HF_HUB_OFFLINE": "1"}
            # files, not pipes: a full pipe would block an example that nobody reads yet
            with open(out / "stdout", "w") as stdout, open(out / "stderr", "w") as stderr:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        str(EXAMPLES / f"{name}.py"),
                        "--quick",
                        "-o",
                        str(out / "out"),
                    ],
                    stdout=stdout,
                    stderr=stderr,
                    env=env,
                )
            self.running[name] = (proc, time.monotonic())

    def _reap(self) -> None:
        for name, (proc, started) in list(self.running.items()):
            if proc.poll() is None and time.monotonic() - started < TIMEOUT:
                continue
            if proc.poll() is None:  # over time: stop it, keep what it printed
                proc.kill()
            proc.wait()
            out = self.root / name
            printed = [(out / f).read_text(errors="replace") for f in ("stdout", "stderr")]
            self.done[name] = (proc.returncode, printed[0], printed[1])
            del self.running[name]

    def wait(self, name: str) -> tuple[int | None, str, str]:
        if name not in self.done and name not in self.running and name not in self.queue:
            self.queue.insert(0, name)
        while name not in self.done:
            self._start_free()
            self._reap()
            if name not in self.done:
                time.sleep(0.2)
        self._start_free()  # keep the cores busy while the caller checks its example
        return self.done[name]

    def stop(self) -> None:
        self.queue.clear()
        for proc, _ in self.running.values():
            proc.kill()
            proc.wait()
        self.running.clear()


@pytest.fixture(scope="module")
def launcher(request: pytest.FixtureRequest) -> Iterator[_Launcher]:
    selected = {item.name.split("[")[0] for item in request.session.items}
    wanted = [name for name in ORDER if TESTS[name] in selected]
    with tempfile.TemporaryDirectory(prefix="tda-examples-") as root:
        runs = _Launcher(Path(root), wanted, max(1, min(2, os.cpu_count() or 1)))
        try:
            yield runs
        finally:
            runs.stop()


def _run_example(name: str, launcher: _Launcher) -> tuple[str, Path]:
    """Its stdout (ending in ``PASS: ...``) and its output folder."""
    code, stdout, stderr = launcher.wait(name)
    lines = stdout.strip().splitlines()
    assert lines, f"{name} printed nothing; stderr:\n{stderr[-3000:]}"
    assert code == 0 and lines[-1].startswith("PASS: "), (
        f"{name} exited {code}; stdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
    )
    return stdout, launcher.root / name / "out"


TESTS = {
    "01_grokking_control": "test_grokking_circle_shows_beside_the_shuffled_label_control",
    "02_neuron_torus": "test_neurons_of_one_frequency_form_a_torus",
    "03_tms_pentagon": "test_tms_pentagon_bar_matches_the_analytic_bar",
    "04_topology_simplification": "test_topology_simplifies_through_depth",
    "05_minilm_depth": "test_minilm_output_layer_clusters_paraphrases_by_meaning",
    "06_cross_architecture": "test_two_architectures_share_the_embedding_circle",
}


def test_tms_pentagon_bar_matches_the_analytic_bar(launcher: _Launcher) -> None:
    stdout, out = _run_example("03_tms_pentagon", launcher)
    assert "analytic H1 bar" in stdout and "measured H1 bar" in stdout
    assert (out / "tms.toml").is_file()
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_grokking_circle_shows_beside_the_shuffled_label_control(launcher: _Launcher) -> None:
    _stdout, out = _run_example("01_grokking_control", launcher)
    for name in ("grokking.toml", "control.toml", "report.html"):
        assert (out / name).is_file()


@pytest.mark.slow
def test_neurons_of_one_frequency_form_a_torus(launcher: _Launcher) -> None:
    stdout, out = _run_example("02_neuron_torus", launcher)
    assert "H1: 2 significant" in stdout and "H2: 1 significant" in stdout
    assert (out / "report.html").is_file()


def test_minilm_output_layer_clusters_paraphrases_by_meaning(launcher: _Launcher) -> None:
    stdout, out = _run_example("05_minilm_depth", launcher)
    assert "encoder.layer.5" in stdout and "embeddings" in stdout
    for name in ("minilm.toml", "report.html"):
        assert (out / name).is_file()


@pytest.mark.slow
def test_topology_simplifies_through_depth(launcher: _Launcher) -> None:
    stdout, out = _run_example("04_topology_simplification", launcher)
    assert "hidden.7" in stdout
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_two_architectures_share_the_embedding_circle(launcher: _Launcher) -> None:
    stdout, out = _run_example("06_cross_architecture", launcher)
    assert "replicate reference" in stdout
    assert (out / "compare.html").is_file()
