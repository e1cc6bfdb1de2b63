"""Which modules to watch, the capture entry points, reductions, storage and checkpoint replay.

Examples
--------
>>> import torch
>>> from torch import nn
>>> from tda_interp.hooks import run_capture
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> cap = run_capture(model, torch.randn(16, 4), "*")
>>> sorted(cap)
['0', '1', '2']
"""

from tda_interp.hooks.buffers import MemmapBuffer, MemoryBuffer, PointBuffer, ReservoirBuffer
from tda_interp.hooks.capture import capture, capture_activations, run_capture
from tda_interp.hooks.checkpoints import (
    checkpoint_fingerprint,
    checkpoint_label,
    checkpoint_labels,
    find_checkpoints,
    is_hf_model_dir,
    iter_checkpoints,
    load_checkpoint,
    load_state_dict,
    natural_sort_key,
    resolve_checkpoints,
)
from tda_interp.hooks.guards import inference_mode
from tda_interp.hooks.inputs import ProbeSet, inputs_fingerprint
from tda_interp.hooks.listing import SiteInfo, describe_sites, list_sites
from tda_interp.hooks.outputs import select_output
from tda_interp.hooks.recorder import Capture
from tda_interp.hooks.reductions import reduce_output, reduce_points
from tda_interp.hooks.sites import resolve_sites

__all__ = [
    "Capture",
    "MemmapBuffer",
    "MemoryBuffer",
    "PointBuffer",
    "ProbeSet",
    "ReservoirBuffer",
    "SiteInfo",
    "capture",
    "capture_activations",
    "checkpoint_fingerprint",
    "checkpoint_label",
    "checkpoint_labels",
    "describe_sites",
    "find_checkpoints",
    "inference_mode",
    "inputs_fingerprint",
    "is_hf_model_dir",
    "iter_checkpoints",
    "list_sites",
    "load_checkpoint",
    "load_state_dict",
    "natural_sort_key",
    "reduce_output",
    "reduce_points",
    "resolve_checkpoints",
    "resolve_sites",
    "run_capture",
    "select_output",
]
