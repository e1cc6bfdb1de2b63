"""Writing a run directory: the manifest and one atomic file per result."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.summaries import DEFAULT_LONG_BAR, summarize
from tda_interp.exceptions import RunDirError
from tda_interp.store.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    RESULTS,
    result_path,
)

__all__ = ["RunWriter", "atomic_write_bytes", "library_versions"]

_LIBRARIES = (
    "tda-interp", "numpy", "scipy", "torch", "scikit-learn", "ripser", "giotto-ph", "gudhi",
    "pandas", "plotly",
)  # fmt: skip


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape results (``"absent"`` if missing)."""
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    import platform

    out["python"] = platform.python_version()
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same directory, are flushed to disk, and the file
    is renamed over ``path`` (atomic on POSIX and Windows).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; honour the umask like open()
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


class RunWriter:
    """Writes one run directory; resumes an existing one with the same parameters.

    Parameters
    ----------
    run_dir : path
        Directory to create or resume.
    params : dict
        What defines the results (layers, views, reduction, homology parameters, inputs...).
        A rerun into the same directory must pass equal ``params``; otherwise a
        :class:`RunDirError` says what differs.
    info : dict, optional
        Descriptive fields stored in the manifest but not compared (model factory, notes).
    overwrite : bool, default False
        Start afresh: delete the directory's results and manifest first (it must be a run
        directory), whatever parameters it was written with.

    Examples
    --------
    >>> import tempfile
    >>> w = RunWriter(tempfile.mkdtemp(), params={"layers": ["fc"]})
    >>> w.is_done("step_0", "fc", "raw")
    False
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        params: dict[str, Any],
        *,
        info: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.params = _jsonable(params)
        manifest_path = self.run_dir / MANIFEST
        if manifest_path.exists() and overwrite:
            self._load_manifest(manifest_path)  # refuse to delete what is not a run directory
            import shutil

            shutil.rmtree(self.run_dir / RESULTS, ignore_errors=True)
            manifest_path.unlink()
        if manifest_path.exists():
            old = self._load_manifest(manifest_path)
            if old.get("params") != self.params:
                diff = sorted(
                    k
                    for k in set(old.get("params", {})) | set(self.params)
                    if old.get("params", {}).get(k) != self.params.get(k)
                )
                raise RunDirError(
                    f"Run directory {str(self.run_dir)!r} was written with other parameters "
                    f"(differing: {', '.join(diff)}); choose a new directory, or pass "
                    "overwrite=True (--overwrite) to discard its results."
                )
            self.manifest = old
            if info:
                self.manifest.setdefault("info", {}).update(_jsonable(info))
        else:
            self.manifest = self._new_manifest(info)
        self.manifest.setdefault("checkpoints", [])
        self._save_manifest()

    # ------------------------------------------------------------------ manifest
    def _new_manifest(self, info: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": library_versions(),
            "params": self.params,
            "info": _jsonable(info or {}),
            "checkpoints": [],
        }

    @staticmethod
    def _load_manifest(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise RunDirError(
                f"Cannot read the manifest {str(path)!r}: {err}. Delete the run directory or "
                "choose another one."
            ) from err
        if data.get("format") != FORMAT_NAME:
            raise RunDirError(
                f"{str(path)!r} is not a tda-interp run manifest (format "
                f"{data.get('format')!r}); choose an empty or new directory."
            )
        return dict(data)

    def _save_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, sort_keys=True)
        atomic_write_bytes(self.run_dir / MANIFEST, text.encode("utf-8"))

    def add_checkpoint(
        self, label: str, step: int, *, source: str | None = None, fingerprint: str | None = None
    ) -> None:
        """Record a checkpoint in the manifest, in the order it was first seen.

        ``fingerprint`` (e.g. size and modification time of the file) guards resumption: a
        checkpoint whose label is known but whose fingerprint changed would mix stale results
        with new ones, so it raises :class:`RunDirError`.
        """
        for entry in self.manifest["checkpoints"]:
            if entry["label"] == label:
                old = entry.get("fingerprint")
                if fingerprint is not None and old is not None and old != fingerprint:
                    raise RunDirError(
                        f"Checkpoint {label!r}"
                        + (f" ({source})" if source else "")
                        + " changed since its results were "
                        f"written to {str(self.run_dir)!r}; pass overwrite=True (--overwrite) "
                        "to recompute everything, or use a new run directory."
                    )
                return
        self.manifest["checkpoints"].append(
            {"label": label, "step": step, "source": source, "fingerprint": fingerprint}
        )
        self._save_manifest()

    # ------------------------------------------------------------------ results
    def is_done(self, checkpoint: str, layer: str, view: str) -> bool:
        """Whether the result of (checkpoint, layer, view) is already on disk."""
        return result_path(self.run_dir, checkpoint, layer, view).exists()

    def write(
        self,
        checkpoint: str,
        layer: str,
        view: str,
        diagram: Diagram,
        *,
        step: int,
        long_bar: float = DEFAULT_LONG_BAR,
    ) -> Path:
        """Write one result atomically and return its path."""
        record = {
            "checkpoint": checkpoint,
            "step": int(step),
            "layer": layer,
            "view": view,
            "scale": diagram.scale,
            "n_points": diagram.n_points,
            "diagram_meta": diagram.meta,
            "summary": summarize(diagram, long_bar=long_bar),
        }
        arrays = {f"dgm_{k}": np.array(p) for k, p in enumerate(diagram.pairs)}
        arrays["record"] = np.array(json.dumps(_jsonable(record)))
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        path = result_path(self.run_dir, checkpoint, layer, view)
        atomic_write_bytes(path, buf.getvalue())
        return path
