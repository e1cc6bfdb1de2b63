"""Memory and time of a Vietoris-Rips computation, estimated before running it.

Order-of-magnitude estimates only. They are power laws ``c * n**p`` fitted (log-log least
squares) to peak resident memory and wall time of :func:`tda_interp.homology.vietoris_rips`'s
distance matrix + backend call, measured on a 2-core shared x86 machine on a *noisy circle*
(``n`` uniform angles, Gaussian noise of sd 0.1 around the unit circle in R^2): a dense annulus,
about the worst case for ripser's H1 (many short, overlapping H1 classes). Clouds with clear
structure (well-separated clusters, clean manifolds) usually cost less; the estimate is meant
to stop a computation that would exhaust memory, not to predict it to the second. Beyond
``maxdim = 2`` nothing was calibrated: each extra dimension multiplies the H2 law by
``n / 10`` (one more vertex per simplex), an admittedly rough guess.

The calibration points are kept in :data:`CALIBRATION` so they can be re-measured and refitted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tda_interp.diagrams.provenance import CostEstimate
from tda_interp.exceptions import ConfigError
from tda_interp.options.homology import parse_memory

__all__ = ["CALIBRATION", "CostEstimate", "estimate_cost", "largest_affordable", "parse_memory"]

# (backend, maxdim, n_points, seconds, peak_bytes) measured on noisy circles (see docstring)
CALIBRATION: tuple[tuple[str, int, int, float, float], ...] = (
    ("ripser", 0, 400, 0.17, 1.14e7),
    ("ripser", 0, 1000, 0.958, 6.74e7),
    ("ripser", 0, 2000, 4.0, 2.64e8),
    ("ripser", 1, 200, 0.0718, 6.55e6),
    ("ripser", 1, 400, 0.328, 3.21e7),
    ("ripser", 1, 800, 4.06, 1.94e8),
    ("ripser", 1, 1200, 12.6, 3.91e8),
    ("ripser", 1, 1600, 162.0, 1.32e9),
    ("ripser", 2, 60, 0.0845, 1.7e6),
    ("ripser", 2, 100, 0.366, 7.86e6),
    ("ripser", 2, 150, 1.36, 2.18e7),
    ("ripser", 2, 200, 2.79, 5.71e7),
    ("ripser", 2, 250, 6.78, 1.11e8),
    ("giotto-ph", 0, 400, 0.0755, 4.84e6),
    ("giotto-ph", 0, 1000, 0.297, 2.88e7),
    ("giotto-ph", 0, 2000, 0.664, 1.2e8),
    ("giotto-ph", 1, 200, 0.0634, 4.33e6),
    ("giotto-ph", 1, 400, 0.537, 2.38e7),
    ("giotto-ph", 1, 800, 3.04, 1.59e8),
    ("giotto-ph", 1, 1200, 32.9, 3.23e8),
    ("giotto-ph", 1, 1600, 128.0, 1.17e9),
    ("giotto-ph", 2, 60, 0.0159, 2.62e5),
    ("giotto-ph", 2, 100, 0.143, 6.55e5),
    ("giotto-ph", 2, 150, 0.114, 1.7e6),
    ("giotto-ph", 2, 200, 1.38, 4.33e6),
    ("giotto-ph", 2, 250, 1.04, 6.29e6),
)

_EXTRA_DIM_FACTOR_DIVISOR = 10.0


def _fit(backend: str, maxdim: int, column: int, last: int) -> tuple[float, float]:
    """Least-squares ``log y = log c + p log n`` over the ``last`` largest calibrated sizes."""
    rows = [r for r in CALIBRATION if r[0] == backend and r[1] == maxdim]
    rows = sorted(rows, key=lambda r: r[2])[-last:]
    logn = np.log([r[2] for r in rows])
    logy = np.log([r[column] for r in rows])
    p, logc = np.polyfit(logn, logy, 1)
    return float(math.exp(logc)), float(p)


_LAWS: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}


def _law(backend: str, maxdim: int) -> dict[str, tuple[float, float]]:
    key = (backend, maxdim)
    if key not in _LAWS:
        # memory: the three largest sizes (they predict large sizes best, and memory is a
        # clean measurement); time: all sizes (timings on a shared machine are noisy)
        _LAWS[key] = {
            "seconds": _fit(backend, maxdim, 3, last=len(CALIBRATION)),
            "bytes": _fit(backend, maxdim, 4, last=3),
        }
    return _LAWS[key]


def estimate_cost(
    n_points: int,
    *,
    maxdim: int = 1,
    n_features: int | None = None,
    backend: str = "ripser",
) -> CostEstimate:
    """Estimate the peak memory and time of a Vietoris-Rips diagram before computing it.

    An order-of-magnitude estimate calibrated on worst-case-like data (a noisy circle, see the
    module docstring). Never smaller than what the float64 distance matrices need:
    ``12 n**2`` bytes (condensed + square form) plus ``8 n d`` for the points. The measured
    laws include the distance matrix; the larger of the two is taken.

    Parameters
    ----------
    n_points : int
        Points that go into the filtration.
    maxdim : int, default 1
        Highest homology dimension.
    n_features : int, optional
        Dimension of the points; adds the distance computation's memory and time.
    backend : str, default "ripser"
        "ripser" or "giotto-ph"; any other name (``"auto"``, a backend not calibrated) is
        estimated as ripser, the more expensive of the two measured.

    Returns
    -------
    CostEstimate

    Examples
    --------
    >>> est = estimate_cost(4000, maxdim=1)
    >>> est.memory_bytes > 8 * 4000**2
    True
    >>> estimate_cost(100).seconds < 1
    True
    """
    n = int(n_points)
    if n < 0:
        raise ConfigError(f"Expected n_points >= 0, got {n_points}.")
    if maxdim < 0:
        raise ConfigError(f"Expected maxdim >= 0, got {maxdim}.")
    # uncalibrated backends (and "auto") are estimated as ripser, the costlier one measured
    name = backend if backend == "giotto-ph" else "ripser"
    d = 0 if n_features is None else int(n_features)
    matrix_bytes = 12 * n * n + 8 * n * d
    distance_seconds = 1.5e-9 * n * n * max(d, 1) / 2
    base = min(maxdim, 2)  # calibrated up to H2; above, see the module docstring
    fit = _law(name, base)
    (cs, ps), (cb, pb) = fit["seconds"], fit["bytes"]
    backend_bytes = cb * n**pb
    backend_seconds = cs * n**ps
    extra = maxdim - base
    if extra > 0:
        factor = max(1.0, n / _EXTRA_DIM_FACTOR_DIVISOR) ** extra
        backend_bytes *= factor
        backend_seconds *= factor
    law = {
        "model": f"H{base} law {cb:.3g} n^{pb:.2f} bytes, {cs:.3g} n^{ps:.2f} s"
        + (f", times (n/10)^{extra} for maxdim {maxdim}" if extra > 0 else ""),
    }
    memory = int(max(matrix_bytes, backend_bytes) + 8 * n * d)
    return CostEstimate(
        memory_bytes=memory,
        seconds=float(distance_seconds + backend_seconds),
        detail={
            "n_points": n,
            "n_features": n_features,
            "maxdim": int(maxdim),
            "backend": backend,
            "estimated_as": name,
            "distance_matrix_bytes": int(matrix_bytes),
            "backend_bytes": int(backend_bytes),
            "calibrated_on": "noisy circle (sd 0.1) in R^2, 2-core x86; order of magnitude",
            **law,
        },
    )


def largest_affordable(
    budget_bytes: int,
    *,
    maxdim: int = 1,
    n_features: int | None = None,
    backend: str = "ripser",
    upper: int | None = None,
) -> int:
    """Largest number of points whose :func:`estimate_cost` fits in ``budget_bytes``.

    Parameters
    ----------
    budget_bytes : int
    maxdim, n_features, backend
        As in :func:`estimate_cost`.
    upper : int, optional
        Never return more than this (the size of the cloud).

    Returns
    -------
    int
        0 when not even 2 points fit.

    Examples
    --------
    >>> m = largest_affordable(parse_memory("1GB"))
    >>> estimate_cost(m).memory_bytes <= 10**9 < estimate_cost(m + 1).memory_bytes
    True
    """
    kwargs: dict[str, Any] = {"maxdim": maxdim, "n_features": n_features, "backend": backend}
    lo, hi = 1, 2
    cap = upper if upper is not None else 10**9
    while hi <= cap and estimate_cost(hi, **kwargs).memory_bytes <= budget_bytes:
        lo, hi = hi, hi * 2
    hi = min(hi, cap + 1)
    while hi - lo > 1:  # invariant: lo fits (or is 1), hi does not (or exceeds the cap)
        mid = (lo + hi) // 2
        if estimate_cost(mid, **kwargs).memory_bytes <= budget_bytes:
            lo = mid
        else:
            hi = mid
    return lo if lo >= 2 and estimate_cost(lo, **kwargs).memory_bytes <= budget_bytes else 0
