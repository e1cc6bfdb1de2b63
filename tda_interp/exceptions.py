"""The one error and warning tree of tda-interp.

Every error raised on purpose by the library derives from :class:`TdaInterpError`, and also
from the built-in exception a caller would naturally catch, so ``except ValueError`` keeps
working::

    TdaInterpError (Exception)
    ├── ConfigError (ValueError)            bad configuration file or argument value
    ├── SiteNotFoundError (LookupError)     a module path / glob matched nothing
    ├── CaptureError (RuntimeError)         a hook site did not fire or gave unusable output
    ├── ActivationError (ValueError)        activations of the wrong shape, NaN/Inf, too few points
    ├── CheckpointError (RuntimeError)      a checkpoint file is missing, unreadable or mismatched
    ├── HomologyError (RuntimeError)        a persistence backend failed or is unavailable
    ├── ExecutionError (RuntimeError)       an executor lost its workers or its scheduler
    └── RunDirError (RuntimeError)          a run directory is missing, corrupt or incompatible

    TdaInterpWarning (UserWarning)          odd but legal input

A :class:`ConfigError` raised while checking an option carries the option's name and what was
expected (``key``, ``expected``, ``received``), so that a config reader can restate it in the
file's words. A :class:`TdaInterpWarning` carries a ``kind``: warnings of one kind raised for
many results of a run are said once, with a count and the first places
(:class:`tda_interp.execution.WarningLog`). :func:`with_context` adds where an error happened
(checkpoint, layer, view) once, at the layer that knows it.
"""

from __future__ import annotations

__all__ = [
    "ActivationError",
    "CaptureError",
    "CheckpointError",
    "ConfigError",
    "ExecutionError",
    "HomologyError",
    "RunDirError",
    "SiteNotFoundError",
    "TdaInterpError",
    "TdaInterpWarning",
    "with_context",
]


class TdaInterpError(Exception):
    """Base class of every error raised on purpose by tda-interp."""


class ConfigError(TdaInterpError, ValueError):
    """A configuration file or argument has a wrong or missing value.

    Parameters
    ----------
    message : str
    key, expected, received, reason, hint : optional
        For a bad option value: its name, a description of the allowed values, the value
        received, why it was refused and how to fix it (kept as attributes).
    section : str, optional
        The config section the option was read from.
    """

    def __init__(
        self,
        message: str = "",
        *,
        key: str | None = None,
        expected: str | None = None,
        received: str | None = None,
        reason: str | None = None,
        hint: str = "",
        section: str | None = None,
    ) -> None:
        super().__init__(message)
        self.section = section
        self.key = key
        self.expected = expected
        self.received = received
        self.reason = reason
        self.hint = hint


class SiteNotFoundError(TdaInterpError, KeyError):
    """A requested module path or pattern matches no module of the model, or a cloud name is
    not in a :class:`~tda_interp.hooks.Capture` (a ``KeyError``, as a mapping raises)."""

    def __str__(self) -> str:  # LookupError/KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CaptureError(TdaInterpError, RuntimeError):
    """A hook site did not fire, or produced output that cannot be captured."""


class ActivationError(TdaInterpError, ValueError):
    """Captured activations are unusable: wrong shape, NaN/Inf, or too few points."""


class CheckpointError(TdaInterpError, RuntimeError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit the model."""


class HomologyError(TdaInterpError, RuntimeError):
    """A persistence backend failed or is not installed."""


class ExecutionError(TdaInterpError, RuntimeError):
    """An executor lost its worker processes, its Dask workers or its scheduler."""


class RunDirError(TdaInterpError, RuntimeError):
    """A run directory is missing, corrupt, or was written for other parameters."""


class TdaInterpWarning(UserWarning):
    """Odd but legal input, e.g. duplicate points or dropped non-finite rows.

    Parameters
    ----------
    message : str
    kind : str, optional
        What the warning is about, independent of the numbers in the message
        (``"duplicate-points"``); warnings of one kind are grouped. Defaults to the message.
    """

    def __init__(self, message: str = "", *, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind or message


def with_context(err: TdaInterpError, where: str) -> TdaInterpError:
    """A copy of ``err`` (same class, same attributes) whose message starts with ``where``.

    Raise it ``from err`` at the layer that knows where the failure happened.

    Examples
    --------
    >>> str(with_context(ActivationError("3 points contain NaN."), "checkpoint 'step_1'"))
    "checkpoint 'step_1': 3 points contain NaN."
    """
    new = type(err).__new__(type(err))
    Exception.__init__(new, f"{where}: {err}")
    new.__dict__.update(err.__dict__)
    return new
