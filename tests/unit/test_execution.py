"""Independent tasks, their content hash, the diagram cache and the executors."""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tda_interp.exceptions import ActivationError, ConfigError, TdaInterpWarning
from tda_interp.execution import (
    DiagramCache,
    ProcessExecutor,
    RipsTask,
    SerialExecutor,
    WarningLog,
    make_executor,
    run_task,
    task_key,
)
from tda_interp.homology import significance, vietoris_rips
from tda_interp.homology.views import projection_view
from tda_interp.options import RipsOptions, SignificanceOptions


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
    rips = RipsOptions(maxdim=1, backend="ripser")
    out = run_task(RipsTask(points=X, view="pc1-2", rips=rips))
    expected = vietoris_rips(X, view="pc1-2", maxdim=1, backend="ripser")
    assert out.diagram == expected
    assert out.diagram.provenance == expected.provenance
    assert out.diagram.provenance is not None
    assert out.diagram.provenance.view == "pc1-2"
    assert out.significance is None
    assert out.warnings == () and not out.cached


def test_run_task_with_significance_equals_direct_computation() -> None:
    X = _circle()
    rips = RipsOptions(backend="ripser")
    calls = SignificanceOptions(n_null=19)
    out = run_task(RipsTask(points=X, view="raw", rips=rips, significance=calls))
    expected = significance(X, calls, rips=rips)
    assert out.diagram == expected.diagram
    assert out.significance is not None
    assert out.significance.options == calls
    assert out.significance.thresholds == expected.thresholds
    for k in range(rips.maxdim + 1):
        np.testing.assert_array_equal(out.significance.p_values[k], expected.p_values[k])
    assert out.warnings == ()


def test_task_failure_and_error_start_with_its_place() -> None:
    """A cloud that cannot give a diagram comes back as a failure naming its place; a bad
    option is raised, naming it too."""
    X = _circle()
    X[5] = np.nan
    place = "checkpoint 'c1' layer 'fc' view 'raw'"
    out = run_task(RipsTask(points=X, view="raw", place=place))
    assert out.diagram is None and out.significance is None
    assert isinstance(out.failure, ActivationError)
    assert re.match(r"^checkpoint 'c1' layer 'fc' view 'raw': .*NaN", str(out.failure))
    bare = run_task(RipsTask(points=X, view="raw")).failure
    assert bare is not None and str(bare).startswith("1 of 40 points contain NaN")
    sig = SignificanceOptions(method="subsample", subsample_size=500)  # more than 40 points
    with pytest.raises(ConfigError, match=r"^checkpoint 'c1' layer 'fc' view 'raw': .*500"):
        run_task(RipsTask(points=_circle(), view="raw", significance=sig, place=place))


def test_task_key_depends_on_content_only() -> None:
    X = _circle()
    one = RipsOptions(maxdim=1)
    base = RipsTask(points=X, view="raw", rips=one, place="checkpoint 'c1' layer 'a'")
    same = RipsTask(points=X.copy(), view="raw", rips=one, place="checkpoint 'c2' layer 'b'")
    assert task_key(base) == task_key(same)  # where it came from is not content
    moved = X.copy()
    moved[0, 0] += 1e-12
    for other in (
        RipsTask(points=moved, view="raw", rips=one),
        RipsTask(points=X.astype(np.float32), view="raw", rips=one),
        RipsTask(points=X, view="pc1-2", rips=one),
        RipsTask(points=X, view="raw", rips=RipsOptions(maxdim=2)),
        RipsTask(points=X, view="raw", rips=RipsOptions(maxdim=1, seed=1)),
        RipsTask(points=X, view="raw", rips=RipsOptions(maxdim=1, coeff=3)),
        RipsTask(points=X, view="raw", rips=RipsOptions(maxdim=1, approximation="auto")),
        RipsTask(points=X, view="raw", rips=one, significance=SignificanceOptions()),
    ):
        assert task_key(other) != task_key(base)
    gaussian = SignificanceOptions(method="gaussian")
    calls = RipsTask(points=X, view="raw", rips=one, significance=gaussian)
    fewer = RipsTask(points=X, view="raw", rips=one, significance=gaussian.replace(n_null=39))
    assert task_key(calls) != task_key(fewer)
    # the universal test draws no null clouds: n_null is not part of what it computes
    universal = RipsTask(points=X, view="raw", rips=one, significance=SignificanceOptions())
    other = RipsTask(points=X, view="raw", rips=one, significance=SignificanceOptions(n_null=39))
    assert task_key(universal) == task_key(other)
    p1 = projection_view(np.eye(3)[:, :2], name="proj")
    p2 = projection_view(np.eye(3)[:, 1:], name="proj")
    k1 = task_key(RipsTask(points=X, view=p1))
    assert k1 != task_key(RipsTask(points=X, view=p2))  # same name, other matrix


def test_auto_backend_is_resolved_in_the_key() -> None:
    from tda_interp.homology import resolve_backend

    X = _circle()
    auto = RipsTask(points=X, view="raw", rips=RipsOptions(backend="auto"))
    explicit = RipsTask(points=X, view="raw", rips=RipsOptions(backend=resolve_backend("auto")))
    assert task_key(auto) == task_key(explicit)


def test_cache_round_trip_and_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    cache = DiagramCache(tmp_path)
    task = RipsTask(points=_circle(), view="raw", rips=RipsOptions(backend="ripser"))
    key = task_key(task)
    assert cache.get(key) is None
    diagram = run_task(task).diagram
    cache.put(key, diagram)
    hit = cache.get(key)
    assert hit is not None
    cached, calls = hit
    assert cached == diagram
    assert calls is None
    assert cached.provenance == diagram.provenance
    assert cached.provenance is not None and cached.provenance.backend == "ripser"
    path = next(tmp_path.rglob("*.npz"))
    path.write_bytes(b"not a zip file")
    assert cache.get(key) is None


def test_cache_keeps_significance_calls(tmp_path: Path) -> None:
    cache = DiagramCache(tmp_path)
    task = RipsTask(
        points=_circle(),
        view="raw",
        rips=RipsOptions(backend="ripser"),
        significance=SignificanceOptions(n_null=19),
    )
    out = run_task(task)
    assert out.significance is not None
    cache.put(task_key(task), out.diagram, out.significance)
    hit = cache.get(task_key(task))
    assert hit is not None
    cached, calls = hit
    assert cached == out.diagram
    assert calls is not None
    assert calls.options == out.significance.options
    assert calls.seed == out.significance.seed
    assert calls.thresholds == out.significance.thresholds
    for k in range(out.diagram.maxdim + 1):
        np.testing.assert_array_equal(calls.p_values[k], out.significance.p_values[k])
        np.testing.assert_array_equal(calls.significant[k], out.significance.significant[k])
        np.testing.assert_array_equal(calls.null_statistics[k], out.significance.null_statistics[k])


def test_process_executor_matches_serial() -> None:
    tasks = [
        RipsTask(points=_circle(seed=s), view="raw", rips=RipsOptions(backend="ripser"))
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
        assert parallel[i].diagram.provenance == serial[i].diagram.provenance


def test_executors_are_context_managers() -> None:
    with ProcessExecutor(n_workers=1) as executor:
        assert dict(executor.imap(_square, [2, 3])) == {0: 4, 1: 9}
        assert executor._pool is not None
    assert executor._pool is None  # closed on exit
    with SerialExecutor() as serial:
        assert dict(serial.imap(_square, [4])) == {0: 16}


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
    task = RipsTask(points=X, view="raw", rips=RipsOptions(nonfinite="drop"), place="layer 'L'")
    out = run_task(task)
    assert len(out.warnings) == 1
    assert isinstance(out.warnings[0], TdaInterpWarning)
    assert "NaN or Inf" in str(out.warnings[0])
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


def test_compute_results_reemits_worker_warnings(tmp_path: Path) -> None:
    from tda_interp.pipeline import compute_results, plan_run
    from tda_interp.store import RunWriter, read_summaries

    X = _circle()
    X[0] = np.inf
    model = nn.Sequential(OrderedDict(L=nn.Linear(3, 3)))
    plan = plan_run(
        model,
        torch.zeros(4, 3),
        ["L"],
        ["raw"],
        homology=RipsOptions(nonfinite="drop", backend="ripser"),
    )
    writer = RunWriter(tmp_path / "run", plan.params)
    log = WarningLog()
    executor = ProcessExecutor(n_workers=1)
    try:
        n = compute_results(
            writer, plan, "c0", 0, {"L": X}, [("L", "raw")], executor=executor, cache=None, log=log
        )
    finally:
        executor.close()
    assert n == 1
    assert log.counts() == {"nonfinite-dropped": 1}  # the kind survived the worker process
    with pytest.warns(TdaInterpWarning, match="NaN or Inf") as caught:
        log.emit()
    assert len(caught) == 1
    assert "[checkpoint 'c0' layer 'L' view 'raw']" in str(caught[0].message)
    assert read_summaries(tmp_path / "run")["n_points"].tolist() == [39, 39]
