"""The one path through the product: checkpoints -> activations -> diagrams -> run directory.

A run is a short loop over a plan. :func:`plan_run` checks everything a run needs before
anything is written (layers, views, options, probe inputs) and fixes its parameters; then, for
every checkpoint (in natural step order), the model is loaded, the probe inputs are run once with
hooks on every layer still to do (:func:`~tda_interp.hooks.run_capture`), and each (layer, view)
cloud becomes a diagram, significance calls and summaries, written atomically to the run
directory as soon as they exist (:func:`compute_results`). Results already on disk are skipped,
so a rerun after a crash recomputes nothing that finished.

Errors name the checkpoint, layer and view they happened at (added here, once); warnings raised
for many results are said once at the end, with a count and the first places
(:class:`~tda_interp.execution.WarningLog`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from torch import nn

from tda_interp.config import RunConfig, call_factory
from tda_interp.exceptions import (
    ActivationError,
    ConfigError,
    ExecutionError,
    TdaInterpError,
    TdaInterpWarning,
    with_context,
)
from tda_interp.execution import (
    ClusterExecutor,
    DiagramCache,
    Executor,
    RipsTask,
    TaskOutput,
    WarningLog,
    executor_scope,
    make_executor,
    open_cache,
    run_tasks,
)
from tda_interp.execution.cluster import CheckpointJob, Lost, run_checkpoint, split_clouds
from tda_interp.homology.views import View, ViewLike, bind_view, resolve_views
from tda_interp.hooks import (
    checkpoint_fingerprint,
    checkpoint_labels,
    inputs_fingerprint,
    load_checkpoint,
    resolve_checkpoints,
    resolve_sites,
    run_capture,
)
from tda_interp.hooks.checkpoints import CheckpointSpec
from tda_interp.hooks.inputs import Inputs, ProbeSet
from tda_interp.hooks.sites import SiteSpec
from tda_interp.options import (
    CaptureOptions,
    ExecutionOptions,
    Options,
    RipsOptions,
    SignificanceOptions,
    SummaryOptions,
)
from tda_interp.options.run import ProgressCallback, parse_executor
from tda_interp.store.format import step_from_label
from tda_interp.store.writer import RunWriter

__all__ = [
    "ProgressCallback",
    "RunOutcome",
    "RunPlan",
    "compute_results",
    "plan_run",
    "run_from_config",
    "run_pipeline",
]

OptionsT = TypeVar("OptionsT", bound=Options)


@dataclass(frozen=True)
class RunOutcome:
    """What a pipeline run did: results computed now (``failed`` of them recorded as
    failures) and skipped (already on disk)."""

    run_dir: Path
    computed: int
    skipped: int
    checkpoints: tuple[str, ...]
    layers: tuple[str, ...]
    views: tuple[str, ...]
    failed: int = 0


def _given(value: OptionsT | None, cls: type[OptionsT], name: str) -> OptionsT:
    if value is None:
        return cls()
    if not isinstance(value, cls):
        raise ConfigError(
            f"Expected {name} to be a {cls.__name__} or None, got {type(value).__name__}; pass "
            f"{name}={cls.__name__}(...)."
        )
    return value


@dataclass(frozen=True)
class RunPlan:
    """What a run computes: resolved layers and views, the options, the probe set's fingerprint.

    Built by :func:`plan_run`, which checks everything first; :attr:`params` is what the run
    directory records and compares when a run is resumed.
    """

    layers: tuple[str, ...]
    views: tuple[View, ...]
    capture: CaptureOptions
    homology: RipsOptions
    significance: SignificanceOptions
    summary: SummaryOptions
    inputs: Mapping[str, Any]
    point_labels: tuple[str, ...] | None = None

    @property
    def view_names(self) -> tuple[str, ...]:
        """Names of the views, as recorded."""
        return tuple(v.name for v in self.views)

    @property
    def params(self) -> dict[str, Any]:
        """Everything that defines the results (never how they are computed or reported)."""
        return {
            "layers": list(self.layers),
            "views": list(self.view_names),
            "capture": self.capture.params(),
            "homology": self.homology.params(),
            "significance": self.significance.params(),
            "summary": self.summary.params(),
            "inputs": dict(self.inputs),
        } | ({"point_labels": _labels_digest(self.point_labels)} if self.point_labels else {})

    def split(self, captured: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``captured`` plus, when the probe inputs have labels, one cloud per label value of
        every cloud: ``"<cloud>@<label>"`` holds the rows of the inputs with that label.

        Raises
        ------
        ActivationError
            A cloud has not one point per input (a token-level reduction), so its rows cannot
            be told apart by input label.
        """
        out = dict(captured)
        if not self.point_labels:
            return out
        labels = np.asarray(self.point_labels)
        values = _label_values(self.point_labels)
        for name, points in captured.items():
            if len(points) != len(labels):
                raise ActivationError(
                    f"Cloud {name!r} has {len(points)} points but the probe set has "
                    f"{len(labels)} labelled inputs: clouds split by label need one point per "
                    'input. Use a reduction that gives one (reduction = "mean", "last", '
                    '"first" or "flatten"), or drop the labels.'
                )
            for value in values:
                out[f"{name}@{value}"] = points[labels == value]
        return out

    def todo(self, writer: RunWriter, checkpoint: str) -> list[tuple[str, str]]:
        """The (layer, view) pairs of ``checkpoint`` with a result still missing (for a module
        called several times per pass, any of its clouds)."""
        return [
            (layer, view)
            for layer in self.layers
            for view in self.view_names
            if not all(writer.is_done(checkpoint, c, view) for c in writer.clouds_of(layer))
        ]

    def clouds(
        self,
        writer: RunWriter,
        checkpoint: str,
        todo: Sequence[tuple[str, str]],
        captured: Mapping[str, np.ndarray],
    ) -> list[tuple[str, str]]:
        """``todo`` with each layer replaced by the clouds it gave that are still missing.

        A module called k times per pass gives the clouds ``site#0`` .. ``site#k-1``, each
        stored as a layer of its own; the clouds are recorded in the run (so that a result
        missing for any of them is computed on a rerun).
        """
        out = []
        for layer in dict.fromkeys(layer for layer, _ in todo):
            writer.record_clouds(layer, split_clouds(captured, layer))
        for layer, view in todo:
            out += [
                (cloud, view)
                for cloud in writer.clouds_of(layer)
                if not writer.is_done(checkpoint, cloud, view)
            ]
        return out

    def n_results(self, writer: RunWriter) -> int:
        """Results per checkpoint, counting every cloud known so far."""
        return sum(len(writer.clouds_of(layer)) for layer in self.layers) * len(self.views)

    def task(
        self, points: np.ndarray, view: str, place: str, *, model: Any = None, layer: str = ""
    ) -> RipsTask:
        """The task of one cloud in one view; a view chosen per checkpoint (``factory:``) asks
        ``model`` (the checkpoint's weights) which units of ``layer`` to keep."""
        chosen = next(v for v in self.views if v.name == view)
        return RipsTask(
            points=points,
            view=bind_view(chosen, model=model, layer=layer, points=points, place=place),
            rips=self.homology,
            significance=self.significance if self.significance.enabled else None,
            place=place,
        )

    def work(self, captured: Mapping[str, np.ndarray], todo: Sequence[tuple[str, str]]) -> float:
        """Rough work of ``todo`` (sum of squared point counts), to size the executor."""
        approx = self.homology.approximation
        cap = int(approx.value) if approx.mode == "subsample" and approx.value else None
        return float(sum(min(len(captured[c]), cap or len(captured[c])) ** 2 for c, _ in todo))


def plan_run(
    model: nn.Module,
    inputs: Inputs,
    layers: SiteSpec,
    views: Sequence[ViewLike] | ViewLike = ("raw",),
    *,
    capture: CaptureOptions | None = None,
    homology: RipsOptions | None = None,
    significance: SignificanceOptions | None = None,
    summary: SummaryOptions | None = None,
    point_labels: ArrayLike | None = None,
) -> RunPlan:
    """Check everything a run needs, before anything is written, and fix what it computes.

    Raises
    ------
    SiteNotFoundError
        A layer matches no module.
    ConfigError
        A bad view, option object or probe set.
    """
    sites = resolve_sites(model, layers)
    return RunPlan(
        layers=tuple(sites),
        views=tuple(resolve_views(views)),
        capture=_given(capture, CaptureOptions, "capture"),
        homology=_given(homology, RipsOptions, "homology"),
        significance=_given(significance, SignificanceOptions, "significance"),
        summary=_given(summary, SummaryOptions, "summary"),
        inputs=(fingerprint := inputs_fingerprint(inputs)),
        point_labels=_check_labels(point_labels, int(fingerprint["n_inputs"])),
    )


def _check_labels(labels: ArrayLike | None, n_inputs: int) -> tuple[str, ...] | None:
    """Labels of the probe inputs as strings (one per input), checked; None without."""
    if labels is None:
        return None
    arr = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if arr.ndim != 1 or len(arr) != n_inputs:
        raise ConfigError(
            f"Expected point_labels of shape ({n_inputs},), one label per probe input, got "
            f"shape {arr.shape}; pass one int or str per input (e.g. its class).",
            key="point_labels",
        )
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise ConfigError(
            "Expected point_labels to be ints or strs (the groups to split clouds by), got "
            f"floats such as {arr[arr != np.round(arr)][0]!r}; round or bin them first.",
            key="point_labels",
        )
    text = tuple(str(int(v)) if arr.dtype.kind in "fb" else str(v) for v in arr.tolist())
    bad = [v for v in dict.fromkeys(text) if not v or any(c in v for c in "/\\#@")]
    if bad:
        raise ConfigError(
            f"Label {bad[0]!r} cannot name a cloud (empty, or holds one of / \\ # @); "
            "map the labels to plain names or ints first.",
            key="point_labels",
        )
    return text


def _label_values(labels: Sequence[str]) -> list[str]:
    """The distinct labels, in numeric order when all are ints, else sorted as text."""
    distinct = list(dict.fromkeys(labels))
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)


def _labels_digest(labels: Sequence[str]) -> dict[str, Any]:
    text = "\n".join(labels).encode("utf-8")
    return {
        "n_values": len(set(labels)),
        "sha256": "sha256:" + hashlib.sha256(text).hexdigest(),
    }


def compute_results(
    writer: RunWriter,
    plan: RunPlan,
    checkpoint: str,
    step: int,
    captured: Mapping[str, np.ndarray],
    todo: Sequence[tuple[str, str]],
    *,
    executor: Executor,
    cache: DiagramCache | None,
    log: WarningLog,
    on_result: Callable[[str, str], None] | None = None,
    on_error: str = "record",
    model: nn.Module | None = None,
) -> int:
    """Compute the diagram (and calls) of every (cloud, view) in ``todo`` and write each to the
    run as soon as it exists; the one place where captured activations become results (used by
    :func:`run_pipeline` and :class:`~tda_interp.TopologyMonitor`).

    Parameters
    ----------
    writer : RunWriter
    plan : RunPlan
    checkpoint : str
        Checkpoint label.
    step : int
        Its training step.
    captured : mapping of str to ndarray of shape (n_points, n_features)
        One cloud per layer (see :meth:`RunPlan.clouds`).
    todo : sequence of (cloud, view name)
    executor : Executor
    cache : DiagramCache or None
        Tasks found here are not recomputed; new results go in after they are written.
    log : WarningLog
        Receives the warnings of every result, with its place.
    on_result : callable, optional
        ``on_result(cloud, view)`` after each written result.
    on_error : {"record", "raise"}, default "record"
        A cloud that cannot give a diagram is recorded as a failure, or raises.
    model : torch.nn.Module, optional
        The model with this checkpoint's weights, for views chosen per checkpoint
        (``factory:`` views, :func:`tda_interp.homology.views.bind_view`).

    Returns
    -------
    int
        Number of results written.
    """
    places = [f"checkpoint {checkpoint!r} layer {c!r} view {v!r}" for c, v in todo]
    tasks = [
        plan.task(captured[c], v, place, model=model, layer=c)
        for (c, v), place in zip(todo, places, strict=True)
    ]
    for index, output in run_tasks(tasks, executor, cache):
        cloud, view = todo[index]
        _write_output(writer, plan, checkpoint, step, cloud, view, output, log, on_error)
        if on_result is not None:
            on_result(cloud, view)
    return len(tasks)


def _write_output(
    writer: RunWriter,
    plan: RunPlan,
    checkpoint: str,
    step: int,
    cloud: str,
    view: str,
    output: TaskOutput,
    log: WarningLog,
    on_error: str,
) -> None:
    """Write one task's result (or its failure) to the run, its warnings to the log."""
    place = f"checkpoint {checkpoint!r} layer {cloud!r} view {view!r}"
    log.add(output.warnings, place)
    if output.diagram is None:
        error = output.failure or RuntimeError("no diagram")
        if on_error == "raise":
            raise error
        writer.write_failure(checkpoint, cloud, view, error, step=step)
        log.add([_failed_warning(error)], place)
    else:
        writer.write(
            checkpoint,
            cloud,
            view,
            output.diagram,
            step=step,
            significance=output.significance,
            summary=plan.summary,
        )


def _note_recomputed(writer: RunWriter, log: WarningLog) -> None:
    for path in writer.recomputed:
        log.add(
            [
                TdaInterpWarning(
                    "A result file was unreadable (truncated or corrupt) or computed with other "
                    "parameters; it was recomputed and replaced.",
                    kind="result-recomputed",
                )
            ],
            str(path.relative_to(writer.run_dir)),
        )
    writer.recomputed.clear()


def _failed_warning(error: BaseException) -> TdaInterpWarning:
    reason = str(error).split(": ", 1)[-1]  # the place is listed with the warning
    return TdaInterpWarning(
        f"A diagram could not be computed and is recorded as a failure ({type(error).__name__}: "
        f'{reason}); the run went on (on_error="record"; "raise" stops instead).',
        kind=f"failed-{type(error).__name__}",
    )


def run_pipeline(
    model: nn.Module,
    checkpoints: CheckpointSpec,
    inputs: Inputs | ProbeSet,
    run_dir: str | os.PathLike[str],
    *,
    layers: SiteSpec,
    views: Sequence[ViewLike] | ViewLike = ("raw",),
    capture: CaptureOptions | None = None,
    homology: RipsOptions | None = None,
    significance: SignificanceOptions | None = None,
    summary: SummaryOptions | None = None,
    execution: ExecutionOptions | None = None,
    strict: bool = True,
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> RunOutcome:
    """Compute and store the diagrams of every (checkpoint, layer, view).

    Parameters
    ----------
    model : torch.nn.Module
        The architecture; each checkpoint's weights are loaded into it in turn.
    checkpoints : path, glob or sequence of paths
        A folder, a glob or a file (natural step order), or a list in training order:
        state-dict files (``.pt``/``.pth``, ``.safetensors``) or Hugging Face model folders.
    inputs : Tensor, tuple of Tensors, dict of Tensors or ProbeSet
        The probe set, batch along dimension 0; a :class:`~tda_interp.hooks.ProbeSet` adds a
        label per input: besides the whole cloud, each layer then gives one cloud per label
        value, ``"<layer>@<label>"``, of the points of the inputs with that label (the
        reduction must give one point per input).
    run_dir : path
        Where results go; resumed if it exists with the same parameters.
    layers : str, sequence, callable or module type
        Module paths or globs (see :func:`tda_interp.hooks.resolve_sites`).
    views : str, View or sequence of them, default ("raw",)
        See :mod:`tda_interp.homology.views`; names are recorded in the run.
    capture : CaptureOptions, optional
        How module outputs become points (reduction, output_index, hook, batch_size...).
    homology : RipsOptions, optional
        How each cloud becomes a diagram (maxdim, metric, approximation...).
    significance : SignificanceOptions, optional
        Significance calls for every bar, stored beside each diagram, and ``n_significant`` and
        ``betti_significant`` in the summaries; by default the universal test (nearly free);
        ``SignificanceOptions(method="none")``: no calls.
    summary : SummaryOptions, optional
        How the stored summaries are computed (``long_bar``).
    execution : ExecutionOptions, optional
        Where the tasks of a checkpoint run (``executor``), the diagram cache, a progress
        callback; never part of the run's parameters.
    strict : bool, default True
        Checkpoint keys must match the model exactly (see
        :func:`tda_interp.hooks.load_checkpoint`).
    info : dict, optional
        Descriptive manifest fields (model name, title).
    overwrite : bool, default False
        Discard a run directory written with other parameters.

    Returns
    -------
    RunOutcome

    Raises
    ------
    SiteNotFoundError, ConfigError, CheckpointError
        Before anything is written, for bad layers, options, inputs or checkpoint paths.
    ActivationError, CaptureError, HomologyError
        During the run, naming the checkpoint (and the layer and view).
    RunDirError
        ``run_dir`` holds another run, or a checkpoint changed since its results were written.
    """
    exec_opts = _given(execution, ExecutionOptions, "execution")
    point_labels = None
    if isinstance(inputs, ProbeSet):
        point_labels = inputs.labels
        inputs = inputs.inputs
    paths = resolve_checkpoints(checkpoints)
    labels = checkpoint_labels(paths)
    plan = plan_run(
        model,
        inputs,
        layers,
        views,
        capture=capture,
        homology=homology,
        significance=significance,
        summary=summary,
        point_labels=point_labels,
    )
    info = dict(info or {}) | {"correction": plan.summary.correction}
    writer = RunWriter(run_dir, plan.params, info=info, overwrite=overwrite)
    computed = 0
    done: dict[str, int] = {}  # results on disk per checkpoint

    def total() -> int:  # grows when a module turns out to be called several times per pass
        return len(paths) * plan.n_results(writer)

    def report(description: str) -> None:
        if exec_opts.progress:
            exec_opts.progress(description, sum(done.values()), total())

    cache = open_cache(exec_opts.cache)
    log = WarningLog()
    report("starting")
    chosen = exec_opts.executor
    owned: Executor | None = None  # "dask-checkpoints:ADDRESS": a cluster executor made here
    if isinstance(chosen, str) and parse_executor(chosen)[0] == "dask-checkpoints":
        owned = make_executor(chosen, n_tasks=0, work=0.0, stall_timeout=exec_opts.stall_timeout)
        chosen = owned
    try:
        if isinstance(chosen, ClusterExecutor):
            computed = _run_on_cluster(
                chosen,
                writer,
                plan,
                model,
                inputs,
                paths,
                labels,
                strict=strict,
                cache=cache,
                log=log,
                done=done,
                report=report,
                on_error=exec_opts.on_error,
            )
        else:
            with ExitStack() as stack:
                runner: Executor | None = None  # chosen once the first clouds show the work
                for index, (path, label) in enumerate(zip(paths, labels, strict=True)):
                    step = step_from_label(label, default=index)
                    fingerprint = checkpoint_fingerprint(path)
                    writer.add_checkpoint(label, step, source=str(path), fingerprint=fingerprint)
                    todo = plan.todo(writer, label)
                    if not todo:
                        if label not in done:
                            done[label] = plan.n_results(writer)
                            report(f"{label}: already done")
                        continue
                    load_checkpoint(model, path, strict=strict)
                    captured = plan.split(_capture(model, inputs, plan, todo, label, log))
                    clouds = plan.clouds(writer, label, todo, captured)
                    done[label] = plan.n_results(writer) - len(clouds)
                    if runner is None:
                        work = plan.work(captured, clouds) * len(paths)
                        runner = stack.enter_context(
                            executor_scope(
                                exec_opts.executor,
                                n_tasks=total() - sum(done.values()),
                                work=work,
                                stall_timeout=exec_opts.stall_timeout,
                            )
                        )

                    def on_result(cloud: str, view: str, label: str = label) -> None:
                        done[label] += 1
                        report(f"{label} {cloud} {view}")

                    computed += compute_results(
                        writer,
                        plan,
                        label,
                        step,
                        captured,
                        clouds,
                        executor=runner,
                        cache=cache,
                        log=log,
                        on_result=on_result,
                        on_error=exec_opts.on_error,
                        model=model,
                    )
    except BaseException:
        _note_recomputed(writer, log)
        log.emit_quietly(stacklevel=2)
        raise
    finally:
        if owned is not None:
            owned.close()
    _note_recomputed(writer, log)
    log.emit(stacklevel=2)
    return RunOutcome(
        run_dir=Path(run_dir),
        computed=computed,
        skipped=total() - computed,
        checkpoints=tuple(labels),
        layers=tuple(c for layer in plan.layers for c in writer.clouds_of(layer)),
        views=plan.view_names,
        failed=writer.n_failed,
    )


def _run_on_cluster(
    runner: ClusterExecutor,
    writer: RunWriter,
    plan: RunPlan,
    model: nn.Module,
    inputs: Inputs,
    paths: Sequence[Path],
    labels: Sequence[str],
    *,
    strict: bool,
    cache: DiagramCache | None,
    log: WarningLog,
    done: dict[str, int],
    report: Callable[[str], None],
    on_error: str,
) -> int:
    """Run every checkpoint with results missing as one task on the cluster (load, capture,
    diagrams on a worker) and write each result here as it arrives; the run directory stays the
    single source of truth, written only by this process.

    Checkpoints whose workers kept dying are reported at the end (ExecutionError), after
    every other checkpoint is written; a rerun resumes them.
    """
    jobs: list[CheckpointJob] = []
    steps: dict[str, int] = {}
    cache_dir = str(cache.directory) if cache is not None else None

    def pending() -> Iterator[CheckpointJob]:
        """The checkpoints with results missing, in order, read as workers free up (so the
        first tasks start while later files are still being fingerprinted)."""
        for index, (path, label) in enumerate(zip(paths, labels, strict=True)):
            step = steps[label] = step_from_label(label, default=index)
            fingerprint = checkpoint_fingerprint(path)
            writer.add_checkpoint(label, step, source=str(path), fingerprint=fingerprint)
            todo = plan.todo(writer, label)
            if not todo:
                done[label] = plan.n_results(writer)
                report(f"{label}: already done")
                continue
            finished = frozenset(
                (cloud, view)
                for layer, view in todo
                for cloud in writer.clouds_of(layer)
                if writer.is_done(label, cloud, view)
            )
            done[label] = (
                plan.n_results(writer)
                - sum(len(writer.clouds_of(layer)) for layer, _ in todo)
                + len(finished)
            )
            jobs.append(
                CheckpointJob(
                    label=label,
                    path=str(Path(path).resolve()),
                    fingerprint=fingerprint,
                    plan=plan,
                    todo=tuple(todo),
                    done=finished,
                    strict=strict,
                    device=runner.options.device,
                    cache_dir=cache_dir,
                )
            )
            yield jobs[-1]

    computed = 0
    lost: list[str] = []
    results = runner.imap_shared(
        run_checkpoint, pending(), (model, inputs), name=lambda job: job.place
    )
    with closing(results):  # an error here cancels the tasks still queued
        for index, outcome in results:
            job = jobs[index]
            if isinstance(outcome, Lost):
                lost.append(str(outcome.error))
                continue
            log.add(outcome.warnings, job.place)
            for layer, clouds in outcome.clouds.items():
                writer.record_clouds(layer, clouds)
            for item in outcome.results:
                _write_output(
                    writer,
                    plan,
                    job.label,
                    steps[job.label],
                    item.cloud,
                    item.view,
                    item.output,
                    log,
                    on_error,
                )
                computed += 1
                done[job.label] += 1
                report(f"{job.label} {item.cloud} {item.view}")
                if cache is not None and item.key and item.output.diagram is not None:
                    if not item.output.cached:  # written first, then cached
                        _cache_put(cache, item.key, item.output, log)
            done[job.label] = plan.n_results(writer)  # every missing result of it is written
    if lost:
        raise ExecutionError(
            f"{len(lost)} checkpoint(s) were not computed: "
            + "; ".join(lost[:3])
            + ("; ..." if len(lost) > 3 else "")
            + f" Every other result is written to {str(writer.run_dir)!r}."
        )
    return computed


def _cache_put(cache: DiagramCache, key: str, output: TaskOutput, log: WarningLog) -> None:
    assert output.diagram is not None
    try:
        cache.put(key, output.diagram, output.significance)
    except OSError as err:
        log.add(
            [
                TdaInterpWarning(
                    f"The diagram cache at {str(cache.directory)!r} cannot be written ({err}); "
                    "results are written. Free space, point [execution] cache at another "
                    "folder, or set it to false.",
                    kind="cache-failed",
                )
            ],
            "the diagram cache",
        )


def _capture(
    model: nn.Module,
    inputs: Inputs,
    plan: RunPlan,
    todo: Sequence[tuple[str, str]],
    label: str,
    log: WarningLog,
) -> dict[str, np.ndarray]:
    """The clouds of the layers in ``todo`` at one checkpoint (errors and warnings named)."""
    place = f"checkpoint {label!r}"
    try:
        with log.collect(place):
            sites = list(dict.fromkeys(layer for layer, _ in todo))
            return run_capture(model, inputs, sites, plan.capture).activations
    except TdaInterpError as err:
        raise with_context(err, place) from err


def run_from_config(
    config: RunConfig,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> RunOutcome:
    """Run the pipeline described by a :class:`~tda_interp.config.RunConfig`.

    ``run_dir`` overrides the config's ``run_dir``; one of them must be given. A progress
    callback goes in ``config.execution`` (``dataclasses.replace``). Without checkpoints, the
    model as its factory makes it is the one checkpoint, ``"pretrained"`` (step 0): its weights
    are saved once to a temporary safetensors file, whose digest guards a resumed run.
    """
    import tempfile

    from safetensors.torch import save_model

    target = run_dir if run_dir is not None else config.run_dir
    if target is None:
        raise ConfigError("No run directory: set run_dir in the config file or pass -o/--run-dir.")
    where = f"{config.file}: " if config.file is not None else ""
    model = call_factory(
        config.model_factory,
        base_dir=config.base_dir,
        what="model factory",
        args=config.model_args,
        where=f"{where}[model.args]",
    )
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"The model factory {config.model_factory!r} returned a "
            f"{type(model).__name__}, expected a torch.nn.Module."
        )
    inputs = call_factory(
        config.inputs_factory,
        base_dir=config.base_dir,
        what="inputs factory",
        args=config.inputs_args,
        where=f"{where}[inputs.args]",
    )
    if config.labels_factory is not None:
        labels = call_factory(
            config.labels_factory,
            base_dir=config.base_dir,
            what="labels factory",
            args=config.inputs_args,
            where=f"{where}[inputs.args]",
        )
        inputs = ProbeSet(inputs, labels)
    views = resolve_views(list(config.views), base_dir=config.base_dir)
    # what `tda-interp compare` needs to capture the same clouds again
    info: dict[str, Any] = {
        "model": config.model_factory,
        "inputs": config.inputs_factory,
        "base_dir": str(Path(config.base_dir).resolve()),
        "strict": config.strict,
    }
    info |= {"model_args": dict(config.model_args)} if config.model_args else {}
    info |= {"inputs_args": dict(config.inputs_args)} if config.inputs_args else {}
    info |= {"labels": config.labels_factory} if config.labels_factory else {}
    if config.title:
        info["title"] = config.title
    with ExitStack() as stack:
        if config.checkpoints is None:
            info["pretrained"] = True
            pattern = str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "pretrained")
            pattern += ".safetensors"
            save_model(model, pattern, force_contiguous=True)
        else:
            pattern = config.checkpoints
            if not os.path.isabs(pattern):
                pattern = str(config.base_dir / pattern)
        return run_pipeline(
            model,
            pattern,
            inputs,
            target,
            layers=list(config.layers),
            views=views,
            capture=config.capture,
            homology=config.homology,
            significance=config.significance,
            summary=config.summary,
            execution=config.execution,
            strict=config.strict,
            info=info,
            overwrite=overwrite,
        )
