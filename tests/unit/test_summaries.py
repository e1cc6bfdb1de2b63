"""Diagram summaries against hand-computed values."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tda_interp.diagrams import DEFAULT_LONG_BAR, Diagram, persistent_entropy, summarize
from tda_interp.exceptions import ConfigError
from tda_interp.options import SummaryOptions

INF = np.inf

KEYS = {
    "dim",
    "n_bars",
    "n_infinite",
    "n_long",
    "max_persistence",
    "max_rel_persistence",
    "second_rel_persistence",
    "total_rel_persistence",
    "entropy",
    "scale",
    "n_points",
    "bound_rel",
    "betti_at_0.10",
    "betti_at_0.25",
    "betti_at_0.50",
}


def example() -> Diagram:
    # H0 finite lifetimes 1, 2 (+ one infinite); H1 lifetimes 1.5, 2.0, 0.5; scale 4
    return Diagram(
        pairs=[[[0.0, INF], [0.0, 1.0], [0.0, 2.0]], [[0.5, 2.0], [1.0, 3.0], [2.0, 2.5]]],
        scale=4.0,
        n_points=3,
    )


def test_summary_rows_hand_computed() -> None:
    rows = summarize(example())
    assert [r["dim"] for r in rows] == [0, 1]
    assert all(set(r) == KEYS for r in rows)
    h0, h1 = rows
    assert h0["n_bars"] == 2
    assert h0["n_infinite"] == 1
    assert h0["max_persistence"] == pytest.approx(2.0)
    assert h0["max_rel_persistence"] == pytest.approx(0.5)
    assert h0["second_rel_persistence"] == pytest.approx(0.25)
    assert h0["total_rel_persistence"] == pytest.approx(0.75)
    p = np.array([1.0, 2.0]) / 3.0
    assert h0["entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert h0["n_long"] == 1  # 0.5 > 0.25, but 0.25 is not strictly greater
    assert h1["n_bars"] == 3
    assert h1["n_infinite"] == 0
    assert h1["max_persistence"] == pytest.approx(2.0)
    assert h1["max_rel_persistence"] == pytest.approx(0.5)
    assert h1["second_rel_persistence"] == pytest.approx(0.375)
    assert h1["total_rel_persistence"] == pytest.approx(1.0)
    assert h1["n_long"] == 2  # 0.5 and 0.375
    assert h1["scale"] == 4.0
    assert h1["n_points"] == 3
    assert h0["betti_at_0.10"] == 3  # the infinite bar and both finite ones (relative 0.25, 0.5)
    assert h0["betti_at_0.50"] == 1


def test_empty_dimension_summary() -> None:
    d = Diagram(pairs=[[[0.0, INF]], []], scale=1.0, n_points=1)
    h0, h1 = summarize(d)
    assert h0["n_bars"] == 0
    assert h0["n_infinite"] == 1
    for row in (h0, h1):
        assert row["max_persistence"] == 0.0
        assert row["max_rel_persistence"] == 0.0
        assert row["second_rel_persistence"] == 0.0
        assert row["total_rel_persistence"] == 0.0
        assert row["entropy"] == 0.0
        assert row["n_long"] == 0


def test_n_long_is_strictly_greater_than_threshold() -> None:
    # relative lifetimes exactly 0.25, 0.5 and 0.125
    d = Diagram(pairs=[[[0.0, 1.0], [0.0, 2.0], [0.0, 0.5]]], scale=4.0)
    assert summarize(d, long_bar=0.25)[0]["n_long"] == 1
    assert summarize(d, long_bar=0.2)[0]["n_long"] == 2
    assert summarize(d, long_bar=0.5)[0]["n_long"] == 0
    assert summarize(d, long_bar=0.0)[0]["n_long"] == 3


def test_default_long_bar() -> None:
    assert DEFAULT_LONG_BAR == 0.25
    d = Diagram(pairs=[[[0.0, 1.0], [0.0, 1.04]]], scale=4.0)
    assert summarize(d)[0]["n_long"] == 1


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_entropy_of_equal_bars_is_log_n(n: int) -> None:
    assert persistent_entropy(np.full(n, 0.3)) == pytest.approx(math.log(n))


def test_entropy_of_fewer_than_two_bars_is_zero() -> None:
    assert persistent_entropy(np.array([])) == 0.0
    assert persistent_entropy(np.array([2.0])) == 0.0
    assert persistent_entropy(np.array([2.0, 0.0])) == 0.0  # zero-length bars are ignored


def test_entropy_hand_computed() -> None:
    p = np.array([0.5, 0.25, 0.25])
    assert persistent_entropy(np.array([2.0, 1.0, 1.0])) == pytest.approx(-(p * np.log(p)).sum())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1e-3, 1e3), min_size=2, max_size=30),
    st.floats(1e-2, 1e2),
)
def test_entropy_bounds_and_scale_invariance(life: list[float], c: float) -> None:
    arr = np.array(life)
    h = persistent_entropy(arr)
    assert -1e-12 <= h <= math.log(len(arr)) + 1e-9
    assert persistent_entropy(c * arr) == pytest.approx(h, rel=1e-9, abs=1e-12)


def test_betti_numbers_at_relative_scales() -> None:
    # H1 bar alive on [0.5, 2.0) of scale 4 -> relative [0.125, 0.5): alive at 0.25 only
    d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    h0, h1 = summarize(d)
    assert (h1["betti_at_0.10"], h1["betti_at_0.25"], h1["betti_at_0.50"]) == (0, 1, 0)
    # H0: the infinite bar everywhere, the finite one (relative [0, 0.25)) only at 0.10
    assert (h0["betti_at_0.10"], h0["betti_at_0.25"], h0["betti_at_0.50"]) == (2, 1, 1)


def test_bound_rel_travels_with_the_summaries(make_circle: Callable[..., np.ndarray]) -> None:
    from tda_interp.homology import vietoris_rips

    X = make_circle(300, noise=0.02)
    approx = vietoris_rips(X, backend="ripser", approximation="landmarks:40")
    assert approx.provenance is not None
    bound_rel = approx.provenance.certificate.bound_rel
    assert bound_rel is not None and bound_rel > 0
    assert all(r["bound_rel"] == bound_rel for r in summarize(approx))
    assert all(r["bound_rel"] == 0.0 for r in summarize(vietoris_rips(X, backend="ripser")))
    assert all(r["bound_rel"] is None for r in summarize(example()))  # no provenance: unknown
    subsample = vietoris_rips(X, backend="ripser", approximation="subsample:50")
    assert all(r["bound_rel"] is None for r in summarize(subsample))


def test_options_object_and_override_agree() -> None:
    d = Diagram(pairs=[[[0.0, 1.0], [0.0, 2.0], [0.0, 0.5]]], scale=4.0)
    assert summarize(d, SummaryOptions(long_bar=0.2)) == summarize(d, long_bar=0.2)
    assert summarize(d, SummaryOptions(long_bar=0.2))[0]["n_long"] == 2
    # an override applies over the options given
    assert summarize(d, SummaryOptions(long_bar=0.2), long_bar=0.5)[0]["n_long"] == 0
    with pytest.raises(ConfigError, match="long_bar"):
        summarize(d, long_bar=-0.1)
    with pytest.raises(ConfigError, match=r"'long_barr' \(did you mean 'long_bar'\?\)"):
        summarize(d, long_barr=0.1)


def test_n_significant_only_with_significance(make_circle: Callable[..., np.ndarray]) -> None:
    from tda_interp.homology import significance

    X = make_circle(40, noise=0.05, seed=1)
    res = significance(X, seed=0, backend="ripser")
    rows = summarize(res.diagram, significance=res)
    assert all(set(r) == KEYS | {"n_significant", "betti_significant"} for r in rows)
    assert [r["n_significant"] for r in rows] == [int(s.sum()) for s in res.significant]
    assert rows[1]["n_significant"] == 1  # the circle's loop
    # Betti numbers of the significant features: one cluster, one loop
    assert [r["betti_significant"] for r in rows] == [1, 1]
    assert all("n_significant" not in r for r in summarize(res.diagram))
