"""The pipeline end to end on the demo architecture: checkpoints -> run directory."""

from __future__ import annotations

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
)
from tda_interp.execution import tasks
from tda_interp.store import iter_results, read_manifest, read_summaries

LAYERS = ["embed", "mlp", "unembed"]
VIEWS = ["raw", "pc1-2"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return train(tmp_path_factory.mktemp("ckpt"), steps=40, every=20)


def _run(checkpoints: list[Path], run_dir: Path, **kwargs: object) -> pipeline.RunOutcome:
    options: dict[str, object] = {
        "layers": LAYERS,
        "views": VIEWS,
        "reduction": "flatten",
        "executor": "serial",  # spies below must see every computation in this process
        "cache": False,  # the run directory alone must make reruns resume
    } | kwargs
    return pipeline.run_pipeline(make_model(), checkpoints, probe_inputs(), run_dir, **options)  # type: ignore[arg-type]


def test_every_checkpoint_layer_view_is_stored(checkpoints: list[Path], tmp_path: Path) -> None:
    outcome = _run(checkpoints, tmp_path / "run")
    assert outcome.computed == len(checkpoints) * len(LAYERS) * len(VIEWS)
    df = read_summaries(tmp_path / "run")
    assert len(df) == outcome.computed * 2  # H0 and H1 rows
    assert list(df["checkpoint"].unique()) == ["step_00000", "step_00020", "step_00040"]
    assert list(df["step"].unique()) == [0, 20, 40]
    assert set(df["layer"]) == set(LAYERS) and set(df["view"]) == set(VIEWS)
    assert (df["n_points"] == 59).all()
    manifest = read_manifest(tmp_path / "run")
    assert manifest["params"]["layers"] == LAYERS
    assert manifest["params"]["inputs"]["n_inputs"] == 59
    assert manifest["versions"]["torch"].startswith("2.")
    assert [c["label"] for c in manifest["checkpoints"]] == list(outcome.checkpoints)


def test_stored_diagram_equals_direct_computation(checkpoints: list[Path], tmp_path: Path) -> None:
    _run(checkpoints, tmp_path / "run")
    model = ModularMLP()
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(checkpoints[-1])))
    with torch.no_grad():
        hidden = model.mlp(model.embed(probe_inputs()).flatten(1)).numpy()
    from tda_interp.homology import vietoris_rips

    expected = vietoris_rips(hidden, view="pc1-2")
    stored = next(
        r for r in iter_results(tmp_path / "run")
        if r.checkpoint == "step_00040" and r.layer == "mlp" and r.view == "pc1-2"
    )  # fmt: skip
    for k in range(2):
        np.testing.assert_allclose(stored.diagram[k], expected[k], rtol=1e-5, atol=1e-6)


def test_certified_approximation_is_stored_with_its_bound(
    checkpoints: list[Path], tmp_path: Path
) -> None:
    _run(checkpoints, tmp_path / "run", max_points=None, n_landmarks=30)
    params = read_manifest(tmp_path / "run")["params"]
    assert params["n_landmarks"] == 30
    assert "max_bound_rel" not in params and "memory_budget" not in params
    results = list(iter_results(tmp_path / "run"))
    assert results
    for r in results:
        meta = r.diagram.meta
        assert meta["approximate"] is True and meta["n_landmarks"] == 30
        assert (
            0 < meta["bottleneck_bound"] == min(meta["covering_bound"], meta["interleaving_bound"])
        )
        assert r.diagram.n_points == 30
    # the bound is stored beside the result: a direct computation on all points is within it
    from safetensors.torch import load_file

    from tda_interp.homology import vietoris_rips

    model = ModularMLP()
    model.load_state_dict(load_file(str(checkpoints[-1])))
    with torch.no_grad():
        hidden = model.mlp(model.embed(probe_inputs()).flatten(1)).numpy()
    exact = vietoris_rips(hidden)
    stored = next(
        r for r in results if r.checkpoint == "step_00040" and r.layer == "mlp" and r.view == "raw"
    )
    import gudhi

    for k in range(2):
        fa, fb = exact.finite(k), stored.diagram.finite(k)
        assert gudhi.bottleneck_distance(fa, fb) <= stored.diagram.meta["bottleneck_bound"] + 1e-5
    # a target bound instead: recorded in the params, the run resumes with the same options
    out = _run(checkpoints, tmp_path / "run2", max_points=None, max_bound_rel=0.5)
    assert read_manifest(tmp_path / "run2")["params"]["max_bound_rel"] == 0.5
    again = _run(checkpoints, tmp_path / "run2", max_points=None, max_bound_rel=0.5)
    assert out.computed > 0 and again.computed == 0
    with pytest.raises(RunDirError):
        _run(checkpoints, tmp_path / "run2", max_points=None, max_bound_rel=0.25)


def test_resume_after_crash_recomputes_nothing_finished(
    checkpoints: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tasks.vietoris_rips
    calls: list[tuple[str | None, str | None]] = []

    def crashing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if len(calls) == 7:
            raise KeyboardInterrupt("simulated crash")
        calls.append((kwargs.get("checkpoint"), kwargs.get("site")))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks, "vietoris_rips", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoints, tmp_path / "run")
    assert len(read_summaries(tmp_path / "run")) == 7 * 2
    first = {(r.checkpoint, r.layer, r.view) for r in iter_results(tmp_path / "run")}

    resumed: list[str | None] = []

    def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        resumed.append(kwargs.get("checkpoint"))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks, "vietoris_rips", counting)
    outcome = _run(checkpoints, tmp_path / "run")
    total = len(checkpoints) * len(LAYERS) * len(VIEWS)
    assert outcome.computed == len(resumed) == total - 7
    assert outcome.skipped == 7
    after = {(r.checkpoint, r.layer, r.view) for r in iter_results(tmp_path / "run")}
    assert first < after and len(after) == total
    # a third run finds everything done and loads no checkpoint at all
    monkeypatch.setattr(pipeline, "load_checkpoint", lambda *a, **k: pytest.fail("reloaded"))
    assert _run(checkpoints, tmp_path / "run").computed == 0


def test_rerun_with_other_parameters_is_refused(checkpoints: list[Path], tmp_path: Path) -> None:
    _run(checkpoints[:1], tmp_path / "run")
    with pytest.raises(RunDirError, match="views"):
        _run(checkpoints[:1], tmp_path / "run", views=["raw"])
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
    with pytest.raises(ActivationError, match=r"'unembed'.*'step_7'|'step_7'.*'unembed'"):
        _run([bad], tmp_path / "run")


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
