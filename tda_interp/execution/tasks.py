"""Independent persistence tasks: pure, picklable, keyed by a content hash.

Every (checkpoint, layer, view) computation is one :class:`RipsTask`: the activations and the
options in, a :class:`~tda_interp.diagrams.Diagram` (and its significance calls) out, with no
reference to a model, a run directory or any other state, so an executor may run it in another
process or on a Dask worker. Where the cloud came from (``place``) only names it in errors; it
is not part of the content key.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tda_interp._versions import library_versions
from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import (
    ActivationError,
    HomologyError,
    TdaInterpError,
    TdaInterpWarning,
    with_context,
)
from tda_interp.execution.warnlog import as_warning
from tda_interp.homology.backends import resolve_backend
from tda_interp.homology.persistence import check_input, compute_diagram
from tda_interp.homology.significance import SignificanceResult, compute_significance
from tda_interp.homology.views import View, ViewLike, parse_view
from tda_interp.options import RipsOptions, SignificanceOptions

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
    rips : RipsOptions
        How the diagram is computed.
    significance : SignificanceOptions or None
        Significance calls for every bar, or none.
    place : str, optional
        Where the cloud came from (``"checkpoint 'step_1' layer 'fc' view 'raw'"``): an error
        raised computing it starts with this. Not part of the content key.
    """

    points: NDArray[np.generic]
    view: ViewLike
    rips: RipsOptions = field(default_factory=RipsOptions)
    significance: SignificanceOptions | None = None
    place: str | None = None


@dataclass(frozen=True)
class TaskOutput:
    """A task's diagram, its calls, and the warnings raised computing them (re-emitted by the
    caller, with their class, once per kind: see :class:`~tda_interp.execution.WarningLog`).

    When the cloud could not give a diagram (:class:`~tda_interp.exceptions.ActivationError`:
    constant, too few points...; :class:`~tda_interp.exceptions.HomologyError`: over the
    memory budget), ``diagram`` is None and ``failure`` holds the error, which names the
    task's place.
    """

    diagram: Diagram | None
    significance: SignificanceResult | None = None
    warnings: tuple[Warning, ...] = ()
    cached: bool = False
    failure: TdaInterpError | None = None


def task_key(task: RipsTask) -> str:
    """SHA-256 of everything that determines the task's result.

    The points' bytes, dtype and shape; the view (its name, and its matrix for projections);
    the options that define results, with ``backend="auto"`` resolved; the significance
    options; and the library versions. Callable views are keyed by their name: give different
    functions different names.
    """
    pts = np.ascontiguousarray(task.points)
    view: View = parse_view(task.view)
    rips = task.rips.params()
    rips["backend"] = resolve_backend(task.rips.backend, coeff=task.rips.coeff)
    digest = hashlib.sha256()
    digest.update(f"{pts.dtype.str}{pts.shape}".encode())
    digest.update(pts.tobytes())
    digest.update(f"view={view.name};kind={view.kind};metric={view.metric}".encode())
    if view.matrix is not None:
        digest.update(np.ascontiguousarray(view.matrix).tobytes())
    sig = None if task.significance is None else task.significance.params()
    digest.update(json.dumps({"rips": rips, "significance": sig}, sort_keys=True).encode())
    digest.update(json.dumps(library_versions(), sort_keys=True).encode())
    return digest.hexdigest()


def _portable(warning: Warning) -> Warning:
    """The warning itself if it survives pickling (ours and the built-in classes do), else a
    UserWarning with its class name in the text."""
    if isinstance(warning, TdaInterpWarning) or type(warning).__module__ == "builtins":
        return warning
    try:
        pickle.loads(pickle.dumps(warning))
    except Exception:
        return UserWarning(f"{type(warning).__name__}: {warning}")
    return warning


def _calls(pts: np.ndarray, task: RipsTask, diagram: Diagram) -> SignificanceResult | None:
    """The task's significance calls; a cloud whose diagram exists but that the test cannot
    take (a Monte Carlo test on 3 points) keeps its diagram, without calls, and warns."""
    assert task.significance is not None
    try:
        return compute_significance(pts, task.view, task.rips, task.significance, diagram=diagram)
    except ActivationError as err:
        warnings.warn(
            TdaInterpWarning(f"No significance calls: {err}", kind="no-calls"), stacklevel=2
        )
        return None


def run_task(task: RipsTask) -> TaskOutput:
    """Compute a task's diagram, and its significance calls when asked (top-level and pure, so
    that worker processes can run it). The cloud is checked once, here; an error names the
    task's ``place``. A cloud that cannot give a diagram is returned as a ``failure``; other
    errors (bad options) are raised."""
    failure: TdaInterpError | None = None
    diagram = calls = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pts = check_input(task.points, task.rips)
            diagram = compute_diagram(pts, task.view, task.rips)
            if task.significance is not None:
                calls = _calls(pts, task, diagram)
        except (ActivationError, HomologyError) as err:  # this cloud cannot give a diagram
            failure = err if task.place is None else with_context(err, task.place)
            diagram = calls = None
        except TdaInterpError as err:
            if task.place is None:
                raise
            raise with_context(err, task.place) from err
    return TaskOutput(
        diagram=diagram,
        significance=calls,
        warnings=tuple(_portable(as_warning(w.message)) for w in caught),
        failure=failure,
    )
