"""Whole checkpoints on a Dask cluster of worker processes on 127.0.0.1: the same results as a
local run, lost workers retried then reported, stalls and a lost scheduler ended, reruns that
resume."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from tda_interp.exceptions import CheckpointError, ExecutionError
from tda_interp.options import ExecutionOptions, RipsOptions
from tda_interp.pipeline import RunOutcome, run_pipeline
from tda_interp.store import Run

dask = pytest.importorskip("dask", reason="the dask extra is not installed")
distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
cloudpickle = pytest.importorskip("cloudpickle", reason="the dask extra is not installed")

from tda_interp.execution import ClusterExecutor, ClusterOptions  # noqa: E402

LAYERS = ["net.0", "net.2"]
VIEWS = ["raw", "pc1-2"]
HOMOLOGY = RipsOptions(backend="ripser")


class Fragile(torch.nn.Module):
    """A small MLP that kills the process running it when its checkpoint is marked ``poison``
    and the file ``flag`` exists, and sleeps ``delay`` seconds per forward pass."""

    poison: torch.Tensor

    def __init__(self, flag: str = "", delay: float = 0.0) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8)
        )
        self.register_buffer("poison", torch.zeros(()))
        self.flag, self.delay = flag, delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.poison.item() > 0 and self.flag and os.path.exists(self.flag):
            os._exit(1)  # a worker lost mid-task, as to the OOM killer
        if self.delay:
            time.sleep(self.delay)
        return self.net(x)


def _model(seed: int = 0, **kwargs: Any) -> Fragile:
    torch.manual_seed(seed)
    return Fragile(**kwargs)


@pytest.fixture(autouse=True)
def _by_value() -> Iterator[None]:
    """Workers cannot import this test module: send its classes by value, as a script's."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[list[Path], torch.Tensor]:
    paths = []
    for step in range(6):
        model = _model(seed=step)
        if step == 2:
            model.poison.fill_(1.0)
        path = tmp_path / f"step_{step}.pt"
        torch.save(model.state_dict(), path)
        paths.append(path)
    t = torch.rand(50, generator=torch.Generator().manual_seed(0)) * 6.283
    noise = 0.1 * torch.randn(50, generator=torch.Generator().manual_seed(1))
    return paths, torch.stack([torch.cos(t), torch.sin(t), noise], dim=1)


def _run(
    paths: list[Path], inputs: torch.Tensor, run_dir: Path, executor: Any, **kwargs: Any
) -> RunOutcome:
    model_kwargs = {k: kwargs.pop(k) for k in ("flag", "delay") if k in kwargs}
    return run_pipeline(
        _model(**model_kwargs),
        paths,
        inputs,
        run_dir,
        layers=LAYERS,
        views=VIEWS,
        homology=HOMOLOGY,
        execution=ExecutionOptions(executor=executor, cache=kwargs.pop("cache", False), **kwargs),
    )


def _diagrams(run_dir: Path) -> dict[tuple[str, str, str], object]:
    return {(r.checkpoint, r.layer, r.view): r.diagram for r in Run(run_dir).results()}


def _cluster(n_workers: int = 2, **kwargs: Any) -> Any:
    return distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
        **kwargs,
    )


def test_checkpoints_run_on_worker_processes_with_the_results_of_a_local_run(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    paths, inputs = setup
    _run(paths, inputs, tmp_path / "serial", "serial")
    cache = tmp_path / "cache"
    with _cluster(resources={"GPU": 1}) as cluster:
        with ClusterExecutor(cluster.scheduler_address) as ex:
            worker_pids = set(ex.client.run(os.getpid).values())
            assert os.getpid() not in worker_pids and len(worker_pids) == 2
            out = _run(paths, inputs, tmp_path / "cluster", ex, cache=cache)
            again = _run(paths, inputs, tmp_path / "cluster", ex, cache=cache)
            assert ex.client.status == "running"  # the executor passed in is left open
        # tasks that need a worker resource, forward passes on the worker's GPU if it has one
        gpu = ClusterOptions(resource="GPU", device="auto")
        with ClusterExecutor(cluster.scheduler_address, gpu) as ex:
            fresh = _run(paths, inputs, tmp_path / "fresh", ex, cache=cache)
    assert (out.computed, out.skipped) == (24, 0)
    assert (again.computed, again.skipped) == (0, 24)  # a rerun skips finished results
    assert fresh.computed == 24
    reference = _diagrams(tmp_path / "serial")
    assert len(reference) == 24
    assert _diagrams(tmp_path / "cluster") == reference
    assert _diagrams(tmp_path / "fresh") == reference  # from the cache the driver wrote
    assert len(list(cache.rglob("*.npz"))) == 24


def test_a_killed_worker_is_replaced_and_the_run_completes_unchanged(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    paths, inputs = setup
    _run(paths, inputs, tmp_path / "serial", "serial")
    killed: list[int] = []
    with _cluster() as cluster, ClusterExecutor(cluster.scheduler_address) as ex:
        pids = sorted(ex.client.run(os.getpid).values())

        def progress(description: str, done: int, total: int) -> None:
            if done and not killed:  # mid-run: every worker is busy with a checkpoint
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        out = _run(paths, inputs, tmp_path / "cluster", ex, delay=0.3, progress=progress)
        assert pids[0] not in ex.client.run(os.getpid).values()  # the nanny started another
    assert killed and out.computed == 24
    assert _diagrams(tmp_path / "cluster") == _diagrams(tmp_path / "serial")


def test_a_checkpoint_that_kills_its_workers_is_retried_then_reported_and_a_rerun_resumes(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    paths, inputs = setup
    _run(paths, inputs, tmp_path / "serial", "serial")
    flag = tmp_path / "poison-on"
    flag.touch()
    run_dir = tmp_path / "cluster"
    config = {
        "distributed.scheduler.allowed-failures": 1,  # two deaths, then KilledWorker
        "distributed.scheduler.worker-saturation": 1.0,  # no innocent task beside it
    }
    with (
        dask.config.set(config),
        _cluster() as cluster,
        ClusterExecutor(cluster.scheduler_address) as ex,
    ):
        with pytest.raises(ExecutionError) as info:
            _run(paths, inputs, run_dir, ex, flag=str(flag))
        text = str(info.value)
        assert text.startswith("1 checkpoint(s) were not computed: checkpoint 'step_2'")
        assert "every worker that ran it died" in text and "rerun to resume" in text
        assert {c for c, _, _ in _diagrams(run_dir)} == {f"step_{i}" for i in (0, 1, 3, 4, 5)}
        flag.unlink()  # the cause is fixed: a rerun computes only what is missing
        out = _run(paths, inputs, run_dir, ex, flag=str(flag))
    assert (out.computed, out.skipped) == (4, 20)
    assert _diagrams(run_dir) == _diagrams(tmp_path / "serial")


def test_a_cluster_without_workers_ends_the_run_after_stall_timeout(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    paths, inputs = setup
    with distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        options = ClusterOptions(stall_timeout=2)
        with ClusterExecutor(cluster.scheduler_address, options) as ex:
            t0 = time.monotonic()
            with pytest.raises(ExecutionError, match="has had no worker for") as info:
                _run(paths, inputs, tmp_path / "run", ex)
            assert time.monotonic() - t0 < 30
    assert "rerun to resume" in str(info.value)
    assert Run(tmp_path / "run").checkpoints  # the manifest lists them: a rerun resumes


def test_a_lost_scheduler_ends_the_run_with_a_clear_error(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    paths, inputs = setup
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        ex = ClusterExecutor(
            cluster.scheduler_address, ClusterOptions(stall_timeout=3, connect_timeout=2)
        )

        def progress(description: str, done: int, total: int) -> None:
            if done == 1:
                cluster.close()

        try:
            with pytest.raises(ExecutionError, match=r"stopped answering|has had no worker"):
                _run(paths, inputs, tmp_path / "run", ex, delay=0.2, progress=progress)
        finally:
            ex.close()
    finally:
        cluster.close()
    assert len(_diagrams(tmp_path / "run")) >= 1  # what was written is kept


def test_a_worker_that_sees_another_checkpoint_file_refuses_it(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    from tda_interp.execution.cluster import CheckpointJob, run_checkpoint
    from tda_interp.pipeline import plan_run

    paths, inputs = setup
    plan = plan_run(_model(), inputs, LAYERS, VIEWS, homology=HOMOLOGY)
    job = CheckpointJob(
        label="step_1",
        path=str(paths[1]),
        fingerprint="sha256:0000",
        plan=plan,
        todo=(("net.0", "raw"),),
    )
    with pytest.raises(CheckpointError, match=r"^checkpoint 'step_1': The worker reads .*"):
        run_checkpoint(job, (_model(), inputs))


def test_a_config_reaches_the_cluster_with_an_executor_string(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    # `[execution] executor = "dask-checkpoints:ADDRESS"`: the run makes its own cluster
    # executor, sends whole checkpoints and closes it; the cluster itself is left running
    paths, inputs = setup
    paths = [p for p in paths if p.name != "step_2.pt"]
    _run(paths, inputs, tmp_path / "serial", "serial")
    with _cluster(n_workers=1) as cluster:
        spec = f"dask-checkpoints:{cluster.scheduler_address}"
        out = _run(paths, inputs, tmp_path / "cluster", spec)
        assert cluster.scheduler_info["workers"]  # still up for the next run
    assert out.computed == 20
    serial, remote = _diagrams(tmp_path / "serial"), _diagrams(tmp_path / "cluster")
    assert serial.keys() == remote.keys()
    for key, dgm in serial.items():
        assert remote[key] == dgm, key


def test_the_executor_string_is_checked_once() -> None:
    assert ExecutionOptions(executor="dask-checkpoints:tcp://127.0.0.1:8786").executor
    with pytest.raises(Exception, match="dask-checkpoints:ADDRESS"):
        ExecutionOptions(executor="dask-checkpoint:tcp://127.0.0.1:8786")


def test_a_finished_task_is_seen_at_once_when_another_client_is_the_default() -> None:
    # `distributed.wait` waits on the default (latest) client's loop; it missed the first
    # executor's completions and returned only at its one-second poll: a second per task
    with _cluster(1) as first_cluster, _cluster(1) as second_cluster:
        with ClusterExecutor(first_cluster.scheduler_address, ClusterOptions()) as first:
            with ClusterExecutor(second_cluster.scheduler_address):  # now the default client
                for _ in range(3):
                    future = first.client.submit(time.sleep, 0.05, pure=False)
                    done, pending, _since = first._next_done({future}, None)
                    assert (done, pending) == ({future}, set())
