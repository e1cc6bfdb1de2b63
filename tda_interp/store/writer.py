"""Writing a run directory: the manifest and one atomic file per result."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tda_interp._versions import library_versions
from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.summaries import summarize
from tda_interp.exceptions import RunDirError
from tda_interp.homology.significance import SignificanceResult
from tda_interp.options import SummaryOptions
from tda_interp.store.codec import encode_result, jsonable
from tda_interp.store.format import FORMAT_NAME, FORMAT_VERSION, MANIFEST, RESULTS, result_path
from tda_interp.store.manifest import load_manifest, params_diff

__all__ = ["RunWriter", "atomic_write_bytes"]


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
        self.params = jsonable(params)
        manifest_path = self.run_dir / MANIFEST
        if manifest_path.exists() and overwrite:
            load_manifest(self.run_dir)  # refuse to delete what is not a run directory
            import shutil

            shutil.rmtree(self.run_dir / RESULTS, ignore_errors=True)
            manifest_path.unlink()
        if manifest_path.exists():
            old = load_manifest(self.run_dir)
            if old["params"] != self.params:
                diff = params_diff(old["params"], self.params)
                raise RunDirError(
                    f"Run directory {str(self.run_dir)!r} was written with other parameters "
                    f"(differing: {', '.join(diff)}); choose a new directory, or pass "
                    "overwrite=True (--overwrite) to discard its results."
                )
            self.manifest = old
            if old.get("format_version", 1) < FORMAT_VERSION:  # resumed: now the new layout
                self.manifest["upgraded_from"] = old.get("format_version", 1)
                self.manifest["format_version"] = FORMAT_VERSION
            if info:
                self.manifest.setdefault("info", {}).update(jsonable(info))
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
            "info": jsonable(info or {}),
            "checkpoints": [],
        }

    def _save_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, sort_keys=True)
        atomic_write_bytes(self.run_dir / MANIFEST, text.encode("utf-8"))

    def add_checkpoint(
        self, label: str, step: int, *, source: str | None = None, fingerprint: str | None = None
    ) -> None:
        """Record a checkpoint in the manifest, in the order it was first seen.

        ``fingerprint`` (a digest of the checkpoint's weights) guards resumption: a checkpoint
        whose label is known but whose fingerprint changed would mix stale results with new
        ones, so it raises :class:`RunDirError`.
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

    def clouds_of(self, layer: str) -> list[str]:
        """The layers ``layer`` is stored as: itself, or ``layer#0`` .. ``layer#k-1`` for a
        module called k times per forward pass, as recorded when it was first captured."""
        return list(self.manifest.get("clouds", {}).get(layer, [layer]))

    def record_clouds(self, layer: str, clouds: Sequence[str]) -> None:
        """Record the clouds a layer gave (kept in the manifest, outside ``params``)."""
        if list(clouds) != self.clouds_of(layer):
            self.manifest.setdefault("clouds", {})[layer] = list(clouds)
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
        significance: SignificanceResult | None = None,
        summary: SummaryOptions | None = None,
    ) -> Path:
        """Write one result atomically (diagram, calls, summaries) and return its path."""
        rows = summarize(diagram, summary, significance=significance)
        data = encode_result(
            diagram,
            significance,
            checkpoint=checkpoint,
            step=int(step),
            layer=layer,
            view=view,
            summary=rows,
        )
        path = result_path(self.run_dir, checkpoint, layer, view)
        atomic_write_bytes(path, data)
        return path
