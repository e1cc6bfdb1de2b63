"""Which modules to watch, the capture context manager, reductions, storage and checkpoint replay.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from tda_interp.hooks import capture_activations
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> acts = capture_activations(model, torch.randn(16, 4), "*")
>>> sorted(acts)
['0', '1', '2']
"""

from tda_interp.hooks.buffers import MemmapBuffer, MemoryBuffer, PointBuffer, ReservoirBuffer
from tda_interp.hooks.capture import (
    Capture,
    capture,
    capture_activations,
    run_capture,
)
from tda_interp.hooks.checkpoints import (
    checkpoint_label,
    checkpoint_labels,
    find_checkpoints,
    is_hf_model_dir,
    iter_checkpoints,
    load_checkpoint,
    load_state_dict,
    natural_sort_key,
)
from tda_interp.hooks.listing import SiteInfo, describe_sites, list_sites
from tda_interp.hooks.outputs import select_output
from tda_interp.hooks.reductions import reduce_output, reduce_points
from tda_interp.hooks.sites import resolve_sites

__all__ = [
    "Capture",
    "MemmapBuffer",
    "MemoryBuffer",
    "PointBuffer",
    "ReservoirBuffer",
    "SiteInfo",
    "capture",
    "capture_activations",
    "checkpoint_label",
    "checkpoint_labels",
    "describe_sites",
    "find_checkpoints",
    "is_hf_model_dir",
    "iter_checkpoints",
    "list_sites",
    "load_checkpoint",
    "load_state_dict",
    "natural_sort_key",
    "reduce_output",
    "reduce_points",
    "resolve_sites",
    "run_capture",
    "select_output",
]
