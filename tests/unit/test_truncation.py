"""Truncated Rips filtrations: the completed diagram is within its bound of the full one."""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tda_interp.exceptions import ConfigError
from tda_interp.homology import distance_matrix, rips_from_distances
from tda_interp.homology.truncation import enclosing_radius, truncated_rips

Cloud = NDArray[np.float64]


def _bottleneck(a: Cloud, b: Cloud) -> float:
    """L-infinity bottleneck distance, infinite bars matched among themselves."""
    if np.isinf(a[:, 1]).sum() != np.isinf(b[:, 1]).sum():
        return float("inf")
    fa, fb = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
    ia, ib = np.sort(a[np.isinf(a[:, 1]), 0]), np.sort(b[np.isinf(b[:, 1]), 0])
    births = float(np.abs(ia - ib).max()) if len(ia) else 0.0
    return max(float(gudhi.bottleneck_distance(fa, fb)), births)


def test_hand_example_is_tight() -> None:
    # 0, 1, 3 on a line: r_enc = 2 (from the middle point). Stopping at t = 1 leaves the
    # bar (0, 2) alive; completed at 1.5, it is 0.5 = (r_enc - t) / 2 from the truth.
    D = distance_matrix(np.array([[0.0], [1.0], [3.0]]))
    assert enclosing_radius(D) == 2.0
    dgms, info = truncated_rips(D, 0.5, maxdim=1, backend="ripser")
    assert info == {
        "truncated_at": 1.0,
        "enclosing_radius": 2.0,
        "truncation_bound": 0.5,
        "n_truncated": 1,
    }
    assert dgms[0].tolist() == [[0.0, 1.0], [0.0, 1.5], [0.0, np.inf]]
    full = rips_from_distances(D, maxdim=1, backend="ripser")
    assert _bottleneck(full[0], dgms[0]) == pytest.approx(0.5)


def test_zero_bound_is_the_exact_diagram() -> None:
    X = np.random.default_rng(1).normal(size=(60, 5))
    D = distance_matrix(X)
    dgms, info = truncated_rips(D, 0.0, maxdim=1, backend="ripser")
    assert info["n_truncated"] == 0 and info["truncation_bound"] == 0.0
    full = rips_from_distances(D, maxdim=1, backend="ripser")
    for a, b in zip(dgms, full, strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    dim=st.sampled_from([2, 3, 10, 100]),
    frac=st.floats(0.0, 0.5),
    backend=st.sampled_from(["ripser", "gudhi"]),
)
def test_bound_dominates_the_true_bottleneck(
    seed: int, dim: int, frac: float, backend: str
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, dim))
    D = distance_matrix(X)
    max_bound = frac * float(D.max())
    dgms, info = truncated_rips(D, max_bound, maxdim=2, backend=backend)
    assert info["truncation_bound"] <= max_bound + 1e-12
    full = rips_from_distances(D, maxdim=2, backend=backend)
    tol = 1e-6 * float(D.max())  # ripser.py filters in float32
    for k in range(3):
        assert _bottleneck(full[k], dgms[k]) <= info["truncation_bound"] + tol
    assert int(np.isinf(dgms[0][:, 1]).sum()) == 1
    assert not np.isinf(dgms[1][:, 1]).any() and not np.isinf(dgms[2][:, 1]).any()


def test_bad_bound() -> None:
    D = distance_matrix(np.eye(3))
    for bad in (-0.1, True, "5%"):
        with pytest.raises(ConfigError, match="max_bound >= 0"):
            truncated_rips(D, bad)  # type: ignore[arg-type]


def test_disconnected_matrix_is_computed_exactly() -> None:
    D = np.array([[0.0, 1.0, np.inf], [1.0, 0.0, np.inf], [np.inf, np.inf, 0.0]])
    dgms, info = truncated_rips(D, 0.1, maxdim=0, backend="ripser")
    assert info["truncation_bound"] == 0.0 and info["n_truncated"] == 0
    assert int(np.isinf(dgms[0][:, 1]).sum()) == 2  # two components: both classes live on


def test_asymmetric_matrix_is_refused() -> None:
    from tda_interp.exceptions import ActivationError

    D = np.array([[0.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ActivationError, match="symmetric"):
        truncated_rips(D, 0.1)
