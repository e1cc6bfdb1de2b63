"""Which modules to watch, the capture context manager, reductions and checkpoint replay.

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

from tda_interp.hooks.capture import Capture, capture, capture_activations
from tda_interp.hooks.checkpoints import (
    checkpoint_label,
    find_checkpoints,
    load_checkpoint,
    load_state_dict,
    natural_sort_key,
)
from tda_interp.hooks.reductions import reduce_output
from tda_interp.hooks.sites import resolve_sites

__all__ = [
    "Capture",
    "capture",
    "capture_activations",
    "checkpoint_label",
    "find_checkpoints",
    "load_checkpoint",
    "load_state_dict",
    "natural_sort_key",
    "reduce_output",
    "resolve_sites",
]
