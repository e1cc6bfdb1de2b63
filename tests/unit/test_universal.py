"""The universal test's pure parts: log log persistence, p-values, the H0 rule, run-level
corrections. Hand-computed values and invariants; shapes are in
tests/integration/test_significance_truth.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tda_interp.diagrams import Diagram
from tda_interp.homology import run_level_calls
from tda_interp.homology.significance import SignificanceResult
from tda_interp.homology.universal import (
    EULER_GAMMA,
    cluster_calls,
    loglog_persistence,
    universal_p_values,
)
from tda_interp.options import SignificanceOptions


def _pdist(X: np.ndarray) -> np.ndarray:
    return np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))


# ---------------------------------------------------------------------- H1 and above
def test_loglog_persistence_by_hand() -> None:
    bars = [[1.0, math.e], [2.0, 2.0 * math.e**math.e], [0.0, 3.0], [1.0, math.inf], [1.0, 1.0]]
    usable, L = loglog_persistence(bars)
    assert usable.tolist() == [True, True, False, False, False]
    np.testing.assert_allclose(L, [0.0, 1.0], atol=1e-12)


def test_widening_shortens_and_can_empty_a_bar() -> None:
    _, L = loglog_persistence([[1.0, 4.0], [1.0, 1.5]], widen=0.3)
    np.testing.assert_allclose(L[0], math.log(math.log(3.7 / 1.3)))
    assert L[1] == -math.inf


def test_p_values_by_hand() -> None:
    # m = 2 bars with L = 0 and 1: L_bar = 1/2, l = +-1/2 - gamma, p = exp(-exp(l))
    p, m, lbar = universal_p_values([[1.0, math.e], [1.0, math.e**math.e]])
    assert (m, lbar) == (2, 0.5)
    np.testing.assert_allclose(
        p, [math.exp(-math.exp(-0.5 - EULER_GAMMA)), math.exp(-math.exp(0.5 - EULER_GAMMA))]
    )


def test_one_bar_alone_is_never_significant() -> None:
    p, m, _ = universal_p_values([[0.1, 100.0]])
    assert m == 1
    np.testing.assert_allclose(p, math.exp(-math.exp(-EULER_GAMMA)))  # 0.57 whatever the bar


def test_a_reference_replaces_the_diagram_mean() -> None:
    p, m, lbar = universal_p_values([[0.1, 100.0]], reference=-3.0)
    assert (m, lbar) == (1, -3.0)
    assert p[0] < 1e-9


def test_untestable_bars_get_nan() -> None:
    p, m, _ = universal_p_values([[0.0, 1.0], [1.0, math.inf]])
    assert m == 0 and np.isnan(p).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.01, 10.0), st.floats(1.001, 50.0)), min_size=2, max_size=30),
    st.floats(1e-3, 1e3),
)
def test_p_values_are_scale_invariant_and_in_unit_interval(
    bars: list[tuple[float, float]], c: float
) -> None:
    B = np.array([[b, b * r] for b, r in bars])
    p, _, _ = universal_p_values(B)
    q, _, _ = universal_p_values(c * B)
    assert ((p > 0) & (p <= 1)).all()
    np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------------- H0
def test_two_separated_blobs_make_one_extra_cluster() -> None:
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + np.array([25.0, 0.0])]
    heights, calls, c = cluster_calls(_pdist(X))
    assert len(heights) == 79 and calls.sum() == 1 and calls[np.argmax(heights)]
    assert 1.0 < c <= 2.0


@pytest.mark.parametrize("d", [2, 8, 64])
def test_one_gaussian_blob_is_one_cluster(d: int) -> None:
    for seed in range(5):
        X = np.random.default_rng(seed).normal(size=(200, d))
        assert cluster_calls(_pdist(X))[1].sum() == 0


def test_small_groups_are_not_clusters() -> None:
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(size=(60, 2)), rng.normal(size=(3, 2)) * 0.01 + [50.0, 0.0]]
    assert cluster_calls(_pdist(X))[1].sum() == 0  # 3 points < s_min = 5


def test_duplicates_make_no_bar_and_quantised_data_no_cluster() -> None:
    grid = np.array([[i, j] for i in range(8) for j in range(8)], dtype=float)
    X = np.r_[grid, grid[:10]]  # ties everywhere, and ten duplicated points
    heights, calls, _ = cluster_calls(_pdist(X))
    assert len(heights) == 63 and not calls.any()


def test_widening_can_only_remove_clusters() -> None:
    rng = np.random.default_rng(2)
    X = np.r_[rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + np.array([9.0, 0.0])]
    _, plain, _ = cluster_calls(_pdist(X))
    _, wide, _ = cluster_calls(_pdist(X), widen=3.0)
    assert plain.sum() == 1 and wide.sum() == 0


# ---------------------------------------------------------------------- run-level corrections
def _result(p1: list[float], *, alpha: float = 0.05) -> SignificanceResult:
    bars = np.array([[1.0, 2.0]] * len(p1))
    d = Diagram(pairs=[[[0.0, math.inf]], bars], scale=2.0, n_points=3)
    p = np.array(p1)
    m = len(p1)
    return SignificanceResult(
        d,
        SignificanceOptions(alpha=alpha),
        0,
        (2.0, alpha / m),
        (np.array([np.nan]), p),
        (np.zeros(1, bool), p <= alpha / m),
        (np.empty(0), np.empty(0)),
    )


def test_bonferroni_over_the_run_by_hand() -> None:
    many = [_result([0.001, 0.2]), _result([0.02, 0.007, 0.5])]  # M = 5: cutoff 0.01
    calls = run_level_calls(many, "bonferroni")
    assert [c[1].tolist() for c in calls] == [[True, False], [False, True, False]]


def test_benjamini_hochberg_by_hand() -> None:
    # sorted p: 0.001 0.007 0.02 0.2 0.5 against 0.01 0.02 0.03 0.04 0.05: the third passes
    many = [_result([0.001, 0.2]), _result([0.02, 0.007, 0.5])]
    calls = run_level_calls(many, "bh")
    assert [c[1].tolist() for c in calls] == [[True, False], [True, True, False]]


def test_diagram_correction_keeps_each_results_calls_and_h0_is_untouched() -> None:
    many = [_result([0.001, 0.2]), _result([0.02, 0.007, 0.5])]
    for how in ("diagram", "bonferroni", "bh"):
        calls = run_level_calls(many, how)  # type: ignore[arg-type]
        assert all(c[0] is r.significant[0] for c, r in zip(calls, many, strict=True))
    assert run_level_calls(many, "diagram") == [r.significant for r in many]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8), min_size=1, max_size=6))
def test_bonferroni_calls_are_among_bh_calls(ps: list[list[float]]) -> None:
    many = [_result(p) for p in ps]
    bonf = run_level_calls(many, "bonferroni")
    bh = run_level_calls(many, "bh")
    for b, h in zip(bonf, bh, strict=True):
        assert not (b[1] & ~h[1]).any()


def test_results_at_different_levels_need_an_explicit_alpha() -> None:
    from tda_interp.exceptions import ConfigError

    many = [_result([0.001], alpha=0.05), _result([0.001], alpha=0.01)]
    with pytest.raises(ConfigError, match="different levels"):
        run_level_calls(many, "bonferroni")
    assert [c[1].tolist() for c in run_level_calls(many, "bonferroni", alpha=0.01)] == [
        [True],
        [True],
    ]
    with pytest.raises(ConfigError, match="correction"):
        run_level_calls(many, "holm")  # type: ignore[arg-type]
