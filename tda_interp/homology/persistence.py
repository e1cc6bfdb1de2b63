"""Point cloud -> persistence diagram, with validation and a recorded view."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, TdaInterpWarning
from tda_interp.homology.backends import resolve_backend, rips_from_distances
from tda_interp.homology.distances import Metric, distance_matrix
from tda_interp.homology.views import apply_view

__all__ = ["check_cloud", "vietoris_rips"]


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
    """
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
            stacklevel=3,
        )
        pts = pts[~bad]
    if len(pts) < 2:
        raise ActivationError(
            f"Expected at least 2 points{where} to compute persistence, got {len(pts)}; "
            "give more probe inputs."
        )
    return pts


def vietoris_rips(
    X: ArrayLike,
    *,
    maxdim: int = 1,
    view: str = "raw",
    metric: Metric = "euclidean",
    backend: str = "auto",
    max_points: int | None = None,
    seed: int = 0,
    drop_nonfinite: bool = False,
    site: str | None = None,
    checkpoint: str | None = None,
) -> Diagram:
    """Vietoris-Rips persistence diagram of a point cloud, seen through a view.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
        The activations, one row per point.
    maxdim : int, default 1
        Highest homology dimension (H0 .. H``maxdim``).
    view : str, default "raw"
        See :mod:`tda_interp.homology.views` ("raw", "pca10", "pc1-2", ...).
    metric : {"euclidean", "cosine", "correlation"}, default "euclidean"
    backend : {"auto", "ripser", "giotto-ph"}, default "auto"
    max_points : int, optional
        Subsample this many points uniformly at random (seeded) when the cloud is larger; the
        diagram's ``meta`` records it. ``None`` keeps all points.
    seed : int, default 0
        Seed of the subsample.
    drop_nonfinite : bool, default False
        Drop NaN/Inf rows with a warning instead of raising.
    site, checkpoint : str, optional
        Where the cloud came from, for error messages.

    Returns
    -------
    Diagram
        Its ``scale`` is the diameter of the viewed cloud; ``meta`` holds the view, metric,
        backend and subsampling.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    >>> dgm = vietoris_rips(np.c_[np.cos(t), np.sin(t)], backend="ripser")
    >>> int((dgm.lifetimes(1, relative=True) > 0.5).sum())
    1
    """
    if maxdim < 0:
        raise ActivationError(f"Expected maxdim >= 0, got {maxdim}.")
    pts = check_cloud(X, drop_nonfinite=drop_nonfinite, site=site, checkpoint=checkpoint)
    n_total = len(pts)
    if max_points is not None and n_total > max_points:
        rng = np.random.default_rng(seed)
        pts = pts[np.sort(rng.choice(n_total, size=max_points, replace=False))]
    try:
        viewed = apply_view(pts, view)
    except ActivationError as err:
        raise ActivationError(f"{err}{_where(site, checkpoint)}") from err
    D = distance_matrix(viewed, metric=metric)
    name = resolve_backend(backend)
    dgms = rips_from_distances(D, maxdim=maxdim, backend=name)
    meta: dict[str, Any] = {
        "view": view,
        "metric": metric,
        "backend": name,
        "n_points_total": n_total,
        "subsampled": len(pts) < n_total,
        "seed": seed,
    }
    return Diagram(pairs=tuple(dgms), scale=float(D.max()), n_points=len(pts), meta=meta)
