"""tda-interp: persistent homology of neural-network activation spaces.

Data flows one way: model -> activations (:mod:`tda_interp.hooks`) -> diagrams
(:mod:`tda_interp.homology`, :mod:`tda_interp.diagrams`) -> run directory
(:mod:`tda_interp.store`) -> report (:mod:`tda_interp.reports`).

Examples
--------
>>> import numpy as np, tda_interp
>>> t = np.linspace(0, 2 * np.pi, 50, endpoint=False)
>>> dgm = tda_interp.vietoris_rips(np.c_[np.cos(t), np.sin(t)])
>>> int((dgm.lifetimes(1, relative=True) > 0.5).sum())
1

Options that travel together are frozen objects checked once (:mod:`tda_interp.options`):
``vietoris_rips(X, RipsOptions(maxdim=2))`` or, the same, ``vietoris_rips(X, maxdim=2)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public names and the modules that define them. They are imported on first use, so that
# `import tda_interp.homology` in a worker process does not pay for torch, plotly and pandas.
_EXPORTS = {
    "Approximation": "tda_interp.options",
    "CaptureOptions": "tda_interp.options",
    "Comparison": "tda_interp.compare",
    "Diagram": "tda_interp.diagrams",
    "DistanceOptions": "tda_interp.options",
    "ExecutionOptions": "tda_interp.options",
    "ProbeSet": "tda_interp.hooks",
    "Provenance": "tda_interp.diagrams",
    "RipsOptions": "tda_interp.options",
    "Run": "tda_interp.store",
    "RunConfig": "tda_interp.config",
    "SignificanceOptions": "tda_interp.options",
    "SignificanceResult": "tda_interp.homology",
    "SummaryOptions": "tda_interp.options",
    "TopologyMonitor": "tda_interp.monitor",
    "TdaInterpError": "tda_interp.exceptions",
    "TdaInterpWarning": "tda_interp.exceptions",
    "apply_view": "tda_interp.homology",
    "betti_curve": "tda_interp.diagrams",
    "build_report": "tda_interp.reports",
    "capture": "tda_interp.hooks",
    "compare_runs": "tda_interp.compare",
    "describe_sites": "tda_interp.hooks",
    "diagram_distance": "tda_interp.compare",
    "distance_matrix": "tda_interp.homology",
    "find_checkpoints": "tda_interp.hooks",
    "from_giotto": "tda_interp.diagrams",
    "iter_checkpoints": "tda_interp.hooks",
    "list_sites": "tda_interp.hooks",
    "load_checkpoint": "tda_interp.hooks",
    "load_config": "tda_interp.config",
    "read_summaries": "tda_interp.store",
    "resolve_sites": "tda_interp.hooks",
    "run_capture": "tda_interp.hooks",
    "run_from_config": "tda_interp.pipeline",
    "run_pipeline": "tda_interp.pipeline",
    "shared_grid": "tda_interp.diagrams",
    "significance": "tda_interp.homology",
    "summarize": "tda_interp.diagrams",
    "to_giotto": "tda_interp.diagrams",
    "vietoris_rips": "tda_interp.homology",
    "write_report": "tda_interp.reports",
}

# Renamed or replaced names: still importable (they warn DeprecationWarning when called), but
# not part of the public API.
_DEPRECATED = {
    "capture_activations": "tda_interp.hooks",
    "iter_results": "tda_interp.store",
    "read_diagram": "tda_interp.store",
    "read_manifest": "tda_interp.store",
}

if TYPE_CHECKING:
    from tda_interp.compare import Comparison, compare_runs, diagram_distance
    from tda_interp.config import RunConfig, load_config
    from tda_interp.diagrams import (
        Diagram,
        Provenance,
        betti_curve,
        from_giotto,
        shared_grid,
        summarize,
        to_giotto,
    )
    from tda_interp.exceptions import TdaInterpError, TdaInterpWarning
    from tda_interp.homology import (
        SignificanceResult,
        apply_view,
        distance_matrix,
        significance,
        vietoris_rips,
    )
    from tda_interp.hooks import (
        ProbeSet,
        capture,
        describe_sites,
        find_checkpoints,
        iter_checkpoints,
        list_sites,
        load_checkpoint,
        resolve_sites,
        run_capture,
    )
    from tda_interp.monitor import TopologyMonitor
    from tda_interp.options import (
        Approximation,
        CaptureOptions,
        DistanceOptions,
        ExecutionOptions,
        RipsOptions,
        SignificanceOptions,
        SummaryOptions,
    )
    from tda_interp.pipeline import run_from_config, run_pipeline
    from tda_interp.reports import build_report, write_report
    from tda_interp.store import Run, read_summaries


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name) or _DEPRECATED.get(name)
    if module is None:
        raise AttributeError(f"module 'tda_interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__version__ = "0.2.0"

__all__ = [
    "Approximation",
    "CaptureOptions",
    "Comparison",
    "Diagram",
    "DistanceOptions",
    "ExecutionOptions",
    "ProbeSet",
    "Provenance",
    "RipsOptions",
    "Run",
    "RunConfig",
    "SignificanceOptions",
    "SignificanceResult",
    "SummaryOptions",
    "TdaInterpError",
    "TdaInterpWarning",
    "TopologyMonitor",
    "__version__",
    "apply_view",
    "betti_curve",
    "build_report",
    "capture",
    "compare_runs",
    "describe_sites",
    "diagram_distance",
    "distance_matrix",
    "find_checkpoints",
    "from_giotto",
    "iter_checkpoints",
    "list_sites",
    "load_checkpoint",
    "load_config",
    "read_summaries",
    "resolve_sites",
    "run_capture",
    "run_from_config",
    "run_pipeline",
    "shared_grid",
    "significance",
    "summarize",
    "to_giotto",
    "vietoris_rips",
    "write_report",
]
