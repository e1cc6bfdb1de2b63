"""Betti curves on shared grids, checked against hand-computed counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tda_interp.diagrams import Diagram, betti_curve, betti_number, shared_grid
from tda_interp.exceptions import ActivationError

INF = np.inf


def example() -> Diagram:
    # H0: [0, inf), [0, 1), [0, 2);  H1: [0.5, 2), [1, 3)
    return Diagram(
        pairs=[[[0.0, INF], [0.0, 1.0], [0.0, 2.0]], [[0.5, 2.0], [1.0, 3.0]]],
        scale=4.0,
        n_points=3,
    )


def test_absolute_curve_half_open() -> None:
    grid = np.array([0.0, 0.5, 0.99, 1.0, 1.5, 2.0, 2.5, 3.0, 10.0])
    np.testing.assert_array_equal(
        betti_curve(example(), 0, grid, relative=False), [3, 3, 3, 2, 2, 1, 1, 1, 1]
    )
    np.testing.assert_array_equal(
        betti_curve(example(), 1, grid, relative=False), [0, 1, 1, 2, 2, 1, 1, 0, 0]
    )


def test_relative_curve_divides_by_scale() -> None:
    # relative H1 bars: [0.125, 0.5), [0.25, 0.75)
    grid = np.array([0.0, 0.125, 0.25, 0.5, 0.74, 0.75, 1.0])
    np.testing.assert_array_equal(betti_curve(example(), 1, grid), [0, 1, 2, 1, 1, 0, 0])


def test_curve_dtype_and_shape() -> None:
    curve = betti_curve(example(), 0, np.linspace(0, 1, 7))
    assert curve.shape == (7,)
    assert curve.dtype == np.int64


def test_infinite_bar_alive_forever() -> None:
    d = Diagram(pairs=[[[0.0, INF]], [[1.0, INF]]], scale=2.0)
    grid = np.array([0.0, 0.5, 1e6])
    np.testing.assert_array_equal(betti_curve(d, 0, grid, relative=False), [1, 1, 1])
    np.testing.assert_array_equal(betti_curve(d, 1, grid, relative=False), [0, 0, 1])


def test_empty_dimension_gives_zeros() -> None:
    d = Diagram(pairs=[[[0.0, INF]], []], scale=1.0)
    np.testing.assert_array_equal(betti_curve(d, 1, np.linspace(0, 1, 5)), np.zeros(5))


def test_shared_grid_relative_covers_unit_interval() -> None:
    grid = shared_grid([example()], n_bins=11)
    assert grid.shape == (11,)
    assert grid[0] == 0.0
    assert grid[-1] == 1.0
    assert (np.diff(grid) > 0).all()


def test_shared_grid_absolute_reaches_max_finite_death() -> None:
    a = Diagram(pairs=[[[0.0, INF], [0.0, 1.0]], [[0.5, 6.0]]], scale=5.0)
    b = Diagram(pairs=[[[0.0, INF], [0.0, 2.0]], [[1.0, 3.0]]], scale=3.0)
    grid = shared_grid([a, b], n_bins=20, relative=False)
    assert grid[0] == 0.0
    assert grid[-1] >= 6.0
    assert np.isfinite(grid).all()
    # the grid is fitted on the whole collection, not per diagram
    np.testing.assert_array_equal(grid, shared_grid([b, a], n_bins=20, relative=False))
    assert shared_grid([b], n_bins=20, relative=False)[-1] < grid[-1]


def test_shared_grid_absolute_on_empty_diagram_is_unit() -> None:
    d = Diagram(pairs=[[[0.0, 0.0]]], scale=0.0)
    np.testing.assert_array_equal(shared_grid([d], n_bins=3, relative=False), [0.0, 0.5, 1.0])


@pytest.mark.parametrize("n_bins", [1, 0, -3])
def test_shared_grid_needs_two_bins(n_bins: int) -> None:
    with pytest.raises(ActivationError, match="n_bins"):
        shared_grid([example()], n_bins=n_bins)


def test_betti_number() -> None:
    d = example()
    assert betti_number(d, 1, 1.0, relative=False) == 2
    assert betti_number(d, 1, 3.0, relative=False) == 0
    assert betti_number(d, 0, 1.0, relative=False) == 2
    assert betti_number(d, 1, 0.25) == 2
    assert isinstance(betti_number(d, 1, 0.25), int)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 10), st.floats(0, 10)).map(lambda t: (min(t), max(t))),
        max_size=15,
    ),
    st.floats(-1, 11),
)
def test_betti_number_counts_half_open_intervals(bars: list[tuple[float, float]], t: float) -> None:
    d = Diagram(pairs=[bars], scale=10.0)
    expected = sum(1 for b, e in bars if b <= t < e)
    assert betti_number(d, 0, t, relative=False) == expected
