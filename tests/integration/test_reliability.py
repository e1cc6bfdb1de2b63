"""A demanding user's failure modes: killed runs leave no process behind, SIGTERM is Ctrl-C,
the command line says what went wrong in one line, the demo never deletes what it did not
write."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from tda_interp.cli import main

pytestmark = pytest.mark.slow  # real processes, real signals

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import torch
    from tda_interp import ExecutionOptions, RipsOptions, run_pipeline
    from tda_interp.homology import callable_view

    PIDS = sys.argv[2]

    def slow(points):  # runs in the worker processes
        with open(PIDS, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(60)
        return points

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
    torch.save(model.state_dict(), sys.argv[1] + "/step_1.pt")
    run_pipeline(model, sys.argv[1] + "/step_1.pt", torch.randn(40, 3), sys.argv[1] + "/run",
                 layers=["0", "2"], views=[callable_view(slow, "slow")],
                 execution=ExecutionOptions(executor="processes:2", cache=False))
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # not a zombie
    except FileNotFoundError:
        return False


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    script = tmp_path / "slow_run.py"
    script.write_text(SCRIPT)
    pids = tmp_path / "pids.txt"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(pids)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [int(x) for x in pids.read_text().split()] if pids.exists() else []
        if len(set(found)) >= 2:
            return proc, sorted(set(found))
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"the workers never started: {proc.communicate()[0]!r}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    proc, workers = _start(tmp_path)
    assert all(_alive(pid) for pid in workers)
    proc.kill()  # kill -9: no cleanup code of the parent runs
    out, _ = proc.communicate(timeout=10)  # returns only once no worker holds stdout open
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_sigterm_stops_a_command_line_run_like_ctrl_c(tmp_path: Path) -> None:
    models = tmp_path / "models.py"
    models.write_text(
        textwrap.dedent(
            """
            import torch

            def make_model():
                torch.manual_seed(0)
                return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh())

            def inputs():
                return torch.randn(2000, 3)
            """
        )
    )
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(3, 8), nn.Tanh()).state_dict(), tmp_path / "step_1.pt")
    config = tmp_path / "run.toml"
    config.write_text(
        '[model]\nfactory = "models.py:make_model"\ncheckpoints = "step_1.pt"\n'
        '[inputs]\nfactory = "models.py:inputs"\n[capture]\nlayers = ["0", "1"]\n'
        '[homology]\nmaxdim = 1\napproximation = "exact"\nbackend = "ripser"\n'
        'memory_budget = "100GB"\nviews = ["raw", "pc1-2", "pc2-3"]\n'  # ~10 s of work
        '[execution]\nexecutor = "processes:2"\ncache = false\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tda_interp", "run", str(config), "-o", str(tmp_path / "run"), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while len(children) < 2 and time.monotonic() < deadline:  # wait for the two workers
        children = {
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and _ppid(int(p.name)) == proc.pid
        }
        time.sleep(0.2)
    assert len(children) >= 2, "the worker processes never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"terminated (SIGTERM); finished results are kept" in err
    assert b"Traceback" not in err
    time.sleep(1.0)
    assert not any(_alive(pid) for pid in children)


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().split(")")[-1].split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------- one line, exit 2
GOOD_MODELS = """
import torch
def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh())
def inputs():
    return torch.randn(20, 2)
def broken():
    return {}["missing"]
"""

CONFIG = """
[model]
factory = "{factory}"
checkpoints = "step_1.pt"
[inputs]
factory = "models.py:inputs"
[capture]
layers = ["0"]
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "models.py").write_text(GOOD_MODELS)
    (tmp_path / "syntax.py").write_text("def make_model(:\n    pass\n")
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(2, 4), nn.Tanh()).state_dict(), tmp_path / "step_1.pt")
    return tmp_path


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        ("models.py:broken", "The model factory 'models.py:broken' raised KeyError: 'missing'"),
        ("syntax.py:make_model", "importing 'syntax.py' failed with SyntaxError"),
        ("models.py:nothing", "has no callable 'nothing'"),
    ],
)
def test_factory_problems_are_one_line_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], factory: str, expected: str
) -> None:
    config = project / "run.toml"
    config.write_text(CONFIG.format(factory=factory))
    assert main(["run", str(config), "-o", str(project / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tda-interp run: error: ") and expected in err, err
    if factory == "models.py:broken":
        assert f"({project / 'models.py'}, line 9)" in err  # where in the user's code
    assert not (project / "out").exists()  # refused before anything was written


def test_config_paths_that_are_not_files_are_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(project), "-q"]) == 2
    assert "is a directory; pass the TOML file inside it" in capsys.readouterr().err
    latin = project / "latin.toml"
    latin.write_bytes("title = 'caf\u00e9'\n".encode("latin-1"))
    assert main(["run", str(latin), "-q"]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_a_text_file_named_pt_is_explained(project: Path) -> None:
    from tda_interp.exceptions import CheckpointError
    from tda_interp.hooks import load_checkpoint

    (project / "notes.pt").write_text("these are my notes, not weights")
    with pytest.raises(CheckpointError, match=r"is not a file written by torch\.save") as info:
        load_checkpoint(nn.Linear(2, 2), project / "notes.pt")
    assert "like text" in str(info.value) and "weights_only=False" not in str(info.value)


def test_a_pickle_of_objects_is_refused_without_torch_unsafe_advice(project: Path) -> None:
    from tda_interp.exceptions import CheckpointError
    from tda_interp.hooks import load_checkpoint

    torch.save({"weight": torch.zeros(2, 2), "optimizer": object.__reduce__}, project / "x.pt")
    with pytest.raises(CheckpointError, match="holds objects other than tensors") as info:
        load_checkpoint(nn.Linear(2, 2), project / "x.pt")
    assert "weights_only" not in str(info.value).replace("torch.load", "")


def test_meta_and_complex_activations_are_explained() -> None:
    from tda_interp.exceptions import ActivationError, CaptureError
    from tda_interp.hooks import run_capture

    with torch.device("meta"):
        ghost = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(CaptureError, match=r"meta tensor .* never materialised"):
        run_capture(ghost, torch.empty(5, 4, device="meta"), "0")

    class Complex(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.complex(x, x))

    with pytest.raises(ActivationError, match="complex activations"):
        run_capture(Complex(), torch.randn(5, 4), "fc")


def test_bfloat16_activations_are_captured_as_float32() -> None:
    from tda_interp.hooks import run_capture

    model = nn.Sequential(nn.Linear(4, 3)).to(torch.bfloat16)
    x = torch.randn(5, 4, dtype=torch.bfloat16)
    points = run_capture(model, x, "0")["0"]
    assert points.dtype.name == "float32"
    torch.testing.assert_close(torch.from_numpy(points), model(x).float())


# ---------------------------------------------------------------------- the demo's folder
def test_the_demo_never_deletes_what_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "checkpoints" / "step_00000.safetensors.bak"
    mine.parent.mkdir()
    mine.write_text("a user's file in the demo's checkpoints folder")
    assert main(["demo", "-o", str(tmp_path), "--steps", "4", "--every", "2", "-q"]) == 2
    assert mine.read_text().startswith("a user's file")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "thesis.tex").write_text("do not touch")
    assert main(["demo", "-o", str(other), "--steps", "4", "--every", "2", "-q"]) == 2
    assert sorted(p.name for p in other.iterdir()) == ["thesis.tex"]
    fresh = tmp_path / "fresh"
    assert main(["demo", "-o", str(fresh), "--steps", "4", "--every", "2", "-q"]) == 0
    assert main(["demo", "-o", str(fresh), "--steps", "4", "--every", "4", "-q"]) == 0  # rerun
    assert sorted(p.name for p in (fresh / "checkpoints").iterdir()) == [
        "step_00000.safetensors", "step_00004.safetensors"
    ]  # fmt: skip


# ---------------------------------------------------------------------- a Dask cluster that dies
def test_a_dask_cluster_whose_only_worker_died_gives_up_with_a_clear_error() -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    from tda_interp.exceptions import ExecutionError
    from tda_interp.execution import DaskExecutor

    with distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        dask = Path(sys.executable).parent / "dask"
        worker = subprocess.Popen(
            [str(dask), "worker", cluster.scheduler_address, "--no-nanny", "--nthreads", "1",
             "--no-dashboard", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            executor = DaskExecutor(cluster.scheduler_address, stall_timeout=3)
            executor.client.wait_for_workers(1, timeout=60)
            results = executor.imap(time.sleep, [20.0, 20.0])
            time.sleep(1.0)
            worker.kill()  # no nanny: nobody restarts it
            t0 = time.monotonic()
            with pytest.raises(ExecutionError, match="has had no worker for") as info:
                list(results)
            assert time.monotonic() - t0 < 15
            assert "rerun to resume" in str(info.value)
            executor.close()
        finally:
            worker.kill()
            worker.wait(10)


def test_a_lost_dask_scheduler_is_a_clear_error() -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    from tda_interp.exceptions import ExecutionError
    from tda_interp.execution import DaskExecutor

    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    )
    executor = DaskExecutor(cluster.scheduler_address, stall_timeout=3, timeout=2)
    results = executor.imap(time.sleep, [20.0])
    cluster.close()
    with pytest.raises(ExecutionError, match=r"stopped answering|has had no worker"):
        list(results)
    executor.close()


# ---------------------------------------------------------------------- a full disk
FULL_DISK_RUN = textwrap.dedent(
    """
    import sys
    import torch
    from tda_interp.cli import main
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
    for step in range(6):
        torch.save(net.state_dict(), f"{sys.argv[1]}/step_{step}.pt")
    open(f"{sys.argv[1]}/models.py", "w").write(
        "import torch\\n"
        "def make_model():\\n"
        "    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(),"
        " torch.nn.Linear(16, 8))\\n"
        "def inputs():\\n"
        "    torch.manual_seed(1)\\n"
        "    return torch.randn(300, 3)\\n"
    )
    open(f"{sys.argv[1]}/run.toml", "w").write(
        '[model]\\nfactory = "models.py:make_model"\\ncheckpoints = "step_*.pt"\\n'
        '[inputs]\\nfactory = "models.py:inputs"\\n[capture]\\nlayers = ["0", "1", "2"]\\n'
        '[homology]\\nviews = ["raw", "pc1-2", "pca3"]\\n'
        f'[execution]\\nexecutor = "serial"\\ncache = "{sys.argv[3]}"\\n'
    )
    sys.exit(main(["run", f"{sys.argv[1]}/run.toml", "-o", sys.argv[2], "-q"]))
    """
)


def _tmpfs_run(tmp_path: Path, run_in_tmpfs: bool) -> subprocess.CompletedProcess[str]:
    """Run a 54-result config with either the run directory or the diagram cache on a 64 kB
    tmpfs, mounted in a private mount namespace (no root needed where user namespaces are)."""
    small = tmp_path / "small"
    small.mkdir()
    script = tmp_path / "run.py"
    script.write_text(FULL_DISK_RUN)
    run_dir = small / "run" if run_in_tmpfs else tmp_path / "run"
    cache = tmp_path / "cache" if run_in_tmpfs else small / "cache"
    inner = (
        f"mount -t tmpfs -o size=64k tmpfs {small} && "
        f"{sys.executable} {script} {tmp_path} {run_dir} {cache}"
    )
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         f"mount -t tmpfs -o size=64k tmpfs {small}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.returncode != 0:
        from conftest import MACHINE_CANNOT

        pytest.skip(f"{MACHINE_CANNOT}cannot mount a tmpfs here ({probe.stderr.strip()})")
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", inner],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces (Linux)")
def test_a_full_disk_under_the_run_is_one_line_and_keeps_whole_results(tmp_path: Path) -> None:
    out = _tmpfs_run(tmp_path, run_in_tmpfs=True)
    assert out.returncode == 2, out.stderr
    assert "No space left on device" in out.stderr and "Traceback" not in out.stderr
    # inside the namespace the tmpfs is gone; what matters: every result written was whole,
    # which the atomic writes and the readers' checks guarantee (tested in test_store)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mount namespaces (Linux)")
def test_a_full_disk_under_the_cache_is_a_warning_and_every_result_is_written(
    tmp_path: Path,
) -> None:
    out = _tmpfs_run(tmp_path, run_in_tmpfs=False)
    assert out.returncode == 0, out.stderr
    assert "The diagram cache at" in out.stderr and "cannot be written" in out.stderr
    from tda_interp.store import Run

    assert len(list(Run(tmp_path / "run").results())) == 6 * 3 * 3
