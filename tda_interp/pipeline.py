"""The one path through the product: checkpoints -> activations -> diagrams -> run directory.

Data flows one way. For every checkpoint (in natural step order) the model is loaded, the probe
inputs are run once with hooks on every layer, and each (layer, view) cloud becomes a diagram and
summaries, written atomically to the run directory. Results already on disk are skipped, so a
rerun after a crash recomputes nothing that finished.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tda_interp.config import RunConfig, resolve_factory
from tda_interp.diagrams.summaries import DEFAULT_LONG_BAR
from tda_interp.exceptions import CaptureError, CheckpointError, ConfigError, TdaInterpWarning
from tda_interp.execution import (
    DiagramCache,
    Executor,
    RipsTask,
    TaskOutput,
    default_cache_dir,
    make_executor,
    run_task,
    task_key,
)
from tda_interp.homology.views import View, ViewLike, parse_view, resolve_views
from tda_interp.hooks import (
    capture_activations,
    checkpoint_labels,
    find_checkpoints,
    load_checkpoint,
    resolve_sites,
)
from tda_interp.store.format import step_from_label
from tda_interp.store.writer import RunWriter

__all__ = [
    "HomologyParams",
    "ProgressCallback",
    "RunOutcome",
    "inputs_fingerprint",
    "run_from_config",
    "run_params",
    "run_pipeline",
    "store_activations",
]

#: ``progress(description, done, total)``, called before work starts and after each result.
ProgressCallback = Callable[[str, int, int], None]
Inputs = torch.Tensor | tuple[torch.Tensor, ...] | Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class RunOutcome:
    """What a pipeline run did."""

    run_dir: Path
    computed: int
    skipped: int
    checkpoints: tuple[str, ...]
    layers: tuple[str, ...]
    views: tuple[str, ...]


def _tensors(inputs: Inputs) -> list[tuple[str, torch.Tensor]]:
    if isinstance(inputs, torch.Tensor):
        return [("0", inputs)]
    if isinstance(inputs, Mapping):
        return [(str(k), v) for k, v in sorted(inputs.items())]
    if isinstance(inputs, tuple | list):
        return [(str(i), v) for i, v in enumerate(inputs)]
    raise ConfigError(
        f"Expected probe inputs as a Tensor, a tuple of Tensors or a dict of Tensors, got "
        f"{type(inputs).__name__}; make the inputs factory return one of these."
    )


def inputs_fingerprint(inputs: Inputs) -> dict[str, Any]:
    """Shape, dtype and SHA-256 of the probe inputs, so a rerun cannot mix probe sets."""
    digest = hashlib.sha256()
    shapes = {}
    for key, tensor in _tensors(inputs):
        if not isinstance(tensor, torch.Tensor):
            raise ConfigError(
                f"Probe input {key!r} is a {type(tensor).__name__}, expected a torch.Tensor."
            )
        t = tensor.detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(str(t.dtype).encode())
        digest.update(str(tuple(t.shape)).encode())
        digest.update(
            t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes()
        )
        shapes[key] = [list(t.shape), str(t.dtype).removeprefix("torch.")]
    return {"sha256": digest.hexdigest(), "tensors": shapes}


#: Files of a model folder that define its weights (optimizer and scheduler states do not).
_FOLDER_FILES = ("config.json", "model*.safetensors", "pytorch_model*.bin", "*.index.json")


def _file_digest(path: Path) -> str | None:
    """SHA-256 of a checkpoint file, or of a model folder's weight files, to detect a change."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted({f for pattern in _FOLDER_FILES for f in path.glob(pattern) if f.is_file()})
    else:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return "sha256:" + digest.hexdigest()


def _clouds(activations: Mapping[str, np.ndarray], site: str) -> list[str]:
    if site in activations:
        return [site]
    calls = sorted(
        (k for k in activations if k.startswith(f"{site}#") and k[len(site) + 1 :].isdigit()),
        key=lambda k: int(k[len(site) + 1 :]),
    )
    return calls or [site]  # store_activations names a site that never fired


def _done(writer: RunWriter, checkpoint: str, site: str, view: str) -> bool:
    """Whether a site's result exists (for a reused module: its first call's)."""
    return writer.is_done(checkpoint, site, view) or writer.is_done(checkpoint, f"{site}#0", view)


def _n_inputs(inputs: Inputs) -> int:
    tensors = _tensors(inputs)
    if not tensors or tensors[0][1].ndim == 0 or tensors[0][1].shape[0] == 0:
        raise ConfigError(
            "The probe set is empty: expected at least 2 probe inputs along dimension 0."
        )
    return int(tensors[0][1].shape[0])


@dataclass(frozen=True)
class HomologyParams:
    """How each (layer, view) cloud becomes a diagram; see :func:`run_pipeline`."""

    maxdim: int = 1
    metric: str = "euclidean"
    backend: str = "auto"
    max_points: int | None = 1000
    seed: int = 0
    long_bar: float = DEFAULT_LONG_BAR
    drop_nonfinite: bool = False
    n_null: int = 0
    alpha: float = 0.05
    n_landmarks: int | None = None
    max_bound_rel: float | None = None
    memory_budget: int | str | None = None

    def approximation(self) -> dict[str, Any]:
        """The landmark options that are set (unset ones stay out of keys and params)."""
        return {
            k: v
            for k, v in (
                ("n_landmarks", self.n_landmarks),
                ("max_bound_rel", self.max_bound_rel),
                ("memory_budget", self.memory_budget),
            )
            if v is not None
        }

    def task_options(self, view: View) -> dict[str, Any]:
        """Options of a :class:`~tda_interp.execution.RipsTask` for one view."""
        options: dict[str, Any] = {
            "maxdim": self.maxdim,
            "metric": view.metric or self.metric,
            "backend": self.backend,
            "max_points": self.max_points,
            "seed": self.seed,
            "drop_nonfinite": self.drop_nonfinite,
        }
        if self.n_null > 0:
            options |= {"n_null": self.n_null, "alpha": self.alpha}
        return options | self.approximation()


def _open_cache(cache: bool | str | os.PathLike[str] | DiagramCache | None) -> DiagramCache | None:
    if cache is None or cache is False:
        return None
    if isinstance(cache, DiagramCache):
        return cache
    return DiagramCache(default_cache_dir() if cache is True else Path(cache))


def run_params(
    layers: Sequence[str],
    views: Sequence[str],
    reduction: str | int,
    output_index: int | str | None,
    homology: HomologyParams,
    inputs: Inputs,
) -> dict[str, Any]:
    """Everything that defines a run's results: the manifest's ``params``.

    A rerun into the same run directory must give equal params (see
    :class:`~tda_interp.store.RunWriter`). The probe inputs enter by fingerprint (shapes, dtypes,
    SHA-256) and count.
    """
    return {
        "layers": list(layers),
        "views": list(views),
        "reduction": reduction,
        "output_index": output_index,
        "maxdim": homology.maxdim,
        "metric": homology.metric,
        "backend": homology.backend,
        "max_points": homology.max_points,
        "seed": homology.seed,
        "long_bar": homology.long_bar,
        "drop_nonfinite": homology.drop_nonfinite,
        "n_null": homology.n_null,
        "alpha": homology.alpha,
        **homology.approximation(),
        "inputs": inputs_fingerprint(inputs) | {"n_inputs": _n_inputs(inputs)},
    }


def store_activations(
    writer: RunWriter,
    checkpoint: str,
    step: int,
    activations: Mapping[str, np.ndarray],
    todo: Sequence[tuple[str, ViewLike]],
    homology: HomologyParams,
    *,
    executor: str | Executor | None = "auto",
    cache: bool | str | os.PathLike[str] | DiagramCache | None = True,
    on_result: Callable[[str, str], None] | None = None,
) -> int:
    """Compute the diagram of every (layer, view) in ``todo`` and write it to the run.

    The one place where captured activations become stored results: used by
    :func:`run_pipeline` for each checkpoint, and by anything else that captures on its own
    schedule (a training-loop callback). Each (layer, view) is an independent
    :class:`~tda_interp.execution.RipsTask`; tasks found in the content-addressed cache are not
    recomputed, the others run on ``executor``, and every result is written as soon as it
    exists.

    Parameters
    ----------
    writer : RunWriter
    checkpoint : str
        Checkpoint label.
    step : int
        Its training step.
    activations : mapping of str to ndarray of shape (n_points, n_features)
        One cloud per layer.
    todo : sequence of (layer, view)
    homology : HomologyParams
    executor : str or Executor, default "auto"
        See :func:`tda_interp.execution.make_executor`.
    cache : bool, path or DiagramCache, default True
        ``True``: the default cache folder (:func:`~tda_interp.execution.default_cache_dir`);
        a path: that folder; ``False``/``None``: no cache.
    on_result : callable, optional
        Called as ``on_result(layer, view_name)`` after each written result.

    Returns
    -------
    int
        Number of results written.
    """
    store = _open_cache(cache)
    tasks: list[RipsTask] = []
    keys: list[str | None] = []
    outputs: dict[int, TaskOutput] = {}
    for site, view in todo:
        if site not in activations:
            raise CaptureError(
                f"No activations captured for layer {site!r} at checkpoint {checkpoint!r}; "
                f"captured: {sorted(activations)}."
            )
        v = parse_view(view)
        task = RipsTask(
            points=activations[site],
            view=v,
            options=homology.task_options(v),
            checkpoint=checkpoint,
            site=site,
        )
        key = task_key(task) if store is not None else None
        hit = store.get(key) if store is not None and key is not None else None
        if hit is not None:
            outputs[len(tasks)] = TaskOutput(diagram=hit, cached=True)
        tasks.append(task)
        keys.append(key)

    def finish(index: int, output: TaskOutput) -> None:
        task = tasks[index]
        for message in output.warnings:
            warnings.warn(message, TdaInterpWarning, stacklevel=3)
        if store is not None and not output.cached and keys[index] is not None:
            store.put(str(keys[index]), output.diagram)
        name = parse_view(task.view).name
        writer.write(
            checkpoint, str(task.site), name, output.diagram, step=step, long_bar=homology.long_bar
        )
        if on_result is not None:
            on_result(str(task.site), name)

    for index, output in sorted(outputs.items()):
        finish(index, output)
    misses = [i for i in range(len(tasks)) if i not in outputs]
    if misses:
        work = float(sum(len(tasks[i].points) ** 2 for i in misses))
        runner = make_executor(executor, n_tasks=len(misses), work=work)
        try:
            for j, output in runner.imap(run_task, [tasks[i] for i in misses]):
                finish(misses[j], output)
        finally:
            if runner is not executor:
                runner.close()
    return len(tasks)


def run_pipeline(
    model: nn.Module,
    checkpoints: Sequence[str | os.PathLike[str]],
    inputs: Inputs,
    run_dir: str | os.PathLike[str],
    *,
    layers: str | Sequence[str],
    views: Sequence[ViewLike] = ("raw",),
    reduction: str | int = "none",
    output_index: int = 0,
    batch_size: int | None = None,
    maxdim: int = 1,
    metric: str = "euclidean",
    backend: str = "auto",
    max_points: int | None = 1000,
    seed: int = 0,
    long_bar: float = DEFAULT_LONG_BAR,
    drop_nonfinite: bool = False,
    n_null: int = 0,
    alpha: float = 0.05,
    max_bound_rel: float | None = None,
    n_landmarks: int | None = None,
    memory_budget: int | str | None = None,
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
    executor: str | Executor | None = "auto",
    cache: bool | str | os.PathLike[str] | DiagramCache | None = True,
    progress: ProgressCallback | None = None,
) -> RunOutcome:
    """Compute and store the diagrams of every (checkpoint, layer, view).

    Parameters
    ----------
    model : torch.nn.Module
        The architecture; each checkpoint's state_dict is loaded into it in turn.
    checkpoints : sequence of path
        Checkpoint files (``.pt``/``.pth`` state_dicts, ``.safetensors``), in training order.
    inputs : Tensor, tuple of Tensors or dict of Tensors
        The probe set, batch along dimension 0.
    run_dir : path
        Where results go; resumed if it exists with the same parameters.
    layers : str or sequence of str
        Module paths or globs (see :func:`tda_interp.hooks.resolve_sites`).
    views : sequence of str or View, default ("raw",)
        See :mod:`tda_interp.homology.views`; names are recorded in the run.
    reduction, output_index, batch_size
        Passed to :func:`tda_interp.hooks.capture_activations`.
    maxdim, metric, backend, max_points, seed, drop_nonfinite
        Passed to :func:`tda_interp.homology.vietoris_rips`.
    long_bar : float, default 0.25
        Relative-lifetime threshold of a long-lived bar in the summaries.
    n_null : int, default 0
        With ``n_null > 0``, every bar also gets a significance call against that many
        matched-covariance Gaussian clouds (:func:`tda_interp.homology.significance`); the
        summaries then count ``n_significant``. Costs ``n_null`` extra computations per result.
    alpha : float, default 0.05
        Level of the significance test.
    max_bound_rel, n_landmarks, memory_budget : optional
        Certified approximation, passed to :func:`tda_interp.homology.vietoris_rips`: the
        fewest max-min landmarks within ``max_bound_rel`` of the diameter (e.g. 0.05), or a
        fixed ``n_landmarks``, and the memory budget above which landmarks are used (default
        "4GB"). Each result's bound is stored in its ``diagram_meta``. Combine with
        ``max_points=None``: a uniform subsample carries no bound.
    info : dict, optional
        Descriptive manifest fields (model name, title).
    overwrite : bool, default False
        Discard a run directory written with other parameters.
    executor : str or Executor, default "auto"
        Where the independent (layer, view) tasks of a checkpoint run: ``"auto"`` (worker
        processes when the clouds are big enough to pay for them), ``"serial"``,
        ``"processes[:N]"``, ``"dask:ADDRESS"`` or an executor object.
    cache : bool, path or DiagramCache, default True
        Content-addressed diagram cache (``True``: the default folder, ``$TDA_INTERP_CACHE``
        or ``~/.cache/tda-interp``); ``False`` turns it off.
    progress : callable, optional
        ``progress(description, done, total)``.

    Returns
    -------
    RunOutcome
    """
    if not checkpoints:
        raise CheckpointError("No checkpoints given; expected at least one checkpoint file.")
    paths = [Path(c) for c in checkpoints]
    labels = checkpoint_labels(paths)
    sites = resolve_sites(model, layers if isinstance(layers, str) else list(layers))
    view_objs = {v.name: v for v in resolve_views(list(views))}
    view_names = list(view_objs)
    homology = HomologyParams(
        maxdim=maxdim,
        metric=metric,
        backend=backend,
        max_points=max_points,
        seed=seed,
        long_bar=long_bar,
        drop_nonfinite=drop_nonfinite,
        n_null=n_null,
        alpha=alpha,
        n_landmarks=n_landmarks,
        max_bound_rel=max_bound_rel,
        memory_budget=memory_budget,
    )
    params = run_params(sites, view_names, reduction, output_index, homology, inputs)
    writer = RunWriter(run_dir, params, info=info, overwrite=overwrite)
    total = len(paths) * len(sites) * len(view_names)
    done = computed = 0
    store = _open_cache(cache)
    runner: Executor | None = None  # chosen once the first clouds show how much work there is
    if progress:
        progress("starting", 0, total)
    try:
        for index, (path, label) in enumerate(zip(paths, labels, strict=True)):
            step = step_from_label(label, default=index)
            writer.add_checkpoint(label, step, source=str(path), fingerprint=_file_digest(path))
            todo = [(s, v) for s in sites for v in view_names if not _done(writer, label, s, v)]
            done += len(sites) * len(view_names) - len(todo)
            if not todo:
                if progress:
                    progress(f"{label}: already done", done, total)
                continue
            load_checkpoint(model, path)
            acts = capture_activations(
                model,
                inputs,
                list(dict.fromkeys(s for s, _ in todo)),
                reduction=reduction,  # type: ignore[arg-type]
                batch_size=batch_size,
                output_index=output_index,
                nonfinite="drop" if drop_nonfinite else "raise",
                checkpoint=label,
            )
            # A module called k times per forward pass gives the clouds "site#0" .. "site#k-1":
            # each is stored as a layer of its own.
            todo = [(cloud, v) for s, v in todo for cloud in _clouds(acts, s)]
            if runner is None:
                work = sum(min(len(acts[s]), max_points or len(acts[s])) ** 2 for s, _ in todo)
                runner = make_executor(executor, n_tasks=total - done, work=work * len(paths))

            def on_result(site: str, view: str, label: str = label) -> None:
                nonlocal done
                done += 1
                if progress:
                    progress(f"{label} {site} {view}", done, total)

            computed += store_activations(
                writer,
                label,
                step,
                acts,
                [(site, view_objs[name]) for site, name in todo],
                homology,
                executor=runner,
                cache=store,
                on_result=on_result,
            )
    finally:
        if runner is not None and runner is not executor:
            runner.close()
    return RunOutcome(
        run_dir=Path(run_dir),
        computed=computed,
        skipped=total - computed,
        checkpoints=tuple(labels),
        layers=tuple(sites),
        views=tuple(view_names),
    )


def run_from_config(
    config: RunConfig,
    *,
    run_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> RunOutcome:
    """Run the pipeline described by a :class:`~tda_interp.config.RunConfig`.

    ``run_dir`` overrides the config's ``run_dir``; one of them must be given.
    """
    target = run_dir if run_dir is not None else config.run_dir
    if target is None:
        raise ConfigError("No run directory: set run_dir in the config file or pass -o/--run-dir.")
    model = resolve_factory(config.model_factory, base_dir=config.base_dir)()
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"The model factory {config.model_factory!r} returned a "
            f"{type(model).__name__}, expected a torch.nn.Module."
        )
    inputs = resolve_factory(config.inputs_factory, base_dir=config.base_dir)()
    pattern = config.checkpoints
    if not os.path.isabs(pattern):
        pattern = str(config.base_dir / pattern)
    checkpoints = find_checkpoints(pattern)
    info = {"model": config.model_factory, "inputs": config.inputs_factory}
    if config.title:
        info["title"] = config.title
    return run_pipeline(
        model,
        checkpoints,
        inputs,
        target,
        layers=list(config.layers),
        views=list(config.views),
        reduction=config.reduction,
        output_index=config.output_index,
        batch_size=config.batch_size,
        maxdim=config.maxdim,
        metric=config.metric,
        backend=config.backend,
        max_points=config.max_points,
        seed=config.seed,
        long_bar=config.long_bar,
        drop_nonfinite=config.drop_nonfinite,
        n_null=config.n_null,
        alpha=config.alpha,
        max_bound_rel=config.max_bound_rel,
        n_landmarks=config.n_landmarks,
        memory_budget=config.memory_budget,
        info=info,
        overwrite=overwrite,
        executor=config.executor,
        cache=config.cache,
        progress=progress,
    )
