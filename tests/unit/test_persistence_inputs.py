"""vietoris_rips on awkward input, over a memory budget, and through PCA views."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import gudhi
import numpy as np
import pytest
from numpy.typing import NDArray

from tda_interp.exceptions import ActivationError, ConfigError, HomologyError, TdaInterpWarning
from tda_interp.homology import check_cloud, vietoris_rips
from tda_interp.homology.estimate import estimate_cost

Cloud = NDArray[np.float64]
WHERE: dict[str, Any] = {"site": "blocks.3.mlp", "checkpoint": "step_0700"}


def _assert_where(err: pytest.ExceptionInfo[BaseException]) -> None:
    assert "blocks.3.mlp" in str(err.value)
    assert "step_0700" in str(err.value)


def test_defaults_are_exact_and_recorded(noisy_circle: Cloud) -> None:
    d = vietoris_rips(noisy_circle, backend="ripser")
    m = d.meta
    assert m["approximate"] is False
    assert m["n_landmarks"] is None
    assert m["bottleneck_bound"] == 0.0
    assert m["pca_residual_bound"] is None
    assert m["cost_estimate"]["n_points"] == len(noisy_circle)
    json.dumps(m)  # the run store writes meta as JSON


def test_constant_cloud_is_an_error() -> None:
    with pytest.raises(ActivationError, match="identical") as err:
        vietoris_rips(np.ones((6, 3)), **WHERE)
    _assert_where(err)


def test_duplicates_warn_with_a_count_and_change_nothing(noisy_circle: Cloud) -> None:
    X = np.vstack([noisy_circle, noisy_circle[:3], -0.0 * noisy_circle[:1] + noisy_circle[:1]])
    with pytest.warns(TdaInterpWarning, match="4 of 64 points.*duplicate") as rec:
        d = vietoris_rips(X, backend="ripser", **WHERE)
    assert "blocks.3.mlp" in str(rec[0].message)
    base = vietoris_rips(noisy_circle, backend="ripser")
    np.testing.assert_array_equal(d[1], base[1])
    # a duplicate merges at distance 0: a zero-length H0 bar, which ripser leaves out
    np.testing.assert_array_equal(d[0], base[0])
    assert d.n_points == len(X)
    with pytest.warns(TdaInterpWarning, match="duplicate"):
        check_cloud(np.array([[0.0, 1.0], [-0.0, 1.0], [2.0, 3.0]]))


def test_too_few_points_for_maxdim_warns() -> None:
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with pytest.warns(TdaInterpWarning, match="at least 2k \\+ 2 = 4 points"):
        d = vietoris_rips(X, maxdim=1, backend="ripser")
    assert len(d[1]) == 0
    # a square (4 points) does carry H1: no warning there
    sq = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert len(vietoris_rips(sq, maxdim=1, backend="ripser")[1]) == 1


def test_view_needing_more_points_names_site_and_checkpoint() -> None:
    X = np.random.default_rng(0).normal(size=(3, 10))  # rank <= 3
    with pytest.raises(ActivationError, match="capture more") as err:
        vietoris_rips(X, view="pca5", **WHERE)
    _assert_where(err)


def test_nan_keeps_working_with_site(gaussian: Cloud) -> None:
    X = gaussian.copy()
    X[4] = np.nan
    with pytest.raises(ActivationError, match="drop_nonfinite") as err:
        vietoris_rips(X, **WHERE)
    _assert_where(err)


def test_over_budget_with_landmarks_never_raises(noisy_circle: Cloud) -> None:
    need = estimate_cost(60, maxdim=1, n_features=2).memory_bytes
    with pytest.raises(HomologyError, match="over the memory budget") as err:
        vietoris_rips(
            noisy_circle, backend="ripser", memory_budget=need // 2, landmarks="never", **WHERE
        )
    _assert_where(err)
    assert "n_landmarks=" in str(err.value)
    # the same budget with the default policy computes on landmarks instead
    with pytest.warns(TdaInterpWarning, match="max-min landmarks"):
        vietoris_rips(noisy_circle, backend="ripser", memory_budget=need // 2)


def test_auto_landmarks_above_a_tiny_budget(make_circle: Callable[..., Cloud]) -> None:
    X = make_circle(400, noise=0.01, seed=3)
    budget = estimate_cost(80, maxdim=1, n_features=2, backend="ripser").memory_bytes
    with pytest.warns(TdaInterpWarning, match=r"over the memory budget.*landmarks") as rec:
        d = vietoris_rips(X, backend="ripser", memory_budget=budget)
    assert "<=" in str(rec[0].message)
    m = d.meta
    assert m["approximate"] is True
    assert 2 <= m["n_landmarks"] <= 80
    assert d.n_points == m["n_landmarks"]
    assert m["covering_bound"] == pytest.approx(2 * m["covering_radius"])
    assert m["interleaving_bound"] is not None
    assert m["bottleneck_bound"] == min(m["covering_bound"], m["interleaving_bound"])
    assert m["bottleneck_bound_rel"] == pytest.approx(m["bottleneck_bound"] / 2.0, rel=0.05)
    assert m["cost_estimate"]["memory_bytes"] <= budget < m["cost_estimate_exact"]["memory_bytes"]
    json.dumps(m)
    # ground truth: within the bound of the exact diagram, and the circle survives
    exact = vietoris_rips(X, backend="ripser")
    for k in (0, 1):
        fa, fb = exact.finite(k), d.finite(k)
        assert gudhi.bottleneck_distance(fa, fb) <= m["bottleneck_bound"] + 1e-6
    assert d.lifetimes(1, relative=True)[0] > 0.5


def test_explicit_landmarks_and_policies(noisy_circle: Cloud) -> None:
    d = vietoris_rips(noisy_circle, backend="ripser", n_landmarks=20, seed=1)
    assert d.meta["n_landmarks"] == 20
    assert d.meta["approximate"] is True
    same = vietoris_rips(noisy_circle, backend="ripser", n_landmarks=20, seed=1)
    assert d == same
    whole = vietoris_rips(noisy_circle, backend="ripser", n_landmarks=1000)
    assert whole.meta["approximate"] is False
    always = vietoris_rips(noisy_circle, backend="ripser", landmarks="always")
    assert always.meta["approximate"] is False  # everything fits the default budget
    with pytest.raises(ConfigError, match="landmarks='never'"):
        vietoris_rips(noisy_circle, n_landmarks=10, landmarks="never")
    with pytest.raises(ConfigError, match="'auto', 'never' or 'always'"):
        vietoris_rips(noisy_circle, landmarks="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="memory size"):
        vietoris_rips(noisy_circle, memory_budget="plenty")


def _circle_hd(n: int = 400, dim: int = 64, noise: float = 0.05, seed: int = 0) -> Cloud:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    q, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return np.c_[np.cos(t), np.sin(t)] @ q.T + noise * rng.normal(size=(n, dim)) / np.sqrt(dim)


def test_max_bound_rel_certified_approximate_mode() -> None:
    X = _circle_hd()
    d = vietoris_rips(X, backend="ripser", max_bound_rel=0.05, **WHERE)
    m = d.meta
    assert m["approximate"] is True
    assert m["max_bound_rel"] == 0.05
    assert 2 < m["n_landmarks"] < 200
    assert m["bottleneck_bound_rel"] <= 0.05
    assert m["bottleneck_bound"] == min(m["covering_bound"], m["interleaving_bound"])
    json.dumps(m)
    exact = vietoris_rips(X, backend="ripser")
    for k in (0, 1):
        assert (
            gudhi.bottleneck_distance(exact.finite(k), d.finite(k)) <= m["bottleneck_bound"] + 1e-6
        )
    # the circle is there, and far above the bound
    assert d.lifetimes(1, relative=True)[0] > 0.5


def test_max_bound_rel_truncates_when_no_subset_will_do() -> None:
    noise = np.random.default_rng(0).normal(size=(150, 100))  # every point is far from the rest
    d = vietoris_rips(noise, backend="ripser", max_bound_rel=0.05)
    m = d.meta
    assert m["n_landmarks"] is None and d.n_points == 150  # every point, filtration truncated
    assert m["approximate"] is True
    assert m["truncated_at"] < m["enclosing_radius"]
    assert m["bottleneck_bound"] == pytest.approx(m["truncation_bound"])
    assert m["bottleneck_bound_rel"] <= 0.05 + 1e-12
    assert int(np.isinf(d.pairs[0][:, 1]).sum()) == 1
    exact = vietoris_rips(noise, backend="ripser")
    for k in (0, 1):
        assert (
            gudhi.bottleneck_distance(exact.finite(k), d.finite(k)) <= m["bottleneck_bound"] + 1e-5
        )


def test_max_bound_rel_over_budget_and_bad_combinations() -> None:
    X = _circle_hd(300)
    budget = estimate_cost(10, maxdim=1, n_features=64, backend="ripser").memory_bytes
    with pytest.raises(HomologyError, match=r"needs more than the \d+ landmarks") as err:
        vietoris_rips(X, backend="ripser", max_bound_rel=0.01, memory_budget=budget, **WHERE)
    _assert_where(err)
    with pytest.raises(ConfigError, match="drop n_landmarks"):
        vietoris_rips(X, max_bound_rel=0.05, n_landmarks=50)
    with pytest.raises(ConfigError, match="drop landmarks='never'"):
        vietoris_rips(X, max_bound_rel=0.05, landmarks="never")
    for bad in (0.0, -1, True):
        with pytest.raises(ConfigError, match="max_bound_rel > 0"):
            vietoris_rips(X, max_bound_rel=bad)


def test_uniform_subsample_has_no_bound(gaussian: Cloud) -> None:
    d = vietoris_rips(gaussian, max_points=20, backend="ripser")
    assert d.meta["approximate"] is True
    assert d.meta["bottleneck_bound"] is None


def test_pca_view_records_a_bound_that_holds(
    circle: Cloud, random_orthogonal: Callable[[int, int], Cloud]
) -> None:
    rng = np.random.default_rng(4)
    X = np.c_[circle, 0.05 * rng.normal(size=(60, 3))] @ random_orthogonal(5, 2)
    proj = vietoris_rips(X, view="pc1-2", backend="ripser")
    raw = vietoris_rips(X, backend="ripser")
    bound = proj.meta["pca_residual_bound"]
    assert 0 < bound < 0.5
    assert proj.meta["pca_residual_bound_rel"] >= bound / raw.scale
    for k in (0, 1):
        assert gudhi.bottleneck_distance(raw.finite(k), proj.finite(k)) <= bound + 1e-6
    assert vietoris_rips(X, view="centered", backend="ripser").meta["pca_residual_bound"] is None
