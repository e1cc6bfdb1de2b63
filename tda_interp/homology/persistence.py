"""Point cloud -> persistence diagram, with validation, a recorded view and a cost guard.

Layers
------
:func:`vietoris_rips` is the public entry point: it checks its options (one
:class:`~tda_interp.options.RipsOptions`) and its input once, then calls
:func:`compute_diagram`, the layer below, which trusts both. Tasks, significance tests and
runs call :func:`check_input` and :func:`compute_diagram` themselves, so nothing is checked (or
warned about) twice.

Large clouds
------------
Before the filtration is built, :func:`tda_interp.homology.estimate.estimate_cost` estimates its
peak memory. What happens above ``memory_budget`` depends on the approximation
(:class:`~tda_interp.options.Approximation`): ``"auto"`` (and ``"subsample:N"`` after its
subsample) computes the diagram on the largest set of max-min landmarks that fits
(:func:`tda_interp.homology.landmarks.maxmin_landmarks`), with a :class:`TdaInterpWarning`;
``"exact"``, ``"landmarks:N"`` and ``"bound:B"`` raise :class:`HomologyError` instead. The
diagram's :class:`~tda_interp.diagrams.Provenance` carries the certified bottleneck bound to the
exact diagram. The estimate reads the cloud's regime from its
:func:`~tda_interp.homology.estimate.intrinsic_dimension` (landmark sets: the most expensive
regime).

Below the budget, two more thresholds (:mod:`tda_interp.homology.estimate`): an estimate above
``NEAR_BUDGET_FRACTION`` (1/2) of it warns before the computation starts (``TdaInterpWarning``
of kind ``"near-memory-budget"``; not when the points were sized to the budget: the
``"auto"`` fallback, ``"landmarks"`` and ``"bound:B"``), and one above ``ENFORCE_FRACTION``
(1/4) runs the distance matrix and the backend in a forked child process whose address space
may grow by the budget only (:func:`~tda_interp.homology.estimate.run_with_memory_limit`): an
estimate that was wrong ends in :class:`HomologyError`, with the estimate, the budget and what
to do, never in an out-of-memory kill or a ``std::bad_alloc`` that takes the process down. The
diagrams come back pickled, bit for bit; smaller computations run here, without a fork.

Extreme magnitudes
------------------
Coordinates near 1e155 make squared distances overflow float64, below 1e-154 underflow, and
ripser and giotto-ph work in float32 (about 1e-38 to 3e38). Rather than refuse such clouds,
:func:`compute_diagram` divides them by a power of two ``2**k`` (exact: only exponents change)
when their extent (largest coordinate range, or largest finite distance) lies outside
``[2**-64, 2**64]``, and multiplies the diagram, its scale and every length of its certificate
by ``2**k`` (exact again): the Vietoris-Rips filtration of ``c X`` is that of ``X`` with every
value times ``c``. Built-in views are applied to the rescaled points (they are homogeneous of
degree 1, or 0 for ``standardized`` and ``neurons``); a callable view sees the points as given,
its output is rescaled. A diameter beyond float64 (about 1.8e308) is an
:class:`ActivationError`; complex input too (in :func:`check_cloud`).

Input checks
------------
Fewer than 2 points, NaN/Inf (unless dropped) and constant clouds (all points identical) raise
:class:`ActivationError`. Duplicate points warn (the diagram stays correct: a duplicate
merges at distance 0, a zero-length H0 bar that the backends leave out). Fewer than
``2 k + 2`` points warn for ``k = maxdim >= 1``: no flag complex on fewer vertices has a
nonzero H_k (the smallest is the boundary of the ``(k + 1)``-dimensional cross-polytope), so
H_maxdim comes back empty. Messages say nothing of where the cloud came from: a run adds its
checkpoint, layer and view once.
"""

from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.provenance import Certificate, CostEstimate, Provenance
from tda_interp.exceptions import ActivationError, ConfigError, HomologyError, TdaInterpWarning
from tda_interp.homology.backends import resolve_backend, rips_from_distances
from tda_interp.homology.distances import check_distance_matrix, distance_matrix
from tda_interp.homology.estimate import (
    ENFORCE_FRACTION,
    NEAR_BUDGET_FRACTION,
    _enforceable,
    estimate_cost,
    format_bytes,
    intrinsic_dimension,
    largest_affordable,
    run_with_memory_limit,
)
from tda_interp.homology.landmarks import (
    BOUND_CONVENTION,
    Landmarks,
    diameter_bounds,
    landmarks_within,
    maxmin_landmarks,
    pca_residual_bound,
)
from tda_interp.homology.truncation import truncated_rips
from tda_interp.homology.views import View, ViewLike, apply_view, parse_view
from tda_interp.options.homology import DEFAULT_MEMORY_BUDGET, RipsOptions

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "check_cloud",
    "check_input",
    "compute_diagram",
    "used_points",
    "uniform_subsample",
    "vietoris_rips",
]


def uniform_subsample(pts: NDArray[Any], max_points: int | None, seed: int) -> NDArray[Any]:
    """The seeded uniform subsample of ``approximation="subsample:N"``.

    Rows keep their order; the same ``(pts, max_points, seed)`` always gives the same rows.

    Examples
    --------
    >>> uniform_subsample(np.arange(10.0)[:, None], 3, seed=0).ravel().tolist()
    [5.0, 6.0, 9.0]
    """
    if max_points is None or len(pts) <= max_points:
        return pts
    rng = np.random.default_rng(seed)
    return pts[np.sort(rng.choice(len(pts), size=max_points, replace=False))]


def check_cloud(X: ArrayLike, *, nonfinite: str = "raise") -> NDArray[np.float64]:
    """Validate a point cloud and return it as float64.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    nonfinite : {"raise", "drop"}, default "raise"
        Rows holding NaN or Inf raise, or are dropped with a :class:`TdaInterpWarning` saying
        how many.

    Returns
    -------
    ndarray of shape (n_kept, n_features)

    Raises
    ------
    ActivationError
        Complex or non-numeric values, wrong shape, NaN/Inf (unless dropped), fewer than 2
        points, or all points identical (a constant cloud has no topology, and its diagram no
        scale).

    Notes
    -----
    Magnitudes are not refused: a cloud whose coordinate ranges lie outside about 5e-20 to
    2e19, whose squared distances would overflow (coordinates near 1e155) or underflow (below
    1e-154) in float64, or whose distances leave float32's range (ripser, giotto-ph), is
    computed at an exact power-of-two scale and its diagram scaled back exactly (see
    :func:`compute_diagram`); only a diameter beyond float64 itself (about 1.8e308) is an
    :class:`ActivationError`.

    Warns
    -----
    TdaInterpWarning
        Dropped non-finite rows; duplicate points (counted; the diagram stays correct).

    Examples
    --------
    >>> check_cloud([[0, 0], [1, 0], [0, 1]]).dtype
    dtype('float64')
    """
    pts = _as_float64(X, "point cloud")
    if pts.ndim != 2:
        raise ActivationError(
            f"Expected a point cloud of shape (n_points, n_features), got shape {pts.shape}; "
            "reduce sequence outputs first (reduction='flatten' or 'mean')."
        )
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        if nonfinite != "drop":
            raise ActivationError(
                f"{int(bad.sum())} of {len(pts)} points contain NaN or Inf (first at row "
                f'{int(np.flatnonzero(bad)[0])}); fix the model, or pass nonfinite="drop" to '
                "drop those points."
            )
        warnings.warn(
            TdaInterpWarning(
                f"Dropped {int(bad.sum())} of {len(pts)} points that contain NaN or Inf "
                '(nonfinite="drop").',
                kind="nonfinite-dropped",
            ),
            stacklevel=3,
        )
        pts = pts[~bad]
    if len(pts) < 2:
        raise ActivationError(
            f"Expected at least 2 points to compute persistence, got {len(pts)}; give more "
            "probe inputs."
        )
    n_distinct = _n_distinct_rows(pts)
    if n_distinct == 1:
        raise ActivationError(
            f"All {len(pts)} points are identical (a constant cloud: a dead or saturated layer, "
            "or identical probe inputs); its diagram is empty and has no scale. Check the layer "
            "and the probe set, or leave this layer out."
        )
    if n_distinct < len(pts):
        warnings.warn(
            TdaInterpWarning(
                f"{len(pts) - n_distinct} of {len(pts)} points duplicate another point "
                f"({n_distinct} distinct); each merges at distance 0 and changes no bar. "
                "Deduplicate the probe inputs if that is not intended.",
                kind="duplicate-points",
            ),
            stacklevel=3,
        )
    return pts


def check_input(X: ArrayLike, options: RipsOptions) -> NDArray[np.float64]:
    """Validate what :func:`compute_diagram` takes: a cloud, or with ``metric="precomputed"`` a
    square distance matrix (checked and repaired by
    :func:`~tda_interp.homology.check_distance_matrix`).

    Examples
    --------
    >>> check_input([[0, 1], [1, 0]], RipsOptions(metric="precomputed")).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    if options.metric != "precomputed":
        return check_cloud(X, nonfinite=options.nonfinite)
    D = _as_float64(X, "distance matrix")
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ActivationError(
            f"Expected a square distance matrix of shape (n_points, n_points) with "
            f'metric="precomputed", got shape {D.shape}; pass the points and a metric instead.'
        )
    if len(D) < 2:
        raise ActivationError(f"Expected at least 2 points to compute persistence, got {len(D)}.")
    if np.isnan(D).any():
        raise ActivationError(
            "The distance matrix holds NaN; give every pair a distance (inf: never connected)."
        )
    return check_distance_matrix(D)


def _as_float64(X: ArrayLike, what: str) -> NDArray[np.float64]:
    """``X`` as float64; complex or non-numeric input is an :class:`ActivationError` (numpy
    would drop imaginary parts with only a warning)."""
    arr = X if isinstance(X, np.ndarray) else np.asarray(X)
    if np.iscomplexobj(arr):
        raise ActivationError(
            f"Expected a real {what}, got complex values (dtype {arr.dtype}); persistence needs "
            "real distances: pass X.real, np.abs(X), or the real and imaginary parts side by "
            "side (np.c_[X.real, X.imag], the same distances as in C^d)."
        )
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ActivationError(
            f"Expected a numeric {what}, got {type(X).__name__} of dtype {arr.dtype}: {err}."
        ) from err


def _n_distinct_rows(pts: NDArray[np.float64]) -> int:
    """Number of distinct rows (``-0.0 == 0.0``), by sorting the rows' bytes."""
    rows = np.ascontiguousarray(pts + 0.0)  # + 0.0 turns -0.0 into 0.0
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
    return len(np.unique(keys.ravel()))


def vietoris_rips(
    X: ArrayLike, options: RipsOptions | None = None, *, view: ViewLike = "raw", **overrides: Any
) -> Diagram:
    """Vietoris-Rips persistence diagram of a point cloud, seen through a view.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features), or (n_points, n_points)
        The activations, one row per point; with ``metric="precomputed"`` a distance matrix.
    options : RipsOptions, optional
        How to compute; the defaults when omitted.
    view : str or View, default "raw"
        See :mod:`tda_interp.homology.views` ("raw", "pca10", "pc1-2", ...).
    **overrides
        Any field of :class:`~tda_interp.options.RipsOptions`, applied over ``options``:
        ``maxdim`` (default 1), ``metric`` ("euclidean", "cosine", "correlation",
        "abs_correlation", "precomputed"), ``coeff`` (a prime, default 2), ``backend`` ("auto",
        "gudhi", "giotto-ph", "ripser"), ``seed``, ``approximation`` (default
        ``"subsample:1000"``; ``"auto"``, ``"exact"``, ``"landmarks:N"``, ``"bound:0.05"``, see
        :class:`~tda_interp.options.Approximation`), ``memory_budget`` (default "4GB") and
        ``nonfinite`` ("raise" or "drop").

    Returns
    -------
    Diagram
        Its ``scale`` is the diameter of the points it was computed from (in the view and
        metric); its ``provenance`` says how it was computed and carries the
        :class:`~tda_interp.diagrams.Certificate` of its distance to the exact diagram.

    Raises
    ------
    ConfigError
        Bad option values, or an option the input cannot take (landmarks of a distance matrix).
    ActivationError
        Bad input (see :func:`check_cloud`) or a view the cloud cannot give.
    HomologyError
        Estimated cost over ``memory_budget`` where the approximation forbids falling back to
        landmarks; a computation estimated above a quarter of the budget that then exceeded
        it (it runs in a child process limited to the budget); or a backend failure.

    Warns
    -----
    TdaInterpWarning
        Before computing: an estimate above half the budget (kind ``"near-memory-budget"``), a
        fallback to landmarks (``"auto-landmarks"``), too few points for ``maxdim``; and the
        input checks' warnings (:func:`check_cloud`).

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    >>> dgm = vietoris_rips(np.c_[np.cos(t), np.sin(t)], backend="ripser")
    >>> int((dgm.lifetimes(1, relative=True) > 0.5).sum())
    1
    >>> t = np.linspace(0, 2 * np.pi, 1000, endpoint=False)
    >>> approx = vietoris_rips(np.c_[np.cos(t), np.sin(t)], approximation="landmarks:50")
    >>> approx.n_points, approx.provenance.certificate.bound < 0.3
    (50, True)
    >>> D = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
    >>> vietoris_rips(D, metric="precomputed", maxdim=0)[0].tolist()
    [[0.0, 1.0], [0.0, 1.5], [0.0, inf]]
    """
    opts = RipsOptions.resolve(options, overrides, caller="vietoris_rips()")
    return compute_diagram(check_input(X, opts), view, opts)


@dataclass(frozen=True)
class _Prepared:
    """A checked input after the uniform subsample, the view and the exact rescaling."""

    viewed: NDArray[np.float64]  # the viewed points (or distances), times 2**-unit
    scaled: NDArray[np.float64]  # the subsampled input, times 2**-pre
    metric: str
    unit: int
    pre: int
    precomputed: bool
    n_total: int
    subsampled: bool


def _prepare(pts: NDArray[np.float64], v: View, options: RipsOptions) -> _Prepared:
    precomputed = options.metric == "precomputed"
    if precomputed and v.kind != "raw":
        raise ConfigError(
            f'View {v.name!r} needs points, but metric="precomputed" gives distances; use '
            'view="raw", or pass the points with their metric.'
        )
    approx = options.approximation
    n_total = len(pts)
    if approx.mode == "subsample" and n_total > int(approx.value or 0):
        keep = uniform_subsample(np.arange(n_total), int(approx.value or 0), options.seed)
        pts = pts[np.ix_(keep, keep)] if precomputed else pts[keep]
    # Extreme magnitudes are computed at an exact power-of-two scale (see _scale_exponent):
    # the view of pts / 2**pre (views of known degree), or viewed / 2**post (other views and
    # distance matrices).
    view_degree = _VIEW_DEGREE.get(v.kind)
    pre = 0 if precomputed or view_degree is None else _scale_exponent(pts, points=True)
    scaled = np.ldexp(pts, -pre) if pre else pts
    viewed = scaled if precomputed else apply_view(scaled, v)
    metric = v.metric or options.metric
    # a view of known degree keeps the rescaled extent near 1; others are checked here
    unchecked = view_degree is None or v.kind == "projection"  # a user's function or matrix
    post = _scale_exponent(viewed, points=True) if unchecked and not pre else 0
    if precomputed:
        post = _scale_exponent(viewed, points=False)
    if post:
        viewed = np.ldexp(viewed, -post)
    # lengths computed from `viewed` times 2**unit are lengths of the view of `pts`
    metric_degree = 1 if precomputed or metric == "euclidean" else 0
    return _Prepared(
        viewed=viewed,
        scaled=scaled,
        metric=str(metric),
        unit=metric_degree * (post + pre * (view_degree or 0)),
        pre=pre,
        precomputed=precomputed,
        n_total=n_total,
        subsampled=len(pts) < n_total,
    )


def used_points(
    pts: NDArray[np.float64], view: ViewLike, options: RipsOptions, diagram: Diagram
) -> tuple[NDArray[np.float64], str, float]:
    """The points (or distances) ``diagram``'s filtration was built on, again.

    ``pts`` is the checked input the diagram was computed from with ``view`` and ``options``;
    the same subsample, view and rescaling are applied, and the landmarks its certificate
    records are taken.

    Returns
    -------
    used : ndarray of shape (n_used, k), or (n_used, n_used) with metric "precomputed"
    metric : str
    unit : float
        Lengths measured on ``used`` times ``unit`` are lengths of the diagram.
    """
    prep = _prepare(pts, parse_view(view), options)
    used = prep.viewed
    cert = None if diagram.provenance is None else diagram.provenance.certificate
    if cert is not None and cert.landmark_indices is not None:
        idx = np.asarray(cert.landmark_indices, dtype=np.intp)
        used = used[np.ix_(idx, idx)] if prep.precomputed else used[idx]
    if len(used) != diagram.n_points:
        raise ConfigError(
            f"The diagram was computed from {diagram.n_points} points, but these options and "
            f"this view give {len(used)}; pass the cloud and options it came from."
        )
    return used, ("precomputed" if prep.precomputed else prep.metric), math.ldexp(1.0, prep.unit)


def compute_diagram(pts: NDArray[np.float64], view: ViewLike, options: RipsOptions) -> Diagram:
    """The diagram of an input already checked by :func:`check_input` (the layer below
    :func:`vietoris_rips`; runs, tasks and significance tests call it directly).

    Parameters
    ----------
    pts : ndarray of shape (n_points, n_features), or (n_points, n_points) if precomputed
    view : str or View
    options : RipsOptions

    Returns
    -------
    Diagram

    Notes
    -----
    The memory budget, its warning and its enforcement in a child process, and the exact
    rescaling of extreme magnitudes, are described in the module docstring.
    """
    v = parse_view(view)
    prep = _prepare(pts, v, options)
    precomputed, approx, metric = prep.precomputed, options.approximation, prep.metric
    viewed, unit, scaled, pre = prep.viewed, prep.unit, prep.scaled, prep.pre
    n_total, subsampled = prep.n_total, prep.subsampled
    n_view = len(viewed)
    n_feat = None if precomputed else int(viewed.shape[1])
    maxdim, budget = options.maxdim, options.memory_budget
    name = resolve_backend(options.backend, n_points=n_view, maxdim=maxdim, coeff=options.coeff)
    dim = intrinsic_dimension(
        viewed, metric="precomputed" if precomputed else str(metric), seed=options.seed
    )

    def cost_of(n: int) -> CostEstimate:
        # max-min landmarks are evenly spread: estimated in the most expensive regime
        return estimate_cost(
            n,
            maxdim=maxdim,
            n_features=n_feat,
            backend=name,
            intrinsic_dim=dim if n >= n_view else None,
        )

    def fits() -> int:
        return largest_affordable(
            budget, maxdim=maxdim, n_features=n_feat, backend=name, upper=n_view
        )

    exact_cost = cost_of(n_view)
    n_use, lm, fallback = n_view, None, False
    if approx.mode in ("landmarks", "bound") and precomputed:
        raise ConfigError(
            f"approximation={approx.spec!r} picks landmarks, which needs points; with "
            'metric="precomputed" use "exact", "auto" or "subsample:N".'
        )
    if approx.mode == "bound":
        lm = landmarks_within(
            viewed,
            float(approx.value or 0.0),
            seed=options.seed,
            metric=metric,  # type: ignore[arg-type]
            max_landmarks=max(fits(), 2),
            min_landmarks=2 * maxdim + 2,
        )
        if lm.bottleneck_bound_rel > float(approx.value or 0.0) * (1.0 + 1e-9):
            raise HomologyError(
                f"A certified bound of {approx.value:.3g} of the diameter needs more than the "
                f"{lm.n_landmarks} landmarks that fit in the memory budget of "
                f"{format_bytes(budget)} (maxdim={maxdim}; with them the bound is "
                f"{lm.bottleneck_bound_rel:.3g}). Raise memory_budget, or ask for a larger "
                'bound (approximation="bound:B").'
            )
        n_use = lm.n_landmarks
        if n_use >= n_view:
            lm = None
    elif approx.mode == "landmarks":
        n_use = min(int(approx.value), n_view) if approx.value is not None else fits()
    elif exact_cost.memory_bytes > budget:
        if approx.mode == "exact" or precomputed:
            raise HomologyError(_over_budget(exact_cost, exact_cost, budget, n_view, maxdim))
        n_use, fallback = fits(), True
    cost = exact_cost if n_use == n_view else cost_of(n_use)
    if cost.memory_bytes > budget or n_use < 2:
        raise HomologyError(_over_budget(exact_cost, cost, budget, n_view, maxdim))
    if n_use < n_view and lm is None:
        lm = maxmin_landmarks(viewed, n_use, seed=options.seed, metric=metric)  # type: ignore[arg-type]
    used = viewed[lm.indices] if lm is not None else viewed
    _warn_few_points(len(used), maxdim)
    # a number of points sized to the budget is close to it by design: no warning for those
    sized = (
        fallback or approx.mode == "bound" or (approx.mode == "landmarks" and approx.value is None)
    )
    if not sized and cost.memory_bytes > NEAR_BUDGET_FRACTION * budget:
        _warn_near_budget(cost, budget, maxdim)

    truncation = approx.mode == "bound" and lm is None and len(used) > 1
    target = float(approx.value or 0.0)

    def diagrams() -> tuple[list[NDArray[np.float64]], float, dict[str, Any]]:
        D = used if precomputed else distance_matrix(used, metric=metric)  # type: ignore[arg-type]
        scale = _largest_finite(D)
        if truncation:
            # no subset certifies the target (typical of high-dimensional noise): stop the
            # filtration short of the enclosing radius instead, where that noise does its work
            dgms, info = truncated_rips(
                D, target * scale, maxdim=maxdim, backend=name, coeff=options.coeff
            )
            return dgms, scale, info
        return rips_from_distances(D, maxdim=maxdim, backend=name, coeff=options.coeff), scale, {}

    if cost.memory_bytes > ENFORCE_FRACTION * budget:
        _import_backend(name)  # in this process, so that the child only computes
        dgms, scale, info = run_with_memory_limit(
            diagrams,
            budget,
            describe=(
                f"The diagram of {len(used)} points (maxdim={maxdim}, backend {name}), "
                f"estimated at {format_bytes(cost.memory_bytes)},"
            ),
            advice=(
                f'Raise memory_budget, or pass approximation="landmarks:{max(len(used) // 2, 2)}" '
                "(max-min landmarks with a certified bound; halving the points cuts the H1 "
                "memory 4- to 8-fold on the calibrated clouds)"
                + (" or a smaller maxdim." if maxdim > 0 else ".")
            ),
        )
    else:
        dgms, scale, info = diagrams()

    def length(x: float) -> float:
        try:
            return math.ldexp(x, unit)
        except OverflowError:
            return math.copysign(math.inf, x)

    if unit:
        with np.errstate(over="ignore"):  # a diameter beyond float64 is refused just below
            dgms = [np.ldexp(dgm, unit) for dgm in dgms]
        scaled_diameter, scale = scale, length(scale)
        if not math.isfinite(scale):
            raise ActivationError(
                f"The diameter of the cloud, {scaled_diameter:.4g} x 2**{unit}, overflows "
                "float64 (largest 1.8e308); divide the activations by a constant (the diagram "
                "scales with them)."
            )
        info = {
            k: length(val) if k in ("truncated_at", "enclosing_radius", "truncation_bound") else val
            for k, val in info.items()
        }

    if lm is not None:
        bound = length(lm.bottleneck_bound)
        diam_lo = max(length(lm.diameter_lower), scale)  # the landmarks' diameter bounds it too
        certificate = Certificate(
            kind="landmarks",
            bound=None if subsampled else bound,
            bound_rel=None if subsampled else (0.0 if bound == 0.0 else bound / diam_lo),
            convention=BOUND_CONVENTION,
            n_landmarks=lm.n_landmarks,
            landmark_indices=tuple(int(i) for i in lm.indices),
            covering_radius=length(lm.covering_radius),
            covering_bound=length(lm.covering_bound),
            interleaving_bound=(
                None if lm.interleaving_bound is None else length(lm.interleaving_bound)
            ),
        )
        if fallback:
            _warn_landmarks(n_view, maxdim, exact_cost, budget, lm, bound / diam_lo, unit)
    elif truncation:
        tb = float(info["truncation_bound"])
        certificate = Certificate(
            kind="truncation" if tb > 0.0 else "exact",
            bound=None if subsampled else tb,
            bound_rel=None if subsampled else (0.0 if tb == 0.0 else tb / scale),
            convention=BOUND_CONVENTION,
            truncated_at=info["truncated_at"],
            enclosing_radius=info["enclosing_radius"],
            n_truncated=info["n_truncated"],
        )
    else:
        certificate = Certificate(
            kind="exact",
            bound=None if subsampled else 0.0,
            bound_rel=None if subsampled else 0.0,
            convention=BOUND_CONVENTION,
        )
    pca = pca_rel = None
    if v.kind == "pca" and metric == "euclidean":
        # on the rescaled points (equal to 2**-pre times the bound of pts, exactly)
        pca = math.ldexp(pca_residual_bound(scaled, v), pre)
        raw_lo = max(math.ldexp(diameter_bounds(scaled, exact_max=0)[0], pre), scale)
        pca_rel = 0.0 if pca == 0.0 else pca / raw_lo
    provenance = Provenance(
        view=v.name,
        metric=str(metric),
        backend=name,
        coeff=options.coeff,
        seed=options.seed,
        approximation=approx.spec,
        n_points_total=n_total,
        subsampled=subsampled,
        certificate=certificate,
        pca_residual_bound=pca,
        pca_residual_bound_rel=pca_rel,
        cost_estimate=cost,
        cost_estimate_exact=exact_cost if lm is not None else None,
    )
    return Diagram(pairs=tuple(dgms), scale=scale, n_points=len(used), provenance=provenance)


#: Degree of homogeneity of the built-in views: view(c X) = c**degree view(X) for c > 0
#: (callable views: unknown, not rescaled before they run).
_VIEW_DEGREE: dict[str, int] = {
    "raw": 1,
    "centered": 1,
    "pca": 1,
    "projection": 1,
    "standardized": 0,
    "neurons": 0,
    "units": 1,  # a selection of columns
}

#: Extents (largest coordinate range of points, largest finite distance of a matrix) outside
#: [2**-64, 2**64] are brought near 1 by an exact power of two before any distance is taken.
_SAFE_EXPONENT = 64


def _scale_exponent(M: NDArray[np.float64], *, points: bool) -> int:
    """``k`` such that ``M / 2**k`` has an extent in ``[1/2, 1)``, or 0 if it needs none.

    Squared differences of coordinates beyond about 1e154 overflow float64 and those below
    1e-154 underflow, and ripser and giotto-ph work in float32 (about 1e-38 to 3e38): the
    distances of such clouds would be inf or 0. Dividing by a power of two is exact in binary
    floating point (only exponents change; no value lands outside the normal range here), and
    the Vietoris-Rips filtration of ``c X`` is that of ``X`` with every value times ``c``, so
    the diagram of ``X`` is ``2**k`` times that of ``X / 2**k``: the same numbers a
    computation at the original scale would give where it does not overflow. Clouds of extent
    within ``[2**-64, 2**64]`` (about 5e-20 to 2e19) are left alone, bit for bit.
    """
    if M.size == 0:
        return 0
    if points:
        high, low = M.max(axis=0), M.min(axis=0)
        top = float(max(high.max(), -low.min()))
        if top == 0.0:
            return 0
        e = math.frexp(top)[1]
        # coordinate ranges of M / 2**e (|.| <= 1: no overflow), back in M's units by exponent
        extent = float((np.ldexp(high, -e) - np.ldexp(low, -e)).max())
        if extent == 0.0:
            return 0
        extent_exp = math.frexp(extent)[1] + e
    else:
        finite = np.isfinite(M)
        top = float(M.max(initial=0.0, where=finite))
        if top <= 0.0:
            return 0
        extent_exp = math.frexp(top)[1]
    return 0 if abs(extent_exp) <= _SAFE_EXPONENT else extent_exp


def _largest_finite(D: NDArray[np.float64]) -> float:
    """The largest finite entry of a distance matrix (0.0 if none), without copying it."""
    top = float(D.max()) if D.size else 0.0
    if math.isfinite(top):
        return top
    return float(D.max(initial=0.0, where=np.isfinite(D)))


#: The module each backend imports when it runs.
_BACKEND_MODULES = {
    "gudhi": "gudhi.sklearn.rips_persistence",
    "giotto-ph": "gph",
    "ripser": "ripser",
}


def _import_backend(name: str) -> None:
    """Import a backend before forking: a child then takes no import lock and maps no file."""
    try:
        importlib.import_module(_BACKEND_MODULES[name])
    except ImportError:  # the backend call itself says what is missing
        pass


def _over_budget(exact: CostEstimate, cost: CostEstimate, budget: int, n: int, maxdim: int) -> str:
    if cost.detail["n_points"] < 2:
        return (
            f"Not even 2 points fit in the memory budget of {format_bytes(budget)} "
            f"(maxdim={maxdim}); raise memory_budget."
        )
    fits = largest_affordable(
        budget,
        maxdim=maxdim,
        n_features=exact.detail.get("n_features"),
        backend=cost.detail["backend"],
    )
    return (
        f"The diagram of {cost.detail['n_points']} points (of {n}; maxdim={maxdim}) is "
        f"estimated at {format_bytes(cost.memory_bytes)} (about {cost.seconds:.3g} s), over the "
        f"memory budget of {format_bytes(budget)}. About {fits} points fit: pass "
        f'approximation="landmarks:{fits}" (max-min landmarks, with a certified bound) or '
        '"auto", a larger memory_budget, or a smaller maxdim.'
    )


def _warn_landmarks(
    n: int, maxdim: int, exact: CostEstimate, budget: int, lm: Landmarks, rel: float, unit: int
) -> None:
    warnings.warn(
        TdaInterpWarning(
            f"The exact diagram of {n} points (maxdim={maxdim}) is estimated at "
            f"{format_bytes(exact.memory_bytes)}, over the memory budget of "
            f"{format_bytes(budget)}; computed it on {lm.n_landmarks} max-min landmarks instead "
            f"(covering radius {math.ldexp(lm.covering_radius, unit):.4g}): bottleneck distance "
            f"to the exact diagram <= {math.ldexp(lm.bottleneck_bound, unit):.4g} ({rel:.1%} of "
            "the diameter). Pass memory_budget=... to change the budget, or "
            'approximation="exact" to refuse.',
            kind="auto-landmarks",
        ),
        stacklevel=4,
    )


def _warn_near_budget(cost: CostEstimate, budget: int, maxdim: int) -> None:
    n = cost.detail["n_points"]
    if _enforceable():
        then = (
            "It runs in a child process limited to the budget, so a wrong estimate ends in "
            "HomologyError, not in exhausted memory"
        )
    else:
        then = "The budget is enforced on Linux only: here a wrong estimate can exhaust memory"
    warnings.warn(
        TdaInterpWarning(
            f"The diagram of {n} points (maxdim={maxdim}) is estimated at "
            f"{format_bytes(cost.memory_bytes)}, {cost.memory_bytes / budget:.0%} of the memory "
            f"budget of {format_bytes(budget)} (about {cost.seconds:.3g} s). {then}; pass "
            'approximation="landmarks:N" with fewer points, or a larger memory_budget, to stay '
            "clear of it.",
            kind="near-memory-budget",
        ),
        stacklevel=4,
    )


def _warn_few_points(n: int, maxdim: int) -> None:
    if maxdim >= 1 and n < 2 * maxdim + 2:
        warnings.warn(
            TdaInterpWarning(
                f"{n} points cannot carry H{maxdim} (a nonzero H_k needs at least 2k + 2 = "
                f"{2 * maxdim + 2} points); H{maxdim} will be empty. Give more points or lower "
                "maxdim.",
                kind="few-points",
            ),
            stacklevel=4,
        )
