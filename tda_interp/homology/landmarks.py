"""Certified approximations of Vietoris-Rips diagrams: max-min landmarks and PCA residuals.

Convention
----------
Throughout, the Vietoris-Rips filtration lets edge ``(i, j)`` enter at ``d(i, j)`` (ripser.py's
and giotto-ph's convention, *not* the radius convention ``d(i, j) / 2``). Bounds are bottleneck
distances between diagrams in that convention, in the units of the metric.

Landmarks
---------
:func:`maxmin_landmarks` picks landmarks by greedy farthest-point ("max-min") sampling and
certifies the result: with ``eps`` the covering radius (the largest distance from any point to
its nearest landmark, i.e. the Hausdorff distance between the cloud and the landmarks), the
landmark correspondence has distortion at most ``2 eps``, so (Chazal, de Silva & Oudot 2014,
"Persistence stability for geometric complexes", d_B <= 2 d_GH <= 2 d_H)::

    d_B(Rips(landmarks), Rips(cloud)) <= 2 * eps          (euclidean metric)

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
    "maxmin_landmarks",
    "pca_residual_bound",
]

BOUND_CONVENTION = (
    "Vietoris-Rips with edge (i, j) entering at d(i, j); bottleneck distance to the diagram of "
    "the full cloud (d_B <= 2 d_GH <= 2 d_H, Chazal-de Silva-Oudot 2014)"
)

_CHUNK = 8192  # rows per chunk: 8192 x 384 float64 = 25 MB
_EXACT_DIAMETER_MAX = 2000  # clouds up to this size get an exact diameter


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
        the whole cloud (``2 * eps`` for euclidean; see the module docstring).
    diameter_lower, diameter_upper : float
        Certified bracket of the cloud's diameter (equal when computed exactly).
    n_points : int
        Size of the cloud.
    metric : str
    """

    indices: NDArray[np.intp]
    covering_radius: float
    bottleneck_bound: float
    diameter_lower: float
    diameter_upper: float
    n_points: int
    metric: str = "euclidean"

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

    Returns
    -------
    Landmarks

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    >>> lm = maxmin_landmarks(np.c_[np.cos(t), np.sin(t)], 40)
    >>> lm.n_landmarks, bool(lm.covering_radius < 0.1)
    (40, True)
    >>> lm.bottleneck_bound == 2 * lm.covering_radius
    True
    """
    pts = np.asarray(X, dtype=np.float64)
    if pts.ndim != 2 or len(pts) == 0:
        raise ActivationError(
            f"Expected a non-empty point cloud of shape (n_points, n_features), got shape "
            f"{pts.shape}."
        )
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
    # certificate: direct distance of every point to its assigned landmark (an upper bound on
    # the distance to its nearest landmark, whatever the Gram identity's rounding did)
    eps = 0.0
    for s in range(0, n, _CHUNK):
        diff = Y[s : s + _CHUNK] - Y[idx[owner[s : s + _CHUNK]]]
        eps = max(eps, float(np.sqrt(_sq_norms(diff).max())))
    if n <= _EXACT_DIAMETER_MAX:
        lo = hi = _exact_diameter(Y)
    else:
        far = int(np.argmax(_exact_dist_to(Y, Y[first])))
        lo = float(_exact_dist_to(Y, Y[far]).max())
        hi = 2.0 * ecc_first
    if metric == "euclidean":
        bound = 2.0 * eps
        eps_metric, lo_m, hi_m = eps, lo, hi
    else:
        bound = 2.0 * eps * min(2.0, hi)
        eps_metric = _to_metric(eps, metric)
        lo_m, hi_m = _to_metric(lo, metric), _to_metric(min(hi, 2.0), metric)
    return Landmarks(
        indices=idx,
        covering_radius=eps_metric,
        bottleneck_bound=bound,
        diameter_lower=lo_m,
        diameter_upper=hi_m,
        n_points=n,
        metric=metric,
    )


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
