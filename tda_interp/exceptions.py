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
    └── RunDirError (RuntimeError)          a run directory is missing, corrupt or incompatible

    TdaInterpWarning (UserWarning)          odd but legal input
"""

from __future__ import annotations

__all__ = [
    "ActivationError",
    "CaptureError",
    "CheckpointError",
    "ConfigError",
    "HomologyError",
    "RunDirError",
    "SiteNotFoundError",
    "TdaInterpError",
    "TdaInterpWarning",
]


class TdaInterpError(Exception):
    """Base class of every error raised on purpose by tda-interp."""


class ConfigError(TdaInterpError, ValueError):
    """A configuration file or argument has a wrong or missing value."""


class SiteNotFoundError(TdaInterpError, LookupError):
    """A requested module path or pattern matches no module of the model."""

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


class RunDirError(TdaInterpError, RuntimeError):
    """A run directory is missing, corrupt, or was written for other parameters."""


class TdaInterpWarning(UserWarning):
    """Odd but legal input, e.g. duplicate points or dropped non-finite rows."""
