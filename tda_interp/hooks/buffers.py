"""Where captured points go: memory, a seeded reservoir sample, or memory-mapped files.

Every strategy is a :class:`PointBuffer`: the capture hook calls :meth:`~PointBuffer.append`
with one batch of points ``(n, n_features)`` and their labels (1-D int64 arrays of length ``n``),
and :meth:`~PointBuffer.result` returns everything kept so far, labels aligned with the rows.

==================  ==========================================================================
:class:`MemoryBuffer`     every point, in memory (the default, fastest path)
:class:`ReservoirBuffer`  at most ``max_points`` points, a uniform sample of all points seen
                          (seeded reservoir sampling, Algorithm R), in arrival order
:class:`MemmapBuffer`     every point appended to a raw file in ``directory``, returned as
                          :class:`numpy.memmap`; memory use stays one batch
==================  ==========================================================================

:func:`make_buffer` picks one from the capture options. A reservoir may hand its sample to a
memory-mapped buffer at the end (``max_points`` with ``storage="memmap"``).
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, TypeAlias
from urllib.parse import quote

import numpy as np

from tda_interp.options.capture import CaptureOptions, StorageDtype

__all__ = [
    "Labels",
    "MemmapBuffer",
    "MemoryBuffer",
    "PointBuffer",
    "ReservoirBuffer",
    "make_buffer",
]

Labels: TypeAlias = dict[str, np.ndarray]
"""Per-point labels: name -> 1-D int64 array aligned with the rows of the points."""


class PointBuffer(ABC):
    """Interface of every storage strategy.

    Attributes
    ----------
    n_seen : int
        Points offered to :meth:`append` so far (before any subsampling).
    n_features : int or None
        Width of the points, fixed by the first batch.
    """

    def __init__(self, dtype: StorageDtype = "float32") -> None:
        self.dtype = np.dtype(dtype)
        self.n_seen = 0
        self.n_features: int | None = None

    def append(self, points: np.ndarray, labels: Labels) -> None:
        """Add one batch of points of shape ``(n, n_features)`` with labels of length ``n``."""
        if self.n_features is None:
            self.n_features = int(points.shape[1])
        self._append(np.asarray(points, dtype=self.dtype), labels)
        self.n_seen += int(points.shape[0])

    @abstractmethod
    def _append(self, points: np.ndarray, labels: Labels) -> None: ...

    @abstractmethod
    def result(self) -> tuple[np.ndarray, Labels]:
        """Return the kept points ``(n_kept, n_features)`` and their labels."""

    def close(self) -> None:  # noqa: B027 - optional hook, most strategies hold no resource
        """Release open files; :meth:`result` keeps working."""


def _empty(buffer: PointBuffer, label_names: list[str]) -> tuple[np.ndarray, Labels]:
    width = buffer.n_features or 0
    return np.empty((0, width), dtype=buffer.dtype), {
        name: np.empty(0, dtype=np.int64) for name in label_names
    }


class MemoryBuffer(PointBuffer):
    """Keep every point in memory; batches are concatenated once, on :meth:`result`.

    Examples
    --------
    >>> import numpy as np
    >>> buf = MemoryBuffer()
    >>> buf.append(np.ones((2, 3)), {"batch_index": np.arange(2)})
    >>> buf.append(np.zeros((1, 3)), {"batch_index": np.arange(2, 3)})
    >>> points, labels = buf.result()
    >>> points.shape, labels["batch_index"].tolist()
    ((3, 3), [0, 1, 2])
    """

    def __init__(self, dtype: StorageDtype = "float32") -> None:
        super().__init__(dtype)
        self._points: list[np.ndarray] = []
        self._labels: list[Labels] = []

    def _append(self, points: np.ndarray, labels: Labels) -> None:
        self._points.append(points)
        self._labels.append(labels)

    def result(self) -> tuple[np.ndarray, Labels]:
        if not self._points:
            return _empty(self, [])
        if len(self._points) > 1:  # concatenate once and keep the single chunk
            labels = {
                name: np.concatenate([batch[name] for batch in self._labels])
                for name in self._labels[0]
            }
            self._points = [np.concatenate(self._points, axis=0)]
            self._labels = [labels]
        return self._points[0], self._labels[0]


class ReservoirBuffer(PointBuffer):
    """Keep a uniform random sample of at most ``max_points`` of all points seen.

    Algorithm R (Vitter 1985): point ``i`` (0-based over all batches) enters with probability
    ``max_points / (i + 1)``, replacing a uniformly chosen slot. One draw per point from
    ``numpy.random.default_rng(seed)``, in arrival order, so the sample does not depend on how
    the points were split into batches. The result is in arrival order.

    Parameters
    ----------
    max_points : int
        Sample size (positive).
    seed : int or sequence of int, default=0
        Seed of the generator.
    dtype : {"float32", "float16"}, default="float32"
        Storage dtype.
    then : PointBuffer or None, default=None
        A buffer that receives the final sample on :meth:`result` (e.g. a :class:`MemmapBuffer`).

    Examples
    --------
    >>> import numpy as np
    >>> buf = ReservoirBuffer(3, seed=0)
    >>> for start in range(0, 10, 4):
    ...     rows = np.arange(start, min(start + 4, 10))
    ...     buf.append(rows[:, None].astype(float), {"batch_index": rows})
    >>> points, labels = buf.result()
    >>> points.shape, bool((points[:, 0] == labels["batch_index"]).all())
    ((3, 1), True)
    """

    def __init__(
        self,
        max_points: int,
        seed: int | list[int] = 0,
        dtype: StorageDtype = "float32",
        *,
        then: PointBuffer | None = None,
    ) -> None:
        super().__init__(dtype)
        self.max_points = max_points
        self._rng = np.random.default_rng(seed)
        self._then = then
        self._points: np.ndarray | None = None
        self._labels: Labels = {}
        self._order = np.empty(0, dtype=np.int64)  # arrival index of the point in each slot
        self._size = 0
        self._handed = False  # whether `then` holds the current sample

    def _append(self, points: np.ndarray, labels: Labels) -> None:
        n = points.shape[0]
        self._handed = False
        if self._points is None:
            self._points = np.empty((self.max_points, points.shape[1]), dtype=self.dtype)
            self._labels = {name: np.empty(self.max_points, np.int64) for name in labels}
            self._order = np.empty(self.max_points, dtype=np.int64)
        arrival = self.n_seen + np.arange(n, dtype=np.int64)
        fill = min(n, self.max_points - self._size)  # the first max_points points always enter
        if fill:
            slots = np.arange(self._size, self._size + fill)
            self._store(slots, np.arange(fill), points, labels, arrival)
            self._size += fill
        if fill < n:
            rest = np.arange(fill, n)
            draws = self._rng.integers(0, arrival[rest] + 1)
            hit = draws < self.max_points
            slots, rows = draws[hit], rest[hit]
            # A later point replacing the same slot wins, as in the sequential algorithm.
            _, last = np.unique(slots[::-1], return_index=True)
            keep = len(slots) - 1 - last
            self._store(slots[keep], rows[keep], points, labels, arrival)

    def _store(
        self,
        slots: np.ndarray,
        rows: np.ndarray,
        points: np.ndarray,
        labels: Labels,
        arrival: np.ndarray,
    ) -> None:
        if self._points is None:  # pragma: no cover - allocated by _append first
            return
        self._points[slots] = points[rows]
        for name, values in labels.items():
            self._labels[name][slots] = values[rows]
        self._order[slots] = arrival[rows]

    def result(self) -> tuple[np.ndarray, Labels]:
        if self._points is None:
            return _empty(self, [])
        order = np.argsort(self._order[: self._size], kind="stable")
        points = self._points[order]
        labels = {name: values[order] for name, values in self._labels.items()}
        if self._then is None:
            return points, labels
        if not self._handed:
            self._then = _fresh(self._then)
            self._then.append(points, labels)
            self._handed = True
        return self._then.result()

    def close(self) -> None:
        if self._then is not None:
            self._then.close()


class MemmapBuffer(PointBuffer):
    """Append every point to a raw file on disk and return it memory-mapped.

    Files in ``directory``: ``<name>.points.<dtype>`` (row-major ``(n, n_features)``) and one
    ``<name>.<label>.int64`` per label, ``name`` percent-encoded. Existing files of the same name
    are overwritten. Each batch is written and dropped, so memory use stays about one batch
    whatever the total size.

    Parameters
    ----------
    directory : str or pathlib.Path
        Folder for the files (created if missing).
    name : str
        Cloud name, e.g. a site path.
    dtype : {"float32", "float16"}, default="float32"
        Storage dtype.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> buf = MemmapBuffer(tempfile.mkdtemp(), "encoder.layer.0")
    >>> buf.append(np.ones((4, 2)), {"batch_index": np.arange(4)})
    >>> points, labels = buf.result()
    >>> type(points).__name__, points.shape
    ('memmap', (4, 2))
    """

    def __init__(self, directory: str | Path, name: str, dtype: StorageDtype = "float32") -> None:
        super().__init__(dtype)
        self.directory = Path(directory)
        self.name = name
        self._files: dict[str, IO[bytes]] = {}
        self._label_names: list[str] = []

    def path(self, column: str) -> Path:
        """Path of the file holding ``column`` (``"points"`` or a label name)."""
        suffix = self.dtype.name if column == "points" else "int64"
        return self.directory / f"{quote(self.name, safe='')}.{quote(column, safe='')}.{suffix}"

    def _open(self, column: str) -> IO[bytes]:
        if column not in self._files:
            mode = "ab" if self.n_seen else "wb"
            self._files[column] = self.path(column).open(mode)
        return self._files[column]

    def _append(self, points: np.ndarray, labels: Labels) -> None:
        if self.n_seen == 0:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._label_names = list(labels)
        self._open("points").write(np.ascontiguousarray(points).tobytes())
        for name in self._label_names:
            self._open(name).write(np.ascontiguousarray(labels[name], dtype=np.int64).tobytes())

    def result(self) -> tuple[np.ndarray, Labels]:
        if self.n_seen == 0:
            return _empty(self, self._label_names)
        for handle in self._files.values():
            handle.flush()
        shape = (self.n_seen, self.n_features or 0)
        points: np.ndarray = np.memmap(self.path("points"), dtype=self.dtype, mode="r", shape=shape)
        labels: Labels = {
            name: np.memmap(self.path(name), dtype=np.int64, mode="r", shape=(self.n_seen,))
            for name in self._label_names
        }
        return points, labels

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


def _fresh(buffer: PointBuffer) -> PointBuffer:
    buffer.close()
    if isinstance(buffer, MemmapBuffer):
        return MemmapBuffer(buffer.directory, buffer.name, buffer.dtype.name)  # type: ignore[arg-type]
    return MemoryBuffer(buffer.dtype.name)  # type: ignore[arg-type]


def make_buffer(name: str, options: CaptureOptions | None = None) -> PointBuffer:
    """Build the buffer for one cloud from the capture options.

    Parameters
    ----------
    name : str
        Cloud name (a site, or ``"site#call"``): names the memmap files and, with the seed,
        seeds the reservoir, so each cloud gets its own reproducible sample.
    options : CaptureOptions, optional
        ``max_points``, ``seed``, ``dtype``, ``storage`` and ``storage_dir`` are used.

    Returns
    -------
    PointBuffer

    Examples
    --------
    >>> type(make_buffer("fc1", CaptureOptions(max_points=100))).__name__
    'ReservoirBuffer'
    """
    opts = options or CaptureOptions()
    sink: PointBuffer | None = None
    if opts.storage == "memmap" and opts.storage_dir is not None:
        sink = MemmapBuffer(opts.storage_dir, name, opts.dtype)
    if opts.max_points is None:
        return sink if sink is not None else MemoryBuffer(opts.dtype)
    return ReservoirBuffer(
        opts.max_points, [opts.seed, zlib.crc32(name.encode())], opts.dtype, then=sink
    )
