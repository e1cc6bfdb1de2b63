"""Compare runs: layer x layer within and across runs, trajectories through training, with the
references that make a distance mean something and the CKA baseline beside it.

:func:`compare_runs` is the one entry (``tda-interp compare`` calls it); it returns a
:class:`Comparison` of tidy pandas frames:

``distances``
    ``run_a, run_b, view, dim, checkpoint_a, checkpoint_b, layer_a, layer_b, distance``: every
    layer of ``run_a`` against every layer of ``run_b`` at the compared checkpoints, for every
    pair of runs (a run with itself included: its layer x layer matrix) and every run against
    the control.
``trajectories``
    ``run, view, dim, layer, checkpoint, step, to_final, to_previous``: how far each
    checkpoint's diagram is from the last one and from the one before.
``references``
    ``run, view, dim, layer, replicate, n_points, distance``: replicate noise of each layer at
    the compared checkpoint (:func:`~tda_interp.compare.replicate_distances`), when its
    activations are at hand.
``cka``
    ``run_a, run_b, layer_a, layer_b, cka, cka_debiased``: linear CKA of the same pairs of
    layers on the same probe inputs, when activations of both runs are at hand and their
    probe inputs are the same.

Activations come from the caller (``activations=``), or are captured again for runs made from
a config (``tda-interp run`` and ``tda-interp demo`` record the model and inputs factories
and where they live); a run without them gets topological distances only, and
:attr:`Comparison.notes` says so.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from tda_interp.compare.cka import cka_matrix
from tda_interp.compare.matrices import paired_distances, pairwise_distances
from tda_interp.compare.references import replicate_distances
from tda_interp.diagrams.diagram import Diagram, html_table
from tda_interp.exceptions import ConfigError, RunDirError, TdaInterpError
from tda_interp.options import CaptureOptions, DistanceOptions, ExecutionOptions, RipsOptions
from tda_interp.store.reader import Run

__all__ = ["Comparison", "compare_runs", "run_activations"]

RunLike = Run | str | os.PathLike[str]

DISTANCE_COLUMNS = [
    "run_a", "run_b", "view", "dim", "checkpoint_a", "checkpoint_b", "layer_a", "layer_b",
    "distance",
]  # fmt: skip
TRAJECTORY_COLUMNS = [
    "run", "view", "dim", "layer", "checkpoint", "step", "to_final", "to_previous",
]  # fmt: skip
REFERENCE_COLUMNS = ["run", "view", "dim", "layer", "replicate", "n_points", "distance"]
CKA_COLUMNS = ["run_a", "run_b", "layer_a", "layer_b", "cka", "cka_debiased"]


@dataclass(frozen=True)
class Comparison:
    """Distances between the diagrams of runs, with their references (see the module docstring).

    Attributes
    ----------
    runs : tuple of str
        Names of the runs compared (their folder names, made unique), the control last.
    control : str or None
        Name of the control run.
    dim : int
    options : DistanceOptions
    checkpoints : dict of str to str
        The checkpoint compared in each run.
    distances, trajectories, references, cka : pandas.DataFrame
    notes : tuple of str
        What could not be computed, and why.
    """

    runs: tuple[str, ...]
    control: str | None
    dim: int
    options: DistanceOptions
    checkpoints: dict[str, str]
    distances: pd.DataFrame
    trajectories: pd.DataFrame
    references: pd.DataFrame
    cka: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """:attr:`distances` with each row layer's median replicate distance (``reference``)
        and the pair's linear CKA (``cka``, ``cka_debiased``); NaN where not computed. The
        table ``tda-interp compare --csv`` writes."""
        out = self.distances.copy()
        ref = self.reference()
        if ref.empty:
            out["reference"] = np.nan
        else:
            ref = ref.rename(columns={"run": "run_a", "layer": "layer_a", "median": "reference"})
            out = out.merge(ref[["run_a", "view", "layer_a", "reference"]], how="left")
        if self.cka.empty:
            out["cka"], out["cka_debiased"] = np.nan, np.nan
        else:
            out = out.merge(self.cka, how="left", on=["run_a", "run_b", "layer_a", "layer_b"])
        return out

    def _repr_html_(self) -> str:
        """Notebook view: what was compared, the notes, and the first rows of
        :meth:`to_frame`. Plain escaped HTML: no script, nothing loaded."""
        opts = self.options
        checkpoints = ", ".join(f"{run} at {label}" for run, label in self.checkpoints.items())
        lines = [
            f"{len(self.runs)} runs: {', '.join(self.runs)}"
            + (f" (control: {self.control})" if self.control else ""),
            f"H{self.dim}, {opts.metric} distance"
            + (" of relative diagrams" if opts.relative else "")
            + f"; {len(self.distances)} distances, {len(self.references)} replicate "
            f"references, {len(self.cka)} CKA pairs",
            f"checkpoints: {checkpoints or 'none'}",
            *(f"note: {note}" for note in self.notes),
        ]
        frame = self.to_frame()
        head = frame.head(10)
        rows = head.itertuples(index=False, name=None)
        more = f"<small>first 10 of {len(frame)} rows; to_frame() has all</small>"
        return (
            '<div class="tda-interp-comparison"><strong>Comparison</strong>'
            + "".join(f"<br>{html.escape(line)}" for line in lines)
            + html_table([str(c) for c in head.columns], rows)
            + (more if len(frame) > 10 else "")
            + "</div>"
        )

    def reference(self) -> pd.DataFrame:
        """Replicate noise per (run, view, layer): ``median`` and ``max`` over the replicates."""
        if self.references.empty:
            return pd.DataFrame(columns=["run", "view", "layer", "median", "max"])
        grouped = self.references.groupby(["run", "view", "layer"], sort=False)["distance"]
        return grouped.agg(["median", "max"]).reset_index()

    def matrix(self, run_a: str, run_b: str, view: str) -> pd.DataFrame:
        """The layer x layer distances of two runs in one view (rows: layers of ``run_a``)."""
        rows = self.distances[
            (self.distances["run_a"] == run_a)
            & (self.distances["run_b"] == run_b)
            & (self.distances["view"] == view)
        ]
        if rows.empty:
            raise ConfigError(
                f"No distances for runs {run_a!r} and {run_b!r} in view {view!r}; runs: "
                f"{list(self.runs)}, views: {sorted(set(self.distances['view']))}."
            )
        table = rows.pivot(index="layer_a", columns="layer_b", values="distance")
        order_a = list(dict.fromkeys(rows["layer_a"]))
        order_b = list(dict.fromkeys(rows["layer_b"]))
        return table.loc[order_a, order_b]

    def nearest(self) -> pd.DataFrame:
        """For each layer of each run, the most similar layer of every other run (both ways).

        Columns ``run_a, run_b, view, layer_a, layer_b, distance, reference, ratio, cka``:
        ``reference`` is the median replicate noise of ``layer_a`` (NaN without activations),
        ``ratio`` = ``distance / reference`` (below about 1: as close as two samples of one
        layer), ``cka`` that pair's linear CKA (NaN when not computed).
        """
        cols = [
            "run_a", "run_b", "view", "layer_a", "layer_b", "distance", "reference", "ratio",
            "cka",
        ]  # fmt: skip
        other = self.distances[self.distances["run_a"] != self.distances["run_b"]]
        if other.empty:
            return pd.DataFrame(columns=cols)
        swap = {"run_a": "run_b", "run_b": "run_a", "layer_a": "layer_b", "layer_b": "layer_a",
                "checkpoint_a": "checkpoint_b", "checkpoint_b": "checkpoint_a"}  # fmt: skip
        other = pd.concat([other, other.rename(columns=swap)], ignore_index=True)
        best = other.loc[
            other.groupby(["run_a", "run_b", "view", "layer_a"], sort=False)["distance"].idxmin()
        ]
        ref = self.reference().rename(columns={"run": "run_a", "layer": "layer_a"})
        out = best.merge(ref[["run_a", "view", "layer_a", "median"]], how="left")
        out = out.rename(columns={"median": "reference"})
        with np.errstate(divide="ignore", invalid="ignore"):
            out["ratio"] = out["distance"] / out["reference"]
        if self.cka.empty:
            out["cka"] = np.nan
        else:
            cka = self.cka[["run_a", "run_b", "layer_a", "layer_b", "cka"]]
            cka = pd.concat([cka, cka.rename(columns=swap)], ignore_index=True)
            cka = cka.drop_duplicates(["run_a", "run_b", "layer_a", "layer_b"])
            out = out.merge(cka, how="left")
        return out[cols].reset_index(drop=True)


# ---------------------------------------------------------------------- activations
def run_activations(run: RunLike, checkpoint: str | None = None) -> dict[str, np.ndarray]:
    """Capture again the clouds a run computed its diagrams from, at one checkpoint.

    Works for runs made from a config (``tda-interp run``, ``tda-interp demo``): the manifest
    names the model and inputs factories and the folder they are found from; the checkpoint
    file must still be where it was.

    Parameters
    ----------
    run : Run or path
    checkpoint : str, optional
        A checkpoint label; the last one by default.

    Returns
    -------
    dict of str to ndarray of shape (n_points, n_features)
        One cloud per stored layer name (``site#k`` for the k-th call of a site).

    Raises
    ------
    RunDirError
        The run does not say how to rebuild its model and inputs, or the checkpoint is gone.
    """
    from tda_interp.config import call_factory
    from tda_interp.hooks.capture import run_capture
    from tda_interp.hooks.checkpoints import load_checkpoint

    r = run if isinstance(run, Run) else Run(run)
    info = r.info
    label = checkpoint or (r.checkpoints[-1].label if r.checkpoints else None)
    record = next((c for c in r.checkpoints if c.label == label), None)
    if "model" not in info or "inputs" not in info or "base_dir" not in info:
        raise RunDirError(
            f"Run {str(r.path)!r} does not record how to rebuild its model and inputs (runs made "
            "with tda-interp run or demo do); pass activations= from Python instead."
        )
    # a pretrained model (a config without checkpoints) is its factory's model as it comes
    pretrained = bool(info.get("pretrained")) and record is not None
    if not pretrained and (record is None or not record.source or not Path(record.source).exists()):
        where = "no checkpoint file is recorded" if record is None else f"{record.source!r}"
        raise RunDirError(
            f"Checkpoint {label!r} of run {str(r.path)!r} cannot be loaded again ({where} is "
            "missing); pass activations= from Python instead."
        )
    base = Path(info["base_dir"])
    model = call_factory(
        str(info["model"]), base_dir=base, what="model factory", args=info.get("model_args")
    )
    inputs = call_factory(
        str(info["inputs"]), base_dir=base, what="inputs factory", args=info.get("inputs_args")
    )
    if not pretrained:
        assert record is not None and record.source is not None  # checked above
        load_checkpoint(model, record.source, strict=bool(info.get("strict", True)))
    params = r.params
    capture = CaptureOptions.from_dict(params.get("capture", {}))
    return dict(run_capture(model, inputs, list(params.get("layers", [])), capture).activations)


# ---------------------------------------------------------------------- the comparison
def _names(runs: Sequence[Run]) -> list[str]:
    names: list[str] = []
    for r in runs:
        name = r.path.resolve().name or str(r.path)
        candidate, k = name, 2
        while candidate in names:
            candidate, k = f"{name} ({k})", k + 1
        names.append(candidate)
    return names


def _diagrams(run: Run, checkpoint: str, view: str) -> dict[str, Diagram]:
    found = {}
    for layer in run.layers:
        try:
            found[layer] = run.diagram(checkpoint, layer, view)
        except RunDirError:
            continue
    return found


def compare_runs(
    runs: Sequence[RunLike],
    *,
    dim: int = 1,
    options: DistanceOptions | None = None,
    checkpoint: str | None = None,
    control: RunLike | None = None,
    activations: Mapping[str, Mapping[str, ArrayLike]] | None = None,
    replicates: int = 3,
    execution: ExecutionOptions | None = None,
) -> Comparison:
    """Compare the diagrams of one or more runs (and a control run), with references.

    Parameters
    ----------
    runs : sequence of Run or path
        One run: its layer x layer matrix and trajectories. Several: every pair too.
    dim : int, default 1
        Homology dimension compared.
    options : DistanceOptions, optional
        How two diagrams are compared (bottleneck on relative diagrams by default).
    checkpoint : str, optional
        The checkpoint label compared in every run that has it; each run's last checkpoint
        by default (and for runs without that label).
    control : Run or path, optional
        An untrained or shuffled-label run, compared with every run beside them.
    activations : mapping of run name to mapping of layer to array, optional
        The clouds of a run at its compared checkpoint (run names are the folder names), for
        the replicate reference and CKA; captured again from the run's config when omitted.
    replicates : int, default 3
        Random half splits per layer for the replicate reference (0: none).
    execution : ExecutionOptions, optional
        Where distances and replicate diagrams are computed, and their cache.

    Returns
    -------
    Comparison
    """
    opts = options if options is not None else DistanceOptions()
    exec_opts = execution if execution is not None else ExecutionOptions()
    if not runs:
        raise ConfigError("Expected at least one run to compare, got none.")
    opened = [r if isinstance(r, Run) else Run(r) for r in runs]
    ctrl = None if control is None else (control if isinstance(control, Run) else Run(control))
    everything = [*opened, *([ctrl] if ctrl is not None else [])]
    names = _names(everything)
    by_name = dict(zip(names, everything, strict=True))
    control_name = names[-1] if ctrl is not None else None
    chosen: dict[str, str] = {}
    notes: list[str] = []
    for name, r in by_name.items():
        labels = [c.label for c in r.checkpoints]
        if not labels:
            raise RunDirError(f"Run {str(r.path)!r} has no checkpoint yet; run it first.")
        if checkpoint is not None and checkpoint in labels:
            chosen[name] = checkpoint
        else:
            chosen[name] = labels[-1]
            if checkpoint is not None:
                notes.append(
                    f"Run {name!r} has no checkpoint {checkpoint!r}; its last, "
                    f"{labels[-1]!r}, is compared."
                )

    pairs = [(a, b) for i, a in enumerate(names[: len(opened)]) for b in names[i : len(opened)]]
    if control_name is not None:
        pairs += [(a, control_name) for a in names[: len(opened)]]

    distances = _distances(by_name, chosen, pairs, dim, opts, exec_opts, notes)
    trajectories = _trajectories(by_name, dim, opts, exec_opts)
    acts = _activations(by_name, chosen, activations, notes)
    references = _references(by_name, acts, dim, opts, replicates, exec_opts, notes)
    cka = _cka(by_name, acts, pairs, notes)
    return Comparison(
        runs=tuple(names),
        control=control_name,
        dim=dim,
        options=opts,
        checkpoints=chosen,
        distances=distances,
        trajectories=trajectories,
        references=references,
        cka=cka,
        notes=tuple(notes),
    )


def _distances(
    by_name: dict[str, Run],
    chosen: dict[str, str],
    pairs: list[tuple[str, str]],
    dim: int,
    opts: DistanceOptions,
    exec_opts: ExecutionOptions,
    notes: list[str],
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for a, b in pairs:
        views = [v for v in by_name[a].views if v in by_name[b].views]
        if not views:
            notes.append(f"Runs {a!r} and {b!r} share no view; they are not compared.")
        for view in views:
            da = _diagrams(by_name[a], chosen[a], view)
            db = da if a == b else _diagrams(by_name[b], chosen[b], view)
            if not da or not db:
                continue
            D = pairwise_distances(
                list(da.values()),
                None if a == b else list(db.values()),
                dim,
                opts,
                execution=exec_opts,
            )
            for i, la in enumerate(da):
                for j, lb in enumerate(db):
                    rows.append(
                        {
                            "run_a": a,
                            "run_b": b,
                            "view": view,
                            "dim": dim,
                            "checkpoint_a": chosen[a],
                            "checkpoint_b": chosen[b],
                            "layer_a": la,
                            "layer_b": lb,
                            "distance": float(D[i, j]),
                        }
                    )
    return pd.DataFrame(rows, columns=DISTANCE_COLUMNS)


def _trajectories(
    by_name: dict[str, Run], dim: int, opts: DistanceOptions, exec_opts: ExecutionOptions
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for name, r in by_name.items():
        ckpts = r.checkpoints
        if len(ckpts) < 2:
            continue
        for view in r.views:
            for layer in r.layers:
                seq = []
                for c in ckpts:
                    try:
                        seq.append((c, r.diagram(c.label, layer, view)))
                    except RunDirError:
                        continue
                if len(seq) < 2:
                    continue
                dgms = [d for _, d in seq]
                final = paired_distances(
                    dgms, [dgms[-1]] * len(dgms), dim, opts, execution=exec_opts
                )
                steps = paired_distances(dgms[:-1], dgms[1:], dim, opts, execution=exec_opts)
                for k, (c, _) in enumerate(seq):
                    rows.append(
                        {
                            "run": name,
                            "view": view,
                            "dim": dim,
                            "layer": layer,
                            "checkpoint": c.label,
                            "step": c.step,
                            "to_final": float(final[k]),
                            "to_previous": float(steps[k - 1]) if k else np.nan,
                        }
                    )
    return pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS)


def _activations(
    by_name: dict[str, Run],
    chosen: dict[str, str],
    given: Mapping[str, Mapping[str, ArrayLike]] | None,
    notes: list[str],
) -> dict[str, dict[str, np.ndarray]]:
    acts: dict[str, dict[str, np.ndarray]] = {}
    for name, r in by_name.items():
        if given is not None and name in given:
            acts[name] = {k: np.asarray(v) for k, v in given[name].items()}
            continue
        try:
            acts[name] = run_activations(r, chosen[name])
        except TdaInterpError as err:
            notes.append(
                f"No activations for run {name!r}, so no replicate reference or CKA: {err}"
            )
    return acts


def _references(
    by_name: dict[str, Run],
    acts: dict[str, dict[str, np.ndarray]],
    dim: int,
    opts: DistanceOptions,
    replicates: int,
    exec_opts: ExecutionOptions,
    notes: list[str],
) -> pd.DataFrame:
    frames = []
    if replicates < 1:
        return pd.DataFrame(columns=REFERENCE_COLUMNS)
    for name, clouds in acts.items():
        r = by_name[name]
        homology = r.params.get("homology") or {}
        try:
            rips = RipsOptions.from_dict(homology) if homology else RipsOptions()
            base_dir = r.info.get("base_dir")
            from tda_interp.homology.views import parse_view

            views = [parse_view(v, base_dir=Path(base_dir) if base_dir else None) for v in r.views]
            stored = set(r.layers)
            frame = replicate_distances(
                {k: v for k, v in clouds.items() if k in stored},
                views,
                dim,
                opts,
                rips=rips,
                n_replicates=replicates,
                execution=exec_opts,
            )
        except TdaInterpError as err:
            notes.append(f"No replicate reference for run {name!r}: {err}")
            continue
        frame.insert(0, "run", name)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=REFERENCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[REFERENCE_COLUMNS]


def _cka(
    by_name: dict[str, Run],
    acts: dict[str, dict[str, np.ndarray]],
    pairs: list[tuple[str, str]],
    notes: list[str],
) -> pd.DataFrame:
    frames = []
    for a, b in pairs:
        if a not in acts or b not in acts:
            continue
        fa, fb = by_name[a].params.get("inputs"), by_name[b].params.get("inputs")
        if a != b and fa != fb:
            notes.append(
                f"Runs {a!r} and {b!r} were computed on different probe inputs, so their layers "
                "have no CKA (topological distances on relative diagrams still compare)."
            )
            continue
        sizes = {len(v) for v in (*acts[a].values(), *acts[b].values())}
        if len(sizes) > 1:
            notes.append(
                f"Runs {a!r} and {b!r} have clouds of different sizes {sorted(sizes)} (a "
                "reduction or subsample per layer), so their layers have no CKA."
            )
            continue
        biased = cka_matrix(acts[a], None if a == b else acts[b])
        debiased = cka_matrix(acts[a], None if a == b else acts[b], debiased=True)
        frame = biased.assign(cka_debiased=debiased["cka"].to_numpy())
        frame.insert(0, "run_b", b)
        frame.insert(0, "run_a", a)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=CKA_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CKA_COLUMNS]
