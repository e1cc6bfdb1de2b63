"""Is this bar a feature of the shape, or noise? The default test, nearly free.

H1 and above: the universal null (Bobrowski and Skraba 2023)
-------------------------------------------------------------
Bobrowski and Skraba, "A universal null-distribution for topological data analysis",
Scientific Reports 13, 12274 (2023), observe that the *multiplicative* persistence
``pi = death / birth`` of the bars that noise makes follows one law, whatever the distribution of
the points, once normalised over the diagram: with ``L = log log pi`` and ``L_bar`` its mean
over the ``m`` bars of the dimension,

    l = A (L - L_bar) - gamma            (gamma = 0.5772..., Euler's constant)

follows the left-skewed Gumbel law, ``P(l >= x) = exp(-exp(x))``. A bar's p-value is
``exp(-exp(l))``; it is significant when ``p <= alpha / m`` (Bonferroni over the bars of the
dimension). Sampling holes of a torus or a sphere are short in *this* sense, however long their
absolute lifetime: a hole between samples is born late and dies soon after.

The constants were measured for Vietoris-Rips, not copied (tda-interp's study, 2026-12; the
implementations TDApplied ``universal_null`` and tdads ``universal_null`` both use ``A = 1`` and
``B = -gamma - A L_bar``). ``A = 1/2`` called nothing at all, not even a clean circle. With
``A = 1`` the family-wise rate of any significant bar stayed at or below alpha in every cell
measured: Gaussian noise in 2, 8, 64 and 384 dimensions, isotropic and with a decaying
(activation-like) spectrum, uniform noise in a 2- and 8-cube, at 60 to 1,000 points, H1 and H2
(worst: 0.037 for H2 of 60 points in 64 dimensions with a decaying spectrum; most cells 0). It
is conservative: its tail is lighter than the Gumbel law's for Vietoris-Rips, so ``A`` slightly
above 1 would be exact in some cells and anti-conservative in others (1.2 gave 0.13 on 2-d
uniform noise); ``A = 1`` is the largest value safe everywhere measured.

Few bars. The normalisation needs bars: with ``m = 1`` the statistic is always ``-gamma`` (p =
0.57), and below about 8 bars the test has little power (a 5-point pentagon has one H1 bar, a
sphere one or two H2 bars). When a dimension has ``1 <= m <`` :data:`MIN_BARS` usable bars,
``L_bar`` is taken instead from null clouds: Gaussian clouds with exactly the data's mean and
covariance (:func:`~tda_interp.homology.significance.matched_gaussian_clouds`), put through the
same view and options, pooled until they give :data:`REFERENCE_BARS` bars of the dimension, or
``max(REFERENCE_CLOUDS, REFERENCE_POINTS / n)`` clouds of ``n`` points were drawn (a few hundred
5-point clouds cost milliseconds); if no null cloud has a bar of the dimension, no bar of it is
called. This costs null diagrams, only for dimensions with few bars. Measured family-wise rate
of the fallback on noise: at most 0.03.

Dimensions the points cannot fill. Points whose centred coordinates have rank ``r`` lie in an
``r``-dimensional space, where no set has a ``k``-dimensional feature for ``k >= r`` (a planar
view has no void): bars of such dimensions, which the Rips complex can make, are never called
and cost no null cloud.

H0: clusters
------------
Births in H0 are 0, so the law does not apply. A finite H0 bar dies when two clusters merge at
height ``h`` (single linkage). Walking the merges bottom-up, each cluster keeps the largest merge
height inside it that was not itself called a split; the merge of ``a`` and ``b`` is a
significant extra cluster when both have at least ``s_min = max(5, ceil(n / 100))`` points and

    h > c * max(internal(a), internal(b), floor)

with ``floor`` the median nearest-neighbour distance (which keeps quantised data from calling
its tied points clusters) and ``c = 1 + (2 / max(d, 2)) ** 0.75`` for the two-NN intrinsic
dimension ``d`` of the cloud (Facco et al. 2017): 2 in the plane, nearer 1 in high dimension,
where merge heights concentrate. Measured: no extra cluster in 200 noise clouds per family
(one of 40 for 1,000 Gaussian points in the plane), one blob, uniform noise and noisy circles;
k separated Gaussian blobs gave exactly k clusters at separations of 10-12 sd in 2 and 8
dimensions, 30 sd in 64 and 60 sd in 384. It has no p-value and no run-level correction.

Approximate diagrams
--------------------
A diagram computed on landmarks or with a truncated filtration is within a certified
bottleneck distance ``delta`` of the exact one. A bar is significant only if it stays so when
widened against it: ``pi`` is computed from ``(birth + delta, death - delta)`` (not significant
when that bar is empty), and a merge height ``h`` is compared as ``h - delta`` against
``c * (scale + delta)``. ``L_bar`` and ``m`` come from the computed diagram. A uniform
subsample needs no widening: it is a smaller sample of the same shape, and the calls describe
it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "A_VR",
    "EULER_GAMMA",
    "MIN_BARS",
    "REFERENCE_BARS",
    "REFERENCE_CLOUDS",
    "REFERENCE_POINTS",
    "cluster_calls",
    "loglog_persistence",
    "universal_p_values",
]

FloatArray = NDArray[np.float64]

EULER_GAMMA = 0.5772156649015329
#: The constant ``A`` of the statistic, measured for Vietoris-Rips (see the module docstring).
A_VR = 1.0
#: Below this many usable bars, ``L_bar`` comes from null clouds.
MIN_BARS = 8
#: Null bars pooled for a reference ``L_bar`` ...
REFERENCE_BARS = 50
#: ... from at most this many null clouds, ...
REFERENCE_CLOUDS = 50
#: ... or as many as hold this many points in all, when that is more (tiny clouds).
REFERENCE_POINTS = 20_000
_REL_EPS = 1e-9  # pi must exceed 1 by this much (a bar born and dead at the same value)


def loglog_persistence(
    bars: ArrayLike, *, widen: float = 0.0
) -> tuple[NDArray[np.bool_], FloatArray]:
    """``log log (death / birth)`` of the usable bars: finite, born after 0, ``pi > 1``.

    Parameters
    ----------
    bars : array-like of shape (n_bars, 2)
    widen : float, default 0
        Certified distance to the exact diagram: ``pi`` of ``(birth + widen, death - widen)``;
        ``-inf`` where that bar is empty.

    Returns
    -------
    usable : ndarray of bool, shape (n_bars,)
    L : ndarray of shape (n_usable,)

    Examples
    --------
    >>> usable, L = loglog_persistence([[1.0, np.e**np.e], [0.0, 1.0], [2.0, np.inf]])
    >>> usable.tolist(), L.round(12).tolist()
    ([True, False, False], [1.0])
    """
    B = np.asarray(bars, dtype=np.float64).reshape(-1, 2)
    birth, death = B[:, 0], B[:, 1]
    usable = np.isfinite(death) & (birth > 0) & (death > birth * (1.0 + _REL_EPS))
    b, d = birth[usable] + widen, death[usable] - widen
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.where(d > b * (1.0 + _REL_EPS), np.log(np.log(d / b)), -np.inf)
    return usable, L


def universal_p_values(
    bars: ArrayLike, *, reference: float | None = None, widen: float = 0.0
) -> tuple[FloatArray, int, float]:
    """Universal-null p-values of the bars of one dimension (``k >= 1``).

    Parameters
    ----------
    bars : array-like of shape (n_bars, 2)
    reference : float, optional
        ``L_bar`` to normalise with (from null clouds); by default the mean of the bars' own
        ``log log pi``.
    widen : float, default 0
        Certified bottleneck distance to the exact diagram (see the module docstring).

    Returns
    -------
    p_values : ndarray of shape (n_bars,)
        NaN for bars that cannot be tested (infinite, born at 0); 1.0 for a bar that a
        widening empties.
    m : int
        Number of usable bars (the Bonferroni factor).
    L_bar : float
        The normalisation used (NaN without usable bars).

    Examples
    --------
    >>> noise = [[1.0, 1.2], [1.0, 1.3], [2.0, 2.4], [1.5, 1.8], [1.0, 1.25], [1.1, 1.3]]
    >>> p, m, _ = universal_p_values(noise + [[0.2, 3.0]])
    >>> m, bool(p[-1] <= 0.05 / m), bool((p[:-1] > 0.05 / m).all())
    (7, True, True)
    """
    B = np.asarray(bars, dtype=np.float64).reshape(-1, 2)
    usable, L_own = loglog_persistence(B)
    m = int(usable.sum())
    p = np.full(len(B), np.nan)
    if m == 0:
        return p, 0, math.nan
    lbar = float(L_own.mean()) if reference is None else float(reference)
    _, L = loglog_persistence(B, widen=widen) if widen > 0 else (usable, L_own)
    with np.errstate(over="ignore"):
        ell = A_VR * (L - lbar) - EULER_GAMMA
        p[usable] = np.where(np.isfinite(L), np.exp(-np.exp(ell)), 1.0)
    return p, m, lbar


def _two_nn_dimension(nn1: FloatArray, nn2: FloatArray) -> float:
    """Two-NN maximum-likelihood intrinsic dimension (Facco et al. 2017)."""
    ok = (nn1 > 0) & (nn2 > nn1)
    logs = np.log(nn2[ok] / nn1[ok])
    return float(len(logs) / logs.sum()) if logs.size and logs.sum() > 0 else 2.0


def cluster_calls(
    D: ArrayLike, *, widen: float = 0.0
) -> tuple[FloatArray, NDArray[np.bool_], float]:
    """The H0 rule of the module docstring on a distance matrix.

    Parameters
    ----------
    D : array-like of shape (n_points, n_points)
        Distances between the points the diagram was computed from.
    widen : float, default 0
        Certified bottleneck distance to the exact diagram, in the units of ``D``.

    Returns
    -------
    heights : ndarray of shape (n_merges,)
        Heights of the single-linkage merges of distinct points, ascending: the deaths of the
        finite H0 bars.
    significant : ndarray of bool, shape (n_merges,)
        Which merges join two clusters.
    c : float
        The ratio used.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + [20.0, 0.0]]
    >>> D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    >>> heights, significant, c = cluster_calls(D)
    >>> int(significant.sum()), bool(significant[-1])
    (1, True)
    """
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    M = np.asarray(D, dtype=np.float64)
    n = len(M)
    if n < 2:
        return np.empty(0), np.zeros(0, dtype=bool), math.nan
    off = M + np.diag(np.full(n, np.inf))
    nearest = np.partition(off, 1, axis=1)[:, :2]  # column 0 <= column 1: the two nearest
    nn1, nn2 = nearest[:, 0], nearest[:, 1]
    positive = nn1[np.isfinite(nn1) & (nn1 > 0)]
    floor = float(np.median(positive)) if positive.size else 0.0
    dim = _two_nn_dimension(nn1, nn2) if n > 2 else 2.0
    c = 1.0 + (2.0 / max(dim, 2.0)) ** 0.75
    Z = linkage(squareform(M, checks=False), method="single")
    s_min = max(5, math.ceil(n / 100))
    size = np.ones(2 * n - 1, dtype=np.int64)
    internal = np.zeros(2 * n - 1)
    significant = np.zeros(n - 1, dtype=bool)
    for j, (a, b, h, _) in enumerate(Z):
        a, b = int(a), int(b)
        size[n + j] = size[a] + size[b]
        scale = max(internal[a], internal[b], floor)
        big = min(size[a], size[b]) >= s_min
        significant[j] = big and h - widen > c * (scale + widen) and h > 0
        internal[n + j] = (
            max(internal[a], internal[b]) if significant[j] else max(internal[a], internal[b], h)
        )
    heights = Z[:, 2]
    keep = heights > 0  # duplicates merge at 0: no bar
    return heights[keep], significant[keep], c
