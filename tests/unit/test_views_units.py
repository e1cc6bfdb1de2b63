"""Views that select units (``units:``) and views chosen per checkpoint (``factory:``)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tda_interp.config import load_config
from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.homology import vietoris_rips
from tda_interp.homology.views import (
    View,
    apply_view,
    bind_view,
    factory_view,
    parse_view,
    resolve_views,
    units_view,
)

X = np.arange(24.0).reshape(3, 8)

CONFIG = """
[model]
factory = "models.py:make_model"
[inputs]
factory = "models.py:inputs"
[capture]
layers = ["fc"]
[homology]
views = [{views}]
"""


# ---------------------------------------------------------------------- units:<indices>
@pytest.mark.parametrize(
    ("spec", "name", "columns"),
    [
        ("units:0,5,7", "units:0,5,7", [0, 5, 7]),
        ("units:0-3", "units:0-3", [0, 1, 2, 3]),
        ("UNITS: 7, 0-2", "units:0-2,7", [0, 1, 2, 7]),
        ("units:4", "units:4", [4]),
        ("units:2-2,3", "units:2-3", [2, 3]),
    ],
)
def test_units_by_index_and_range(spec: str, name: str, columns: list[int]) -> None:
    view = parse_view(spec)
    assert view.kind == "units" and view.name == name
    np.testing.assert_array_equal(apply_view(X, view), X[:, columns])
    assert parse_view(view.name) == view  # the recorded name reads back as the same view


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("units:", r"'units:'.*expected 0-based unit indices .*'units:0-63'.*'units:mask\.npy'"),
        ("units:a,b", r"expected 0-based unit indices"),
        ("units:5-2", r"the range '5-2' ends before it starts; write '2-5'"),
        ("units:1,1", r"Unit\(s\) \[1\] are listed more than once"),
        ("units:0-3,2", r"Unit\(s\) \[2\] are listed more than once"),
        ("units:12#0123456789ab", r"names a long unit selection by its hash"),
    ],
)
def test_units_errors_name_the_view_and_the_fix(spec: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_view(spec)
    assert repr(spec) in str(info.value) or spec in str(info.value)


def test_units_beyond_the_layer_width_is_an_activation_error() -> None:
    with pytest.raises(ActivationError, match=r"selects unit 9, but the cloud has 8 features"):
        apply_view(X, "units:0,9")


def test_long_unit_lists_are_recorded_by_count_and_hash() -> None:
    view = units_view(np.arange(0, 400, 2))
    assert view.name.startswith("units:200#") and len(view.name) < 30
    np.testing.assert_array_equal(
        apply_view(np.ones((2, 400)) * np.arange(400), view)[0], np.arange(0, 400, 2)
    )
    assert view != units_view(np.arange(1, 400, 2))


def test_units_view_rejects_what_is_not_a_selection() -> None:
    with pytest.raises(ConfigError, match=r"at least one unit"):
        units_view(np.zeros(4, dtype=bool))
    with pytest.raises(ConfigError, match=r">= 0"):
        units_view([-1, 2])
    with pytest.raises(ConfigError, match=r"1-D array of 0-based indices or a boolean mask"):
        units_view(np.ones((2, 2)))
    with pytest.raises(ConfigError, match=r"mask\.astype\(bool\)"):
        units_view(np.array([0, 1, 1, 0]))  # a 0/1 mask saved as integers


# ---------------------------------------------------------------------- units:<mask.npy>
def test_mask_file_relative_to_the_config_folder(tmp_path: Path) -> None:
    mask = np.zeros(8, dtype=bool)
    mask[[1, 2, 6]] = True
    (tmp_path / "masks").mkdir()
    np.save(tmp_path / "masks" / "fourier.npy", mask)
    (tmp_path / "run.toml").write_text(CONFIG.format(views='"raw", "units:masks/fourier.npy"'))
    cfg = load_config(tmp_path / "run.toml")
    assert cfg.views[1] == f"units:{tmp_path.resolve() / 'masks' / 'fourier.npy'}"
    (view,) = [v for v in resolve_views(cfg.views) if v.kind == "units"]
    assert view.name == "units:1-2,6" and view.width == 8
    assert view.source == str(tmp_path.resolve() / "masks" / "fourier.npy")
    np.testing.assert_array_equal(apply_view(X, view), X[:, [1, 2, 6]])
    with pytest.raises(ActivationError, match=r"is a mask of 8 units, but the cloud has 4"):
        apply_view(X[:, :4], view)
    # an integer array is a list of indices
    np.save(tmp_path / "idx.npy", np.array([7, 3]))
    assert parse_view("units:idx.npy", base_dir=tmp_path).name == "units:3,7"


def test_missing_or_bad_mask_file_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(CONFIG.format(views='"units:nope.npy"'))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "run.toml")
    msg = str(info.value)
    assert "run.toml: [homology] views" in msg and "'units:" in msg and "numpy.save" in msg
    np.save(tmp_path / "m.npy", np.ones((3, 2)))
    with pytest.raises(ConfigError, match=r"boolean mask.*mask\.astype\(bool\)|boolean mask"):
        parse_view("units:m.npy", base_dir=tmp_path)


# ---------------------------------------------------------------------- factory views
class _Model:
    """A stand-in for a model: which units each 'checkpoint' makes loud."""

    def __init__(self, loud: list[int]) -> None:
        self.loud = loud


def _loud_units(model: Any, layer: str, activations: np.ndarray) -> Any:
    return np.array(model.loud)


def test_factory_view_follows_the_model() -> None:
    view = factory_view(_loud_units, "loud")
    pts = np.random.default_rng(0).normal(size=(30, 6))
    first = bind_view(view, model=_Model([0, 1]), layer="fc", points=pts)
    later = bind_view(view, model=_Model([5, 3]), layer="fc", points=pts)
    assert first.name == later.name == "loud" and first.kind == later.kind == "projection"
    assert first.source == "units 0, 1 of 6 chosen by loud"
    assert later.source == "units 3, 5 of 6 chosen by loud"
    np.testing.assert_array_equal(apply_view(pts, first), pts[:, [0, 1]])
    np.testing.assert_array_equal(apply_view(pts, later), pts[:, [3, 5]])
    assert vietoris_rips(pts, view=later).provenance.view == "loud"


def test_other_views_pass_through_bind() -> None:
    assert bind_view("pc1-2", model=None, layer="fc", points=X) == parse_view("pc1-2")


@pytest.mark.parametrize(
    ("result", "columns"),
    [
        (np.array([True, False, True, False]), [0, 2]),
        ([3, 1], [1, 3]),
        ("units:0-1", [0, 1]),
        (units_view([2]), [2]),
        (np.eye(4)[:, [3]], [3]),
    ],
)
def test_factory_results(result: Any, columns: list[int]) -> None:
    pts = np.random.default_rng(1).normal(size=(5, 4))
    bound = bind_view(
        factory_view(lambda model, layer, acts: result, "f"), model=None, layer="", points=pts
    )
    np.testing.assert_allclose(apply_view(pts, bound), pts[:, columns])


def test_factory_choosing_nothing_is_a_recorded_failure_not_a_crash() -> None:
    bound = bind_view(
        factory_view(lambda model, layer, acts: np.zeros(4, dtype=bool), "none"),
        model=None,
        layer="fc",
        points=np.ones((5, 4)),
        place="checkpoint 'step_1' layer 'fc'",
    )
    assert bound.name == "none"
    pickle.loads(pickle.dumps(bound))  # travels to worker processes
    with pytest.raises(ActivationError, match=r"chose no unit for this layer"):
        apply_view(np.ones((5, 4)), bound)


@pytest.mark.parametrize(
    ("result", "match"),
    [
        (np.ones(3, dtype=bool), r"returned a mask of 3 units, but the layer has 4 units"),
        ([9], r"returned unit 9, but the layer has 4 units"),
        (np.ones((3, 2)), r"projection from 3 features, but the layer has 4"),
        ("pc1-2", r"returned a 'pca' view; expected the units to keep"),
    ],
)
def test_factory_results_that_do_not_fit(result: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        bind_view(
            factory_view(lambda model, layer, acts: result, "f"),
            model=None,
            layer="fc",
            points=np.ones((5, 4)),
            place="checkpoint 'step_1' layer 'fc'",
        )
    assert str(info.value).startswith("checkpoint 'step_1' layer 'fc': ")


def test_factory_that_raises_names_itself_and_its_call() -> None:
    def broken(model: Any, layer: str, activations: np.ndarray) -> Any:
        raise KeyError("W_in")

    with pytest.raises(ConfigError, match=r"'f' raised KeyError.*broken\(model, layer, act"):
        bind_view(factory_view(broken, "f"), model=None, layer="fc", points=np.ones((5, 4)))


def test_unbound_factory_view_says_how_to_bind() -> None:
    with pytest.raises(ConfigError, match=r"bind_view\(view, model=\.\.\."):
        apply_view(X, factory_view(_loud_units, "loud"))


def test_factory_spec_from_a_file_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "units_helpers", raising=False)
    (tmp_path / "units_helpers.py").write_text(
        "def top(a, k):\n    return a.var(axis=0).argsort()[-k:]\n"
    )
    (tmp_path / "select.py").write_text(
        "from units_helpers import top\n\ndef loudest(model, layer, activations):\n"
        "    return top(activations, 2)\n"
    )
    (tmp_path / "run.toml").write_text(CONFIG.format(views='"factory:select.py:loudest"'))
    cfg = load_config(tmp_path / "run.toml")
    assert cfg.views == ("factory:select.py:loudest",)  # recorded as written
    (view,) = resolve_views(cfg.views, base_dir=cfg.base_dir)
    assert view.kind == "factory" and view.name == "factory:select.py:loudest"
    assert pickle.loads(pickle.dumps(view)) == view  # no function inside: workers re-import
    pts = np.random.default_rng(0).normal(size=(40, 5)) * [1, 9, 1, 1, 5]
    bound = bind_view(view, model=None, layer="fc", points=pts)
    assert bound.source == "units 1, 4 of 5 chosen by select.py:loudest"
    assert str(tmp_path.resolve()) not in sys.path  # restored after the import and the call
    sys.modules.pop("units_helpers", None)


def test_factory_spec_errors(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(CONFIG.format(views='"factory:nope.py:f"'))
    with pytest.raises(ConfigError, match=r"run\.toml: \[homology\] views: .*does not exist"):
        load_config(tmp_path / "run.toml")
    with pytest.raises(ConfigError, match=r"expected 'factory:<file\.py:function>'"):
        parse_view("factory:select.py")
    (tmp_path / "sel.py").write_text("def other(m, l, a):\n    return [0]\n")
    view = parse_view("factory:sel.py:loudest", base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"has no callable 'loudest'"):
        bind_view(view, model=None, layer="fc", points=np.ones((3, 2)))


def test_view_dataclass_is_unchanged_for_old_kinds() -> None:
    assert parse_view("pc1-2") == View(name="pc1-2", kind="pca", components=(0, 1))


# ------------------------------------------------------- project:<matrix.npy>, missing files
def test_projection_file_relative_to_the_config_folder(tmp_path: Path) -> None:
    matrix = np.eye(6)[:, [0, 3]]
    np.save(tmp_path / "proj.npy", matrix)
    view = parse_view("project:proj.npy", base_dir=tmp_path)
    assert view.source == str(tmp_path / "proj.npy")
    X = np.arange(24.0).reshape(4, 6)
    np.testing.assert_array_equal(apply_view(X, view), X @ matrix)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            "project:absent.npy",
            r"cannot read a projection matrix from .*numpy\.save\(path, matrix\)",
        ),
        ("units:absent.npy", r"cannot read a unit mask from .*numpy\.save\(path, mask\)"),
    ],
)
def test_an_unreadable_view_file_says_which_and_how_to_write_one(
    tmp_path: Path, spec: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_view(spec, base_dir=tmp_path)
