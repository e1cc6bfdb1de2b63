"""Is this bar real? Significance tests that call each bar of a diagram signal or noise.

What a call means
-----------------
``"universal"`` (the default) answers "is this bar a feature of the shape, or one that noise or
sparse sampling makes?", for every bar, H0 included, from the diagram alone: see
:mod:`tda_interp.homology.universal` (Bobrowski and Skraba's universal null for H1 and above, a
cluster rule for H0). It is calibrated on noise (family-wise rate of any significant bar at or
below alpha in every noise family and size measured), needs no null cloud except for
dimensions with fewer than 8 bars, and widens bars by the certified bound of an approximate
diagram. It does not say that a feature is large, or that it matters to the model: a small
clean loop is significant, a long bar of a sparse sample may not be.

The two Monte Carlo methods below answer other questions, and read every bar by its *relative*
lifetime ``(death - birth) / scale`` (``scale`` = the cloud's diameter):

``"gaussian"``: departure from Gaussian noise (conditional Monte Carlo test)
    The null hypothesis is "the points are an i.i.d. sample of *some* Gaussian" (any mean, any
    covariance, of any rank). ``n_null`` null clouds are drawn from the Gaussian law of a sample
    *conditioned on having exactly the observed sample mean and covariance*:
    ``x* = mean + Q @ (S[:, None] * Vt)``, where ``U S Vt`` is the thin SVD of the centred data
    (rank ``r``, numerically) and ``Q`` is a Haar-random ``(n, r)`` matrix with orthonormal
    columns orthogonal to ``(1, ..., 1)`` (QR of a centred Gaussian matrix, signs fixed). This is
    the exact conditional law of a Gaussian sample given its sufficient statistics, so under the
    null the observed cloud and the ``n_null`` null clouds are exchangeable, whatever the
    unknown covariance, dimension or number of points. (Drawing ``mean + z @ (S / sqrt(n - 1) *
    Vt)`` with ``z`` standard normal, a parametric bootstrap, would match the covariance only in
    expectation and make the test approximate; this costs the same.) Every null cloud goes
    through the same view, metric and backend as the data. For each dimension ``k`` the
    statistic of a cloud is its *maximum* relative lifetime over the finite bars of ``H_k``
    (0 when there are none). A bar with relative lifetime ``l`` gets the p-value ::

        p = (1 + #{null clouds whose maximum >= l}) / (n_null + 1)

    and is significant when ``p <= alpha``. Comparing every bar with the null distribution of
    the maximum is the single-step max-T procedure: it controls the family-wise error over all
    bars of a dimension, i.e. for Gaussian data ``P(any H_k bar is called significant) <=
    alpha`` exactly (not only asymptotically), for each ``k``. The smallest attainable p-value
    is ``1 / (n_null + 1)``: the default 99 null clouds let it reach 0.01. A dimension in which
    no null cloud has a bar gives every observed bar ``p = 1 / (n_null + 1)``, however short,
    and one in which most null clouds have none compares with almost nothing: where fewer than
    :data:`SPARSE_NULL` (half) of the null clouds have a bar, a bar is significant only if it
    also exceeds :data:`MIN_REL_LIFETIME` of the diameter (a noisy circle's H2 specks, "longer
    than nothing", are not features). This only removes calls, so the level still holds.

``"subsample"``: the subsampling confidence band of Fasy et al. (2014)
    Fasy, Lecci, Rinaldo, Wasserman, Balakrishnan and Singh, "Confidence sets for persistence
    diagrams", Annals of Statistics 42(6). The variant implemented here replaces their
    Hausdorff-distance statistic by the bottleneck distance between diagrams, per dimension (as
    the bottleneck bootstrap of their Section 4 and of Chazal et al. 2015, "Subsampling methods
    for persistent homology"): draw ``n_null`` subsamples of ``subsample_size`` points without
    replacement, compute their diagrams with the same parameters, and for each dimension ``k``
    let ``T_j = d_B(H_k(full), H_k(subsample_j))`` over finite bars. ``c_k`` is the
    ``(1 - alpha)`` Monte Carlo quantile of the ``T_j``; a bar is significant when its lifetime
    exceeds ``2 c_k`` (it lies outside the band of half-width ``c_k`` around the diagonal).
    The same bookkeeping as above is used with ``2 T_j / scale`` as the null statistics, so that
    ``p <= alpha`` exactly when ``lifetime > 2 c_k``. This is a heuristic at the sizes used in
    practice: its guarantee is asymptotic, for samples of a compact set, with
    ``subsample_size = o(n / log n)``. Measured at small ``n``: with ``subsample_size=n/2``
    (the default) 4 of 60 Gaussian clouds (60 points in R^8) got a significant H1 bar, while
    ``subsample_size = n / log n`` missed a clean 100-point circle. Its H0 calls are not
    meaningful when ``subsample_size < n``: the ``n - subsample_size`` H0 bars a subsample
    cannot match inflate ``c_0`` or, in high dimension, call most H0 bars significant.

What "significant" means for the Monte Carlo methods
----------------------------------------------------
``"gaussian"`` tests "longer than matched Gaussian noise makes", not "a feature of the
underlying shape": sparse sampling of a manifold leaves holes whose bars are real
departures from Gaussianity (a flat torus in 128 dimensions got 16 significant H1 bars, a
sphere 12, where the shapes have 2 and 0). Use it for "is this layer's cloud Gaussian?", and
``"universal"`` for "is this a feature?".

Policy for the infinite H0 bar
------------------------------
The essential H0 class (the whole cloud is connected) is present in every cloud, null clouds
included, so it carries no evidence and is never tested: its p-value is NaN and its call
``False``. ``n_significant[0]`` therefore counts significant *finite* H0 bars, i.e. the number
of well-separated clusters minus one (reduced homology). Any other infinite bar (a truncated
filtration) is treated the same way.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, ConfigError, TdaInterpWarning
from tda_interp.homology.distances import distance_matrix
from tda_interp.homology.persistence import check_input, compute_diagram, used_points
from tda_interp.homology.universal import (
    MIN_BARS,
    REFERENCE_BARS,
    REFERENCE_CLOUDS,
    REFERENCE_POINTS,
    cluster_calls,
    loglog_persistence,
    universal_p_values,
)
from tda_interp.homology.views import ViewLike, parse_view, view_name
from tda_interp.options import RipsOptions, SignificanceOptions
from tda_interp.options.run import Correction, SignificanceMethod

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SignificanceMethod",
    "SignificanceResult",
    "matched_gaussian_clouds",
    "monte_carlo_p_values",
    "monte_carlo_threshold",
    "compute_significance",
    "run_level_calls",
    "significance",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

MIN_POINTS = 4
"""Fewest points a significance test accepts (the smallest cloud that can hold a loop)."""

MIN_REL_LIFETIME = 0.1
"""``"gaussian"``: in a dimension where fewer than :data:`SPARSE_NULL` of the null clouds have a
bar, a bar must also be longer than this fraction of the diameter to be significant (the
documented absolute criterion)."""

SPARSE_NULL = 0.5
"""``"gaussian"``: the fraction of null clouds with a bar below which a dimension's null is
too sparse to compare with (see :data:`MIN_REL_LIFETIME`)."""

FRAME_COLUMNS = ("dim", "birth", "death", "rel_lifetime", "p_value", "significant")


# ---------------------------------------------------------------------- pure Monte Carlo core
def monte_carlo_p_values(observed: ArrayLike, null: ArrayLike) -> FloatArray:
    """Monte Carlo p-values ``(1 + #{null >= observed}) / (n_null + 1)``.

    Exact (super-uniform) when the observed statistic and the null statistics are exchangeable
    under the null hypothesis; ties count against the observation, which keeps it conservative.

    Parameters
    ----------
    observed : array-like of shape (n_bars,)
        Statistics to test; NaN or inf give a NaN p-value (not tested).
    null : array-like of shape (n_null,)
        The statistic computed on each null sample.

    Returns
    -------
    ndarray of shape (n_bars,)

    Examples
    --------
    >>> monte_carlo_p_values([0.5, 0.05], [0.1, 0.2, 0.3])
    array([0.25, 1.  ])
    """
    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    ref = np.sort(np.asarray(null, dtype=np.float64).reshape(-1))
    # number of null values >= obs = n_null - (number strictly below obs)
    at_least = len(ref) - np.searchsorted(ref, obs, side="left")
    p = np.asarray((1.0 + at_least) / (len(ref) + 1.0), dtype=np.float64)
    p[~np.isfinite(obs)] = np.nan
    return p


def monte_carlo_threshold(null: ArrayLike, alpha: float) -> float:
    """Smallest statistic level above which :func:`monte_carlo_p_values` is ``<= alpha``.

    A value ``l`` has ``p <= alpha`` exactly when ``l > threshold``; the threshold is the
    ``floor(alpha * (n_null + 1))``-th largest null value, or ``inf`` when
    ``alpha * (n_null + 1) < 1`` (no p-value can be that small).

    Parameters
    ----------
    null : array-like of shape (n_null,)
    alpha : float

    Returns
    -------
    float

    Examples
    --------
    >>> monte_carlo_threshold(np.arange(19.0), 0.05)
    18.0
    >>> monte_carlo_threshold(np.arange(39.0), 0.05)
    37.0
    """
    ref = np.sort(np.asarray(null, dtype=np.float64).reshape(-1))[::-1]
    allowed = math.floor(alpha * (len(ref) + 1) + 1e-9)  # largest #{null >= l} still allowed + 1
    if allowed < 1:
        return math.inf
    return float(ref[allowed - 1])


def matched_gaussian_clouds(
    X: ArrayLike, n_null: int, *, seed: int | Sequence[int] = 0
) -> list[FloatArray]:
    """Gaussian clouds with exactly the sample mean and covariance of ``X``.

    Each cloud is ``mean + Q @ (S[:, None] * Vt)``, with ``U S Vt`` the thin SVD of the centred
    data (numerical rank ``r``) and ``Q`` a Haar-random ``(n, r)`` matrix with orthonormal
    columns orthogonal to ``(1, ..., 1)``: the conditional law of an i.i.d. Gaussian sample
    given its sample mean and covariance (see the module docstring).

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    n_null : int
        Number of clouds.
    seed : int or sequence of int, default 0
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    list of ndarray of shape (n_points, n_features)

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(30, 5)) * [1.0, 2.0, 3.0, 4.0, 5.0]
    >>> Y = matched_gaussian_clouds(X, 2, seed=1)[0]
    >>> bool(np.allclose(np.cov(Y.T), np.cov(X.T)) and np.allclose(Y.mean(0), X.mean(0)))
    True
    """
    rng = np.random.default_rng(seed)
    draw = _gaussian_sampler(np.asarray(X, dtype=np.float64))
    return [draw(rng) for _ in range(n_null)]


def _gaussian_sampler(pts: FloatArray) -> Callable[[np.random.Generator], FloatArray]:
    """A function drawing one matched-Gaussian cloud of ``pts`` (the SVD is computed once)."""
    n = pts.shape[0]
    mean = pts.mean(axis=0)
    _, s, vt = np.linalg.svd(pts - mean, full_matrices=False)
    tol = (s[0] if s.size else 0.0) * max(pts.shape) * np.finfo(np.float64).eps
    r = min(int((s > tol).sum()), n - 1)
    loadings = s[:r, None] * vt[:r]

    def draw(rng: np.random.Generator) -> FloatArray:
        z = rng.standard_normal((n, r))
        z -= z.mean(axis=0)
        q, rr = np.linalg.qr(z)
        q *= np.where(np.diag(rr) < 0, -1.0, 1.0)
        return np.asarray(mean + q @ loadings, dtype=np.float64)

    return draw


# ---------------------------------------------------------------------- result type
@dataclass(frozen=True, eq=False)
class SignificanceResult:
    """Which bars of a diagram are significant, and why.

    Stored beside its diagram in a run directory (never inside it), and read back whole.

    Attributes
    ----------
    diagram : Diagram
        The diagram tested.
    options : SignificanceOptions
        Method, number of null samples, level and subsample size (resolved) used.
    seed : int
        Seed of the null clouds or subsamples.
    thresholds : tuple of float, one per dimension
        What each dimension's bars were compared with. ``"universal"``: H0, the merge-height
        ratio ``c`` of the cluster rule; above, the p-value cutoff ``alpha / m``.
        ``"gaussian"``, ``"subsample"``: a finite bar is significant exactly when its relative
        lifetime is ``> thresholds[k]`` (``inf``: no bar can be).
    p_values : tuple of ndarray of shape (n_bars_k,)
        Aligned with ``diagram.pairs[k]``; NaN for bars not tested (infinite, born at 0) and
        for H0 under ``"universal"`` (a rule, not a test).
    significant : tuple of ndarray of bool, shape (n_bars_k,)
        Aligned with ``diagram.pairs[k]``.
    null_statistics : tuple of ndarray
        Per dimension: for "gaussian", the maximum relative lifetime of each null cloud; for
        "subsample", ``2 * d_B / scale`` of each subsample; for "universal", the pooled
        ``log log pi`` of the null clouds of a dimension with few bars (else empty). Empty for
        calls read from a run written by tda-interp 0.1, which did not keep them.
    normalisation : tuple of str, one per dimension
        ``"universal"``: where ``L_bar`` came from, ``"diagram"`` or ``"null clouds"``;
        ``"none"``: no bar to test, or no null bar to compare with; ``"rank"``: the points span
        fewer than ``k + 1`` dimensions, so no ``H_k`` bar is a feature; ``"clusters"`` for
        H0. The Monte Carlo methods: ``"null clouds"`` or ``"subsamples"``.
    widened_by : float
        The certified bottleneck bound every bar was widened by (0 for an exact diagram).
    undecided : tuple of int, one per dimension
        Bars the approximation leaves undecided: significant on the computed diagram but not
        once widened by ``widened_by``. The exact diagram (or more landmarks) may call them;
        this result cannot. 0 for an exact diagram and for the Monte Carlo methods.
    """

    diagram: Diagram
    options: SignificanceOptions
    seed: int
    thresholds: tuple[float, ...]
    p_values: tuple[FloatArray, ...]
    significant: tuple[BoolArray, ...]
    null_statistics: tuple[FloatArray, ...]
    normalisation: tuple[str, ...] = ()
    widened_by: float = 0.0
    undecided: tuple[int, ...] = ()

    @classmethod
    def from_arrays(
        cls,
        diagram: Diagram,
        options: SignificanceOptions,
        seed: int,
        thresholds: Sequence[float],
        arrays: tuple[Sequence[ArrayLike], Sequence[ArrayLike], Sequence[ArrayLike]],
        **extra: Any,
    ) -> SignificanceResult:
        """A result from its p-values, calls and null statistics per dimension (``arrays``),
        made read-only float64 / bool arrays; ``extra``: ``normalisation``, ``widened_by``,
        ``undecided``."""
        p_values, calls, nulls = arrays
        p = tuple(np.asarray(v, dtype=np.float64) for v in p_values)
        c = tuple(np.asarray(v, dtype=np.bool_) for v in calls)
        stats = tuple(np.asarray(v, dtype=np.float64) for v in nulls)
        for arr in (*p, *c, *stats):
            arr.setflags(write=False)
        return cls(
            diagram=diagram,
            options=options,
            seed=seed,
            thresholds=tuple(float(t) for t in thresholds),
            p_values=p,
            significant=c,
            null_statistics=stats,
            **extra,
        )

    @property
    def method(self) -> str:
        """``"universal"``, ``"gaussian"`` or ``"subsample"``."""
        return self.options.method

    @property
    def alpha(self) -> float:
        """Level: a bar is significant when its p-value is ``<= alpha``."""
        return self.options.alpha

    @property
    def maxdim(self) -> int:
        """Highest homology dimension tested."""
        return self.diagram.maxdim

    @property
    def n_significant(self) -> tuple[int, ...]:
        """Number of significant bars per dimension (finite bars only; see the H0 policy)."""
        return tuple(int(s.sum()) for s in self.significant)

    def significant_bars(self, dim: int) -> FloatArray:
        """The significant (birth, death) pairs of dimension ``dim``, shape (n_sig, 2)."""
        return self.diagram[dim][self.significant[dim]]

    @property
    def n_clusters(self) -> int:
        """Clusters the H0 calls find: 1 + the significant finite H0 bars."""
        return 1 + self.n_significant[0]

    def __repr__(self) -> str:
        counts = ", ".join(f"H{k}: {c}" for k, c in enumerate(self.n_significant))
        nulls = "" if self.method == "universal" else f", n_null={self.options.n_null}"
        return (
            f"SignificanceResult(method={self.method!r}, alpha={self.alpha}{nulls}; "
            f"significant {counts})"
        )

    def to_frame(self) -> pd.DataFrame:
        """One tidy row per bar: ``dim, birth, death, rel_lifetime, p_value, significant``.

        Rows follow ``diagram.pairs[dim]``, by dimension. Infinite bars have
        ``rel_lifetime = inf``, ``p_value = NaN`` and ``significant = False``.

        Returns
        -------
        pandas.DataFrame with columns ``dim`` (int), ``birth``, ``death``, ``rel_lifetime``,
        ``p_value`` (float) and ``significant`` (bool).
        """
        import pandas as pd

        scale = self.diagram.scale
        parts: dict[str, list[Any]] = {c: [] for c in FRAME_COLUMNS}
        for k, bars in enumerate(self.diagram.pairs):
            life = bars[:, 1] - bars[:, 0]
            rel = life / scale if scale > 0 else np.zeros_like(life)
            parts["dim"].append(np.full(len(bars), k, dtype=np.int64))
            parts["birth"].append(bars[:, 0])
            parts["death"].append(bars[:, 1])
            parts["rel_lifetime"].append(rel)
            parts["p_value"].append(self.p_values[k])
            parts["significant"].append(self.significant[k])
        dtypes = {"dim": np.int64, "significant": np.bool_}
        return pd.DataFrame(
            {c: np.concatenate(parts[c]).astype(dtypes.get(c, np.float64)) for c in FRAME_COLUMNS}
        )


# ---------------------------------------------------------------------- the test
def _relative_lifetimes(dgm: Diagram, dim: int) -> FloatArray:
    """Relative lifetimes aligned with ``dgm.pairs[dim]`` (inf for infinite bars)."""
    bars = dgm[dim]
    life = bars[:, 1] - bars[:, 0]
    return life / dgm.scale if dgm.scale > 0 else np.where(np.isinf(life), np.inf, 0.0)


def _max_relative(dgm: Diagram, dim: int) -> float:
    life = dgm.lifetimes(dim, relative=True)
    return float(life[0]) if life.size else 0.0


def _check_diagram(dgm: Diagram, maxdim: int, n_points: int, view: ViewLike, metric: str) -> None:
    if dgm.maxdim != maxdim:
        raise ConfigError(
            f"The diagram passed holds H0..H{dgm.maxdim} but maxdim={maxdim} was asked; pass "
            f"maxdim={dgm.maxdim} or recompute the diagram."
        )
    given = dgm.provenance.n_points_total if dgm.provenance is not None else dgm.n_points
    if given != n_points:
        raise ConfigError(
            f"The diagram passed was computed from {given} points but X has {n_points}; "
            "pass the exact cloud the diagram came from."
        )
    if dgm.provenance is None:
        return
    for key, have, want in (
        ("view", dgm.provenance.view, view_name(view)),
        ("metric", dgm.provenance.metric, parse_view(view).metric or metric),
    ):
        if have != want:
            raise ConfigError(
                f"The diagram passed was computed with {key}={have!r} but {key}={want!r} was "
                f"asked; pass {key}={have!r} so that the null clouds are treated the same way."
            )


def _fill_null(
    null: FloatArray,
    pts: FloatArray,
    diagram: Diagram,
    view: ViewLike,
    rips: RipsOptions,
    options: SignificanceOptions,
) -> None:
    """Fill ``null[k, j]`` with the statistic of null sample ``j`` in dimension ``k``."""
    maxdim = diagram.maxdim
    if options.method == "gaussian":
        clouds = matched_gaussian_clouds(pts, options.n_null, seed=rips.seed)
        for j, cloud in enumerate(clouds):
            dgm = compute_diagram(cloud, view, rips)
            null[:, j] = [_max_relative(dgm, k) for k in range(maxdim + 1)]
        return
    import gudhi

    n = len(pts)
    b = int(options.subsample_size or math.ceil(n / 2))
    rng = np.random.default_rng(rips.seed)
    full = [diagram.finite(k) for k in range(maxdim + 1)]
    for j in range(options.n_null):
        idx = np.sort(rng.choice(n, size=b, replace=False))
        dgm = compute_diagram(pts[idx], view, rips)
        for k in range(maxdim + 1):
            d_b = gudhi.bottleneck_distance(full[k], dgm.finite(k))
            null[k, j] = 2.0 * d_b / diagram.scale


def compute_significance(
    pts: FloatArray,
    view: ViewLike,
    rips: RipsOptions,
    options: SignificanceOptions,
    *,
    diagram: Diagram | None = None,
) -> SignificanceResult:
    """The significance test on a cloud already checked by
    :func:`~tda_interp.homology.check_input` (the layer below :func:`significance`; runs call
    it directly).

    Every null cloud or subsample goes through :func:`~tda_interp.homology.compute_diagram`
    with the same view and ``rips`` options as the data, approximation included; the warnings
    of those computations are not repeated (the data's diagram already gave them).
    """
    if options.method == "none":
        raise ConfigError(
            'significance(method="none") makes no calls; leave the call out instead, or pick '
            '"universal", "gaussian" or "subsample".'
        )
    n = len(pts)
    if options.method != "universal" and rips.metric == "precomputed":
        raise ConfigError(
            f"The {options.method!r} test draws null clouds or subsamples of points, so it needs "
            'the points: pass the cloud and its metric instead of metric="precomputed", or use '
            'method="universal".'
        )
    if n < MIN_POINTS and options.method != "universal":
        raise ActivationError(
            f"Expected at least {MIN_POINTS} points to test the significance of bars, got {n}; "
            "give more probe inputs."
        )
    if diagram is None:
        diagram = compute_diagram(pts, view, rips)
    else:
        _check_diagram(diagram, rips.maxdim, n, view, rips.metric)
    if not diagram.scale > 0 and options.method != "universal":
        raise ActivationError(
            "All points coincide in this view (diameter 0), so no bar can be tested; check "
            "the activations or choose another view."
        )
    # One BLAS thread while null clouds are computed: their matrices are small, and threaded
    # OpenBLAS made this 10x slower on a shared 2-core machine (measured). Restored on exit.
    if options.method != "universal":
        return _monte_carlo(pts, view, rips, options, diagram)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _universal(pts, view, rips, options, diagram)
    if any(result.undecided):
        open_calls = ", ".join(f"H{k}: {n}" for k, n in enumerate(result.undecided) if n)
        approx = diagram.provenance.approximation if diagram.provenance else "approximate"
        warnings.warn(
            TdaInterpWarning(
                f"Some bars are significant on the {approx} diagram but not once widened by "
                f"its certified bound {result.widened_by:.3g} ({open_calls}), so they are not "
                "called; use approximation='exact' or more landmarks to decide them.",
                kind="undecided-calls",
            ),
            stacklevel=3,
        )
    return result


def _working_bound(diagram: Diagram) -> float:
    """The certified distance of ``diagram`` to the exact diagram of the points it was
    computed from (after any subsample: a subsample is a sample of the shape, not an error)."""
    if diagram.provenance is None:
        return 0.0
    cert = diagram.provenance.certificate
    if cert.kind == "landmarks":
        bounds = [b for b in (cert.bound, cert.covering_bound, cert.interleaving_bound) if b]
        return float(min(bounds)) if bounds else 0.0
    if cert.kind == "truncation" and cert.enclosing_radius is not None:
        return float(cert.enclosing_radius - (cert.truncated_at or 0.0)) / 2.0
    return 0.0


def _universal(
    pts: FloatArray,
    view: ViewLike,
    rips: RipsOptions,
    options: SignificanceOptions,
    diagram: Diagram,
) -> SignificanceResult:
    delta = _working_bound(diagram)
    p_values, calls, thresholds, normalisation, nulls, undecided = [], [], [], [], [], []
    # H0: the cluster rule on the points the filtration was built on
    used, metric, unit = used_points(pts, view, rips, diagram)
    D = used if metric == "precomputed" else _cluster_distances(used, metric)
    heights, merge_calls, c = cluster_calls(D, widen=delta / unit)
    p_values.append(np.full(len(diagram[0]), np.nan))
    calls.append(_by_death(diagram[0], heights * unit, merge_calls))
    thresholds.append(c)
    normalisation.append("clusters")
    nulls.append(np.empty(0))
    undecided.append(
        int((_by_death(diagram[0], heights * unit, cluster_calls(D)[1]) & ~calls[0]).sum())
        if delta > 0
        else 0
    )
    rank = None if metric == "precomputed" else _low_rank(used, diagram.maxdim)
    for k in range(1, diagram.maxdim + 1):
        p, m, lbar = universal_p_values(diagram[k], widen=delta)
        how, pooled = "diagram", np.empty(0)
        if m == 0:
            how = "none"
        elif rank is not None and k >= rank:
            # points of rank r span an r-dimensional space, whose subsets have no k-dimensional
            # feature for k >= r: such bars are artefacts of the Rips complex
            p, how = np.where(np.isnan(p), np.nan, 1.0), "rank"
        elif m < MIN_BARS and metric != "precomputed":
            # one BLAS thread for the null clouds: their matrices are small (see _monte_carlo)
            with threadpool_limits(limits=1, user_api="blas"):
                pooled = _reference(pts, view, rips.replace(maxdim=k), k)
            if pooled.size:
                lbar = float(pooled.mean())
                p, m, _ = universal_p_values(diagram[k], reference=lbar, widen=delta)
                how = "null clouds"
            else:  # no null cloud has a bar of this dimension: nothing to compare with
                p, how = np.where(np.isnan(p), np.nan, 1.0), "none"
        cutoff = options.alpha / m if m else 0.0
        called = np.asarray(p <= cutoff)  # NaN (untested bars) compares False
        if delta > 0 and how in ("diagram", "null clouds"):
            plain, _, _ = universal_p_values(diagram[k], reference=lbar)
            undecided.append(int(((plain <= cutoff) & ~called).sum()))
        else:
            undecided.append(0)
        p_values.append(p)
        calls.append(called)
        thresholds.append(cutoff)
        normalisation.append(how)
        nulls.append(pooled)
    return SignificanceResult.from_arrays(
        diagram,
        options,
        rips.seed,
        thresholds,
        (p_values, calls, nulls),
        normalisation=tuple(normalisation),
        widened_by=delta,
        undecided=tuple(undecided),
    )


def _cluster_distances(points: FloatArray, metric: str) -> FloatArray:
    """Distances for the H0 rule. Euclidean ones from the Gram matrix of the centred points
    (twice as fast as ``pdist`` at 600 x 384; relative error about 1e-13, far below what a
    merge-height ratio can notice), with duplicates at exactly 0."""
    if metric != "euclidean":
        return distance_matrix(points, metric=metric)  # type: ignore[arg-type]
    centred = points - points.mean(axis=0)
    sq = np.einsum("ij,ij->i", centred, centred)
    D2 = sq[:, None] + sq[None, :] - 2.0 * (centred @ centred.T)
    D2[D2 <= 1e-12 * (sq[:, None] + sq[None, :])] = 0.0
    np.fill_diagonal(D2, 0.0)
    return np.sqrt(D2)


def _low_rank(points: FloatArray, limit: int) -> int | None:
    """The numerical rank of the centred points (the dimension of the space they span) when it
    is at most ``limit``, else ``None``. A random projection to ``limit + 8`` coordinates keeps
    any rank up to that (almost surely), so wide clouds cost one thin product, not an SVD."""
    centred = points - points.mean(axis=0)
    if centred.shape[1] > limit + 8:
        omega = np.random.default_rng(0).standard_normal((centred.shape[1], limit + 8))
        centred = centred @ omega
    s = np.linalg.svd(centred, compute_uv=False)
    if not s.size or s[0] == 0:
        return 0
    r = int((s > s[0] * 1e-10).sum())
    return r if r <= limit else None


def _by_death(bars: FloatArray, heights: FloatArray, merge_calls: BoolArray) -> BoolArray:
    """Move merge decisions onto the finite H0 bars, by rank of death (ties are equal)."""
    calls = np.zeros(len(bars), dtype=bool)
    finite = np.flatnonzero(np.isfinite(bars[:, 1]))
    order = finite[np.argsort(bars[finite, 1], kind="stable")]
    k = min(len(order), len(heights))
    if k:  # the largest merges are the ones that matter: align from the top
        calls[order[len(order) - k :]] = merge_calls[np.argsort(heights, kind="stable")][-k:]
    return calls


def _reference(pts: FloatArray, view: ViewLike, rips: RipsOptions, dim: int) -> FloatArray:
    """Pooled ``log log pi`` of matched-Gaussian null clouds' bars of dimension ``dim``: until
    :data:`REFERENCE_BARS` bars, from at most ``max(REFERENCE_CLOUDS, REFERENCE_POINTS / n)``
    clouds (many for tiny clouds, which cost nothing)."""
    pooled: list[FloatArray] = []
    total = 0
    limit = max(REFERENCE_CLOUDS, REFERENCE_POINTS // max(len(pts), 1))
    for cloud in _null_clouds(pts, rips.seed, limit):
        usable, L = loglog_persistence(compute_diagram(cloud, view, rips)[dim])
        pooled.append(L)
        total += int(usable.sum())
        if total >= REFERENCE_BARS:
            break
    return np.concatenate(pooled) if pooled else np.empty(0)


def _null_clouds(pts: FloatArray, seed: int, limit: int) -> Iterator[FloatArray]:
    """Matched-Gaussian clouds, one at a time (the first ``k`` do not depend on ``limit``)."""
    draw = _gaussian_sampler(pts)
    rng = np.random.default_rng((seed, 7919))
    for _ in range(limit):
        yield draw(rng)


def _monte_carlo(
    pts: FloatArray,
    view: ViewLike,
    rips: RipsOptions,
    options: SignificanceOptions,
    diagram: Diagram,
) -> SignificanceResult:
    n = len(pts)
    if options.subsample_size is not None and options.subsample_size >= n:
        raise ConfigError(
            f"Expected subsample_size to be an integer in [2, {n - 1}] for a cloud of {n} points, "
            f"got {options.subsample_size}; None picks ceil(n / 2)."
        )
    if math.floor(options.alpha * (options.n_null + 1) + 1e-9) < 1:
        warnings.warn(
            TdaInterpWarning(
                f"With n_null={options.n_null} the smallest p-value is 1/{options.n_null + 1} = "
                f"{1 / (options.n_null + 1):.3g} > alpha={options.alpha}, so no bar can be "
                f"significant; pass n_null >= {math.ceil(1 / options.alpha) - 1}.",
                kind="n-null-too-small",
            ),
            stacklevel=4,
        )
    if options.method == "subsample" and options.subsample_size is None:
        options = options.replace(subsample_size=math.ceil(n / 2))
    maxdim = diagram.maxdim
    null = np.zeros((maxdim + 1, options.n_null), dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fill_null(null, pts, diagram, view, rips, options)

    thresholds, p_values, calls = [], [], []
    for k in range(maxdim + 1):
        rel = _relative_lifetimes(diagram, k)
        p = monte_carlo_p_values(rel, null[k])
        threshold = monte_carlo_threshold(null[k], options.alpha)
        if options.method == "gaussian" and (null[k] > 0).mean() < SPARSE_NULL:
            # most null clouds have no bar here: "longer than almost nothing" is no feature
            threshold = max(threshold, MIN_REL_LIFETIME)
        thresholds.append(threshold)
        p_values.append(p)
        with np.errstate(invalid="ignore"):
            calls.append(np.asarray((p <= options.alpha) & (rel > threshold)))
    source = "null clouds" if options.method == "gaussian" else "subsamples"
    return SignificanceResult.from_arrays(
        diagram,
        options,
        rips.seed,
        thresholds,
        (p_values, calls, list(null)),
        normalisation=(source,) * (maxdim + 1),
    )


def significance(
    X: ArrayLike,
    options: SignificanceOptions | None = None,
    *,
    view: ViewLike = "raw",
    rips: RipsOptions | None = None,
    diagram: Diagram | None = None,
    **overrides: Any,
) -> SignificanceResult:
    """Call every bar of a cloud's Vietoris-Rips diagram significant or noise.

    See the module docstring for the methods, their guarantees and the policy for the infinite
    H0 bar.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
        The cloud, at least 4 points, before the view is applied.
    options : SignificanceOptions, optional
        The test (method, n_null, alpha, subsample_size); the defaults when omitted.
    view : str or View, default "raw"
    rips : RipsOptions, optional
        How the data's diagram and every null diagram are computed (maxdim, metric, backend,
        approximation, seed...).
    diagram : Diagram, optional
        The diagram of ``X`` if already computed with the same options and view; it is then
        not recomputed.
    **overrides
        Fields of :class:`~tda_interp.options.SignificanceOptions` (``method``, default
        ``"universal"``; ``n_null`` (default 99), ``alpha`` (default 0.05),
        ``subsample_size``) or of
        :class:`~tda_interp.options.RipsOptions` (``maxdim``, ``metric``, ``backend``,
        ``seed``, ...), applied over ``options`` and ``rips``. ``seed`` seeds the null clouds
        or subsamples too: the result is a deterministic function of the inputs.

    Returns
    -------
    SignificanceResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(0, 2 * np.pi, 60)
    >>> X = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.05, size=(60, 2))
    >>> res = significance(X, backend="ripser")
    >>> res.n_significant[1]
    1
    >>> list(res.to_frame().columns)
    ['dim', 'birth', 'death', 'rel_lifetime', 'p_value', 'significant']
    """
    ours = set(SignificanceOptions.field_names())
    theirs = set(RipsOptions.field_names())
    unknown = [k for k in overrides if k not in ours | theirs]
    if unknown:
        SignificanceOptions._check_names(unknown, caller="significance()")
    opts = SignificanceOptions.resolve(
        options, {k: v for k, v in overrides.items() if k in ours}, caller="significance()"
    )
    rips_opts = RipsOptions.resolve(
        rips, {k: v for k, v in overrides.items() if k in theirs}, caller="significance()"
    )
    return compute_significance(check_input(X, rips_opts), view, rips_opts, opts, diagram=diagram)


def run_level_calls(
    results: Sequence[SignificanceResult], correction: Correction, *, alpha: float | None = None
) -> list[tuple[BoolArray, ...]]:
    """The calls of many results at once, corrected over all of them (a run's layers x
    checkpoints x views).

    Each result's own calls hold the family-wise level ``alpha`` per diagram and dimension, so
    a run of 500 diagrams expects up to ``500 * alpha`` false calls per dimension on noise.

    * ``"diagram"``: the results' own calls, unchanged.
    * ``"bonferroni"``: a bar of dimension ``k >= 1`` is significant when its p-value is
      ``<= alpha / M``, ``M`` the number of bars tested in all results and all dimensions from 1
      up: the family-wise level over the run.
    * ``"bh"``: Benjamini-Hochberg at level ``alpha`` over the same ``M`` p-values: the false
      discovery rate over the run (the expected fraction of false calls among all calls).

    H0 calls of ``"universal"`` come from a rule, not a p-value, and are kept as they are (at
    most one false extra cluster in 200 noise clouds was measured). Under the Monte Carlo
    methods a bar must also keep its own call, which carries the absolute criterion; their
    smallest p-value ``1 / (n_null + 1)`` makes run-level calls rare unless ``n_null`` is large.

    Parameters
    ----------
    results : sequence of SignificanceResult
    correction : {"diagram", "bonferroni", "bh"}
    alpha : float, optional
        The level; by default the results' own (which must then agree).

    Returns
    -------
    list of tuple of ndarray of bool
        Aligned with ``results``, then with each result's ``significant``.

    Examples
    --------
    >>> from tda_interp.options import SignificanceOptions
    >>> d = Diagram(pairs=[[[0.0, np.inf]], [[1.0, 1.5], [1.0, 9.0]]], scale=9.0, n_points=3)
    >>> def result(p):
    ...     p = np.array(p)
    ...     return SignificanceResult(d, SignificanceOptions(), 0, (2.0, 0.025),
    ...         (np.array([np.nan]), p), (np.zeros(1, bool), p <= 0.025), (np.empty(0),) * 2)
    >>> many = [result([0.9, 0.02]), result([0.5, 0.009])]
    >>> [calls[1].tolist() for calls in run_level_calls(many, "diagram")]
    [[False, True], [False, True]]
    >>> [calls[1].tolist() for calls in run_level_calls(many, "bonferroni")]
    [[False, False], [False, True]]
    >>> [calls[1].tolist() for calls in run_level_calls(many, "bh")]
    [[False, True], [False, True]]
    """
    if correction not in ("diagram", "bonferroni", "bh"):
        raise ConfigError(
            f"Expected correction to be 'diagram', 'bonferroni' or 'bh', got {correction!r}."
        )
    if correction == "diagram" or not results:
        return [r.significant for r in results]
    if alpha is None:
        levels = {r.alpha for r in results}
        if len(levels) > 1:
            raise ConfigError(
                f"The results were tested at different levels {sorted(levels)}; pass alpha= to "
                "correct them together."
            )
        alpha = levels.pop()
    tested = [p[~np.isnan(p)] for r in results for p in r.p_values[1:]]
    pooled = np.sort(np.concatenate(tested)) if tested else np.empty(0)
    M = len(pooled)
    if M == 0:
        cutoff = -1.0
    elif correction == "bonferroni":
        cutoff = alpha / M
    else:  # Benjamini-Hochberg step-up: the largest p_(i) <= i alpha / M
        ok = np.flatnonzero(pooled <= alpha * np.arange(1, M + 1) / M)
        cutoff = float(pooled[ok[-1]]) if ok.size else -1.0
    out = []
    for r in results:
        calls = [r.significant[0]]
        for k in range(1, len(r.significant)):
            with np.errstate(invalid="ignore"):
                passed = np.asarray(r.p_values[k] <= cutoff)
            if r.method != "universal":
                passed &= r.significant[k]
            calls.append(passed)
        out.append(tuple(calls))
    return out
