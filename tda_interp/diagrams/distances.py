"""Exact distances between two persistence diagrams: bottleneck and p-Wasserstein.

Both match the bars of one diagram to the bars of the other, or to the diagonal, and measure
the moves; they are exact (one optimal matching per pair, :func:`exact_distance`). For many
diagrams at once, vectorise them instead (:mod:`tda_interp.diagrams.vectors`).

Conventions
-----------
Bars
    A bar is the point ``x = (b, d)`` of the plane, birth and death. Bars on the diagonal
    (``d == b``) are removed first (:func:`prepare_bars`): they match the diagonal at no cost,
    so they change no distance.
Ground metric ``q``
    A bar moves to another at the cost ``||x - y||_q = (|b1 - b2| ** q + |d1 - d2| ** q) **
    (1 / q)``; ``q = inf``, the default (:class:`~tda_interp.options.DistanceOptions`
    ``ground``), gives ``max(|b1 - b2|, |d1 - d2|)``.
Diagonal
    A bar of lifetime ``l = d - b`` that is not matched to a bar goes to its nearest point
    ``(t, t)`` of the diagonal. ``|b - t| ** q + |d - t| ** q`` is convex and symmetric about
    ``t = (b + d) / 2``, so the nearest point is the midpoint and the cost is
    ``||(l / 2, l / 2)||_q = 2 ** (1 / q) * l / 2``: ``l / 2`` for ``q = inf``, ``l / sqrt(2)``
    for ``q = 2``, ``l`` for ``q = 1``. hera agrees: one bar ``(0, 1)`` against an empty
    diagram is at 0.5, 0.7071, 0.7937 and 1.0 for ``q = inf, 2, 1.5, 1``.
Order ``p``
    Over all matchings (each bar to one bar of the other diagram or to the diagonal):
    the bottleneck distance is the smallest largest move, ``min max cost``; the p-Wasserstein
    distance is ``(min sum cost ** p) ** (1 / p)`` (:class:`~tda_interp.options.DistanceOptions`
    ``order``, default 1). The bottleneck distance is the limit ``p -> inf`` and is computed
    with ``q = inf`` only.
Infinite bars
    An essential bar ``(b, inf)`` is never matched to a finite bar nor to the diagonal (the cost
    would be infinite). ``infinite="match"`` pairs the essential bars of the two diagrams in
    order of birth, which is optimal for every ``p >= 1``, at the cost ``|b1 - b2|``: the
    bottleneck distance takes the largest of these and of the finite part; Wasserstein adds the
    p-th powers, ``(W_finite ** p + sum |b1 - b2| ** p) ** (1 / p)``. Different numbers of
    essential bars give ``inf``. ``infinite="drop"`` ignores them. A Vietoris-Rips diagram run
    to the diameter has one essential bar (H0, born at 0), so the two agree on such diagrams.
    Bars born at ``-inf`` are refused.
Relative scaling
    With ``relative=True`` (the default) each diagram is divided by its own ``scale`` (its
    cloud's diameter) before matching, so the distance is in units of the diameter and layers
    or models whose activations differ in size compare; a diagram of scale 0 is refused.
    ``relative=False``: filtration units.

Numbers are comparable only under one convention, and packages differ: gudhi's and persim's
bottleneck use ``q = inf`` and ``l / 2`` (as here); ``persim.wasserstein`` is ``p = 1`` with
``q = 2`` (``l / sqrt(2)``); hera and ``gudhi.wasserstein`` default to ``p = 1, q = inf``, while
``gudhi.wasserstein`` (the POT backend) defaulted to ``p = q = 2`` before GUDHI 3.3. Exactness
matters too: in GUDHI issue #465 one pair gave 53.25 with POT and 21.46 with hera under the
same ``p = 2, q = inf``, POT failing numerically on coordinates of 1e16 (this module gives
21.4557, checked against an exact assignment in the tests).

Numerics
--------
Coordinates are first divided by a power of two (exactly) so that they lie in ``[-1, 1]``.
The bottleneck distance is hera's exact algorithm (``gudhi.hera.bottleneck_distance`` with
``delta=0``), snapped to the nearest move length, of which it is one, so the result is a move
computed in floating point, as by hand. gudhi's own ``gudhi.bottleneck_distance`` (3.13) is not
used: an early exit in its matching search (GUDHI PR #1367) makes it return a larger value on
some pairs, about 1 in 400 random diagrams of up to 12 bars in our checks (0.1600 instead of
0.1406 on one). hera's exact algorithm in turn returns 0 for distances below about ``1e-10``
(relative to the largest coordinate); below ``1e-6`` a threshold search over the short moves
(bipartite matchings) replaces it.

The finite part of the Wasserstein distance is hera's auction with a relative error of at most
``1e-10`` (hera's default, 0.01, is visibly off), run on the bars divided by a power of two
below a lower bound of their bottleneck distance, so that the optimal matching has a move of
length at least 1 and its cost cannot underflow to 0: hera never returns on a pair whose
optimal cost is 0 in floating point (equal diagrams listed in different orders, moves whose
p-th powers underflow). Equal diagrams are recognised first and give 0. Where hera's own powers
could overflow or underflow, or its auction fail to converge (an order ``p > 10``, where from
``p = 40`` on it can run for ever on five bars; a finite ground ``q > 20``; moves spanning
more than ``1e6 ** (1 / p)``, as between two diagrams that differ by rounding, where hera
loops for ever at ``p = 2``), an exact assignment
(:func:`scipy.optimize.linear_sum_assignment`) on rescaled costs replaces it, in
``O((n + m) ** 3)`` time for ``n`` and ``m`` bars.

Examples
--------
>>> from tda_interp.diagrams import Diagram
>>> a = Diagram(pairs=[[[0.0, np.inf]], [[0.0, 4.0], [1.0, 2.0]]], scale=8.0, n_points=4)
>>> b = Diagram(pairs=[[[0.0, np.inf]], [[0.0, 3.0]]], scale=8.0, n_points=4)
>>> exact_distance(a, b, 1, relative=False)  # (0, 4) -> (0, 3) moves 1, (1, 2) -> diagonal 0.5
1.0
>>> exact_distance(a, b, 1, metric="wasserstein", relative=False)  # 1 + 0.5
1.5
>>> exact_distance(a, b, 1, metric="wasserstein")  # relative: divided by the scale, 8
0.1875
"""

from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import gudhi.hera
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.spatial import cKDTree

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.options import DistanceOptions
from tda_interp.options.compare import DIAGRAM_METRICS, VECTOR_METRICS

__all__ = ["PreparedBars", "bars_distance", "exact_distance", "prepare_bars"]

FloatArray = NDArray[np.float64]

# hera's auction stops once its matching costs at most (1 + _HERA_DELTA) times the optimum.
_HERA_DELTA = 1e-10
# hera's exact bottleneck distance takes moves shorter than about 1e-10 (in coordinates of at
# most 1) for 0; below this, a threshold search over the short moves replaces it.
_HERA_SMALLEST = 1e-6
# A finite ground metric above this is computed by the exact assignment: hera raises the
# coordinate differences to the power q, which underflows for small moves when q is large.
_HERA_MAX_GROUND = 20.0
# hera's auction is used up to this order only: from p = 40 on it can run for ever even on a
# handful of bars (costs span too many orders of magnitude); up to 10 it is checked here.
_HERA_MAX_ORDER = 10.0
# Natural log of the largest cost (a move to the power p or q) allowed in floating point.
_LOG_MAX_COST = math.log(1e300)
# hera's auction is used only while the longest move to the power p is at most this many
# times the shortest that matters (1, by the choice of units): beyond about 1e8 its bids fall
# below the rounding of its prices and it loops for ever (measured on 6 to 600 bars, p = 1 to
# 10, q = 2 and inf: two near-equal diagrams, 1e-9 apart, hang it at p = 2).
_HERA_MAX_LOG_SPAN = math.log(1e6)


class PreparedBars(NamedTuple):
    """The bars of one dimension of one diagram, ready to be matched (:func:`prepare_bars`).

    Parameters
    ----------
    finite : ndarray of shape (n, 2)
        (birth, death) of the finite bars off the diagonal, divided by the scale if relative,
        sorted by birth, then death.
    essential : ndarray of shape (m,)
        Births of the infinite bars, divided by the scale if relative, sorted.
    """

    finite: FloatArray
    essential: FloatArray


def prepare_bars(diagram: Diagram, dim: int, *, relative: bool = True) -> PreparedBars:
    """The bars of dimension ``dim`` of a diagram, as the distances here match them.

    Removes diagonal points (``death == birth``), divides by the diagram's ``scale`` when
    ``relative``, and splits finite from essential (infinite) bars. Preparing each diagram
    once saves the work when it is compared with many others.

    Parameters
    ----------
    diagram : Diagram
    dim : int
        Homology dimension, ``0 <= dim <= diagram.maxdim``.
    relative : bool, default True
        Divide births and deaths by ``diagram.scale`` (the cloud's diameter).

    Returns
    -------
    PreparedBars
        ``finite`` of shape (n, 2) and ``essential`` of shape (m,).

    Raises
    ------
    ConfigError
        ``dim`` is not a dimension of the diagram, or ``relative`` with a scale that is not
        > 0 (a cloud of one point, or of identical points).
    ActivationError
        A bar is born at ``-inf``.

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 2.0], [1.0, 1.0]]], scale=4.0, n_points=3)
    >>> bars = prepare_bars(d, 0)
    >>> bars.finite, bars.essential
    (array([[0. , 0.5]]), array([0.]))
    """
    return _prepare(diagram, dim, relative, "prepare_bars()", "the diagram")


def _prepare(diagram: Diagram, dim: int, relative: bool, caller: str, name: str) -> PreparedBars:
    _check_dim(diagram, dim, caller, name)
    bars = diagram[dim]
    if relative and not diagram.scale > 0:
        raise ConfigError(
            f"{caller}: {name} has scale {diagram.scale} (a cloud of one point, or of identical "
            "points), and relative=True divides by it; pass relative=False, or leave that "
            "diagram out."
        )
    bars = bars[bars[:, 1] != bars[:, 0]]
    if np.isinf(bars[:, 0]).any():
        raise ActivationError(
            f"The H{dim} bars of {diagram!r} include a bar born at -inf; distances need finite "
            "births. Drop those bars before comparing."
        )
    infinite = np.isinf(bars[:, 1])
    finite = bars[~infinite]
    finite = finite[np.lexsort((finite[:, 1], finite[:, 0]))]
    essential = np.sort(bars[infinite, 0])
    if relative:
        finite = finite / diagram.scale
        essential = essential / diagram.scale
    return PreparedBars(
        finite=np.ascontiguousarray(finite, dtype=np.float64),
        essential=np.ascontiguousarray(essential, dtype=np.float64),
    )


def bars_distance(a: PreparedBars, b: PreparedBars, options: DistanceOptions) -> float:
    """Bottleneck or p-Wasserstein distance between two prepared sets of bars.

    The conventions (ground metric, diagonal, order, infinite bars) are the module's.

    Parameters
    ----------
    a, b : PreparedBars
        From :func:`prepare_bars`, with the same ``relative``.
    options : DistanceOptions
        ``metric`` ("bottleneck" or "wasserstein"), ``order``, ``ground``, ``infinite``;
        ``relative`` was applied by :func:`prepare_bars`.

    Returns
    -------
    float
        ``>= 0``; ``inf`` when ``infinite="match"`` and the numbers of essential bars differ.

    Raises
    ------
    ConfigError
        A vector metric ("landscape", "betti", "image"): those compare vectorisations, see
        :mod:`tda_interp.diagrams.vectors`.

    Examples
    --------
    >>> from tda_interp.options import DistanceOptions
    >>> a = PreparedBars(np.array([[0.0, 4.0]]), np.array([0.0]))
    >>> b = PreparedBars(np.array([[1.0, 4.0]]), np.array([0.5]))
    >>> bars_distance(a, b, DistanceOptions())  # max(|0 - 1|, |0 - 0.5|)
    1.0
    >>> bars_distance(a, b, DistanceOptions(metric="wasserstein", order=2))  # sqrt(1 + 0.25)
    1.118033988749895
    >>> bars_distance(a, b, DistanceOptions(infinite="drop"))
    1.0
    """
    _check_exact(options, "bars_distance()")
    p = math.inf if options.metric == "bottleneck" else float(options.order)
    finite = _finite_distance(
        _as_finite(a.finite, "a"), _as_finite(b.finite, "b"), p, float(options.ground)
    )
    if options.infinite == "drop":
        return finite
    essential = _essential_distance(
        np.sort(np.asarray(a.essential, dtype=np.float64).ravel()),
        np.sort(np.asarray(b.essential, dtype=np.float64).ravel()),
        p,
    )
    return _pnorm(np.array([finite, essential]), p)


def exact_distance(
    a: Diagram,
    b: Diagram,
    dim: int,
    options: DistanceOptions | None = None,
    **overrides: Any,
) -> float:
    """Exact bottleneck or p-Wasserstein distance between the ``H_dim`` bars of two diagrams.

    Parameters
    ----------
    a, b : Diagram
    dim : int
        Homology dimension; both diagrams must hold it.
    options : DistanceOptions, optional
        The defaults when omitted: bottleneck, ``ground=inf``, relative, ``infinite="match"``.
    **overrides
        Fields of :class:`~tda_interp.options.DistanceOptions` applied over ``options``:
        ``metric`` ("bottleneck" or "wasserstein"), ``order`` (``p >= 1``), ``ground``
        (``q >= 1`` or inf), ``relative``, ``infinite`` ("match" or "drop").

    Returns
    -------
    float
        In units of the diameter when relative; ``inf`` when ``infinite="match"`` and the
        numbers of essential bars differ.

    Raises
    ------
    ConfigError
        ``dim`` missing from a diagram, a vector metric, a diagram of scale 0 with
        ``relative=True``, or a bad option.

    Examples
    --------
    >>> a = Diagram(pairs=[[[0.0, np.inf]], [[1.0, 3.0]]], scale=4.0, n_points=3)
    >>> b = Diagram(pairs=[[[0.0, np.inf]], [[1.0, 2.0]]], scale=4.0, n_points=3)
    >>> exact_distance(a, b, 1)  # (1, 3) -> (1, 2), max(0, 1) / 4
    0.25
    >>> exact_distance(a, b, 1, metric="wasserstein", ground=2.0, relative=False)
    1.0
    """
    opts = DistanceOptions.resolve(options, overrides, caller="exact_distance()")
    _check_exact(opts, "exact_distance()")
    for name, dgm in (("a", a), ("b", b)):
        _check_dim(dgm, dim, "exact_distance()", f"diagram {name}")
    return bars_distance(
        _prepare(a, dim, opts.relative, "exact_distance()", "diagram a"),
        _prepare(b, dim, opts.relative, "exact_distance()", "diagram b"),
        opts,
    )


# ---------------------------------------------------------------------- checks
def _check_exact(options: Any, caller: str) -> None:
    if not isinstance(options, DistanceOptions):
        raise ConfigError(
            f"{caller}: expected options to be a DistanceOptions, got "
            f"{type(options).__name__}; pass DistanceOptions(metric=...)."
        )
    if not options.exact:
        exact = ", ".join(repr(m) for m in DIAGRAM_METRICS)
        fast = ", ".join(repr(m) for m in VECTOR_METRICS)
        raise ConfigError(
            f"{caller}: expected an exact metric ({exact}), got metric={options.metric!r}. "
            f"The vector metrics ({fast}) compare vectorisations on a shared grid: use "
            "tda_interp.diagrams.vectors (vectorize, vector_distances).",
            key="metric",
            expected=f"one of {exact}",
            received=repr(options.metric),
        )


def _check_dim(diagram: Any, dim: Any, caller: str, name: str) -> None:
    if not isinstance(diagram, Diagram):
        raise ConfigError(
            f"{caller}: expected {name} to be a Diagram, got {type(diagram).__name__}; build "
            "one with Diagram(pairs=...) or Diagram.from_ripser(...)."
        )
    try:
        if isinstance(dim, bool):
            raise TypeError
        k = operator.index(dim)
    except TypeError:
        raise ConfigError(
            f"{caller}: expected dim to be a homology dimension (an int >= 0), got {dim!r}."
        ) from None
    if not 0 <= k <= diagram.maxdim:
        raise ConfigError(
            f"{caller}: {name} holds dimensions 0..{diagram.maxdim}, asked for H{k}; compute "
            f"it with maxdim >= {k} or pass 0 <= dim <= {diagram.maxdim}."
        )


def _as_finite(bars: Any, name: str) -> FloatArray:
    arr = np.asarray(bars, dtype=np.float64)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
        raise ConfigError(
            f"bars_distance(): expected {name}.finite to be finite (birth, death) pairs of shape "
            f"(n, 2), got shape {arr.shape}; build it with prepare_bars(diagram, dim)."
        )
    return arr[arr[:, 1] != arr[:, 0]]


# ---------------------------------------------------------------------- the two parts
def _pnorm(values: FloatArray, p: float) -> float:
    """``(sum |v| ** p) ** (1 / p)`` (the largest for ``p = inf``), free of over/underflow."""
    v = np.abs(values)
    if v.size == 0:
        return 0.0
    top = float(v.max())
    if math.isinf(p) or top == 0.0 or math.isinf(top):
        return top
    return top * float(np.sum((v / top) ** p)) ** (1.0 / p)


def _essential_distance(x: FloatArray, y: FloatArray, p: float) -> float:
    """Sorted essential births matched in order (optimal for every p >= 1)."""
    if x.size != y.size:
        return math.inf
    return _pnorm(x - y, p)


def _same_bars(x: FloatArray, y: FloatArray) -> bool:
    if x.shape != y.shape:
        return False
    xs = x[np.lexsort((x[:, 1], x[:, 0]))]
    ys = y[np.lexsort((y[:, 1], y[:, 0]))]
    return bool(np.array_equal(xs, ys))


def _power_of_two_at_least(value: float) -> float:
    """The smallest power of two ``>= value > 0``: dividing by it is exact."""
    mantissa, exponent = math.frexp(value)
    return math.ldexp(1.0, exponent - 1 if mantissa == 0.5 else exponent)


def _finite_distance(x: FloatArray, y: FloatArray, p: float, q: float) -> float:
    """Bottleneck (``p = inf``) or p-Wasserstein distance of finite off-diagonal bars."""
    if _same_bars(x, y):
        return 0.0
    top = float(max(np.abs(x).max(initial=0.0), np.abs(y).max(initial=0.0)))
    unit = _power_of_two_at_least(top)  # coordinates in [-1, 1]: nothing overflows
    x, y = x / unit, y / unit
    if math.isinf(p):
        return _bottleneck(x, y) * unit
    # Moves in units of `step`, a power of two below a lower bound of the (L-inf) bottleneck
    # distance: the optimal matching has a move of length >= 1, so its cost is >= 1.
    bound = _lower_bound(x, y)
    if not bound > 0:  # a bar repeated more often in one diagram
        bound = _bottleneck(x, y)
        if not bound > 0:
            return 0.0
    step = _power_of_two_at_least(bound) / 2.0
    log_longest = math.log(4.0) - math.log(step)  # no move is longer than 4 / step
    hera_ok = (
        p <= _HERA_MAX_ORDER
        and (math.isinf(q) or q <= _HERA_MAX_GROUND)
        and p * log_longest <= _HERA_MAX_LOG_SPAN
        and (math.isinf(q) or q * log_longest < _LOG_MAX_COST)
    )
    if hera_ok:
        value = gudhi.hera.wasserstein_distance(
            x / step, y / step, order=p, internal_p=q, delta=_HERA_DELTA
        )
        return float(value) * step * unit
    return _assignment_distance(x, y, p, q, _bottleneck(x, y)) * unit


def _lower_bound(x: FloatArray, y: FloatArray) -> float:
    """Every bar moves at least min(half its lifetime, L-inf distance to the other diagram)."""
    bound = 0.0
    for u, v in ((x, y), (y, x)):
        if len(u) == 0:
            continue
        least = (u[:, 1] - u[:, 0]) / 2.0
        if len(v):
            nearest, _ = cKDTree(v).query(u, k=1, p=np.inf)
            least = np.minimum(least, nearest)
        bound = max(bound, float(least.max()))
    return bound


def _bottleneck(x: FloatArray, y: FloatArray) -> float:
    """Exact bottleneck distance of two different sets of bars with coordinates in [-1, 1]."""
    value = float(gudhi.hera.bottleneck_distance(x, y, delta=0.0))
    if value < _HERA_SMALLEST:
        small = _small_bottleneck(x, y, 10.0 * _HERA_SMALLEST)
        if small is not None:
            return small
    return _snap(value, x, y)


def _small_bottleneck(x: FloatArray, y: FloatArray, limit: float) -> float | None:
    """The bottleneck distance if it is at most ``limit``, else None (a threshold search)."""
    half_x = (x[:, 1] - x[:, 0]) / 2.0
    half_y = (y[:, 1] - y[:, 0]) / 2.0
    if len(x) and len(y):
        near = cKDTree(x).sparse_distance_matrix(cKDTree(y), limit, p=np.inf, output_type="ndarray")
        rows, cols = near["i"].astype(np.intp), near["j"].astype(np.intp)
    else:
        rows = cols = np.empty(0, dtype=np.intp)
    moves = np.maximum(np.abs(x[rows, 0] - y[cols, 0]), np.abs(x[rows, 1] - y[cols, 1]))
    candidates = np.unique(np.r_[0.0, moves, half_x, half_y])
    candidates = candidates[candidates <= limit]

    def matchable(t: float) -> bool:
        # A perfect matching of the augmented problem under t exists iff some matching of
        # the bar-to-bar moves <= t covers every bar more than t from the diagonal; by the
        # Mendelsohn-Dulmage theorem, iff one covers those of x and one covers those of y.
        keep = moves <= t
        for long, r, c, n_cols in (
            (half_x > t, rows[keep], cols[keep], len(y)),
            (half_y > t, cols[keep], rows[keep], len(x)),
        ):
            n_long = int(long.sum())
            if n_long == 0:
                continue
            index = np.cumsum(long) - 1
            on = long[r]
            graph = csr_matrix(
                (np.ones(int(on.sum()), dtype=np.int8), (index[r[on]], c[on])),
                shape=(n_long, max(n_cols, 1)),
            )
            if (maximum_bipartite_matching(graph, perm_type="column") < 0).any():
                return False
        return True

    if len(candidates) == 0 or not matchable(float(candidates[-1])):
        return None
    lo, hi = 0, len(candidates) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if matchable(float(candidates[mid])):
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo])


def _snap(value: float, x: FloatArray, y: FloatArray) -> float:
    """The move length nearest to gudhi's bottleneck value (off by a few ulps at most).

    The bottleneck distance is one of the moves: a half lifetime, or ``|b1 - b2|`` or
    ``|d1 - d2|`` for a pair of bars. Only the few pairs closest to ``value`` are looked at.
    """
    candidates = [(x[:, 1] - x[:, 0]) / 2.0, (y[:, 1] - y[:, 0]) / 2.0]
    if len(x) and len(y):
        for col in (0, 1):
            ends = np.sort(y[:, col])
            for target in (x[:, col] - value, x[:, col] + value):
                at = np.searchsorted(ends, target)
                for idx in (np.clip(at - 1, 0, len(ends) - 1), np.clip(at, 0, len(ends) - 1)):
                    candidates.append(np.abs(x[:, col] - ends[idx]))
    moves = np.concatenate(candidates)
    nearest = float(moves[np.argmin(np.abs(moves - value))])
    return nearest if abs(nearest - value) <= 1e-12 * value else value


def _lq(u: FloatArray, v: FloatArray, q: float) -> FloatArray:
    """``||(u, v)||_q`` elementwise, free of over/underflow."""
    u, v = np.abs(u), np.abs(v)
    top = np.maximum(u, v)
    if math.isinf(q):
        return top
    low = np.minimum(u, v)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(top > 0, low / top, 0.0)
    return top * (1.0 + ratio**q) ** (1.0 / q)


def _assignment_distance(x: FloatArray, y: FloatArray, p: float, q: float, c: float) -> float:
    """Exact p-Wasserstein distance by an assignment on the bars plus diagonal copies.

    Costs are ``(move / c) ** p`` for the L-inf bottleneck distance ``c > 0``. Its matching
    moves every bar by at most ``2 ** (1 / q) * c`` in L^q, so the optimum costs at most
    ``(n + m) * 2 ** (p / q) < cap``: a cost above ``cap`` is never part of it and is clipped
    to ``cap``, as are the forbidden pairs (a bar to another bar's diagonal copy), which keeps
    every entry and every sum finite. The optimum moves some bar by at least ``c``, so it
    costs at least 1: nothing that matters underflows.
    """
    n, m = len(x), len(y)
    size = n + m
    log_cap = math.log(2.0 * size + 1.0) + (p / q) * math.log(2.0)
    if log_cap > _LOG_MAX_COST - math.log(size + 1.0):
        raise ConfigError(
            f"bars_distance(): order={p} with ground={q} is beyond double precision for these "
            f"{size} bars; the p-Wasserstein distance is then within a factor "
            f"{size}^(1/p) of the bottleneck distance under L^q: use a smaller order, a "
            'larger ground, or metric="bottleneck".'
        )
    moves = np.full((size, size), np.inf)
    moves[:n, :m] = _lq(x[:, None, 0] - y[None, :, 0], x[:, None, 1] - y[None, :, 1], q)
    half_x = (x[:, 1] - x[:, 0]) / 2.0
    half_y = (y[:, 1] - y[:, 0]) / 2.0
    moves[np.arange(n), m + np.arange(n)] = _lq(half_x, half_x, q)
    moves[n + np.arange(m), np.arange(m)] = _lq(half_y, half_y, q)
    moves[n:, m:] = 0.0
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        log_cost = p * (np.log(moves) - math.log(c))
        cost = np.exp(np.minimum(log_cost, log_cap))
    rows, cols = linear_sum_assignment(cost)
    return c * float(cost[rows, cols].sum()) ** (1.0 / p)
