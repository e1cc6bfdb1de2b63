"""The Dask worker plugin of :mod:`tda_interp.execution.cluster` (used only with a cluster; the
module imports without ``distributed``)."""

from __future__ import annotations

from typing import Any

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - the dask extra is not installed
    WorkerPlugin = object  # type: ignore[misc,assignment]

__all__ = ["SharedPayload"]


class SharedPayload(WorkerPlugin):
    """Hands a run's model and probe set (cloudpickled bytes) to every worker, once, including
    workers that join or that their nanny restarts later: the scheduler keeps registered
    plugins for new workers. Tasks then have no dependency to fetch, so the scheduler places
    them by load alone, and a lost worker loses nothing that cannot be sent again.

    Parameters
    ----------
    blob : bytes
        ``cloudpickle.dumps((model, inputs))``.
    digest : str
        SHA-256 of ``blob``: the name tasks look it up by.
    """

    idempotent = False

    def __init__(self, blob: bytes, digest: str) -> None:
        self.blob, self.digest = blob, digest

    def setup(self, worker: Any) -> None:
        from tda_interp.execution.cluster import _SHARED, _SHARED_LOCK

        with _SHARED_LOCK:
            _SHARED.setdefault(self.digest, self.blob)

    def teardown(self, worker: Any) -> None:
        from tda_interp.execution.cluster import _SHARED, _SHARED_LOCK

        with _SHARED_LOCK:
            _SHARED.pop(self.digest, None)
