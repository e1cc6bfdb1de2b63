"""Independent persistence tasks: pure, picklable, keyed by a content hash.

Every (checkpoint, layer, view) computation is one :class:`RipsTask`: the activations and the
parameters in, a :class:`~tda_interp.diagrams.Diagram` out, with no reference to a model, a run
directory or any other state, so an executor may run it in another process or on a Dask worker.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import TdaInterpWarning
from tda_interp.homology.backends import resolve_backend
from tda_interp.homology.persistence import check_cloud, uniform_subsample, vietoris_rips
from tda_interp.homology.significance import significance
from tda_interp.homology.views import View, ViewLike, parse_view

__all__ = ["RipsTask", "TaskOutput", "run_task", "task_key"]


@dataclass(frozen=True, eq=False)
class RipsTask:
    """One point cloud and how to turn it into a diagram.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_features)
        The captured activations of one layer at one checkpoint.
    view : str or View
        See :mod:`tda_interp.homology.views`.
    options : dict
        Keyword arguments of :func:`tda_interp.homology.vietoris_rips` (maxdim, metric, backend,
        max_points, seed, ...), JSON-serialisable.
    checkpoint, site : str, optional
        Where the cloud came from (error messages only; not part of the content key).
    """

    points: NDArray[Any]
    view: ViewLike
    options: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class TaskOutput:
    """A task's diagram and the warnings raised while computing it (re-emitted by the caller)."""

    diagram: Diagram
    warnings: tuple[str, ...] = ()
    cached: bool = False


def _versions() -> str:
    out = []
    for name in ("tda-interp", "ripser", "giotto-ph", "gudhi", "numpy", "scipy"):
        try:
            out.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            out.append(f"{name}=absent")
    return ";".join(out)


_VERSIONS: str | None = None


def task_key(task: RipsTask) -> str:
    """SHA-256 of everything that determines the task's result.

    The points' bytes, dtype and shape; the view (its name, and its matrix for projections);
    the options with ``backend="auto"`` resolved; and the versions of tda-interp and of the
    persistence libraries. Callable views are keyed by their name: give different functions
    different names.
    """
    global _VERSIONS
    if _VERSIONS is None:
        _VERSIONS = _versions()
    pts = np.ascontiguousarray(task.points)
    view: View = parse_view(task.view)
    options = dict(task.options)
    options["backend"] = resolve_backend(str(options.get("backend", "auto")))
    digest = hashlib.sha256()
    digest.update(f"{pts.dtype.str}{pts.shape}".encode())
    digest.update(pts.tobytes())
    digest.update(f"view={view.name};kind={view.kind};metric={view.metric}".encode())
    if view.matrix is not None:
        digest.update(np.ascontiguousarray(view.matrix).tobytes())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    digest.update(_VERSIONS.encode())
    return digest.hexdigest()


def run_task(task: RipsTask) -> TaskOutput:
    """Compute a task's diagram (top-level and pure, so that worker processes can run it).

    With ``options["n_null"] > 0`` each bar also gets a significance call against that many
    matched-covariance Gaussian clouds (:func:`tda_interp.homology.significance`, level
    ``options["alpha"]``), stored in ``diagram.meta["significance"]``.
    """
    options = dict(task.options)
    n_null = int(options.pop("n_null", 0) or 0)
    alpha = float(options.pop("alpha", 0.05))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diagram = vietoris_rips(
            task.points, view=task.view, site=task.site, checkpoint=task.checkpoint, **options
        )
        if n_null > 0:
            diagram = _with_significance(task, diagram, options, n_null, alpha)
    return TaskOutput(diagram=diagram, warnings=tuple(str(w.message) for w in caught))


def _with_significance(
    task: RipsTask, diagram: Diagram, options: dict[str, Any], n_null: int, alpha: float
) -> Diagram:
    if diagram.meta.get("n_landmarks"):
        warnings.warn(
            f"No significance calls for layer {task.site!r} at checkpoint {task.checkpoint!r}: "
            "its diagram was computed on landmarks, and the null clouds would need the same "
            "approximation; raise memory_budget or lower max_points.",
            TdaInterpWarning,
            stacklevel=3,
        )
        return diagram
    pts = check_cloud(
        task.points,
        drop_nonfinite=bool(options.get("drop_nonfinite", False)),
        site=task.site,
        checkpoint=task.checkpoint,
    )
    pts = uniform_subsample(pts, options.get("max_points"), int(options.get("seed", 0)))
    result = significance(
        pts,
        maxdim=diagram.maxdim,
        view=task.view,
        metric=diagram.meta.get("metric", "euclidean"),
        n_null=n_null,
        alpha=alpha,
        seed=int(options.get("seed", 0)),
        backend=str(diagram.meta.get("backend", "auto")),
        diagram=diagram,
    )
    return replace(diagram, meta={**diagram.meta, "significance": result.to_meta()})
