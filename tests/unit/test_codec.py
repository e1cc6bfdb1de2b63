"""The one diagram file format, and the one rule that reads version-1 (tda-interp 0.1) files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tda_interp.diagrams import Diagram
from tda_interp.homology import significance, vietoris_rips
from tda_interp.options.legacy import approximation_from_v1, upgrade_params
from tda_interp.store.codec import (
    decode_result,
    encode_result,
    provenance_from_v1,
    significance_from_v1,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
V1_META: dict[str, dict[str, Any]] = json.loads((FIXTURES / "v1_meta.json").read_text())


def _circle(n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.c_[np.cos(t), np.sin(t)]


def test_round_trip_keeps_bars_provenance_and_calls() -> None:
    X = _circle() + np.random.default_rng(0).normal(scale=0.02, size=(40, 2))
    res = significance(X, backend="ripser", approximation="landmarks:20")
    data = encode_result(res.diagram, res, layer="fc", step=3)
    back = decode_result(data)
    assert back.format_version == 2
    assert back.diagram == res.diagram
    assert back.diagram.provenance == res.diagram.provenance
    assert back.record == {"layer": "fc", "step": 3}
    calls = back.significance
    assert calls is not None and calls.diagram is back.diagram
    assert calls.options == res.options and calls.seed == res.seed
    assert calls.thresholds == res.thresholds
    for a, b in zip(calls.p_values, res.p_values, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(calls.significant, res.significant, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(calls.null_statistics, res.null_statistics, strict=True):
        np.testing.assert_array_equal(a, b)


def test_file_loads_without_pickle_and_without_significance() -> None:
    d = vietoris_rips(_circle(), backend="ripser")
    data = encode_result(d)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert sorted(npz.files) == ["dgm_0", "dgm_1", "record"]
    back = decode_result(data)
    assert back.significance is None and back.diagram.provenance == d.provenance


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10)).map(sorted), min_size=0, max_size=8),
    st.floats(0.1, 100),
)
def test_round_trip_property(bars: list[list[float]], scale: float) -> None:
    d = Diagram(pairs=[[[0.0, np.inf], *bars], bars], scale=scale, n_points=9)
    assert decode_result(encode_result(d)).diagram == d


def test_newer_format_is_refused() -> None:
    d = Diagram(pairs=[[[0.0, np.inf]]], scale=1.0, n_points=1)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(encode_result(d))) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.namelist():
            payload = zin.read(item)
            if item == "record.npy":
                arr = np.load(io.BytesIO(payload))
                record = json.loads(str(arr))
                record["format_version"] = 99
                out = io.BytesIO()
                np.save(out, np.array(json.dumps(record)))
                payload = out.getvalue()
            zout.writestr(item, payload)
    with pytest.raises(ValueError, match="newer"):
        decode_result(buf.getvalue())


# ---------------------------------------------------------------------- version 1
@pytest.mark.parametrize(
    ("name", "kind", "approximation", "bound_known"),
    [
        ("exact", "exact", "auto", True),
        ("subsample", "exact", "subsample:20", False),
        ("landmarks", "landmarks", "landmarks:12", True),
        ("bound_landmarks", "landmarks", "bound:0.2", True),
        ("truncation", "truncation", "bound:0.05", True),
        ("pca", "exact", "auto", True),
        ("before_bounds", "exact", "auto", True),
    ],
)
def test_every_v1_meta_has_a_provenance(
    name: str, kind: str, approximation: str, bound_known: bool
) -> None:
    meta = V1_META[name]
    n_points = 20 if name == "subsample" else (12 if name == "landmarks" else 40)
    p = provenance_from_v1(meta, n_points)
    assert p.certificate.kind == kind
    assert p.approximation == approximation
    assert p.view == meta["view"] and p.metric == meta["metric"]
    assert p.subsampled is bool(meta.get("subsampled"))
    if bound_known:
        assert p.certificate.bound == meta.get("bottleneck_bound", 0.0)
        assert p.certificate.bound_rel == meta.get("bottleneck_bound_rel", 0.0)
    else:
        assert p.certificate.bound is None and p.certificate.bound_rel is None
    if kind == "landmarks":
        assert p.certificate.n_landmarks == meta["n_landmarks"]
        assert p.certificate.interleaving_bound == meta["interleaving_bound"]
        assert p.cost_estimate_exact is not None
    if kind == "truncation":
        assert p.certificate.truncated_at == meta["truncated_at"]
        assert p.certificate.bound == meta["truncation_bound"]
    if name == "pca":
        assert p.pca_residual_bound == meta["pca_residual_bound"] > 0


def test_v1_meta_written_before_bounds_were_stored() -> None:
    """The one rule, also for the report: exact unless subsampled or approximate."""
    exact = provenance_from_v1({"view": "raw", "subsampled": False}, 10)
    assert exact.certificate.kind == "exact" and exact.certificate.bound_rel == 0.0
    for meta in ({"subsampled": True}, {"approximate": True}):
        p = provenance_from_v1(meta, 10)
        assert p.certificate.kind == "none" and p.certificate.bound_rel is None


def test_v1_significance_matches_what_0_1_counted() -> None:
    meta = V1_META["significance"]
    d = Diagram(
        pairs=[np.c_[np.zeros(40), np.r_[np.ones(39), np.inf]], [[0.2, 0.9]]],
        scale=2.0,
        n_points=40,
    )
    calls = significance_from_v1(meta["significance"], d)
    assert calls.n_significant == tuple(meta["significance"]["n_significant"])
    assert calls.options.n_null == 19 and calls.method == "gaussian"
    assert np.isnan(calls.p_values[0][-1])  # the essential bar is never tested
    assert all(len(s) == 0 for s in calls.null_statistics)  # 0.1 did not keep them


def test_upgrade_params_of_the_v1_fixture() -> None:
    manifest = json.loads((FIXTURES / "v1_run" / "manifest.json").read_text())
    new = upgrade_params(manifest["params"])
    assert new["homology"]["approximation"] == "subsample:1000"
    assert new["homology"]["backend"] == "ripser"
    assert new["capture"]["output_index"] is None and new["capture"]["nonfinite"] == "raise"
    assert new["significance"] == {"method": "gaussian", "n_null": 19, "alpha": 0.05}
    assert new["summary"] == {"long_bar": 0.25}
    assert new["inputs"] == manifest["params"]["inputs"]


def test_v1_subsample_then_landmarks_has_its_own_spec() -> None:
    assert approximation_from_v1(500, 30, None) == "subsample:500 then landmarks:30"
    assert approximation_from_v1(None, None, 0.1) == "bound:0.1"
