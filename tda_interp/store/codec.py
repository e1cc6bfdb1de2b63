"""The one diagram file format: a diagram, its provenance and its significance calls in an
``.npz``, written by run directories and by the diagram cache alike.

Format version 2 (written since tda-interp 0.2)::

    dgm_0 .. dgm_<maxdim>   float64 (n_bars, 2): (birth, death), infinite deaths as inf
    sig_p_<k>, sig_null_<k> float64: p-values aligned with dgm_<k>, null statistics
    sig_calls_<k>           bool: the calls aligned with dgm_<k>
                            (the three only when the result has significance calls)
    record                  JSON string: {"format_version": 2, "scale", "n_points",
                            "provenance": Provenance.to_dict() or null,
                            "significance": {"options", "seed", "thresholds",
                            "normalisation", "widened_by", "undecided"} or null,
                            and the caller's header fields}

A computation that failed on a degenerate cloud is stored as a *failure*: a file with only a
``record`` holding ``{"format_version": 2, "failed": {"error": class name, "message": text}}``
and the header (:func:`encode_failure`; :func:`read_record` reads any record without the
arrays).

Format version 1 (tda-interp 0.1) had no ``format_version`` and kept an untyped
``diagram_meta`` dict in the record, significance calls inside it. :func:`decode_result` reads
both; the rule for version 1 is :func:`provenance_from_v1` and :func:`significance_from_v1`, and
it is written nowhere else. Files load with ``numpy.load(path, allow_pickle=False)``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from tda_interp.diagrams.diagram import Diagram
from tda_interp.diagrams.provenance import Certificate, CostEstimate, Provenance
from tda_interp.homology.significance import SignificanceResult
from tda_interp.options import SignificanceOptions

__all__ = [
    "RESULT_FORMAT_VERSION",
    "DecodedResult",
    "decode_result",
    "encode_failure",
    "encode_result",
    "jsonable",
    "provenance_from_v1",
    "read_record",
    "significance_from_v1",
]

RESULT_FORMAT_VERSION = 2


@dataclass(frozen=True)
class DecodedResult:
    """What a result file holds: the diagram, its calls, and the rest of its record."""

    diagram: Diagram
    significance: SignificanceResult | None
    record: dict[str, Any] = field(default_factory=dict)
    format_version: int = RESULT_FORMAT_VERSION


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars made plain and non-finite floats written as strings."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def encode_result(
    diagram: Diagram, significance: SignificanceResult | None = None, **header: Any
) -> bytes:
    """The bytes of a result file (see the module docstring).

    Parameters
    ----------
    diagram : Diagram
    significance : SignificanceResult, optional
        Calls on the bars of ``diagram``.
    **header
        Extra record fields (a run directory stores checkpoint, step, layer, view, summary).

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]]], scale=1.0, n_points=2)
    >>> decode_result(encode_result(d, layer="fc")).record["layer"]
    'fc'
    """
    arrays: dict[str, np.ndarray] = {f"dgm_{k}": np.array(p) for k, p in enumerate(diagram.pairs)}
    calls = None
    if significance is not None:
        for k in range(diagram.maxdim + 1):
            arrays[f"sig_p_{k}"] = np.asarray(significance.p_values[k], dtype=np.float64)
            arrays[f"sig_null_{k}"] = np.asarray(significance.null_statistics[k], dtype=np.float64)
            arrays[f"sig_calls_{k}"] = np.asarray(significance.significant[k], dtype=np.bool_)
        calls = {
            "options": significance.options.to_dict(),
            "seed": significance.seed,
            "thresholds": list(significance.thresholds),
            "normalisation": list(significance.normalisation),
            "widened_by": significance.widened_by,
            "undecided": list(significance.undecided),
        }
    record = {
        **header,
        "format_version": RESULT_FORMAT_VERSION,
        "scale": diagram.scale,
        "n_points": diagram.n_points,
        "provenance": None if diagram.provenance is None else diagram.provenance.to_dict(),
        "significance": calls,
    }
    return _npz(arrays, record)


def encode_failure(error: BaseException, **header: Any) -> bytes:
    """The bytes of a failure file: why the diagram could not be computed, and the header.

    Examples
    --------
    >>> read_record(encode_failure(ValueError("constant cloud"), layer="fc"))["failed"]
    {'error': 'ValueError', 'message': 'constant cloud'}
    """
    failed = {"error": type(error).__name__, "message": str(error)}
    return _npz({}, {**header, "format_version": RESULT_FORMAT_VERSION, "failed": failed})


def _npz(arrays: dict[str, np.ndarray], record: dict[str, Any]) -> bytes:
    arrays = {**arrays, "record": np.array(json.dumps(jsonable(record)))}
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def read_record(source: str | Path | bytes) -> dict[str, Any]:
    """The JSON record of a result or failure file, without reading its arrays (the zip
    format checks the record's CRC)."""
    with _opened(source) as fh, np.load(fh, allow_pickle=False) as npz:
        return dict(json.loads(str(npz["record"])))


def _opened(source: str | Path | bytes) -> IO[bytes]:
    """A binary file object for ``source``, closed by its ``with`` block even when numpy fails
    to read it (np.load leaks the handle it opened itself on a damaged zip)."""
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


def decode_result(source: str | Path | bytes) -> DecodedResult:
    """Read a result file of format version 1 or 2.

    Raises
    ------
    OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile
        On a damaged or foreign file; callers say which file and what to do.
    """
    with _opened(source) as fh, np.load(fh, allow_pickle=False) as npz:
        record = json.loads(str(npz["record"]))
        n_dims = sum(1 for k in npz.files if k.startswith("dgm_"))
        pairs = tuple(npz[f"dgm_{k}"] for k in range(n_dims))
        sig_p = [npz[f"sig_p_{k}"] for k in range(n_dims) if f"sig_p_{k}" in npz.files]
        sig_null = [npz[f"sig_null_{k}"] for k in range(n_dims) if f"sig_null_{k}" in npz.files]
        sig_calls = [npz[f"sig_calls_{k}"] for k in range(n_dims) if f"sig_calls_{k}" in npz.files]
    version = int(record.pop("format_version", 1))
    if "failed" in record:
        raise ValueError(f"a failed computation has no diagram: {record['failed']['message']}")
    scale, n_points = float(record.pop("scale")), int(record.pop("n_points"))
    if version == 1:
        meta = record.pop("diagram_meta", {}) or {}
        provenance = provenance_from_v1(meta, n_points) if meta else None
        diagram = Diagram(pairs=pairs, scale=scale, n_points=n_points, provenance=provenance)
        calls = meta.get("significance")
        significance = significance_from_v1(calls, diagram) if calls else None
        return DecodedResult(diagram, significance, record, format_version=1)
    if version != RESULT_FORMAT_VERSION:
        raise ValueError(
            f"result format version {version} is newer than this tda-interp reads "
            f"({RESULT_FORMAT_VERSION}); upgrade tda-interp"
        )
    prov = record.pop("provenance", None)
    diagram = Diagram(
        pairs=pairs,
        scale=scale,
        n_points=n_points,
        provenance=None if prov is None else Provenance.from_dict(prov),
    )
    calls = record.pop("significance", None)
    significance = None
    if calls is not None:
        options = SignificanceOptions.from_dict(calls["options"])
        significance = _significance(
            diagram,
            options,
            int(calls["seed"]),
            calls["thresholds"],
            sig_p,
            sig_null,
            sig_calls or None,
            normalisation=tuple(str(v) for v in calls.get("normalisation", ())),
            widened_by=float(calls.get("widened_by", 0.0)),
            undecided=tuple(int(v) for v in calls.get("undecided", ())),
        )
    return DecodedResult(diagram, significance, record, format_version=version)


def _significance(
    diagram: Diagram,
    options: SignificanceOptions,
    seed: int,
    thresholds: list[Any],
    p_values: list[np.ndarray],
    null: list[np.ndarray],
    stored_calls: list[np.ndarray] | None = None,
    *,
    normalisation: tuple[str, ...] = (),
    widened_by: float = 0.0,
    undecided: tuple[int, ...] = (),
) -> SignificanceResult:
    if len(p_values) != diagram.maxdim + 1 or any(
        len(p) != len(bars) for p, bars in zip(p_values, diagram.pairs, strict=True)
    ):
        raise ValueError("the significance p-values do not match the bars of the diagram")
    p = [np.asarray(v, dtype=np.float64) for v in p_values]
    if stored_calls is not None:
        if [len(c) for c in stored_calls] != [len(v) for v in p]:
            raise ValueError("the significance calls do not match the bars of the diagram")
        calls = list(stored_calls)
    else:  # tda-interp 0.1 kept p-values only, and called p <= alpha
        calls = [np.asarray(v <= options.alpha) for v in p]  # NaN (infinite bars): False
    stats = list(null) or [np.empty(0) for _ in p]
    return SignificanceResult.from_arrays(
        diagram,
        options,
        seed,
        [float(t) for t in thresholds],
        (p, calls, stats),
        normalisation=normalisation,
        widened_by=widened_by,
        undecided=undecided,
    )


# ---------------------------------------------------------------------- version 1 (tda-interp 0.1)
def _approximation_v1(meta: Mapping[str, Any], n_points: int) -> str:
    if meta.get("max_bound_rel") is not None:
        return f"bound:{float(meta['max_bound_rel']):g}"
    if meta.get("n_landmarks"):
        return f"landmarks:{int(meta['n_landmarks'])}"
    if meta.get("subsampled"):
        return f"subsample:{n_points}"
    return "auto"


def provenance_from_v1(meta: Mapping[str, Any], n_points: int) -> Provenance:
    """The :class:`~tda_interp.diagrams.Provenance` of a 0.1 ``diagram_meta`` dict.

    The rule for results written before bounds were stored (no ``bottleneck_bound_rel``):
    exact unless subsampled or approximate, and then no bound is known.

    Examples
    --------
    >>> p = provenance_from_v1({"view": "raw", "subsampled": True, "n_points_total": 90}, 50)
    >>> p.subsampled, p.certificate.bound, p.approximation
    (True, None, 'subsample:50')
    """
    subsampled = bool(meta.get("subsampled", False))

    def number(key: str) -> float | None:
        value = meta.get(key)
        return None if value is None else float(value)

    if "bottleneck_bound_rel" not in meta:
        unknown = subsampled or bool(meta.get("approximate"))
        certificate = Certificate(
            kind="none" if unknown else "exact",
            bound=None if unknown else 0.0,
            bound_rel=None if unknown else 0.0,
        )
    elif meta.get("truncated_at") is not None:
        certificate = Certificate(
            kind="truncation" if (number("truncation_bound") or 0.0) > 0.0 else "exact",
            bound=number("bottleneck_bound"),
            bound_rel=number("bottleneck_bound_rel"),
            convention=str(meta.get("bound_convention", "")),
            truncated_at=number("truncated_at"),
            enclosing_radius=number("enclosing_radius"),
            n_truncated=meta.get("n_truncated"),
        )
    elif meta.get("n_landmarks"):
        certificate = Certificate(
            kind="landmarks",
            bound=number("bottleneck_bound"),
            bound_rel=number("bottleneck_bound_rel"),
            convention=str(meta.get("bound_convention", "")),
            n_landmarks=int(meta["n_landmarks"]),
            covering_radius=number("covering_radius"),
            covering_bound=number("covering_bound"),
            interleaving_bound=number("interleaving_bound"),
        )
    else:
        certificate = Certificate(
            kind="exact",
            bound=number("bottleneck_bound"),
            bound_rel=number("bottleneck_bound_rel"),
            convention=str(meta.get("bound_convention", "")),
        )
    costs = {
        key: CostEstimate.from_dict(meta[key]) if isinstance(meta.get(key), Mapping) else None
        for key in ("cost_estimate", "cost_estimate_exact")
    }
    return Provenance(
        view=str(meta.get("view", "raw")),
        metric=str(meta.get("metric", "euclidean")),
        backend=str(meta.get("backend", "unknown")),
        coeff=2,
        seed=int(meta.get("seed", 0)),
        approximation=_approximation_v1(meta, n_points),
        n_points_total=int(meta.get("n_points_total", n_points)),
        subsampled=subsampled,
        certificate=certificate,
        pca_residual_bound=number("pca_residual_bound"),
        pca_residual_bound_rel=number("pca_residual_bound_rel"),
        cost_estimate=costs["cost_estimate"],
        cost_estimate_exact=costs["cost_estimate_exact"],
    )


def significance_from_v1(calls: Mapping[str, Any], diagram: Diagram) -> SignificanceResult:
    """The :class:`~tda_interp.homology.SignificanceResult` of a 0.1 ``meta["significance"]``.

    0.1 kept the p-values (``None`` for the essential bar) and thresholds, not the null
    statistics: those come back empty.
    """
    options = SignificanceOptions(
        method=calls.get("method", "gaussian"),
        n_null=int(calls.get("n_null", 19)),
        alpha=float(calls.get("alpha", 0.05)),
    )
    p_values = [
        np.array([np.nan if v is None else float(v) for v in dim], dtype=np.float64)
        for dim in calls["p_values"]
    ]
    seed = diagram.provenance.seed if diagram.provenance is not None else 0
    return _significance(diagram, options, seed, list(calls["thresholds"]), p_values, [])
