"""The Diagram type: validation, infinite-bar policy, converters (ripser, giotto-tda)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tda_interp.diagrams import (
    Certificate,
    CostEstimate,
    Diagram,
    Provenance,
    from_giotto,
    to_giotto,
)
from tda_interp.exceptions import ActivationError

INF = np.inf

PROVENANCE = Provenance(
    view="raw",
    metric="euclidean",
    backend="ripser",
    coeff=2,
    seed=0,
    approximation="exact",
    n_points_total=3,
    subsampled=False,
    certificate=Certificate(kind="exact", bound=0.0, bound_rel=0.0),
)


def example() -> Diagram:
    return Diagram(
        pairs=[[[0.0, INF], [0.0, 1.0], [0.0, 0.5]], [[0.7, 2.0], [0.5, 3.0]]],
        scale=4.0,
        n_points=3,
        provenance=PROVENANCE,
    )


# ---------------------------------------------------------------------- construction
def test_construction_basics() -> None:
    d = example()
    assert d.maxdim == 1
    assert d.scale == 4.0
    assert isinstance(d.scale, float)
    assert d.n_points == 3
    assert d[0].shape == (3, 2)
    assert d[1].shape == (2, 2)
    assert d[0].dtype == np.float64
    assert d.provenance is PROVENANCE
    assert d.provenance.view == "raw"
    assert Diagram(pairs=d.pairs, scale=4.0).provenance is None  # built by hand: unknown


def test_provenance_must_be_a_provenance() -> None:
    with pytest.raises(ActivationError, match="provenance"):
        Diagram(pairs=[[[0.0, 1.0]]], provenance={"view": "raw"})  # type: ignore[arg-type]


def test_provenance_is_not_compared() -> None:
    other = Diagram(
        pairs=example().pairs,
        scale=4.0,
        n_points=3,
        provenance=dataclasses.replace(PROVENANCE, view="pc1-2"),
    )
    assert other == example()
    assert Diagram(pairs=example().pairs, scale=4.0, n_points=3) == example()


def test_provenance_approximate_and_round_trip() -> None:
    assert PROVENANCE.approximate is False
    assert dataclasses.replace(PROVENANCE, subsampled=True).approximate is True
    landmarks = Certificate(
        kind="landmarks",
        bound=0.2,
        bound_rel=0.05,
        n_landmarks=10,
        covering_radius=0.1,
        covering_bound=0.2,
        interleaving_bound=0.3,
    )
    approx = dataclasses.replace(
        PROVENANCE,
        certificate=landmarks,
        cost_estimate=CostEstimate(memory_bytes=100, seconds=0.5, detail={"n_points": 10}),
        cost_estimate_exact=CostEstimate(memory_bytes=900, seconds=2.0),
    )
    assert approx.approximate is True
    data = json.loads(json.dumps(approx.to_dict()))
    assert data["certificate"]["n_landmarks"] == 10
    assert data["cost_estimate"] == {"memory_bytes": 100, "seconds": 0.5, "n_points": 10}
    assert Provenance.from_dict(data) == approx
    assert Provenance.from_dict(PROVENANCE.to_dict()) == PROVENANCE


def test_bars_sorted_by_birth_then_death() -> None:
    d = example()
    np.testing.assert_array_equal(d[0], [[0.0, 0.5], [0.0, 1.0], [0.0, INF]])
    np.testing.assert_array_equal(d[1], [[0.5, 3.0], [0.7, 2.0]])


def test_arrays_are_read_only() -> None:
    d = example()
    with pytest.raises(ValueError, match="read-only"):
        d[1][0, 0] = 9.0
    assert d[1][0, 0] == 0.5


def test_input_arrays_are_not_aliased() -> None:
    bars = np.array([[0.0, 1.0], [0.0, 2.0]])
    d = Diagram(pairs=[bars], scale=2.0)
    bars[0, 1] = 5.0
    np.testing.assert_array_equal(d[0], [[0.0, 1.0], [0.0, 2.0]])
    assert bars.flags.writeable


def test_frozen() -> None:
    d = example()
    with pytest.raises(AttributeError):
        d.scale = 2.0  # type: ignore[misc]


def test_empty_dimension_has_shape_0_2() -> None:
    d = Diagram(pairs=[[[0.0, INF]], []], scale=1.0)
    assert d[1].shape == (0, 2)
    assert d.lifetimes(1).shape == (0,)
    assert d.n_infinite(1) == 0


def test_index_out_of_range() -> None:
    with pytest.raises(IndexError, match=r"0\.\.1"):
        example()[2]


@pytest.mark.parametrize(
    ("pairs", "match"),
    [
        ([[[0.0, 1.0], [2.0, 1.0]]], "death < birth"),
        ([[[0.0, np.nan]]], "NaN"),
        ([[[np.nan, 1.0]]], "NaN"),
        ([[[0.0, 1.0, 2.0]]], r"shape \(n_bars, 2\)"),
        ([[0.0, 1.0]], r"shape \(n_bars, 2\)"),
        ([[[0.0, INF]], [[[0.0, 1.0]]]], "H1"),
        ((), "at least dimension 0"),
    ],
)
def test_invalid_bars_raise_activation_error(pairs: object, match: str) -> None:
    with pytest.raises(ActivationError, match=match):
        Diagram(pairs=pairs, scale=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("scale", [-1.0, np.inf, np.nan])
def test_invalid_scale(scale: float) -> None:
    with pytest.raises(ActivationError, match="scale"):
        Diagram(pairs=[[[0.0, 1.0]]], scale=scale)


def test_activation_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        Diagram(pairs=[[[1.0, 0.0]]])


# ---------------------------------------------------------------------- lifetimes / infinite
def test_lifetimes_absolute_descending_finite_only() -> None:
    d = example()
    np.testing.assert_allclose(d.lifetimes(0), [1.0, 0.5])
    np.testing.assert_allclose(d.lifetimes(1), [2.5, 1.3])


def test_lifetimes_relative() -> None:
    d = example()
    np.testing.assert_allclose(d.lifetimes(0, relative=True), [0.25, 0.125])
    np.testing.assert_allclose(d.lifetimes(1, relative=True), [2.5 / 4, 1.3 / 4])


def test_relative_lifetimes_of_zero_scale_are_zero() -> None:
    d = Diagram(pairs=[[[0.0, INF], [0.0, 0.0]]], scale=0.0)
    np.testing.assert_array_equal(d.lifetimes(0, relative=True), [0.0])


def test_infinite_policy() -> None:
    d = example()
    assert d.n_infinite(0) == 1
    assert d.n_infinite(1) == 0
    fin = d.finite(0)
    assert np.isfinite(fin).all()
    np.testing.assert_array_equal(fin, [[0.0, 0.5], [0.0, 1.0]])


def test_truncated_filtration_keeps_several_infinite_bars() -> None:
    d = Diagram(pairs=[[[0.0, INF], [0.0, INF], [0.0, 1.0]], [[0.5, INF]]], scale=2.0)
    assert d.n_infinite(0) == 2
    assert d.n_infinite(1) == 1
    assert d.finite(1).shape == (0, 2)


# ---------------------------------------------------------------------- ripser converter
def test_to_ripser_round_trip() -> None:
    d = example()
    dgms = d.to_ripser()
    assert isinstance(dgms, list)
    assert len(dgms) == 2
    assert np.isinf(dgms[0][:, 1]).sum() == 1
    back = Diagram.from_ripser(dgms, scale=d.scale, n_points=d.n_points)
    assert back == d
    assert back.provenance is None
    kept = Diagram.from_ripser(dgms, scale=d.scale, n_points=d.n_points, provenance=PROVENANCE)
    assert kept == d and kept.provenance is PROVENANCE


def test_to_ripser_returns_writable_copies() -> None:
    d = example()
    dgms = d.to_ripser()
    dgms[0][0, 1] = 99.0
    assert d[0][0, 1] == 0.5


# ---------------------------------------------------------------------- equality
def test_equality() -> None:
    a = example()
    b = Diagram(
        pairs=[[[0.0, 0.5], [0.0, INF], [0.0, 1.0]], [[0.5, 3.0], [0.7, 2.0]]],
        scale=4.0,
        n_points=3,
    )
    assert a == b  # order of the input bars does not matter
    assert a != Diagram(pairs=a.pairs, scale=5.0, n_points=3)
    assert a != Diagram(pairs=a.pairs, scale=4.0, n_points=4)
    assert a != Diagram(pairs=a.pairs[:1], scale=4.0, n_points=3)
    assert a != Diagram(pairs=[a[0], [[0.5, 3.0]]], scale=4.0, n_points=3)
    assert a != "not a diagram"


def test_diagram_is_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(example())


# ---------------------------------------------------------------------- giotto converter
def test_to_giotto_shape_and_padding() -> None:
    a = example()  # H0: 1 inf + 2 finite, H1: 2
    b = Diagram(pairs=[[[0.0, INF], [0.0, 1.5]], []], scale=3.0, n_points=2)
    X = to_giotto([a, b])
    # reduced: H0 widths 2 (a) / 1 (b) -> 2; H1 widths 2 / 0 -> 2
    assert X.shape == (2, 4, 3)
    np.testing.assert_array_equal(X[:, :, 2], [[0, 0, 1, 1], [0, 0, 1, 1]])
    np.testing.assert_array_equal(X[0, :2, :2], [[0.0, 0.5], [0.0, 1.0]])
    np.testing.assert_array_equal(X[0, 2:, :2], [[0.5, 3.0], [0.7, 2.0]])
    # b is padded with diagonal points (0, 0, dim)
    np.testing.assert_array_equal(X[1], [[0, 1.5, 0], [0, 0, 0], [0, 0, 1], [0, 0, 1]])


def test_to_giotto_every_dimension_has_a_point() -> None:
    d = Diagram(pairs=[[[0.0, INF]], []], scale=1.0)
    X = to_giotto([d])
    assert X.shape == (1, 2, 3)
    np.testing.assert_array_equal(X[0], [[0, 0, 0], [0, 0, 1]])


def test_to_giotto_reduced_drops_exactly_one_essential_h0_bar() -> None:
    d = Diagram(pairs=[[[0.0, INF], [0.0, INF], [0.0, 1.0]]], scale=2.0)
    X = to_giotto([d], reduced=True)
    assert X.shape == (1, 2, 3)
    np.testing.assert_array_equal(X[0, :, :2], [[0.0, 1.0], [0.0, 2.0]])


def test_to_giotto_unreduced_replaces_infinity_by_scale() -> None:
    d = example()
    X = to_giotto([d], reduced=False)
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(X[0, :3, :2], [[0.0, 0.5], [0.0, 1.0], [0.0, 4.0]])


def test_to_giotto_infinity_value() -> None:
    d = Diagram(pairs=[[[0.0, INF], [0.0, 1.0]], [[0.5, INF]]], scale=2.0)
    X = to_giotto([d], reduced=True, infinity_value=7.0)
    np.testing.assert_array_equal(X[0], [[0.0, 1.0, 0.0], [0.5, 7.0, 1.0]])


def test_to_giotto_mixed_maxdim_raises() -> None:
    a = Diagram(pairs=[[[0.0, 1.0]]])
    b = Diagram(pairs=[[[0.0, 1.0]], []])
    with pytest.raises(ActivationError, match="maxdim"):
        to_giotto([a, b])


def test_to_giotto_empty_collection() -> None:
    assert to_giotto([]).shape == (0, 0, 3)


def test_from_giotto_drops_padding_and_restores_scales() -> None:
    a = example()
    b = Diagram(pairs=[[[0.0, INF], [0.0, 1.5]], []], scale=3.0, n_points=2)
    back = from_giotto(to_giotto([a, b]), scales=[4.0, 3.0])
    assert len(back) == 2
    assert back[0] == Diagram(pairs=[a.finite(0), a[1]], scale=4.0)
    assert back[1] == Diagram(pairs=[[[0.0, 1.5]], []], scale=3.0)


def test_from_giotto_wrong_shape() -> None:
    with pytest.raises(ActivationError, match=r"\(n_samples, n_points, 3\)"):
        from_giotto(np.zeros((2, 3)))


# ---------------------------------------------------------------------- invariants
finite_value = st.floats(0.0, 1e3, allow_nan=False, allow_infinity=False)
bar = st.tuples(finite_value, finite_value).map(lambda t: (min(t), max(t)))
bars = st.lists(bar, max_size=12)


@st.composite
def diagrams(draw: st.DrawFn) -> Diagram:
    maxdim = draw(st.integers(0, 2))
    pairs = [draw(bars) for _ in range(maxdim + 1)]
    scale = draw(st.floats(1e-3, 1e3))
    return Diagram(pairs=pairs, scale=scale, n_points=draw(st.integers(0, 100)))


@settings(max_examples=60, deadline=None)
@given(diagrams())
def test_births_never_exceed_deaths(d: Diagram) -> None:
    for k in range(d.maxdim + 1):
        assert (d[k][:, 0] <= d[k][:, 1]).all()
        assert (d.lifetimes(k) >= 0).all()


@settings(max_examples=60, deadline=None)
@given(diagrams())
def test_relative_lifetimes_are_lifetimes_over_scale(d: Diagram) -> None:
    for k in range(d.maxdim + 1):
        np.testing.assert_allclose(d.lifetimes(k, relative=True), d.lifetimes(k) / d.scale)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(diagrams(), min_size=1, max_size=4).filter(lambda ds: len({d.maxdim for d in ds}) == 1)
)
def test_giotto_round_trip_of_finite_non_diagonal_bars(ds: list[Diagram]) -> None:
    back = from_giotto(to_giotto(ds), scales=[d.scale for d in ds])
    assert len(back) == len(ds)
    for d, b in zip(ds, back, strict=True):
        assert b.maxdim == d.maxdim
        for k in range(d.maxdim + 1):
            bars_k = d[k]
            expected = bars_k[bars_k[:, 0] != bars_k[:, 1]]
            np.testing.assert_array_equal(b[k], expected)
