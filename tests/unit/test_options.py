"""Option objects: one table of allowed values per class, checked once, reachable everywhere."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tda_interp as ti
from tda_interp.exceptions import ConfigError
from tda_interp.options import (
    Approximation,
    CaptureOptions,
    ExecutionOptions,
    Options,
    RipsOptions,
    SignificanceOptions,
    SummaryOptions,
    parse_memory,
)

CLASSES: list[type[Options]] = [
    CaptureOptions,
    RipsOptions,
    SignificanceOptions,
    SummaryOptions,
    ExecutionOptions,
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_field_has_a_constraint_and_a_docstring_entry(cls: type[Options]) -> None:
    fields = [f.name for f in dataclasses.fields(cls)]
    assert set(cls._constraints) == set(fields)
    doc = inspect.getdoc(cls) or ""
    for name in fields:
        assert re.search(rf"^{name} :", doc, re.M), f"{cls.__name__}.{name} is not documented"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_frozen_keyword_only_and_defaults_are_valid(cls: type[Options]) -> None:
    opts = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.__setattr__(dataclasses.fields(cls)[0].name, None)
    with pytest.raises(TypeError):
        cls(None)  # type: ignore[misc]
    assert cls.from_dict(opts.to_dict()) == opts or cls is ExecutionOptions


@pytest.mark.parametrize(
    ("cls", "key", "value", "expected"),
    [
        (RipsOptions, "maxdim", -1, "an int in [0, 3]"),
        (RipsOptions, "maxdim", True, "an int in [0, 3]"),
        (RipsOptions, "maxdim", 1.0, "an int in [0, 3]"),
        (RipsOptions, "metric", "manhattan", "one of 'euclidean'"),
        (RipsOptions, "coeff", 4, "a prime"),
        (RipsOptions, "backend", "dionysus", "one of 'auto'"),
        (RipsOptions, "seed", -3, "an int >= 0"),
        (RipsOptions, "approximation", "landmark:3", "'subsample:N'"),
        (RipsOptions, "approximation", "bound:2", "'bound' needs a fraction"),
        (RipsOptions, "approximation", "landmarks:1", "needs a number of points >= 2"),
        (RipsOptions, "memory_budget", "lots", "a memory size"),
        (RipsOptions, "nonfinite", "keep", "one of 'raise', 'drop'"),
        (CaptureOptions, "reduction", "median", "one of 'none'"),
        (CaptureOptions, "output_index", 1.5, "an int or a name or None"),
        (CaptureOptions, "hook", "backward", "one of 'output', 'input'"),
        (CaptureOptions, "batch_size", 0, "an int >= 1 or None"),
        (CaptureOptions, "max_points", -1, "an int >= 1 or None"),
        (CaptureOptions, "dtype", "float64", "one of 'float32', 'float16'"),
        (CaptureOptions, "nonfinite", "ignore", "one of 'raise', 'drop', 'keep'"),
        (SignificanceOptions, "alpha", 1.0, "a number in (0, 1)"),
        (SignificanceOptions, "n_null", 0, "an int >= 1"),
        (SignificanceOptions, "method", "bootstrap", "one of 'universal', 'gaussian'"),
        (SummaryOptions, "long_bar", -0.1, "a number >= 0"),
        (ExecutionOptions, "executor", "threads", "'auto', 'serial'"),
        (ExecutionOptions, "executor", "processes:0", "'auto', 'serial'"),
        (ExecutionOptions, "cache", 3, "true, false, a folder"),
    ],
)
def test_bad_values_say_what_was_expected_and_received(
    cls: type[Options], key: str, value: Any, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        cls(**{key: value})
    text = str(info.value)
    assert text.startswith(f"Expected {key} to be ")
    assert expected in text and repr(value) in text
    assert info.value.key == key


def test_values_are_normalised_once() -> None:
    opts = RipsOptions(approximation="Bound:0.05", memory_budget="2GB")
    assert opts.approximation == Approximation("bound", 0.05)
    assert opts.memory_budget == 2_000_000_000
    assert SummaryOptions(long_bar=1).long_bar == 1.0 and isinstance(
        SummaryOptions(long_bar=1).long_bar, float
    )
    assert CaptureOptions(storage="memmap", storage_dir="~/x").storage_dir == Path.home() / "x"


def test_cross_field_rule() -> None:
    with pytest.raises(ConfigError, match="storage_dir"):
        CaptureOptions(storage="memmap")


def test_replace_checks_again_and_knows_its_fields() -> None:
    opts = RipsOptions()
    assert opts.replace(maxdim=2).maxdim == 2
    with pytest.raises(ConfigError, match="Expected maxdim"):
        opts.replace(maxdim=9)
    with pytest.raises(ConfigError, match=r"'maxdm' \(did you mean 'maxdim'\?\)"):
        opts.replace(maxdm=2)


def test_params_leave_out_how_the_work_is_done() -> None:
    capture = CaptureOptions(batch_size=8, storage="memmap", storage_dir="/tmp/x")
    assert set(capture.params()) == set(capture.to_dict()) - {
        "batch_size",
        "storage",
        "storage_dir",
    }
    assert ExecutionOptions(executor="serial").params() == {}
    assert RipsOptions().params()["approximation"] == "subsample:1000"


def test_unknown_keyword_of_a_function_gets_a_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"vietoris_rips\(\) got unknown option\(s\) 'maxdm'"):
        ti.vietoris_rips([[0.0], [1.0]], maxdm=2)
    with pytest.raises(ConfigError, match=r"'reducton' \(did you mean 'reduction'\?\)"):
        with ti.capture(__import__("torch").nn.Linear(2, 2), "*", reducton="mean"):
            pass


def test_function_overrides_and_options_object_agree() -> None:
    X = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    a = ti.vietoris_rips(X, maxdim=1, backend="ripser")
    b = ti.vietoris_rips(X, RipsOptions(maxdim=1, backend="ripser"))
    c = ti.vietoris_rips(X, RipsOptions(maxdim=0), maxdim=1, backend="ripser")
    assert a == b == c
    with pytest.raises(ConfigError, match="expected options to be a RipsOptions"):
        ti.vietoris_rips(X, CaptureOptions())  # type: ignore[arg-type]


# ---------------------------------------------------------------------- TOML
def test_toml_errors_name_file_section_and_key(tmp_path: Path) -> None:
    file = tmp_path / "run.toml"
    with pytest.raises(ConfigError) as info:
        RipsOptions.from_toml({"maxdim": 7}, file=file, section="homology")
    text = str(info.value)
    assert text.startswith(f"{file}: [homology] maxdim must be an int in [0, 3], got 7.")
    with pytest.raises(ConfigError) as info:
        RipsOptions.from_toml({"maxdm": 2}, file=file, section="homology", skip=["views"])
    text = str(info.value)
    assert "'maxdm' (did you mean 'maxdim'?) in [homology]" in text and "views" in text


def test_toml_null_sentinels_and_paths(tmp_path: Path) -> None:
    opts = CaptureOptions.from_toml(
        {"batch_size": 0, "max_points": 0, "storage": "memmap", "storage_dir": "acts"},
        file="f.toml",
        section="capture",
        base_dir=tmp_path,
    )
    assert opts.batch_size is None and opts.max_points is None
    assert opts.storage_dir == tmp_path / "acts"
    with pytest.raises(ConfigError, match="unknown key"):
        ExecutionOptions.from_toml({"progress": "bar"}, file="f.toml", section="execution")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_python_option_is_reachable_from_toml(cls: type[Options]) -> None:
    """Each field round-trips through a TOML table, except Python-only objects."""
    opts = cls()
    table = {k: v for k, v in opts.to_dict().items() if v is not None and k not in cls._python_only}
    back = cls.from_toml(table, file="f.toml", section="x")
    for key in table:
        assert getattr(back, key) == getattr(opts, key)
    assert cls._python_only <= {"progress"}


# ---------------------------------------------------------------------- Approximation
@pytest.mark.parametrize(
    "spec", ["auto", "exact", "subsample:1000", "landmarks", "landmarks:300", "bound:0.05"]
)
def test_approximation_spec_round_trips(spec: str) -> None:
    assert Approximation.parse(spec).spec == spec
    assert str(RipsOptions(approximation=spec).approximation) == spec


@given(st.integers(2, 10**6))
def test_approximation_counts(n: int) -> None:
    assert Approximation.parse(f"landmarks:{n}").value == n
    assert Approximation.parse(f"subsample:{n}") == Approximation("subsample", n)


def test_parse_memory_units() -> None:
    assert parse_memory("1.5GiB") == int(1.5 * 2**30)
    with pytest.raises(ConfigError):
        parse_memory(0)


# ---------------------------------------------------------------------- entry points
def _n_params(func: Any) -> int:
    return len(inspect.signature(func).parameters)


def test_entry_points_take_options_whole() -> None:
    assert _n_params(ti.run_pipeline) <= 14
    assert _n_params(ti.TopologyMonitor.__init__) - 1 <= 14  # self
    assert _n_params(ti.vietoris_rips) <= 10
    for func in (ti.run_pipeline, ti.TopologyMonitor.__init__):
        names = set(inspect.signature(func).parameters)
        for cls in CLASSES:  # no option of a class is spelled out again as a parameter
            assert not (set(cls.field_names()) & names), (func, cls)


def test_config_sections_mirror_the_option_classes() -> None:
    from tda_interp.config import RunConfig

    kinds = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    for name, cls in (
        ("capture", "CaptureOptions"),
        ("homology", "RipsOptions"),
        ("significance", "SignificanceOptions"),
        ("summary", "SummaryOptions"),
        ("execution", "ExecutionOptions"),
    ):
        assert kinds[name] == cls


def test_importing_options_does_not_import_torch() -> None:
    import subprocess

    code = "import sys, tda_interp.options; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
