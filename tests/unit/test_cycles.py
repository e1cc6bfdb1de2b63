"""Representative cycles of H1 bars and the plane a cloud is drawn in, on known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ripser import ripser
from scipy.stats import special_ortho_group

from tda_interp.homology import apply_view, cloud_scatter, representative_cycles
from tda_interp.homology.cycles import birth_edge, cycle_through_edge
from tda_interp.homology.distances import distance_matrix


def _circle(n: int, noise: float, seed: int, dims: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.zeros((n, dims))
    X[:, 0], X[:, 1] = np.cos(t), np.sin(t)
    return X + noise * rng.normal(size=X.shape)


def _coverage(X: np.ndarray, cycle: np.ndarray, centre: tuple[float, float] = (0, 0)) -> float:
    """Fraction of the full turn around ``centre`` the cycle's points leave no gap in."""
    a = np.sort(np.arctan2(X[cycle, 1] - centre[1], X[cycle, 0] - centre[0]))
    gaps = np.diff(np.r_[a, a[0] + 2 * np.pi])
    return float(1 - gaps.max() / (2 * np.pi))


def _longest(X: np.ndarray, k: int = 1) -> np.ndarray:
    h1 = ripser(X, maxdim=1)["dgms"][1]
    return h1[np.argsort(-(h1[:, 1] - h1[:, 0]), kind="stable")[:k]]


def _is_cycle(D: np.ndarray, cycle: np.ndarray, birth: float) -> bool:
    """Distinct vertices, consecutive ones (and last-first) joined by edges <= birth."""
    closed = np.r_[cycle, cycle[:1]]
    steps = D[closed[:-1], closed[1:]]
    return len(set(cycle.tolist())) == len(cycle) and bool((steps <= birth * (1 + 1e-6)).all())


def test_regular_polygon_cycle_is_every_vertex() -> None:
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    X = np.c_[np.cos(t), np.sin(t)]
    (cycle,) = representative_cycles(X, _longest(X))
    assert sorted(cycle.tolist()) == list(range(16))


@pytest.mark.parametrize(("n", "noise", "dims"), [(100, 0.0, 2), (200, 0.1, 2), (300, 0.1, 16)])
def test_circle_cycle_goes_all_around(n: int, noise: float, dims: int) -> None:
    X = _circle(n, noise, seed=n, dims=dims)
    bar = _longest(X)
    (cycle,) = representative_cycles(X, bar)
    assert len(cycle) >= 8
    assert _coverage(X, cycle) > 0.85
    assert _is_cycle(distance_matrix(X), cycle, float(bar[0, 0]))


def test_figure_eight_gives_one_cycle_per_lobe() -> None:
    rng = np.random.default_rng(3)
    t = rng.uniform(0, 2 * np.pi, 300)
    X = np.c_[np.cos(t), np.sin(t)]
    X[150:, 0] += 2.2  # two circles, nearly touching at (1.1, 0)
    X[:150] += 0.03 * rng.normal(size=(150, 2))
    X[150:] += 0.03 * rng.normal(size=(150, 2))
    cycles = representative_cycles(X, _longest(X, 2))
    centres = sorted(round(float(X[c, 0].mean())) for c in cycles)
    assert centres == [0, 2]
    for c in cycles:
        centre = (2.2, 0.0) if X[c, 0].mean() > 1.1 else (0.0, 0.0)
        assert _coverage(X, c, centre) > 0.85


def test_precomputed_distances_give_the_same_cycle() -> None:
    X = _circle(80, 0.05, seed=1)
    bar = _longest(X)
    a = representative_cycles(X, bar)[0]
    b = representative_cycles(distance_matrix(X), bar, metric="precomputed")[0]
    assert a.tolist() == b.tolist()


def test_no_edge_of_that_length_gives_an_empty_cycle() -> None:
    X = _circle(50, 0.0, seed=2)
    (cycle,) = representative_cycles(X, [[123.0, 456.0]])
    assert cycle.size == 0
    assert birth_edge(distance_matrix(X), 123.0) is None


def test_a_filled_edge_is_no_birth_edge() -> None:
    # a triangle: the longest edge is filled at once by the triangle, no loop is born
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.4, 0.6]])
    D = distance_matrix(X)
    assert birth_edge(D, float(D.max())) is None
    assert cycle_through_edge(D, (0, 1)).tolist() == [1, 2, 0]


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(0.01, 100.0),
    shift=st.floats(-50.0, 50.0),
)
def test_cycles_are_isometry_invariant(seed: int, scale: float, shift: float) -> None:
    X = _circle(60, 0.05, seed=seed, dims=3)
    bar = _longest(X)
    (cycle,) = representative_cycles(X, bar)
    R = special_ortho_group.rvs(3, random_state=seed)
    Y = scale * X @ R.T + shift
    (moved,) = representative_cycles(Y, bar * scale)
    assert moved.tolist() == cycle.tolist()


def test_cloud_scatter_planes() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)) * np.arange(6, 0, -1)
    assert np.allclose(cloud_scatter(X, "pc3-4"), apply_view(X, "pc3-4"))
    assert np.allclose(cloud_scatter(X, "raw"), apply_view(X, "pc1-2"))
    assert np.allclose(cloud_scatter(X, "pca3"), apply_view(apply_view(X, "pca3"), "pc1-2"))
    assert cloud_scatter(X, "neurons").shape == (6, 2)
    line = np.c_[np.arange(5.0), np.zeros(5)]
    out = cloud_scatter(line, "pca1")
    assert out.shape == (5, 2) and np.allclose(out[:, 1], 0.0)
