"""Executors for independent tasks: in-process, local worker processes, or a Dask cluster.

All three share one method, ``imap(func, items)``, which yields ``(index, result)`` pairs in
completion order, so the caller can store each result as soon as it exists (a crash then loses
only unfinished work). ``func`` must be a picklable top-level function for the process and Dask
executors.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    CancelledError,
    Future,
    ProcessPoolExecutor,
    wait,
)
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Protocol, TypeVar

from tda_interp.exceptions import ConfigError, ExecutionError
from tda_interp.options.run import parse_executor

__all__ = [
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "die_with_parent",
    "executor_scope",
    "make_executor",
]

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """What the pipeline needs from an executor."""

    def imap(self, func: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, func(items[index]))`` for every item, in completion order."""
        ...

    def close(self) -> None:
        """Release workers (a no-op where there are none)."""
        ...


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when its parent does, however the parent ends.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``); a
    daemon thread also watches the parent's pid, everywhere, so no worker outlives a killed
    run, holding memory and its stdout open.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before this line
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="tda-interp-parent-watch", daemon=True).start()


class _Closing:
    """``with executor:`` closes it on exit, also on an exception."""

    def close(self) -> None:  # pragma: no cover - overridden
        return None

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SerialExecutor(_Closing):
    """Runs tasks one after the other in this process (no start-up cost, no pickling).

    Examples
    --------
    >>> with SerialExecutor() as ex:
    ...     sorted(ex.imap(abs, [-2, 3]))
    [(0, 2), (1, 3)]
    """

    def imap(self, func: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        for index, item in enumerate(items):
            yield index, func(item)

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "SerialExecutor()"


class ProcessExecutor(_Closing):
    """Local worker processes (``fork`` start method on Linux, ``spawn`` elsewhere).

    Parameters
    ----------
    n_workers : int, optional
        Number of processes; default: the CPUs available to this process.

    Notes
    -----
    Threads inside one persistence computation rarely help; one cloud per process does
    (measured here: two worker processes across clouds gave 1.7-2.2x on 2 cores). At most
    ``n_workers`` tasks are in flight at once, so memory stays bounded by the largest tasks.
    """

    def __init__(self, n_workers: int | None = None) -> None:
        self.n_workers = n_workers
        self._pool: ProcessPoolExecutor | None = None

    def _workers(self) -> int:
        if self.n_workers is not None:
            if self.n_workers < 1:
                raise ConfigError(f"Expected n_workers >= 1, got {self.n_workers}.")
            return self.n_workers
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Linux: fork. Workers start in milliseconds with everything imported, and a user's
            # script needs no `if __name__ == "__main__":` guard. Tasks only run numpy, scipy and
            # the persistence backends in the child, never torch, whose thread pools are the
            # usual fork hazard. Elsewhere: spawn (macOS and Windows scripts need the guard).
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            ctx = multiprocessing.get_context(method)
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers(),
                mp_context=ctx,
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def imap(self, func: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        pool = self._get_pool()
        pending: dict[Future[R], int] = {}
        queue = iter(enumerate(items))
        limit = 2 * self._workers()
        try:
            for index, item in queue:
                pending[pool.submit(func, item)] = index
                if len(pending) >= limit:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    index = pending.pop(fut)
                    result = fut.result()  # re-raises the worker's exception here
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(func, nxt[1])] = nxt[0]
                    yield index, result
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def terminate(self) -> None:
        """Stop the workers now, abandoning their tasks (on Ctrl-C or SIGTERM)."""
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __repr__(self) -> str:
        return f"ProcessExecutor(n_workers={self.n_workers})"


class DaskExecutor(_Closing):
    """Tasks on a Dask ``distributed`` cluster.

    Parameters
    ----------
    address : str or distributed.Client
        A scheduler address (``"tcp://127.0.0.1:8786"``) or an existing client. The client is
        closed by :meth:`close` only if this executor created it.
    timeout : float, default 10
        Seconds to wait for the scheduler.
    stall_timeout : float, default 300
        Seconds the cluster may have no worker at all while tasks wait before the run gives up
        with :class:`~tda_interp.exceptions.ExecutionError` (a cluster whose only worker died,
        with no nanny to restart it, would otherwise wait for ever).

    Notes
    -----
    A task whose worker dies is retried by the scheduler on another worker, a bounded number
    of times (``distributed.scheduler.allowed-failures``, 3 by default); after that, and when
    the scheduler itself is lost, the run ends with an ExecutionError that says so. Finished
    results are kept: a rerun resumes.
    """

    def __init__(self, address: Any, *, timeout: float = 10, stall_timeout: float = 300.0) -> None:
        self.stall_timeout = float(stall_timeout)
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "The Dask executor needs the 'distributed' package: pip install 'tda-interp[dask]'."
            ) from err
        self._address = repr(address) if isinstance(address, str) else "the client's scheduler"
        if isinstance(address, Client):
            self.client, self._owns = address, False
        else:
            try:
                self.client, self._owns = Client(address, timeout=timeout), True
            except OSError as err:
                raise ConfigError(
                    f"Cannot reach a Dask scheduler at {address!r} ({err}); start one with "
                    "`dask scheduler` and workers with `dask worker ADDRESS`."
                ) from err

    def _next_done(
        self, pending: set[Any], no_worker_since: float | None
    ) -> tuple[set[Any], set[Any], float | None]:
        """Wait up to a second for some of ``pending``: (done, still pending, since when the
        cluster has had no worker). A cluster without workers for ``stall_timeout``, or a lost
        scheduler, raises :class:`~tda_interp.exceptions.ExecutionError`."""
        from distributed import wait as wait_for

        try:
            # `wait` waits on the default client's event loop: with several clients in one
            # process (two executors, a notebook's own client) it would miss our futures'
            # completion and return only at the timeout, a second lost per task
            with self.client.as_current():
                done, rest = wait_for(
                    pending, timeout=min(1.0, self.stall_timeout), return_when="FIRST_COMPLETED"
                )
        except TimeoutError:
            return set(), pending, self._check_workers(no_worker_since)
        except (CancelledError, OSError) as err:
            raise self._lost(err) from err
        return set(done), set(rest), None

    def imap(self, func: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        futures = [self.client.submit(func, item, pure=False) for item in items]
        index = {fut.key: i for i, fut in enumerate(futures)}
        pending = set(futures)
        no_worker_since: float | None = None
        try:
            while pending:
                done, pending, no_worker_since = self._next_done(pending, no_worker_since)
                for fut in done:
                    try:
                        result = fut.result()
                    except (CancelledError, OSError) as err:  # scheduler lost, connection closed
                        raise self._lost(err) from err
                    except Exception as err:
                        if type(err).__name__ != "KilledWorker":
                            raise  # the task's own error, with its class
                        raise ExecutionError(
                            f"A task was retried on {err} and every worker that ran it died "
                            f"(out of memory?); finished results are kept. Give the Dask workers "
                            "more memory, or lower the work per task, then rerun to resume."
                        ) from err
                    yield index[fut.key], result
        finally:
            for fut in futures:
                fut.cancel()

    def _check_workers(self, since: float | None) -> float | None:
        """Give up when the cluster has had no worker for ``stall_timeout`` seconds."""
        try:
            n_workers = len(self.client.nthreads())
        except (CancelledError, OSError) as err:
            raise self._lost(err) from err
        if n_workers:
            return None
        now = time.monotonic()
        if since is None:
            return now
        if now - since > self.stall_timeout:
            raise ExecutionError(
                f"The Dask cluster at {self._address} has had no worker for "
                f"{now - since:.0f} s while tasks wait (stall_timeout={self.stall_timeout:g}); "
                "finished results are kept. Start workers (`dask worker ADDRESS`, with a nanny "
                "to restart them), then rerun to resume."
            )
        return since

    def _lost(self, err: BaseException) -> ExecutionError:
        return ExecutionError(
            f"The Dask scheduler at {self._address} stopped answering ({type(err).__name__}: "
            f"{err}); finished results are kept: restart the scheduler and workers, then rerun "
            "to resume."
        )

    def close(self) -> None:
        if self._owns:
            self.client.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client.scheduler_info().get('address')!r})"


def make_executor(
    spec: str | Executor | None, *, n_tasks: int, work: float, stall_timeout: float = 300.0
) -> Executor:
    """Turn an executor spec into an executor.

    Parameters
    ----------
    spec : str, Executor or None
        ``"auto"`` / ``None``: worker processes when there is enough work to pay for them,
        else serial; ``"serial"``; ``"processes"`` or ``"processes:N"``; ``"dask:ADDRESS"``
        (e.g. ``"dask:tcp://127.0.0.1:8786"``); ``"dask-checkpoints:ADDRESS"`` (a
        :class:`~tda_interp.execution.ClusterExecutor`: runs given it send whole checkpoints,
        other work sends homology tasks); or an executor object, used as is.
    n_tasks : int
        Number of tasks about to run.
    work : float
        Rough total work (sum of squared point counts), to decide ``"auto"``.
    stall_timeout : float, default 300
        For ``"dask:ADDRESS"``: see :class:`DaskExecutor`.

    Examples
    --------
    >>> make_executor("auto", n_tasks=3, work=100.0)
    SerialExecutor()
    """
    if spec is not None and not isinstance(spec, str):
        return spec
    kind, arg = parse_executor(spec or "auto")
    if kind == "auto":
        # Starting workers costs about a second; below ~2e6 squared points in all (e.g. 50
        # clouds of 200 points) the serial loop finishes first.
        if n_tasks > 1 and work > 2e6:
            return ProcessExecutor()
        return SerialExecutor()
    if kind == "serial":
        return SerialExecutor()
    if kind == "processes":
        return ProcessExecutor(arg)
    if kind == "dask-checkpoints":
        from tda_interp.execution.cluster import ClusterExecutor, ClusterOptions

        return ClusterExecutor(arg, ClusterOptions(stall_timeout=stall_timeout))
    return DaskExecutor(arg, stall_timeout=stall_timeout)


@contextmanager
def executor_scope(
    spec: str | Executor | None, *, n_tasks: int, work: float, stall_timeout: float = 300.0
) -> Iterator[Executor]:
    """:func:`make_executor` as a context: an executor made here is closed on exit, its workers
    stopped at once on an exception (Ctrl-C, SIGTERM); an executor object passed in belongs to
    the caller and is left open."""
    runner = make_executor(spec, n_tasks=n_tasks, work=work, stall_timeout=stall_timeout)
    try:
        yield runner
    except BaseException:
        if runner is not spec:  # interrupted or failed: running tasks are abandoned
            getattr(runner, "terminate", runner.close)()
        raise
    if runner is not spec:
        runner.close()
