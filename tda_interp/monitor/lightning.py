"""PyTorch Lightning adapter: a ``Callback`` that calls :meth:`TopologyMonitor.step`.

Imports ``lightning`` (or, failing that, ``pytorch_lightning``); import this module only where
one of them is installed.

Examples
--------
>>> import tempfile, torch
>>> from tda_interp.monitor import TopologyMonitor
>>> from tda_interp.monitor.lightning import TopologyLightningCallback
>>> monitor = TopologyMonitor(tempfile.mkdtemp(), torch.randn(16, 4), ["net.1"], every=50)
>>> callback = TopologyLightningCallback(monitor)  # Trainer(callbacks=[callback])
"""

from __future__ import annotations

from typing import Any

from tda_interp.monitor.monitor import TopologyMonitor

try:
    from lightning.pytorch import Callback, LightningModule, Trainer
except ImportError:  # pragma: no cover - the older package name
    try:
        from pytorch_lightning import (  # type: ignore[assignment]
            Callback,
            LightningModule,
            Trainer,
        )
    except ImportError as err:
        raise ImportError(
            "TopologyLightningCallback needs PyTorch Lightning; install it with "
            "`pip install lightning`, or call TopologyMonitor.step(model, step) from your own "
            "training loop."
        ) from err

__all__ = ["TopologyLightningCallback"]


class TopologyLightningCallback(Callback):
    """Record topology every ``monitor.every`` optimiser steps of a Lightning ``Trainer``.

    Calls ``monitor.step(pl_module, trainer.global_step)`` when training starts (step 0, the
    initial model) and after every training batch, on global rank 0 only. ``global_step``
    counts optimiser steps, so with gradient accumulation a step is recorded once.

    Parameters
    ----------
    monitor : TopologyMonitor
        What to record and where.
    """

    def __init__(self, monitor: TopologyMonitor) -> None:
        super().__init__()
        self.monitor = monitor

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            self.monitor.step(pl_module, trainer.global_step)

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if trainer.is_global_zero:
            self.monitor.step(pl_module, trainer.global_step)
