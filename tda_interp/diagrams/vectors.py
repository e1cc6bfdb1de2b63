"""Vectorisations of many diagrams on one shared grid, and fast all-pairs distances between them.

A persistence diagram is not a vector; three classical maps turn it into one, and a distance
between the vectors then stands in for a distance between the diagrams:

==============  ==========================================  ====================================
metric          feature vector (one row per diagram)        distance between two rows
==============  ==========================================  ====================================
``landscape``   the first :data:`N_LANDSCAPES` persistence  L2 norm of the difference of the
                landscapes ``lambda_1 .. lambda_5``         landscapes, summed over the five
                sampled on the grid, concatenated           (Bubenik 2015)
``betti``       the Betti curve sampled on the grid         L1 norm (area between the curves)
``image``       the persistence image (Adams et al. 2017)   L2 norm of the difference of the
                sampled on a grid x grid raster             persistence surfaces
==============  ==========================================  ====================================

These are fast approximations: :func:`vectorize` is linear in the number of diagrams and
:func:`vector_distances` is one ``scipy`` call, so all-pairs matrices over thousands of diagrams
(every layer x checkpoint x seed of a run) take seconds. The exact bottleneck and Wasserstein
distances, an optimal matching of bars per pair, are for the pairs a user picks
(:mod:`tda_interp.diagrams.distances`).

Conventions
-----------
Grid
    One grid for every diagram compared: ``numpy.linspace(lo, hi, resolution)``, both ends
    included, over a ``value_range = (lo, hi)`` fitted on all the diagrams together
    (:func:`shared_range`: the smallest birth and the largest finite death of their bars). Curves
    of diagrams vectorised separately compare only when they were given the same ``value_range``
    (and ``resolution``); fitting a range per diagram makes them incomparable. Bars that stick
    out of a range given by the caller are simply sampled where the grid is.
Diagonal points
    Bars with ``death == birth`` are removed first: they lie on the diagonal, which every
    vectorisation maps to zero (a zero-height tent, an empty interval, a zero weight).
Relative scaling
    With ``relative=True`` (the default of :class:`~tda_interp.options.DistanceOptions`) every
    diagram's bars are divided by its own ``scale`` (its cloud's diameter) before anything else,
    so layers and models whose activations differ in size compare. A diagram of scale 0 cannot
    be scaled: :class:`~tda_interp.exceptions.ConfigError`.
Infinite bars
    ``infinite="match"`` ends an essential bar at the top ``hi`` of the shared grid (for the Betti
    curve: it is alive from its birth to the end of the grid, ``hi`` included, as
    :func:`~tda_interp.diagrams.betti_curve` counts it); an essential bar born at or after ``hi``
    vanishes from landscapes and images. ``infinite="drop"`` removes them. gudhi's ``Landscape``
    and ``PersistenceImage`` give NaN on an infinite bar; this module never passes one on.
Landscapes
    ``lambda_k(t)`` is the ``k``-th largest of the tents ``max(0, min(t - b, d - t))`` of the bars:
    a bar ``(b, d)`` alone gives a tent of height ``(d - b) / 2`` at ``(b + d) / 2``
    (Bubenik's convention; ``gudhi.representations.Landscape`` returns ``sqrt(2)`` times this).
    Features: ``lambda_1`` on the grid, then ``lambda_2``, ..., shape ``5 * resolution``.
Persistence images
    In (birth, persistence) coordinates, each bar is a Gaussian of bandwidth
    ``sigma = 0.05 * (hi - lo)``, normalised to integrate to its weight, weighted by its
    persistence ``d - b`` (so bars near the diagonal fade out continuously). The surface is
    sampled on births ``linspace(lo, hi, resolution)`` and persistences
    ``linspace(0, hi - lo, resolution)``: square cells of side ``(hi - lo) / (resolution - 1)``.
    Features: the ``(resolution, resolution)`` raster, rows persistence and columns birth,
    flattened row by row (gudhi's ``PersistenceImage`` layout and values for the same
    parameters). The bandwidth is a fixed fraction of the range, not of a grid cell, so that the
    surface, and the distance, do not change with the resolution; 5% puts five grid steps in one
    ``sigma`` at the default resolution of 100 and still one step at 21 (below that a warning:
    the Gaussians fall between grid points), while bars more than about ``2 sigma`` (a tenth of
    the range) apart stay distinct.
Norms
    :func:`vector_distances` approximates the norm of the difference of the functions, not of the
    vectors. Each grid value stands for the part of ``[lo, hi]`` nearer to it than to its
    neighbours: a cell of length ``h = (hi - lo) / (resolution - 1)``, ``h / 2`` at both ends
    (the trapezoid rule; an image pixel is the product of two such cells). The distance sums
    ``cell measure * |difference| ** p`` (``p = 2`` for landscapes and images, ``p = 1`` for
    Betti curves), so it is in filtration units and approximately independent of the
    resolution: the error is ``O(h ** 2)`` for the continuous landscapes and images, at most
    ``h`` per bar end for the step-function Betti curves.

Stability
---------
Landscapes are 1-Lipschitz in the bottleneck distance in the sup norm,
``sup_t |lambda_k(t) - lambda'_k(t)| <= d_B`` for every ``k`` (Bubenik 2015), hence
``landscape distance <= sqrt(5 * (hi - lo)) * d_B`` on a range of length ``hi - lo``. Persistence
images with a persistence weight are stable with respect to the 1-Wasserstein distance, with a
constant that grows like ``1 / sigma`` (Adams et al. 2017). Betti curves are not
stable: a short bar that appears or disappears changes them by a jump wherever it lives, and
many tiny bars change them by their number; read a Betti distance as a count of changed bars
times their extent, not as a geometric distance.

Examples
--------
>>> from tda_interp.diagrams import Diagram
>>> a = Diagram(pairs=[[[0.0, np.inf]], [[0.0, 2.0]]], scale=1.0, n_points=3)
>>> b = Diagram(pairs=[[[0.0, np.inf]], []], scale=1.0, n_points=3)
>>> features = vectorize([a, b], 1, metric="landscape", resolution=201)
>>> features.shape
(2, 1005)
>>> D = vector_distances(features, metric="landscape", value_range=(0.0, 2.0), resolution=201)
>>> round(float(D[0, 1]), 4), round(float(np.sqrt(2 / 3)), 4)  # the L2 norm of a unit tent
(0.8165, 0.8165)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.distance import cdist, pdist, squareform

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ConfigError, TdaInterpWarning
from tda_interp.options import DistanceOptions
from tda_interp.options.compare import DIAGRAM_METRICS, VECTOR_METRICS

__all__ = ["N_LANDSCAPES", "shared_range", "vector_distances", "vectorize"]

FloatArray = NDArray[np.float64]

#: Number of persistence landscapes ``lambda_1 .. lambda_k`` kept by the "landscape" metric.
N_LANDSCAPES = 5
# Bandwidth of the persistence image's Gaussians, as a fraction of the range (module docstring).
_IMAGE_BANDWIDTH = 0.05


# ---------------------------------------------------------------------- checks and bars
def _check_diagrams(diagrams: Sequence[Diagram], dim: int, caller: str) -> None:
    if isinstance(diagrams, Diagram):
        raise ConfigError(
            f"{caller}: expected a sequence of Diagram, got one Diagram; pass [diagram]."
        )
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 0:
        raise ConfigError(
            f"{caller}: expected dim to be a homology dimension (an int >= 0), got {dim!r}."
        )
    for i, dgm in enumerate(diagrams):
        if not isinstance(dgm, Diagram):
            raise ConfigError(
                f"{caller}: expected a sequence of Diagram, got {type(dgm).__name__} at index "
                f"{i}; build one with Diagram(pairs=...) or Diagram.from_ripser(...)."
            )
        if dim > dgm.maxdim:
            raise ConfigError(
                f"{caller}: diagram {i} holds dimensions 0..{dgm.maxdim}, asked for H{dim}; "
                f"compute the diagrams with maxdim >= {dim} or pass dim <= {dgm.maxdim}."
            )


def _scaled_bars(
    diagrams: Sequence[Diagram], dim: int, relative: bool, caller: str
) -> list[FloatArray]:
    """Each diagram's bars of ``dim`` off the diagonal, divided by its scale if relative."""
    out = []
    for i, dgm in enumerate(diagrams):
        bars = dgm[dim]
        bars = bars[bars[:, 1] > bars[:, 0]]
        if relative:
            if dgm.scale <= 0:
                raise ConfigError(
                    f"{caller}: diagram {i} has scale {dgm.scale} (a cloud of one point, or of "
                    "identical points), and relative=True divides by it; pass relative=False, "
                    "or leave that diagram out."
                )
            bars = bars / dgm.scale
        out.append(bars)
    return out


def _range_of(
    bars: Sequence[FloatArray], diagrams: Sequence[Diagram], relative: bool
) -> tuple[float, float]:
    finite = [b[np.isfinite(b[:, 1])] for b in bars]
    finite = [b for b in finite if len(b)]
    lo = min((float(b[:, 0].min()) for b in finite), default=0.0)
    hi = max((float(b[:, 1].max()) for b in finite), default=-math.inf)
    if hi <= lo:  # no finite bar (a bar off the diagonal always has death > birth)
        if relative:
            width = 1.0
        else:
            width = max((d.scale for d in diagrams), default=0.0) or 1.0
        hi = lo + width
    return lo, hi


def _check_range(value_range: Any, caller: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"{caller}: expected value_range to be a pair (lo, hi) of numbers, got "
            f"{value_range!r}; compute one with shared_range(diagrams, dim)."
        ) from err
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(
            f"{caller}: expected value_range = (lo, hi) with finite lo < hi, got ({lo}, {hi}); "
            "compute one with shared_range(diagrams, dim)."
        )
    return lo, hi


def _close_essential(bars: FloatArray, infinite: str, top: float) -> FloatArray:
    """Apply the infinite policy: end essential bars at ``top`` ("match") or drop them."""
    essential = np.isinf(bars[:, 1])
    if not essential.any():
        return bars
    if infinite == "drop":
        return bars[~essential]
    out = bars.copy()
    out[essential, 1] = top
    return out[out[:, 1] > out[:, 0]]


def _n_features(metric: str, resolution: int) -> int:
    if metric == "landscape":
        return N_LANDSCAPES * resolution
    if metric == "image":
        return resolution * resolution
    return resolution


def _check_vector_metric(metric: Any, caller: str) -> None:
    if metric not in VECTOR_METRICS:
        exact = ", ".join(repr(m) for m in DIAGRAM_METRICS)
        fast = ", ".join(repr(m) for m in VECTOR_METRICS)
        raise ConfigError(
            f"{caller}: expected a vector metric ({fast}), got metric={metric!r}. The exact "
            f"metrics ({exact}) match bars, not vectors: they are in "
            "tda_interp.diagrams.distances.",
            key="metric",
            expected=f"one of {fast}",
            received=repr(metric),
        )


# ---------------------------------------------------------------------- the three maps
def _landscapes(bars: Sequence[FloatArray], grid: FloatArray) -> FloatArray:
    k = N_LANDSCAPES
    out = np.zeros((len(bars), k, grid.size))
    for i, b in enumerate(bars):
        if len(b) == 0:
            continue
        mid = (b[:, 0] + b[:, 1]) / 2.0
        half = (b[:, 1] - b[:, 0]) / 2.0
        tents = np.maximum(half[None, :] - np.abs(grid[:, None] - mid[None, :]), 0.0)
        if tents.shape[1] > k:
            tents = np.partition(tents, tents.shape[1] - k, axis=1)[:, -k:]
        top = -np.sort(-tents, axis=1)  # descending: lambda_1 first
        out[i, : top.shape[1]] = top.T
    return out.reshape(len(bars), k * grid.size)


def _betti(bars: Sequence[FloatArray], grid: FloatArray) -> FloatArray:
    # A bar [b, d) is alive at grid[j] iff b <= grid[j] < d (betti_curve's rule), i.e. for
    # first(grid >= b) <= j < first(grid >= d): a +1/-1 difference array, summed once.
    counts = np.zeros((len(bars), grid.size + 1))
    for i, b in enumerate(bars):
        start = np.searchsorted(grid, b[:, 0], side="left")
        stop = np.searchsorted(grid, b[:, 1], side="left")
        np.add.at(counts[i], start, 1.0)
        np.add.at(counts[i], stop, -1.0)
    return np.cumsum(counts, axis=1)[:, :-1]


def _gaussian(u: FloatArray, sigma: float) -> FloatArray:
    """``exp(-u ** 2 / (2 sigma ** 2))``, exactly 0 beyond ``sqrt(600) sigma`` (about 24 sigma).

    Inside the range ``|u| <= 20 sigma`` and nothing is cut; for bars far outside a range given
    by the caller the cut keeps subnormal numbers, which x86 computes many times slower, out
    of ``exp`` and of the image's product. What it drops is below ``e ** -300``.
    """
    z = np.square(u) / (2.0 * sigma**2)
    out = np.exp(-np.minimum(z, 300.0))
    out[z >= 300.0] = 0.0
    return out


def _images(bars: Sequence[FloatArray], lo: float, hi: float, resolution: int) -> FloatArray:
    sigma = _IMAGE_BANDWIDTH * (hi - lo)
    births = np.linspace(lo, hi, resolution)
    persistences = np.linspace(0.0, hi - lo, resolution)
    out = np.zeros((len(bars), resolution, resolution))
    for i, b in enumerate(bars):
        if len(b) == 0:
            continue
        pers = b[:, 1] - b[:, 0]
        # The Gaussian is separable: image = sum_n w_n g(p_n - y) g(b_n - x), one product.
        gx = _gaussian(b[:, 0, None] - births[None, :], sigma)
        gy = _gaussian(pers[:, None] - persistences[None, :], sigma)
        out[i] = (gy * pers[:, None]).T @ gx
    out /= 2.0 * np.pi * sigma**2
    return out.reshape(len(bars), resolution * resolution)


# ---------------------------------------------------------------------- public functions
def shared_range(
    diagrams: Sequence[Diagram], dim: int, *, relative: bool = True
) -> tuple[float, float]:
    """One filtration range for a collection of diagrams, fitted on all of them together.

    Parameters
    ----------
    diagrams : sequence of Diagram
        Every diagram that will be compared: all layers, checkpoints, runs.
    dim : int
        Homology dimension whose bars set the range.
    relative : bool, default True
        Divide each diagram's bars by its ``scale`` first (as :func:`vectorize` does).

    Returns
    -------
    (lo, hi) : tuple of float
        ``lo`` the smallest birth and ``hi`` the largest death of the finite bars of ``dim``
        off the diagonal, over all diagrams; ``lo < hi`` always. With no such bar (an empty
        collection, or only essential or diagonal bars) the range is ``[0, 1]`` in relative
        units (the whole filtration of a Rips diagram) and ``[0, largest scale]`` in absolute
        units (``[0, 1]`` when every scale is 0).

    Raises
    ------
    ConfigError
        ``dim`` above a diagram's ``maxdim``; a diagram of scale 0 with ``relative=True``.

    Examples
    --------
    >>> from tda_interp.diagrams import Diagram
    >>> a = Diagram(pairs=[[[0.0, np.inf]], [[1.0, 2.0], [1.5, np.inf]]], scale=4.0)
    >>> b = Diagram(pairs=[[[0.0, np.inf]], [[0.5, 3.0]]], scale=4.0)
    >>> shared_range([a, b], 1)
    (0.125, 0.75)
    >>> shared_range([a, b], 1, relative=False)
    (0.5, 3.0)
    """
    _check_diagrams(diagrams, dim, "shared_range")
    bars = _scaled_bars(diagrams, dim, relative, "shared_range")
    return _range_of(bars, diagrams, relative)


def vectorize(
    diagrams: Sequence[Diagram],
    dim: int,
    options: DistanceOptions | None = None,
    *,
    value_range: tuple[float, float] | None = None,
    **overrides: Any,
) -> FloatArray:
    """Feature vectors of many diagrams on one shared grid (landscapes, Betti curves, images).

    Parameters
    ----------
    diagrams : sequence of Diagram
    dim : int
        Homology dimension vectorised.
    options : DistanceOptions, optional
        ``metric`` must be a vector metric ("landscape", "betti" or "image"); ``relative``,
        ``infinite`` and ``resolution`` are used as the module docstring says.
    value_range : (float, float), optional
        The range of the grid, shared with every other call whose vectors are compared, e.g.
        ``shared_range(diagrams_a + diagrams_b, dim)``. Default: :func:`shared_range` of
        ``diagrams``.
    **overrides
        Any field of :class:`~tda_interp.options.DistanceOptions`, applied over ``options``
        (``metric="landscape"``, ``resolution=50``, ...).

    Returns
    -------
    ndarray of shape (n_diagrams, n_features)
        ``n_features`` is ``5 * resolution`` for "landscape" (``lambda_1`` on the grid, then
        ``lambda_2``, ...), ``resolution`` for "betti" and ``resolution ** 2`` for "image"
        (rows persistence, columns birth). Pass it to :func:`vector_distances` with the same
        ``value_range`` and ``resolution``.

    Raises
    ------
    ConfigError
        An exact metric ("bottleneck", "wasserstein"); ``dim`` above a diagram's ``maxdim``; a
        diagram of scale 0 with ``relative=True``; a bad ``value_range``.

    Warns
    -----
    TdaInterpWarning
        "image" with ``resolution < 21``: the Gaussians are narrower than a grid step.

    Examples
    --------
    >>> from tda_interp.diagrams import Diagram
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[1.0, 3.0]]], scale=4.0)
    >>> vectorize([d], 1, metric="betti", relative=False, resolution=5, value_range=(0, 4))
    array([[0., 1., 1., 0., 0.]])
    >>> vectorize([d], 1, metric="landscape", relative=False, resolution=5,
    ...           value_range=(0, 4))[0, :5]  # lambda_1: a tent of height 1 at 2
    array([0., 0., 1., 0., 0.])
    >>> vectorize([d, d], 1, metric="image", resolution=30).shape
    (2, 900)
    """
    opts = DistanceOptions.resolve(options, overrides, caller="vectorize")
    _check_vector_metric(opts.metric, "vectorize")
    _check_diagrams(diagrams, dim, "vectorize")
    bars = _scaled_bars(diagrams, dim, opts.relative, "vectorize")
    if value_range is None:
        lo, hi = _range_of(bars, diagrams, opts.relative)
    else:
        lo, hi = _check_range(value_range, "vectorize")
    resolution = opts.resolution
    grid = np.linspace(lo, hi, resolution)
    if opts.metric == "betti":
        # "match": alive to the end of the grid, hi included, as betti_curve counts it.
        closed = [_close_essential(b, opts.infinite, math.inf) for b in bars]
        return _betti(closed, grid)
    closed = [_close_essential(b, opts.infinite, hi) for b in bars]
    if opts.metric == "landscape":
        return _landscapes(closed, grid)
    if resolution - 1 < 1.0 / _IMAGE_BANDWIDTH:
        warnings.warn(
            TdaInterpWarning(
                f"Persistence images at resolution {resolution}: the Gaussians (bandwidth "
                f"{_IMAGE_BANDWIDTH:.0%} of the range) are narrower than a grid step, so image "
                "distances depend on the resolution; use resolution >= 21.",
                kind="coarse-image",
            ),
            stacklevel=2,
        )
    return _images(closed, lo, hi, resolution)


def vector_distances(
    features_a: ArrayLike,
    features_b: ArrayLike | None = None,
    *,
    metric: str,
    value_range: tuple[float, float],
    resolution: int,
) -> FloatArray:
    """All-pairs distances between vectorised diagrams, in the functions' norm.

    Parameters
    ----------
    features_a : array-like of shape (n_a, n_features)
        Rows from :func:`vectorize`.
    features_b : array-like of shape (n_b, n_features), optional
        Rows from :func:`vectorize` with the same ``metric``, ``value_range`` and
        ``resolution``. Default: ``features_a`` against itself.
    metric : {"landscape", "betti", "image"}
        The metric the features were computed with.
    value_range : (float, float)
        The range they were computed on (gives the grid step ``h``).
    resolution : int
        The resolution they were computed at.

    Returns
    -------
    ndarray of shape (n_a, n_b)
        "landscape": ``(sum_j w_j (a_j - b_j) ** 2) ** (1 / 2)`` (L2 distance of the
        landscapes), "betti": ``sum_j w_j |a_j - b_j|`` (L1 distance of the Betti curves),
        "image": as "landscape" (L2 distance of the persistence surfaces), where ``w_j`` is the
        measure of feature ``j``'s grid cell: ``h = (hi - lo) / (resolution - 1)``, ``h / 2`` at
        the ends of the grid (the trapezoid rule), products of two for image pixels. Without
        ``features_b``: symmetric, zero diagonal (exactly).

    Raises
    ------
    ConfigError
        An exact metric; features whose width does not fit ``metric`` and ``resolution``; NaN
        or infinite features; a bad ``value_range``.

    Examples
    --------
    >>> from tda_interp.diagrams import Diagram
    >>> a = Diagram(pairs=[[[0.0, 1.0]]], scale=1.0)
    >>> b = Diagram(pairs=[[[0.0, 2.0]]], scale=1.0)
    >>> F = vectorize([a, b], 0, metric="betti", resolution=201, value_range=(0.0, 2.0))
    >>> vector_distances(F, metric="betti", value_range=(0.0, 2.0), resolution=201)
    array([[0., 1.],
           [1., 0.]])
    """
    caller = "vector_distances"
    _check_vector_metric(metric, caller)
    lo, hi = _check_range(value_range, caller)
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer):
        raise ConfigError(f"{caller}: expected resolution to be an int >= 2, got {resolution!r}.")
    if resolution < 2:
        raise ConfigError(f"{caller}: expected resolution to be an int >= 2, got {resolution}.")
    width = _n_features(metric, int(resolution))
    a = _as_features(features_a, "features_a", width, metric, int(resolution))
    b = None
    if features_b is not None:
        b = _as_features(features_b, "features_b", width, metric, int(resolution))
    r = int(resolution)
    weights = _cell_measures(metric, (hi - lo) / (r - 1), r)
    if metric == "betti":  # sum_j w_j |a_j - b_j|
        kind, a = "cityblock", a * weights
        b = None if b is None else b * weights
    else:  # (sum_j w_j (a_j - b_j) ** 2) ** (1 / 2)
        kind, a = "euclidean", a * np.sqrt(weights)
        b = None if b is None else b * np.sqrt(weights)
    if b is None:
        out = squareform(pdist(a, kind)) if len(a) > 1 else np.zeros((len(a), len(a)))
    else:
        out = cdist(a, b, kind)
    return np.asarray(out, dtype=np.float64)


def _cell_measures(metric: str, step: float, resolution: int) -> FloatArray:
    """The measure of the cell each feature stands for: the trapezoid rule on the grid."""
    cells = np.full(resolution, step)
    cells[[0, -1]] = step / 2.0  # the ends stand for half a cell inside [lo, hi]
    if metric == "landscape":
        return np.tile(cells, N_LANDSCAPES)
    if metric == "image":
        return np.outer(cells, cells).ravel()
    return cells


def _as_features(x: ArrayLike, name: str, width: int, metric: str, resolution: int) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ConfigError(
            f"vector_distances: expected {name} of shape (n_diagrams, {width}) for "
            f"metric={metric!r} at resolution {resolution}, got shape {arr.shape}; pass the "
            "output of vectorize with the same metric and resolution."
        )
    if not np.isfinite(arr).all():
        raise ConfigError(
            f"vector_distances: {name} contains NaN or infinite values; vectorise with "
            "tda_interp's vectorize, which closes or drops essential bars (gudhi's Landscape "
            "gives NaN on them)."
        )
    return arr
