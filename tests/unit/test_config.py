"""The TOML run configuration and factory resolution."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tda_interp.config import RunConfig, load_config, resolve_factory
from tda_interp.exceptions import ConfigError
from tda_interp.options import (
    CaptureOptions,
    ExecutionOptions,
    RipsOptions,
    SignificanceOptions,
    SummaryOptions,
)

FULL = """
title = "Toy model"
run_dir = "runs/toy"

[model]
factory = "models.py:make_model"
checkpoints = "checkpoints/step_*.pt"
strict = false

[inputs]
factory = "mypkg.data:probe_inputs"

[capture]
layers = ["embed", "mlp.*"]
reduction = "mean"
output_index = 1
hook = "input"
batch_size = 16
max_points = 2000
seed = 3
dtype = "float16"
storage = "memmap"
storage_dir = "activations"
nonfinite = "drop"

[homology]
maxdim = 2
views = ["raw", "pc_pairs2"]
metric = "cosine"
coeff = 3
backend = "ripser"
seed = 7
approximation = "landmarks:300"
memory_budget = "2GB"
nonfinite = "drop"

[significance]
method = "subsample"
n_null = 39
alpha = 0.01
subsample_size = 50

[summary]
long_bar = 0.3

[execution]
executor = "processes:2"
cache = "diagram-cache"
"""

# A config as tda-interp 0.1 wrote it: old keys in [inputs] and [homology].
FULL_V1 = """
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
n_null = 39
alpha = 0.01
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


def with_capture(extra: str) -> str:
    return MINIMAL.replace('layers = "fc1"', 'layers = "fc1"\n' + extra)


def load_without_warnings(path: Path) -> RunConfig:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_config(path)


def load_legacy(path: Path) -> tuple[RunConfig, str]:
    """Load a config with 0.1 keys: exactly one DeprecationWarning, returned with the config."""
    with pytest.warns(DeprecationWarning) as caught:
        cfg = load_config(path)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in deprecations]
    return cfg, str(deprecations[0].message)


def config_error(path: Path) -> str:
    """The message of the ConfigError that loading ``path`` raises (0.1 keys may warn first)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ConfigError) as info:
            load_config(path)
    return str(info.value)


# ---------------------------------------------------------------------- every key
def test_full_config(tmp_path: Path) -> None:
    cfg = load_without_warnings(write(tmp_path, FULL))
    base = tmp_path.resolve()
    assert isinstance(cfg, RunConfig)
    assert cfg.title == "Toy model"
    assert cfg.base_dir == base
    assert cfg.run_dir == base / "runs" / "toy"
    assert cfg.model_factory == "models.py:make_model"
    assert cfg.checkpoints == "checkpoints/step_*.pt"
    assert cfg.strict is False
    assert cfg.inputs_factory == "mypkg.data:probe_inputs"
    assert cfg.layers == ("embed", "mlp.*")
    assert cfg.views == ("raw", "pc1-2", "pc3-4")
    assert cfg.capture == CaptureOptions(
        reduction="mean",
        output_index=1,
        hook="input",
        batch_size=16,
        max_points=2000,
        seed=3,
        dtype="float16",
        storage="memmap",
        storage_dir=base / "activations",
        nonfinite="drop",
    )
    assert cfg.capture.storage_dir == base / "activations"  # relative to the config file
    assert cfg.homology == RipsOptions(
        maxdim=2,
        metric="cosine",
        coeff=3,
        backend="ripser",
        seed=7,
        approximation="landmarks:300",
        memory_budget="2GB",
        nonfinite="drop",
    )
    assert cfg.homology.maxdim == 2
    assert cfg.homology.approximation.spec == "landmarks:300"
    assert cfg.homology.memory_budget == 2_000_000_000
    assert cfg.significance == SignificanceOptions(
        method="subsample", n_null=39, alpha=0.01, subsample_size=50
    )
    assert cfg.summary == SummaryOptions(long_bar=0.3)
    assert cfg.execution.executor == "processes:2"
    assert cfg.execution.cache == base / "diagram-cache"  # relative to the config file
    assert cfg.execution.progress is None


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
    assert cfg.capture.storage_dir == sub.resolve() / "activations"
    assert cfg.execution.cache == sub.resolve() / "diagram-cache"
    assert cfg == load_config(path)


def test_defaults(tmp_path: Path) -> None:
    cfg = load_without_warnings(write(tmp_path, MINIMAL))
    assert cfg.layers == ("fc1",)
    assert cfg.title is None
    assert cfg.run_dir is None
    assert cfg.strict is True
    assert cfg.views == ("raw",)
    assert cfg.capture == CaptureOptions()
    assert cfg.capture.batch_size is None
    assert cfg.capture.reduction == "none"
    assert cfg.capture.output_index is None  # the first tensor
    assert cfg.capture.nonfinite == "raise"
    assert cfg.homology == RipsOptions()
    assert cfg.homology.maxdim == 1
    assert cfg.homology.metric == "euclidean"
    assert cfg.homology.backend == "auto"
    assert cfg.homology.approximation.spec == "subsample:1000"
    assert cfg.homology.seed == 0
    assert cfg.homology.nonfinite == "raise"
    assert cfg.significance == SignificanceOptions()  # no section: the default calls
    assert cfg.significance.method == "universal"
    assert cfg.summary.correction == "diagram"
    assert cfg.summary == SummaryOptions()
    assert cfg.summary.long_bar == 0.25
    assert cfg.execution == ExecutionOptions()
    assert (cfg.execution.executor, cfg.execution.cache) == ("auto", True)


def test_empty_significance_section_turns_calls_on(tmp_path: Path) -> None:
    cfg = load_without_warnings(write(tmp_path, MINIMAL + "\n[significance]\n"))
    assert cfg.significance == SignificanceOptions()


def test_max_points_zero_keeps_all(tmp_path: Path) -> None:
    cfg = load_without_warnings(write(tmp_path, with_capture("max_points = 0\nbatch_size = 0")))
    assert cfg.capture.max_points is None
    assert cfg.capture.batch_size is None
    legacy, _ = load_legacy(write(tmp_path, with_homology("max_points = 0")))
    assert legacy.homology.approximation.spec == "auto"  # every point


def test_execution_cache_values(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    for value, expected in (("false", False), ("true", True), (f'"{target.as_posix()}"', target)):
        text = MINIMAL + f'\n[execution]\nexecutor = "serial"\ncache = {value}\n'
        cfg = load_without_warnings(write(tmp_path, text))
        assert cfg.execution == ExecutionOptions(executor="serial", cache=expected)


def test_with_progress(tmp_path: Path) -> None:
    cfg = load_without_warnings(write(tmp_path, FULL))

    def progress(description: str, done: int, total: int) -> None:
        return None

    with_cb = cfg.with_progress(progress)
    assert with_cb.execution.progress is progress
    assert with_cb.execution.cache == cfg.execution.cache
    assert cfg.execution.progress is None


def test_absolute_run_dir_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    cfg = load_config(write(tmp_path, f'run_dir = "{target.as_posix()}"\n' + MINIMAL))
    assert cfg.run_dir == target


# ---------------------------------------------------------------------- 0.1 keys
def test_v1_config_loads_with_one_deprecation_warning(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_V1)
    cfg, message = load_legacy(path)
    assert str(path) in message
    for move in (
        "[inputs] batch_size -> [capture] batch_size",
        "[homology] max_points -> [homology] approximation",
        "[homology] drop_nonfinite -> [capture] nonfinite",
        "[homology] n_null -> [significance] n_null",
        "[homology] alpha -> [significance] alpha",
        "[homology] long_bar -> [summary] long_bar",
    ):
        assert move in message
    assert cfg.title == "Toy model"
    assert cfg.run_dir == tmp_path.resolve() / "runs" / "toy"
    assert cfg.layers == ("embed", "mlp.*")
    assert cfg.views == ("raw", "pc1-2", "pc3-4")
    assert cfg.capture == CaptureOptions(
        reduction="mean", output_index=1, batch_size=16, nonfinite="drop"
    )
    assert cfg.homology == RipsOptions(
        maxdim=2,
        metric="cosine",
        backend="ripser",
        seed=7,
        approximation="subsample:500",
        nonfinite="drop",
    )
    assert cfg.significance == SignificanceOptions(method="gaussian", n_null=39, alpha=0.01)
    assert cfg.summary == SummaryOptions(long_bar=0.3)


def _approximation(cfg: RunConfig) -> Any:
    return cfg.homology.approximation.spec


def _nonfinite(cfg: RunConfig) -> Any:
    return (cfg.capture.nonfinite, cfg.homology.nonfinite)


@pytest.mark.parametrize(
    ("text", "old", "read", "expected"),
    [
        (with_homology("max_points = 500"), "[homology] max_points", _approximation,
         "subsample:500"),
        (with_homology("max_points = 0"), "[homology] max_points", _approximation, "auto"),
        (with_homology("max_points = 0\nn_landmarks = 300"), "n_landmarks", _approximation,
         "landmarks:300"),
        (with_homology("max_points = 0\nmax_bound_rel = 0.05"), "max_bound_rel", _approximation,
         "bound:0.05"),
        (with_homology("n_null = 39"), "[homology] n_null", lambda c: c.significance,
         SignificanceOptions(method="gaussian", n_null=39)),
        (with_homology("n_null = 39\nalpha = 0.01"), "[homology] alpha",
         lambda c: c.significance, SignificanceOptions(method="gaussian", n_null=39, alpha=0.01)),
        (with_homology("n_null = 0"), "[homology] n_null", lambda c: c.significance,
         SignificanceOptions(method="none")),
        (with_homology("n_null = 0\nalpha = 0.01"), "[homology] n_null",
         lambda c: c.significance, SignificanceOptions(method="none")),
        (with_homology("long_bar = 0.3"), "[homology] long_bar", lambda c: c.summary.long_bar,
         0.3),
        (with_homology("drop_nonfinite = true"), "[homology] drop_nonfinite", _nonfinite,
         ("drop", "drop")),
        (with_homology("drop_nonfinite = false"), "[homology] drop_nonfinite", _nonfinite,
         ("raise", "raise")),
        (MINIMAL.replace("[inputs]", "[inputs]\nbatch_size = 16"), "[inputs] batch_size",
         lambda c: c.capture.batch_size, 16),
        (MINIMAL.replace("[inputs]", "[inputs]\nbatch_size = 0"), "[inputs] batch_size",
         lambda c: c.capture.batch_size, None),
    ],
)  # fmt: skip
def test_v1_key_lands_in_its_new_option(
    tmp_path: Path, text: str, old: str, read: Callable[[RunConfig], Any], expected: Any
) -> None:
    path = write(tmp_path, text)
    cfg, message = load_legacy(path)
    assert str(path) in message
    assert old in message
    assert read(cfg) == expected


def test_v1_certified_approximation_options(tmp_path: Path) -> None:
    text = with_homology('max_points = 0\nmax_bound_rel = 0.05\nmemory_budget = "2GB"')
    cfg, _ = load_legacy(write(tmp_path, text))
    assert cfg.homology.approximation.spec == "bound:0.05"
    assert cfg.homology.memory_budget == 2_000_000_000
    fixed, _ = load_legacy(write(tmp_path, with_homology("max_points = 0\nn_landmarks = 300")))
    assert fixed.homology.approximation.spec == "landmarks:300"
    assert fixed.homology.memory_budget == RipsOptions().memory_budget


def test_certified_approximation_options(tmp_path: Path) -> None:
    text = with_homology('approximation = "bound:0.05"\nmemory_budget = "2GB"')
    cfg = load_without_warnings(write(tmp_path, text))
    assert (cfg.homology.approximation.mode, cfg.homology.approximation.value) == ("bound", 0.05)
    assert cfg.homology.memory_budget == 2_000_000_000
    fixed = load_without_warnings(write(tmp_path, with_homology('approximation = "landmarks:300"')))
    assert (fixed.homology.approximation.mode, fixed.homology.approximation.value) == (
        "landmarks",
        300,
    )
    assert fixed.homology.memory_budget == 4_000_000_000
    plain = load_without_warnings(write(tmp_path, MINIMAL))
    assert plain.homology.approximation.spec == "subsample:1000"
    assert plain.homology.memory_budget == 4_000_000_000


def test_v1_subsample_then_landmarks_is_refused(tmp_path: Path) -> None:
    # 0.1 could take a uniform subsample (max_points) and then landmarks of it; no
    # approximation value says that any more, so an explicit max_points with landmarks is an
    # error naming both keys.
    for extra, landmarks in (
        ("max_points = 500\nn_landmarks = 300", "n_landmarks"),
        ("max_points = 500\nmax_bound_rel = 0.05", "max_bound_rel"),
    ):
        path = write(tmp_path, with_homology(extra))
        msg = config_error(path)
        assert str(path) in msg
        assert "[homology] max_points = 500" in msg
        assert landmarks in msg
        assert 'approximation = "landmarks:N"' in msg


@pytest.mark.parametrize(
    ("extra", "spec"),
    [("n_landmarks = 300", "landmarks:300"), ("max_bound_rel = 0.05", "bound:0.05")],
)
def test_v1_landmarks_alone_take_every_point_and_say_so(
    tmp_path: Path, extra: str, spec: str
) -> None:
    # 0.1's implicit max_points = 1000 subsample before landmarks is not kept: the config runs,
    # with landmarks of every point, and the warning says so.
    path = write(tmp_path, with_homology(extra))
    with pytest.warns(DeprecationWarning, match=r"\(of every point\)"):
        cfg = load_config(path)
    assert cfg.homology.approximation.spec == spec


@pytest.mark.parametrize("max_points", ["", "max_points = 0\n"])
def test_v1_bound_and_landmarks_together_is_an_error(tmp_path: Path, max_points: str) -> None:
    # 0.1 refused max_bound_rel with n_landmarks; neither may be dropped silently now.
    path = write(tmp_path, with_homology(max_points + "max_bound_rel = 0.05\nn_landmarks = 100"))
    msg = config_error(path)
    assert str(path) in msg
    assert "[homology]" in msg
    assert "max_bound_rel" in msg
    assert "n_landmarks" in msg


@pytest.mark.parametrize(
    ("text", "old", "new"),
    [
        (with_homology('max_points = 500\napproximation = "auto"'), "[homology] max_points",
         "[homology] approximation"),
        (with_homology('max_points = 0\nn_landmarks = 30\napproximation = "auto"'),
         "n_landmarks", "[homology] approximation"),
        (with_homology("long_bar = 0.3") + "\n[summary]\nlong_bar = 0.2\n",
         "[homology] long_bar", "[summary] long_bar"),
        (with_homology("n_null = 5") + "\n[significance]\nn_null = 3\n",
         "[homology] n_null", "[significance] n_null"),
        (with_homology("n_null = 5\nalpha = 0.1") + "\n[significance]\nalpha = 0.2\n",
         "[homology] alpha", "[significance] alpha"),
        (with_capture("batch_size = 8").replace("[inputs]", "[inputs]\nbatch_size = 4"),
         "[inputs] batch_size", "[capture] batch_size"),
        (with_capture('nonfinite = "keep"') + "\n[homology]\ndrop_nonfinite = true\n",
         "[homology] drop_nonfinite", "[capture] nonfinite"),
        (with_homology('drop_nonfinite = true\nnonfinite = "raise"'),
         "[homology] drop_nonfinite", "[homology] nonfinite"),
    ],
)  # fmt: skip
def test_key_in_both_old_and_new_place_is_an_error(
    tmp_path: Path, text: str, old: str, new: str
) -> None:
    path = write(tmp_path, text)
    msg = config_error(path)
    assert str(path) in msg
    assert old in msg
    assert new in msg


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("text", "unknown", "suggestion", "where"),
    [
        (with_capture("reductoin = 'mean'"), "reductoin", "reduction", "[capture]"),
        (with_homology("max_dim = 2"), "max_dim", "maxdim", "[homology]"),
        ("titel = 'x'\n" + MINIMAL, "titel", "title", "the top level"),
        (MINIMAL.replace("[model]", "[model]\ncheckpoint = 'x'"), "checkpoint", "checkpoints",
         "[model]"),
        (MINIMAL + "\n[significance]\nnnull = 3\n", "nnull", "n_null", "[significance]"),
        (MINIMAL + "\n[summary]\nlongbar = 0.3\n", "longbar", "long_bar", "[summary]"),
        (MINIMAL + "\n[execution]\nexecuter = 'serial'\n", "executer", "executor",
         "[execution]"),
    ],
)  # fmt: skip
def test_unknown_key_suggests_the_closest(
    tmp_path: Path, text: str, unknown: str, suggestion: str, where: str
) -> None:
    path = write(tmp_path, text)
    msg = config_error(path)
    assert repr(unknown) in msg
    assert f"did you mean {suggestion!r}" in msg
    assert f"in {where}" in msg
    assert str(path) in msg


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'homolgy' \(did you mean 'homology'\?\)"):
        load_config(write(tmp_path, MINIMAL + "\n[homolgy]\nmaxdim = 1\n"))


def test_missing_required_keys_are_all_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[model]\nfactory = "a:b"\n'))
    msg = str(info.value)
    for key in ("inputs.factory", "capture.layers"):
        assert key in msg
    assert "model.factory" not in msg
    assert "model.checkpoints" not in msg  # optional: a pretrained model is one checkpoint


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ('maxdim = "1"', "[homology] maxdim"),
        ("maxdim = 1.0", "[homology] maxdim"),
        ("maxdim = true", "[homology] maxdim"),
        ('max_points = "many"', "[homology] max_points"),
        ("seed = 1.5", "[homology] seed"),
        ("seed = false", "[homology] seed"),
        ('long_bar = "0.3"', "[summary] long_bar"),  # a 0.1 key, read in its new place
        ("metric = 3", "[homology] metric"),
        ("backend = ['ripser']", "[homology] backend"),
        ('drop_nonfinite = "false"', "[homology] drop_nonfinite"),
        ("drop_nonfinite = 1", "[homology] drop_nonfinite"),
        ("approximation = 500", "[homology] approximation"),
        ('coeff = "2"', "[homology] coeff"),
        ("memory_budget = true", "[homology] memory_budget"),
        ("nonfinite = false", "[homology] nonfinite"),
        ("views = 3", "[homology] views"),
    ],
)
def test_wrong_types_in_homology(tmp_path: Path, extra: str, where: str) -> None:
    path = write(tmp_path, with_homology(extra))
    msg = config_error(path)
    assert str(path) in msg
    assert where in msg


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (MINIMAL.replace('layers = "fc1"', "layers = []"), "[capture] layers"),
        (MINIMAL.replace('layers = "fc1"', "layers = [1, 2]"), "[capture] layers"),
        (with_capture("reduction = 1.5"), "[capture] reduction"),
        (with_capture("output_index = 1.5"), "[capture] output_index"),
        (with_capture('output_index = "0"'), "[capture] output_index"),  # a position as text
        (with_capture("output_index = true"), "[capture] output_index"),
        (with_capture('hook = "both"'), "[capture] hook"),
        (with_capture('batch_size = "all"'), "[capture] batch_size"),
        (with_capture("max_points = 2.5"), "[capture] max_points"),
        (with_capture('dtype = "float64"'), "[capture] dtype"),
        (with_capture('storage = "disk"'), "[capture] storage"),
        (with_capture("storage_dir = 3"), "[capture] storage_dir"),
        (with_capture('nonfinite = "ignore"'), "[capture] nonfinite"),
        (MINIMAL.replace('factory = "pkg.mod:make"', "factory = 3"), "[model] factory"),
        (MINIMAL.replace('"ckpts"', '"ckpts"\nstrict = 1'), "[model] strict"),
        # a 0.1 key, read in its new place
        (MINIMAL.replace("[inputs]", '[inputs]\nbatch_size = "all"'), "[capture] batch_size"),
        ("model = 3\n" + MINIMAL.replace("[model]", "[x]"), "unknown key(s) 'x'"),
        ("model = 3\n" + MINIMAL[MINIMAL.index("[inputs]") :], "[model] must be a table"),
        (MINIMAL + '\n[significance]\nmethod = "bootstrap"\n', "[significance] method"),
        (MINIMAL + "\n[significance]\nn_null = 2.5\n", "[significance] n_null"),
        (MINIMAL + '\n[summary]\nlong_bar = "long"\n', "[summary] long_bar"),
        (MINIMAL + "\n[execution]\nexecutor = 2\n", "[execution] executor"),
        (MINIMAL + "\n[execution]\ncache = 3\n", "[execution] cache"),
        # bad values
        (with_capture("batch_size = -1"), "[capture] batch_size"),
        (with_capture("max_points = -1"), "[capture] max_points"),
        (with_capture("seed = -1"), "[capture] seed"),
        (with_capture('reduction = "max"'), "[capture] reduction"),
        (with_capture('storage = "memmap"'), "storage_dir"),
        (MINIMAL + "\n[significance]\nn_null = 0\n", "[significance] n_null"),
        (MINIMAL + "\n[significance]\nalpha = 0.0\n", "[significance] alpha"),
        (MINIMAL + "\n[significance]\nsubsample_size = 1\n", "[significance] subsample_size"),
        (MINIMAL + "\n[summary]\nlong_bar = -1.0\n", "[summary] long_bar"),
        (MINIMAL + '\n[execution]\nexecutor = "threads"\n', "[execution] executor"),
        (MINIMAL + '\n[execution]\nexecutor = "processes:0"\n', "[execution] executor"),
    ],
)
def test_wrong_types_and_values_elsewhere(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    msg = config_error(path)
    assert str(path) in msg
    assert where in msg


@pytest.mark.parametrize("maxdim", [-1, 4, 10])
def test_maxdim_out_of_range(tmp_path: Path, maxdim: int) -> None:
    path = write(tmp_path, with_homology(f"maxdim = {maxdim}"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(
        f"{path}: [homology] maxdim must be an int in [0, 3], got {maxdim}."
    )
    assert info.value.key == "maxdim"


@pytest.mark.parametrize("maxdim", [0, 3])
def test_maxdim_bounds_are_inclusive(tmp_path: Path, maxdim: int) -> None:
    cfg = load_config(write(tmp_path, with_homology(f"maxdim = {maxdim}")))
    assert cfg.homology.maxdim == maxdim


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("max_points = -5", "[homology] max_points"),
        ("seed = -1", "[homology] seed"),
        ("long_bar = -0.1", "[summary] long_bar"),  # a 0.1 key, read in its new place
        ('metric = "manhattan"', "[homology] metric"),
        ('backend = "dionysus"', "[homology] backend"),
        ("max_bound_rel = 0", "max_bound_rel"),
        ("n_landmarks = 1", "n_landmarks"),
        # the 0.1 keys are read as an approximation, and checked as one
        ("max_points = 0\nmax_bound_rel = 0", "[homology] approximation"),
        ("max_points = 0\nn_landmarks = 1", "[homology] approximation"),
        ('memory_budget = "lots"', "[homology] memory_budget"),
        ("memory_budget = 0", "[homology] memory_budget"),
        ("n_null = -1", "[homology] n_null"),
        ("n_null = 5\nalpha = 1.5", "[significance] alpha"),
        ('approximation = "landmarks:1"', "[homology] approximation"),
        ('approximation = "bound:2"', "[homology] approximation"),
        ('approximation = "sometimes"', "[homology] approximation"),
        ("coeff = 4", "[homology] coeff"),
        ('nonfinite = "keep"', "[homology] nonfinite"),
    ],
)
def test_invalid_values_are_rejected_at_load_time(tmp_path: Path, extra: str, where: str) -> None:
    # Bad values must fail when the config is read, not after the models have run.
    path = write(tmp_path, with_homology(extra))
    msg = config_error(path)
    assert str(path) in msg
    assert where in msg


def test_memmap_without_folder_names_the_section(tmp_path: Path) -> None:
    path = write(tmp_path, with_capture('storage = "memmap"'))
    assert config_error(path).startswith(f"{path}: [capture]")


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
