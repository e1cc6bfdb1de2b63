"""Certified approximations of Vietoris-Rips diagrams: max-min landmarks and PCA residuals.

Convention
----------
Throughout, the Vietoris-Rips filtration lets edge ``(i, j)`` enter at ``d(i, j)`` (ripser.py's
and giotto-ph's convention, *not* the radius convention ``d(i, j) / 2``). Bounds are bottleneck
distances between diagrams in that convention, in the units of the metric.

Landmarks
---------
:func:`maxmin_landmarks` picks landmarks by greedy farthest-point ("max-min") sampling and
certifies the result twice, and keeps the smaller of the two bounds.

*A priori* (any cloud size): with ``eps`` the covering radius (the largest distance from any
point to its nearest landmark, i.e. the Hausdorff distance between the cloud and the
landmarks), the landmark correspondence has distortion at most ``2 eps``, so (Chazal, de Silva &
Oudot 2014, "Persistence stability for geometric complexes", d_B <= 2 d_GH <= 2 d_H)::

    d_B(Rips(landmarks), Rips(cloud)) <= 2 * eps          (euclidean metric)

*A posteriori* (:func:`interleaving_bound`, for clouds up to ``refine_max_points``): let
``pi`` send each point to its landmark (landmarks to themselves) and ``D`` be the dissimilarity.
With::

    delta_map = max_{p, q} D(pi p, pi q) - D(p, q)
    delta_cov = max_{p, q} D(p, pi q) - D(p, q)          (p = q included; = eps for a metric)
    delta     = max(delta_map, delta_cov / 2)

``pi`` is a simplicial map ``Rips_r(cloud) -> Rips_{r + delta}(landmarks)``, the inclusion goes
back, ``pi`` after the inclusion is the identity and the inclusion after ``pi`` is contiguous to
the inclusion ``Rips_r -> Rips_{r + 2 delta}`` (every ``sigma`` union ``pi(sigma)`` is a simplex
there; the pairs ``p = q`` of ``delta_cov`` put each edge ``(p, pi p)`` in). The two
filtrations are therefore ``delta``-interleaved and, by the algebraic stability theorem
(Chazal et al. 2009), ``d_B <= delta``. No triangle inequality is used, so this holds for the
cosine and correlation dissimilarities too. For the euclidean metric
``eps / 2 <= delta <= 2 eps``; in high
dimensions, where the displacements ``p - pi(p)`` are nearly orthogonal to each other and to
``p - q``, ``delta`` is often far below ``2 eps`` (measured on noisy circles in 384 dimensions:
0.031 instead of 0.076 of the diameter; on Gaussian noise 0.42 instead of 1.7). It costs every
pairwise distance once, ``O(n^2 d)`` in blocks, with a rounding margin added (Gram identity
in float64, worst-case error bound).

For ``metric="cosine"`` and ``"correlation"`` (dissimilarities without a triangle inequality)
landmarks are chosen in the chord metric ``c`` of the unit-normalised (for correlation: centred,
then normalised) rows, where ``cosine = c**2 / 2``; then
``|c1**2 - c2**2| / 2 <= |c1 - c2| (c1 + c2) / 2 <= 2 eps_c * diam_c`` gives the bound
``2 * eps_c * min(2, diam_c)``.

PCA views
---------
Projecting onto some principal components moves every pairwise euclidean distance by at most
``max_ij ||r_i - r_j|| <= 2 max_i ||r_i||``, where ``r_i`` is the discarded residual of point
``i`` (after centring). Rips diagrams are 1-Lipschitz in the sup-norm of the distance matrix, so
the bottleneck distance between the projected and the raw diagram is at most
:func:`pca_residual_bound`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.homology.distances import Metric
from tda_interp.homology.views import View, parse_view

__all__ = [
    "BOUND_CONVENTION",
    "Landmarks",
    "diameter_bounds",
    "interleaving_bound",
    "landmarks_within",
    "maxmin_landmarks",
    "pca_residual_bound",
]

BOUND_CONVENTION = (
    "Vietoris-Rips with edge (i, j) entering at d(i, j); bottleneck distance to the diagram of "
    "the full cloud: the smaller of 2 x covering radius (d_B <= 2 d_GH <= 2 d_H, Chazal-de "
    "Silva-Oudot 2014) and the interleaving bound of the nearest-landmark map"
)

_CHUNK = 8192  # rows per chunk: 8192 x 384 float64 = 25 MB
_EXACT_DIAMETER_MAX = 2000  # clouds up to this size get an exact diameter
#: clouds up to this size get the a-posteriori interleaving bound (O(n^2 d): ~1 s at 10,000 x 384)
REFINE_MAX_POINTS = 10_000
#: :func:`landmarks_within` searches on a dense distance matrix up to this size (128 MB)
SEARCH_DENSE_MAX = 4_000


@dataclass(frozen=True)
class Landmarks:
    """Max-min landmarks of a cloud and the certificate that comes with them.

    Attributes
    ----------
    indices : ndarray of shape (n_landmarks,)
        Rows of the cloud chosen as landmarks, in the order they were picked.
    covering_radius : float
        ``eps``: the largest distance (in ``metric``) from a point of the cloud to its nearest
        landmark, i.e. the Hausdorff distance between the cloud and the landmarks. An upper
        bound certified up to float64 rounding: every point's distance is recomputed directly
        (not through the Gram identity) to a landmark.
    bottleneck_bound : float
        Upper bound on the bottleneck distance between the Rips diagrams of the landmarks and of
        the whole cloud: the smaller of :attr:`covering_bound` and :attr:`interleaving_bound`
        (see the module docstring).
    diameter_lower, diameter_upper : float
        Certified bracket of the cloud's diameter (equal when computed exactly).
    n_points : int
        Size of the cloud.
    metric : str
    assignment : ndarray of shape (n_points,)
        Position in :attr:`indices` of the landmark each point is mapped to (its nearest, up to
        rounding); ``covering_radius`` is measured to it.
    covering_bound : float
        The a-priori bound from the covering radius (``2 * eps`` for euclidean).
    interleaving_bound : float or None
        The a-posteriori bound of :func:`interleaving_bound`; None when the cloud had more than
        ``refine_max_points`` points.
    """

    indices: NDArray[np.intp]
    covering_radius: float
    bottleneck_bound: float
    diameter_lower: float
    diameter_upper: float
    n_points: int
    metric: str = "euclidean"
    assignment: NDArray[np.intp] | None = None
    covering_bound: float = float("nan")
    interleaving_bound: float | None = None

    @property
    def n_landmarks(self) -> int:
        """Number of landmarks."""
        return len(self.indices)

    @property
    def bottleneck_bound_rel(self) -> float:
        """:attr:`bottleneck_bound` over the *lower* diameter estimate (conservative)."""
        if self.bottleneck_bound == 0.0:
            return 0.0
        if self.diameter_lower <= 0.0:
            return float("inf")
        return self.bottleneck_bound / self.diameter_lower


def _prepare(pts: NDArray[np.float64], metric: str) -> NDArray[np.float64]:
    """Points in which the euclidean distance is the selection metric (chord for cosine)."""
    if metric == "euclidean":
        return pts - pts.mean(axis=0, keepdims=True)  # centring helps the Gram identity
    if metric not in ("cosine", "correlation"):
        raise ConfigError(
            f"Unknown metric {metric!r} for landmarks; expected 'euclidean', 'cosine' or "
            "'correlation'."
        )
    rows = pts - pts.mean(axis=1, keepdims=True) if metric == "correlation" else pts
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if np.any(norms == 0.0):
        raise ActivationError(
            f"{int((norms == 0.0).sum())} rows have zero norm (zero variance for correlation), "
            f"where the {metric} distance is undefined; landmarks cannot be certified for them. "
            "Use metric='euclidean' or drop those rows."
        )
    return rows / norms


def _sq_norms(Y: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.einsum("ij,ij->i", Y, Y)


def _exact_dist_to(Y: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean distances of all rows of ``Y`` to ``y`` by direct differences, chunked."""
    out = np.empty(len(Y))
    for s in range(0, len(Y), _CHUNK):
        diff = Y[s : s + _CHUNK] - y
        out[s : s + _CHUNK] = np.sqrt(_sq_norms(diff))
    return out


def _exact_diameter(Y: NDArray[np.float64]) -> float:
    from scipy.spatial.distance import pdist

    return float(pdist(Y).max()) if len(Y) > 1 else 0.0


def _to_metric(chord: float, metric: str) -> float:
    """Chord length of unit vectors -> the cosine/correlation dissimilarity (c^2 / 2)."""
    return chord if metric == "euclidean" else min(2.0, chord * chord / 2.0)


def diameter_bounds(
    X: ArrayLike, metric: Metric = "euclidean", *, exact_max: int = _EXACT_DIAMETER_MAX
) -> tuple[float, float]:
    """Certified bracket ``(lower, upper)`` of a cloud's diameter, in ``O(n d)`` when large.

    Exact (``lower == upper``) for at most ``exact_max`` points; otherwise a double sweep:
    with ``r0`` the eccentricity of the first point and ``r1`` that of the point farthest from
    it, ``r1 <= diam <= 2 r0``.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    metric : {"euclidean", "cosine", "correlation"}, default "euclidean"
    exact_max : int, default 2000

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> diameter_bounds([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    (5.0, 5.0)
    """
    Y = _prepare(np.asarray(X, dtype=np.float64), metric)
    if len(Y) <= exact_max:
        d = _exact_diameter(Y)
        return _to_metric(d, metric), _to_metric(d, metric)
    r0v = _exact_dist_to(Y, Y[0])
    far = int(np.argmax(r0v))
    r0, r1 = float(r0v[far]), float(_exact_dist_to(Y, Y[far]).max())
    hi = 2.0 * r0 if metric == "euclidean" else min(2.0 * r0, 2.0)  # unit vectors: chord <= 2
    return _to_metric(r1, metric), _to_metric(hi, metric)


def maxmin_landmarks(
    X: ArrayLike,
    n_landmarks: int | None = None,
    *,
    covering_radius: float | None = None,
    seed: int = 0,
    metric: Metric = "euclidean",
    refine_max_points: int = REFINE_MAX_POINTS,
) -> Landmarks:
    """Greedy max-min (farthest-point) landmarks with a certified bottleneck bound.

    The first landmark is a seeded random point; each next one is the point farthest from the
    landmarks so far. Distances are updated one landmark at a time in float64 (Gram identity),
    skipping points that the triangle inequality proves cannot get closer; no ``n x n`` matrix
    is formed: time ``O(n m d)`` at worst, memory ``O(n d)``. The final covering radius is
    recomputed by direct differences, so the certificate does not rely on the Gram identity.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    n_landmarks : int, optional
        Stop after this many landmarks.
    covering_radius : float, optional
        Stop as soon as every point lies within this distance of a landmark (in the
        selection metric: euclidean, or the chord of unit vectors for cosine/correlation).
        At least one of ``n_landmarks`` and ``covering_radius`` must be given; with both, the
        first reached stops. Fewer landmarks come back when the cloud has fewer distinct points.
    seed : int, default 0
        Chooses the first landmark.
    metric : {"euclidean", "cosine", "correlation"}, default "euclidean"
    refine_max_points : int, default 10,000
        Clouds of at most this many points also get the a-posteriori
        :func:`interleaving_bound` (one pass over all pairwise distances, ``O(n^2 d)``);
        the certified bound is then the smaller of the two. 0 turns it off.

    Returns
    -------
    Landmarks

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    >>> lm = maxmin_landmarks(np.c_[np.cos(t), np.sin(t)], 40)
    >>> lm.n_landmarks, bool(lm.covering_radius < 0.1)
    (40, True)
    >>> lm.covering_bound == 2 * lm.covering_radius
    True
    >>> bool(lm.bottleneck_bound <= lm.covering_bound)
    True
    """
    pts = _as_cloud(X)
    if n_landmarks is None and covering_radius is None:
        raise ConfigError(
            "maxmin_landmarks needs n_landmarks or covering_radius (or both); got neither."
        )
    if n_landmarks is not None and n_landmarks < 1:
        raise ConfigError(f"Expected n_landmarks >= 1, got {n_landmarks}.")
    if covering_radius is not None and not covering_radius >= 0:
        raise ConfigError(f"Expected covering_radius >= 0, got {covering_radius}.")
    n = len(pts)
    m_max = n if n_landmarks is None else min(int(n_landmarks), n)
    target = -1.0 if covering_radius is None else float(covering_radius)
    Y = _prepare(pts, metric)
    sq = _sq_norms(Y)

    # below `tiny`, Gram-identity distances are rounding noise: the points are covered
    tiny = 1e-7 * float(np.sqrt(sq.max()))
    rng = np.random.default_rng(seed)
    first = int(rng.integers(n))
    chosen = [first]
    # exact distances to the first landmark: also the first sweep of the diameter bracket
    dist = _exact_dist_to(Y, Y[first])
    owner = np.zeros(n, dtype=np.intp)  # position in `chosen` of each point's nearest landmark
    ecc_first = float(dist.max())
    L = np.empty((m_max, Y.shape[1]))
    L[0] = Y[first]
    while len(chosen) < m_max:
        new = int(np.argmax(dist))
        if dist[new] <= target or dist[new] <= tiny:
            break
        j = len(chosen)
        y = Y[new]
        L[j] = y
        chosen.append(new)
        # distances new landmark -> earlier landmarks; a point x owned by a can only get closer
        # if d(a, new) < 2 d(x, a) (triangle inequality); a little slack covers rounding.
        dl = np.sqrt(np.maximum(_sq_norms(L[:j] - y), 0.0))
        cand = np.flatnonzero(dl[owner] < 2.0 * dist * (1.0 + 1e-9) + 1e-12)
        dist[new] = 0.0
        owner[new] = j
        if len(cand) == 0:
            continue
        if 4 * len(cand) > n:  # a gather would cost more than one pass over all points
            new_d = np.sqrt(np.maximum(sq - 2.0 * (Y @ y) + sq[new], 0.0))[cand]
        else:
            new_d = np.sqrt(np.maximum(sq[cand] - 2.0 * (Y[cand] @ y) + sq[new], 0.0))
        better = new_d < dist[cand]
        upd = cand[better]
        dist[upd] = new_d[better]
        owner[upd] = j

    idx = np.asarray(chosen, dtype=np.intp)
    if n <= _EXACT_DIAMETER_MAX:
        lo = hi = _exact_diameter(Y)
    else:
        far = int(np.argmax(_exact_dist_to(Y, Y[first])))
        lo = float(_exact_dist_to(Y, Y[far]).max())
        hi = 2.0 * ecc_first
    return _certify(Y, idx, owner, metric, (lo, hi), refine=n <= refine_max_points)


def _certify(
    Y: NDArray[np.float64],
    idx: NDArray[np.intp],
    owner: NDArray[np.intp],
    metric: str,
    diameter: tuple[float, float],
    *,
    refine: bool,
) -> Landmarks:
    """Bounds for landmarks ``idx`` of prepared points ``Y`` (diameter bracket in its units)."""
    n = len(Y)
    # direct distance of every point to its assigned landmark (an upper bound on the distance
    # to its nearest landmark, whatever the Gram identity's rounding did)
    eps = 0.0
    for s in range(0, n, _CHUNK):
        diff = Y[s : s + _CHUNK] - Y[idx[owner[s : s + _CHUNK]]]
        eps = max(eps, float(np.sqrt(_sq_norms(diff).max())))
    lo, hi = diameter
    if metric == "euclidean":
        bound = 2.0 * eps
        eps_metric, lo_m, hi_m = eps, lo, hi
    else:
        bound = 2.0 * eps * min(2.0, hi)
        eps_metric = _to_metric(eps, metric)
        lo_m, hi_m = _to_metric(lo, metric), _to_metric(min(hi, 2.0), metric)
    refined = _interleaving(Y, idx, owner, metric) if refine and bound > 0.0 else None
    return Landmarks(
        indices=idx,
        covering_radius=eps_metric,
        bottleneck_bound=bound if refined is None else min(bound, refined),
        diameter_lower=lo_m,
        diameter_upper=hi_m,
        n_points=n,
        metric=metric,
        assignment=owner,
        covering_bound=bound,
        interleaving_bound=refined,
    )


def landmarks_within(
    X: ArrayLike,
    max_bound_rel: float,
    *,
    seed: int = 0,
    metric: Metric = "euclidean",
    max_landmarks: int | None = None,
    min_landmarks: int = 2,
) -> Landmarks:
    """The fewest max-min landmarks whose certified bound is within a fraction of the diameter.

    Max-min landmarks are nested (the first ``m`` of a longer run are the run for ``m``), so
    this bisects on ``m`` over one greedy run on the dense distance matrix, evaluating the
    interleaving bound of the first ``m`` landmarks at each step (clouds up to
    :data:`SEARCH_DENSE_MAX` points; larger clouds stop at the first ``m`` whose covering
    bound alone suffices). The returned set is certified afresh, as in
    :func:`maxmin_landmarks`. The bound is not monotone in ``m``: bisection returns an ``m``
    that meets the target while ``m - 1`` did not (or the smallest ``m`` it may try), usually
    the fewest. Points whose nearest neighbour is farther than twice the target must all be
    landmarks (leaving one out puts the certificate above the target), which bounds the
    search from below and settles high-dimensional noise at once.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    max_bound_rel : float
        Target for :attr:`Landmarks.bottleneck_bound_rel` (the bound over the certified lower
        bound of the diameter), e.g. 0.05.
    seed : int, default 0
    metric : {"euclidean", "cosine", "correlation"}, default "euclidean"
    max_landmarks : int, optional
        Never return more landmarks than this (e.g. what fits in a memory budget). When the
        target needs more, the result has ``max_landmarks`` landmarks and misses the target:
        compare its ``bottleneck_bound_rel`` with ``max_bound_rel``.
    min_landmarks : int, default 2
        Never fewer (e.g. ``2 k + 2``, the fewest points that can carry H_k).

    Returns
    -------
    Landmarks
        At least ``min_landmarks`` landmarks (where the cloud has that many distinct points);
        all points (bound 0) when no smaller set meets the target.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(0, 2 * np.pi, 600)
    >>> X = np.c_[np.cos(t), np.sin(t)] + 0.01 * rng.normal(size=(600, 2))
    >>> lm = landmarks_within(X, 0.05)
    >>> bool(lm.bottleneck_bound_rel <= 0.05), lm.n_landmarks < 100
    (True, True)
    """
    if not (isinstance(max_bound_rel, (int, float)) and 0.0 < max_bound_rel):
        raise ConfigError(f"Expected max_bound_rel > 0 (e.g. 0.05), got {max_bound_rel!r}.")
    pts = _as_cloud(X)
    n = len(pts)
    cap = n if max_landmarks is None else max(1, min(int(max_landmarks), n))
    floor = min(max(2, min_landmarks), cap)
    if n > SEARCH_DENSE_MAX:
        # covering bound only: stop the greedy once it alone meets the target (chord units
        # for cosine/correlation, where the bound is 2 eps_c min(2, diam_c) <= 4 eps_c). The
        # result is judged by its own certified diameter bracket and bound: step the stopping
        # radius down until they agree (Gram-identity distances drive the greedy).
        lo, _ = diameter_bounds(pts, metric)
        c_suff = float(max_bound_rel) * lo / (2.0 if metric == "euclidean" else 4.0)
        for _ in range(20):
            lm = maxmin_landmarks(pts, cap, covering_radius=c_suff, seed=seed, metric=metric)
            if lm.n_landmarks < floor:
                lm = maxmin_landmarks(pts, floor, seed=seed, metric=metric)
            if lm.bottleneck_bound <= max_bound_rel * lm.diameter_lower or lm.n_landmarks >= cap:
                return lm
            c_suff *= 0.95
        return lm
    Y = _prepare(pts, metric)
    # the search runs on Gram-identity distances (BLAS); the result is certified afresh below
    sq = _sq_norms(Y)
    chord_sq = _gram_sq(Y, Y, sq, sq)
    np.fill_diagonal(chord_sq, 0.0)
    D = np.sqrt(chord_sq) if metric == "euclidean" else chord_sq / 2.0  # cosine = chord^2 / 2
    # certified diameter bracket: the farthest pair by direct difference is a lower bound;
    # no pair is farther than the Gram maximum plus its worst-case rounding error
    i, j = np.unravel_index(int(np.argmax(chord_sq)), chord_sq.shape)
    lo_chord = float(np.sqrt(_sq_norms((Y[i] - Y[j])[None, :])[0]))
    hi_chord = float(np.sqrt(chord_sq.max() + _gram_error_sq(Y.shape[1], float(sq.max()))))
    bracket = (lo_chord, max(lo_chord, hi_chord))
    target = float(max_bound_rel) * _to_metric(lo_chord, metric)
    # the certificate of any subset is >= D(p, pi p) / 2 >= nn(p) / 2 for each point p it
    # leaves out: points whose nearest neighbour is beyond 2 * target must all be landmarks
    np.fill_diagonal(D, np.inf)
    must = int((D.min(axis=1) / 2.0 > target).sum())
    np.fill_diagonal(D, 0.0)
    if must == n and cap == n:  # high-dimensional noise: no proper subset can do
        every = np.arange(n, dtype=np.intp)
        return _certify(Y, every, every, metric, bracket, refine=False)
    # the greedy order on the dense matrix (same start as maxmin_landmarks)
    first = int(np.random.default_rng(seed).integers(n))
    order = [first]
    dist = D[first].copy()
    while len(order) < cap:
        new = int(np.argmax(dist))
        if dist[new] <= 0.0:
            break
        order.append(new)
        np.minimum(dist, D[new], out=dist)
    order_arr = np.asarray(order, dtype=np.intp)
    rows = np.arange(n)

    def assign(m: int) -> NDArray[np.intp]:
        idx = order_arr[:m]
        own: NDArray[np.intp] = np.argmin(D[:, idx], axis=1)
        own[idx] = np.arange(m)
        return own

    def cell_min(own: NDArray[np.intp], per_point: bool) -> NDArray[np.float64]:
        """Least D between the cells of two landmarks, (m, m); or a cell and a point, (m, n)."""
        perm = np.argsort(own, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(own[perm]) != 0])  # every cell is non-empty
        rows_min = np.minimum.reduceat(D[perm], starts, axis=0)
        if per_point:
            return rows_min
        return np.minimum.reduceat(rows_min[:, perm], starts, axis=1)

    def bound(m: int) -> float:
        idx = order_arr[:m]
        own = assign(m)
        pi = idx[own]
        eps_m = float(D[rows, pi].max())
        if metric == "euclidean" and eps_m / 2.0 > target:  # delta >= eps / 2 (and = below)
            return eps_m / 2.0
        # delta_map = max over landmark pairs (a, b) of D(a, b) - min D(cell a, cell b)
        d_map = float((D[np.ix_(idx, idx)] - cell_min(own, False)).max())
        if metric == "euclidean":  # delta_cov = eps by the triangle inequality
            return min(max(d_map, eps_m / 2.0), 2.0 * eps_m)
        # delta_cov = max over p and landmarks b of D(p, b) - min D(p, cell b)
        d_cov = float((D[:, idx] - cell_min(own, True).T).max())
        return max(d_map, d_cov / 2.0)

    lo_m, hi_m = min(max(floor, must), len(order_arr)), len(order_arr)
    if bound(hi_m) > target:  # only possible when capped: the cap is the best on offer
        lo_m = hi_m
    while lo_m < hi_m:
        mid = (lo_m + hi_m) // 2
        if bound(mid) <= target:
            hi_m = mid
        else:
            lo_m = mid + 1
    m = hi_m
    if m == n:
        return _certify(Y, order_arr, assign(n), metric, bracket, refine=False)
    while True:  # certify afresh (Gram identity with its rounding margin); step up if needed
        lm = _certify(Y, order_arr[:m], assign(m), metric, bracket, refine=True)
        if lm.bottleneck_bound <= target or m == len(order_arr):
            return lm
        m = min(len(order_arr), m + max(1, m // 50))


def interleaving_bound(
    X: ArrayLike,
    indices: ArrayLike,
    assignment: ArrayLike | None = None,
    *,
    metric: Metric = "euclidean",
) -> float:
    """A-posteriori bottleneck bound between the Rips diagrams of a cloud and of a subset.

    ``max(delta_map, delta_cov / 2)`` for the map ``pi`` that sends each point to its landmark
    (see the module docstring for the proof), plus a margin that covers the float64 rounding
    of the Gram identity. Valid for any subset, not only max-min landmarks; for the euclidean
    metric at most twice the covering radius (plus the margin), often much less in high
    dimensions.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    indices : array-like of int, shape (n_landmarks,)
        Distinct rows of ``X`` that form the subset.
    assignment : array-like of int, shape (n_points,), optional
        Position in ``indices`` of the landmark each point maps to; default its nearest one.
        Landmarks always map to themselves.
    metric : {"euclidean", "cosine", "correlation"}, default "euclidean"

    Returns
    -------
    float
        In the units of ``metric``; ``O(n^2 d)`` time in blocks, ``O(n)`` extra memory per row.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [10.0], [11.0]])
    >>> round(interleaving_bound(X, [0, 2]), 4)  # 2 x covering radius would give 2
    1.0
    """
    pts = _as_cloud(X)
    idx = np.asarray(indices, dtype=np.intp).ravel()
    n = len(pts)
    if len(idx) == 0 or idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != len(idx):
        raise ConfigError(
            f"Expected distinct landmark indices in [0, {n}), got {len(idx)} indices "
            f"(range {idx.min() if len(idx) else None}..{idx.max() if len(idx) else None})."
        )
    Y = _prepare(pts, metric)
    if assignment is None:
        own = np.empty(n, dtype=np.intp)
        sq, sq_l = _sq_norms(Y), _sq_norms(Y[idx])
        step = max(1, _BLOCK_ENTRIES // len(idx))
        for s in range(0, n, step):
            block = _gram_sq(Y[s : s + step], Y[idx], sq[s : s + step], sq_l)
            own[s : s + step] = np.argmin(block, axis=1)
    else:
        own = np.asarray(assignment, dtype=np.intp).ravel()
        if own.shape != (n,) or own.min() < 0 or own.max() >= len(idx):
            raise ConfigError(
                f"Expected an assignment of shape ({n},) with values in [0, {len(idx)}), got "
                f"shape {own.shape}."
            )
    return _interleaving(Y, idx, own, metric)


_BLOCK_ENTRIES = 2_000_000  # entries of one block of pairwise distances (16 MB of float64)
_U = 2.0**-53  # unit roundoff of float64


def _as_cloud(X: ArrayLike) -> NDArray[np.float64]:
    pts = np.asarray(X, dtype=np.float64)
    if pts.ndim != 2 or len(pts) == 0:
        raise ActivationError(
            f"Expected a non-empty point cloud of shape (n_points, n_features), got shape "
            f"{pts.shape}."
        )
    return pts


def _gram_error_sq(n_features: int, max_sq_norm: float) -> float:
    """Worst-case float64 error of ``|a|^2 + |b|^2 - 2 a.b`` (any summation order)."""
    gamma = n_features * _U / (1.0 - n_features * _U)
    return (gamma + 4.0 * _U) * 4.0 * max_sq_norm


def _gram_sq(
    A: NDArray[np.float64],
    B: NDArray[np.float64],
    sq_a: NDArray[np.float64],
    sq_b: NDArray[np.float64],
) -> NDArray[np.float64]:
    return np.maximum(sq_a[:, None] + sq_b[None, :] - 2.0 * (A @ B.T), 0.0)


def _interleaving(
    Y: NDArray[np.float64], idx: NDArray[np.intp], owner: NDArray[np.intp], metric: str
) -> float:
    """The bound of :func:`interleaving_bound` on prepared points (chord space for cosine)."""
    n, k = Y.shape
    own = owner.copy()
    own[idx] = np.arange(len(idx))  # pi is the identity on the landmarks
    sq = _sq_norms(Y)
    L, sq_l = Y[idx], sq[idx]

    def dissim(sqd: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.sqrt(sqd) if metric == "euclidean" else sqd / 2.0  # cosine = chord^2 / 2

    # worst-case rounding of |a|^2 + |b|^2 - 2 a.b in float64 (any summation order), and the
    # resulting error on each dissimilarity (|sqrt(x) - sqrt(y)| <= sqrt(|x - y|))
    err_sq = _gram_error_sq(k, float(sq.max()))
    err = float(np.sqrt(err_sq)) if metric == "euclidean" else err_sq / 2.0

    d_ll = dissim(_gram_sq(L, L, sq_l, sq_l))
    d_map = d_cov = 0.0
    step = max(1, _BLOCK_ENTRIES // n)
    for s in range(0, n, step):
        P, sq_p, own_p = Y[s : s + step], sq[s : s + step], own[s : s + step]
        d_pq = dissim(_gram_sq(P, Y, sq_p, sq))
        d_map = max(d_map, float((d_ll[own_p][:, own] - d_pq).max()))
        d_pl = dissim(_gram_sq(P, L, sq_p, sq_l))
        d_cov = max(d_cov, float((d_pl[:, own] - d_pq).max()))
    # each difference of two computed dissimilarities is off by at most 2 err
    return max(d_map, d_cov / 2.0) + 2.0 * err


def pca_residual_bound(X: ArrayLike, components: str | View | Sequence[int]) -> float:
    """Bottleneck bound between the Rips diagrams of a cloud and of its PCA projection.

    ``2 * max_i ||r_i||`` with ``r_i`` the part of the centred point ``i`` outside the span of
    the chosen principal axes (same centring and SVD as
    :func:`tda_interp.homology.views.apply_view`); euclidean distances only.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
        The raw cloud.
    components : str, View or sequence of int
        A PCA view name ("pca10", "pc3-4"), a parsed :class:`View`, or 0-based component
        indices.

    Returns
    -------
    float
        In the units of ``X``; 0 when the projection keeps every direction of variance.

    Examples
    --------
    >>> X = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 0.5], [4.0, 0.5]])
    >>> pca_residual_bound(X, "pca1")
    0.5
    """
    if isinstance(components, str):
        comps = parse_view(components).components
    elif isinstance(components, View):
        comps = components.components
    else:
        comps = tuple(int(c) for c in components)
    if not comps:
        raise ConfigError(
            f"Expected a PCA view or component indices, got {components!r}; e.g. 'pca10'."
        )
    pts = np.asarray(X, dtype=np.float64)
    centred = pts - pts.mean(axis=0, keepdims=True)
    rank_cap = min(pts.shape[0], pts.shape[1])
    if max(comps) >= rank_cap or min(comps) < 0:
        raise ActivationError(
            f"Components {[c + 1 for c in comps]} (1-based) do not exist for a cloud of shape "
            f"{pts.shape} (at most {rank_cap}); choose fewer components."
        )
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[list(comps)]
    worst = 0.0
    for s in range(0, len(centred), _CHUNK):
        block = centred[s : s + _CHUNK]
        resid = block - (block @ axes.T) @ axes
        worst = max(worst, float(np.sqrt(_sq_norms(resid).max())))
    return 2.0 * worst
