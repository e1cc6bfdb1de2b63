"""The TOML run configuration and factory resolution."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tda_interp.config import RunConfig, load_config, resolve_factory
from tda_interp.exceptions import ConfigError

FULL = """
title = "Toy model"
run_dir = "runs/toy"

[model]
factory = "models.py:make_model"
checkpoints = "checkpoints/step_*.pt"

[inputs]
factory = "mypkg.data:probe_inputs"
batch_size = 16

[capture]
layers = ["embed", "mlp.*"]
reduction = "mean"
output_index = 1

[homology]
maxdim = 2
views = ["raw", "pc_pairs2"]
metric = "cosine"
backend = "ripser"
max_points = 500
seed = 7
long_bar = 0.3
drop_nonfinite = true
"""

MINIMAL = """
[model]
factory = "pkg.mod:make"
checkpoints = "ckpts"

[inputs]
factory = "pkg.mod:inputs"

[capture]
layers = "fc1"
"""


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_homology(extra: str) -> str:
    return MINIMAL + "\n[homology]\n" + extra + "\n"


def test_full_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL))
    assert isinstance(cfg, RunConfig)
    assert cfg.title == "Toy model"
    assert cfg.base_dir == tmp_path.resolve()
    assert cfg.run_dir == tmp_path.resolve() / "runs" / "toy"
    assert cfg.model_factory == "models.py:make_model"
    assert cfg.checkpoints == "checkpoints/step_*.pt"
    assert cfg.inputs_factory == "mypkg.data:probe_inputs"
    assert cfg.batch_size == 16
    assert cfg.layers == ("embed", "mlp.*")
    assert cfg.reduction == "mean"
    assert cfg.output_index == 1
    assert cfg.maxdim == 2
    assert cfg.views == ("raw", "pc1-2", "pc3-4")
    assert cfg.metric == "cosine"
    assert cfg.backend == "ripser"
    assert cfg.max_points == 500
    assert cfg.seed == 7
    assert cfg.long_bar == 0.3
    assert cfg.drop_nonfinite is True


def test_config_loaded_from_another_cwd_resolves_against_its_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "configs"
    sub.mkdir()
    path = write(sub, FULL)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("configs") / "run.toml")
    assert cfg.base_dir == sub.resolve()
    assert cfg.run_dir == sub.resolve() / "runs" / "toy"
    assert cfg == load_config(path)


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.layers == ("fc1",)
    assert cfg.title is None
    assert cfg.run_dir is None
    assert cfg.batch_size is None
    assert cfg.reduction == "none"
    assert cfg.output_index == 0
    assert cfg.maxdim == 1
    assert cfg.views == ("raw",)
    assert cfg.metric == "euclidean"
    assert cfg.backend == "auto"
    assert cfg.max_points == 1000
    assert cfg.seed == 0
    assert cfg.long_bar == 0.25
    assert cfg.drop_nonfinite is False


def test_max_points_zero_keeps_all(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, with_homology("max_points = 0"))).max_points is None


def test_absolute_run_dir_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    cfg = load_config(write(tmp_path, f'run_dir = "{target.as_posix()}"\n' + MINIMAL))
    assert cfg.run_dir == target


@pytest.mark.parametrize(
    ("text", "unknown", "suggestion"),
    [
        (MINIMAL.replace("[capture]", "[capture]\nreductoin = 'mean'"), "reductoin", "reduction"),
        (with_homology("max_dim = 2"), "max_dim", "maxdim"),
        ("titel = 'x'\n" + MINIMAL, "titel", "title"),
        (MINIMAL.replace("[model]", "[model]\ncheckpoint = 'x'"), "checkpoint", "checkpoints"),
    ],
)
def test_unknown_key_suggests_the_closest(
    tmp_path: Path, text: str, unknown: str, suggestion: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    msg = str(info.value)
    assert repr(unknown) in msg
    assert f"did you mean {suggestion!r}" in msg
    assert "run.toml" in msg


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'homolgy' \(did you mean 'homology'\?\)"):
        load_config(write(tmp_path, MINIMAL + "\n[homolgy]\nmaxdim = 1\n"))


def test_missing_required_keys_are_all_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[model]\nfactory = "a:b"\n'))
    msg = str(info.value)
    for key in ("model.checkpoints", "inputs.factory", "capture.layers"):
        assert key in msg
    assert "model.factory" not in msg


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('maxdim = "1"', "maxdim"),
        ("maxdim = 1.0", "maxdim"),
        ("maxdim = true", "maxdim"),
        ('max_points = "many"', "max_points"),
        ("seed = 1.5", "seed"),
        ("seed = false", "seed"),
        ('long_bar = "0.3"', "long_bar"),
        ("metric = 3", "metric"),
        ("backend = ['ripser']", "backend"),
        ('drop_nonfinite = "false"', "drop_nonfinite"),
        ("drop_nonfinite = 1", "drop_nonfinite"),
    ],
)
def test_wrong_types_in_homology(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, with_homology(extra)))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL.replace('layers = "fc1"', "layers = []"), "capture.layers"),
        (MINIMAL.replace('layers = "fc1"', "layers = [1, 2]"), "capture.layers"),
        (MINIMAL.replace('layers = "fc1"', 'layers = "fc1"\nreduction = 1.5'), "reduction"),
        (MINIMAL.replace('layers = "fc1"', 'layers = "fc1"\noutput_index = "0"'), "output_index"),
        (MINIMAL.replace('factory = "pkg.mod:make"', "factory = 3"), "factory"),
        (MINIMAL.replace("[inputs]", '[inputs]\nbatch_size = "all"'), "batch_size"),
        ("model = 3\n" + MINIMAL.replace("[model]", "[x]"), "model"),
    ],
)
def test_wrong_types_elsewhere(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("maxdim", [-1, 4, 10])
def test_maxdim_out_of_range(tmp_path: Path, maxdim: int) -> None:
    with pytest.raises(ConfigError, match=r"maxdim must be between 0 and 3"):
        load_config(write(tmp_path, with_homology(f"maxdim = {maxdim}")))


@pytest.mark.parametrize("maxdim", [0, 3])
def test_maxdim_bounds_are_inclusive(tmp_path: Path, maxdim: int) -> None:
    assert load_config(write(tmp_path, with_homology(f"maxdim = {maxdim}"))).maxdim == maxdim


@pytest.mark.parametrize(
    "extra",
    [
        "max_points = -5",
        "seed = -1",
        "long_bar = -0.1",
        'metric = "manhattan"',
        'backend = "dionysus"',
        "max_bound_rel = 0",
        "n_landmarks = 1",
        'memory_budget = "lots"',
        "max_bound_rel = 0.05\nn_landmarks = 100",
    ],
)
def test_invalid_values_are_rejected_at_load_time(tmp_path: Path, extra: str) -> None:
    # Bad values must fail when the config is read, not after the models have run.
    key = extra.split(" ")[0]
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, with_homology(extra)))


def test_unknown_view_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'tsne'"):
        load_config(write(tmp_path, with_homology('views = ["raw", "tsne"]')))


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[model\nfactory = "))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


# ---------------------------------------------------------------------- resolve_factory
def test_resolve_package_factory() -> None:
    from tda_interp.demo.modular import make_model

    assert resolve_factory("tda_interp.demo.modular:make_model") is make_model


def test_resolve_file_factory_next_to_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_models_for_test.py").write_text(
        "def make_model():\n    return 'built'\n\nSOMETHING = 3\n", encoding="utf-8"
    )
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    func = resolve_factory("my_models_for_test.py:make_model", base_dir=tmp_path)
    assert func() == "built"
    absolute = resolve_factory(f"{tmp_path / 'my_models_for_test.py'}:make_model")
    assert absolute() == "built"


def test_resolve_factory_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "toy_factory_mod.py").write_text("def make_model():\n    return 42\n")
    cfg = load_config(write(tmp_path, FULL.replace("models.py", "toy_factory_mod.py")))
    assert resolve_factory(cfg.model_factory, base_dir=cfg.base_dir)() == 42


def test_missing_file_factory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_factory("nope.py:make_model", base_dir=tmp_path)


def test_missing_module() -> None:
    with pytest.raises(ConfigError, match=re.escape("cannot import 'no_such_pkg_xyz.models'")):
        resolve_factory("no_such_pkg_xyz.models:make_model")


def test_missing_function_lists_closest_names() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_factory("tda_interp.demo.modular:make_modle")
    msg = str(info.value)
    assert "no callable 'make_modle'" in msg
    assert "closest: make_model" in msg


def test_non_callable_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "consts_for_test.py").write_text("VALUE = 3\n")
    with pytest.raises(ConfigError, match="no callable 'VALUE'"):
        resolve_factory("consts_for_test.py:VALUE", base_dir=tmp_path)


@pytest.mark.parametrize("spec", ["tda_interp.demo.modular.make_model", "models.py"])
def test_no_colon(spec: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("package.module:function")):
        resolve_factory(spec)


@pytest.mark.parametrize("spec", [":make_model", "tda_interp.demo.modular:"])
def test_empty_parts_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        resolve_factory(spec)


def test_certified_approximation_options(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path, with_homology('max_points = 0\nmax_bound_rel = 0.05\nmemory_budget = "2GB"')
        )
    )
    assert (cfg.max_bound_rel, cfg.n_landmarks, cfg.memory_budget) == (0.05, None, "2GB")
    assert cfg.max_points is None
    fixed = load_config(write(tmp_path, with_homology("n_landmarks = 300")))
    assert (fixed.max_bound_rel, fixed.n_landmarks, fixed.memory_budget) == (None, 300, None)
    plain = load_config(write(tmp_path, MINIMAL))
    assert (plain.max_bound_rel, plain.n_landmarks, plain.memory_budget) == (None, None, None)
