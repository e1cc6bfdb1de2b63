"""The one inference guard: eval mode and no gradients, every module's mode restored after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["inference_mode"]


@contextmanager
def inference_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode under :func:`torch.no_grad`.

    Every module's own train/eval flag is restored on exit, also on an exception (a model that
    mixes modes, e.g. a frozen BatchNorm in a training model, comes back as it was). Used by
    :func:`~tda_interp.hooks.run_capture`, :func:`~tda_interp.hooks.describe_sites` and, through
    ``run_capture``, the training monitor.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    >>> model[1].eval()
    Dropout(p=0.5, inplace=False)
    >>> with inference_mode(model):
    ...     model.training, torch.is_grad_enabled()
    (False, False)
    >>> model.training, model[1].training
    (True, False)
    """
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            yield model
    finally:
        for module, training in modes:
            module.training = training
