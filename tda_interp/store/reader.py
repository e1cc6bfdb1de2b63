"""Reading a run directory back: manifest, diagrams, tidy pandas DataFrames."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, RunDirError
from tda_interp.store.format import FORMAT_NAME, MANIFEST, RESULTS, result_path

__all__ = ["Result", "iter_results", "read_diagram", "read_manifest", "read_summaries"]


@dataclass(frozen=True)
class Result:
    """One stored (checkpoint, layer, view) result."""

    checkpoint: str
    step: int
    layer: str
    view: str
    diagram: Diagram
    summary: list[dict[str, Any]]


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The run's manifest as a dict; :class:`RunDirError` if it is missing or foreign."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise RunDirError(
            f"No run found at {str(run_dir)!r}: {MANIFEST} is missing. Pass the directory that "
            "`tda-interp run` or `tda-interp demo` wrote."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunDirError(f"The manifest {str(path)!r} is not valid JSON: {err}.") from err
    if data.get("format") != FORMAT_NAME:
        raise RunDirError(f"{str(path)!r} is not a tda-interp run manifest.")
    return dict(data)


def _load(path: Path) -> Result:
    try:
        with np.load(path, allow_pickle=False) as npz:
            record = json.loads(str(npz["record"]))
            n_dims = sum(1 for k in npz.files if k.startswith("dgm_"))
            pairs = tuple(npz[f"dgm_{k}"] for k in range(n_dims))
        diagram = Diagram(
            pairs=pairs,
            scale=float(record["scale"]),
            n_points=int(record["n_points"]),
            meta=record.get("diagram_meta", {}),
        )
        return Result(
            checkpoint=record["checkpoint"],
            step=int(record["step"]),
            layer=record["layer"],
            view=record["view"],
            diagram=diagram,
            summary=record["summary"],
        )
    except (
        OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, ActivationError
    ) as err:  # fmt: skip
        raise RunDirError(
            f"Result file {str(path)!r} is unreadable ({type(err).__name__}: {err}); delete it "
            "and rerun to recompute."
        ) from err


def iter_results(run_dir: str | os.PathLike[str]) -> Iterator[Result]:
    """Every stored result, in manifest checkpoint order, then layer and view order."""
    manifest = read_manifest(run_dir)
    params = manifest.get("params", {})
    layers = list(params.get("layers", []))
    views = list(params.get("views", []))
    found = sorted(Path(run_dir, RESULTS).glob("*/*/*.npz"))
    results = [_load(p) for p in found]
    order = {c["label"]: i for i, c in enumerate(manifest.get("checkpoints", []))}

    def key(r: Result) -> tuple[int, int, int, int, str, str]:
        return (
            order.get(r.checkpoint, len(order)),
            r.step,
            layers.index(r.layer) if r.layer in layers else len(layers),
            views.index(r.view) if r.view in views else len(views),
            r.layer,
            r.view,
        )

    yield from sorted(results, key=key)


def read_diagram(
    run_dir: str | os.PathLike[str], checkpoint: str, layer: str, view: str
) -> Diagram:
    """The stored diagram of one (checkpoint, layer, view)."""
    path = result_path(Path(run_dir), checkpoint, layer, view)
    if not path.is_file():
        raise RunDirError(
            f"No result for checkpoint {checkpoint!r}, layer {layer!r}, view {view!r} in "
            f"{str(run_dir)!r}; run `tda-interp run` to compute it."
        )
    return _load(path).diagram


def read_summaries(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """All summaries as a tidy DataFrame, one row per (checkpoint, layer, view, dim).

    Columns: ``checkpoint, step, layer, view, dim`` then the fields of
    :func:`tda_interp.diagrams.summarize`.
    """
    rows = []
    for r in iter_results(run_dir):
        for row in r.summary:
            rows.append(
                {"checkpoint": r.checkpoint, "step": r.step, "layer": r.layer, "view": r.view} | row
            )
    cols = ["checkpoint", "step", "layer", "view", "dim"]
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows)
