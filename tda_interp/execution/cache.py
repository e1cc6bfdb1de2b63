"""A content-addressed cache of diagrams, so that recomputing the same cloud is instant."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from tda_interp.diagrams.diagram import Diagram
from tda_interp.store.writer import atomic_write_bytes

__all__ = ["DiagramCache", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$TDA_INTERP_CACHE``, else ``$XDG_CACHE_HOME/tda-interp``, else ``~/.cache/tda-interp``."""
    if env := os.environ.get("TDA_INTERP_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tda-interp"


class DiagramCache:
    """Diagrams stored under the content hash of their task (:func:`~.tasks.task_key`).

    Entries are ``<dir>/<key[:2]>/<key>.npz`` files written atomically; an unreadable entry is
    treated as a miss and overwritten. Safe to share between processes and runs.

    Parameters
    ----------
    directory : path
        Cache folder (created on first write).

    Examples
    --------
    >>> import tempfile
    >>> cache = DiagramCache(tempfile.mkdtemp())
    >>> d = Diagram(pairs=[[[0.0, np.inf]]], scale=1.0, n_points=1)
    >>> cache.put("ab" * 32, d); cache.get("ab" * 32) == d
    True
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def get(self, key: str) -> Diagram | None:
        """The cached diagram for ``key``, or ``None``."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["meta"]))
                n_dims = sum(1 for k in npz.files if k.startswith("dgm_"))
                pairs = tuple(npz[f"dgm_{k}"] for k in range(n_dims))
            return Diagram(
                pairs=pairs,
                scale=float(meta["scale"]),
                n_points=int(meta["n_points"]),
                meta=meta.get("meta", {}),
            )
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
            return None

    def put(self, key: str, diagram: Diagram) -> None:
        """Store ``diagram`` under ``key``."""
        arrays = {f"dgm_{k}": np.array(p) for k, p in enumerate(diagram.pairs)}
        meta = {"scale": diagram.scale, "n_points": diagram.n_points, "meta": diagram.meta}
        arrays["meta"] = np.array(json.dumps(meta, default=str))
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(self._path(key), buf.getvalue())
