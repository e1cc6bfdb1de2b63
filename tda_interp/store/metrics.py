"""Scalar metrics per training step (loss, accuracy...) in a run directory: ``metrics.jsonl``.

Written by :meth:`tda_interp.store.RunWriter.log_metrics` (and so by
:meth:`tda_interp.TopologyMonitor.log` and the demo), read by
:meth:`tda_interp.store.Run.metrics`. A run without the file has no metrics (an empty table).

Format: UTF-8 JSON lines, one per call of ``log_metrics``, keys sorted, ASCII only::

    {"checkpoint":"step_00250","crc32":1234567890,"metrics":{"test_accuracy":0.031,"train_loss":
    0.0042},"step":250}

- ``step``: int >= 0, the training step (the step axis of the run's checkpoints);
- ``metrics``: name -> value; names are non-empty strings, values floats, the non-finite ones
  written as the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (as everywhere in a run directory);
- ``checkpoint``: the run's checkpoint label at that step, or ``null``;
- ``crc32``: :func:`zlib.crc32` of the line's JSON without the ``crc32`` key (same layout).

Values: any real number (``float``, ``int``, NumPy scalar, one-element tensor or array); ``bool``
is refused. NaN and infinities are kept, not refused: a diverged loss is worth recording, and
refusing it would stop the training loop that logs it (the table holds them as float NaN and
inf).

Crash safety: a line is appended with one ``write`` to a file opened with ``O_APPEND`` after
everything in it was checked, so once :meth:`~tda_interp.store.RunWriter.log_metrics` returns the
line is in the operating system and survives the process being killed; it is forced to disk at
most a second later, and when the writer closes. A line torn by a crash (a power loss mid-write),
or damaged otherwise (bad JSON, a wrong checksum), is left out on reading with one
:class:`~tda_interp.exceptions.TdaInterpWarning` (kind ``"damaged-metrics"``); the next append
starts a new line after it, so a torn line never swallows the lines after it. The same
``(step, name)`` logged twice (a resumed training run logs its steps again) keeps the later value.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
import warnings
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from tda_interp.exceptions import ConfigError, RunDirError, TdaInterpWarning

__all__ = [
    "METRICS",
    "METRICS_COLUMNS",
    "MetricsFile",
    "check_metrics",
    "decode_metrics_line",
    "encode_metrics_line",
    "read_metrics",
]

#: The metrics file of a run directory.
METRICS = "metrics.jsonl"

#: Columns of :meth:`tda_interp.store.Run.metrics`, in order.
METRICS_COLUMNS = ("step", "name", "value", "checkpoint")

#: A written line is forced to disk (``fsync``) at most this many seconds later.
SYNC_SECONDS = 1.0

_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _as_float(value: Any) -> float | None:
    """``value`` as a float, or None when it is not one real number (bools refused)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):  # a one-element tensor or array: loss, not loss.item(), is common
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else getattr(value, "size", None)
        if size == 1:
            inner = item()
            if not isinstance(inner, bool) and isinstance(inner, numbers.Real):
                return float(inner)
    return None


def check_metrics(
    step: Any, metrics: Any, checkpoint: Any = None, *, where: str = ""
) -> tuple[int, dict[str, float], str | None]:
    """Check one call's metrics and return them as plain Python values.

    Parameters
    ----------
    step : int
        The training step, >= 0 (an ``int`` or NumPy integer; not a ``bool``).
    metrics : mapping of str to real number
        At least one metric; names non-empty strings; values ``float``, ``int``, NumPy scalars
        or one-element tensors/arrays (NaN and infinities kept, ``bool`` refused).
    checkpoint : str, optional
        The run's checkpoint label at that step.
    where : str, optional
        Where the call was made, for error messages (the run directory).

    Returns
    -------
    step : int
    values : dict of str to float
    checkpoint : str or None

    Raises
    ------
    ConfigError
        Any of the above not met; nothing is written then.

    Examples
    --------
    >>> import numpy as np
    >>> check_metrics(10, {"loss": np.float32(0.5), "accuracy": 1})
    (10, {'loss': 0.5, 'accuracy': 1.0}, None)
    """
    at = f" ({where})" if where else ""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or int(step) < 0:
        raise ConfigError(
            f"Expected the step of logged metrics to be an int >= 0, got {step!r} "
            f"({type(step).__name__}){at}; pass the training step, e.g. the number of optimiser "
            "steps taken.",
            key="step",
            expected="an int >= 0",
            received=repr(step),
        )
    step = int(step)
    if not isinstance(metrics, Mapping) or not metrics:
        raise ConfigError(
            f"Expected metrics to be a non-empty mapping of names to numbers, got {metrics!r} "
            f"at step {step}{at}; pass e.g. {{'loss': 0.31, 'accuracy': 0.9}}.",
            key="metrics",
            expected="a non-empty mapping of str to float",
            received=repr(metrics),
        )
    values: dict[str, float] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                f"Expected metric names to be non-empty strings, got {name!r} at step {step}"
                f"{at}; name the metric, e.g. 'train_loss'.",
                key="metrics",
                expected="non-empty str names",
                received=repr(name),
            )
        number = _as_float(value)
        if number is None:
            shown = repr(value)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise ConfigError(
                f"Expected metric {name!r} at step {step}{at} to be a real number (float, int, "
                f"NumPy scalar or one-element tensor; not a bool), got {shown} "
                f"({type(value).__name__}); pass one number, e.g. loss.item() or "
                "float(accuracy).",
                key=name,
                expected="a real number",
                received=shown,
            )
        values[name] = number
    if checkpoint is not None and (not isinstance(checkpoint, str) or not checkpoint):
        raise ConfigError(
            f"Expected checkpoint to be a non-empty str (the run's checkpoint label at step "
            f"{step}) or None, got {checkpoint!r}{at}.",
            key="checkpoint",
            expected="a non-empty str or None",
            received=repr(checkpoint),
        )
    return step, values, checkpoint


def _dumps(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _payload(step: int, values: Mapping[str, float], checkpoint: str | None) -> dict[str, Any]:
    written = {k: (v if math.isfinite(v) else str(v)) for k, v in values.items()}
    return {"checkpoint": checkpoint, "metrics": written, "step": step}


def encode_metrics_line(step: int, values: Mapping[str, float], checkpoint: str | None) -> bytes:
    """One line of ``metrics.jsonl``, newline included, for checked values (see
    :func:`check_metrics`).

    Examples
    --------
    >>> line = encode_metrics_line(3, {"loss": float("nan")}, None)
    >>> decode_metrics_line(line)
    (3, {'loss': nan}, None)
    """
    payload = _payload(step, values, checkpoint)
    crc = zlib.crc32(_dumps(payload).encode("ascii"))
    return (_dumps(payload | {"crc32": crc}) + "\n").encode("ascii")


def decode_metrics_line(line: bytes | str) -> tuple[int, dict[str, float], str | None]:
    """The step, values and checkpoint of one line of ``metrics.jsonl``.

    Raises
    ------
    ValueError
        Not JSON, not a metrics record, or its checksum does not match.
    """
    record = json.loads(line)
    if not isinstance(record, dict) or set(record) != {"checkpoint", "crc32", "metrics", "step"}:
        raise ValueError("not a metrics record")
    crc = record.pop("crc32")
    if zlib.crc32(_dumps(record).encode("ascii")) != crc:
        raise ValueError("checksum mismatch")
    raw = record["metrics"]
    if not isinstance(raw, dict):
        raise ValueError("metrics is not an object")
    metrics = {k: _NONFINITE.get(v, v) if isinstance(v, str) else v for k, v in raw.items()}
    try:
        return check_metrics(record["step"], metrics, record["checkpoint"])
    except ConfigError as err:
        raise ValueError(str(err)) from err


class MetricsFile:
    """Appends lines to a run's ``metrics.jsonl`` (see the module docstring).

    Parameters
    ----------
    path : path
        The file; created on the first append.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._newline = False  # the file ends inside a torn line: start a new one first
        self._synced = 0.0
        self._dirty = False

    def _open(self) -> int:
        if self._fd is None:
            new = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            size = os.fstat(self._fd).st_size
            if size:
                with self.path.open("rb") as fh:
                    fh.seek(size - 1)
                    self._newline = fh.read(1) != b"\n"
            if new:  # the new name itself must survive a crash
                _fsync_dir(self.path.parent)
        return self._fd

    def append(self, data: bytes) -> None:
        """Append ``data`` (whole lines) with one write; fsync at most once a second.

        Raises
        ------
        RunDirError
            The file cannot be written (disk full, permissions).
        """
        try:
            fd = self._open()
            if self._newline:
                data = b"\n" + data
            view = memoryview(data)
            self._newline = True  # until the whole line is out
            while view:
                view = view[os.write(fd, view) :]
            self._newline = False
            self._dirty = True
            now = time.monotonic()
            if now - self._synced >= SYNC_SECONDS:
                os.fsync(fd)
                self._synced, self._dirty = now, False
        except OSError as err:
            raise RunDirError(
                f"Cannot append metrics to {str(self.path)!r} ({err}); free disk space or fix "
                "the folder's permissions, then log again (a torn line is skipped on reading)."
            ) from err

    def close(self) -> None:
        """Force what was written to disk and close the file."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                if self._dirty:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._dirty = False


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - not POSIX
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse
        pass
    finally:
        os.close(fd)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": pd.Series(dtype="int64"),
            "name": pd.Series(dtype="str"),
            "value": pd.Series(dtype="float64"),
            "checkpoint": pd.Series(dtype="str"),
        }
    )


def read_metrics(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The metrics of a run directory as a tidy DataFrame (what ``Run.metrics()`` returns).

    Columns ``step`` (int64), ``name`` (str), ``value`` (float64) and ``checkpoint`` (str,
    missing where none was given: test with ``isna()``); one row per ``(step, name)``, the
    later value where one was logged twice; sorted by step, then name. No metrics file: an
    empty table with these columns.

    Warns
    -----
    TdaInterpWarning
        Kind ``"damaged-metrics"``: lines that are torn or damaged, left out.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> read_metrics(folder).columns.tolist()
    ['step', 'name', 'value', 'checkpoint']
    >>> _ = (folder / METRICS).write_bytes(encode_metrics_line(5, {"loss": 0.25}, "step_5"))
    >>> read_metrics(folder).values.tolist()
    [[5, 'loss', 0.25, 'step_5']]
    """
    path = Path(run_dir) / METRICS
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _empty()
    except OSError as err:
        raise RunDirError(
            f"Cannot read the metrics file {str(path)!r} ({err}); fix its permissions, or "
            "delete it to read the run without metrics."
        ) from err
    rows: dict[tuple[int, str], tuple[float, str | None]] = {}
    damaged: list[str] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            step, values, checkpoint = decode_metrics_line(line)
        except (ValueError, UnicodeDecodeError) as err:
            damaged.append(f"line {number} ({err})"[:160])
            continue
        for name, value in values.items():
            rows.pop((step, name), None)  # the later value, in the later position
            rows[(step, name)] = (value, checkpoint)
    if damaged:
        shown = "; ".join(damaged[:3]) + ("; ..." if len(damaged) > 3 else "")
        warnings.warn(
            TdaInterpWarning(
                f"{len(damaged)} line(s) of the metrics file {str(path)!r} are torn or damaged "
                f"and are left out: {shown}. A line torn by a crash loses only that one call of "
                "log_metrics; log it again, or delete the line to silence this warning.",
                kind="damaged-metrics",
            ),
            stacklevel=3,
        )
    if not rows:
        return _empty()
    frame = pd.DataFrame(
        [(step, name, value, ckpt) for (step, name), (value, ckpt) in rows.items()],
        columns=list(METRICS_COLUMNS),
    )
    frame = frame.astype({"step": "int64", "value": "float64"})
    return frame.sort_values(["step", "name"], kind="stable").reset_index(drop=True)
