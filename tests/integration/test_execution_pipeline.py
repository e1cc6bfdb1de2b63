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


def test_significance_calls_are_stored_with_each_result(tmp_path: Path) -> None:
    """A circle of activations gives exactly one significant H1 bar; a blob gives none."""
    from tda_interp.store import read_summaries

    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 60)
    circle = np.c_[np.cos(t), np.sin(t), 0.05 * rng.normal(size=(60, 6))]
    blob = rng.normal(size=(60, 8))
    inputs = torch.tensor(np.concatenate([circle, blob], axis=1), dtype=torch.float32)
    model = torch.nn.ModuleDict()  # sites: two slices of the input
    model.add_module("circle", _Slice(0, 8))
    model.add_module("blob", _Slice(8, 16))
    ckpt = tmp_path / "step_1.pt"
    torch.save(_Both(model).state_dict(), ckpt)
    run_pipeline(
        _Both(model),
        [ckpt],
        inputs,
        tmp_path / "run",
        layers=["parts.circle", "parts.blob"],
        backend="ripser",
        n_null=19,
        executor="serial",
    )
    rows = read_summaries(tmp_path / "run").set_index(["layer", "dim"])
    assert rows.loc[("parts.circle", 1), "n_significant"] == 1
    assert rows.loc[("parts.blob", 1), "n_significant"] == 0
    stored = _diagrams(tmp_path / "run")["step_1", "parts.circle", "raw"]
    calls = stored.meta["significance"]  # type: ignore[attr-defined]
    assert calls["n_null"] == 19 and len(calls["p_values"][1]) == len(stored[1])  # type: ignore[index]


class _Slice(torch.nn.Module):
    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop
        self.register_buffer("gain", torch.ones(1))  # something for a checkpoint to hold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start : self.stop] * self.gain


class _Both(torch.nn.Module):
    def __init__(self, parts: torch.nn.ModuleDict) -> None:
        super().__init__()
        self.parts = parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.parts["circle"](x), self.parts["blob"](x)], dim=1)
