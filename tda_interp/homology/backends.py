"""Vietoris-Rips persistence backends behind one function.

``ripser`` (ripser.py) is always available; ``giotto-ph`` is used where installed (it has no
wheels for Python 3.13 and later, so the code falls back to ripser there). Both receive a
precomputed float64 distance matrix from :func:`tda_interp.homology.distances.distance_matrix`.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tda_interp.exceptions import ConfigError, HomologyError

__all__ = ["Backend", "available_backends", "resolve_backend", "rips_from_distances"]

Backend = Literal["auto", "ripser", "giotto-ph"]
_KNOWN = ("ripser", "giotto-ph")


def available_backends() -> list[str]:
    """Backends importable here, in order of preference.

    Examples
    --------
    >>> "ripser" in available_backends()
    True
    """
    out = []
    if importlib.util.find_spec("gph") is not None:
        out.append("giotto-ph")
    out.append("ripser")
    return out


def resolve_backend(backend: str) -> str:
    """Turn ``"auto"`` into a concrete installed backend; check explicit names."""
    if backend == "auto":
        return available_backends()[0]
    if backend not in _KNOWN:
        raise ConfigError(f"Unknown backend {backend!r}; expected one of 'auto', {_KNOWN}.")
    if backend not in available_backends():
        raise HomologyError(
            f"Backend {backend!r} is not installed (giotto-ph has wheels for Python < 3.13 "
            "only); use backend='ripser' or 'auto'."
        )
    return backend


def rips_from_distances(
    D: NDArray[np.float64], *, maxdim: int = 1, backend: str = "auto", n_threads: int = 1
) -> list[NDArray[np.float64]]:
    """Vietoris-Rips persistence of a distance matrix.

    Parameters
    ----------
    D : ndarray of shape (n_points, n_points)
        Symmetric, zero diagonal, float64.
    maxdim : int, default 1
        Highest homology dimension.
    backend : {"auto", "ripser", "giotto-ph"}
    n_threads : int, default 1
        Threads for giotto-ph (ignored by ripser).

    Returns
    -------
    list of ndarray of shape (n_bars_k, 2), float64, for ``k = 0 .. maxdim``.
    """
    name = resolve_backend(backend)
    try:
        if name == "giotto-ph":
            from gph import ripser_parallel

            res = ripser_parallel(D, metric="precomputed", maxdim=maxdim, n_threads=n_threads)
        else:
            from ripser import ripser

            res = ripser(D, distance_matrix=True, maxdim=maxdim)
    except (MemoryError, RuntimeError, ValueError) as err:
        raise HomologyError(
            f"{name} failed on a {D.shape[0]}-point distance matrix (maxdim={maxdim}): {err}. "
            "Reduce the number of points (max_points) or maxdim."
        ) from err
    return [np.asarray(d, dtype=np.float64).reshape(-1, 2) for d in res["dgms"]]
