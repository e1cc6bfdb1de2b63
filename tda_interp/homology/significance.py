"""Is this bar real? Significance tests that call each bar of a diagram signal or noise.

Two methods, both Monte Carlo and both reading every bar by its *relative* lifetime
``(death - birth) / scale`` (``scale`` = the cloud's diameter), so that they are scale-free:

``"gaussian"`` (default): conditional Monte Carlo test against matched Gaussian noise
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
    is ``1 / (n_null + 1)``: keep ``alpha * (n_null + 1) >= 1`` (19 null clouds for 0.05, 99
    for 0.01).

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

What "significant" means
------------------------
``"gaussian"`` tests "longer than matched Gaussian noise makes", not "a feature of the
underlying shape": sparse sampling of a manifold leaves holes whose bars are real
departures from Gaussianity (200 uniformly random points on the sphere S^2 gave ten
significant H1 bars; 200 evenly spread ones gave none, and one H2 bar). Read the calls together
with the sampling density.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, ConfigError, TdaInterpWarning
from tda_interp.homology.persistence import check_input, compute_diagram
from tda_interp.homology.views import ViewLike, parse_view, view_name
from tda_interp.options import RipsOptions, SignificanceOptions
from tda_interp.options.run import SignificanceMethod

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SignificanceMethod",
    "SignificanceResult",
    "matched_gaussian_clouds",
    "monte_carlo_p_values",
    "monte_carlo_threshold",
    "compute_significance",
    "significance",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

MIN_POINTS = 4
"""Fewest points a significance test accepts (the smallest cloud that can hold a loop)."""

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


def matched_gaussian_clouds(X: ArrayLike, n_null: int, *, seed: int = 0) -> list[FloatArray]:
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
    seed : int, default 0

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
    pts = np.asarray(X, dtype=np.float64)
    n = pts.shape[0]
    mean = pts.mean(axis=0)
    _, s, vt = np.linalg.svd(pts - mean, full_matrices=False)
    tol = (s[0] if s.size else 0.0) * max(pts.shape) * np.finfo(np.float64).eps
    r = min(int((s > tol).sum()), n - 1)
    loadings = s[:r, None] * vt[:r]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_null):
        z = rng.standard_normal((n, r))
        z -= z.mean(axis=0)
        q, rr = np.linalg.qr(z)
        q *= np.where(np.diag(rr) < 0, -1.0, 1.0)
        out.append(mean + q @ loadings)
    return out


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
        A finite bar of dimension ``k`` is significant exactly when its relative lifetime is
        ``> thresholds[k]`` (``inf``: no bar can be).
    p_values : tuple of ndarray of shape (n_bars_k,)
        Aligned with ``diagram.pairs[k]``; NaN for infinite bars (never tested).
    significant : tuple of ndarray of bool, shape (n_bars_k,)
        Aligned with ``diagram.pairs[k]``.
    null_statistics : tuple of ndarray of shape (n_null,)
        Per dimension, on the relative-lifetime scale: for "gaussian", the maximum relative
        lifetime of each null cloud; for "subsample", ``2 * d_B / scale`` of each subsample.
        Empty for calls read from a run written by tda-interp 0.1, which did not keep them.
    """

    diagram: Diagram
    options: SignificanceOptions
    seed: int
    thresholds: tuple[float, ...]
    p_values: tuple[FloatArray, ...]
    significant: tuple[BoolArray, ...]
    null_statistics: tuple[FloatArray, ...]

    @property
    def method(self) -> str:
        """``"gaussian"`` or ``"subsample"``."""
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

    def __repr__(self) -> str:
        counts = ", ".join(f"H{k}: {c}" for k, c in enumerate(self.n_significant))
        return (
            f"SignificanceResult(method={self.method!r}, alpha={self.alpha}, "
            f"n_null={self.options.n_null}; significant {counts})"
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
    n = len(pts)
    if rips.metric == "precomputed":
        raise ConfigError(
            "A significance test draws null clouds of points, so it needs the points: pass the "
            'cloud and its metric instead of metric="precomputed".'
        )
    if n < MIN_POINTS:
        raise ActivationError(
            f"Expected at least {MIN_POINTS} points to test the significance of bars, got {n}; "
            "give more probe inputs."
        )
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
            stacklevel=3,
        )
    if options.method == "subsample" and options.subsample_size is None:
        options = options.replace(subsample_size=math.ceil(n / 2))
    if diagram is None:
        diagram = compute_diagram(pts, view, rips)
    else:
        _check_diagram(diagram, rips.maxdim, n, view, rips.metric)
    if not diagram.scale > 0:
        raise ActivationError(
            "All points coincide in this view (diameter 0), so no bar can be tested; check "
            "the activations or choose another view."
        )
    maxdim = diagram.maxdim
    null = np.zeros((maxdim + 1, options.n_null), dtype=np.float64)
    # One BLAS thread while the null is built: its matrices are small, and threaded OpenBLAS
    # made this 10x slower on a shared 2-core machine (measured). Restored on exit.
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fill_null(null, pts, diagram, view, rips, options)

    thresholds, p_values, calls = [], [], []
    for k in range(maxdim + 1):
        p = monte_carlo_p_values(_relative_lifetimes(diagram, k), null[k])
        thresholds.append(monte_carlo_threshold(null[k], options.alpha))
        p_values.append(p)
        calls.append(np.asarray(p <= options.alpha))  # NaN (infinite bars) compares False
    for arr in (*p_values, *calls, *null):
        arr.setflags(write=False)
    return SignificanceResult(
        diagram=diagram,
        options=options,
        seed=rips.seed,
        thresholds=tuple(thresholds),
        p_values=tuple(p_values),
        significant=tuple(calls),
        null_statistics=tuple(null),
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

    See the module docstring for the two methods, their guarantees and the policy for the
    infinite H0 bar.

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
        Fields of :class:`~tda_interp.options.SignificanceOptions` (``method``, ``n_null``
        (default 19), ``alpha`` (default 0.05), ``subsample_size``) or of
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
