"""Point cloud -> persistence diagram, with validation, a recorded view and a cost guard.

Large clouds
------------
Before the filtration is built, :func:`tda_interp.homology.estimate.estimate_cost` estimates its
peak memory. Above ``memory_budget`` (default :data:`DEFAULT_MEMORY_BUDGET`) and with
``landmarks="auto"``, the diagram is computed on the largest set of max-min landmarks that fits
(:func:`tda_interp.homology.landmarks.maxmin_landmarks`), with a :class:`TdaInterpWarning`; the
diagram's ``meta`` then carries a certified bottleneck bound to the exact diagram. With
``landmarks="never"`` such a cloud raises :class:`HomologyError` instead.

Input checks
------------
Fewer than 2 points, NaN/Inf (unless dropped) and constant clouds (all points identical) raise
:class:`ActivationError`. Duplicate points warn (the diagram stays correct: a duplicate
merges at distance 0, a zero-length H0 bar that the backends leave out). Fewer than
``2 k + 2`` points warn for ``k = maxdim >= 1``: no flag complex on fewer vertices has a
nonzero H_k (the smallest is the boundary of the ``(k + 1)``-dimensional cross-polytope), so
H_maxdim comes back empty.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, ConfigError, HomologyError, TdaInterpWarning
from tda_interp.homology.backends import resolve_backend, rips_from_distances
from tda_interp.homology.distances import Metric, distance_matrix
from tda_interp.homology.estimate import (
    CostEstimate,
    estimate_cost,
    largest_affordable,
    parse_memory,
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
from tda_interp.homology.views import ViewLike, apply_view, parse_view

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "LandmarkPolicy",
    "check_cloud",
    "uniform_subsample",
    "vietoris_rips",
]

DEFAULT_MEMORY_BUDGET = "4GB"
LandmarkPolicy = Literal["auto", "never", "always"]


def uniform_subsample(
    pts: NDArray[np.float64], max_points: int | None, seed: int
) -> NDArray[np.float64]:
    """The seeded uniform subsample ``vietoris_rips`` takes when ``max_points`` is exceeded.

    Rows keep their order; the same ``(pts, max_points, seed)`` always gives the same rows.
    """
    if max_points is None or len(pts) <= max_points:
        return pts
    rng = np.random.default_rng(seed)
    return pts[np.sort(rng.choice(len(pts), size=max_points, replace=False))]


def _where(site: str | None, checkpoint: str | None) -> str:
    parts = []
    if site is not None:
        parts.append(f"layer {site!r}")
    if checkpoint is not None:
        parts.append(f"checkpoint {checkpoint!r}")
    return (" from " + ", ".join(parts)) if parts else ""


def check_cloud(
    X: ArrayLike,
    *,
    drop_nonfinite: bool = False,
    site: str | None = None,
    checkpoint: str | None = None,
) -> NDArray[np.float64]:
    """Validate a point cloud and return it as float64.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    drop_nonfinite : bool, default False
        Drop rows holding NaN or Inf (with a :class:`TdaInterpWarning` saying how many)
        instead of raising.
    site, checkpoint : str, optional
        Where the cloud came from, for messages.

    Returns
    -------
    ndarray of shape (n_kept, n_features)

    Raises
    ------
    ActivationError
        Wrong shape, NaN/Inf (unless ``drop_nonfinite``), fewer than 2 points, or all points
        identical (a constant cloud has no topology, and its diagram no scale).

    Warns
    -----
    TdaInterpWarning
        Dropped non-finite rows; duplicate points (counted; the diagram stays correct).

    Examples
    --------
    >>> check_cloud([[0, 0], [1, 0], [0, 1]]).dtype
    dtype('float64')
    """
    return _check_cloud(X, drop_nonfinite, site, checkpoint, stacklevel=3)


def _check_cloud(
    X: ArrayLike,
    drop_nonfinite: bool,
    site: str | None,
    checkpoint: str | None,
    *,
    stacklevel: int,
) -> NDArray[np.float64]:
    where = _where(site, checkpoint)
    pts = np.asarray(X, dtype=np.float64)
    if pts.ndim != 2:
        raise ActivationError(
            f"Expected a point cloud of shape (n_points, n_features){where}, got shape "
            f"{pts.shape}; reduce sequence outputs first (reduction='flatten' or 'mean')."
        )
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        if not drop_nonfinite:
            raise ActivationError(
                f"{int(bad.sum())} of {len(pts)} points{where} contain NaN or Inf (first at "
                f"row {int(np.flatnonzero(bad)[0])}); fix the model or pass "
                "drop_nonfinite=True to drop those points."
            )
        warnings.warn(
            f"Dropped {int(bad.sum())} of {len(pts)} points{where} that contain NaN or Inf.",
            TdaInterpWarning,
            stacklevel=stacklevel,
        )
        pts = pts[~bad]
    if len(pts) < 2:
        raise ActivationError(
            f"Expected at least 2 points{where} to compute persistence, got {len(pts)}; "
            "give more probe inputs."
        )
    n_distinct = _n_distinct_rows(pts)
    if n_distinct == 1:
        raise ActivationError(
            f"All {len(pts)} points{where} are identical (a constant cloud: a dead or saturated "
            "layer, or identical probe inputs); its diagram is empty and has no scale. Check "
            "the layer and the probe set, or leave this layer out."
        )
    if n_distinct < len(pts):
        warnings.warn(
            f"{len(pts) - n_distinct} of {len(pts)} points{where} duplicate another point "
            f"({n_distinct} distinct); each merges at distance 0 and changes no bar. "
            "Deduplicate the probe inputs if that is not intended.",
            TdaInterpWarning,
            stacklevel=stacklevel,
        )
    return pts


def _n_distinct_rows(pts: NDArray[np.float64]) -> int:
    """Number of distinct rows (``-0.0 == 0.0``), by sorting the rows' bytes."""
    rows = np.ascontiguousarray(pts + 0.0)  # + 0.0 turns -0.0 into 0.0
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
    return len(np.unique(keys.ravel()))


def vietoris_rips(
    X: ArrayLike,
    *,
    maxdim: int = 1,
    view: ViewLike = "raw",
    metric: Metric = "euclidean",
    backend: str = "auto",
    max_points: int | None = None,
    seed: int = 0,
    drop_nonfinite: bool = False,
    site: str | None = None,
    checkpoint: str | None = None,
    n_landmarks: int | None = None,
    memory_budget: int | str | None = None,
    landmarks: LandmarkPolicy = "auto",
    max_bound_rel: float | None = None,
) -> Diagram:
    """Vietoris-Rips persistence diagram of a point cloud, seen through a view.

    Exact unless the cloud is too big for ``memory_budget`` or ``n_landmarks`` is given; an
    approximate diagram carries a certified bottleneck bound in its ``meta``.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
        The activations, one row per point.
    maxdim : int, default 1
        Highest homology dimension (H0 .. H``maxdim``); 2 or 3 pass through to the backend
        (mind the cost: see :func:`tda_interp.homology.estimate.estimate_cost`).
    view : str, default "raw"
        See :mod:`tda_interp.homology.views` ("raw", "pca10", "pc1-2", ...).
    metric : {"euclidean", "cosine", "correlation", "abs_correlation"}, default "euclidean"
        A view that implies a distance (``"neurons"``: ``"abs_correlation"``) overrides it.
    backend : {"auto", "ripser", "giotto-ph"}, default "auto"
    max_points : int, optional
        Subsample this many points uniformly at random (seeded) when the cloud is larger; the
        diagram's ``meta`` records it. ``None`` keeps all points. Prefer ``n_landmarks``:
        max-min landmarks cover the cloud evenly and come with a bound; a uniform subsample has
        none (``meta["bottleneck_bound"]`` is then ``None``).
    seed : int, default 0
        Seed of the subsample and of the first landmark.
    drop_nonfinite : bool, default False
        Drop NaN/Inf rows with a warning instead of raising.
    site, checkpoint : str, optional
        Where the cloud came from, for error messages.
    n_landmarks : int, optional
        Compute the diagram of this many max-min landmarks of the viewed cloud instead of the
        whole cloud (exact when ``n_landmarks >= n_points``). ``None``: exact, unless the
        budget forces landmarks (``landmarks="auto"``).
    memory_budget : int or str, optional
        Largest estimated peak memory allowed, in bytes or as "4GB", "512MiB"...; ``None``
        means :data:`DEFAULT_MEMORY_BUDGET` ("4GB").
    landmarks : {"auto", "never", "always"}, default "auto"
        "auto": landmarks only when the exact computation is estimated over the budget (with
        a :class:`TdaInterpWarning` giving their number and the bound); "never": raise
        :class:`HomologyError` instead; "always": use the largest landmark set within the
        budget (or ``n_landmarks``) without warning.
    max_bound_rel : float, optional
        Certified-approximate mode: compute the diagram on the fewest max-min landmarks whose
        certified bottleneck bound is at most this fraction of the diameter (e.g. 0.05), found
        by :func:`tda_interp.homology.landmarks.landmarks_within`. When that takes every
        point, on all of them with the filtration stopped short of the enclosing radius by
        twice the target (:func:`tda_interp.homology.truncation.truncated_rips`; ``meta``
        then has ``truncated_at``, ``enclosing_radius``, ``truncation_bound`` and
        ``n_truncated``). :class:`HomologyError` when the landmarks needed do not fit
        ``memory_budget``.

    Returns
    -------
    Diagram
        Its ``scale`` is the diameter of the viewed cloud (of the landmarks, when
        approximate); ``meta`` holds the view, metric, backend, subsampling and:

        ``approximate`` (bool), ``n_landmarks`` (int or None), ``covering_radius``,
        ``bottleneck_bound`` (absolute; 0 when exact, None after a uniform ``max_points``
        subsample), ``bottleneck_bound_rel`` (over a certified lower bound of the viewed
        cloud's diameter), ``bound_convention``; with landmarks also the two bounds it is the
        smaller of, ``covering_bound`` (2 x covering radius) and ``interleaving_bound``
        (None above :data:`~tda_interp.homology.landmarks.REFINE_MAX_POINTS` points),
        ``max_bound_rel`` (as asked), ``pca_residual_bound`` and ``pca_residual_bound_rel``
        (PCA views with the euclidean metric: bottleneck bound between the view's diagram and
        the raw cloud's; otherwise None), ``cost_estimate`` (of the computation that ran).

    Raises
    ------
    ActivationError
        Bad input (see :func:`check_cloud`) or a view the cloud cannot give.
    HomologyError
        Estimated cost over ``memory_budget`` with ``landmarks="never"``, or a backend failure.
    ConfigError
        Bad option values.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    >>> dgm = vietoris_rips(np.c_[np.cos(t), np.sin(t)], backend="ripser")
    >>> int((dgm.lifetimes(1, relative=True) > 0.5).sum())
    1
    >>> t = np.linspace(0, 2 * np.pi, 1000, endpoint=False)
    >>> approx = vietoris_rips(np.c_[np.cos(t), np.sin(t)], n_landmarks=50, backend="ripser")
    >>> approx.meta["approximate"], approx.meta["bottleneck_bound"] < 0.3
    (True, True)
    """
    if isinstance(maxdim, bool) or not isinstance(maxdim, (int, np.integer)) or maxdim < 0:
        raise ActivationError(f"Expected maxdim >= 0, got {maxdim}.")
    if landmarks not in ("auto", "never", "always"):
        raise ConfigError(f"Unknown landmarks={landmarks!r}; expected 'auto', 'never' or 'always'.")
    if n_landmarks is not None and landmarks == "never":
        raise ConfigError(
            f"n_landmarks={n_landmarks} asks for landmarks but landmarks='never' forbids them; "
            "drop one of the two."
        )
    if n_landmarks is not None and (isinstance(n_landmarks, bool) or n_landmarks < 2):
        raise ConfigError(f"Expected n_landmarks >= 2, got {n_landmarks!r}.")
    if max_bound_rel is not None:
        if isinstance(max_bound_rel, bool) or not (
            isinstance(max_bound_rel, (int, float)) and max_bound_rel > 0
        ):
            raise ConfigError(f"Expected max_bound_rel > 0 (e.g. 0.05), got {max_bound_rel!r}.")
        if n_landmarks is not None or landmarks == "never":
            raise ConfigError(
                f"max_bound_rel={max_bound_rel} chooses the landmarks itself; drop "
                + ("n_landmarks" if n_landmarks is not None else "landmarks='never'")
                + " or max_bound_rel."
            )
    budget = parse_memory(DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget)
    where = _where(site, checkpoint)
    pts = _check_cloud(X, drop_nonfinite, site, checkpoint, stacklevel=4)
    n_total = len(pts)
    pts = uniform_subsample(pts, max_points, seed)
    subsampled = len(pts) < n_total
    try:
        viewed = apply_view(pts, view)
    except ActivationError as err:
        raise ActivationError(f"{err}{where}") from err
    n_view, n_feat = viewed.shape
    metric = parse_view(view).metric or metric  # type: ignore[assignment]
    name = resolve_backend(backend, n_points=n_view, maxdim=maxdim)

    exact_cost = estimate_cost(n_view, maxdim=maxdim, n_features=n_feat, backend=name)
    n_use = n_view
    lm: Landmarks | None = None
    if max_bound_rel is not None:
        fits = largest_affordable(
            budget, maxdim=maxdim, n_features=n_feat, backend=name, upper=n_view
        )
        lm = landmarks_within(
            viewed,
            float(max_bound_rel),
            seed=seed,
            metric=metric,
            max_landmarks=max(fits, 2),
            min_landmarks=2 * maxdim + 2,
        )
        if lm.bottleneck_bound_rel > max_bound_rel * (1.0 + 1e-9):  # reached the budget's cap
            raise HomologyError(
                f"A certified bound of {max_bound_rel:.3g} of the diameter{where} needs more "
                f"than the {lm.n_landmarks} landmarks that fit in the memory budget of "
                f"{_fmt_bytes(budget)} (maxdim={maxdim}; with them the bound is "
                f"{lm.bottleneck_bound_rel:.3g}). Raise memory_budget or max_bound_rel."
            )
        n_use = lm.n_landmarks
        if n_use >= n_view:
            lm = None
    elif n_landmarks is not None:
        n_use = min(int(n_landmarks), n_view)
    elif landmarks == "always" or (landmarks == "auto" and exact_cost.memory_bytes > budget):
        n_use = largest_affordable(
            budget, maxdim=maxdim, n_features=n_feat, backend=name, upper=n_view
        )
    cost = estimate_cost(n_use, maxdim=maxdim, n_features=n_feat, backend=name)
    if cost.memory_bytes > budget or n_use < 2:
        raise HomologyError(_over_budget(exact_cost, cost, budget, n_view, maxdim, where))

    meta: dict[str, Any] = {
        "view": parse_view(view).name,
        "metric": metric,
        "backend": name,
        "n_points_total": n_total,
        "subsampled": subsampled,
        "seed": seed,
        "approximate": subsampled,
        "n_landmarks": None,
        "covering_radius": 0.0,
        "bottleneck_bound": None if subsampled else 0.0,
        "bottleneck_bound_rel": None if subsampled else 0.0,
        "bound_convention": BOUND_CONVENTION,
        "max_bound_rel": max_bound_rel,
        "pca_residual_bound": None,
        "pca_residual_bound_rel": None,
        "cost_estimate": cost.to_dict(),
    }
    if n_use < n_view:
        if lm is None:
            lm = maxmin_landmarks(viewed, n_use, seed=seed, metric=metric)
        used = viewed[lm.indices]
    else:
        used = viewed
    _warn_few_points(len(used), maxdim, where)
    D = distance_matrix(used, metric=metric)
    scale = float(D.max())
    if max_bound_rel is not None and lm is None and len(used) > 1:
        # no subset certifies the target (typical of high-dimensional noise): stop the
        # filtration short of the enclosing radius instead, where that noise does its work
        dgms, info = truncated_rips(D, max_bound_rel * scale, maxdim=maxdim, backend=name)
        tb = info["truncation_bound"]
        meta.update(
            info,
            approximate=tb > 0.0,
            bottleneck_bound=None if subsampled else tb,
            bottleneck_bound_rel=None if subsampled else (0.0 if tb == 0.0 else tb / scale),
        )
    else:
        dgms = rips_from_distances(D, maxdim=maxdim, backend=name)
    if lm is not None:
        diam_lo = max(lm.diameter_lower, scale)  # the landmarks' diameter is a lower bound too
        bound = lm.bottleneck_bound
        rel = 0.0 if bound == 0.0 else bound / diam_lo
        meta.update(
            approximate=True,
            n_landmarks=lm.n_landmarks,
            covering_radius=lm.covering_radius,
            bottleneck_bound=None if subsampled else bound,
            bottleneck_bound_rel=None if subsampled else rel,
            landmark_bound=bound,
            landmark_bound_rel=rel,
            covering_bound=lm.covering_bound,
            interleaving_bound=lm.interleaving_bound,
            cost_estimate_exact=exact_cost.to_dict(),
        )
        if n_landmarks is None and max_bound_rel is None and landmarks == "auto":
            warnings.warn(
                f"The exact diagram of {n_view} points{where} (maxdim={maxdim}) is estimated "
                f"at {_fmt_bytes(exact_cost.memory_bytes)}, over the memory budget of "
                f"{_fmt_bytes(budget)}; computed it on {lm.n_landmarks} max-min landmarks "
                f"instead (covering radius {lm.covering_radius:.4g}): bottleneck distance to "
                f"the exact diagram <= {bound:.4g} ({rel:.1%} of the diameter). Pass "
                "memory_budget=... to change the budget, or landmarks='never' to refuse.",
                TdaInterpWarning,
                stacklevel=2,
            )
    v = parse_view(view)
    if v.kind == "pca" and metric == "euclidean":
        pca = pca_residual_bound(pts, v)
        raw_lo = max(diameter_bounds(pts, exact_max=0)[0], scale)  # projection shrinks distances
        meta["pca_residual_bound"] = pca
        meta["pca_residual_bound_rel"] = 0.0 if pca == 0.0 else pca / raw_lo
    return Diagram(pairs=tuple(dgms), scale=scale, n_points=len(used), meta=meta)


def _fmt_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def _over_budget(
    exact: CostEstimate, cost: CostEstimate, budget: int, n: int, maxdim: int, where: str
) -> str:
    if cost.detail["n_points"] < 2:
        return (
            f"Not even 2 points{where} fit in the memory budget of {_fmt_bytes(budget)} "
            f"(maxdim={maxdim}); raise memory_budget."
        )
    fits = largest_affordable(
        budget,
        maxdim=maxdim,
        n_features=exact.detail.get("n_features"),
        backend=cost.detail["backend"],
    )
    return (
        f"The diagram of {cost.detail['n_points']} points{where} (of {n}; maxdim={maxdim}) is "
        f"estimated at {_fmt_bytes(cost.memory_bytes)} (about {cost.seconds:.3g} s), over the "
        f"memory budget of {_fmt_bytes(budget)}. About {fits} points fit: pass "
        f"n_landmarks={fits} (max-min landmarks, with a certified bound), landmarks='auto', "
        "a larger memory_budget, or a smaller maxdim."
    )


def _warn_few_points(n: int, maxdim: int, where: str) -> None:
    if maxdim >= 1 and n < 2 * maxdim + 2:
        warnings.warn(
            f"{n} points{where} cannot carry H{maxdim} (a nonzero H_k needs at least 2k + 2 "
            f"= {2 * maxdim + 2} points); H{maxdim} will be empty. Give more points or lower "
            "maxdim.",
            TdaInterpWarning,
            stacklevel=3,
        )
