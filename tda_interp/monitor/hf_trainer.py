"""Hugging Face ``transformers`` adapter: a ``TrainerCallback`` for :class:`TopologyMonitor`.

Imports ``transformers``; import this module only where it is installed.

Examples
--------
>>> import tempfile, torch
>>> from tda_interp.monitor import TopologyMonitor
>>> from tda_interp.monitor.hf_trainer import TopologyTrainerCallback
>>> from tda_interp.options import CaptureOptions
>>> ids = torch.randint(0, 100, (32, 16))
>>> monitor = TopologyMonitor(tempfile.mkdtemp(), {"input_ids": ids}, "bert.encoder.layer.*",
...                           capture=CaptureOptions(reduction="mean"), every=100)
>>> callback = TopologyTrainerCallback(monitor)  # Trainer(..., callbacks=[callback])
"""

from __future__ import annotations

import numbers
from typing import Any

from tda_interp.monitor.monitor import TopologyMonitor

try:
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
except ImportError as err:  # pragma: no cover - exercised only without transformers
    raise ImportError(
        "TopologyTrainerCallback needs Hugging Face transformers; install it with "
        "`pip install transformers`, or call TopologyMonitor.step(model, step) from your own "
        "training loop."
    ) from err

__all__ = ["TopologyTrainerCallback"]


class TopologyTrainerCallback(TrainerCallback):
    """Record topology every ``monitor.every`` optimiser steps of a ``transformers.Trainer``.

    Calls ``monitor.step(model, state.global_step)`` at the start of training (step 0, the
    initial model) and at the end of every optimiser step, in the main process only. With
    ``log_metrics``, what the Trainer logs (``loss``, ``grad_norm``, ``learning_rate``,
    ``eval_loss``, ``eval_accuracy``...) goes to :meth:`TopologyMonitor.log` at its
    ``global_step``, numbers only, less ``epoch``, ``total_flos`` and the ``*_runtime`` and
    ``*_per_second`` timings.

    Parameters
    ----------
    monitor : TopologyMonitor
        What to record and where.
    log_metrics : bool, default=True
        Forward the Trainer's logs to the run directory's metrics.
    """

    def __init__(self, monitor: TopologyMonitor, *, log_metrics: bool = True) -> None:
        self.monitor = monitor
        self.log_metrics = log_metrics

    def _step(self, state: TrainerState, model: Any) -> None:
        if model is not None and state.is_world_process_zero:
            self.monitor.step(model, state.global_step)

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Record the initial model (step 0)."""
        self._step(state, kwargs.get("model"))

    on_step_end = on_train_begin  # the same call after every optimiser step

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Forward the numbers the Trainer logs to :meth:`TopologyMonitor.log`."""
        if not self.log_metrics or not logs or not state.is_world_process_zero:
            return
        kept = {k: v for k, v in logs.items() if _forwarded(k, v)}
        if kept:
            self.monitor.log(state.global_step, kept)


def _forwarded(name: str, value: Any) -> bool:
    """Whether a Trainer log entry is a metric worth drawing: a real number, not a timing."""
    if name in ("epoch", "total_flos") or name.endswith(("_runtime", "_per_second")):
        return False
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
