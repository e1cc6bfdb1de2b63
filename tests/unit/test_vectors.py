"""Vectorisations on a shared grid and their distances, against hand-computed values and gudhi."""

from __future__ import annotations

import math

import gudhi
import numpy as np
import pytest
from gudhi.representations import BettiCurve, Landscape, PersistenceImage
from hypothesis import given, settings
from hypothesis import strategies as st

from tda_interp.diagrams import Diagram, betti_curve
from tda_interp.diagrams.vectors import (
    N_LANDSCAPES,
    shared_range,
    vector_distances,
    vectorize,
)
from tda_interp.exceptions import ConfigError, TdaInterpWarning
from tda_interp.options import DistanceOptions

INF = np.inf
METRICS = ("landscape", "betti", "image")


def h1(*bars: tuple[float, float], scale: float = 1.0) -> Diagram:
    """A diagram with the essential H0 bar and the given H1 bars."""
    return Diagram(pairs=[[[0.0, INF]], list(bars)], scale=scale, n_points=10)


def random_bars(rng: np.random.Generator, n: int) -> np.ndarray:
    births = rng.uniform(0.0, 1.0, n)
    return np.c_[births, births + rng.exponential(0.2, n)]


def random_diagram(seed: int, n: int = 12) -> Diagram:
    return h1(*map(tuple, random_bars(np.random.default_rng(seed), n)))


def dist(F: np.ndarray, metric: str, value_range: tuple[float, float], r: int) -> np.ndarray:
    return vector_distances(F, metric=metric, value_range=value_range, resolution=r)


# ---------------------------------------------------------------------- hand-computed values
def test_single_bar_landscape_is_a_tent() -> None:
    F = vectorize(
        [h1((1.0, 3.0))],
        1,
        metric="landscape",
        relative=False,
        resolution=9,
        value_range=(0.0, 4.0),
    )
    lam = F.reshape(N_LANDSCAPES, 9)
    # grid step 0.5: height (3 - 1) / 2 = 1 at (1 + 3) / 2 = 2, zero outside (1, 3)
    np.testing.assert_allclose(lam[0], [0, 0, 0, 0.5, 1, 0.5, 0, 0, 0])
    np.testing.assert_array_equal(lam[1:], 0.0)


def test_landscape_levels_are_ordered() -> None:
    # Two nested bars: lambda_1 is the big tent, lambda_2 the small one where they overlap.
    d = h1((0.0, 4.0), (1.0, 3.0))
    lam = vectorize(
        [d], 1, metric="landscape", relative=False, resolution=5, value_range=(0.0, 4.0)
    ).reshape(N_LANDSCAPES, 5)
    np.testing.assert_allclose(lam[0], [0, 1, 2, 1, 0])
    np.testing.assert_allclose(lam[1], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(lam[2:], 0.0)


def test_single_bar_betti_curve_is_half_open() -> None:
    F = vectorize(
        [h1((1.0, 3.0))], 1, metric="betti", relative=False, resolution=9, value_range=(0.0, 4.0)
    )
    # grid 0, 0.5, ..., 4: alive on [1, 3), at 1, 1.5, 2, 2.5
    np.testing.assert_array_equal(F[0], [0, 0, 1, 1, 1, 1, 0, 0, 0])


def test_identical_diagrams_are_at_distance_zero() -> None:
    d = random_diagram(0)
    copy = Diagram(pairs=[np.array(p) for p in d.pairs], scale=d.scale)
    for metric in METRICS:
        vr = shared_range([d, copy], 1)
        F = vectorize([d, copy], 1, metric=metric, value_range=vr, resolution=40)
        assert dist(F, metric, vr, 40)[0, 1] == 0.0


@pytest.mark.parametrize("r", [101, 1001])
def test_betti_distance_is_the_area_between_curves(r: int) -> None:
    a, b = h1((0.0, 1.0)), h1((0.0, 2.0))
    vr = shared_range([a, b], 1, relative=False)
    assert vr == (0.0, 2.0)
    F = vectorize([a, b], 1, metric="betti", relative=False, resolution=r)
    step = 2.0 / (r - 1)
    assert abs(dist(F, "betti", vr, r)[0, 1] - 1.0) <= step


def test_landscape_distance_is_the_l2_norm_of_a_tent_at_any_resolution() -> None:
    # A tent of half-width 1 and height 1: int tent^2 = 2 * int_0^1 t^2 dt = 2/3.
    a, empty = h1((0.0, 2.0)), h1()
    vr = shared_range([a, empty], 1, relative=False)
    values = []
    for r in (51, 401):
        F = vectorize([a, empty], 1, metric="landscape", relative=False, resolution=r)
        values.append(dist(F, "landscape", vr, r)[0, 1])
    np.testing.assert_allclose(values, math.sqrt(2 / 3), rtol=2e-3)


def test_image_distance_does_not_depend_on_resolution() -> None:
    a, b = random_diagram(1), random_diagram(2)
    vr = shared_range([a, b], 1)
    values = [
        dist(vectorize([a, b], 1, metric="image", resolution=r), "image", vr, r)[0, 1]
        for r in (40, 160)
    ]
    assert values[0] > 0
    np.testing.assert_allclose(values[0], values[1], rtol=1e-3)


def test_image_weight_is_persistence() -> None:
    # One bar: the peak of the surface is its persistence times the Gaussian's peak density.
    d = h1((0.5, 1.5))
    r = 41  # the range (0.5, 1.5) puts grid points on the bar: birth 0.5, persistence 1.0
    F = vectorize([d], 1, metric="image", relative=False, resolution=r)
    sigma = 0.05 * 1.0
    image = F.reshape(r, r)
    assert np.unravel_index(image.argmax(), image.shape) == (r - 1, 0)  # (persistence, birth)
    assert image.max() == pytest.approx(1.0 / (2 * np.pi * sigma**2))


def test_diagonal_points_are_removed_first() -> None:
    with_diagonal = h1((0.2, 0.5), (0.3, 0.3), (0.9, 0.9))
    without = h1((0.2, 0.5))
    assert shared_range([with_diagonal], 1) == shared_range([without], 1) == (0.2, 0.5)
    for metric in METRICS:
        np.testing.assert_array_equal(
            vectorize([with_diagonal], 1, metric=metric, resolution=30),
            vectorize([without], 1, metric=metric, resolution=30),
        )


# ---------------------------------------------------------------------- agreement with gudhi
def test_landscape_is_gudhi_landscape_over_sqrt2() -> None:
    rng = np.random.default_rng(3)
    for n in (3, 40):  # fewer and more bars than landscapes
        bars = random_bars(rng, n)
        vr = (float(bars[:, 0].min()), float(bars[:, 1].max()))
        ours = vectorize(
            [h1(*map(tuple, bars))],
            1,
            metric="landscape",
            relative=False,
            resolution=64,
            value_range=vr,
        )
        ref = Landscape(num_landscapes=N_LANDSCAPES, resolution=64, sample_range=list(vr))
        np.testing.assert_allclose(ours, ref.fit_transform([bars]) / np.sqrt(2), atol=1e-12)


def test_betti_curve_agrees_with_gudhi_and_betti_curve() -> None:
    bars = random_bars(np.random.default_rng(4), 30)
    d = h1(*map(tuple, bars), (0.5, INF))
    vr = shared_range([d], 1, relative=False)
    grid = np.linspace(*vr, 50)
    ours = vectorize([d], 1, metric="betti", relative=False, resolution=50)
    # "match" keeps the essential bar alive to the end of the grid, as betti_curve does
    np.testing.assert_array_equal(ours[0], betti_curve(d, 1, grid, relative=False))
    ref = BettiCurve(predefined_grid=grid).fit_transform([np.array(d[1])])
    np.testing.assert_array_equal(ours, ref)


def test_image_is_gudhi_persistence_image() -> None:
    bars = random_bars(np.random.default_rng(5), 25)
    lo, hi = float(bars[:, 0].min()), float(bars[:, 1].max())
    ours = vectorize([h1(*map(tuple, bars))], 1, metric="image", relative=False, resolution=30)
    ref = PersistenceImage(
        bandwidth=0.05 * (hi - lo),
        weight=lambda x: x[1],
        resolution=[30, 30],
        im_range=[lo, hi, 0.0, hi - lo],
    ).fit_transform([bars])
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------- infinite bars
@pytest.mark.parametrize("metric", METRICS)
def test_match_closes_essential_bars_without_nan(metric: str) -> None:
    d = h1((0.1, 0.4), (0.2, INF))
    F = vectorize([d], 1, metric=metric, infinite="match", resolution=30)
    assert np.isfinite(F).all()
    closed = h1((0.1, 0.4), (0.2, 0.4))  # the top of the fitted range is 0.4
    if metric != "betti":  # Betti: alive at the top too, see test_betti_curve_agrees...
        np.testing.assert_allclose(F, vectorize([closed], 1, metric=metric, resolution=30))


@pytest.mark.parametrize("metric", METRICS)
def test_drop_is_removing_essential_bars(metric: str) -> None:
    d = h1((0.1, 0.4), (0.2, INF), (0.3, INF))
    without = h1((0.1, 0.4))
    vr = (0.0, 1.0)
    np.testing.assert_array_equal(
        vectorize([d], 1, metric=metric, infinite="drop", value_range=vr, resolution=21),
        vectorize([without], 1, metric=metric, infinite="drop", value_range=vr, resolution=21),
    )


def test_essential_bar_born_above_the_range_vanishes() -> None:
    d = h1((0.1, 0.4), (0.9, INF))
    for metric in METRICS:
        F = vectorize([d], 1, metric=metric, value_range=(0.0, 0.5), resolution=21)
        G = vectorize([h1((0.1, 0.4))], 1, metric=metric, value_range=(0.0, 0.5), resolution=21)
        np.testing.assert_array_equal(F, G)


def test_h0_of_rips_diagrams_vectorises() -> None:
    d = Diagram(pairs=[[[0.0, INF], [0.0, 0.5], [0.0, 1.0]]], scale=2.0)
    F = vectorize([d], 0, metric="landscape", resolution=11)
    assert np.isfinite(F).all() and F.max() > 0


# ---------------------------------------------------------------------- invariances
@pytest.mark.parametrize("metric", METRICS)
def test_relative_scaling_by_a_power_of_two_is_exact(metric: str) -> None:
    d = random_diagram(6)
    scaled = Diagram(pairs=[p * 4.0 for p in d.pairs], scale=d.scale * 4.0)
    np.testing.assert_array_equal(
        vectorize([d], 1, metric=metric, resolution=25),
        vectorize([scaled], 1, metric=metric, resolution=25),
    )


@settings(max_examples=25, deadline=None)
@given(c=st.floats(1e-3, 1e3), seed=st.integers(0, 1000), metric=st.sampled_from(METRICS))
def test_relative_vectors_are_scale_invariant(c: float, seed: int, metric: str) -> None:
    d = random_diagram(seed, n=6)
    scaled = Diagram(pairs=[p * c for p in d.pairs], scale=d.scale * c)
    assert shared_range([scaled], 1) == pytest.approx(shared_range([d], 1), rel=1e-12)
    a = vectorize([d], 1, metric=metric, resolution=25)
    b = vectorize([scaled], 1, metric=metric, resolution=25)
    if metric == "betti":  # a bar end on a grid point may round either way
        assert np.abs(a - b).sum() <= 2 * len(d[1])
    else:
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(a).max())


@pytest.mark.parametrize("metric", METRICS)
def test_separate_calls_with_a_shared_range_equal_one_call(metric: str) -> None:
    a, b = random_diagram(7), h1((0.0, 5.0), scale=5.0)
    vr = shared_range([a, b], 1)
    together = vectorize([a, b], 1, metric=metric, value_range=vr, resolution=30)
    apart = np.vstack(
        [vectorize([x], 1, metric=metric, value_range=vr, resolution=30) for x in (a, b)]
    )
    np.testing.assert_array_equal(together, apart)
    # the default range is fitted on the call's diagrams: alone, a gets another grid
    assert not np.array_equal(vectorize([a], 1, metric=metric, resolution=30), together[:1])


def test_options_object_and_overrides_agree() -> None:
    d = [random_diagram(9), random_diagram(10)]
    opts = DistanceOptions(metric="image", resolution=30, relative=False)
    np.testing.assert_array_equal(
        vectorize(d, 1, opts), vectorize(d, 1, metric="image", resolution=30, relative=False)
    )
    np.testing.assert_array_equal(
        vectorize(d, 1, opts, metric="betti"), vectorize(d, 1, opts.replace(metric="betti"))
    )


# ---------------------------------------------------------------------- stability
@pytest.mark.parametrize("seed", range(20))
def test_landscapes_are_stable_in_the_bottleneck_distance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = random_bars(rng, int(rng.integers(1, 15)))
    # b: a perturbed copy of a, some bars removed, some added
    b = a + rng.normal(scale=0.05, size=a.shape)
    b[:, 1] = np.maximum(b[:, 1], b[:, 0])
    b = np.vstack([b[rng.random(len(b)) > 0.2], random_bars(rng, int(rng.integers(0, 4)))])
    da, db = h1(*map(tuple, a)), h1(*map(tuple, b))
    r = 200
    vr = shared_range([da, db], 1, relative=False)
    F = vectorize([da, db], 1, metric="landscape", relative=False, resolution=r)
    bottleneck = gudhi.bottleneck_distance(a, b, 0)
    # sup |lambda_k - lambda'_k| <= d_B pointwise (Bubenik 2015) ...
    assert np.abs(F[0] - F[1]).max() <= bottleneck + 1e-12
    # ... hence the L2 distance over 5 landscapes on a range of length L is <= sqrt(5 L) d_B
    length = vr[1] - vr[0]
    bound = math.sqrt(N_LANDSCAPES * length) * bottleneck
    assert dist(F, "landscape", vr, r)[0, 1] <= bound + 1e-12


# ---------------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    ("metric", "width"), [("landscape", 5 * 21), ("betti", 21), ("image", 21**2)]
)
def test_shapes(metric: str, width: int) -> None:
    d = [random_diagram(s) for s in range(3)]
    F = vectorize(d, 1, metric=metric, resolution=21)
    assert F.shape == (3, width)
    assert F.dtype == np.float64
    D = dist(F, metric, shared_range(d, 1), 21)
    assert D.shape == (3, 3)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    cross = vector_distances(F[:1], F, metric=metric, value_range=shared_range(d, 1), resolution=21)
    assert cross.shape == (1, 3)
    np.testing.assert_allclose(cross[0], D[0], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("metric", METRICS)
def test_empty_input_and_empty_diagrams(metric: str) -> None:
    F = vectorize([], 1, metric=metric, resolution=21)
    assert F.shape[0] == 0 and F.shape[1] in (21, 105, 441)
    assert vector_distances(F, metric=metric, value_range=(0, 1), resolution=21).shape == (0, 0)
    Z = vectorize([h1(), h1()], 1, metric=metric, resolution=21)
    np.testing.assert_array_equal(Z, 0.0)
    one = vector_distances(Z[:1], metric=metric, value_range=(0, 1), resolution=21)
    np.testing.assert_array_equal(one, [[0.0]])


def test_shared_range_hand_values_and_fallbacks() -> None:
    a = h1((1.0, 2.0), (1.5, INF), scale=4.0)
    b = h1((0.5, 3.0), scale=4.0)
    assert shared_range([a, b], 1) == (0.125, 0.75)
    assert shared_range([a, b], 1, relative=False) == (0.5, 3.0)
    # no finite bar: [0, 1] relative, [0, largest scale] absolute
    assert shared_range([], 1) == (0.0, 1.0)
    assert shared_range([h1((0.2, INF), scale=3.0)], 1) == (0.0, 1.0)
    assert shared_range([h1(scale=3.0), h1(scale=5.0)], 1, relative=False) == (0.0, 5.0)
    assert shared_range([Diagram(pairs=[[], []], scale=0.0)], 1, relative=False) == (0.0, 1.0)


def test_coarse_image_warns() -> None:
    with pytest.warns(TdaInterpWarning, match="resolution >= 21"):
        vectorize([random_diagram(0)], 1, metric="image", resolution=10)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("metric", ["bottleneck", "wasserstein"])
def test_exact_metric_is_refused(metric: str) -> None:
    with pytest.raises(ConfigError, match=r"tda_interp\.diagrams\.distances"):
        vectorize([random_diagram(0)], 1, metric=metric)
    with pytest.raises(ConfigError, match="vector metric"):
        vector_distances(np.zeros((1, 10)), metric=metric, value_range=(0, 1), resolution=10)


def test_default_options_ask_for_a_vector_metric() -> None:
    with pytest.raises(ConfigError, match="got metric='bottleneck'"):
        vectorize([random_diagram(0)], 1)


def test_dim_too_large_or_negative() -> None:
    deep = Diagram(pairs=[[[0.0, INF]], [], [[0.1, 0.2]]], scale=1.0)
    with pytest.raises(ConfigError, match=r"diagram 1 holds dimensions 0\.\.1, asked for H2"):
        vectorize([deep, random_diagram(1)], 2, metric="betti")
    with pytest.raises(ConfigError, match="maxdim >= 2"):
        shared_range([random_diagram(0)], 2)
    with pytest.raises(ConfigError, match="int >= 0"):
        vectorize([random_diagram(0)], -1, metric="betti")


def test_zero_scale_with_relative() -> None:
    point = Diagram(pairs=[[[0.0, INF]], []], scale=0.0, n_points=1)
    with pytest.raises(ConfigError, match=r"diagram 1 has scale 0\.0.*relative=False"):
        vectorize([random_diagram(0), point], 1, metric="landscape")
    assert vectorize([point], 1, metric="landscape", relative=False).shape == (1, 500)


def test_bad_inputs() -> None:
    d = random_diagram(0)
    with pytest.raises(ConfigError, match=r"pass \[diagram\]"):
        vectorize(d, 1, metric="betti")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="got ndarray at index 0"):
        vectorize([np.zeros((2, 2))], 1, metric="betti")  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="finite lo < hi"):
        vectorize([d], 1, metric="betti", value_range=(1.0, 1.0))
    with pytest.raises(ConfigError, match="pair"):
        vectorize([d], 1, metric="betti", value_range=1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="did you mean 'resolution'"):
        vectorize([d], 1, metric="betti", resolutoin=10)
    with pytest.raises(ConfigError, match=r"shape \(n_diagrams, 100\)"):
        vector_distances(np.zeros((2, 20)), metric="landscape", value_range=(0, 1), resolution=20)
    with pytest.raises(ConfigError, match="NaN"):
        vector_distances(
            np.full((2, 20), np.nan), metric="betti", value_range=(0, 1), resolution=20
        )
    with pytest.raises(ConfigError, match="resolution"):
        vector_distances(np.zeros((2, 1)), metric="betti", value_range=(0, 1), resolution=1)
