"""Exact diagram distances against hand-computed values and a brute-force reference.

The reference below is written from the definitions, independently of gudhi and hera: both
diagrams are augmented with one diagonal copy per bar of the other, and the distance is an
optimal perfect matching of the augmented problem (an assignment for Wasserstein, a threshold
search with bipartite matchings for the bottleneck), itself checked against all permutations
on tiny diagrams.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import textwrap

import numpy as np
import persim
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.distances import (
    PreparedBars,
    bars_distance,
    exact_distance,
    prepare_bars,
)
from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.options import DistanceOptions

INF = math.inf
SQRT2 = math.sqrt(2.0)
Bars = NDArray[np.float64]

#: (metric, order, ground) of the distances compared; bottleneck is q = inf only.
METRICS = [
    ("bottleneck", 1.0, INF),
    ("wasserstein", 1.0, INF),
    ("wasserstein", 2.0, INF),
    ("wasserstein", 1.0, 2.0),
    ("wasserstein", 2.0, 2.0),
]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def dgm(bars: list[tuple[float, float]] | Bars, *, scale: float = 1.0) -> Diagram:
    """A diagram whose H0 holds ``bars``."""
    arr = np.asarray(bars, dtype=np.float64).reshape(-1, 2)
    return Diagram(pairs=[arr], scale=scale, n_points=max(1, len(arr)))


def dist(a: list[tuple[float, float]], b: list[tuple[float, float]], **options: object) -> float:
    """Absolute (relative=False) distance between the H0 bars ``a`` and ``b``."""
    return exact_distance(dgm(a), dgm(b), 0, relative=False, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the reference
def _lq(u: Bars, v: Bars, q: float) -> Bars:
    """``(|u| ** q + |v| ** q) ** (1 / q)``, factored as ``top * (1 + r ** q) ** (1 / q)``."""
    top, low = np.maximum(np.abs(u), np.abs(v)), np.minimum(np.abs(u), np.abs(v))
    if math.isinf(q):
        return top
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(top > 0, low / top, 0.0)
    return top * (1.0 + ratio**q) ** (1.0 / q)


def augmented_moves(x: Bars, y: Bars, q: float) -> Bars:
    """Move lengths of the augmented problem, ``inf`` where a move is not allowed.

    Rows: the bars of ``x``, then one diagonal copy per bar of ``y``; columns: the bars of
    ``y``, then one diagonal copy per bar of ``x``. A finite bar goes to another finite bar
    (L^q), or to its own diagonal copy (its distance to the diagonal, at the midpoint); an
    essential bar goes to another essential bar only, at ``|b1 - b2|``; diagonal copies match
    each other freely.
    """
    n, m = len(x), len(y)
    moves = np.full((n + m, m + n), np.inf)
    fx, fy = np.isfinite(x[:, 1]), np.isfinite(y[:, 1])
    both_finite = fx[:, None] & fy[None, :]
    both_essential = ~fx[:, None] & ~fy[None, :]
    with np.errstate(invalid="ignore"):
        finite_moves = _lq(x[:, None, 0] - y[None, :, 0], x[:, None, 1] - y[None, :, 1], q)
    db = np.abs(x[:, None, 0] - y[None, :, 0])
    moves[:n, :m] = np.where(both_finite, finite_moves, np.where(both_essential, db, np.inf))
    for i, (b, d) in enumerate(x):
        if np.isfinite(d):
            moves[i, m + i] = _lq(np.array((d - b) / 2), np.array((d - b) / 2), q)
    for j, (b, d) in enumerate(y):
        if np.isfinite(d):
            moves[n + j, j] = _lq(np.array((d - b) / 2), np.array((d - b) / 2), q)
    moves[n:, m:] = 0.0
    return moves


def ref_wasserstein(x: Bars, y: Bars, p: float, q: float) -> float:
    """``(min over perfect matchings of sum move ** p) ** (1 / p)`` by an assignment."""
    if len(x) + len(y) == 0:
        return 0.0
    moves = augmented_moves(x, y, q)
    allowed = np.isfinite(moves)
    big = 1e12 * (1.0 + np.where(allowed, moves, 0.0).max() ** p) * moves.size
    cost = np.where(allowed, moves**p, big)
    rows, cols = linear_sum_assignment(cost)
    if not allowed[rows, cols].all():
        return INF
    return float(cost[rows, cols].sum() ** (1.0 / p))


def _perfect(allowed: Bars) -> bool:
    match = maximum_bipartite_matching(csr_matrix(allowed.astype(np.int8)), perm_type="column")
    return bool((match >= 0).all())


def ref_bottleneck(x: Bars, y: Bars) -> float:
    """Smallest threshold under which the augmented problem has a perfect matching."""
    if len(x) + len(y) == 0:
        return 0.0
    moves = augmented_moves(x, y, INF)
    if not _perfect(np.isfinite(moves)):
        return INF
    candidates = np.unique(moves[np.isfinite(moves)])
    lo, hi = 0, len(candidates) - 1  # candidates[hi] always admits a perfect matching
    while lo < hi:
        mid = (lo + hi) // 2
        if _perfect(moves <= candidates[mid]):
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo])


def brute_force(x: Bars, y: Bars, p: float, q: float) -> float:
    """Every perfect matching of the augmented problem (tiny diagrams only)."""
    moves = augmented_moves(x, y, q)
    size = len(moves)
    if size == 0:
        return 0.0
    perms = np.array(list(itertools.permutations(range(size))))
    chosen = moves[np.arange(size), perms]  # one row per matching
    if math.isinf(p):
        return float(chosen.max(axis=1).min())
    return float((chosen**p).sum(axis=1).min() ** (1.0 / p))


def reference(x: Bars, y: Bars, metric: str, order: float, ground: float) -> float:
    if metric == "bottleneck":
        return ref_bottleneck(x, y)
    return ref_wasserstein(x, y, order, ground)


def random_bars(rng: np.random.Generator, n: int, n_essential: int, *, ties: bool) -> Bars:
    births = rng.uniform(0.0, 1.0, n)
    deaths = births + rng.exponential(0.3, n)
    essential = rng.uniform(0.0, 1.0, n_essential)
    bars = np.r_[np.c_[births, deaths], np.c_[essential, np.full(n_essential, np.inf)]]
    if ties:  # coarse values: equal coordinates, repeated bars, diagonal points
        bars = np.round(bars * 4.0) / 4.0
    return bars[rng.permutation(len(bars))]


def _finite_off_diagonal(bars: Bars) -> Bars:
    return bars[np.isfinite(bars[:, 1]) & (bars[:, 1] != bars[:, 0])]


def test_reference_agrees_with_every_permutation() -> None:
    rng = np.random.default_rng(0)
    for seed in range(30):
        n, m = rng.integers(0, 3, 2)
        e = int(rng.integers(0, 2))
        x = random_bars(rng, int(n), e, ties=seed % 3 == 0)
        y = random_bars(rng, int(m), e + int(seed % 7 == 0), ties=seed % 3 == 0)
        assert ref_bottleneck(x, y) == pytest.approx(brute_force(x, y, INF, INF), rel=1e-12)
        for p, q in [(1.0, INF), (2.0, 2.0), (1.5, 1.0)]:
            assert ref_wasserstein(x, y, p, q) == pytest.approx(
                brute_force(x, y, p, q), rel=1e-12, abs=1e-15
            )


# ---------------------------------------------------------------------- hand-computed values
@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # one bar (0, 2) against nothing: to the diagonal, ||(1, 1)||_q
        ([(0, 2)], [], {"B": 1.0, "W1": 1.0, "W2": 1.0, "W1q2": SQRT2, "W2q2": SQRT2}),
        # (0, 4) -> (0, 3) moves ||(0, 1)||_q = 1; (1, 2) -> diagonal: 0.5 (q = inf), 1/sqrt2
        # (q = 2). Sending (0, 4) to the diagonal instead costs 2, (1, 2) -> (0, 3) costs 1.
        (
            [(0, 4), (1, 2)],
            [(0, 3)],
            {
                "B": 1.0,
                "W1": 1.5,
                "W2": math.sqrt(1.25),
                "W1q2": 1.0 + 1.0 / SQRT2,
                "W2q2": math.sqrt(1.5),
            },
        ),
        # (0, 4) -> (1, 5): ||(1, 1)||_q = 1 or sqrt2; both to the diagonal: 2 + 2 (q = inf)
        ([(0, 4)], [(1, 5)], {"B": 1.0, "W1": 1.0, "W2": 1.0, "W1q2": SQRT2, "W2q2": SQRT2}),
        # Bars listed in swapped order: (0, 2) <-> (0, 2.5) and (3, 5) <-> (3, 5.5), 0.5 each
        # (pairing by position would cost 3.5).
        (
            [(0, 2), (3, 5)],
            [(3, 5.5), (0, 2.5)],
            {
                "B": 0.5,
                "W1": 1.0,
                "W2": math.sqrt(0.5),
                "W1q2": 1.0,
                "W2q2": math.sqrt(0.5),
            },
        ),
        # (0, 2) vs (1.5, 3.5): the move costs ||(1.5, 1.5)||_q = 1.5 or 2.1213; both to the
        # diagonal cost 1 and 1 (q = inf) or sqrt2 and sqrt2 (q = 2). The bottleneck and the
        # W2 take the diagonal (max 1; sqrt(1 + 1) < 1.5; sqrt(2 + 2) = 2 < 2.1213), W1 the
        # move (1.5 < 2; 2.1213 < 2.8284).
        (
            [(0, 2)],
            [(1.5, 3.5)],
            {"B": 1.0, "W1": 1.5, "W2": SQRT2, "W1q2": 1.5 * SQRT2, "W2q2": 2.0},
        ),
    ],
)
def test_hand_computed_finite(
    a: list[tuple[float, float]], b: list[tuple[float, float]], expected: dict[str, float]
) -> None:
    got = {
        "B": dist(a, b),
        "W1": dist(a, b, metric="wasserstein", order=1),
        "W2": dist(a, b, metric="wasserstein", order=2),
        "W1q2": dist(a, b, metric="wasserstein", order=1, ground=2.0),
        "W2q2": dist(a, b, metric="wasserstein", order=2, ground=2.0),
    }
    assert got == pytest.approx(expected, rel=1e-12)
    # and the other way round
    assert dist(b, a, metric="wasserstein", order=2) == pytest.approx(expected["W2"], rel=1e-12)


def test_ground_q1_and_diagonal_formula() -> None:
    # a bar of lifetime l is 2 ** (1 / q) * l / 2 from the diagonal
    for q in (1.0, 1.5, 2.0, 3.0, INF):
        assert dist([(1, 3)], [], metric="wasserstein", ground=q) == pytest.approx(
            2.0 ** (1.0 / q), rel=1e-12
        )
    # q = 1: (0, 4) -> (1, 5) costs |1| + |1| = 2, the diagonal 4 + 4
    assert dist([(0, 4)], [(1, 5)], metric="wasserstein", ground=1.0) == pytest.approx(2.0)


def test_bottleneck_values_are_exact_moves() -> None:
    # the bottleneck distance is one of the moves, returned exactly
    assert dist([(0, 4), (1, 2)], [(0, 3)]) == 1.0
    # (1.1, 1.7) -> (1.2, 1.9) moves max(0.1, 0.2); to the diagonal: 0.3 and 0.35
    assert dist([(1.1, 1.7)], [(1.2, 1.9)]) == abs(1.9 - 1.7)


def test_relative_divides_each_diagram_by_its_scale() -> None:
    # (0, 4) / 4 = (0, 1) and (0, 3) / 2 = (0, 1.5): 0.5 relative; absolute: 1
    a, b = dgm([(0, 4)], scale=4.0), dgm([(0, 3)], scale=2.0)
    assert exact_distance(a, b, 0) == pytest.approx(0.5)
    assert exact_distance(a, b, 0, relative=False) == pytest.approx(1.0)
    assert exact_distance(a, b, 0, metric="wasserstein", order=2) == pytest.approx(0.5)


ESSENTIAL_A = [(0, INF), (1, INF), (0, 1)]
ESSENTIAL_B = [(3, INF), (0.5, INF), (0, 1.5)]


def test_essential_bars_matched_in_order_of_birth() -> None:
    # births 0, 1 against 0.5, 3 (sorted): moves 0.5 and 2; finite: (0, 1) -> (0, 1.5) = 0.5
    assert dist(ESSENTIAL_A, ESSENTIAL_B) == pytest.approx(2.0)  # max(0.5, 0.5, 2)
    assert dist(ESSENTIAL_A, ESSENTIAL_B, metric="wasserstein") == pytest.approx(3.0)
    assert dist(ESSENTIAL_A, ESSENTIAL_B, metric="wasserstein", order=2) == pytest.approx(
        math.sqrt(0.25 + 0.25 + 4.0)
    )
    # the ground metric does not change an essential move (and the finite one moves a death)
    assert dist(
        ESSENTIAL_A, ESSENTIAL_B, metric="wasserstein", order=2, ground=2.0
    ) == pytest.approx(math.sqrt(4.5))


def test_essential_bars_dropped() -> None:
    for options in ({}, {"metric": "wasserstein"}, {"metric": "wasserstein", "order": 2}):
        assert dist(ESSENTIAL_A, ESSENTIAL_B, infinite="drop", **options) == pytest.approx(0.5)
    # a different number of essential bars does not matter when they are dropped
    assert dist(ESSENTIAL_A, [(0, 1)], infinite="drop") == 0.0


def test_essential_count_mismatch_is_infinite() -> None:
    for options in ({}, {"metric": "wasserstein"}, {"metric": "wasserstein", "ground": 2.0}):
        assert dist(ESSENTIAL_A, [(0, INF), (0, 1)], **options) == INF
        assert dist([(0, 1)], [(0, INF)], **options) == INF


def test_diagonal_points_change_nothing() -> None:
    base = [(0, 4), (1, 2)]
    noisy = [*base, (0, 0), (2, 2), (5, 5), (1, 1)]
    for metric, order, ground in METRICS:
        options = {"metric": metric, "order": order, "ground": ground}
        assert dist(base, noisy, **options) == 0.0
        assert dist(noisy, [(0, 3)], **options) == dist(base, [(0, 3)], **options)
    # a diagram of diagonal points only is the empty diagram
    assert dist([(1, 1), (2, 2)], [(0, 2)]) == pytest.approx(1.0)


def test_empty_diagrams() -> None:
    for metric, order, ground in METRICS:
        assert dist([], [], metric=metric, order=order, ground=ground) == 0.0


def test_gudhi_issue_465_pair() -> None:
    # GUDHI issue #465: POT gave 53.2494 and hera 21.4557 for (p = 2, q = inf); the deaths of
    # 1e16 are finite here, and the reference agrees with hera.
    x = np.array(
        [
            [2.23201301e00, 2.30992361],
            [2.79212053e00, 3.53268734],
            [9.42383758e-01, 4.08248747],
            [5.22799989e-01, 1.0e16],
        ]
    )
    y = np.array(
        [
            [5.72533791e00, 1.81300169e01],
            [3.67182222e00, 2.16658844e01],
            [1.49374957e01, 5.14375875e01],
            [2.81675603e00, 1.0e16],
        ]
    )
    got = exact_distance(dgm(x), dgm(y), 0, metric="wasserstein", order=2, relative=False)
    assert got == pytest.approx(ref_wasserstein(x, y, 2.0, INF), rel=1e-9)
    assert got == pytest.approx(21.455667863335233, rel=1e-9)


# ---------------------------------------------------------------------- against the reference
@pytest.mark.parametrize(("metric", "order", "ground"), [*METRICS, ("wasserstein", 1.5, 1.0)])
def test_random_diagrams_match_reference(metric: str, order: float, ground: float) -> None:
    rng = np.random.default_rng(1)
    options = DistanceOptions(metric=metric, order=order, ground=ground, relative=False)  # type: ignore[arg-type]
    for seed in range(120):
        n, m = rng.integers(0, 9, 2)
        e = int(rng.integers(0, 3))
        ties = seed % 4 == 0
        x = random_bars(rng, int(n), e, ties=ties)
        y = random_bars(rng, int(m), e + int(seed % 10 == 0), ties=ties)
        got = exact_distance(dgm(x), dgm(y), 0, options)
        want = reference(x, y, metric, order, ground)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (seed, x, y)
        dropped = exact_distance(dgm(x), dgm(y), 0, options.replace(infinite="drop"))
        want_dropped = reference(
            _finite_off_diagonal(x), _finite_off_diagonal(y), metric, order, ground
        )
        assert dropped == pytest.approx(want_dropped, rel=1e-9, abs=1e-12), (seed, x, y)


@pytest.mark.parametrize(
    ("order", "ground"),
    [(1.0, 20.0), (1.0, 50.0), (2.0, 300.0), (60.0, 2.0), (150.0, INF)],
)
def test_large_order_or_ground_match_reference(order: float, ground: float) -> None:
    # a large ground q (hera would underflow |db| ** q) or order p (its costs would overflow)
    # goes to the module's own exact assignment; moves stay within [0.1, 4] here so that the
    # reference's plain powers are in range
    rng = np.random.default_rng(2)
    options = DistanceOptions(metric="wasserstein", order=order, ground=ground, relative=False)
    for _ in range(15):
        n, m = rng.integers(1, 6, 2)
        x = np.round(random_bars(rng, int(n), 0, ties=False), 1) + 1.0
        y = np.round(random_bars(rng, int(m), 0, ties=False), 1) + 1.0
        x, y = x[x[:, 1] > x[:, 0]], y[y[:, 1] > y[:, 0]]
        got = exact_distance(dgm(x), dgm(y), 0, options)
        assert got == pytest.approx(ref_wasserstein(x, y, order, ground), rel=1e-9)


def test_cases_on_which_hera_alone_never_returns() -> None:
    # hera's auction loops forever when the optimal cost is 0 in floating point (equal
    # diagrams listed in different orders, moves whose p-th powers underflow) or when the
    # moves span too many orders of magnitude. Run in a
    # subprocess so that a regression fails instead of hanging the suite.
    script = textwrap.dedent(
        """
        import numpy as np
        from tda_interp.diagrams.distances import PreparedBars, bars_distance
        from tda_interp.options import DistanceOptions
        W = lambda **kw: DistanceOptions(metric="wasserstein", **kw)
        X = np.array([[2.7, 5.73], [0.41, 4.06], [0.17, 2.88], [8.13, 12.81], [9.13, 13.2]])
        def P(bars, ess=()):
            return PreparedBars(np.array(bars, dtype=float).reshape(-1, 2), np.array(ess, float))
        out = [
            bars_distance(P([[0, 1], [0, 2]]), P([[0, 2], [0, 1]]), W()),
            bars_distance(P([[0, 1], [0, 2]], [0]), P([[0, 2], [0, 1]], [1]), W()),
            bars_distance(P([[0, 1], [0, 2]]), P([[1e-200, 1], [0, 2]]), W(order=2)),
            bars_distance(P([[0, 1e-200]]), P([[0, 2e-200]]), W(order=2)),
            bars_distance(P([[0, 0.5], [0.1, 0.3]]), P([[0.05, 0.52]]), W(ground=2000.0)),
            bars_distance(P([[0, 0.5], [0.1, 0.3]]), P([[0.05, 0.52]]), W(order=900.0)),
            bars_distance(P(X), P(X * (1 + 1e-15 * np.arange(10).reshape(5, 2))), W(order=2)),
        ]
        print(repr(out))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    out = eval(done.stdout.strip(), {"inf": INF})  # a list of floats
    assert out[0] == 0.0
    assert out[1] == 1.0  # the finite parts are equal; the essential births move by 1
    assert out[2] == pytest.approx(1e-200, rel=1e-9)
    # (0, 2e-200) -> (0, 1e-200) moves 1e-200; both to the diagonal: sqrt(1.25) * 1e-200
    assert out[3] == pytest.approx(1e-200, rel=1e-9)
    # (0, 0.5) -> (0.05, 0.52) moves ||(0.05, 0.02)||_2000 = 0.05 * (1 + 0.4 ** 2000) ** (1 /
    # 2000), that is 0.05; (0.1, 0.3) goes to the diagonal, 2 ** (1 / 2000) * 0.1
    assert out[4] == pytest.approx(0.05 + 2.0 ** (1.0 / 2000.0) * 0.1, rel=1e-12)
    # p = 900: (0.05 ** 900 + 0.1 ** 900) ** (1 / 900) = 0.1 * (1 + 2 ** -900) ** (1 / 900)
    assert out[5] == pytest.approx(0.1, rel=1e-12)
    # two diagrams that differ by rounding (a cloud and the same cloud in other units,
    # relative): hera's auction loops for ever on the moves of 1e-15 at p = 2
    assert 0.0 < out[6] < 1e-12


# ---------------------------------------------------------------------- properties
_coord = st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_life = st.floats(0.0, 5.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def diagrams(draw: st.DrawFn) -> Diagram:
    finite = draw(st.lists(st.tuples(_coord, _life), max_size=6))
    essential = draw(st.lists(_coord, max_size=2))
    bars = [(b, b + life) for b, life in finite] + [(b, INF) for b in essential]
    scale = draw(st.floats(0.1, 10.0))
    return dgm(np.array(bars, dtype=np.float64).reshape(-1, 2), scale=scale)


def _options(metric: str, order: float, ground: float) -> DistanceOptions:
    return DistanceOptions(metric=metric, order=order, ground=ground)  # type: ignore[arg-type]


@pytest.mark.parametrize(("metric", "order", "ground"), METRICS)
@SETTINGS
@given(a=diagrams(), b=diagrams())
def test_nonnegative_symmetric_identity(
    metric: str, order: float, ground: float, a: Diagram, b: Diagram
) -> None:
    options = _options(metric, order, ground)
    ab, ba = exact_distance(a, b, 0, options), exact_distance(b, a, 0, options)
    assert ab >= 0.0
    assert ab == pytest.approx(ba, rel=1e-9, abs=1e-12)
    assert exact_distance(a, a, 0, options) == 0.0
    # diagonal points added
    padded = dgm(np.r_[a[0], [[0.5, 0.5], [2.0, 2.0]]], scale=a.scale)
    assert exact_distance(a, padded, 0, options) == 0.0


@pytest.mark.parametrize(("metric", "order", "ground"), METRICS)
@SETTINGS
@given(a=diagrams(), b=diagrams(), c=diagrams())
def test_triangle_inequality(
    metric: str, order: float, ground: float, a: Diagram, b: Diagram, c: Diagram
) -> None:
    options = _options(metric, order, ground)
    ac = exact_distance(a, c, 0, options)
    via = exact_distance(a, b, 0, options) + exact_distance(b, c, 0, options)
    assert ac <= via * (1.0 + 1e-9) + 1e-12


@pytest.mark.parametrize(("metric", "order", "ground"), METRICS)
@SETTINGS
@given(a=diagrams(), b=diagrams(), factor=st.floats(1e-3, 1e3))
def test_relative_distance_is_scale_free(
    metric: str, order: float, ground: float, a: Diagram, b: Diagram, factor: float
) -> None:
    # the same cloud measured in other units: every bar and the scale times `factor`
    scaled = dgm(np.array(a[0]) * factor, scale=a.scale * factor)
    options = _options(metric, order, ground)
    assert exact_distance(scaled, b, 0, options) == pytest.approx(
        exact_distance(a, b, 0, options), rel=1e-9, abs=1e-12
    )


# ---------------------------------------------------------------------- prepare_bars
def test_prepare_bars_splits_sorts_and_scales() -> None:
    d = Diagram(
        pairs=[[[0.0, INF], [0.0, 2.0]], [[3.0, INF], [1.0, 4.0], [0.5, 2.0], [2.0, 2.0]]],
        scale=2.0,
        n_points=4,
    )
    bars = prepare_bars(d, 1)
    assert isinstance(bars, PreparedBars)
    np.testing.assert_array_equal(bars.finite, [[0.25, 1.0], [0.5, 2.0]])
    np.testing.assert_array_equal(bars.essential, [1.5])
    absolute = prepare_bars(d, 1, relative=False)
    np.testing.assert_array_equal(absolute.finite, [[0.5, 2.0], [1.0, 4.0]])
    assert absolute.finite.shape == (2, 2) and absolute.essential.shape == (1,)
    empty = prepare_bars(Diagram(pairs=[[]], scale=1.0), 0)
    assert empty.finite.shape == (0, 2) and empty.essential.shape == (0,)


def test_options_object_and_keywords_agree() -> None:
    a, b = dgm([(0, 4), (1, 2)], scale=3.0), dgm([(0, 3)], scale=2.0)
    options = DistanceOptions(metric="wasserstein", order=2.0, ground=2.0)
    value = exact_distance(a, b, 0, options)
    assert exact_distance(a, b, 0, metric="wasserstein", order=2.0, ground=2.0) == value
    assert exact_distance(a, b, np.int64(0), options) == value
    assert bars_distance(prepare_bars(a, 0), prepare_bars(b, 0), options) == value
    assert exact_distance(a, b, 0, options, relative=False) != value


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("metric", ["landscape", "betti", "image"])
def test_vector_metric_refused(metric: str) -> None:
    bars = prepare_bars(dgm([(0, 1)]), 0)
    options = DistanceOptions(metric=metric)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"tda_interp\.diagrams\.vectors"):
        bars_distance(bars, bars, options)
    with pytest.raises(ConfigError, match=f"got metric='{metric}'"):
        exact_distance(dgm([(0, 1)]), dgm([(0, 1)]), 0, metric=metric)


def test_dim_out_of_range_names_the_diagram() -> None:
    a = Diagram(pairs=[[[0.0, INF]], [[0.0, 1.0]]], scale=1.0)
    b = dgm([(0, 1)])
    with pytest.raises(ConfigError, match=r"diagram b holds dimensions 0\.\.0, asked for H1"):
        exact_distance(a, b, 1)
    with pytest.raises(ConfigError, match=r"diagram a holds dimensions 0\.\.0, asked for H1"):
        exact_distance(b, a, 1)
    with pytest.raises(ConfigError, match="asked for H-1"):
        exact_distance(a, b, -1)
    with pytest.raises(ConfigError, match="an int >= 0"):
        exact_distance(a, b, 0.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="asked for H3"):
        prepare_bars(a, 3)


def test_relative_with_scale_zero_refused() -> None:
    zero = dgm([(0, 1)], scale=0.0)
    with pytest.raises(ConfigError, match=r"diagram b has scale 0\.0.*relative=False"):
        exact_distance(dgm([(0, 1)]), zero, 0)
    with pytest.raises(ConfigError, match=r"scale 0\.0"):
        prepare_bars(zero, 0)
    assert exact_distance(dgm([(0, 1)]), zero, 0, relative=False) == 0.0


def test_bottleneck_with_finite_ground_refused() -> None:
    with pytest.raises(ConfigError, match="ground=inf only"):
        DistanceOptions(metric="bottleneck", ground=2.0)
    with pytest.raises(ConfigError, match="ground=inf only"):
        exact_distance(dgm([(0, 1)]), dgm([(0, 2)]), 0, ground=2.0)


def test_other_bad_arguments() -> None:
    a = dgm([(0, 1)])
    with pytest.raises(ConfigError, match="unknown option"):
        exact_distance(a, a, 0, oder=2)
    with pytest.raises(ConfigError, match="expected options to be a DistanceOptions"):
        bars_distance(prepare_bars(a, 0), prepare_bars(a, 0), {"metric": "bottleneck"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expected diagram b to be a Diagram"):
        exact_distance(a, [[0.0, 1.0]], 0)  # type: ignore[arg-type]
    with pytest.raises(ActivationError, match="born at -inf"):
        prepare_bars(dgm([(-INF, 1.0)]), 0)


# ---------------------------------------------------------------------- other packages
def test_bottleneck_agrees_with_persim() -> None:
    # persim: L-inf ground metric, l / 2 to the diagonal, finite bars only
    rng = np.random.default_rng(3)
    for _ in range(8):
        x = random_bars(rng, int(rng.integers(1, 25)), 0, ties=False)
        y = random_bars(rng, int(rng.integers(1, 25)), 0, ties=False)
        got = exact_distance(dgm(x), dgm(y), 0, relative=False)
        assert got == pytest.approx(float(persim.bottleneck(x, y)), rel=1e-12)


def test_wasserstein_q2_agrees_with_persim() -> None:
    # persim.wasserstein: p = 1 with the Euclidean ground metric (q = 2, l / sqrt2)
    rng = np.random.default_rng(4)
    for _ in range(5):
        x = random_bars(rng, int(rng.integers(1, 15)), 0, ties=False)
        y = random_bars(rng, int(rng.integers(1, 15)), 0, ties=False)
        got = exact_distance(dgm(x), dgm(y), 0, metric="wasserstein", ground=2.0, relative=False)
        assert got == pytest.approx(float(persim.wasserstein(x, y)), rel=1e-9)
