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
exact diagram.

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

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.provenance import Certificate, CostEstimate, Provenance
from tda_interp.exceptions import ActivationError, ConfigError, HomologyError, TdaInterpWarning
from tda_interp.homology.backends import resolve_backend, rips_from_distances
from tda_interp.homology.distances import check_distance_matrix, distance_matrix
from tda_interp.homology.estimate import estimate_cost, largest_affordable
from tda_interp.homology.landmarks import (
    BOUND_CONVENTION,
    Landmarks,
    diameter_bounds,
    landmarks_within,
    maxmin_landmarks,
    pca_residual_bound,
)
from tda_interp.homology.truncation import truncated_rips
from tda_interp.homology.views import ViewLike, apply_view, parse_view
from tda_interp.options.homology import DEFAULT_MEMORY_BUDGET, RipsOptions

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "check_cloud",
    "check_input",
    "compute_diagram",
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
        Wrong shape, NaN/Inf (unless dropped), fewer than 2 points, or all points identical
        (a constant cloud has no topology, and its diagram no scale).

    Warns
    -----
    TdaInterpWarning
        Dropped non-finite rows; duplicate points (counted; the diagram stays correct).

    Examples
    --------
    >>> check_cloud([[0, 0], [1, 0], [0, 1]]).dtype
    dtype('float64')
    """
    pts = np.asarray(X, dtype=np.float64)
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
    D = np.asarray(X, dtype=np.float64)
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
        landmarks, or a backend failure.

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
    """
    v = parse_view(view)
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
    subsampled = len(pts) < n_total
    viewed = pts if precomputed else apply_view(pts, v)
    metric = v.metric or options.metric
    n_view = len(viewed)
    n_feat = None if precomputed else int(viewed.shape[1])
    maxdim, budget = options.maxdim, options.memory_budget
    name = resolve_backend(options.backend, n_points=n_view, maxdim=maxdim, coeff=options.coeff)

    def cost_of(n: int) -> CostEstimate:
        return estimate_cost(n, maxdim=maxdim, n_features=n_feat, backend=name)

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
                f"{_fmt_bytes(budget)} (maxdim={maxdim}; with them the bound is "
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
    cost = cost_of(n_use)
    if cost.memory_bytes > budget or n_use < 2:
        raise HomologyError(_over_budget(exact_cost, cost, budget, n_view, maxdim))
    if n_use < n_view and lm is None:
        lm = maxmin_landmarks(viewed, n_use, seed=options.seed, metric=metric)  # type: ignore[arg-type]
    used = viewed[lm.indices] if lm is not None else viewed
    _warn_few_points(len(used), maxdim)
    D = used if precomputed else distance_matrix(used, metric=metric)  # type: ignore[arg-type]
    finite = D[np.isfinite(D)]
    scale = float(finite.max()) if finite.size else 0.0

    truncation = approx.mode == "bound" and lm is None and len(used) > 1
    if truncation:
        # no subset certifies the target (typical of high-dimensional noise): stop the
        # filtration short of the enclosing radius instead, where that noise does its work
        dgms, info = truncated_rips(
            D, float(approx.value or 0.0) * scale, maxdim=maxdim, backend=name, coeff=options.coeff
        )
    else:
        dgms = rips_from_distances(D, maxdim=maxdim, backend=name, coeff=options.coeff)

    if lm is not None:
        bound = lm.bottleneck_bound
        diam_lo = max(lm.diameter_lower, scale)  # the landmarks' diameter is a lower bound too
        certificate = Certificate(
            kind="landmarks",
            bound=None if subsampled else bound,
            bound_rel=None if subsampled else (0.0 if bound == 0.0 else bound / diam_lo),
            convention=BOUND_CONVENTION,
            n_landmarks=lm.n_landmarks,
            covering_radius=lm.covering_radius,
            covering_bound=lm.covering_bound,
            interleaving_bound=lm.interleaving_bound,
        )
        if fallback:
            _warn_landmarks(n_view, maxdim, exact_cost, budget, lm, bound / diam_lo)
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
        pca = pca_residual_bound(pts, v)
        raw_lo = max(diameter_bounds(pts, exact_max=0)[0], scale)  # projection shrinks distances
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


def _fmt_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def _over_budget(exact: CostEstimate, cost: CostEstimate, budget: int, n: int, maxdim: int) -> str:
    if cost.detail["n_points"] < 2:
        return (
            f"Not even 2 points fit in the memory budget of {_fmt_bytes(budget)} "
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
        f"estimated at {_fmt_bytes(cost.memory_bytes)} (about {cost.seconds:.3g} s), over the "
        f"memory budget of {_fmt_bytes(budget)}. About {fits} points fit: pass "
        f'approximation="landmarks:{fits}" (max-min landmarks, with a certified bound) or '
        '"auto", a larger memory_budget, or a smaller maxdim.'
    )


def _warn_landmarks(
    n: int, maxdim: int, exact: CostEstimate, budget: int, lm: Landmarks, rel: float
) -> None:
    warnings.warn(
        TdaInterpWarning(
            f"The exact diagram of {n} points (maxdim={maxdim}) is estimated at "
            f"{_fmt_bytes(exact.memory_bytes)}, over the memory budget of {_fmt_bytes(budget)}; "
            f"computed it on {lm.n_landmarks} max-min landmarks instead (covering radius "
            f"{lm.covering_radius:.4g}): bottleneck distance to the exact diagram <= "
            f"{lm.bottleneck_bound:.4g} ({rel:.1%} of the diameter). Pass memory_budget=... to "
            'change the budget, or approximation="exact" to refuse.',
            kind="auto-landmarks",
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
