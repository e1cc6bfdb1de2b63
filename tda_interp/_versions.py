"""The versions of the libraries that shape results: one list, for manifests and cache keys."""

from __future__ import annotations

import functools
import platform
from importlib.metadata import PackageNotFoundError, version

__all__ = ["LIBRARIES", "library_versions"]

#: Distributions whose versions a run directory records and the diagram cache keys on.
LIBRARIES: tuple[str, ...] = (
    "tda-interp", "numpy", "scipy", "torch", "scikit-learn", "ripser", "giotto-ph", "gudhi",
    "pandas", "plotly",
)  # fmt: skip


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    out = []
    for name in LIBRARIES:
        try:
            out.append((name, version(name)))
        except PackageNotFoundError:
            out.append((name, "absent"))
    out.append(("python", platform.python_version()))
    return tuple(out)


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`LIBRARIES` (``"absent"`` if missing) and of Python.

    Read from package metadata (nothing is imported) once per process.

    Examples
    --------
    >>> "numpy" in library_versions() and "python" in library_versions()
    True
    """
    return dict(_versions())
