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
"""

from tda_interp.config import RunConfig, load_config
from tda_interp.diagrams import (
    Diagram,
    betti_curve,
    from_giotto,
    shared_grid,
    summarize,
    to_giotto,
)
from tda_interp.exceptions import TdaInterpError, TdaInterpWarning
from tda_interp.homology import apply_view, distance_matrix, vietoris_rips
from tda_interp.hooks import (
    capture,
    capture_activations,
    find_checkpoints,
    load_checkpoint,
    resolve_sites,
)
from tda_interp.pipeline import run_from_config, run_pipeline
from tda_interp.reports import build_report, write_report
from tda_interp.store import iter_results, read_diagram, read_manifest, read_summaries

__version__ = "0.1.0"

__all__ = [
    "Diagram",
    "RunConfig",
    "TdaInterpError",
    "TdaInterpWarning",
    "__version__",
    "apply_view",
    "betti_curve",
    "build_report",
    "capture",
    "capture_activations",
    "distance_matrix",
    "find_checkpoints",
    "from_giotto",
    "iter_results",
    "load_checkpoint",
    "load_config",
    "read_diagram",
    "read_manifest",
    "read_summaries",
    "resolve_sites",
    "run_from_config",
    "run_pipeline",
    "shared_grid",
    "summarize",
    "to_giotto",
    "vietoris_rips",
    "write_report",
]
