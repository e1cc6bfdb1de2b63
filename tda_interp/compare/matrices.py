"""Distances between many diagrams at once: one pair, all pairs, two collections.

:func:`diagram_distance` is the one entry for a pair (exact metrics from
:mod:`tda_interp.diagrams.distances`, the fast vector metrics from
:mod:`tda_interp.diagrams.vectors` on a grid shared by the two); :func:`pairwise_distances`
computes a whole matrix:

- exact metrics: every diagram is prepared once (relative scaling, diagonal points out), the
  pairs are cut into chunks and run on an executor (serial, worker processes or Dask, as a run's
  ``[execution] executor``), and the matrix is stored in the cache under the content hash of
  the diagrams and options, so that the same comparison is instant the second time;
- vector metrics: every diagram is vectorised once on one grid shared by all of them, and the
  matrix is one ``cdist`` (seconds for thousands of diagrams).

A matrix of one collection with itself is exactly symmetric with a zero diagonal; only the upper
triangle is computed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.distances import PreparedBars, bars_distance, prepare_bars
from tda_interp.diagrams.vectors import shared_range, vector_distances, vectorize
from tda_interp.exceptions import ConfigError, TdaInterpWarning
from tda_interp.execution.cache import default_cache_dir
from tda_interp.execution.executors import executor_scope
from tda_interp.options import DistanceOptions, ExecutionOptions
from tda_interp.store.writer import atomic_write_bytes

__all__ = ["diagram_distance", "paired_distances", "pairwise_distances"]

FloatArray = NDArray[np.float64]

#: Pairs per task on an executor (enough to pay for the round trip of a worker).
CHUNK = 256


def diagram_distance(
    a: Diagram, b: Diagram, dim: int, options: DistanceOptions | None = None, **overrides: Any
) -> float:
    """The distance between the ``H_dim`` bars of two diagrams.

    Parameters
    ----------
    a, b : Diagram
    dim : int
        Homology dimension.
    options : DistanceOptions, optional
        Metric, order, ground metric, relative or absolute, infinite-bar policy.
    **overrides
        Fields of :class:`~tda_interp.options.DistanceOptions` (``metric``, ``order``,
        ``ground``, ``relative``, ``infinite``, ``resolution``).

    Returns
    -------
    float

    Examples
    --------
    >>> a = Diagram(pairs=[[[0.0, np.inf]], [[1.0, 3.0]]], scale=4.0, n_points=3)
    >>> b = Diagram(pairs=[[[0.0, np.inf]], [[1.0, 2.0]]], scale=4.0, n_points=3)
    >>> diagram_distance(a, b, 1, relative=False)  # move (1, 3) to (1, 2): max(0, 1)
    1.0
    >>> diagram_distance(a, b, 1)  # relative: everything divided by the scale, 4
    0.25
    """
    opts = DistanceOptions.resolve(options, overrides, caller="diagram_distance()")
    _check_dim([a, b], dim)
    if opts.exact:
        return bars_distance(
            prepare_bars(a, dim, relative=opts.relative),
            prepare_bars(b, dim, relative=opts.relative),
            opts,
        )
    return float(pairwise_distances([a], [b], dim, opts, execution=_SERIAL)[0, 0])


_SERIAL = ExecutionOptions(executor="serial", cache=False)


def pairwise_distances(
    diagrams_a: Sequence[Diagram],
    diagrams_b: Sequence[Diagram] | None = None,
    dim: int = 1,
    options: DistanceOptions | None = None,
    *,
    execution: ExecutionOptions | None = None,
    **overrides: Any,
) -> FloatArray:
    """The matrix of distances between two collections of diagrams (or one with itself).

    Parameters
    ----------
    diagrams_a : sequence of Diagram, length n_a
    diagrams_b : sequence of Diagram, length n_b, optional
        ``None``: ``diagrams_a`` against itself (symmetric, zero diagonal).
    dim : int, default 1
    options : DistanceOptions, optional
    execution : ExecutionOptions, optional
        ``executor`` (``"auto"`` picks worker processes when the work pays for them) and
        ``cache`` (``True``: the default cache folder; a folder; ``False``) for exact metrics.
    **overrides
        Fields of :class:`~tda_interp.options.DistanceOptions`.

    Returns
    -------
    ndarray of shape (n_a, n_b)

    Examples
    --------
    >>> ds = [Diagram(pairs=[[[0.0, np.inf]], [[1.0, d]]], scale=1.0, n_points=3)
    ...       for d in (2.0, 3.0, 5.0)]
    >>> pairwise_distances(ds, relative=False, execution=ExecutionOptions(cache=False))
    array([[0., 1., 2.],
           [1., 0., 2.],
           [2., 2., 0.]])

    (``(1, 5)`` against ``(1, 2)``: both to the diagonal, at costs 2 and 0.5, beats moving one
    onto the other, at cost 3.)
    """
    opts = DistanceOptions.resolve(options, overrides, caller="pairwise_distances()")
    exec_opts = execution if execution is not None else ExecutionOptions()
    same = diagrams_b is None
    side_b = diagrams_a if diagrams_b is None else diagrams_b
    _check_dim([*diagrams_a, *side_b], dim)
    if not diagrams_a or not side_b:
        return np.zeros((len(diagrams_a), len(side_b)))
    if not opts.exact:
        return _vector_matrix(diagrams_a, None if same else side_b, dim, opts)
    prep_a = [prepare_bars(d, dim, relative=opts.relative) for d in diagrams_a]
    prep_b = prep_a if same else [prepare_bars(d, dim, relative=opts.relative) for d in side_b]
    key = _key(prep_a, None if same else prep_b, dim, opts)
    cached = _cache_get(exec_opts.cache, key)
    if cached is not None and cached.shape == (len(prep_a), len(prep_b)):
        return cached
    out = _exact_matrix(prep_a, prep_b, same, opts, exec_opts)
    _cache_put(exec_opts.cache, key, out)
    return out


def paired_distances(
    diagrams_a: Sequence[Diagram],
    diagrams_b: Sequence[Diagram],
    dim: int = 1,
    options: DistanceOptions | None = None,
    *,
    execution: ExecutionOptions | None = None,
    **overrides: Any,
) -> FloatArray:
    """Distances of the pairs ``(diagrams_a[i], diagrams_b[i])``: a trajectory's steps, say.

    Parameters
    ----------
    diagrams_a, diagrams_b : sequence of Diagram, same length n
    dim : int, default 1
    options : DistanceOptions, optional
    execution : ExecutionOptions, optional
        Where exact distances are computed (no cache: pairs are cheap to list again).
    **overrides
        Fields of :class:`~tda_interp.options.DistanceOptions`.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> ds = [Diagram(pairs=[[[0.0, np.inf]], [[1.0, d]]], scale=1.0, n_points=3)
    ...       for d in (2.0, 3.0, 5.0)]
    >>> paired_distances(ds[:-1], ds[1:], relative=False)  # each step
    array([1., 2.])
    """
    opts = DistanceOptions.resolve(options, overrides, caller="paired_distances()")
    if len(diagrams_a) != len(diagrams_b):
        raise ConfigError(
            f"Expected two sequences of diagrams of one length, got {len(diagrams_a)} and "
            f"{len(diagrams_b)}."
        )
    _check_dim([*diagrams_a, *diagrams_b], dim)
    if not diagrams_a:
        return np.zeros(0)
    if not opts.exact:
        value_range = shared_range([*diagrams_a, *diagrams_b], dim, relative=opts.relative)
        fa = vectorize(diagrams_a, dim, opts, value_range=value_range)
        fb = vectorize(diagrams_b, dim, opts, value_range=value_range)
        return np.array(
            [
                vector_distances(
                    fa[i : i + 1],
                    fb[i : i + 1],
                    metric=opts.metric,
                    value_range=value_range,
                    resolution=opts.resolution,
                )[0, 0]
                for i in range(len(fa))
            ]
        )
    exec_opts = execution if execution is not None else ExecutionOptions()
    prep_a = [prepare_bars(d, dim, relative=opts.relative) for d in diagrams_a]
    prep_b = [prepare_bars(d, dim, relative=opts.relative) for d in diagrams_b]
    pairs = [(i, i) for i in range(len(prep_a))]
    out = _exact_pairs(prep_a, prep_b, pairs, opts, exec_opts)
    return np.array([out[p] for p in pairs])


def _check_dim(diagrams: Sequence[Diagram], dim: int) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 0:
        raise ConfigError(f"Expected dim to be a homology dimension (an int >= 0), got {dim!r}.")
    low = min((d.maxdim for d in diagrams), default=dim)
    if dim > low:
        raise ConfigError(
            f"Expected dim <= {low}, the highest dimension every diagram compared holds, got "
            f"dim={dim}; compute the runs with maxdim >= {dim} or compare a lower dimension."
        )


def _vector_matrix(
    diagrams_a: Sequence[Diagram],
    diagrams_b: Sequence[Diagram] | None,
    dim: int,
    opts: DistanceOptions,
) -> FloatArray:
    everything = [*diagrams_a, *(diagrams_b or [])]
    value_range = shared_range(everything, dim, relative=opts.relative)
    feats_a = vectorize(diagrams_a, dim, opts, value_range=value_range)
    feats_b = (
        None if diagrams_b is None else vectorize(diagrams_b, dim, opts, value_range=value_range)
    )
    return vector_distances(
        feats_a,
        feats_b,
        metric=opts.metric,
        value_range=value_range,
        resolution=opts.resolution,
    )


def _exact_matrix(
    prep_a: list[PreparedBars],
    prep_b: list[PreparedBars],
    same: bool,
    opts: DistanceOptions,
    exec_opts: ExecutionOptions,
) -> FloatArray:
    n_a, n_b = len(prep_a), len(prep_b)
    if same:
        pairs = [(i, j) for i in range(n_a) for j in range(i + 1, n_a)]
    else:
        pairs = [(i, j) for i in range(n_a) for j in range(n_b)]
    out = np.zeros((n_a, n_b))
    for (i, j), value in _exact_pairs(prep_a, prep_b, pairs, opts, exec_opts).items():
        out[i, j] = value
    return out + out.T if same else out


def _exact_pairs(
    prep_a: list[PreparedBars],
    prep_b: list[PreparedBars],
    pairs: list[tuple[int, int]],
    opts: DistanceOptions,
    exec_opts: ExecutionOptions,
) -> dict[tuple[int, int], float]:
    """The exact distance of every listed pair, in chunks on the executor."""
    found: dict[tuple[int, int], float] = {}
    if not pairs:
        return found
    chunks = [pairs[k : k + CHUNK] for k in range(0, len(pairs), CHUNK)]
    tasks = [([(prep_a[i], prep_b[j]) for i, j in chunk], opts) for chunk in chunks]
    sizes = [len(p.finite) for p in prep_a] + [len(p.finite) for p in prep_b]
    work = float(len(pairs)) * (2.0 * float(np.mean(sizes)) + 1.0) ** 2
    with executor_scope(
        exec_opts.executor,
        n_tasks=len(tasks),
        work=work,
        stall_timeout=exec_opts.stall_timeout,
    ) as runner:
        for index, values in runner.imap(_distance_chunk, tasks):
            for pair, value in zip(chunks[index], values, strict=True):
                found[pair] = value
    return found


def _distance_chunk(
    task: tuple[list[tuple[PreparedBars, PreparedBars]], DistanceOptions],
) -> list[float]:
    """Distances of a chunk of pairs (top-level, so that worker processes can run it)."""
    pairs, opts = task
    return [bars_distance(a, b, opts) for a, b in pairs]


# ---------------------------------------------------------------------- cache
def _digest(p: PreparedBars) -> bytes:
    h = hashlib.sha256()
    for arr in (p.finite, p.essential):
        a = np.ascontiguousarray(arr, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.digest()


def _key(
    prep_a: list[PreparedBars],
    prep_b: list[PreparedBars] | None,
    dim: int,
    opts: DistanceOptions,
) -> str:
    h = hashlib.sha256()
    params = {
        k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in opts.params().items()
    }
    h.update(json.dumps({"dim": dim, "options": params, "same": prep_b is None}).encode())
    for side in (prep_a, prep_b or []):
        h.update(b"|")
        for p in side:
            h.update(_digest(p))
    return h.hexdigest()


def _cache_dir(cache: bool | str | os.PathLike[str] | Any) -> Path | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache_dir() / "distances"
    directory = getattr(cache, "directory", cache)
    return Path(directory) / "distances"


def _cache_get(cache: Any, key: str) -> FloatArray | None:
    folder = _cache_dir(cache)
    path = None if folder is None else folder / key[:2] / f"{key}.npy"
    if path is None or not path.is_file():
        return None
    try:
        found = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return np.asarray(found, dtype=np.float64)


def _cache_put(cache: Any, key: str, matrix: FloatArray) -> None:
    folder = _cache_dir(cache)
    if folder is None:
        return
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    try:
        atomic_write_bytes(folder / key[:2] / f"{key}.npy", buffer.getvalue())
    except OSError as err:
        warnings.warn(
            TdaInterpWarning(
                f"The distance matrix could not be cached in {str(folder)!r} ({err}); it is "
                "returned, and will be computed again next time.",
                kind="cache-unwritable",
            ),
            stacklevel=3,
        )
