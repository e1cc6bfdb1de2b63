"""Invariants every Vietoris-Rips diagram must keep, on clouds hypothesis draws.

- permuting the points changes nothing;
- an isometry (rotation, reflection, translation) changes nothing;
- scaling the cloud by ``c`` scales every birth and death by ``c`` (relative lifetimes fixed);
- the three backends agree (ripser and giotto-ph work in float32: within 1e-6 of the diameter).

Compared with the bottleneck distance per dimension, relative to the diameter, within float
rounding. Significance calls (a function of relative lifetimes) are invariant too.
"""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tda_interp.diagrams import Diagram
from tda_interp.homology import available_backends, vietoris_rips

Cloud = NDArray[np.float64]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def clouds(draw: st.DrawFn) -> Cloud:
    """4 to 24 distinct points in 1 to 5 dimensions, coordinates of one order of magnitude."""
    n = draw(st.integers(4, 24))
    d = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["gauss", "uniform", "circle", "grid"]))
    if kind == "gauss":
        X = rng.normal(size=(n, d))
    elif kind == "uniform":
        X = rng.uniform(-1, 1, size=(n, d))
    elif kind == "circle":
        t = rng.uniform(0, 2 * np.pi, n)
        X = np.zeros((n, max(d, 2)))
        X[:, :2] = np.c_[np.cos(t), np.sin(t)]
        X += 0.05 * rng.normal(size=X.shape)
    else:  # ties: many equal distances, the hard case for orderings
        side = int(np.ceil(n ** (1 / d)))
        X = np.stack(np.meshgrid(*[np.arange(side)] * d), -1).reshape(-1, d)[:n].astype(float)
    X = X * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    assume(len(np.unique(X, axis=0)) == len(X) and np.ptp(X) > 0)
    return X


def _rips(X: Cloud, **kwargs: object) -> Diagram:
    options: dict[str, object] = {"maxdim": 1, "backend": "gudhi", "approximation": "exact"}
    return vietoris_rips(X, **(options | kwargs))


def _close(a: Diagram, b: Diagram, rtol: float) -> None:
    assert a.maxdim == b.maxdim
    for k in range(a.maxdim + 1):
        assert a.n_infinite(k) == b.n_infinite(k)
        d = gudhi.bottleneck_distance(a.finite(k), b.finite(k))
        assert d <= rtol * max(a.scale, b.scale), (k, d, a.scale)


def _orthogonal(d: int, seed: int) -> Cloud:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


@SETTINGS
@given(clouds(), st.integers(0, 2**32 - 1))
def test_permutation_invariance(X: Cloud, seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(len(X))
    a, b = _rips(X), _rips(X[perm])
    _close(a, b, 1e-12)
    assert a.scale == b.scale


@SETTINGS
@given(clouds(), st.integers(0, 2**32 - 1), st.floats(-1e3, 1e3))
def test_isometry_invariance(X: Cloud, seed: int, shift: float) -> None:
    moved = X @ _orthogonal(X.shape[1], seed) + shift
    a, b = _rips(X), _rips(moved)
    _close(a, b, 1e-9)
    for k in range(a.maxdim + 1):
        np.testing.assert_allclose(
            a.lifetimes(k, relative=True), b.lifetimes(k, relative=True), atol=1e-9
        )


@SETTINGS
@given(clouds(), st.sampled_from([1e-4, 0.5, 3.0, 1e4]))
def test_scale_equivariance(X: Cloud, c: float) -> None:
    a, b = _rips(X), _rips(c * X)
    assert b.scale == pytest.approx(c * a.scale, rel=1e-12)
    for k in range(a.maxdim + 1):
        np.testing.assert_allclose(
            a.lifetimes(k, relative=True), b.lifetimes(k, relative=True), atol=1e-9
        )
        np.testing.assert_allclose(c * a.finite(k), b.finite(k), rtol=1e-9, atol=1e-12 * b.scale)


@SETTINGS
@given(clouds())
def test_backends_agree(X: Cloud) -> None:
    reference = _rips(X)
    for backend in available_backends():
        _close(reference, _rips(X, backend=backend), 1e-6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clouds().filter(lambda X: 6 <= len(X) <= 14), st.integers(0, 2**32 - 1))
def test_h2_permutation_and_isometry_invariance(X: Cloud, seed: int) -> None:
    rng = np.random.default_rng(seed)
    moved = X[rng.permutation(len(X))] @ _orthogonal(X.shape[1], seed) + 1.0
    _close(_rips(X, maxdim=2), _rips(moved, maxdim=2), 1e-9)
