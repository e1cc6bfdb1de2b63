"""Run directories: round trips, awkward names, crashes and resumption, corrupt files."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from torch import nn

import tda_interp.execution.tasks as tasks
import tda_interp.pipeline as pipeline
from tda_interp.diagrams import Diagram, summarize
from tda_interp.exceptions import RunDirError, TdaInterpWarning
from tda_interp.homology import significance, vietoris_rips
from tda_interp.homology.views import View, ViewLike
from tda_interp.options import ExecutionOptions, RipsOptions
from tda_interp.store import (
    Result,
    Run,
    RunWriter,
    atomic_write_bytes,
    decode_component,
    encode_component,
    iter_results,
    read_diagram,
    read_manifest,
    read_summaries,
    result_path,
)

INF = np.inf
_REAL_REPLACE = os.replace
PARAMS: dict[str, Any] = {
    "layers": ["embed", "blocks.0/out"],
    "views": ["raw", "pc1-2"],
    "homology": RipsOptions(maxdim=1).params(),
}
SUMMARY_COLUMNS = [
    "checkpoint",
    "step",
    "layer",
    "view",
    "dim",
    "n_bars",
    "n_infinite",
    "n_long",
    "max_persistence",
    "max_rel_persistence",
    "second_rel_persistence",
    "total_rel_persistence",
    "entropy",
    "scale",
    "n_points",
    "bound_rel",
    "betti_at_0.10",
    "betti_at_0.25",
    "betti_at_0.50",
]
# a real provenance: that of an exact H0 diagram of 3 points
PROVENANCE = vietoris_rips([[0.0], [1.0], [3.0]], maxdim=0, backend="ripser").provenance


def diagram(shift: float = 0.0) -> Diagram:
    return Diagram(
        pairs=[[[0.0, INF], [0.0, 1.0 + shift], [0.0, 0.5]], [[0.5, 2.0 + shift]]],
        scale=4.0 + shift,
        n_points=3,
        provenance=PROVENANCE,
    )


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def result_tuple(r: Result) -> tuple[Any, ...]:
    """Everything a result holds, in a form ``==`` compares (NaN summaries included)."""
    return (r.checkpoint, r.step, r.layer, r.view, r.diagram, r.diagram.provenance,
            r.significance, repr(r.summary))  # fmt: skip


# ---------------------------------------------------------------------- round trip
def test_write_read_round_trip(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "run", PARAMS, info={"model": "toy"})
    for step, label in ((0, "step_0"), (100, "step_100")):
        w.add_checkpoint(label, step)
        for layer in PARAMS["layers"]:
            for view in PARAMS["views"]:
                w.write(label, layer, view, diagram(step / 100), step=step)

    run = Run(tmp_path / "run")
    back = run.diagram("step_100", "blocks.0/out", "pc1-2")
    assert back == diagram(1.0)
    assert back.provenance == diagram().provenance
    result = run.result("step_100", "blocks.0/out", "pc1-2")
    assert (result.checkpoint, result.step, result.layer, result.view) == (
        "step_100",
        100,
        "blocks.0/out",
        "pc1-2",
    )
    assert result.significance is None

    df = read_summaries(tmp_path / "run")
    assert list(df.columns) == SUMMARY_COLUMNS
    assert len(df) == 2 * 2 * 2 * 2
    assert not df.duplicated(["checkpoint", "layer", "view", "dim"]).any()
    row = df[(df.checkpoint == "step_100") & (df.layer == "embed") & (df.view == "raw")]
    expected = summarize(diagram(1.0))
    assert row["dim"].tolist() == [0, 1]
    assert row["step"].tolist() == [100, 100]
    assert row["max_persistence"].tolist() == [r["max_persistence"] for r in expected]
    assert row["n_infinite"].tolist() == [1, 0]
    assert run.summaries().equals(df)

    assert run.params == PARAMS
    assert run.manifest["params"] == PARAMS
    assert run.info == {"model": "toy"}
    assert [c.label for c in run.checkpoints] == ["step_0", "step_100"]
    assert [c.step for c in run.checkpoints] == [0, 100]
    assert run.layers == ("embed", "blocks.0/out")
    assert run.views == ("raw", "pc1-2")
    assert run.format_version == 2
    assert "numpy" in run.versions


def test_deprecated_readers_warn_and_agree_with_run(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS, info={"model": "toy"})
    w.add_checkpoint("c", 0)
    for i, layer in enumerate(PARAMS["layers"]):
        w.write("c", layer, "raw", diagram(i), step=0)
    run = Run(tmp_path)

    with pytest.warns(DeprecationWarning, match=r"read_manifest.*Run\(run_dir\)\.manifest"):
        manifest = read_manifest(tmp_path)
    assert manifest == run.manifest

    with pytest.warns(DeprecationWarning, match=r"iter_results.*Run\(run_dir\)\.results\(\)"):
        results = list(iter_results(tmp_path))
    assert [result_tuple(r) for r in results] == [result_tuple(r) for r in run.results()]
    assert len(results) == 2

    with pytest.warns(DeprecationWarning, match=r"read_diagram.*Run\(run_dir\)\.diagram"):
        back = read_diagram(tmp_path, "c", "blocks.0/out", "raw")
    assert back == run.diagram("c", "blocks.0/out", "raw") == diagram(1)
    assert back.provenance == run.diagram("c", "blocks.0/out", "raw").provenance


def test_result_file_loads_without_pickle(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    path = w.write("c", "embed", "raw", diagram(), step=0)
    assert path == result_path(tmp_path, "c", "embed", "raw")
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {"dgm_0", "dgm_1", "record"}
        np.testing.assert_array_equal(npz["dgm_0"], diagram()[0])


@pytest.mark.parametrize("method", ["universal", "gaussian"])
def test_significance_is_stored_beside_the_diagram(
    tmp_path: Path, noisy_circle: NDArray[np.float64], method: str
) -> None:
    calls = significance(noisy_circle, method=method, n_null=19, backend="ripser")
    w = RunWriter(tmp_path, PARAMS)
    path = w.write("c", "embed", "raw", calls.diagram, step=0, significance=calls)
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {
            "dgm_0",
            "dgm_1",
            "sig_p_0",
            "sig_p_1",
            "sig_null_0",
            "sig_null_1",
            "sig_calls_0",
            "sig_calls_1",
            "record",
        }
    back = Run(tmp_path).result("c", "embed", "raw")
    assert back.diagram == calls.diagram
    assert back.diagram.provenance == calls.diagram.provenance
    sig = back.significance
    assert sig is not None
    assert sig.options == calls.options
    assert sig.seed == calls.seed
    assert sig.thresholds == calls.thresholds
    assert sig.normalisation == calls.normalisation and len(sig.normalisation) == 2
    assert sig.widened_by == calls.widened_by
    for k in range(calls.maxdim + 1):
        np.testing.assert_array_equal(sig.p_values[k], calls.p_values[k])
        np.testing.assert_array_equal(sig.significant[k], calls.significant[k])
        np.testing.assert_array_equal(sig.null_statistics[k], calls.null_statistics[k])
    assert sig.n_significant == calls.n_significant
    assert calls.n_significant[1] == 1  # the circle's loop
    df = read_summaries(tmp_path)
    assert df["n_significant"].tolist() == list(calls.n_significant)


def test_empty_run_reads_as_empty_frame(tmp_path: Path) -> None:
    RunWriter(tmp_path, PARAMS)
    df = read_summaries(tmp_path)
    assert len(df) == 0
    assert list(df.columns)[:5] == ["checkpoint", "step", "layer", "view", "dim"]
    assert list(Run(tmp_path).results()) == []


def test_is_done(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    assert not w.is_done("c", "embed", "raw")
    w.write("c", "embed", "raw", diagram(), step=0)
    assert w.is_done("c", "embed", "raw")
    assert not w.is_done("c", "embed", "pc1-2")


def test_results_follow_manifest_checkpoint_order(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    labels = ["step_10", "step_2", "final", "a_first"]
    for i, label in enumerate(labels):
        w.add_checkpoint(label, i)
    for label in reversed(labels):  # written out of order
        for view in ("pc1-2", "raw"):
            w.write(label, "blocks.0/out", view, diagram(), step=labels.index(label))
            w.write(label, "embed", view, diagram(), step=labels.index(label))
    got = [(r.checkpoint, r.layer, r.view) for r in Run(tmp_path).results()]
    assert got == [
        (c, layer, v) for c in labels for layer in PARAMS["layers"] for v in PARAMS["views"]
    ]
    assert read_summaries(tmp_path)["checkpoint"].drop_duplicates().tolist() == labels


# ---------------------------------------------------------------------- names
AWKWARD = [
    "a/b",
    "<script>alert(1)</script>",
    "blocks.0.mlp",
    "名前/层",
    "..",
    ".",
    "",
    "%2F",
    "a b?c#d",
    "%00empty",
]


@pytest.mark.parametrize("name", AWKWARD)
def test_encode_component_round_trip(name: str) -> None:
    enc = encode_component(name)
    assert "/" not in enc
    assert "\\" not in enc
    assert enc not in ("", ".", "..")
    assert "<" not in enc
    assert decode_component(enc) == name


def test_encode_component_is_injective() -> None:
    encoded = [encode_component(n) for n in AWKWARD]
    assert len(set(encoded)) == len(AWKWARD)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_encode_component_round_trip_property(name: str) -> None:
    enc = encode_component(name)
    assert "/" not in enc
    assert enc not in ("", ".", "..")
    assert len(enc.encode("utf-8")) <= 200  # one file name, whatever the name
    if len(quote(name, safe="")) <= 200:  # short enough to be kept whole: the documented case
        assert decode_component(enc) == name
    else:  # too long: a readable prefix and a hash of the whole name (kept in the record)
        assert enc.endswith(hashlib.sha256(name.encode("utf-8")).hexdigest()[:16])


def test_awkward_names_round_trip_through_the_store(tmp_path: Path) -> None:
    layers = ["a/b", "<script>", "名前/层", "..", ""]
    w = RunWriter(tmp_path / "run", {"layers": layers, "views": ["raw"]})
    w.add_checkpoint("ckpt/../x", 0)
    for i, layer in enumerate(layers):
        w.write("ckpt/../x", layer, "raw", diagram(i), step=0)
    # everything stays inside results/, one file per layer
    files = all_files(tmp_path / "run" / "results")
    assert len(files) == len(layers)
    assert all((tmp_path / "run" / "results") in f.parents for f in files)
    run = Run(tmp_path / "run")
    got = {r.layer: r for r in run.results()}
    assert list(got) == layers
    for i, layer in enumerate(layers):
        assert got[layer].checkpoint == "ckpt/../x"
        assert got[layer].diagram == diagram(i)
        assert run.diagram("ckpt/../x", layer, "raw") == diagram(i)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(min_size=0, max_size=20))
def test_any_layer_name_round_trips_through_the_store(tmp_path: Path, name: str) -> None:
    w = RunWriter(tmp_path, {"layers": ["x"]})
    w.write("c", name, "raw", diagram(), step=0)
    run = Run(tmp_path)
    assert run.diagram("c", name, "raw") == diagram()
    assert name in {r.layer for r in run.results()}


# ---------------------------------------------------------------------- atomicity
def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert all_files(tmp_path) == [target]


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_atomic_write_keeps_old_file_when_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, fail_at, boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new" * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert all_files(tmp_path) == [target]  # no temporary file left behind


def test_atomic_write_survives_keyboard_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert all_files(tmp_path) == [target]


# ---------------------------------------------------------------------- crash and resume
class Crash(RuntimeError):
    pass


@pytest.fixture
def crash_on_nth_result(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Make the rename of the n-th result file (.npz) raise, as a crash mid-run would."""

    def arm(n: int) -> None:
        real = os.replace
        count = {"npz": 0}

        def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if str(dst).endswith(".npz"):
                count["npz"] += 1
                if count["npz"] == n:
                    raise Crash(f"simulated crash on result {n}")
            real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", replace)

    return arm


def spy_compute_diagram(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Replace the computation a task runs (``tasks.compute_diagram``) by a spy that records
    (view, digest of the cloud): one entry per diagram computed, equal for the same cloud."""
    calls: list[tuple[str, str]] = []
    real = tasks.compute_diagram

    def spy(pts: NDArray[np.float64], view: ViewLike, options: RipsOptions) -> Diagram:
        name = view.name if isinstance(view, View) else str(view)
        calls.append((name, hashlib.sha256(np.ascontiguousarray(pts).tobytes()).hexdigest()))
        return real(pts, view, options)

    monkeypatch.setattr(tasks, "compute_diagram", spy)
    return calls


CLOUDS = {
    (c, layer): np.random.default_rng(10 * i + j).normal(size=(12, 3))
    for i, c in enumerate(["step_0", "step_5", "step_9"])
    for j, layer in enumerate(["embed", "out"])
}


def run_loop(run_dir: Path, rips: Callable[[str, str, str], Diagram]) -> int:
    """A minimal resumable run loop over (checkpoint, layer, view)."""
    w = RunWriter(run_dir, {"layers": ["embed", "out"], "views": ["raw", "pca2"]})
    computed = 0
    for step, c in enumerate(["step_0", "step_5", "step_9"]):
        w.add_checkpoint(c, step)
        for layer in ("embed", "out"):
            for view in ("raw", "pca2"):
                if w.is_done(c, layer, view):
                    continue
                d = rips(c, layer, view)
                w.write(c, layer, view, d, step=step)
                computed += 1
    return computed


@pytest.mark.parametrize("k", [1, 5, 12])
def test_crash_then_resume_recomputes_only_unfinished(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    crash_on_nth_result: Callable[[int], None],
    k: int,
) -> None:
    calls: list[tuple[str, str, str]] = []

    def rips(checkpoint: str, layer: str, view: str) -> Diagram:
        calls.append((checkpoint, layer, view))
        return vietoris_rips(CLOUDS[checkpoint, layer], view=view, backend="ripser")

    run_dir = tmp_path / "run"
    crash_on_nth_result(k)
    with pytest.raises(Crash):
        run_loop(run_dir, rips)
    monkeypatch.setattr(os, "replace", _REAL_REPLACE)

    assert len(calls) == k
    finished = all_files(run_dir / "results")
    assert len(finished) == k - 1
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    assert len(list(Run(run_dir).results())) == k - 1
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in finished}

    assert run_loop(run_dir, rips) == 12 - (k - 1)
    assert len(calls) == k + 12 - (k - 1)
    assert len(set(calls)) == 12  # each result computed once, plus the retry of the crashed one
    assert calls[k] == calls[k - 1]  # the rerun starts with the result that crashed
    for p, stamp in stamps.items():
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp  # finished files untouched
    assert len(list(Run(run_dir).results())) == 12
    assert run_loop(run_dir, rips) == 0


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 3))


@pytest.fixture
def tiny_checkpoints(tmp_path: Path) -> list[Path]:
    paths = []
    (tmp_path / "ckpts").mkdir()
    for step in (0, 10):
        path = tmp_path / "ckpts" / f"step_{step:02d}.pt"
        state = {k: v + 0.1 * step for k, v in _tiny_model().state_dict().items()}
        torch.save(state, path)
        paths.append(path)
    return paths


def test_pipeline_resumes_after_a_crash(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    crash_on_nth_result: Callable[[int], None],
    tiny_checkpoints: list[Path],
) -> None:
    # The run directory alone must make the rerun resume: no diagram cache, and tasks run in
    # this process so that the spy sees every computation.
    calls = spy_compute_diagram(monkeypatch)
    inputs = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    kwargs: dict[str, Any] = {
        "layers": ["0", "2"],
        "views": ["raw", "pc1-2"],
        "homology": RipsOptions(backend="ripser"),
        "execution": ExecutionOptions(executor="serial", cache=False),
    }
    run_dir = tmp_path / "run"
    crash_on_nth_result(6)
    with pytest.raises(Crash):
        pipeline.run_pipeline(_tiny_model(), tiny_checkpoints, inputs, run_dir, **kwargs)
    monkeypatch.setattr(os, "replace", _REAL_REPLACE)
    assert len(calls) == 6
    assert len(all_files(run_dir / "results")) == 5
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]

    outcome = pipeline.run_pipeline(_tiny_model(), tiny_checkpoints, inputs, run_dir, **kwargs)
    assert outcome.computed == 3
    assert outcome.skipped == 5
    assert len(calls) == 9
    assert len(set(calls)) == 8
    assert calls[6] == calls[5]  # the rerun starts with the result that crashed
    df = read_summaries(run_dir)
    assert len(df) == 8 * 2
    assert df["checkpoint"].drop_duplicates().tolist() == ["step_00", "step_10"]


# ---------------------------------------------------------------------- incompatible dirs
def test_other_params_raise_naming_the_differing_keys(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.write("c", "embed", "raw", diagram(), step=0)
    other = PARAMS | {"homology": RipsOptions(maxdim=2, seed=1).params(), "views": ["raw"]}
    with pytest.raises(RunDirError) as info:
        RunWriter(tmp_path, other)
    msg = str(info.value)
    assert "differing: homology.maxdim, homology.seed, views" in msg
    assert "layers" not in msg
    assert "approximation" not in msg
    assert "overwrite=True" in msg
    assert w.is_done("c", "embed", "raw")  # nothing was deleted


def test_same_params_resume(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.add_checkpoint("c", 0, fingerprint="sha256:aa")
    w.write("c", "embed", "raw", diagram(), step=0)
    w2 = RunWriter(tmp_path, dict(PARAMS), info={"note": "resumed"})
    assert w2.is_done("c", "embed", "raw")
    w2.add_checkpoint("c", 0, fingerprint="sha256:aa")  # same fingerprint: fine
    run = Run(tmp_path)
    assert len(run.checkpoints) == 1
    assert run.checkpoints[0].fingerprint == "sha256:aa"
    assert run.info == {"note": "resumed"}


def test_overwrite_clears_results(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.add_checkpoint("c", 0)
    w.write("c", "embed", "raw", diagram(), step=0)
    other = PARAMS | {"homology": RipsOptions(maxdim=2).params()}
    w2 = RunWriter(tmp_path, other, overwrite=True)
    assert not w2.is_done("c", "embed", "raw")
    run = Run(tmp_path)
    assert list(run.results()) == []
    assert run.params["homology"]["maxdim"] == 2
    assert run.checkpoints == ()


def test_changed_checkpoint_fingerprint_raises(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.add_checkpoint("step_1", 1, source="ckpts/step_1.pt", fingerprint="sha256:aa")
    w.write("step_1", "embed", "raw", diagram(), step=1)
    w2 = RunWriter(tmp_path, PARAMS)
    with pytest.raises(RunDirError, match=r"'step_1'.*changed"):
        w2.add_checkpoint("step_1", 1, source="ckpts/step_1.pt", fingerprint="sha256:bb")


def test_overwrite_recovers_from_a_changed_checkpoint(tmp_path: Path) -> None:
    # The fingerprint error says "pass overwrite=True to recompute everything"; that advice
    # must work also when the parameters are unchanged.
    w = RunWriter(tmp_path, PARAMS)
    w.add_checkpoint("step_1", 1, fingerprint="sha256:aa")
    w.write("step_1", "embed", "raw", diagram(), step=1)
    w2 = RunWriter(tmp_path, PARAMS, overwrite=True)
    w2.add_checkpoint("step_1", 1, fingerprint="sha256:bb")
    assert not w2.is_done("step_1", "embed", "raw")


# ---------------------------------------------------------------------- missing / corrupt
def test_read_manifest_of_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"manifest\.json is missing"):
        Run(tmp_path / "nope")
    with pytest.raises(RunDirError):
        read_summaries(tmp_path / "nope")


def test_foreign_or_broken_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{not json")
    for read in (lambda: Run(tmp_path), lambda: RunWriter(tmp_path, PARAMS)):
        with pytest.raises(
            RunDirError, match=r"Cannot read the manifest .*: not valid JSON"
        ) as info:
            read()
        assert str(manifest) in str(info.value)
    for text in ('{"format": "something-else"}', "[1, 2]"):
        manifest.write_text(text)
        with pytest.raises(RunDirError, match="not a tda-interp run manifest"):
            Run(tmp_path)
        with pytest.raises(RunDirError, match="not a tda-interp run manifest"):
            RunWriter(tmp_path, PARAMS)


def test_manifest_of_a_newer_version_is_refused(tmp_path: Path) -> None:
    RunWriter(tmp_path, PARAMS)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format_version": 2', '"format_version": 3'))
    with pytest.raises(RunDirError, match=r"newer tda-interp.*format 3"):
        Run(tmp_path)
    with pytest.raises(RunDirError, match="newer tda-interp"):
        RunWriter(tmp_path, PARAMS)


def test_read_diagram_missing_result(tmp_path: Path) -> None:
    RunWriter(tmp_path, PARAMS)
    with pytest.raises(RunDirError, match="'embed'"):
        Run(tmp_path).diagram("c", "embed", "raw")
    with pytest.raises(RunDirError, match="'embed'"):
        Run(tmp_path).result("c", "embed", "raw")


def _corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(b"this is not an npz file at all")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "no_record":
        np.savez(path.with_suffix(""), dgm_0=np.zeros((0, 2)))
    elif how == "bad_record":
        np.savez(path.with_suffix(""), dgm_0=np.zeros((0, 2)), record=np.array('{"view": 1}'))
    elif how == "future_version":
        record = '{"format_version": 99, "scale": 1.0, "n_points": 2}'
        np.savez(path.with_suffix(""), dgm_0=np.zeros((0, 2)), record=np.array(record))


@pytest.mark.parametrize(
    "how", ["garbage", "truncated", "empty", "no_record", "bad_record", "future_version"]
)
def test_corrupt_result_file_is_skipped_by_readers_and_recomputed_on_resume(
    tmp_path: Path, how: str
) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.write("c", "embed", "raw", diagram(), step=0)
    path = w.write("c", "embed", "pc1-2", diagram(), step=0)
    _corrupt(path, how)
    # readers leave it out with one warning naming it; the others still read
    with pytest.warns(TdaInterpWarning, match="1 result file") as caught:
        results = list(Run(tmp_path).results())
    assert [r.view for r in results] == ["raw"]
    assert str(path.relative_to(tmp_path)) in str(caught[0].message)
    assert caught[0].message.kind == "damaged-results"  # type: ignore[union-attr]
    with pytest.raises(RunDirError) as info:  # asked for by name: an error naming the file
        Run(tmp_path).diagram("c", "embed", "pc1-2")
    assert str(path) in str(info.value)
    assert Run(tmp_path).diagram("c", "embed", "raw") == diagram()
    # a resumed run does not take it for done: it is recomputed and listed
    again = RunWriter(tmp_path, PARAMS)
    assert again.is_done("c", "embed", "raw") and not again.is_done("c", "embed", "pc1-2")
    assert again.recomputed == [path]


def test_run_dir_error_is_runtime_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        Run(tmp_path)


@pytest.fixture(autouse=True)
def _no_leaked_patch() -> Iterator[None]:
    yield
    assert os.replace is _REAL_REPLACE


# ---------------------------------------------------------------------- never lose a user's files
def test_a_folder_holding_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "data.csv").write_text("1,2")
    with pytest.raises(RunDirError, match=r"is not empty \(notes.txt, results\)") as info:
        RunWriter(tmp_path, PARAMS)
    assert "not a tda-interp run directory" in str(info.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data.csv", "notes.txt", "results"]


def test_overwrite_deletes_only_what_the_tool_wrote(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.write("c", "embed", "raw", diagram(), step=0)
    (tmp_path / "results" / "data.csv").write_text("the user's")
    (tmp_path / "results" / "c" / "notes.md").write_text("the user's too")
    (tmp_path / "README").write_text("and this")
    RunWriter(tmp_path, PARAMS | {"views": ["raw"]}, overwrite=True)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        ".tda-interp.lock", "README", "manifest.json", "results/c/notes.md", "results/data.csv"
    ]  # fmt: skip
    assert Run(tmp_path).params["views"] == ["raw"]


def test_a_truncated_manifest_is_recoverable_with_overwrite(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.write("c", "embed", "raw", diagram(), step=0)
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:40])
    with pytest.raises(RunDirError, match="not valid JSON"):
        RunWriter(tmp_path, PARAMS)
    fresh = RunWriter(tmp_path, PARAMS, overwrite=True)
    assert not fresh.is_done("c", "embed", "raw") and Run(tmp_path).params == fresh.params


def test_a_foreign_manifest_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"format": "someone-else"}')
    with pytest.raises(RunDirError, match="not a tda-interp run manifest"):
        RunWriter(tmp_path, PARAMS, overwrite=True)
    assert (tmp_path / "manifest.json").read_text() == '{"format": "someone-else"}'


def test_a_run_without_results_restarts_with_new_parameters(tmp_path: Path) -> None:
    """A first run stopped before any result (a bad option found late) does not block the
    corrected rerun."""
    RunWriter(tmp_path, PARAMS)
    again = RunWriter(tmp_path, PARAMS | {"maxdim": 2})
    assert again.manifest["params"]["maxdim"] == 2 == Run(tmp_path).params["maxdim"]


def test_results_of_other_parameters_are_not_reused_when_the_manifest_is_lost(
    tmp_path: Path,
) -> None:
    w = RunWriter(tmp_path, PARAMS)
    w.write("c", "embed", "raw", diagram(), step=0)
    (tmp_path / "manifest.json").unlink()
    # the folder holds only this tool's results: a run that lost its manifest, reopened
    same = RunWriter(tmp_path, PARAMS)
    assert same.is_done("c", "embed", "raw")
    (tmp_path / "manifest.json").unlink()
    other = RunWriter(tmp_path, PARAMS | {"maxdim": 2})
    assert not other.is_done("c", "embed", "raw")  # computed with other parameters
    with pytest.warns(TdaInterpWarning, match="computed with other parameters"):
        assert list(Run(tmp_path).results()) == []


def test_stale_temporary_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    path = w.write("c", "embed", "raw", diagram(), step=0)
    old = path.parent / f".{path.name}.abc123.tmp"
    fresh = path.parent / f".{path.name}.def456.tmp"
    stale_manifest = tmp_path / ".manifest.json.zz.tmp"
    for tmp in (old, fresh, stale_manifest):
        tmp.write_bytes(b"half a file")
    for tmp in (old, stale_manifest):
        os.utime(tmp, (0, 0))  # written long ago: a writer killed mid-write
    user = path.parent / "keep.tmp"
    user.write_text("not ours")
    os.utime(user, (0, 0))
    RunWriter(tmp_path, PARAMS)
    assert not old.exists() and not stale_manifest.exists()
    assert fresh.exists() and user.exists()  # maybe being written now; not ours


def _open_in_child(run_dir: str, maxdim: int, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        writer = RunWriter(run_dir, PARAMS | {"maxdim": maxdim})
        results.put("ok")
        time.sleep(1.0)  # a run goes on writing for a while
        writer.close()
    except RunDirError as err:
        results.put(f"refused: {err}")


def test_two_processes_creating_one_run_with_other_parameters(tmp_path: Path) -> None:
    """One of two racing processes wins, the other is refused, whoever comes first (no
    check-then-create race): the run directory is locked while written, and its manifest is
    created exclusively."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(8):
        run_dir = str(tmp_path / f"run{trial}")
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [
            ctx.Process(target=_open_in_child, args=(run_dir, maxdim, barrier, results))
            for maxdim in (1, 2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in procs)
        assert outcomes[0] == "ok" and outcomes[1].startswith("refused"), outcomes
        assert (
            "being written by another process" in outcomes[1]
            or "differing: maxdim" in (outcomes[1])
        )
        assert Run(run_dir).params["maxdim"] in (1, 2)  # one whole manifest
