"""The pipeline on worker processes, on a real Dask cluster (127.0.0.1), and with the cache."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tda_interp.exceptions import ActivationError, ConfigError, RunDirError, TdaInterpWarning
from tda_interp.execution import DaskExecutor, tasks
from tda_interp.options import (
    ExecutionOptions,
    RipsOptions,
    SignificanceOptions,
)
from tda_interp.pipeline import RunOutcome, run_pipeline
from tda_interp.store import Run


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
    return {(r.checkpoint, r.layer, r.view): r.diagram for r in Run(run_dir).results()}


LAYERS = ["0", "2"]
VIEWS = ["raw", "pc1-2"]
HOMOLOGY = RipsOptions(backend="ripser")


def _run(
    paths: list[Path],
    inputs: torch.Tensor,
    run_dir: Path,
    executor: Any,
    *,
    cache: Any = False,
    homology: RipsOptions = HOMOLOGY,
    **kwargs: Any,
) -> RunOutcome:
    options: dict[str, Any] = {"layers": LAYERS, "views": VIEWS} | kwargs
    return run_pipeline(
        _model(),
        paths,
        inputs,
        run_dir,
        homology=homology,
        execution=ExecutionOptions(executor=executor, cache=cache),
        **options,
    )


def test_worker_processes_store_the_same_results(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    paths, inputs = setup
    _run(paths, inputs, tmp_path / "serial", "serial")
    out = _run(paths, inputs, tmp_path / "par", "processes:2")
    assert out.computed == 8
    assert _diagrams(tmp_path / "serial") == _diagrams(tmp_path / "par")


def _dead_layer(tmp_path: Path) -> Path:
    state = _model(seed=1).state_dict()
    state["2.weight"] = torch.zeros_like(state["2.weight"])  # layer "2" gives its bias only
    dead = tmp_path / "step_5.pt"
    torch.save(state, dead)
    return dead


def test_a_degenerate_cloud_is_recorded_as_a_failure_and_the_run_goes_on(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    """A layer whose output is constant cannot give a diagram: with the default
    on_error="record" its failure, computed in a worker process, is stored with its reason,
    the other results are written, a rerun does not retry it, and one warning says so."""
    paths, inputs = setup
    dead = _dead_layer(tmp_path)
    with pytest.warns(TdaInterpWarning, match="recorded as a failure") as caught:
        out = _run([paths[0], dead], inputs, tmp_path / "run", "processes:2", views=["raw"])
    assert out.computed == 4 and out.failed == 1
    [w] = [w for w in caught if "failure" in str(w.message)]
    assert "[checkpoint 'step_5' layer '2' view 'raw']" in str(w.message)
    run = Run(tmp_path / "run")
    [failure] = run.failures()
    assert (failure.checkpoint, failure.layer, failure.view) == ("step_5", "2", "raw")
    assert failure.error == "ActivationError" and "All 60 points are identical" in failure.message
    assert {(r.checkpoint, r.layer) for r in run.results()} == {
        ("step_1", "0"), ("step_1", "2"), ("step_5", "0")
    }  # fmt: skip
    with pytest.raises(RunDirError, match="its computation failed"):
        run.diagram("step_5", "2", "raw")
    again = _run([paths[0], dead], inputs, tmp_path / "run", "processes:2", views=["raw"])
    assert again.computed == 0


def test_error_in_a_worker_keeps_its_class_and_names_the_place(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    """With on_error="raise" the constant layer stops the run with its class, naming the
    checkpoint, layer and view; an error raised inside a worker (a bad option found there)
    keeps its class and place too, with the worker's traceback as its cause."""
    _, inputs = setup
    dead = _dead_layer(tmp_path)
    with pytest.raises(ActivationError) as info:
        run_pipeline(
            _model(),
            [dead],
            inputs,
            tmp_path / "run",
            layers=LAYERS,
            views=["raw"],
            homology=HOMOLOGY,
            execution=ExecutionOptions(executor="processes:2", cache=False, on_error="raise"),
        )
    message = str(info.value)
    assert message.startswith("checkpoint 'step_5' layer '2' view 'raw': All 60 points are ")
    assert "identical" in message
    sig = SignificanceOptions(method="subsample", subsample_size=500)  # more than 60 points
    with pytest.raises(ConfigError) as info2:
        _run([dead], inputs, tmp_path / "run2", "processes:2", views=["raw"], significance=sig)
    assert str(info2.value).startswith("checkpoint 'step_5' layer '0' view 'raw': ")
    # raised in a worker: concurrent.futures attaches the worker's traceback as the cause
    assert type(info2.value.__cause__).__name__ == "_RemoteTraceback"
    assert "run_task" in str(info2.value.__cause__)


def test_warnings_from_workers_are_said_once_with_the_count(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path
) -> None:
    """Duplicate probe inputs make every result warn, in worker processes; the run says the
    warning once, with its class and kind, and the number of results."""
    paths, inputs = setup
    duplicated = torch.cat([inputs, inputs[:10]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = _run(paths, duplicated, tmp_path / "run", "processes:2")
    assert out.computed == 8
    ours = [w for w in caught if issubclass(w.category, TdaInterpWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    message = ours[0].message
    assert isinstance(message, TdaInterpWarning) and message.kind == "duplicate-points"
    text = str(message)
    assert text.startswith("10 of 70 points duplicate another point")
    assert " [8 results: checkpoint 'step_" in text and text.endswith("; ...]")
    places = text[text.index("[8 results: ") + len("[8 results: ") : -len("; ...]")]
    assert len(places.split("; ")) == 3
    for place in places.split("; "):
        checkpoint, layer, view = place.split(" ")[1::2]
        assert checkpoint in ("'step_1'", "'step_2'")
        assert layer in ("'0'", "'2'") and view in ("'raw'", "'pc1-2'")


def test_dask_cluster_on_localhost(setup: tuple[list[Path], torch.Tensor], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    paths, inputs = setup
    _run(paths, inputs, tmp_path / "serial", "serial")
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
            out = _run(paths, inputs, tmp_path / "dask", executor)
            out2 = _run(paths, inputs, tmp_path / "dask-spec", f"dask:{cluster.scheduler_address}")
        finally:
            executor.close()
    assert out.computed == out2.computed == 8
    assert _diagrams(tmp_path / "serial") == _diagrams(tmp_path / "dask")
    assert _diagrams(tmp_path / "serial") == _diagrams(tmp_path / "dask-spec")


def test_cache_makes_a_fresh_run_instant(
    setup: tuple[list[Path], torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths, inputs = setup
    cache = tmp_path / "cache"
    calls: list[str] = []
    real = tasks.compute_diagram

    def spy(pts: np.ndarray, view: object, options: RipsOptions):  # type: ignore[no-untyped-def]
        calls.append(str(view))
        return real(pts, view, options)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks, "compute_diagram", spy)
    _run(paths, inputs, tmp_path / "a", "serial", cache=cache)
    assert len(calls) == 8
    out = _run(paths, inputs, tmp_path / "b", "serial", cache=cache)  # new run dir
    assert out.computed == 8 and len(calls) == 8  # stored again, computed never
    assert _diagrams(tmp_path / "a") == _diagrams(tmp_path / "b")
    # other parameters are other content: computed afresh
    other = HOMOLOGY.replace(seed=1, approximation="subsample:30")
    _run(paths, inputs, tmp_path / "c", "serial", cache=cache, homology=other)
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
    out = _run(
        paths[:1],
        inputs,
        tmp_path / "run",
        "serial",
        cache=True,
        layers=["1"],
        views=["standardized", proj],
    )
    assert out.views == ("standardized", "first-three-units")
    stored = Run(tmp_path / "run").diagram("step_1", "1", "first-three-units")
    assert stored.provenance is not None
    assert stored.provenance.view == "first-three-units"


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
        homology=HOMOLOGY,
        significance=SignificanceOptions(n_null=19),
        execution=ExecutionOptions(executor="serial"),
    )
    rows = read_summaries(tmp_path / "run").set_index(["layer", "dim"])
    assert rows.loc[("parts.circle", 1), "n_significant"] == 1
    assert rows.loc[("parts.blob", 1), "n_significant"] == 0
    stored = Run(tmp_path / "run").result("step_1", "parts.circle", "raw")
    calls = stored.significance
    assert calls is not None and calls.diagram == stored.diagram
    assert calls.options.n_null == 19 and len(calls.p_values[1]) == len(stored.diagram[1])


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
