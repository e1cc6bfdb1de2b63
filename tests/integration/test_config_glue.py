"""Research workflows from a config alone: factory arguments, files beside the config,
pretrained models without checkpoints, Betti scales, and views chosen per checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tda_interp.config import load_config
from tda_interp.exceptions import ConfigError, RunDirError
from tda_interp.homology import vietoris_rips
from tda_interp.homology.views import apply_view, bind_view, resolve_views
from tda_interp.hooks import load_checkpoint, run_capture
from tda_interp.pipeline import run_from_config
from tda_interp.store import Run

MODELS_PY = """
import torch
from torch import nn

def make(width=8, depth=1):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, 4))

def circle(n=40):
    t = torch.linspace(0, 6.283, n + 1)[:-1]
    return torch.stack([torch.cos(t), torch.sin(t)], dim=1)
"""

CONFIG = """
[model]
factory = "models.py:make"
{model_extra}
[inputs]
factory = "models.py:circle"
{inputs_extra}
[capture]
layers = ["0"]
[homology]
views = [{views}]
[execution]
executor = "serial"
cache = false
{extra}
"""


def _project(
    tmp_path: Path,
    *,
    model_extra: str = "",
    inputs_extra: str = "",
    views: str = '"raw"',
    extra: str = "",
    models: str = MODELS_PY,
) -> Path:
    (tmp_path / "models.py").write_text(models)
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        CONFIG.format(model_extra=model_extra, inputs_extra=inputs_extra, views=views, extra=extra)
    )
    return cfg


@pytest.fixture(autouse=True)
def _forget_user_modules() -> None:
    """Modules imported from a test's folder must not leak into the next test."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("_tda_interp_user_", "glue_")):
            del sys.modules[name]


# ---------------------------------------------------------------------- factory arguments
def test_factories_take_keyword_arguments_from_the_config(tmp_path: Path) -> None:
    cfg = load_config(
        _project(
            tmp_path,
            model_extra="[model.args]\nwidth = 5\n",
            inputs_extra="[inputs.args]\nn = 30\n",
        )
    )
    assert cfg.model_args == {"width": 5} and cfg.inputs_args == {"n": 30}
    run_from_config(cfg, run_dir=tmp_path / "out")
    run = Run(tmp_path / "out")
    assert run.info["model_args"] == {"width": 5} and run.info["inputs_args"] == {"n": 30}
    assert run.params["inputs"]["n_inputs"] == 30
    assert [c.label for c in run.checkpoints] == ["pretrained"]


def test_an_unknown_argument_names_the_key_and_the_signature(tmp_path: Path) -> None:
    cfg = load_config(_project(tmp_path, model_extra="[model.args]\nwidht = 5\n"))
    with pytest.raises(ConfigError) as info:
        run_from_config(cfg, run_dir=tmp_path / "out")
    msg = str(info.value)
    assert "run.toml: [model.args]: unknown argument(s) 'widht' (did you mean 'width'?)" in msg
    assert "'models.py:make', which is make(width=8, depth=1)" in msg
    assert info.value.key == "widht" and info.value.section == "model.args"
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_missing_argument_is_named(tmp_path: Path) -> None:
    models = MODELS_PY.replace("def circle(n=40):", "def circle(n):")
    cfg = load_config(_project(tmp_path, models=models))
    with pytest.raises(ConfigError, match=r"\[inputs\.args\]: missing a required argument: 'n'"):
        run_from_config(cfg, run_dir=tmp_path / "out")


def test_args_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[model\] args must be a table.*\[model\.args\]"):
        load_config(_project(tmp_path, model_extra='args = "width=5"'))


# ---------------------------------------------------------------------- files beside the config
def test_a_file_factory_imports_a_module_beside_it(tmp_path: Path) -> None:
    (tmp_path / "glue_blocks.py").write_text(
        "from torch import nn\n\ndef block(width):\n    return nn.Linear(2, width)\n"
    )
    models = MODELS_PY.replace("import torch\n", "import torch\nfrom glue_blocks import block\n")
    models = models.replace("nn.Linear(2, width)", "block(width)")
    cfg = load_config(_project(tmp_path, models=models))
    path_before = list(sys.path)
    run_from_config(cfg, run_dir=tmp_path / "out")
    assert sys.path == path_before
    assert len(list(Run(tmp_path / "out").results())) == 1


def test_an_import_error_inside_a_file_factory_names_it(tmp_path: Path) -> None:
    models = MODELS_PY.replace("import torch\n", "import glue_no_such_module\n", 1)
    cfg = load_config(_project(tmp_path, models=models))
    with pytest.raises(ConfigError) as info:
        run_from_config(cfg, run_dir=tmp_path / "out")
    msg = str(info.value)
    assert "glue_no_such_module" in msg and "models.py" in msg
    assert "should it be a path like" not in msg  # it already is one
    assert "the modules beside it" in msg


# ---------------------------------------------------------------------- pretrained models
def test_a_pretrained_model_needs_no_checkpoints_and_resumes(tmp_path: Path) -> None:
    cfg = load_config(_project(tmp_path))
    assert cfg.checkpoints is None
    first = run_from_config(cfg, run_dir=tmp_path / "out")
    assert first.checkpoints == ("pretrained",) and first.computed == 1
    run = Run(tmp_path / "out")
    assert [(c.label, c.step) for c in run.checkpoints] == [("pretrained", 0)]
    assert run.info["pretrained"] is True
    again = run_from_config(cfg, run_dir=tmp_path / "out")
    assert again.computed == 0 and again.skipped == 1  # same weights: same fingerprint


# ---------------------------------------------------------------------- betti scales
def test_betti_scales_reach_the_tables_and_the_params(tmp_path: Path) -> None:
    cfg = load_config(_project(tmp_path, extra="[summary]\nbetti_scales = [0.2, 0.4]\n"))
    run_from_config(cfg, run_dir=tmp_path / "out")
    run = Run(tmp_path / "out")
    assert run.params["summary"] == {"long_bar": 0.25, "betti_scales": [0.2, 0.4]}
    cols = [c for c in run.summaries().columns if c.startswith("betti_at_")]
    assert cols == ["betti_at_0.20", "betti_at_0.40"]
    default = load_config(_project(tmp_path))
    with pytest.raises(RunDirError, match=r"summary\.betti_scales"):
        run_from_config(default, run_dir=tmp_path / "out")


# ---------------------------------------------------------------------- per-checkpoint views
SELECT_PY = """
import torch

def strongest(model, layer, activations):
    weight = model.get_submodule(layer).weight.detach()
    return torch.topk(weight.norm(dim=1), 2).indices
"""

STRONG = {
    "step_1": [[3, 0], [0, 3], [0.1, 0], [0.2, 0], [0.5, 0], [1, 0]],  # units 0 and 1
    "step_2": [[0.5, 0], [1, 0], [0.1, 0], [0.2, 0], [3, 0], [0, 3]],  # units 4 and 5
}


def _two_checkpoints(tmp_path: Path) -> Path:
    (tmp_path / "select.py").write_text(SELECT_PY)
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for label, weight in STRONG.items():
        state = {"0.weight": torch.tensor(weight), "0.bias": torch.zeros(6)}
        torch.save(state, folder / f"{label}.pt")
    return folder


def _linear() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 6))


def test_units_chosen_from_the_weights_change_between_checkpoints(tmp_path: Path) -> None:
    folder = _two_checkpoints(tmp_path)
    t = torch.linspace(0, 6.283, 41)[:-1]
    inputs = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    (view,) = resolve_views(["factory:select.py:strongest"], base_dir=tmp_path)
    model = _linear()
    chosen, h1 = [], []
    for label in STRONG:
        load_checkpoint(model, folder / f"{label}.pt")
        acts = run_capture(model, inputs, ["0"]).activations["0"]
        bound = bind_view(view, model=model, layer="0", points=acts)
        assert bound.name == "factory:select.py:strongest"
        chosen.append(bound.source)
        h1.append(vietoris_rips(acts, view=bound).lifetimes(1, relative=True).max())
        fixed = vietoris_rips(acts, view="units:0,1").lifetimes(1, relative=True)
        if label == "step_2":  # units 0 and 1 are a segment there: the fixed view loses the loop
            assert fixed.size == 0 or fixed.max() < 0.1
        np.testing.assert_allclose(
            apply_view(acts, bound), acts[:, [0, 1] if label == "step_1" else [4, 5]]
        )
    assert chosen == [
        "units 0, 1 of 6 chosen by select.py:strongest",
        "units 4, 5 of 6 chosen by select.py:strongest",
    ]
    assert min(h1) > 0.5  # the circle, found at both checkpoints


def test_a_run_from_config_follows_the_units_per_checkpoint(tmp_path: Path) -> None:
    _two_checkpoints(tmp_path)
    (tmp_path / "models.py").write_text(
        MODELS_PY + "\ndef linear():\n    return nn.Sequential(nn.Linear(2, 6))\n"
    )
    cfg_path = tmp_path / "run.toml"
    cfg_path.write_text(
        CONFIG.format(
            model_extra='checkpoints = "ckpts"',
            inputs_extra="",
            views='"units:0,1", "factory:select.py:strongest"',
            extra="",
        ).replace("models.py:make", "models.py:linear")
    )
    run_from_config(load_config(cfg_path), run_dir=tmp_path / "out")
    run = Run(tmp_path / "out")
    assert run.views == ("units:0-1", "factory:select.py:strongest")
    best = run.max_over_views(["max_rel_persistence"])
    h1 = best[best["dim"] == 1]
    assert h1["max_rel_persistence_view"].tolist() == [
        "units:0-1",  # a tie at step_1 (the same units): the first view
        "factory:select.py:strongest",
    ]
    frame = run.summaries()
    follow = frame[(frame["dim"] == 1) & (frame["view"] == "factory:select.py:strongest")]
    assert (follow["max_rel_persistence"] > 0.5).all()
