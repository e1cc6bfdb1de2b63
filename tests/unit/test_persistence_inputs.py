"""vietoris_rips on awkward input, over a memory budget, and through PCA views."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import gudhi
import numpy as np
import pytest
from numpy.typing import NDArray

from tda_interp.diagrams import Diagram, Provenance
from tda_interp.exceptions import ActivationError, ConfigError, HomologyError, TdaInterpWarning
from tda_interp.execution import RipsTask, WarningLog, run_task
from tda_interp.homology import check_cloud, distance_matrix, vietoris_rips
from tda_interp.homology.estimate import estimate_cost
from tda_interp.homology.truncation import truncated_rips
from tda_interp.options import RipsOptions

Cloud = NDArray[np.float64]
WHERE = "checkpoint 'step_0700' layer 'blocks.3.mlp' view "


def _in_a_run(X: Cloud, view: str = "raw", **rips: Any) -> Diagram:
    """Compute ``X`` as a run with ``on_error="raise"`` does at checkpoint 'step_0700', layer
    'blocks.3.mlp': errors start with that place, and warnings, said once per kind, name it."""
    place = WHERE + repr(view)
    out = run_task(RipsTask(X, view, RipsOptions(**rips), place=place))
    log = WarningLog()
    log.add(out.warnings, place)
    log.emit()
    if out.failure is not None:
        raise out.failure
    assert out.diagram is not None
    return out.diagram


def _assert_where(err: pytest.ExceptionInfo[BaseException]) -> None:
    assert str(err.value).startswith(WHERE)
    assert "blocks.3.mlp" in str(err.value)
    assert "step_0700" in str(err.value)


def test_defaults_are_exact_and_recorded(noisy_circle: Cloud) -> None:
    d = vietoris_rips(noisy_circle, backend="ripser")
    p = d.provenance
    assert p is not None
    assert p.approximate is False
    assert p.certificate.n_landmarks is None
    assert p.certificate.bound == 0.0
    assert p.pca_residual_bound is None
    assert p.cost_estimate is not None
    assert p.cost_estimate.detail["n_points"] == len(noisy_circle)
    # the run store writes provenance as JSON, and reads it back whole
    assert Provenance.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_constant_cloud_is_an_error() -> None:
    with pytest.raises(ActivationError, match="identical"):
        vietoris_rips(np.ones((6, 3)))
    with pytest.raises(ActivationError, match="identical") as err:
        _in_a_run(np.ones((6, 3)))
    _assert_where(err)


def test_duplicates_warn_with_a_count_and_change_nothing(noisy_circle: Cloud) -> None:
    X = np.vstack([noisy_circle, noisy_circle[:3], -0.0 * noisy_circle[:1] + noisy_circle[:1]])
    with pytest.warns(TdaInterpWarning, match="4 of 64 points.*duplicate"):
        d = vietoris_rips(X, backend="ripser")
    with pytest.warns(TdaInterpWarning, match="4 of 64 points.*duplicate") as rec:
        assert _in_a_run(X, backend="ripser") == d
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
    with pytest.raises(ActivationError, match="capture more"):
        vietoris_rips(X, view="pca5")
    with pytest.raises(ActivationError, match="capture more") as err:
        _in_a_run(X, view="pca5")
    _assert_where(err)


def test_nan_keeps_working_with_site(gaussian: Cloud) -> None:
    X = gaussian.copy()
    X[4] = np.nan
    with pytest.raises(ActivationError, match='nonfinite="drop"'):
        vietoris_rips(X)
    with pytest.raises(ActivationError, match='nonfinite="drop"') as err:
        _in_a_run(X)
    _assert_where(err)


def test_over_budget_with_exact_raises(noisy_circle: Cloud) -> None:
    need = estimate_cost(60, maxdim=1, n_features=2).memory_bytes
    with pytest.raises(HomologyError, match="over the memory budget") as err:
        vietoris_rips(
            noisy_circle, backend="ripser", memory_budget=need // 2, approximation="exact"
        )
    assert 'approximation="landmarks:' in str(err.value)
    with pytest.raises(HomologyError, match="over the memory budget") as err:
        _in_a_run(noisy_circle, backend="ripser", memory_budget=need // 2, approximation="exact")
    _assert_where(err)
    # the same budget with the default ("subsample:1000") or "auto" computes on landmarks
    for approximation in ("subsample:1000", "auto"):
        with pytest.warns(TdaInterpWarning, match="max-min landmarks"):
            d = vietoris_rips(
                noisy_circle,
                backend="ripser",
                memory_budget=need // 2,
                approximation=approximation,
            )
        assert d.provenance is not None and d.provenance.certificate.kind == "landmarks"
        assert d.n_points < 60


def test_over_budget_with_explicit_landmarks_raises(noisy_circle: Cloud) -> None:
    # a number of landmarks asked for is never lowered to fit the budget
    need = estimate_cost(30, maxdim=1, n_features=2, backend="ripser").memory_bytes
    with pytest.raises(HomologyError, match=r"diagram of 40 points \(of 60.*over the memory"):
        vietoris_rips(
            noisy_circle, backend="ripser", memory_budget=need, approximation="landmarks:40"
        )
    # "landmarks" without a number takes the largest set that fits, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = vietoris_rips(
            noisy_circle, backend="ripser", memory_budget=need, approximation="landmarks"
        )
    assert d.provenance is not None and d.provenance.certificate.n_landmarks == d.n_points
    assert 30 <= d.n_points < 60
    assert estimate_cost(d.n_points, maxdim=1, n_features=2, backend="ripser").memory_bytes <= need


def test_auto_landmarks_above_a_tiny_budget(make_circle: Callable[..., Cloud]) -> None:
    X = make_circle(400, noise=0.01, seed=3)
    budget = estimate_cost(80, maxdim=1, n_features=2, backend="ripser").memory_bytes
    with pytest.warns(TdaInterpWarning, match=r"over the memory budget.*landmarks") as rec:
        d = vietoris_rips(X, backend="ripser", memory_budget=budget, approximation="auto")
    assert "<=" in str(rec[0].message)
    p = d.provenance
    assert p is not None
    c = p.certificate
    assert p.approximate is True
    assert p.approximation == "auto" and p.subsampled is False
    assert c.kind == "landmarks"
    assert c.n_landmarks is not None and 2 <= c.n_landmarks <= 80
    assert d.n_points == c.n_landmarks
    assert c.covering_radius is not None and c.covering_bound is not None
    assert c.covering_bound == pytest.approx(2 * c.covering_radius)
    assert c.interleaving_bound is not None
    assert c.bound == min(c.covering_bound, c.interleaving_bound)
    assert c.bound_rel == pytest.approx(c.bound / 2.0, rel=0.05)
    assert p.cost_estimate is not None and p.cost_estimate_exact is not None
    assert p.cost_estimate.memory_bytes <= budget < p.cost_estimate_exact.memory_bytes
    assert Provenance.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    # 400 points are below the default subsample size: the default does the same
    with pytest.warns(TdaInterpWarning, match=r"over the memory budget.*landmarks"):
        assert vietoris_rips(X, backend="ripser", memory_budget=budget) == d
    # ground truth: within the bound of the exact diagram, and the circle survives
    exact = vietoris_rips(X, backend="ripser")
    for k in (0, 1):
        fa, fb = exact.finite(k), d.finite(k)
        assert gudhi.bottleneck_distance(fa, fb) <= c.bound + 1e-6
    assert d.lifetimes(1, relative=True)[0] > 0.5


def test_subsample_then_landmarks_over_budget_has_no_bound(
    make_circle: Callable[..., Cloud],
) -> None:
    X = make_circle(400, noise=0.01, seed=3)
    budget = estimate_cost(80, maxdim=1, n_features=2, backend="ripser").memory_bytes
    with pytest.warns(TdaInterpWarning, match=r"exact diagram of 300 points.*landmarks"):
        d = vietoris_rips(X, backend="ripser", memory_budget=budget, approximation="subsample:300")
    p = d.provenance
    assert p is not None
    assert (p.subsampled, p.n_points_total, p.approximate) == (True, 400, True)
    c = p.certificate
    assert c.kind == "landmarks" and c.n_landmarks == d.n_points <= 80
    # the landmarks cover the subsample, not the cloud: no bound to the cloud's diagram
    assert c.bound is None and c.bound_rel is None
    assert c.covering_radius is not None and c.covering_bound == pytest.approx(
        2 * c.covering_radius
    )


def test_explicit_landmarks_and_policies(noisy_circle: Cloud) -> None:
    d = vietoris_rips(noisy_circle, backend="ripser", approximation="landmarks:20", seed=1)
    assert d.provenance is not None
    assert d.provenance.certificate.n_landmarks == 20
    assert d.provenance.approximate is True
    same = vietoris_rips(noisy_circle, backend="ripser", approximation="landmarks:20", seed=1)
    assert d == same
    whole = vietoris_rips(noisy_circle, backend="ripser", approximation="landmarks:1000")
    assert whole.provenance is not None and whole.provenance.approximate is False
    always = vietoris_rips(noisy_circle, backend="ripser", approximation="landmarks")
    # everything fits the default budget
    assert always.provenance is not None and always.provenance.approximate is False
    # one approximation value: bad ones are refused when the options are built
    with pytest.raises(ConfigError, match="'landmarks' needs a number of points >= 2") as err:
        vietoris_rips(noisy_circle, approximation="landmarks:1")
    assert err.value.key == "approximation"
    with pytest.raises(ConfigError, match="cannot read the number 'ten'"):
        vietoris_rips(noisy_circle, approximation="landmarks:ten")
    with pytest.raises(
        ConfigError,
        match="'auto', 'exact', 'subsample:N', 'landmarks', 'landmarks:N' or 'bound:B'",
    ):
        vietoris_rips(noisy_circle, approximation="sometimes")
    with pytest.raises(ConfigError, match="memory size"):
        vietoris_rips(noisy_circle, memory_budget="plenty")


def _circle_hd(n: int = 400, dim: int = 64, noise: float = 0.05, seed: int = 0) -> Cloud:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    q, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return np.c_[np.cos(t), np.sin(t)] @ q.T + noise * rng.normal(size=(n, dim)) / np.sqrt(dim)


def test_max_bound_rel_certified_approximate_mode() -> None:
    X = _circle_hd()
    d = vietoris_rips(X, backend="ripser", approximation="bound:0.05")
    p = d.provenance
    assert p is not None
    c = p.certificate
    assert p.approximate is True
    assert p.approximation == "bound:0.05"
    assert c.kind == "landmarks"
    assert c.n_landmarks is not None and 2 < c.n_landmarks < 200
    assert c.bound is not None and c.bound_rel is not None
    assert c.bound_rel <= 0.05
    assert c.covering_bound is not None and c.interleaving_bound is not None
    assert c.bound == min(c.covering_bound, c.interleaving_bound)
    assert Provenance.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    exact = vietoris_rips(X, backend="ripser")
    for k in (0, 1):
        assert gudhi.bottleneck_distance(exact.finite(k), d.finite(k)) <= c.bound + 1e-6
    # the circle is there, and far above the bound
    assert d.lifetimes(1, relative=True)[0] > 0.5


def test_max_bound_rel_truncates_when_no_subset_will_do() -> None:
    noise = np.random.default_rng(0).normal(size=(150, 100))  # every point is far from the rest
    d = vietoris_rips(noise, backend="ripser", approximation="bound:0.05")
    assert d.provenance is not None
    c = d.provenance.certificate
    assert c.n_landmarks is None and d.n_points == 150  # every point, filtration truncated
    assert d.provenance.approximate is True
    assert c.kind == "truncation"
    assert c.truncated_at is not None and c.enclosing_radius is not None
    assert c.truncated_at < c.enclosing_radius
    # the bound is the truncation's own (0.1's "truncation_bound")
    D = distance_matrix(noise)
    _, info = truncated_rips(D, 0.05 * float(D.max()), maxdim=1, backend="ripser")
    assert c.bound == pytest.approx(info["truncation_bound"])
    assert (c.truncated_at, c.enclosing_radius, c.n_truncated) == (
        info["truncated_at"],
        info["enclosing_radius"],
        info["n_truncated"],
    )
    assert c.bound is not None and c.bound_rel is not None
    assert c.bound_rel <= 0.05 + 1e-12
    assert int(np.isinf(d.pairs[0][:, 1]).sum()) == 1
    exact = vietoris_rips(noise, backend="ripser")
    for k in (0, 1):
        assert gudhi.bottleneck_distance(exact.finite(k), d.finite(k)) <= c.bound + 1e-5


def test_max_bound_rel_over_budget_and_bad_combinations() -> None:
    X = _circle_hd(300)
    budget = estimate_cost(10, maxdim=1, n_features=64, backend="ripser").memory_bytes
    with pytest.raises(HomologyError, match=r"needs more than the \d+ landmarks"):
        vietoris_rips(X, backend="ripser", approximation="bound:0.01", memory_budget=budget)
    with pytest.raises(HomologyError, match=r"needs more than the \d+ landmarks") as err:
        _in_a_run(X, backend="ripser", approximation="bound:0.01", memory_budget=budget)
    _assert_where(err)
    # a bound and landmarks (or "exact") can no longer be asked for together: one value
    for bad in ("bound:0", "bound:-1", "bound:1.5"):
        with pytest.raises(ConfigError, match=r"'bound' needs a fraction of the diameter in"):
            vietoris_rips(X, approximation=bad)
    with pytest.raises(ConfigError, match="Expected approximation to be"):
        vietoris_rips(X, approximation=True)


def test_uniform_subsample_has_no_bound(gaussian: Cloud) -> None:
    d = vietoris_rips(gaussian, approximation="subsample:20", backend="ripser")
    assert d.provenance is not None
    assert d.provenance.approximate is True
    assert d.provenance.certificate.bound is None
    assert d.provenance.certificate.bound_rel is None


def test_pca_view_records_a_bound_that_holds(
    circle: Cloud, random_orthogonal: Callable[[int, int], Cloud]
) -> None:
    rng = np.random.default_rng(4)
    X = np.c_[circle, 0.05 * rng.normal(size=(60, 3))] @ random_orthogonal(5, 2)
    proj = vietoris_rips(X, view="pc1-2", backend="ripser")
    raw = vietoris_rips(X, backend="ripser")
    assert proj.provenance is not None
    bound = proj.provenance.pca_residual_bound
    assert bound is not None and 0 < bound < 0.5
    rel = proj.provenance.pca_residual_bound_rel
    assert rel is not None and rel >= bound / raw.scale
    for k in (0, 1):
        assert gudhi.bottleneck_distance(raw.finite(k), proj.finite(k)) <= bound + 1e-6
    centered = vietoris_rips(X, view="centered", backend="ripser")
    assert centered.provenance is not None and centered.provenance.pca_residual_bound is None


# extreme magnitudes (issue 9, item 15): an exact power-of-two rescale, or an ActivationError


@pytest.mark.parametrize("backend", ["gudhi", "ripser"])
@pytest.mark.parametrize("k", [520, -530, 130, -140])
def test_extreme_magnitudes_give_the_exactly_scaled_diagram(
    noisy_circle: Cloud, backend: str, k: int
) -> None:
    # 2**520 ~ 3e156 (squared distances overflow float64), 2**-530 ~ 3e-160 (they underflow),
    # 2**130 ~ 1e39 and 2**-140 ~ 7e-43: fine in float64, outside float32's normal range (ripser)
    base = vietoris_rips(noisy_circle, backend=backend, maxdim=1)
    big = vietoris_rips(np.ldexp(noisy_circle, k), backend=backend, maxdim=1)
    assert np.isfinite(big.scale) and big.scale > 0
    assert big.scale == np.ldexp(base.scale, k)
    for a, b in zip(base.pairs, big.pairs, strict=True):
        np.testing.assert_array_equal(np.ldexp(a, k), b)  # bit for bit, inf kept
    # the same with a precomputed matrix, and with landmarks (their lengths scale too)
    D = np.ldexp(distance_matrix(noisy_circle), k)
    pre = vietoris_rips(D, metric="precomputed", backend=backend, maxdim=1)
    for a, b in zip(base.pairs, pre.pairs, strict=True):
        np.testing.assert_array_equal(np.ldexp(a, k), b)
    lm0 = vietoris_rips(noisy_circle, backend=backend, approximation="landmarks:20")
    lmk = vietoris_rips(np.ldexp(noisy_circle, k), backend=backend, approximation="landmarks:20")
    c0, ck = lm0.provenance.certificate, lmk.provenance.certificate  # type: ignore[union-attr]
    assert ck.bound == np.ldexp(c0.bound, k) and ck.bound_rel == c0.bound_rel  # type: ignore[arg-type]
    assert ck.covering_radius == np.ldexp(c0.covering_radius, k)  # type: ignore[arg-type]
    for a, b in zip(lm0.pairs, lmk.pairs, strict=True):
        np.testing.assert_array_equal(np.ldexp(a, k), b)


def test_ordinary_magnitudes_are_not_touched(noisy_circle: Cloud) -> None:
    # 1e-15 and 1e15 lie inside [2**-64, 2**64]: computed as given, no rescale
    for c in (1e-15, 1e15):
        d = vietoris_rips(c * noisy_circle, backend="gudhi")
        assert d.scale == float(distance_matrix(c * noisy_circle).max())


def test_large_magnitudes_through_views_and_cosine(noisy_circle: Cloud) -> None:
    X = np.c_[noisy_circle, np.zeros(len(noisy_circle))]
    for view in ("centered", "pca2", "standardized"):
        base = vietoris_rips(X + 1.0, view=view, backend="gudhi")
        big = vietoris_rips(np.ldexp(X + 1.0, 600), view=view, backend="gudhi")
        factor = 1.0 if view == "standardized" else 2.0**600
        assert big.scale == pytest.approx(factor * base.scale, rel=1e-12)
        for a, b in zip(base.pairs, big.pairs, strict=True):
            np.testing.assert_allclose(b, factor * a, rtol=1e-9)
    # cosine distances do not scale: the same diagram
    base = vietoris_rips(X + 1.0, metric="cosine", backend="gudhi")
    big = vietoris_rips(np.ldexp(X + 1.0, 600), metric="cosine", backend="gudhi")
    for a, b in zip(base.pairs, big.pairs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_diameter_beyond_float64_is_an_activation_error() -> None:
    X = np.array([[-1.5e308, 0.0], [1.5e308, 0.0], [0.0, 1e308]])
    with pytest.raises(ActivationError, match="overflows float64"):
        vietoris_rips(X, maxdim=0)


def test_complex_input_is_an_activation_error() -> None:
    Z = np.exp(1j * np.linspace(0, 6, 20))[:, None] * np.ones((1, 3))
    with pytest.raises(ActivationError, match=r"complex values.*np\.c_\[X\.real, X\.imag\]"):
        check_cloud(Z)
    with pytest.raises(ActivationError, match="complex"):
        vietoris_rips(Z)
    with pytest.raises(ActivationError, match="complex"):
        vietoris_rips(np.abs(Z[:, :1] - Z[:, :1].T) + 0j, metric="precomputed")
    with pytest.raises(ActivationError, match="numeric point cloud"):
        check_cloud([["a", "b"], ["c", "d"]])
