"""Distance matrices built and checked the way the persistence backends need them.

Float64 throughout (the Gram trick in float32 was off by up to 0.035 on activation-like data),
exactly symmetric, exactly zero on the diagonal. Two traps make "nearly" not good enough:

- ripser.py reads a nonzero diagonal entry as the birth time of that vertex: the diagram changes
  silently (and the computation slows down).
- gudhi's ``input_type="full distance matrix"`` returned wrong diagrams on a matrix off-symmetric
  by 4e-16 (a circle's main H1 bar vanished; on a Gaussian cloud memory grew past 16 GB).

:func:`distance_matrix` builds such a matrix from points; :func:`check_distance_matrix` is the one
place where a matrix from elsewhere is checked and repaired before any backend sees it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.distance import pdist, squareform

from tda_interp.exceptions import ActivationError

__all__ = ["SYMMETRY_RTOL", "Metric", "check_distance_matrix", "distance_matrix"]

#: Metrics of points (``"precomputed"`` is handled before any of them: the input is ``D``).
Metric = Literal["euclidean", "cosine", "correlation", "abs_correlation"]

#: Relative tolerance (to the largest finite distance) for asymmetry, nonzero diagonal entries
#: and negative entries treated as round-off and repaired. It covers float32 round-off (a
#: float32 ``torch.cdist`` is asymmetric by about 6e-8 relative); since Vietoris-Rips diagrams
#: move by at most the sup-norm change of the matrix, the repair moves no bar by more than this
#: fraction of the diameter.
SYMMETRY_RTOL = 1e-6


def distance_matrix(X: ArrayLike, metric: Metric = "euclidean") -> NDArray[np.float64]:
    """Pairwise distances of the rows of ``X``.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    metric : {"euclidean", "cosine", "correlation", "abs_correlation"}, default "euclidean"
        ``"abs_correlation"`` is ``1 - |correlation|``: rows that rise and fall together or in
        opposition are close (the distance of the ``"neurons"`` view).

    Returns
    -------
    ndarray of shape (n_points, n_points)
        Float64, symmetric, zero diagonal, no NaN (cosine/correlation distances of constant or
        zero rows, undefined, are set to 0 against identical rows and 1 otherwise).

    Examples
    --------
    >>> distance_matrix([[0.0, 0.0], [3.0, 4.0]])
    array([[0., 5.],
           [5., 0.]])
    >>> distance_matrix([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], "abs_correlation").round(12)
    array([[0., 0.],
           [0., 0.]])
    """
    pts = np.asarray(X, dtype=np.float64)
    if metric == "abs_correlation":
        with np.errstate(invalid="ignore", divide="ignore"):
            condensed = 1.0 - np.abs(1.0 - pdist(pts, metric="correlation"))
    else:
        condensed = pdist(pts, metric=metric)
    if metric != "euclidean":
        bad = ~np.isfinite(condensed)
        if bad.any():
            i, j = np.triu_indices(len(pts), k=1)
            same = np.all(pts[i[bad]] == pts[j[bad]], axis=1)
            condensed[bad] = np.where(same, 0.0, 1.0)
        np.clip(condensed, 0.0, None, out=condensed)
    D: NDArray[np.float64] = squareform(condensed, checks=False)
    return D


def _first(mask: NDArray[np.bool_]) -> tuple[int, int]:
    i, j = np.argwhere(mask)[0]
    return int(i), int(j)


def check_distance_matrix(D: ArrayLike, *, rtol: float = SYMMETRY_RTOL) -> NDArray[np.float64]:
    """Check a distance matrix and return it exactly symmetric with an exactly zero diagonal.

    This is the one place where matrices are validated before a persistence backend sees them.

    Parameters
    ----------
    D : array-like of shape (n_points, n_points)
        Pairwise distances. Off-diagonal entries are finite and non-negative, or ``+inf`` for
        "never connected".
    rtol : float, default :data:`SYMMETRY_RTOL` (1e-6)
        Round-off allowance, relative to the largest finite entry: ``|D[i, j] - D[j, i]|``,
        ``|D[i, i]|`` and negative entries within it are repaired, beyond it refused.

    Returns
    -------
    ndarray of shape (n_points, n_points)
        Float64, C-contiguous, exactly symmetric (taken from the lower triangle), zero diagonal,
        no negative entry. The input itself is returned when it already is all that.

    Raises
    ------
    ActivationError
        Not square, NaN or ``-inf`` entries, asymmetric, nonzero diagonal or negative entries
        beyond ``rtol``; the message names the first offending entry and the fix.

    Examples
    --------
    >>> D = np.array([[0.0, 1.0], [1.0 + 1e-16, 0.0]])
    >>> check_distance_matrix(D)
    array([[0., 1.],
           [1., 0.]])
    """
    try:
        M = np.ascontiguousarray(D, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ActivationError(
            f"Expected a numeric distance matrix, got {type(D).__name__}: {err}."
        ) from err
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ActivationError(
            f"Expected a square distance matrix of shape (n_points, n_points), got shape "
            f"{M.shape}; pass distance_matrix(X) for a point cloud X."
        )
    if len(M) == 0:
        raise ActivationError("Expected a distance matrix of at least 1 point, got 0 points.")
    nan = np.isnan(M)
    if nan.any():
        i, j = _first(nan)
        raise ActivationError(
            f"The distance matrix holds {int(nan.sum())} NaN entries (first at D[{i}, {j}]); "
            "fix the distances (NaN or Inf activations?) before computing persistence."
        )
    finite = np.isfinite(M)
    scale = float(np.abs(M[finite]).max()) if finite.any() else 0.0
    tol = rtol * scale
    limits = f"round-off allowed up to rtol={rtol:g} of the largest finite distance {scale:.6g}"

    diag = np.diagonal(M)
    if not (np.abs(diag) <= tol).all():
        i = int(np.argmax(np.where(np.isfinite(diag), np.abs(diag), np.inf)))
        raise ActivationError(
            f"Expected a zero diagonal, got D[{i}, {i}] = {float(diag[i]):.6g} ({limits}); "
            "ripser.py would silently read it as the birth "
            f"time of point {i}. Set np.fill_diagonal(D, 0.0) if d(x, x) = 0 was meant."
        )
    neg = M < -tol
    if neg.any():
        i, j = _first(neg)
        raise ActivationError(
            f"Expected non-negative distances, got D[{i}, {j}] = {float(M[i, j]):.6g} "
            f"({limits}); distances cannot be negative: check how the matrix was computed."
        )

    with np.errstate(invalid="ignore"):
        gap = np.abs(M - M.T)
    both_inf = np.isinf(M) & np.isinf(M.T)
    gap[both_inf] = 0.0  # inf - inf; a finite/inf mismatch stays inf
    worst = float(gap.max())
    if worst > tol:
        i, j = _first(gap == worst)
        raise ActivationError(
            f"Expected a symmetric distance matrix, got |D[{i}, {j}] - D[{j}, {i}]| = "
            f"{worst:.3g} ({limits}). "
            "Fix how the distances are computed, or pass (D + D.T) / 2 if averaging the two "
            "triangles is what you mean."
        )
    if worst == 0.0 and not diag.any() and not (M < 0).any():
        return M
    lower = np.tril(np.maximum(M, 0.0), k=-1)
    out: NDArray[np.float64] = lower + lower.T
    return out
