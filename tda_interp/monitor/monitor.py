"""Persistent homology of a probe set during training, from the user's own loop.

:class:`TopologyMonitor` is called once per training step; every ``every`` steps it captures the
probe set's activations, computes the diagrams and appends them to a run directory (checkpoint
label ``step_000100``), through :func:`tda_interp.pipeline.store_activations`, the same step
checkpoint replay uses. The run directory reads back like any other (``read_summaries``,
``write_report``).

Training is left exactly as it was: the capture runs under :func:`torch.no_grad` with the model
in eval mode; every module's train/eval flag, the ``.grad`` of every parameter and the global
random states (torch CPU and CUDA, Python :mod:`random`, NumPy's global generator) are restored
afterwards, so a run with the monitor gives bit-identical weights to a run without.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, SupportsFloat

import numpy as np
import torch
from torch import nn

from tda_interp.exceptions import ConfigError, TdaInterpError, with_context
from tda_interp.execution import WarningLog, executor_scope, open_cache
from tda_interp.homology.views import ViewLike, resolve_views
from tda_interp.hooks import inputs_fingerprint, run_capture
from tda_interp.hooks.inputs import Inputs
from tda_interp.hooks.sites import SiteSpec
from tda_interp.options import (
    CaptureOptions,
    ExecutionOptions,
    RipsOptions,
    SignificanceOptions,
    SummaryOptions,
)
from tda_interp.pipeline import RunPlan, compute_results, plan_run
from tda_interp.store.metrics import check_metrics
from tda_interp.store.writer import RunWriter

__all__ = [
    "MONITOR_EXECUTION",
    "TopologyMonitor",
    "detect_rank",
    "preserved_rng_state",
    "weights_fingerprint",
]

#: Where a monitor computes by default: in the training process, without the diagram cache.
#: Forking a training process, or starting workers in the middle of training, is rarely what
#: a training loop wants; and every step's activations are new, so the cache never hits.
MONITOR_EXECUTION = ExecutionOptions(executor="serial", cache=False)

_SAMPLE = 4096  # elements per tensor hashed into the weights fingerprint


@contextmanager
def preserved_rng_state() -> Iterator[None]:
    """Restore the global random states on exit: torch (CPU, every CUDA device), Python, NumPy.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_rng_state()
    >>> with preserved_rng_state():
    ...     _ = torch.rand(3)
    >>> torch.equal(torch.get_rng_state(), before)
    True
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()  # noqa: NPY002 - the legacy global state is the point
    torch_state = torch.get_rng_state()
    cuda_states = (
        torch.cuda.get_rng_state_all()
        if torch.cuda.is_available() and torch.cuda.is_initialized()
        else None
    )
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


def weights_fingerprint(model: nn.Module) -> str:
    """A cheap fingerprint of a model's weights, to tell two training runs apart.

    Hashes every state-dict entry's name, shape and dtype and up to 4,096 evenly spaced elements
    of it (read exactly, never summed, so it does not depend on thread count or device). Only
    those elements travel off the accelerator.

    Examples
    --------
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> fa, fb = weights_fingerprint(a), weights_fingerprint(b)
    >>> fa == weights_fingerprint(a), fa == fb
    (True, False)
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
            flat: torch.Tensor = tensor.detach().reshape(-1)
            if flat.numel() > _SAMPLE:
                flat = flat[:: -(-flat.numel() // _SAMPLE)]
            sample = flat.cpu().contiguous()
            if sample.dtype == torch.bfloat16:
                sample = sample.view(torch.int16)
            digest.update(sample.numpy().tobytes())
    return "weights-sample:sha256:" + digest.hexdigest()


def _device(model: nn.Module) -> torch.device | None:
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return None


def _to(inputs: Inputs, device: torch.device) -> Inputs:
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    if isinstance(inputs, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    return tuple(v.to(device) if isinstance(v, torch.Tensor) else v for v in inputs)


def detect_rank() -> int:
    """This process's rank in distributed training: from :mod:`torch.distributed` when a
    process group is initialised, else the ``RANK`` environment variable, else 0.

    Examples
    --------
    >>> detect_rank()  # a single process
    0
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    value = os.environ.get("RANK", "").strip()
    if not value:
        return 0
    try:
        rank = int(value)
    except ValueError:
        rank = -1
    if rank < 0:
        raise ConfigError(
            f"Expected the RANK environment variable to be an int >= 0, got {value!r}; unset "
            "it, or pass rank= to TopologyMonitor."
        )
    return rank


def _unwrap(model: nn.Module) -> nn.Module:
    """The module a data-parallel wrapper holds (whose layer names the user gave); FSDP is
    refused."""
    name = type(model).__name__
    if name == "FullyShardedDataParallel" or type(model).__module__.startswith(
        "torch.distributed.fsdp"
    ):
        raise ConfigError(
            f"Expected a model whose weights this process holds, got a {name} (sharded across "
            "ranks); the monitor records on rank 0 only. Gather the full state dict on rank 0 "
            "and load it into an unsharded copy, or save checkpoints and run `tda-interp run`."
        )
    if isinstance(model, nn.parallel.DistributedDataParallel | nn.DataParallel):
        return model.module
    return model


class TopologyMonitor:
    """Record the topology of a probe set's activations every ``every`` training steps.

    Call :meth:`step` from the training loop after each optimiser step; it works on steps that
    are multiples of ``every`` (step 0 included, so calling it before training records the
    initial model) and returns at once otherwise. Each recorded step becomes a checkpoint
    ``step_000100`` of the run directory, with one result per (layer, view).

    Parameters
    ----------
    run_dir : path
        Run directory to create, or to resume if it was written with the same parameters.
    probe_inputs : Tensor, tuple of Tensors or dict of Tensors
        The probe set, batch along dim 0; moved to the model's device when captured.
    layers : str, sequence of str or callable
        Module paths, globs or a predicate; see :func:`tda_interp.hooks.resolve_sites`.
    every : int, default=100
        Record on steps that are multiples of ``every``.
    views : str or sequence of str, default=("raw",)
        See :mod:`tda_interp.homology.views`.
    capture, homology, significance, summary : option objects, optional
        As for :func:`tda_interp.run_pipeline`: how outputs become points, how clouds become
        diagrams, significance calls (the universal test by default) and summaries.
    execution : ExecutionOptions, optional
        Where diagrams are computed; default :data:`MONITOR_EXECUTION` (in this process, no
        cache).
    info : dict, optional
        Descriptive manifest fields (model name, notes).
    overwrite : bool, default=False
        Discard an existing run directory's results.
    label_format : str, default="step_{step:06d}"
        Checkpoint label of a recorded step.
    rank : int or None, default=None
        This process's rank in distributed training. Only rank 0 records; every other rank's
        :meth:`step` returns 0 at once and never opens the run directory. ``None``: read it,
        at the first call of :meth:`step`, from :mod:`torch.distributed` when a process group
        is initialised, else from the ``RANK`` environment variable (set by ``torchrun``,
        Lightning and Accelerate), else 0.

    Attributes
    ----------
    recorded : list of str
        Labels this monitor recorded, in order.

    Notes
    -----
    The run directory and the resolved layer names are set up on the first call of
    :meth:`step`, which needs the model. When a run is resumed into the same directory, a step
    already recorded is skipped if the model's weights match those recorded (see
    :func:`weights_fingerprint`); if they differ, it is another training run and
    :class:`~tda_interp.exceptions.RunDirError` is raised (pass ``overwrite=True`` or a new
    directory). A module whose forward pass updates buffers even in eval mode is not restored.
    A warning raised at many steps (duplicate points, say) is said once, at the first step.

    In distributed data-parallel training every rank holds the same weights, so rank 0's
    diagrams are every rank's: one run directory, written by one process, with no duplicates.
    A model wrapped in ``DistributedDataParallel`` (or ``DataParallel``) is unwrapped (its
    forward pass is a collective that the other ranks would not join); layer names are those
    of the wrapped module. Fully sharded models (FSDP) are refused: no rank holds the weights.
    The other ranks wait for rank 0 at their next collective, for as long as the diagrams take.

    Examples
    --------
    >>> import tempfile, torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(2, 16), nn.Dropout(0.1), nn.ReLU(), nn.Linear(16, 2))
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> monitor = TopologyMonitor(tempfile.mkdtemp(), torch.randn(20, 2), ["2"], every=2)
    >>> for step in range(1, 5):
    ...     opt.zero_grad()
    ...     model(torch.randn(8, 2)).pow(2).mean().backward()
    ...     opt.step()
    ...     _ = monitor.step(model, step)
    >>> monitor.recorded
    ['step_000002', 'step_000004']
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        probe_inputs: Inputs,
        layers: SiteSpec,
        *,
        every: int = 100,
        views: Sequence[ViewLike] | ViewLike = ("raw",),
        capture: CaptureOptions | None = None,
        homology: RipsOptions | None = None,
        significance: SignificanceOptions | None = None,
        summary: SummaryOptions | None = None,
        execution: ExecutionOptions | None = None,
        info: dict[str, Any] | None = None,
        overwrite: bool = False,
        label_format: str = "step_{step:06d}",
        rank: int | None = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(
                f"Expected every to be a positive int (record every N steps), got {every!r}."
            )
        self.run_dir = Path(run_dir)
        self.every = every
        self.layers = layers
        self.views = views
        self.capture, self.homology = capture, homology
        self.significance, self.summary = significance, summary
        self.execution = MONITOR_EXECUTION if execution is None else execution
        self.info = {"source": "TopologyMonitor", "every": every} | dict(info or {})
        self.overwrite = overwrite
        self.label_format = label_format
        self.recorded: list[str] = []
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 0):
            raise ConfigError(
                f"Expected rank to be an int >= 0 or None (detect it), got {rank!r}; pass "
                "rank=torch.distributed.get_rank(), or leave it out."
            )
        self.rank = rank
        self._inputs = probe_inputs
        self._on_device: tuple[torch.device, Inputs] | None = None
        self._plan: RunPlan | None = None
        self._writer: RunWriter | None = None
        self._last_step: int | None = None
        self._log = WarningLog()
        self._pending: list[tuple[int, dict[str, float], str | None]] = []  # logged before open
        if not isinstance(self.execution, ExecutionOptions):
            raise ConfigError(
                f"Expected execution to be an ExecutionOptions or None, got "
                f"{type(execution).__name__}."
            )
        inputs_fingerprint(probe_inputs)  # a bad probe set fails here, not at the first step
        resolve_views(views)

    def __repr__(self) -> str:
        return (
            f"TopologyMonitor(run_dir={str(self.run_dir)!r}, every={self.every}, "
            f"layers={self.layers!r}, recorded={len(self.recorded)})"
        )

    @property
    def warning_counts(self) -> dict[str, int]:
        """How many results raised each kind of warning so far (each kind is said once)."""
        return self._log.counts()

    def is_due(self, step: int) -> bool:
        """Whether :meth:`step` would record at ``step``."""
        return step % self.every == 0 and step != self._last_step

    def step(self, model: nn.Module, step: int) -> int:
        """Record the probe set's topology if ``step`` is a multiple of ``every``.

        Parameters
        ----------
        model : torch.nn.Module
            The model being trained; its weights, gradients, train/eval flags and the global
            random states are left as they were.
        step : int
            The training step (optimiser steps taken so far). A step equal to the last one seen
            (e.g. during gradient accumulation) is not recorded twice.

        Returns
        -------
        int
            Number of results written (0 if the step was not due or already on disk).
        """
        step = int(step)
        if self._rank() != 0:
            return 0
        self._open(_unwrap(model))  # on the first call: resolve layers, open the run directory
        if not self.is_due(step):
            return 0
        self._last_step = step
        return self.record(model, step)

    def record(self, model: nn.Module, step: int) -> int:
        """Record the probe set's topology now, whatever the step (on rank 0; other ranks
        return 0); see :meth:`step`."""
        if self._rank() != 0:
            return 0
        model = _unwrap(model)
        writer, plan = self._open(model)
        label = self.label_format.format(step=int(step))
        writer.add_checkpoint(
            label,
            int(step),
            source=f"training step {int(step)}",
            fingerprint=weights_fingerprint(model),
        )
        todo = plan.todo(writer, label)
        if not todo:
            return 0
        sites = list(dict.fromkeys(site for site, _ in todo))
        grads = [(p, p.grad) for p in model.parameters()]
        place = f"checkpoint {label!r}"
        try:
            with preserved_rng_state(), self._log.collect(place):
                captured = run_capture(model, self._probe_on(model), sites, plan.capture)
        except TdaInterpError as err:
            raise with_context(err, place) from err
        finally:
            for param, grad in grads:  # no_grad leaves them alone; this guards odd modules
                if param.grad is not grad:
                    param.grad = grad
        activations = captured.activations
        clouds = plan.clouds(writer, label, todo, activations)
        work = plan.work(activations, clouds)
        try:
            with executor_scope(
                self.execution.executor,
                n_tasks=len(clouds),
                work=work,
                stall_timeout=self.execution.stall_timeout,
            ) as ex:
                written = compute_results(
                    writer,
                    plan,
                    label,
                    int(step),
                    activations,
                    clouds,
                    executor=ex,
                    cache=open_cache(self.execution.cache),
                    log=self._log,
                    on_error=self.execution.on_error,
                    model=model,
                )
        except BaseException:
            self._log.emit_quietly(stacklevel=2)
            raise
        self._log.emit(stacklevel=2)
        self.recorded.append(label)
        return written

    def log(
        self,
        step: int,
        metrics: Mapping[str, SupportsFloat] | None = None,
        /,
        **values: SupportsFloat,
    ) -> None:
        """Record scalar metrics of a training step (loss, accuracy...) in the run directory.

        The report draws them on the step axis of the topology; read them back with
        :meth:`tda_interp.store.Run.metrics`. Call it at any step, recorded or not.

        Parameters
        ----------
        step : int
            The training step, >= 0, counted as for :meth:`step`.
        metrics : mapping of str to number, optional
            Metrics by name, for names that are not Python identifiers (``"val/loss"``).
        **values : number
            Metrics by keyword (``loss=0.3, accuracy=0.9``): ``float``, ``int``, NumPy scalars
            or one-element tensors (``loss`` itself will do); NaN and infinities are kept.

        Raises
        ------
        ConfigError
            A bad step, name or value, no metric, or a name given twice; nothing is written.

        Notes
        -----
        Each call appends one line to ``metrics.jsonl`` (see :mod:`tda_interp.store.metrics`);
        at a multiple of ``every`` it carries that step's checkpoint label. Metrics logged
        before the first call of :meth:`step` (which opens the run directory) are kept in
        memory and written then. The same step and name logged again replace the earlier value.
        Like :meth:`step`, only rank 0 writes (see ``rank``); other ranks check and drop them.

        Examples
        --------
        >>> import tempfile, torch
        >>> from torch import nn
        >>> from tda_interp.store import Run
        >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
        >>> monitor = TopologyMonitor(tempfile.mkdtemp(), torch.randn(20, 2), ["1"], every=2)
        >>> for step in range(3):
        ...     _ = monitor.step(model, step)
        ...     monitor.log(step, loss=1.0 / (step + 1), accuracy=0.5)
        >>> Run(monitor.run_dir).metrics().query("name == 'loss'")["value"].round(2).tolist()
        [1.0, 0.5, 0.33]
        """
        where = f"TopologyMonitor.log, run directory {str(self.run_dir)!r}"
        if metrics is not None and not isinstance(metrics, Mapping):
            check_metrics(step, metrics, where=where)  # raises, naming what was passed
        given = dict(metrics or {})
        twice = sorted(set(given) & set(values))
        if twice:
            raise ConfigError(
                f"Metric(s) {', '.join(map(repr, twice))} given twice at step {step!r} ({where}),"
                " in the mapping and as keywords; pass each once.",
                key=twice[0],
            )
        step, checked, _ = check_metrics(step, given | values, where=where)
        label = self.label_format.format(step=step) if step % self.every == 0 else None
        record = (step, checked, label)
        if self._rank() != 0:  # checked on every rank, written by rank 0 only
            return
        if self._writer is None:
            self._pending.append(record)
        else:
            self._writer.log_metrics(*record)

    def _rank(self) -> int:
        """This process's rank (0 outside distributed training), fixed at the first call."""
        if self.rank is None:
            self.rank = detect_rank()
        return self.rank

    def _probe_on(self, model: nn.Module) -> Inputs:
        device = _device(model)
        if device is None or device.type == "cpu":
            return self._inputs
        if self._on_device is None or self._on_device[0] != device:
            self._on_device = (device, _to(self._inputs, device))
        return self._on_device[1]

    def _open(self, model: nn.Module) -> tuple[RunWriter, RunPlan]:
        if self._writer is not None and self._plan is not None:
            return self._writer, self._plan
        plan = plan_run(
            model,
            self._inputs,
            self.layers,
            self.views,
            capture=self.capture,
            homology=self.homology,
            significance=self.significance,
            summary=self.summary,
        )
        info = self.info | {"correction": plan.summary.correction}
        self._writer = RunWriter(self.run_dir, plan.params, info=info, overwrite=self.overwrite)
        self._plan = plan
        while self._pending:  # metrics logged before the run directory could be opened
            self._writer.log_metrics(*self._pending.pop(0))
        return self._writer, plan
