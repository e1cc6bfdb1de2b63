"""Which points form a loop: representative cycles of H1 bars, and the plane a cloud is shown in.

A bar of a Vietoris-Rips diagram says that a loop exists, not which points make it. Here a bar
``(birth, death)`` of H1 is given a *representative cycle*, a closed path of points, in three
steps:

1. Its **birth edge** ``(u, v)``: a bar is born when an edge of length ``birth`` closes a loop
   that no triangle of the complex fills at that scale. Among the edges of length ``birth``
   (up to a relative tolerance), the birth edge is one whose end points are already connected by
   shorter edges and that no triangle with both other sides shorter fills: no point ``w`` with
   ``max(d(u, w), d(v, w)) < birth`` (else ``(u, v)`` is homologous to ``u - w - v`` and closes
   no new loop).
2. The **shortest path** from ``u`` to ``v`` (edges weighted by their length) in the graph of
   the edges of length at most ``birth`` other than ``(u, v)``
   (:func:`scipy.sparse.csgraph.dijkstra`).
3. The cycle is that path closed by the edge ``(u, v)``.

Any cycle through the birth edge made of earlier edges represents the class born at ``birth``,
up to the classes born before it (for a noisy circle: up to the small loops of the noise); the
shortest one is the one to show. It needs the distances of the points the diagram was computed
from, no persistence computation: ``O(n^2)`` for the candidate edges and a Dijkstra run per bar.
Conventions: vertex indices are rows of the points (or of the distance matrix); a cycle is
listed in path order from ``v`` to ``u``, its closing edge ``(u, v)`` implicit; a bar whose
birth edge cannot be found (its birth is no edge length of these points: a diagram of other
points, or a bar of dimension other than 1) gets an empty cycle.

:func:`cloud_scatter` gives the 2-D coordinates a cloud is drawn in, per view: the view's own
plane for a two-component principal-component view (``"pc1-2"``), else the first two principal
components of the view's points, with the projections of :mod:`tda_interp.homology.views`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from tda_interp.exceptions import ActivationError
from tda_interp.homology.distances import check_distance_matrix, distance_matrix
from tda_interp.homology.views import ViewLike, apply_view, parse_view

__all__ = ["birth_edge", "cloud_scatter", "cycle_through_edge", "representative_cycles"]

#: Relative tolerance (to the largest distance) within which an edge length equals a birth.
BIRTH_RTOL = 1e-6

Metric = str


def _distances(X: ArrayLike, metric: Metric) -> NDArray[np.float64]:
    if metric == "precomputed":
        return check_distance_matrix(X)
    pts = np.asarray(X, dtype=np.float64)
    if pts.ndim != 2:
        raise ActivationError(
            f"Expected points of shape (n_points, n_features), got shape {pts.shape}; pass "
            'metric="precomputed" with a distance matrix.'
        )
    return distance_matrix(pts, metric)  # type: ignore[arg-type]


def birth_edge(
    D: NDArray[np.float64],
    birth: float,
    *,
    rtol: float = BIRTH_RTOL,
    exclude: Sequence[tuple[int, int]] = (),
) -> tuple[int, int] | None:
    """The edge that gives birth to an H1 bar of the Vietoris-Rips filtration of ``D``.

    Parameters
    ----------
    D : ndarray of shape (n_points, n_points)
        Distances, symmetric with a zero diagonal.
    birth : float
        The bar's birth, in the units of ``D``.
    rtol : float, default BIRTH_RTOL
        Edges whose length is within ``rtol`` times the largest finite distance of ``birth``
        are candidates, the closest first.
    exclude : sequence of (int, int)
        Edges already given to other bars (two bars born at the same length get two edges).

    Returns
    -------
    (int, int) or None
        ``(u, v)`` with ``u < v``, or ``None`` when no edge of that length closes a new loop.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    >>> D = distance_matrix(np.c_[np.cos(t), np.sin(t)])
    >>> u, v = birth_edge(D, float(D[0, 1]))
    >>> round(float(D[u, v]), 6)
    1.0
    """
    finite = D[np.isfinite(D)]
    tol = rtol * (float(finite.max()) if finite.size else 1.0)
    n = len(D)
    iu, ju = np.triu_indices(n, k=1)
    gap = np.abs(D[iu, ju] - birth)
    near = np.flatnonzero(gap <= tol)
    taken = {(min(a, b), max(a, b)) for a, b in exclude}
    for k in near[np.argsort(gap[near], kind="stable")]:
        u, v = int(iu[k]), int(ju[k])
        if (u, v) in taken:
            continue
        length = float(D[u, v])
        filled = np.maximum(D[u], D[v]) < length - tol  # a triangle fills (u, v) at once
        filled[[u, v]] = False
        if filled.any():
            continue
        if cycle_through_edge(D, (u, v)).size:
            return u, v
    return None


def cycle_through_edge(D: NDArray[np.float64], edge: tuple[int, int]) -> NDArray[np.intp]:
    """The shortest cycle through ``edge`` among the edges no longer than it.

    Parameters
    ----------
    D : ndarray of shape (n_points, n_points)
        Distances, symmetric with a zero diagonal.
    edge : (int, int)
        ``(u, v)``, rows of ``D``.

    Returns
    -------
    ndarray of shape (n_cycle,), intp
        Vertices of the shortest path from ``v`` to ``u`` (weighted by length) in the graph of
        the edges of length at most ``D[u, v]`` other than ``(u, v)``; the cycle closes with
        ``(u, v)``. Empty when ``u`` and ``v`` are not connected in that graph.

    Examples
    --------
    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> cycle_through_edge(distance_matrix(square), (0, 1)).tolist()
    [1, 2, 3, 0]
    """
    u, v = int(edge[0]), int(edge[1])
    length = float(D[u, v])
    tol = BIRTH_RTOL * max(length, 1e-300)
    adj = np.where(D <= length + tol, D, 0.0)
    np.fill_diagonal(adj, 0.0)
    adj[u, v] = adj[v, u] = 0.0
    # zero-length edges (duplicate points) would vanish from a sparse graph: keep them tiny
    same = (D <= length + tol) & (D == 0.0)
    np.fill_diagonal(same, False)
    same[u, v] = same[v, u] = False
    adj[same] = 1e-300
    dist, pred = dijkstra(csr_matrix(adj), directed=False, indices=v, return_predecessors=True)
    if not np.isfinite(dist[u]):
        return np.empty(0, dtype=np.intp)
    path = [u]
    while path[-1] != v:
        path.append(int(pred[path[-1]]))
    return np.asarray(path[::-1], dtype=np.intp)


def representative_cycles(
    X: ArrayLike,
    bars: ArrayLike,
    *,
    metric: Metric = "euclidean",
    rtol: float = BIRTH_RTOL,
) -> list[NDArray[np.intp]]:
    """A short representative cycle for each H1 bar of the Vietoris-Rips diagram of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features), or (n_points, n_points)
        The points the diagram was computed from, or their distances with
        ``metric="precomputed"``.
    bars : array-like of shape (n_bars, 2)
        H1 bars ``(birth, death)`` of that diagram, in the units of the distances (only the
        births are used).
    metric : {"euclidean", "cosine", "correlation", "abs_correlation", "precomputed"}
    rtol : float, default BIRTH_RTOL
        See :func:`birth_edge`.

    Returns
    -------
    list of ndarray of shape (n_cycle_i,), intp
        One per bar: row indices of ``X`` along the cycle (see the module docstring); empty
        where no birth edge was found.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    >>> X = np.c_[np.cos(t), np.sin(t)]
    >>> side = float(np.hypot(*(X[1] - X[0])))
    >>> [len(c) for c in representative_cycles(X, [[side, 1.7]])]
    [12]
    """
    D = _distances(X, metric)
    arr = np.asarray(bars, dtype=np.float64).reshape(-1, 2)
    out: list[NDArray[np.intp]] = []
    used: list[tuple[int, int]] = []
    for birth in arr[:, 0]:
        edge = birth_edge(D, float(birth), rtol=rtol, exclude=used) if np.isfinite(birth) else None
        if edge is None:
            out.append(np.empty(0, dtype=np.intp))
            continue
        used.append(edge)
        out.append(cycle_through_edge(D, edge))
    return out


def cloud_scatter(cloud: ArrayLike, view: ViewLike) -> NDArray[np.float64]:
    """The 2-D coordinates a cloud is drawn in for one view.

    Parameters
    ----------
    cloud : array-like of shape (n_points, n_features)
        The cloud the view is applied to (as in :func:`~tda_interp.homology.apply_view`).
    view : str or View

    Returns
    -------
    ndarray of shape (n_view_points, 2)
        For a principal-component view of two components (``"pc1-2"``, ``"pc3-4"``) the
        view's own plane; for any other view the first two principal components of the view's
        points (a view of one dimension gets 0 as its second coordinate). Rows are the view's
        points (the units for ``"neurons"``).

    Raises
    ------
    ConfigError
        If ``view`` is a name no view has (see :func:`~tda_interp.homology.parse_view`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 5))
    >>> bool(np.allclose(cloud_scatter(X, "pc1-2"), apply_view(X, "pc1-2")))
    True
    >>> cloud_scatter(X, "raw").shape, cloud_scatter(X, "neurons").shape
    ((30, 2), (5, 2))
    """
    v = parse_view(view)
    pts = apply_view(cloud, v)
    if v.kind == "pca" and len(v.components) == 2:
        return np.ascontiguousarray(pts, dtype=np.float64)
    out = np.zeros((len(pts), 2), dtype=np.float64)
    if len(pts) == 0 or pts.shape[1] == 0:
        return out
    centred = pts - pts.mean(axis=0, keepdims=True)
    rank = min(centred.shape)
    if rank >= 2:
        return np.ascontiguousarray(apply_view(pts, "pc1-2"))
    if rank == 1:
        out[:, 0] = apply_view(pts, "pca1")[:, 0] if centred.shape[1] > 1 else centred[:, 0]
    return out
