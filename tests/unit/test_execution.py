"""Independent tasks, their content hash, the diagram cache and the executors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tda_interp.exceptions import ActivationError, ConfigError, TdaInterpWarning
from tda_interp.execution import (
    DiagramCache,
    ProcessExecutor,
    RipsTask,
    SerialExecutor,
    make_executor,
    run_task,
    task_key,
)
from tda_interp.homology import vietoris_rips
from tda_interp.homology.views import projection_view


def _circle(n: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t), 0.05 * rng.normal(size=n)]


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ActivationError("point cloud 3 is broken")
    return x


def test_run_task_equals_direct_computation() -> None:
    X = _circle()
    out = run_task(RipsTask(points=X, view="pc1-2", options={"maxdim": 1, "backend": "ripser"}))
    expected = vietoris_rips(X, view="pc1-2", maxdim=1, backend="ripser")
    assert out.diagram == expected
    assert out.diagram.meta["view"] == "pc1-2"
    assert out.warnings == () and not out.cached


def test_task_key_depends_on_content_only() -> None:
    X = _circle()
    base = RipsTask(points=X, view="raw", options={"maxdim": 1}, site="a", checkpoint="c1")
    same = RipsTask(points=X.copy(), view="raw", options={"maxdim": 1}, site="b", checkpoint="c2")
    assert task_key(base) == task_key(same)  # where it came from is not content
    moved = X.copy()
    moved[0, 0] += 1e-12
    for other in (
        RipsTask(points=moved, view="raw", options={"maxdim": 1}),
        RipsTask(points=X.astype(np.float32), view="raw", options={"maxdim": 1}),
        RipsTask(points=X, view="pc1-2", options={"maxdim": 1}),
        RipsTask(points=X, view="raw", options={"maxdim": 2}),
        RipsTask(points=X, view="raw", options={"maxdim": 1, "seed": 1}),
    ):
        assert task_key(other) != task_key(base)
    p1 = projection_view(np.eye(3)[:, :2], name="proj")
    p2 = projection_view(np.eye(3)[:, 1:], name="proj")
    k1 = task_key(RipsTask(points=X, view=p1))
    assert k1 != task_key(RipsTask(points=X, view=p2))  # same name, other matrix


def test_auto_backend_is_resolved_in_the_key() -> None:
    from tda_interp.homology import resolve_backend

    X = _circle()
    auto = RipsTask(points=X, view="raw", options={"backend": "auto"})
    explicit = RipsTask(points=X, view="raw", options={"backend": resolve_backend("auto")})
    assert task_key(auto) == task_key(explicit)


def test_cache_round_trip_and_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    cache = DiagramCache(tmp_path)
    task = RipsTask(points=_circle(), view="raw", options={"backend": "ripser"})
    key = task_key(task)
    assert cache.get(key) is None
    diagram = run_task(task).diagram
    cache.put(key, diagram)
    assert cache.get(key) == diagram
    assert cache.get(key).meta["backend"] == "ripser"  # type: ignore[union-attr]
    path = next(tmp_path.rglob("*.npz"))
    path.write_bytes(b"not a zip file")
    assert cache.get(key) is None


def test_process_executor_matches_serial() -> None:
    tasks = [
        RipsTask(points=_circle(seed=s), view="raw", options={"backend": "ripser"})
        for s in range(5)
    ]
    serial = dict(SerialExecutor().imap(run_task, tasks))
    executor = ProcessExecutor(n_workers=2)
    try:
        parallel = dict(executor.imap(run_task, tasks))
        assert dict(executor.imap(_square, [1, 2, 3])) == {0: 1, 1: 4, 2: 9}  # pool is reused
    finally:
        executor.close()
    assert sorted(parallel) == list(range(5))
    for i in range(5):
        assert parallel[i].diagram == serial[i].diagram


def test_worker_errors_reach_the_caller() -> None:
    executor = ProcessExecutor(n_workers=2)
    try:
        with pytest.raises(ActivationError, match="point cloud 3 is broken"):
            list(executor.imap(_fail_on_three, list(range(6))))
    finally:
        executor.close()
    with pytest.raises(ActivationError):
        list(SerialExecutor().imap(_fail_on_three, [3]))


def test_warnings_are_returned_from_the_task() -> None:
    X = _circle()
    X[3] = np.nan
    out = run_task(RipsTask(points=X, view="raw", options={"drop_nonfinite": True}, site="L"))
    assert len(out.warnings) == 1 and "NaN or Inf" in out.warnings[0]
    assert out.diagram.n_points == len(X) - 1


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("serial", SerialExecutor),
        ("processes", ProcessExecutor),
        ("processes:3", ProcessExecutor),
    ],
)
def test_make_executor_specs(spec: str, kind: type) -> None:
    executor = make_executor(spec, n_tasks=10, work=1.0)
    assert isinstance(executor, kind)
    executor.close()


def test_make_executor_auto_and_errors() -> None:
    assert isinstance(make_executor("auto", n_tasks=100, work=100 * 60**2), SerialExecutor)
    assert isinstance(make_executor(None, n_tasks=48, work=48 * 600**2), ProcessExecutor)
    assert isinstance(make_executor("auto", n_tasks=1, work=1e9), SerialExecutor)
    mine = SerialExecutor()
    assert make_executor(mine, n_tasks=1, work=0) is mine
    with pytest.raises(ConfigError, match="processes:N"):
        make_executor("processes:x", n_tasks=1, work=0)
    with pytest.raises(ConfigError, match="n_workers"):
        list(ProcessExecutor(0).imap(_square, [1]))
    with pytest.raises(ConfigError, match="Unknown executor 'threads'"):
        make_executor("threads", n_tasks=1, work=0)


def test_store_activations_reemits_worker_warnings(tmp_path: Path) -> None:
    from tda_interp.pipeline import HomologyParams, store_activations
    from tda_interp.store import RunWriter, read_summaries

    X = _circle()
    X[0] = np.inf
    writer = RunWriter(tmp_path / "run", {"layers": ["L"]})
    homology = HomologyParams(drop_nonfinite=True, backend="ripser")
    executor = ProcessExecutor(n_workers=1)
    try:
        with pytest.warns(TdaInterpWarning, match="NaN or Inf"):
            n = store_activations(
                writer, "c0", 0, {"L": X}, [("L", "raw")], homology, executor=executor
            )
    finally:
        executor.close()
    assert n == 1
    assert read_summaries(tmp_path / "run")["n_points"].tolist() == [39, 39]
