"""Max-min landmarks and the PCA residual bound, checked against brute force and gudhi."""

from __future__ import annotations

from collections.abc import Callable

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.spatial.distance import cdist, pdist

from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.homology import apply_view, distance_matrix, rips_from_distances
from tda_interp.homology.landmarks import (
    diameter_bounds,
    interleaving_bound,
    landmarks_within,
    maxmin_landmarks,
    pca_residual_bound,
)

Cloud = NDArray[np.float64]
# ripser.py filters in float32: allow its rounding on top of the certified bounds
F32 = 1e-6


def _bottleneck(a: list[Cloud], b: list[Cloud], dim: int) -> float:
    fa, fb = a[dim], b[dim]
    fa, fb = fa[np.isfinite(fa[:, 1])], fb[np.isfinite(fb[:, 1])]
    return float(gudhi.bottleneck_distance(fa, fb))


def _dgms(X: Cloud, maxdim: int = 1) -> list[Cloud]:
    return rips_from_distances(distance_matrix(X), maxdim=maxdim, backend="ripser")


def _hausdorff(X: Cloud, L: Cloud) -> float:
    return float(cdist(X, L).min(axis=1).max())


def test_dense_circle_landmarks_within_bound(make_circle: Callable[..., Cloud]) -> None:
    n = 2000
    X = make_circle(n)  # evenly spaced; the full H1 is too slow for a unit test, so use theory
    lm = maxmin_landmarks(X, 100, seed=0)
    assert lm.n_landmarks == 100
    assert len(set(lm.indices.tolist())) == 100
    assert lm.bottleneck_bound < 0.15  # 100 landmarks cover a circle of length 2 pi well
    # H0 of the full cloud is cheap (a spanning tree): compare with gudhi
    full0 = rips_from_distances(distance_matrix(X), maxdim=0, backend="ripser")
    sub = _dgms(X[lm.indices])
    assert _bottleneck(full0, sub, 0) <= lm.bottleneck_bound + F32 * 3
    # H1 of n evenly spaced points on the unit circle is one bar, born at the chord of one step
    # and dying once the chord spans a third of the circle (Adamaszek-Adams): about sqrt(3)
    life = np.sort(sub[1][:, 1] - sub[1][:, 0])[::-1]
    long_bar = sub[1][np.argmax(sub[1][:, 1] - sub[1][:, 0])]
    true_bar = np.array([2 * np.sin(np.pi / n), np.sqrt(3.0)])
    assert np.abs(long_bar - true_bar).max() <= lm.bottleneck_bound + 0.005
    # the circle's bar survives; any other bar is within the bound of the diagonal
    assert life[0] > 1.5
    assert (life[1:] / 2 <= lm.bottleneck_bound).all()


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_covering_radius_is_bruteforce_hausdorff(metric: str) -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4)) + 1.0
    lm = maxmin_landmarks(X, 25, seed=2, metric=metric)  # type: ignore[arg-type]
    D = cdist(X, X[lm.indices], metric=metric)
    np.testing.assert_allclose(lm.covering_radius, D.min(axis=1).max(), rtol=1e-9)
    full = cdist(X, X, metric=metric).max()
    assert lm.diameter_lower == pytest.approx(full, rel=1e-9)  # exact for small clouds


def test_greedy_picks_the_farthest_point() -> None:
    # on a line 0..10 starting at 0 the greedy order is 0, 10, 5, then 2 or 3 / 7 or 8 ...
    X = np.arange(11.0)[:, None]
    lm = maxmin_landmarks(X, 3, seed=0)
    first = int(lm.indices[0])
    assert first == int(np.random.default_rng(0).integers(11))
    lm0 = maxmin_landmarks(X[[0, *range(1, 11)]], 3, seed=0)
    assert lm0.covering_radius <= 5.0
    lm_cov = maxmin_landmarks(X, covering_radius=1.0)
    assert _hausdorff(X, X[lm_cov.indices]) <= 1.0
    assert lm_cov.covering_radius == pytest.approx(_hausdorff(X, X[lm_cov.indices]))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), m=st.integers(2, 20), dim=st.integers(1, 4))
def test_bound_holds_on_random_clouds(seed: int, m: int, dim: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, dim)) * rng.uniform(0.1, 10)
    lm = maxmin_landmarks(X, m, seed=seed)
    assert lm.covering_radius == pytest.approx(_hausdorff(X, X[lm.indices]), rel=1e-9, abs=1e-12)
    full, sub = _dgms(X), _dgms(X[lm.indices])
    tol = F32 * float(pdist(X).max())
    for k in (0, 1):
        assert _bottleneck(full, sub, k) <= lm.bottleneck_bound + tol
    diam = float(pdist(X).max())  # the bracket is computed on centred points: rounding
    assert lm.diameter_lower <= diam * (1 + 1e-9)
    assert diam <= lm.diameter_upper * (1 + 1e-9)


def test_deterministic_by_seed() -> None:
    X = np.random.default_rng(0).normal(size=(500, 6))
    a, b = maxmin_landmarks(X, 40, seed=7), maxmin_landmarks(X, 40, seed=7)
    c = maxmin_landmarks(X, 40, seed=8)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.covering_radius == b.covering_radius
    assert not np.array_equal(a.indices, c.indices)


def test_duplicates_and_all_points() -> None:
    X = np.repeat(np.eye(3), 4, axis=0)  # 3 distinct points, each 4 times
    lm = maxmin_landmarks(X, 10)
    assert lm.n_landmarks == 3  # stops once everything is covered
    assert lm.covering_radius == 0.0
    assert lm.bottleneck_bound == 0.0
    assert lm.bottleneck_bound_rel == 0.0


def test_large_cloud_diameter_bracket() -> None:
    X = np.random.default_rng(1).normal(size=(2500, 3))  # above the exact-diameter size
    true = float(pdist(X).max())
    lo, hi = diameter_bounds(X)
    assert lo <= true <= hi <= 2 * lo
    lm = maxmin_landmarks(X, 20)
    assert lm.diameter_lower <= true <= lm.diameter_upper
    assert lm.bottleneck_bound_rel == pytest.approx(lm.bottleneck_bound / lm.diameter_lower)


def test_bad_arguments() -> None:
    X = np.zeros((5, 2))
    with pytest.raises(ConfigError, match="n_landmarks or covering_radius"):
        maxmin_landmarks(X)
    with pytest.raises(ConfigError, match="n_landmarks >= 1"):
        maxmin_landmarks(X, 0)
    with pytest.raises(ActivationError, match="shape"):
        maxmin_landmarks(np.zeros(5), 2)
    with pytest.raises(ActivationError, match="zero norm"):
        maxmin_landmarks(X, 2, metric="cosine")


@pytest.mark.slow
def test_100k_by_384_runs_and_covering_radius_is_right() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100_000, 8)) @ rng.normal(size=(8, 384))
    X += 0.05 * rng.normal(size=X.shape)
    lm = maxmin_landmarks(X, 200)
    assert lm.n_landmarks == 200
    L = X[lm.indices]
    # check eps on a subsample: no point beyond it, and the farthest point attains it
    sample = rng.choice(len(X), size=5000, replace=False)
    assert cdist(X[sample], L).min(axis=1).max() <= lm.covering_radius * (1 + 1e-9)
    # eps is attained (up to rounding) by some point, computed exactly in chunks
    near = np.concatenate([cdist(X[s : s + 10000], L).min(axis=1) for s in range(0, len(X), 10000)])
    assert near.max() == pytest.approx(lm.covering_radius, rel=1e-9)


# ---------------------------------------------------------------- a-posteriori (interleaving)
def _dgms_metric(X: Cloud, metric: str, maxdim: int = 1) -> list[Cloud]:
    return rips_from_distances(distance_matrix(X, metric=metric), maxdim=maxdim, backend="ripser")


def test_interleaving_bound_hand_computed_and_tight() -> None:
    # 0, 1, 10, 11 with landmarks 0 and 10: pi(1) = 0, pi(11) = 10. The pair (1, 10) moves to
    # (0, 10): 9 -> 10, so delta_map = 1; eps = 1, so the bound is max(1, 1 / 2) = 1, where
    # 2 eps gives 2. H0 shows it is tight: the bar (0, 9) becomes (0, 10).
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    assert interleaving_bound(X, [0, 2]) == pytest.approx(1.0, abs=1e-6)
    assert interleaving_bound(X, [0, 2]) >= 1.0
    assert _bottleneck(_dgms(X), _dgms(X[[0, 2]]), 0) == pytest.approx(1.0)
    # landmarks 0 and 11 stretch (1, 10) from 9 to 11: delta_map = 2 = 2 eps, also tight
    assert interleaving_bound(X, [0, 3]) == pytest.approx(2.0, abs=1e-6)
    assert _bottleneck(_dgms(X), _dgms(X[[0, 3]]), 0) == pytest.approx(2.0)


def test_interleaving_bound_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 8)) * 3.0 + 7.0  # off-centre: the rounding margin must cope
    idx = np.sort(rng.choice(150, size=30, replace=False))
    D = cdist(X, X)
    own = np.argmin(D[:, idx], axis=1)
    own[idx] = np.arange(30)
    pi = idx[own]
    brute = max((D[np.ix_(pi, pi)] - D).max(), (D[:, pi] - D).max() / 2)
    got = interleaving_bound(X, idx)
    assert brute <= got <= brute * (1 + 1e-6)  # the margin covers float64 rounding only
    assert interleaving_bound(X, idx, own) == got
    eps = float(D[np.arange(150), pi].max())
    assert eps / 2 <= got <= 2 * eps + 1e-6


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    m=st.integers(2, 25),
    dim=st.sampled_from([1, 2, 3, 8, 64]),
    metric=st.sampled_from(["euclidean", "cosine"]),
    maxmin=st.booleans(),
)
def test_interleaving_bound_dominates_the_true_bottleneck(
    seed: int, m: int, dim: int, metric: str, maxmin: bool
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(45, dim)) * rng.uniform(0.1, 10) + rng.normal(size=dim)
    if maxmin:
        idx = maxmin_landmarks(X, m, seed=seed, metric=metric).indices  # type: ignore[arg-type]
    else:  # any subset is covered by the theorem, not only max-min landmarks
        idx = rng.choice(len(X), size=m, replace=False)
    bound = interleaving_bound(X, idx, metric=metric)  # type: ignore[arg-type]
    full, sub = _dgms_metric(X, metric), _dgms_metric(X[idx], metric)
    tol = F32 * float(distance_matrix(X, metric=metric).max())
    for k in (0, 1):
        assert _bottleneck(full, sub, k) <= bound + tol


def test_interleaving_bound_beats_covering_in_high_dimensions(
    make_circle: Callable[..., Cloud], random_orthogonal: Callable[[int, int], Cloud]
) -> None:
    # a circle with noise in 64 dimensions: displacements to the landmarks are nearly
    # orthogonal, so the map to the landmarks barely stretches any pair
    rng = np.random.default_rng(0)
    X = make_circle(300) @ random_orthogonal(64, 2)[:2]
    X += 0.15 * rng.normal(size=X.shape) / np.sqrt(64)
    lm = maxmin_landmarks(X, 80, seed=0)
    assert lm.interleaving_bound is not None
    assert lm.bottleneck_bound == lm.interleaving_bound < 0.6 * lm.covering_bound
    full, sub = _dgms(X), _dgms(X[lm.indices])
    for k in (0, 1):
        assert _bottleneck(full, sub, k) <= lm.bottleneck_bound + F32 * 3
    # and the bound still leaves the circle's bar clearly above it
    assert np.sort(sub[1][:, 1] - sub[1][:, 0])[-1] > 4 * lm.bottleneck_bound


def test_refinement_can_be_turned_off_and_is_skipped_for_big_clouds() -> None:
    X = np.random.default_rng(2).normal(size=(400, 30))
    off = maxmin_landmarks(X, 40, refine_max_points=0)
    assert off.interleaving_bound is None
    assert off.bottleneck_bound == off.covering_bound == pytest.approx(2 * off.covering_radius)
    small_cap = maxmin_landmarks(X, 40, refine_max_points=399)
    assert small_cap.interleaving_bound is None
    on = maxmin_landmarks(X, 40)
    assert on.interleaving_bound is not None
    assert on.bottleneck_bound == min(on.covering_bound, on.interleaving_bound)
    np.testing.assert_array_equal(on.indices, off.indices)
    assert on.assignment is not None and on.assignment.shape == (400,)


def test_interleaving_bound_bad_arguments() -> None:
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ConfigError, match="distinct landmark indices"):
        interleaving_bound(X, [0, 0, 3])
    with pytest.raises(ConfigError, match="distinct landmark indices"):
        interleaving_bound(X, [0, 10])
    with pytest.raises(ConfigError, match="distinct landmark indices"):
        interleaving_bound(X, [])
    with pytest.raises(ConfigError, match="assignment of shape"):
        interleaving_bound(X, [0, 3], np.zeros(9, dtype=int))
    with pytest.raises(ConfigError, match="assignment of shape"):
        interleaving_bound(X, [0, 3], np.full(10, 2))
    with pytest.raises(ActivationError, match="shape"):
        interleaving_bound(np.zeros(5), [0])


# ------------------------------------------------------------ landmarks within a target bound
def _noisy_circle_hd(n: int, dim: int, noise: float, seed: int = 0) -> Cloud:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    q, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return np.c_[np.cos(t), np.sin(t)] @ q.T + noise * rng.normal(size=(n, dim)) / np.sqrt(dim)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_landmarks_within_meets_the_target_with_few_landmarks(metric: str) -> None:
    X = _noisy_circle_hd(400, 64, 0.05) + (3.0 if metric == "cosine" else 0.0)
    lm = landmarks_within(X, 0.05, seed=1, metric=metric)  # type: ignore[arg-type]
    assert 2 < lm.n_landmarks < 200
    assert lm.bottleneck_bound_rel <= 0.05
    # one fewer landmark misses it (bisection stops where the target is first met)
    fewer = maxmin_landmarks(X, lm.n_landmarks - 1, seed=1, metric=metric)  # type: ignore[arg-type]
    assert fewer.bottleneck_bound_rel > 0.05
    # the same landmarks as the plain greedy run: max-min sets are nested
    same = maxmin_landmarks(X, lm.n_landmarks, seed=1, metric=metric)  # type: ignore[arg-type]
    np.testing.assert_array_equal(lm.indices, same.indices)
    assert lm.bottleneck_bound == pytest.approx(same.bottleneck_bound, rel=1e-9)
    # and the certificate holds against the exact diagram
    full = _dgms_metric(X, metric)
    sub = _dgms_metric(X[lm.indices], metric)
    tol = F32 * float(distance_matrix(X, metric=metric).max())
    for k in (0, 1):
        assert _bottleneck(full, sub, k) <= lm.bottleneck_bound + tol


def test_landmarks_within_gives_every_point_when_nothing_smaller_will_do() -> None:
    X = np.random.default_rng(0).normal(size=(200, 100))  # noise: no small set is within 5%
    lm = landmarks_within(X, 0.05)
    assert lm.n_landmarks == 200
    assert lm.bottleneck_bound == 0.0
    assert sorted(lm.indices.tolist()) == list(range(200))


def test_landmarks_within_respects_the_cap() -> None:
    X = _noisy_circle_hd(300, 32, 0.05)
    lm = landmarks_within(X, 0.01, max_landmarks=20)
    assert lm.n_landmarks == 20
    assert lm.bottleneck_bound_rel > 0.01  # missed, and says so through its bound
    # a loose target is met by a handful of points, unless asked for more
    assert landmarks_within(X, 0.9).n_landmarks < 6
    assert landmarks_within(X, 0.9, min_landmarks=6).n_landmarks >= 6


def test_landmarks_within_big_clouds_use_the_covering_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tda_interp.homology.landmarks as mod

    monkeypatch.setattr(mod, "SEARCH_DENSE_MAX", 100)
    X = _noisy_circle_hd(300, 2, 0.0)  # a clean circle: the covering bound is good enough
    for metric in ("euclidean", "cosine"):
        lm = landmarks_within(X + 2.0, 0.1, metric=metric)  # type: ignore[arg-type]
        assert lm.covering_bound <= 0.1 * lm.diameter_lower
        assert lm.bottleneck_bound_rel <= 0.1  # judged by its own certified bracket
        assert lm.n_landmarks < 300
    assert landmarks_within(X, 0.9, min_landmarks=12).n_landmarks >= 12


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_landmarks_within_diameter_bracket_is_certified(metric: str) -> None:
    X = _noisy_circle_hd(300, 16, 0.1) + 1.0
    lm = landmarks_within(X, 0.05, metric=metric)  # type: ignore[arg-type]
    true = float(distance_matrix(X, metric=metric).max())
    assert lm.diameter_lower <= true * (1 + 1e-12)
    assert true <= lm.diameter_upper * (1 + 1e-12)


def test_landmarks_within_bad_arguments() -> None:
    X = np.random.default_rng(0).normal(size=(10, 2))
    for bad in (0, -0.1, "5%"):
        with pytest.raises(ConfigError, match="max_bound_rel > 0"):
            landmarks_within(X, bad)  # type: ignore[arg-type]
    with pytest.raises(ActivationError, match="shape"):
        landmarks_within(np.zeros(4), 0.1)


# ---------------------------------------------------------------------- PCA residual bound
def test_pca_residual_bound_hand_computed() -> None:
    X = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 0.5], [4.0, 0.5]])
    assert pca_residual_bound(X, "pca1") == pytest.approx(0.5)
    assert pca_residual_bound(X, "pca2") == pytest.approx(0.0, abs=1e-12)
    assert pca_residual_bound(X, (0,)) == pytest.approx(0.5)
    with pytest.raises(ActivationError, match="do not exist"):
        pca_residual_bound(X, "pca3")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), view=st.sampled_from(["pca1", "pca2", "pc1-2", "pc2-3"]))
def test_pca_residual_bound_dominates_bottleneck(seed: int, view: str) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 5)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2])
    bound = pca_residual_bound(X, view)
    raw, proj = _dgms(X), _dgms(apply_view(X, view))
    # the bound dominates the sup-norm change of the distance matrix, hence the bottleneck
    sup = np.abs(distance_matrix(X) - distance_matrix(apply_view(X, view))).max()
    assert sup <= bound + 1e-12
    tol = F32 * float(pdist(X).max())
    for k in (0, 1):
        assert _bottleneck(raw, proj, k) <= bound + tol
