"""Topology during training: a monitor called from any training loop, and thin adapters.

:class:`TopologyMonitor` works with a plain PyTorch loop. The adapters are imported only when
asked for, so neither framework is a dependency:

- ``TopologyLightningCallback`` (:mod:`tda_interp.monitor.lightning`) needs ``lightning``
  (or ``pytorch_lightning``);
- ``TopologyTrainerCallback`` (:mod:`tda_interp.monitor.hf_trainer`) needs ``transformers``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tda_interp.monitor.monitor import TopologyMonitor, preserved_rng_state, weights_fingerprint

if TYPE_CHECKING:
    from tda_interp.monitor.hf_trainer import TopologyTrainerCallback
    from tda_interp.monitor.lightning import TopologyLightningCallback

__all__ = [
    "TopologyLightningCallback",
    "TopologyMonitor",
    "TopologyTrainerCallback",
    "preserved_rng_state",
    "weights_fingerprint",
]

_LAZY = {
    "TopologyLightningCallback": "tda_interp.monitor.lightning",
    "TopologyTrainerCallback": "tda_interp.monitor.hf_trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
