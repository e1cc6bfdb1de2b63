"""Writing a run directory: the manifest and one atomic file per result."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, SupportsFloat

from tda_interp._versions import library_versions
from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.summaries import summarize
from tda_interp.exceptions import RunDirError
from tda_interp.homology.significance import SignificanceResult
from tda_interp.options import SummaryOptions
from tda_interp.store.codec import (
    decode_result,
    encode_failure,
    encode_result,
    jsonable,
    read_record,
)
from tda_interp.store.format import FORMAT_NAME, FORMAT_VERSION, MANIFEST, RESULTS, result_path
from tda_interp.store.manifest import load_manifest, params_diff, params_digest
from tda_interp.store.metrics import METRICS, MetricsFile, check_metrics, encode_metrics_line

__all__ = ["RunWriter", "atomic_write_bytes"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same directory (named ``.<name>.<random>.tmp``),
    are flushed to disk, and the file is renamed over ``path`` (atomic on POSIX and Windows).
    With ``exclusive``, ``path`` must not exist yet: it is created by a hard link, which fails
    with :class:`FileExistsError` when another process created it first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; honour the umask like open()
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)
            Path(tmp).unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: Temporary files older than this (seconds) are left by a killed writer: removed on open.
STALE_TEMP_SECONDS = 60.0

#: The lock file a writer holds in its run directory.
LOCK = ".tda-interp.lock"


def _own_temp_files(run_dir: Path) -> list[Path]:
    """Temporary files :func:`atomic_write_bytes` leaves when killed mid-write, in a run."""
    found = list(run_dir.glob(f".{MANIFEST}.*.tmp"))
    found += run_dir.glob(f"{RESULTS}/*/*/.*.npz.*.tmp")
    return [p for p in found if p.is_file()]


def _foreign_entries(run_dir: Path) -> list[str]:
    """What a folder without a manifest holds besides a ``results`` tree of this tool's own
    files (a run whose manifest was lost): names, sorted."""
    if not run_dir.is_dir():
        return []
    mine = {p.name for p in _own_temp_files(run_dir)} | {LOCK}  # a writer racing to create it
    names = sorted(p.name for p in run_dir.iterdir() if p.name != RESULTS and p.name not in mine)
    results = run_dir / RESULTS
    if results.exists():
        ours = set(_result_files(run_dir)) | set(_own_temp_files(run_dir))
        files = [p for p in results.rglob("*") if not p.is_dir()]
        if not results.is_dir() or any(p not in ours for p in files):
            names.append(RESULTS)
    return names


def _result_files(run_dir: Path) -> list[Path]:
    """Files named as results are: ``results/<checkpoint>/<layer>/<view>.npz``."""
    return [p for p in run_dir.glob(f"{RESULTS}/*/*/*.npz") if p.is_file()]


#: Manifest key: digests of the parameters of earlier stages of a run that grew (more layers
#: or views); results computed under them are valid.
ACCEPTED = "accepted_params_sha256"
_GROWABLE = ("layers", "views")


def _grown(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The run's parameters once ``new`` is run into a run of ``old``: when the two differ
    only in which layers and views they name, the old ones then the new ones; else None."""
    if old == new or set(old) != set(new):
        return None
    if any(old[k] != new[k] for k in old if k not in _GROWABLE):
        return None
    grown = dict(new)
    for key in _GROWABLE:
        before, after = old.get(key), new.get(key)
        if not isinstance(before, list) or not isinstance(after, list):
            if before != after:
                return None
            continue
        grown[key] = [*before, *(x for x in after if x not in before)]
    return grown


class RunWriter:
    """Writes one run directory; resumes an existing one with the same parameters.

    Parameters
    ----------
    run_dir : path
        Directory to create or resume.
    params : dict
        What defines the results (layers, views, reduction, homology parameters, inputs...).
        A rerun into the same directory must pass equal ``params``, except that it may name
        other ``layers`` and ``views``: the run then grows (the manifest lists the old ones,
        then the new ones; finished results stay valid and only the new ones are computed).
        Any other difference raises :class:`RunDirError`, saying what differs.
    info : dict, optional
        Descriptive fields stored in the manifest but not compared (model factory, notes).
    overwrite : bool, default False
        Start afresh, whatever parameters the run was written with: delete what this tool
        wrote there (the manifest, files named as results, folders they leave empty), never
        other files. A manifest of another program is refused; an unreadable one (truncated by
        a crash) is replaced.

    Notes
    -----
    A new run directory must not exist or be empty: a folder holding anything else is refused,
    so that nothing of the user's is mixed with results or deleted later. The manifest is
    created exclusively: of two processes starting one run at once, the second resumes the
    first's run if its parameters are equal and is refused otherwise. A run whose manifest
    lists other parameters but holds no result yet is simply restarted. Every result records a
    hash of the parameters it was computed with (``params_sha256``).

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
        self.params_sha256 = params_digest(self.params)
        self.recomputed: list[Path] = []
        self.n_failed = 0
        self._valid: dict[Path, bool] = {}
        self._metrics = MetricsFile(self.run_dir / METRICS)
        self._lock = self._acquire_lock()
        try:
            self._remove_stale_temp_files()
            discarded = self._discard() if overwrite else False
            try:
                self.manifest = self._open(info, allow_others=discarded)
            except FileExistsError:  # another process created this run a moment ago
                self.manifest = self._open(info, allow_others=discarded)
            self.manifest.setdefault("checkpoints", [])
            self._save_manifest()
        except BaseException:
            self.close()
            raise

    def _open(self, info: dict[str, Any] | None, *, allow_others: bool) -> dict[str, Any]:
        path = self.run_dir / MANIFEST
        if not path.exists():
            others = _foreign_entries(self.run_dir)
            if others and not allow_others:
                shown = ", ".join(others[:5]) + (
                    f" and {len(others) - 5} more" if len(others) > 5 else ""
                )
                raise RunDirError(
                    f"{str(self.run_dir)!r} is not empty ({shown}) and is not a tda-interp run "
                    "directory (no manifest.json); choose a new or empty folder, so that "
                    "nothing of yours is mixed with results or overwritten."
                )
            manifest = self._new_manifest(info)
            text = json.dumps(manifest, indent=2, sort_keys=True)
            atomic_write_bytes(path, text.encode("utf-8"), exclusive=True)
            return manifest
        old = load_manifest(self.run_dir)
        grown = _grown(old["params"], self.params)
        if grown is not None and _result_files(self.run_dir):
            # other layers or views: the run grows (or is resumed in part); its finished
            # results stay valid
            if grown != old["params"]:
                accepted = [*old.get(ACCEPTED, []), params_digest(old["params"])]
                old[ACCEPTED] = list(dict.fromkeys(accepted))
                old["params"] = grown
            self.params = grown
            self.params_sha256 = params_digest(grown)
        if old["params"] != self.params:
            if _result_files(self.run_dir):
                diff = params_diff(old["params"], self.params)
                raise RunDirError(
                    f"Run directory {str(self.run_dir)!r} was written with other parameters "
                    f"(differing: {', '.join(diff)}); choose a new directory, or pass "
                    "overwrite=True (--overwrite) to discard its results."
                )
            # no result yet (e.g. the first run stopped on a bad option): nothing to lose
            return self._new_manifest(info)
        manifest = old
        if old.get("format_version", 1) < FORMAT_VERSION:  # resumed: now the new layout
            manifest["upgraded_from"] = old.get("format_version", 1)
            manifest["format_version"] = FORMAT_VERSION
        if info:
            manifest.setdefault("info", {}).update(jsonable(info))
        return manifest

    def _acquire_lock(self) -> int | None:
        """Hold ``.tda-interp.lock`` while this writer lives: a second process writing the
        same run directory is refused (a POSIX record lock: released when this process exits,
        however it exits, and never inherited by worker processes)."""
        others = _foreign_entries(self.run_dir)
        if others and not (self.run_dir / MANIFEST).exists():
            return None  # refused in _open, before anything is written here
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return None
        fd = os.open(self.run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            raise RunDirError(
                f"Run directory {str(self.run_dir)!r} is being written by another process; "
                "wait for it to finish, or choose another directory."
            ) from err
        return fd

    def close(self) -> None:
        """Release the run directory (also done when the process exits); metrics logged so
        far are forced to disk."""
        try:
            self._metrics.close()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _remove_stale_temp_files(self) -> None:
        now = time.time()
        for tmp in _own_temp_files(self.run_dir):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                    tmp.unlink()

    def _discard(self) -> bool:
        """Delete what this tool wrote here (manifest, result files, their folders when left
        empty), never anything else; refuse a folder whose manifest is another program's.
        Whether there was a run to discard."""
        path = self.run_dir / MANIFEST
        if not path.exists():
            return False
        try:
            load_manifest(self.run_dir)
        except RunDirError as err:
            if "not a tda-interp run manifest" in str(err) or "newer tda-interp" in str(err):
                raise
            # unreadable (e.g. truncated by a crash): ours by name; recoverable by overwriting
        for file in _result_files(self.run_dir):
            file.unlink()
        (self.run_dir / METRICS).unlink(missing_ok=True)  # the old training run's
        for folder in sorted(self.run_dir.glob(f"{RESULTS}/**/"), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: a user's file keeps its folder
        path.unlink()
        return True

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
        """Whether the result (or recorded failure) of (checkpoint, layer, view) is on disk,
        readable, and was computed with this run's parameters.

        A damaged file (truncated, corrupt: the zip format checks a CRC) or one written with
        other parameters (a manifest deleted and rewritten) is not done: it will be recomputed
        and replaced, and is listed in :attr:`recomputed`.
        """
        path = result_path(self.run_dir, checkpoint, layer, view)
        if path not in self._valid:
            ok = path.exists() and self._check(path)
            if path.exists() and not ok:
                self.recomputed.append(path)
            self._valid[path] = ok
        return self._valid[path]

    def _check(self, path: Path) -> bool:
        try:
            record = read_record(path)
            if "failed" not in record:
                decode_result(path)  # every array, every CRC
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            return False
        found = record.get("params_sha256", self.params_sha256)
        return found == self.params_sha256 or found in self.manifest.get(ACCEPTED, ())

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
        header = self._header(checkpoint, layer, view, step)
        return self._put(header, encode_result(diagram, significance, **header, summary=rows))

    def write_failure(
        self, checkpoint: str, layer: str, view: str, error: BaseException, *, step: int
    ) -> Path:
        """Record that (checkpoint, layer, view) could not be computed, and why (a degenerate
        cloud: constant, too few points...); a rerun does not try again, readers list it."""
        header = self._header(checkpoint, layer, view, step)
        self.n_failed += 1
        return self._put(header, encode_failure(error, **header))

    def _header(self, checkpoint: str, layer: str, view: str, step: int) -> dict[str, Any]:
        return {
            "checkpoint": checkpoint,
            "step": int(step),
            "layer": layer,
            "view": view,
            "params_sha256": self.params_sha256,
        }

    def _put(self, header: dict[str, Any], data: bytes) -> Path:
        path = result_path(self.run_dir, header["checkpoint"], header["layer"], header["view"])
        atomic_write_bytes(path, data)
        self._valid[path] = True
        return path

    # ------------------------------------------------------------------ metrics
    def log_metrics(
        self, step: int, metrics: Mapping[str, SupportsFloat], checkpoint: str | None = None
    ) -> None:
        """Append scalar metrics of one training step (loss, accuracy...) to ``metrics.jsonl``.

        Everything is checked before anything is written; the line is appended in one write
        (see :mod:`tda_interp.store.metrics` for the format and what a crash can do to it).
        Read back with :meth:`tda_interp.store.Run.metrics`.

        Parameters
        ----------
        step : int
            The training step, >= 0, on the same axis as the run's checkpoints.
        metrics : mapping of str to float
            At least one metric: name -> real number (``float``, ``int``, NumPy scalar or
            one-element tensor; NaN and infinities kept, ``bool`` refused).
        checkpoint : str, optional
            The run's checkpoint label at that step, if there is one.

        Raises
        ------
        ConfigError
            A bad step, name or value (nothing is written).
        RunDirError
            The file cannot be written.

        Examples
        --------
        >>> import tempfile
        >>> from tda_interp.store import Run
        >>> with RunWriter(tempfile.mkdtemp(), params={}) as w:
        ...     w.log_metrics(0, {"loss": 2.3, "accuracy": 0.1})
        ...     w.log_metrics(100, {"loss": 0.4, "accuracy": 0.9}, checkpoint="step_100")
        >>> df = Run(w.run_dir).metrics()  # tidy: step, name, value, checkpoint
        >>> df.loc[df.name == "loss", ["step", "value"]].values.tolist()
        [[0.0, 2.3], [100.0, 0.4]]
        >>> df.checkpoint.isna().tolist()  # given at step 100 only
        [True, True, False, False]
        """
        where = f"run directory {str(self.run_dir)!r}"
        step, values, checkpoint = check_metrics(step, metrics, checkpoint, where=where)
        self._metrics.append(encode_metrics_line(step, values, checkpoint))
