"""The pipeline on worker processes, on a real Dask cluster (127.0.0.1), and with the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tda_interp.execution import DaskExecutor, tasks
from tda_interp.pipeline import run_pipeline
from tda_interp.store import iter_results


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[list[Path], torch.Tensor]:
    paths = []
    for step in (1, 2):
        path = tmp_path / f"step_{step}.pt"
        torch.save(_model(seed=step).state_dict(), path)
        paths.append(path)
    t = torch.rand(60, generator=torch.Generator().manual_seed(0)) * 6.283
    inputs = torch.stack([torch.cos(t), torch.sin(t), 0.1 * torch.randn(60)], dim=1)
    return paths, inputs


def _diagrams(run_dir: Path) -> dict[tuple[str, str, str], object]:
    return {(r.checkpoint, r.layer, r.view): r.diagram for r in iter_results(run_dir)}


OPTS = {"layers": ["0", "2"], "views": ["raw", "pc1-2"], "backend": "ripser", "cache": False}


def test_worker_processes_store_the_same_results(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    paths, inputs = setup
    run_pipeline(_model(), paths, inputs, tmp_path / "serial", executor="serial", **OPTS)
    out = run_pipeline(_model(), paths, inputs, tmp_path / "par", executor="processes:2", **OPTS)
    assert out.computed == 8
    assert _diagrams(tmp_path / "serial") == _diagrams(tmp_path / "par")


def test_dask_cluster_on_localhost(setup: tuple[list[Path], torch.Tensor], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    paths, inputs = setup
    run_pipeline(_model(), paths, inputs, tmp_path / "serial", executor="serial", **OPTS)
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
    ):
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            out = run_pipeline(
                _model(), paths, inputs, tmp_path / "dask", executor=executor, **OPTS
            )
            out2 = run_pipeline(
                _model(),
                paths,
                inputs,
                tmp_path / "dask-spec",
                executor=f"dask:{cluster.scheduler_address}",
                **OPTS,
            )
        finally:
            executor.close()
    assert out.computed == out2.computed == 8
    assert _diagrams(tmp_path / "serial") == _diagrams(tmp_path / "dask")
    assert _diagrams(tmp_path / "serial") == _diagrams(tmp_path / "dask-spec")


def test_cache_makes_a_fresh_run_instant(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, inputs = setup
    opts = OPTS | {"cache": tmp_path / "cache", "executor": "serial"}
    calls: list[str] = []
    real = tasks.vietoris_rips

    def spy(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(str(kwargs.get("site")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks, "vietoris_rips", spy)
    run_pipeline(_model(), paths, inputs, tmp_path / "a", **opts)
    assert len(calls) == 8
    out = run_pipeline(_model(), paths, inputs, tmp_path / "b", **opts)  # new run dir
    assert out.computed == 8 and len(calls) == 8  # stored again, computed never
    assert _diagrams(tmp_path / "a") == _diagrams(tmp_path / "b")
    # other parameters are other content: computed afresh
    run_pipeline(_model(), paths, inputs, tmp_path / "c", **(opts | {"seed": 1, "max_points": 30}))
    assert len(calls) == 16


def test_unreachable_dask_scheduler_is_a_clear_error() -> None:
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    from tda_interp.exceptions import ConfigError

    with pytest.raises(ConfigError, match="Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", timeout=1)


def test_projection_and_neuron_views_are_recorded(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    from tda_interp.homology.views import projection_view

    paths, inputs = setup
    proj = projection_view(np.eye(16)[:, :3], name="first-three-units")
    out = run_pipeline(
        _model(),
        paths[:1],
        inputs,
        tmp_path / "run",
        layers=["1"],
        views=["standardized", proj],
        backend="ripser",
        executor="serial",
    )
    assert out.views == ("standardized", "first-three-units")
    stored = _diagrams(tmp_path / "run")
    assert stored["step_1", "1", "first-three-units"].meta["view"] == "first-three-units"  # type: ignore[attr-defined]
