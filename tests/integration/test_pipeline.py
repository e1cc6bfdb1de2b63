"""The pipeline end to end on the demo architecture: checkpoints -> run directory."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tda_interp import pipeline
from tda_interp.demo.modular import ModularMLP, make_model, probe_inputs, train
from tda_interp.exceptions import (
    ActivationError,
    CheckpointError,
    ConfigError,
    RunDirError,
    SiteNotFoundError,
    TdaInterpWarning,
)
from tda_interp.execution import tasks
from tda_interp.hooks.checkpoints import CheckpointSpec
from tda_interp.options import (
    CaptureOptions,
    ExecutionOptions,
    RipsOptions,
    SignificanceOptions,
)
from tda_interp.store import Run, read_summaries

# the module, not the function ``tda_interp.homology.significance`` that shadows its name
significance_module = sys.modules["tda_interp.homology.significance"]

LAYERS = ["embed", "mlp", "unembed"]
VIEWS = ["raw", "pc1-2"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return train(tmp_path_factory.mktemp("ckpt"), steps=40, every=20)


def _run(checkpoints: CheckpointSpec, run_dir: Path, **kwargs: object) -> pipeline.RunOutcome:
    options: dict[str, object] = {
        "layers": LAYERS,
        "views": VIEWS,
        "capture": CaptureOptions(reduction="flatten"),
        # spies below must see every computation in this process; the run directory alone
        # must make reruns resume
        "execution": ExecutionOptions(executor="serial", cache=False),
    } | kwargs
    return pipeline.run_pipeline(make_model(), checkpoints, probe_inputs(), run_dir, **options)  # type: ignore[arg-type]


def _hidden(checkpoint: Path) -> np.ndarray:
    """The ``mlp`` activations of the probe set at ``checkpoint``, computed by hand."""
    from safetensors.torch import load_file

    model = ModularMLP()
    model.load_state_dict(load_file(str(checkpoint)))
    with torch.no_grad():
        return model.mlp(model.embed(probe_inputs()).flatten(1)).numpy()


def test_every_checkpoint_layer_view_is_stored(checkpoints: list[Path], tmp_path: Path) -> None:
    outcome = _run(checkpoints, tmp_path / "run")
    assert outcome.computed == len(checkpoints) * len(LAYERS) * len(VIEWS)
    df = read_summaries(tmp_path / "run")
    assert len(df) == outcome.computed * 2  # H0 and H1 rows
    assert list(df["checkpoint"].unique()) == ["step_00000", "step_00020", "step_00040"]
    assert list(df["step"].unique()) == [0, 20, 40]
    assert set(df["layer"]) == set(LAYERS) and set(df["view"]) == set(VIEWS)
    assert (df["n_points"] == 59).all()
    run = Run(tmp_path / "run")
    assert run.params["layers"] == LAYERS
    assert run.params["inputs"]["n_inputs"] == 59
    assert run.manifest["versions"]["torch"].startswith("2.")
    assert [c.label for c in run.checkpoints] == list(outcome.checkpoints)


def test_single_checkpoint_path_string_and_glob(checkpoints: list[Path], tmp_path: Path) -> None:
    """A path given as one string is one checkpoint (never its characters); a glob or a folder
    is every checkpoint it matches, in natural step order."""
    per_checkpoint = len(LAYERS) * len(VIEWS)
    one = _run(str(checkpoints[-1]), tmp_path / "one")
    assert one.checkpoints == ("step_00040",)
    assert one.computed == per_checkpoint
    assert [c.source for c in Run(tmp_path / "one").checkpoints] == [str(checkpoints[-1])]
    assert _run(checkpoints[-1], tmp_path / "one").computed == 0  # a Path: the same checkpoint

    labels = ("step_00000", "step_00020", "step_00040")
    glob = _run(str(checkpoints[0].parent / "step_*.safetensors"), tmp_path / "glob")
    assert glob.checkpoints == labels
    assert glob.computed == len(labels) * per_checkpoint
    folder = _run(str(checkpoints[0].parent), tmp_path / "glob")  # the folder: same checkpoints
    assert folder.checkpoints == labels and folder.computed == 0
    with pytest.raises(CheckpointError, match="step_9"):
        _run(str(checkpoints[0].parent / "step_9*.safetensors"), tmp_path / "none")


def test_stored_diagram_equals_direct_computation(checkpoints: list[Path], tmp_path: Path) -> None:
    _run(checkpoints, tmp_path / "run")
    from tda_interp.homology import vietoris_rips

    expected = vietoris_rips(_hidden(checkpoints[-1]), view="pc1-2")
    stored = Run(tmp_path / "run").diagram("step_00040", "mlp", "pc1-2")
    for k in range(2):
        np.testing.assert_allclose(stored[k], expected[k], rtol=1e-5, atol=1e-6)


def test_certified_approximation_is_stored_with_its_bound(
    checkpoints: list[Path], tmp_path: Path
) -> None:
    _run(checkpoints, tmp_path / "run", homology=RipsOptions(approximation="landmarks:30"))
    homology = Run(tmp_path / "run").params["homology"]
    assert homology["approximation"] == "landmarks:30"
    assert homology["memory_budget"] == RipsOptions().memory_budget  # unset: the default
    results = list(Run(tmp_path / "run").results())
    assert results
    for r in results:
        provenance = r.diagram.provenance
        assert provenance is not None
        cert = provenance.certificate
        assert provenance.approximate is True and cert.n_landmarks == 30
        assert cert.kind == "landmarks" and not provenance.subsampled
        assert cert.bound is not None and cert.covering_bound is not None
        assert cert.interleaving_bound is not None
        assert 0 < cert.bound == min(cert.covering_bound, cert.interleaving_bound)
        assert r.diagram.n_points == 30
        calls = r.significance  # the default calls, widened by the certified bound
        assert calls is not None and calls.method == "universal"
        assert calls.widened_by == pytest.approx(cert.bound)
    # the bound is stored beside the result: a direct computation on all points is within it
    from tda_interp.homology import vietoris_rips

    exact = vietoris_rips(_hidden(checkpoints[-1]))
    stored = next(
        r for r in results if r.checkpoint == "step_00040" and r.layer == "mlp" and r.view == "raw"
    )
    import gudhi

    bound = stored.diagram.provenance.certificate.bound  # type: ignore[union-attr]
    for k in range(2):
        fa, fb = exact.finite(k), stored.diagram.finite(k)
        assert gudhi.bottleneck_distance(fa, fb) <= bound + 1e-5  # type: ignore[operator]
    # a target bound instead: recorded in the params, the run resumes with the same options
    target = RipsOptions(approximation="bound:0.5")
    out = _run(checkpoints, tmp_path / "run2", homology=target)
    assert Run(tmp_path / "run2").params["homology"]["approximation"] == "bound:0.5"
    again = _run(checkpoints, tmp_path / "run2", homology=target)
    assert out.computed > 0 and again.computed == 0
    with pytest.raises(RunDirError, match=r"homology\.approximation"):
        _run(checkpoints, tmp_path / "run2", homology=RipsOptions(approximation="bound:0.25"))


def test_landmark_results_carry_significance_calls(
    checkpoints: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Significance calls are made for landmark results too, with the null clouds computed
    with the same approximation as the data."""
    real = significance_module.compute_diagram
    null_runs: list[tuple[str, int]] = []

    def spy(pts: np.ndarray, view: object, options: RipsOptions):  # type: ignore[no-untyped-def]
        dgm = real(pts, view, options)  # type: ignore[arg-type]
        null_runs.append((options.approximation.spec, dgm.n_points))
        return dgm

    monkeypatch.setattr(significance_module, "compute_diagram", spy)
    _run(
        checkpoints[-1:],
        tmp_path / "run",
        layers=["mlp"],
        views=["raw"],
        homology=RipsOptions(approximation="landmarks:30"),
        significance=SignificanceOptions(method="gaussian", n_null=19),
    )
    assert null_runs == [("landmarks:30", 30)] * 19
    (result,) = Run(tmp_path / "run").results()
    assert result.diagram.n_points == 30
    assert result.diagram.provenance.certificate.kind == "landmarks"  # type: ignore[union-attr]
    calls = result.significance
    assert calls is not None and calls.options.n_null == 19 and calls.alpha == 0.05
    for k in range(2):
        assert len(calls.p_values[k]) == len(calls.significant[k]) == len(result.diagram[k])
        assert len(calls.null_statistics[k]) == 19
    assert [row["n_significant"] for row in result.summary] == list(calls.n_significant)
    assert Run(tmp_path / "run").params["significance"] == {
        "method": "gaussian",
        "n_null": 19,
        "alpha": 0.05,
    }


def test_resume_after_crash_recomputes_nothing_finished(
    checkpoints: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tasks.compute_diagram
    calls: list[int] = []

    def crashing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if len(calls) == 7:
            raise KeyboardInterrupt("simulated crash")
        calls.append(len(calls))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks, "compute_diagram", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoints, tmp_path / "run")
    assert len(read_summaries(tmp_path / "run")) == 7 * 2
    first = {(r.checkpoint, r.layer, r.view) for r in Run(tmp_path / "run").results()}

    resumed: list[int] = []

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        resumed.append(len(resumed))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks, "compute_diagram", counting)
    outcome = _run(checkpoints, tmp_path / "run")
    total = len(checkpoints) * len(LAYERS) * len(VIEWS)
    assert outcome.computed == len(resumed) == total - 7
    assert outcome.skipped == 7
    after = {(r.checkpoint, r.layer, r.view) for r in Run(tmp_path / "run").results()}
    assert first < after and len(after) == total
    # a third run finds everything done and loads no checkpoint at all
    monkeypatch.setattr(pipeline, "load_checkpoint", lambda *a, **k: pytest.fail("reloaded"))
    assert _run(checkpoints, tmp_path / "run").computed == 0


def test_rerun_with_other_parameters_is_refused(checkpoints: list[Path], tmp_path: Path) -> None:
    _run(checkpoints[:1], tmp_path / "run")
    # other layers or views grow the run (tests/integration/test_run_growth.py); other
    # parameters are refused, naming them
    with pytest.raises(RunDirError, match=r"capture\.reduction"):
        _run(checkpoints[:1], tmp_path / "run", capture=CaptureOptions(reduction="mean"))
    outcome = _run(checkpoints[:1], tmp_path / "run", views=["raw"], overwrite=True)
    assert outcome.computed == len(LAYERS)
    assert set(read_summaries(tmp_path / "run")["view"]) == {"raw"}


def test_changed_checkpoint_is_refused(checkpoints: list[Path], tmp_path: Path) -> None:
    ckpt = tmp_path / "step_1.safetensors"
    ckpt.write_bytes(checkpoints[0].read_bytes())
    _run([ckpt], tmp_path / "run")
    ckpt.write_bytes(checkpoints[-1].read_bytes())
    with pytest.raises(RunDirError, match="changed"):
        _run([ckpt], tmp_path / "run")


def test_changed_model_folder_is_refused(checkpoints: list[Path], tmp_path: Path) -> None:
    """A Hugging Face-style folder is fingerprinted by its weight files, not skipped."""
    folder = tmp_path / "checkpoint-100"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(checkpoints[0].read_bytes())
    _run([folder], tmp_path / "run")
    (folder / "optimizer.pt").write_bytes(b"optimizer state is not the model")
    assert _run([folder], tmp_path / "run").computed == 0  # unrelated file: still resumes
    (folder / "model.safetensors").write_bytes(checkpoints[-1].read_bytes())
    with pytest.raises(RunDirError, match="changed"):
        _run([folder], tmp_path / "run")


def test_misspelled_layer_lists_close_names(checkpoints: list[Path], tmp_path: Path) -> None:
    with pytest.raises(SiteNotFoundError, match="unembed"):
        _run(checkpoints, tmp_path / "run", layers=["unembd"])


def test_checkpoint_of_another_architecture(checkpoints: list[Path], tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other)
    with pytest.raises(CheckpointError, match=r"other\.pt"):
        _run([other], tmp_path / "run")


def test_nan_activations_name_layer_and_checkpoint(checkpoints: list[Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(checkpoints[0]))
    state["unembed.bias"][3] = float("nan")
    bad = tmp_path / "step_7.safetensors"
    save_file(state, str(bad))
    with pytest.raises(ActivationError, match=r"^checkpoint 'step_7': Site 'unembed' gave NaN"):
        _run([bad], tmp_path / "run")


def test_warning_for_every_result_is_said_once_with_the_count(
    checkpoints: list[Path], tmp_path: Path
) -> None:
    """3 probe points cannot carry H1: every result of the run warns, the run says it once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = pipeline.run_pipeline(
            make_model(),
            checkpoints,
            probe_inputs()[:3],
            tmp_path / "run",
            layers=LAYERS,
            views=VIEWS,
            capture=CaptureOptions(reduction="flatten"),
            execution=ExecutionOptions(executor="serial", cache=False),
        )
    n_results = len(checkpoints) * len(LAYERS) * len(VIEWS)
    assert outcome.computed == n_results == 18
    ours = [w for w in caught if issubclass(w.category, TdaInterpWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    message = ours[0].message
    assert isinstance(message, TdaInterpWarning) and message.kind == "few-points"
    assert str(message).startswith("3 points cannot carry H1")
    places = "; ".join(
        f"checkpoint 'step_00000' layer {layer!r} view {view!r}"
        for layer, view in [("embed", "raw"), ("embed", "pc1-2"), ("mlp", "raw")]
    )
    assert str(message).endswith(f" [{n_results} results: {places}; ...]")
    assert ours[0].filename == __file__  # attributed to the caller of run_pipeline
    # pytest.warns on the start of the message still works
    with pytest.warns(TdaInterpWarning, match="3 points cannot carry H1"):
        pipeline.run_pipeline(
            make_model(),
            checkpoints[:1],
            probe_inputs()[:3],
            tmp_path / "run1",
            layers=["mlp"],
            capture=CaptureOptions(reduction="flatten"),
            execution=ExecutionOptions(executor="serial", cache=False),
        )


def test_empty_probe_set_and_missing_checkpoints(checkpoints: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        pipeline.run_pipeline(
            make_model(), checkpoints, probe_inputs()[:0], tmp_path / "r", layers=LAYERS
        )
    with pytest.raises(CheckpointError):
        pipeline.run_pipeline(make_model(), [], probe_inputs(), tmp_path / "r", layers=LAYERS)


def test_duplicate_checkpoint_labels_are_refused(checkpoints: list[Path], tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "model.safetensors").write_bytes(checkpoints[0].read_bytes())
    (b / "model.safetensors").write_bytes(checkpoints[1].read_bytes())
    with pytest.raises(CheckpointError, match="share the label"):
        _run([a / "model.safetensors", b / "model.safetensors"], tmp_path / "run")


class _Reused(torch.nn.Module):
    """``fc`` is called twice per forward pass: clouds ``fc#0`` and ``fc#1``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.fc(x)))


def test_a_module_called_twice_is_counted_resumed_and_reported_by_cloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    ckpts = []
    for step in (1, 2):
        torch.save(_Reused().state_dict(), tmp_path / f"step_{step}.pt")
        ckpts.append(tmp_path / f"step_{step}.pt")
    inputs = torch.randn(30, 4)
    seen: list[tuple[str, int, int]] = []
    execution = ExecutionOptions(
        executor="serial", cache=False, progress=lambda _, d, t: seen.append(("", d, t))
    )

    def run(**kwargs: object) -> pipeline.RunOutcome:
        return pipeline.run_pipeline(
            _Reused(), ckpts, inputs, tmp_path / "run", layers=["fc"], execution=execution
        )

    # a crash after fc#0 of the first checkpoint is written, before fc#1
    real = tasks.compute_diagram
    calls = {"n": 0}

    def crash_second(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks, "compute_diagram", crash_second)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(tasks, "compute_diagram", real)
    seen.clear()
    out = run()
    assert out.computed == 3 and out.skipped == 1  # fc#1 of step_1, both clouds of step_2
    assert out.layers == ("fc#0", "fc#1")
    assert all(0 <= d <= t == 4 for _, d, t in seen) and seen[-1][1:] == (4, 4)
    stored = Run(tmp_path / "run")
    assert stored.layers == ("fc#0", "fc#1")
    assert [(r.checkpoint, r.layer) for r in stored.results()] == [
        ("step_1", "fc#0"), ("step_1", "fc#1"), ("step_2", "fc#0"), ("step_2", "fc#1")
    ]  # fmt: skip
    from tda_interp.reports import build_report

    assert build_report(tmp_path / "run").missing == ()
    assert run().computed == 0
