"""Whole checkpoints on a Dask cluster: load, capture and diagrams on a worker.

:class:`DaskExecutor` ships only the homology tasks, so every checkpoint is still loaded and
run through the model in the driver, one after the other. :class:`ClusterExecutor` ships
checkpoint-level tasks instead: a worker loads a checkpoint into its copy of the model, runs
the probe set once (:func:`~tda_interp.hooks.run_capture`) and computes every diagram of that
checkpoint (:func:`run_checkpoint`), so forward passes run in parallel across workers. What
comes back to the driver is one :class:`CheckpointOutput` of diagrams and calls (kilobytes per
result); activations never leave the worker.

The driver writes every result as it arrives: the run directory stays the single source of
truth, written by one process under its lock, with the same atomic, checksummed files as a
local run. Workers need read access to the checkpoint files (a shared filesystem, or the same
paths on every machine) but no write access to anything; each worker checks that the file it
reads has the fingerprint the driver recorded in the manifest.

Faults: a task whose worker dies is retried by the scheduler on another worker, at most
``distributed.scheduler.allowed-failures`` times (3 by default); after that its checkpoint is
reported (the run writes every other checkpoint, then ends with
:class:`~tda_interp.exceptions.ExecutionError` naming it). A cluster with no worker for
``stall_timeout`` seconds, or a scheduler that stops answering, ends the run with an
ExecutionError too. Finished results are kept; a rerun resumes and gives the results of an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from tda_interp.exceptions import (
    CheckpointError,
    ConfigError,
    ExecutionError,
    TdaInterpError,
    with_context,
)
from tda_interp.execution.cache import DiagramCache
from tda_interp.execution.executors import DaskExecutor
from tda_interp.execution.tasks import TaskOutput, _portable, run_task, task_key
from tda_interp.execution.warnlog import as_warning
from tda_interp.options._base import Check, Interval, OneOf, Options

if TYPE_CHECKING:
    from torch import nn

    from tda_interp.hooks.inputs import Inputs
    from tda_interp.pipeline import RunPlan

__all__ = [
    "CheckpointJob",
    "CheckpointOutput",
    "CloudResult",
    "ClusterExecutor",
    "ClusterOptions",
    "Lost",
    "dumps_by_value",
    "run_checkpoint",
    "split_clouds",
]

T = TypeVar("T")
R = TypeVar("R")

#: One forward pass at a time per worker process: the model object is shared by the tasks a
#: worker runs in its threads. Diagrams are computed outside the lock.
_MODEL_LOCK = threading.Lock()


def _resource(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError("expected a resource name")
    return value.strip()


@dataclass(frozen=True, kw_only=True)
class ClusterOptions(Options):
    """How checkpoint-level tasks run on a Dask cluster (:class:`ClusterExecutor`).

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where a worker runs the forward pass: ``"auto"`` uses the worker's GPU when it has
        one. Activations come back to the worker's memory before any diagram is computed.
    resource : str or None, default None
        A worker resource each checkpoint task needs (``"GPU"``: tasks go only to workers
        started with ``--resources "GPU=1"``, one task per unit at a time). ``None``: any
        worker.
    in_flight : int, default 0
        Checkpoint tasks submitted at once (the others wait in the driver, so that the cluster
        holds a bounded number of results, and a dying worker takes no queued task with it).
        0: one per worker thread, counted again as workers join and leave.
    connect_timeout : float, default 10
        Seconds to wait for the scheduler when connecting.
    stall_timeout : float, default 300
        Seconds the cluster may have no worker at all while tasks wait before the run ends
        with :class:`~tda_interp.exceptions.ExecutionError`; also how long a scheduler that
        stops answering is waited for.

    Examples
    --------
    >>> ClusterOptions(device="auto", resource="GPU").resource
    'GPU'
    """

    device: str = "cpu"
    resource: str | None = None
    in_flight: int = 0
    connect_timeout: float = 10.0
    stall_timeout: float = 300.0

    _constraints: ClassVar[dict[str, tuple[Any, ...]]] = {
        "device": (OneOf(("cpu", "cuda", "auto")),),
        "resource": (Check(_resource, "a non-empty resource name such as 'GPU'"), None),
        "in_flight": (Interval(int, 0, None),),
        "connect_timeout": (Interval(float, 0, None, closed="neither"),),
        "stall_timeout": (Interval(float, 0, None, closed="neither"),),
    }
    _hints: ClassVar[dict[str, str]] = {
        "resource": 'Start GPU workers with `dask worker ADDRESS --resources "GPU=1"`.',
    }
    _not_params: ClassVar[frozenset[str]] = frozenset(
        {"device", "resource", "in_flight", "connect_timeout", "stall_timeout"}
    )


@dataclass(frozen=True)
class CheckpointJob:
    """Everything a worker needs to compute one checkpoint's missing results.

    Parameters
    ----------
    label : str
        The checkpoint's label in the run.
    path : str
        Its file or model folder, as the workers see it.
    fingerprint : str or None
        The digest the driver recorded (:func:`~tda_interp.hooks.checkpoint_fingerprint`); a
        worker that reads another file refuses it.
    plan : RunPlan
        The run's layers, views and options.
    todo : tuple of (layer, view)
        Pairs with a result still missing.
    done : frozenset of (cloud, view)
        Results of this checkpoint already on disk (skipped by the worker).
    strict : bool
        As for :func:`~tda_interp.hooks.load_checkpoint`.
    device : {"cpu", "cuda", "auto"}
        Where the forward pass runs.
    cache_dir : str or None
        The diagram cache's folder, read by the worker when it can see it.
    """

    label: str
    path: str
    fingerprint: str | None
    plan: RunPlan
    todo: tuple[tuple[str, str], ...]
    done: frozenset[tuple[str, str]] = frozenset()
    strict: bool = True
    device: str = "cpu"
    cache_dir: str | None = None

    @property
    def place(self) -> str:
        """``"checkpoint 'step_1'"``: how errors name this checkpoint."""
        return f"checkpoint {self.label!r}"


@dataclass(frozen=True)
class CloudResult:
    """One (cloud, view) result of a checkpoint task, and its cache key (``""``: no cache)."""

    cloud: str
    view: str
    output: TaskOutput
    key: str = ""


@dataclass(frozen=True)
class CheckpointOutput:
    """What a checkpoint task sends back: no activations, only results.

    Attributes
    ----------
    label : str
    clouds : mapping of str to tuple of str
        The clouds each layer gave (``layer#0`` .. for a module called several times).
    warnings : tuple of Warning
        Raised while the checkpoint was loaded and captured.
    results : tuple of CloudResult
        One per missing (cloud, view), in the order of the job's ``todo``.
    """

    label: str
    clouds: Mapping[str, tuple[str, ...]]
    warnings: tuple[Warning, ...] = ()
    results: tuple[CloudResult, ...] = field(default=())


def split_clouds(captured: Mapping[str, Any], layer: str) -> list[str]:
    """The clouds ``layer`` gave: ``layer#0`` .. ``layer#k-1`` for a module called k times per
    forward pass (in call order), else ``[layer]``; each followed by its clouds per label of
    the probe inputs (``layer@3``, in the order captured), when the inputs have labels.

    Examples
    --------
    >>> split_clouds({"fc#1": 0, "fc#0": 0, "out": 0}, "fc"), split_clouds({"out": 0}, "out")
    (['fc#0', 'fc#1'], ['out'])
    >>> split_clouds({"out": 0, "out@0": 0, "out@1": 0}, "out")
    ['out', 'out@0', 'out@1']
    """
    prefix = f"{layer}#"
    calls = sorted(
        (k for k in captured if k.startswith(prefix) and k[len(prefix) :].isdigit()),
        key=lambda k: int(k[len(prefix) :]),
    )
    out = []
    for cloud in calls or [layer]:
        out.append(cloud)
        out += [k for k in captured if k.startswith(f"{cloud}@")]
    return out


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _on(inputs: Inputs, device: Any) -> Inputs:
    import torch

    if device.type == "cpu":
        return inputs
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    if isinstance(inputs, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    return tuple(v.to(device) if isinstance(v, torch.Tensor) else v for v in inputs)


def _capture(job: CheckpointJob, model: nn.Module, inputs: Inputs) -> dict[str, np.ndarray]:
    from tda_interp.hooks import checkpoint_fingerprint, load_checkpoint, run_capture

    seen = checkpoint_fingerprint(job.path)
    if job.fingerprint is not None and seen != job.fingerprint:
        raise CheckpointError(
            f"The worker reads {job.path!r} with fingerprint {seen}, expected "
            f"{job.fingerprint} (recorded by the driver): the workers see another file. Give "
            "every worker the same checkpoint files (a shared filesystem, or copies at the same "
            "path), then rerun."
        )
    device = _device(job.device)
    model.to(device)
    load_checkpoint(model, job.path, strict=job.strict)
    sites = list(dict.fromkeys(layer for layer, _ in job.todo))
    return run_capture(model, _on(inputs, device), sites, job.plan.capture).activations


def run_checkpoint(job: CheckpointJob, shared: tuple[nn.Module, Inputs]) -> CheckpointOutput:
    """Load one checkpoint, capture the probe set and compute its missing results (top-level
    and pure but for the model it loads into, so that a Dask worker can run it).

    Parameters
    ----------
    job : CheckpointJob
    shared : (torch.nn.Module, inputs)
        The model (its architecture; the checkpoint's weights are loaded into it) and the probe
        set, sent to each worker once.

    Returns
    -------
    CheckpointOutput
        Diagrams and calls; the activations stay here and are freed on return.

    Raises
    ------
    CheckpointError, CaptureError, ActivationError, ConfigError
        As in a local run, naming the checkpoint (and layer and view).
    """
    model, inputs = shared
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _MODEL_LOCK:
                captured = job.plan.split(_capture(job, model, inputs))
        except TdaInterpError as err:
            raise with_context(err, job.place) from err
    cache = None
    if job.cache_dir is not None and Path(job.cache_dir).is_dir():
        cache = DiagramCache(job.cache_dir)
    clouds = {layer: tuple(split_clouds(captured, layer)) for layer, _ in job.todo}
    results = []
    for layer, view in job.todo:
        for cloud in clouds[layer]:
            if (cloud, view) in job.done:
                continue
            place = f"{job.place} layer {cloud!r} view {view!r}"
            with _MODEL_LOCK:  # a view chosen per checkpoint reads this checkpoint's weights
                task = job.plan.task(captured[cloud], view, place, model=model, layer=cloud)
            key = task_key(task) if job.cache_dir is not None else ""
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                output = TaskOutput(diagram=hit[0], significance=hit[1], cached=True)
            else:
                output = run_task(task)
            results.append(CloudResult(cloud, view, output, key))
    return CheckpointOutput(
        label=job.label,
        clouds=clouds,
        warnings=tuple(_portable(as_warning(w.message)) for w in caught),
        results=tuple(results),
    )


#: The shared payload (model and probe set) of the runs in this worker process, by digest:
#: pickled bytes as :class:`~._dask_plugin.SharedPayload` delivered them, unpickled on first
#: use.
_SHARED: dict[str, Any] = {}
_SHARED_LOCK = threading.Lock()


#: Where :func:`tda_interp.config.resolve_factory` puts a ``"models.py:make_model"`` file's
#: module: importable in the driver only, so its classes must travel by value.
_USER_MODULES = "_tda_interp_user_"


def dumps_by_value(obj: Any) -> bytes:
    """``cloudpickle.dumps(obj)``, with the classes of config files' model modules (loaded by
    path, which workers cannot import) pickled by value, like those of ``__main__``.

    Examples
    --------
    >>> import pickle
    >>> pickle.loads(dumps_by_value({"a": 1}))
    {'a': 1}
    """
    import cloudpickle

    added = []
    for name, module in list(sys.modules.items()):
        if name.startswith(_USER_MODULES) and module is not None:
            if name not in cloudpickle.list_registry_pickle_by_value():
                cloudpickle.register_pickle_by_value(module)
                added.append(module)
    try:
        return bytes(cloudpickle.dumps(obj))
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)


def _call_shared(func: Callable[[T, Any], R], item: T, digest: str) -> R:
    """``func(item, shared)``, with ``shared`` unpickled once per worker process from what
    :class:`_SharedPayload` delivered."""
    import pickle

    with _SHARED_LOCK:
        shared = _SHARED.get(digest)
        if shared is None:
            raise ExecutionError(
                "This Dask worker has not received the run's model (its plugin did not run); "
                "restart the workers, then rerun to resume."
            )
        if isinstance(shared, bytes):  # our own cloudpickle of the driver's model
            shared = _SHARED[digest] = pickle.loads(shared)
    return func(item, shared)


@dataclass(frozen=True)
class Lost:
    """An item whose workers kept dying: retried by the scheduler, then given up."""

    error: ExecutionError


class ClusterExecutor(DaskExecutor):
    """A Dask cluster that runs whole checkpoints (load, capture, diagrams) on its workers.

    Also an ordinary :class:`DaskExecutor` (``imap``), so it can be passed anywhere an executor
    is; :func:`~tda_interp.run_pipeline` given one sends checkpoint-level tasks.

    Parameters
    ----------
    address : str or distributed.Client
        A scheduler address (``"tcp://10.0.0.5:8786"``) or an existing client (left open).
    options : ClusterOptions, optional
        Device, worker resource, tasks in flight, timeouts.

    Notes
    -----
    The model and the probe set travel to the cluster once per run, pickled with cloudpickle
    (classes defined in a script travel by value; classes of an installed package must be
    importable on the workers); each worker keeps one copy and loads each checkpoint into it.
    Checkpoint files are read by the workers, at the paths the driver sees.

    Examples
    --------
    >>> from distributed import LocalCluster  # doctest: +SKIP
    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster:  # doctest: +SKIP
    ...     with ClusterExecutor(cluster.scheduler_address) as ex:
    ...         ti.run_pipeline(model, "ckpts/", probe, "runs/x", layers=["fc"],
    ...                         execution=ti.ExecutionOptions(executor=ex))
    """

    def __init__(self, address: Any, options: ClusterOptions | None = None) -> None:
        if options is None:
            options = ClusterOptions()
        if not isinstance(options, ClusterOptions):
            raise ConfigError(
                f"Expected options to be a ClusterOptions or None, got "
                f"{type(options).__name__}; pass ClusterOptions(...)."
            )
        self.options = options
        super().__init__(
            address, timeout=options.connect_timeout, stall_timeout=options.stall_timeout
        )

    def __repr__(self) -> str:
        return f"ClusterExecutor({self._address}, {self.options!r})"

    def _slots(self) -> int:
        if self.options.in_flight:
            return self.options.in_flight
        try:
            threads = sum(self.client.nthreads().values())
        except (CancelledError, OSError) as err:
            raise self._lost(err) from err
        return max(1, threads)

    def imap_shared(
        self,
        func: Callable[[T, Any], R],
        items: Iterable[T],
        shared: Any,
        *,
        name: Callable[[T], str] = str,
    ) -> Generator[tuple[int, R | Lost], None, None]:
        """Yield ``(index, func(item, shared))`` for the items in completion order, with at most
        ``in_flight`` tasks submitted at once and ``shared`` sent to the cluster once.

        ``items`` is read lazily, one item per free slot, so that a long list of checkpoints
        starts at once; ``name(item)`` names it in errors and task keys.

        An item whose workers kept dying (``KilledWorker`` after the scheduler's retries)
        yields a :class:`Lost` and the others go on. A scheduler that stops answering, or a
        cluster with no worker for ``stall_timeout`` seconds, raises ExecutionError; the
        task's own errors are raised with their class.
        """

        from tda_interp.execution._dask_plugin import SharedPayload

        names: dict[int, str] = {}
        resources = {self.options.resource: 1} if self.options.resource else None
        try:
            # a plugin, not `scatter` or a task: every worker gets it, restarted ones too
            blob = dumps_by_value(shared)
            digest = hashlib.sha256(blob).hexdigest()
            plugin = f"tda-interp-shared-{digest[:16]}"
            self.client.register_plugin(SharedPayload(blob, digest), name=plugin)
            del blob
            queue = enumerate(items)
            index: dict[Any, int] = {}

            def submit_next() -> Any:
                nxt = next(queue, None)
                if nxt is None:
                    return None
                i, item = nxt
                names[i] = name(item)
                fut = self.client.submit(
                    _call_shared,
                    func,
                    item,
                    digest,
                    pure=False,
                    resources=resources,
                    key=_key(names[i]),
                )
                index[fut] = i
                return fut

        except (CancelledError, OSError) as err:
            raise self._lost(err) from err
        pending: set[Any] = set()
        no_worker_since: float | None = None
        try:
            try:
                while len(index) < self._slots() and (first := submit_next()) is not None:
                    pending.add(first)
            except (CancelledError, OSError) as err:
                raise self._lost(err) from err
            while pending:
                done, pending, no_worker_since = self._next_done(pending, no_worker_since)
                for fut in done:
                    i = index.pop(fut)
                    label = names.pop(i)
                    outcome: R | Lost
                    try:
                        outcome = fut.result()
                    except (CancelledError, OSError) as err:
                        raise self._lost(err) from err
                    except Exception as err:
                        if type(err).__name__ != "KilledWorker":
                            raise  # the task's own error, with its class
                        outcome = Lost(
                            ExecutionError(
                                f"{label}: every worker that ran it died ({err}); the "
                                "scheduler retried it distributed.scheduler.allowed-failures "
                                "times (3 by default). Out of memory? Give the workers more "
                                "memory, then rerun to resume."
                            )
                        )
                    try:  # workers may have joined or left: refill to one task per thread
                        while len(index) < self._slots() and (nxt := submit_next()) is not None:
                            pending.add(nxt)
                    except (CancelledError, OSError) as err:
                        raise self._lost(err) from err
                    yield i, outcome
        finally:
            for fut in list(index):
                fut.cancel()
            with contextlib.suppress(Exception):  # the scheduler may be gone
                self.client.unregister_worker_plugin(plugin)


_COUNTER = iter(range(1 << 62))
_COUNTER_LOCK = threading.Lock()


def _key(name: str) -> str:
    """A unique task key that reads well on the dashboard (``checkpoint 'step_1'-...``)."""
    with _COUNTER_LOCK:
        n = next(_COUNTER)
    return f"{name}-{time.time_ns():x}-{n}"
