"""Vietoris-Rips persistence backends behind one function.

Three interchangeable backends compute the same diagrams from a precomputed distance matrix:

==========  =================================  ==========  =====================  ==========
name        call                               precision   coefficients (prime)   threads
==========  =================================  ==========  =====================  ==========
gudhi       gudhi.sklearn.RipsPersistence,     float64     2 .. 65521             no
            input_type="lower distance matrix"
giotto-ph   gph.ripser_parallel,               float32     2 .. 127               n_threads
            metric="precomputed"
ripser      ripser.ripser,                     float32     2 .. 127               no
            distance_matrix=True
==========  =================================  ==========  =====================  ==========

Every matrix goes through :func:`~tda_interp.homology.distances.check_distance_matrix` first
(exactly symmetric, zero diagonal), which defuses two traps: ripser.py reads a nonzero diagonal as
vertex birth times, and gudhi's ``"full distance matrix"`` input gave wrong diagrams on matrices
off-symmetric by 4e-16 (gudhi is therefore only ever given the lower triangle). The coefficient
limits were measured here: ripser.py 0.6.15 and giotto-ph 0.2.4 hang for primes from 131 on and
giotto-ph returned a wrong diagram for 223; ripser.py also accepts non-primes without complaint.
giotto-ph has no wheels for Python >= 3.13 and is then simply not available. giotto-ph's
``collapse_edges=True`` made every measured case slower and is never used.

Output, the same for all backends: a list of float64 ``(n_bars, 2)`` arrays of (birth, death) for
dimensions ``0 .. maxdim``, sorted by birth then death, without zero-length bars (so duplicate
points give fewer than ``n_points`` H0 bars). ripser and giotto-ph reduce in float32, so their
values are the float64 distances rounded to float32 (relative error <= 6e-8); gudhi's are exact.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.exceptions import ConfigError, HomologyError
from tda_interp.homology.distances import check_distance_matrix
from tda_interp.options.homology import MAX_MAXDIM, Backend

__all__ = [
    "MAX_COEFF",
    "MAX_MAXDIM",
    "Backend",
    "auto_backend",
    "available_backends",
    "representative_cocycles",
    "resolve_backend",
    "rips_from_distances",
]

#: Concrete backends in order of preference (see :func:`auto_backend` for the measurements).
_KNOWN = ("gudhi", "giotto-ph", "ripser")
# gudhi's Ripser fork (behind RipsPersistence) lives in gudhi._ripser_ext; older gudhi lacks it
_MODULE = {"gudhi": "gudhi._ripser_ext", "giotto-ph": "gph", "ripser": "ripser"}

#: Largest prime coefficient field each backend computes correctly (measured, see module doc).
MAX_COEFF = {"gudhi": 65521, "giotto-ph": 127, "ripser": 127}

FloatArray = NDArray[np.float64]


def _importable(name: str) -> bool:
    """Whether the module behind backend ``name`` can be found (monkeypatched in tests)."""
    return importlib.util.find_spec(_MODULE[name]) is not None


def available_backends() -> list[str]:
    """Backends importable here, in order of preference.

    Returns
    -------
    list of str
        A sub-sequence of ``["gudhi", "giotto-ph", "ripser"]``; ``"auto"`` without size
        information resolves to its first element.

    Examples
    --------
    >>> "ripser" in available_backends()
    True
    """
    return [name for name in _KNOWN if _importable(name)]


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % q for q in range(2, math.isqrt(p) + 1))


def _check_options(maxdim: int, coeff: int, threshold: float, n_threads: int) -> None:
    if isinstance(maxdim, bool) or not isinstance(maxdim, int | np.integer):
        raise ConfigError(f"Expected an integer maxdim, got {maxdim!r}.")
    if not 0 <= maxdim <= MAX_MAXDIM:
        raise ConfigError(
            f"Expected 0 <= maxdim <= {MAX_MAXDIM}, got {maxdim}; H{MAX_MAXDIM} is already far "
            "beyond what fits in time and memory for more than a few hundred points."
        )
    if isinstance(coeff, bool) or not isinstance(coeff, int | np.integer) or not _is_prime(coeff):
        raise ConfigError(
            f"Expected a prime coefficient field coeff (2, 3, 5, ...), got {coeff!r}; "
            "homology with non-prime coefficients is not a vector space and no backend "
            "computes it."
        )
    if math.isnan(threshold) or threshold < 0:
        raise ConfigError(
            f"Expected threshold >= 0 (largest edge length) or inf, got {threshold!r}."
        )
    if isinstance(n_threads, bool) or not isinstance(n_threads, int | np.integer) or n_threads < 1:
        raise ConfigError(f"Expected n_threads >= 1, got {n_threads!r}.")


def auto_backend(
    n_points: int | None,
    *,
    maxdim: int = 1,
    coeff: int = 2,
    n_threads: int = 1,
    available: list[str] | None = None,
) -> str:
    """The backend ``"auto"`` picks: a fixed, deterministic rule.

    Rule (first match wins, among the installed backends):

    1. ``coeff > 127``: gudhi, the only backend correct there.
    2. ``n_threads >= 2`` and at least 150 points: giotto-ph, the only backend that uses several
       threads (below 150 points every backend takes well under 0.1 s and thread start-up
       dominates).
    3. Otherwise gudhi, then giotto-ph, then ripser (the order of :func:`available_backends`).

    Python >= 3.13 enters through ``available``: giotto-ph is not installable there.

    Measurements behind it (this 2-core machine, shared with other jobs, so +-30 % and more;
    seconds, one run, or the best of two where marked *; circles and flat tori embedded in 64
    and 128 dimensions, Gaussian noise in 384; gudhi includes its edge collapse for H2)::

        cloud            n    maxdim  ripser  giotto-ph 1t  giotto-ph 2t  gudhi
        circle, 64-d     300  1        0.89     0.58          0.57         0.52
        circle, 64-d     400  1        0.82     0.49          0.47         0.47
        circle, 64-d     600  1        4.55     3.20          3.12         2.25
        circle, 64-d     800  1          -     19.89*        16.38*       16.86*
        torus, 128-d     400  1        0.78     0.43          0.43         0.50
        torus, 128-d     600  1        4.31     2.75          2.63         2.41
        Gaussian, 384-d  400  1        0.20     0.13          0.11         0.11
        Gaussian, 384-d  600  1        0.43     0.25          0.25         0.28
        Gaussian, 384-d  800  1          -      1.52*         1.63*        1.44*
        circle, 64-d     200  2        5.71     1.44          1.25         0.59
        torus, 128-d     150  2        0.54     0.20          0.10         0.25
        torus, 128-d     250  2       14.62     1.14*         1.18*        2.51*
        Gaussian, 384-d  120  2        0.17     0.06          0.06         0.05
        Gaussian, 384-d  200  2        6.41     0.68*         0.52*        0.58*

    gudhi and giotto-ph are within noise of each other on H1, gudhi ahead on the larger
    circles and tori; on H2 each wins some (gudhi 2.4x on the circle, giotto-ph 2.2x on the
    torus), ripser.py is 2-20x slower everywhere. The second thread of giotto-ph paid little on
    this loaded machine; it is chosen when asked for, where threads are free.

    An earlier measurement at 1,000 points (ripser.py 23 s on a noisy 64-d circle, 2.6 s on a
    128-d torus, 3.3 s on 768-d noise; giotto-ph with one thread 9.2, 1.2, 1.2 s) found gudhi
    fastest on circles and tori (1.7-1.9x ripser.py) and giotto-ph with 2 threads on
    high-dimensional noise. ripser.py is never the fastest; it stays as the reference and for
    :func:`representative_cocycles`.

    Parameters
    ----------
    n_points : int or None
        Size of the cloud; ``None`` (unknown) skips the size-dependent rule.
    maxdim, coeff, n_threads : int
        As in :func:`rips_from_distances`.
    available : list of str, optional
        Installed backends; default :func:`available_backends`.

    Returns
    -------
    str
        A backend name from ``available``.

    Raises
    ------
    HomologyError
        No installed backend supports ``coeff``.

    Examples
    --------
    >>> auto_backend(500, maxdim=1, available=["giotto-ph", "ripser"])
    'giotto-ph'
    >>> auto_backend(500, maxdim=2, n_threads=2, available=["gudhi", "giotto-ph", "ripser"])
    'giotto-ph'
    """
    avail = list(available_backends() if available is None else available)
    ok = [name for name in _KNOWN if name in avail and coeff <= MAX_COEFF[name]]
    if not ok:
        raise HomologyError(
            f"No installed backend computes with coeff={coeff} (installed: {avail}; limits: "
            f"{MAX_COEFF}); install gudhi or use a smaller prime."
        )
    if n_threads >= 2 and (n_points or 0) >= 150 and "giotto-ph" in ok:
        return "giotto-ph"
    return ok[0]


def resolve_backend(
    backend: str,
    *,
    n_points: int | None = None,
    maxdim: int = 1,
    coeff: int = 2,
    n_threads: int = 1,
) -> str:
    """Turn ``"auto"`` into a concrete installed backend; check explicit names.

    Parameters
    ----------
    backend : {"auto", "gudhi", "giotto-ph", "ripser"}
    n_points, maxdim, coeff, n_threads : optional
        What the computation will be, for the ``"auto"`` rule (:func:`auto_backend`) and for
        checking that an explicit backend supports ``coeff``. Without ``n_points``, ``"auto"``
        gives the first of :func:`available_backends` that supports ``coeff``.

    Returns
    -------
    str
        One of ``"gudhi"``, ``"giotto-ph"``, ``"ripser"``.

    Raises
    ------
    ConfigError
        Unknown name, or a coefficient the named backend does not compute correctly.
    HomologyError
        The named backend is not installed.

    Examples
    --------
    >>> resolve_backend("ripser")
    'ripser'
    """
    if backend == "auto":
        return auto_backend(n_points, maxdim=maxdim, coeff=coeff, n_threads=n_threads)
    if backend not in _KNOWN:
        raise ConfigError(
            f"Unknown backend {backend!r}; expected one of 'auto', "
            f"{', '.join(repr(k) for k in _KNOWN)}."
        )
    if not _importable(backend):
        raise HomologyError(
            f"Backend {backend!r} is not installed (module {_MODULE[backend]!r} not found; "
            "giotto-ph has wheels for Python < 3.13 only); use backend='auto' or one of "
            f"{available_backends()}."
        )
    if coeff > MAX_COEFF[backend]:
        raise ConfigError(
            f"Backend {backend!r} computes with prime coefficients up to "
            f"{MAX_COEFF[backend]} only (larger ones hang or give wrong diagrams), got "
            f"coeff={coeff}; use backend='gudhi' (primes up to {MAX_COEFF['gudhi']})."
        )
    return backend


def _prepare(D: ArrayLike, threshold: float) -> tuple[FloatArray, float]:
    """Validated matrix with ``+inf`` entries replaced, and the effective threshold.

    An infinite entry is an edge that never enters the filtration; it is replaced by a finite
    value above the threshold (the backends treat ``inf`` inconsistently), with the threshold
    lowered to the largest finite distance if it was above.
    """
    M = check_distance_matrix(D)
    inf = np.isinf(M)
    if inf.any():
        finite_max = float(M[~inf].max())
        threshold = min(threshold, finite_max)
        M = np.where(inf, 2.0 * finite_max if finite_max > 0 else 1.0, M)
    return M, threshold


def _tidy(dgms: list[Any], maxdim: int) -> list[FloatArray]:
    out = []
    for k in range(maxdim + 1):
        arr = np.asarray(dgms[k] if k < len(dgms) else [], dtype=np.float64).reshape(-1, 2)
        arr = arr[arr[:, 1] > arr[:, 0]]
        out.append(np.ascontiguousarray(arr[np.lexsort((arr[:, 1], arr[:, 0]))]))
    return out


def rips_from_distances(
    D: ArrayLike,
    *,
    maxdim: int = 1,
    backend: str = "auto",
    n_threads: int = 1,
    coeff: int = 2,
    threshold: float = np.inf,
) -> list[FloatArray]:
    """Vietoris-Rips persistence of a distance matrix.

    Parameters
    ----------
    D : array-like of shape (n_points, n_points)
        Distances: checked and repaired by
        :func:`~tda_interp.homology.distances.check_distance_matrix` (asymmetry, diagonal and
        negative entries within 1e-6 of the largest distance are round-off; beyond that an
        :class:`~tda_interp.exceptions.ActivationError`). ``+inf`` means "never connected".
    maxdim : int, default 1
        Highest homology dimension, 0 to 3.
    backend : {"auto", "gudhi", "giotto-ph", "ripser"}, default "auto"
        ``"auto"`` applies :func:`auto_backend` to this matrix's size and these options.
    n_threads : int, default 1
        Threads for giotto-ph; gudhi and ripser use one.
    coeff : int, default 2
        Prime coefficient field: up to 127 for ripser and giotto-ph, 65521 for gudhi.
    threshold : float, default inf
        Largest edge length in the filtration (edges with ``d <= threshold`` enter; the
        comparison happens in the backend's precision, float32 for ripser and giotto-ph).

    Returns
    -------
    list of ndarray of shape (n_bars_k, 2)
        Float64 (birth, death) for ``k = 0 .. maxdim``, sorted by birth then death, no
        zero-length bars.

    Notes
    -----
    Infinite bars. With the default ``threshold=inf`` the filtration runs until the complex is
    a cone, so exactly one bar is infinite: the H0 class of the whole cloud. A finite
    ``threshold`` truncates the filtration, and every class still alive at the threshold gets
    ``death = inf``: one infinite H0 bar per connected component of the graph
    ``{d <= threshold}``, and possibly infinite bars in higher dimensions. Such an ``inf``
    means "alive at the threshold", not "never dies"; cap it with ``threshold`` if a finite
    value is needed. ``+inf`` entries of ``D`` behave like a threshold at the largest finite
    distance.

    Raises
    ------
    ActivationError
        The matrix is not a distance matrix (see above).
    ConfigError
        Bad option value, unknown backend, or a coefficient the backend cannot use.
    HomologyError
        The backend is not installed or failed (e.g. out of memory).

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    >>> X = np.c_[np.cos(t), np.sin(t)]
    >>> D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    >>> h0, h1 = rips_from_distances(D, backend="gudhi")
    >>> len(h0), int(np.isinf(h0[:, 1]).sum()), len(h1)
    (30, 1, 1)
    >>> bool(np.isclose(h1[0, 1], np.sqrt(3.0)))
    True
    """
    _check_options(maxdim, coeff, threshold, n_threads)
    M, thr = _prepare(D, float(threshold))
    name = resolve_backend(
        backend, n_points=len(M), maxdim=maxdim, coeff=coeff, n_threads=n_threads
    )
    try:
        if name == "gudhi":
            from gudhi.sklearn.rips_persistence import RipsPersistence

            rips = RipsPersistence(
                homology_dimensions=list(range(maxdim + 1)),
                threshold=thr,
                input_type="lower distance matrix",  # never "full": see the module doc
                homology_coeff_field=coeff,
            )
            dgms = rips.fit_transform([M])[0]
        elif name == "giotto-ph":
            from gph import ripser_parallel

            dgms = ripser_parallel(
                M,
                maxdim=maxdim,
                thresh=thr,
                coeff=coeff,
                metric="precomputed",
                n_threads=n_threads,
                collapse_edges=False,
            )["dgms"]
        else:
            from ripser import ripser

            dgms = ripser(M, maxdim=maxdim, thresh=thr, coeff=coeff, distance_matrix=True)["dgms"]
    except ImportError as err:
        raise HomologyError(
            f"Backend {name!r} could not be imported ({err}); use backend='auto' or one of "
            f"{[b for b in available_backends() if b != name]}."
        ) from err
    except (MemoryError, RuntimeError, ValueError, OverflowError) as err:
        raise HomologyError(
            f"{name} failed on a {len(M)}-point distance matrix (maxdim={maxdim}, "
            f"coeff={coeff}): {err}. Reduce the number of points (max_points) or maxdim."
        ) from err
    return _tidy(dgms, maxdim)


def representative_cocycles(
    D: ArrayLike, *, maxdim: int = 1, coeff: int = 2, threshold: float = np.inf
) -> tuple[list[FloatArray], list[list[NDArray[np.int64]]]]:
    """Diagrams with a representative cocycle for every bar, from ripser.py.

    Parameters
    ----------
    D : array-like of shape (n_points, n_points)
        Distances, checked as in :func:`rips_from_distances`.
    maxdim : int, default 1
    coeff : int, default 2
        Prime up to 127.
    threshold : float, default inf
        As in :func:`rips_from_distances`.

    Returns
    -------
    diagrams : list of ndarray of shape (n_bars_k, 2)
        As :func:`rips_from_distances` with ``backend="ripser"`` (same order).
    cocycles : list of list of ndarray
        ``cocycles[k][i]`` is the cocycle of bar ``diagrams[k][i]`` (for ``k >= 1``; ``k = 0``
        is an empty list, ripser.py gives no H0 cocycles): an int64 array of shape
        ``(n_simplices, k + 2)``, each row ``k + 1`` vertex indices (rows of ``D``) and the
        coefficient in ``0 .. coeff - 1``, for the simplices where the cocycle is nonzero.

    Examples
    --------
    >>> t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    >>> X = np.c_[np.cos(t), np.sin(t)]
    >>> D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    >>> dgms, cocycles = representative_cocycles(D)
    >>> len(dgms[1]), cocycles[1][0].shape[1]
    (1, 3)
    """
    _check_options(maxdim, coeff, threshold, 1)
    M, thr = _prepare(D, float(threshold))
    resolve_backend("ripser", coeff=coeff)
    from ripser import ripser

    try:
        res = ripser(
            M, maxdim=maxdim, thresh=thr, coeff=coeff, distance_matrix=True, do_cocycles=True
        )
    except (MemoryError, RuntimeError, ValueError, OverflowError) as err:
        raise HomologyError(
            f"ripser failed on a {len(M)}-point distance matrix (maxdim={maxdim}, "
            f"coeff={coeff}): {err}. Reduce the number of points or maxdim."
        ) from err
    diagrams: list[FloatArray] = []
    cocycles: list[list[NDArray[np.int64]]] = []
    for k in range(maxdim + 1):
        arr = np.asarray(res["dgms"][k], dtype=np.float64).reshape(-1, 2)
        cocs = list(res["cocycles"][k]) if k >= 1 else []
        keep = np.flatnonzero(arr[:, 1] > arr[:, 0])
        order = keep[np.lexsort((arr[keep, 1], arr[keep, 0]))]
        diagrams.append(np.ascontiguousarray(arr[order]))
        if k >= 1:
            cocycles.append([np.asarray(cocs[i], dtype=np.int64).reshape(-1, k + 2) for i in order])
        else:
            cocycles.append([])
    return diagrams, cocycles
