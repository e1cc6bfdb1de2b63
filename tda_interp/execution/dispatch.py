"""Run many tasks: cache hits first, the rest on an executor, each output handed over once."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from tda_interp.exceptions import TdaInterpWarning
from tda_interp.execution.cache import DiagramCache, default_cache_dir
from tda_interp.execution.executors import Executor
from tda_interp.execution.tasks import RipsTask, TaskOutput, run_task, task_key

__all__ = ["open_cache", "run_tasks"]


def open_cache(cache: bool | str | os.PathLike[str] | DiagramCache | None) -> DiagramCache | None:
    """The cache an ``ExecutionOptions.cache`` value names: ``True`` the default folder
    (:func:`~tda_interp.execution.default_cache_dir`), a folder, an existing cache, or
    ``None`` for ``False``/``None``."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, DiagramCache):
        return cache
    return DiagramCache(default_cache_dir() if cache is True else Path(cache))


def run_tasks(
    tasks: Sequence[RipsTask], executor: Executor, cache: DiagramCache | None = None
) -> Iterator[tuple[int, TaskOutput]]:
    """Yield ``(index, output)`` for every task: cache hits first, then the others as the
    executor finishes them.

    A fresh output goes into the cache only when the consumer asks for the next one, i.e.
    after it has handled (written) this one: a result is written before any cache, and a
    consumer that fails leaves no cache entry for what it did not write. A cache that cannot be
    written is a warning, once; failures (``output.failure``) are never cached.

    Examples
    --------
    >>> import numpy as np
    >>> from tda_interp.execution import SerialExecutor
    >>> pts = np.random.default_rng(0).normal(size=(20, 2))
    >>> done = run_tasks([RipsTask(pts, "raw")], SerialExecutor())
    >>> [(i, out.diagram.n_points) for i, out in done]
    [(0, 20)]
    """
    keys = [task_key(task) if cache is not None else "" for task in tasks]
    misses = []
    for index in range(len(tasks)):
        hit = cache.get(keys[index]) if cache is not None else None
        if hit is None:
            misses.append(index)
        else:
            yield index, TaskOutput(diagram=hit[0], significance=hit[1], cached=True)
    if not misses:
        return
    broken: OSError | None = None
    for j, output in executor.imap(run_task, [tasks[i] for i in misses]):
        index = misses[j]
        yield index, output
        if cache is not None and output.diagram is not None and broken is None:
            try:
                cache.put(keys[index], output.diagram, output.significance)
            except OSError as err:  # a full disk or a file in the way: results matter, not it
                broken = err
                warnings.warn(
                    TdaInterpWarning(
                        f"The diagram cache at {str(cache.directory)!r} cannot be written "
                        f"({err}); results are written, but nothing more is cached this run. "
                        "Free space, point [execution] cache at another folder, or set it to "
                        "false.",
                        kind="cache-failed",
                    ),
                    stacklevel=2,
                )
