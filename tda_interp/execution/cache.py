"""A content-addressed cache of diagrams, so that recomputing the same cloud is instant."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.homology.significance import SignificanceResult
from tda_interp.store.codec import decode_result, encode_result
from tda_interp.store.writer import atomic_write_bytes

__all__ = ["DiagramCache", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$TDA_INTERP_CACHE``, else ``$XDG_CACHE_HOME/tda-interp``, else ``~/.cache/tda-interp``."""
    if env := os.environ.get("TDA_INTERP_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tda-interp"


class DiagramCache:
    """Diagrams (and their significance calls) stored under the content hash of their task
    (:func:`~.tasks.task_key`).

    Entries are ``<dir>/<key[:2]>/<key>.npz`` result files of :mod:`tda_interp.store.codec`,
    written atomically; an unreadable entry is treated as a miss and overwritten. Safe to share
    between processes and runs.

    Parameters
    ----------
    directory : path
        Cache folder (created on first write).

    Examples
    --------
    >>> import tempfile
    >>> cache = DiagramCache(tempfile.mkdtemp())
    >>> d = Diagram(pairs=[[[0.0, np.inf]]], scale=1.0, n_points=1)
    >>> cache.put("ab" * 32, d); cache.get("ab" * 32)[0] == d
    True
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"DiagramCache({str(self.directory)!r})"

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def get(self, key: str) -> tuple[Diagram, SignificanceResult | None] | None:
        """The cached diagram and calls for ``key``, or ``None``."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            decoded = decode_result(path)
        except (
            OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile,
            ActivationError, ConfigError,
        ):  # fmt: skip
            return None
        return decoded.diagram, decoded.significance

    def put(
        self, key: str, diagram: Diagram, significance: SignificanceResult | None = None
    ) -> None:
        """Store ``diagram`` (and its calls) under ``key``."""
        atomic_write_bytes(self._path(key), encode_result(diagram, significance))
