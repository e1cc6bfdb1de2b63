"""A run directory's ``manifest.json``: read, checked and brought to the current layout once.

The manifest of format version 2 holds ``format``, ``format_version``, ``created``,
``versions`` (:func:`tda_interp._versions.library_versions`), ``params`` (what defines the
results: layers, views, the ``capture``, ``homology``, ``significance`` and ``summary`` options,
the probe inputs' fingerprint), ``info`` (descriptive) and ``checkpoints`` in order. A version-1
manifest (tda-interp 0.1: flat ``params``) is read into the same layout by
:func:`tda_interp.options.legacy.upgrade_params`; a resumed version-1 run is saved as version 2
with ``upgraded_from = 1`` (its old result files stay readable).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tda_interp.exceptions import RunDirError
from tda_interp.options.legacy import upgrade_params
from tda_interp.store.format import FORMAT_NAME, FORMAT_VERSION, MANIFEST

__all__ = ["load_manifest", "params_diff", "params_digest"]


def load_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of ``run_dir`` in the current layout (see the module docstring).

    ``format_version`` keeps the version the file was written with.

    Raises
    ------
    RunDirError
        Missing, unreadable, foreign (not written by tda-interp) or from a newer tda-interp.
    """
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise RunDirError(
            f"No run found at {str(run_dir)!r}: {MANIFEST} is missing. Pass the directory that "
            "`tda-interp run` or `tda-interp demo` wrote."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RunDirError(
            f"Cannot read the manifest {str(path)!r} ({err}); delete the run directory or choose "
            "another one."
        ) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunDirError(
            f"Cannot read the manifest {str(path)!r}: not valid JSON ({err}); delete the run "
            "directory or choose another one."
        ) from err
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise RunDirError(
            f"{str(path)!r} is not a tda-interp run manifest (format {found!r}); choose an empty "
            "or new directory."
        )
    version = data.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunDirError(
            f"{str(path)!r} was written by a newer tda-interp (run format {version!r}; this "
            f"version reads up to {FORMAT_VERSION}); upgrade tda-interp to read it."
        )
    if version == 1:
        data = dict(data)
        data["params"] = upgrade_params(data.get("params", {}))
    data.setdefault("checkpoints", [])
    data.setdefault("info", {})
    return data


def params_digest(params: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``params`` (stored in every result as
    ``params_sha256``).

    Examples
    --------
    >>> params_digest({"b": 1, "a": [2]}) == params_digest({"a": [2], "b": 1})
    True
    """
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def params_diff(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the parameters that differ (``"homology.approximation"``).

    Examples
    --------
    >>> params_diff({"a": 1, "h": {"x": 1, "y": 2}}, {"a": 1, "h": {"x": 3, "y": 2}, "b": 0})
    ['b', 'h.x']
    """
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping) and key != "inputs":
            out += params_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out
