"""Ground truth for the default significance calls: shapes with known Betti numbers, sampled
here, through the public API with default settings (and the pipeline, which must agree)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import tda_interp as ti
from tda_interp.homology import compute_diagram
from tda_interp.homology.universal import universal_p_values
from tda_interp.options import RipsOptions, SignificanceOptions


def _embed(Y: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``Y`` isometrically embedded in ``dim`` dimensions by a random rotation."""
    Q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    Z = np.zeros((len(Y), dim))
    Z[:, : Y.shape[1]] = Y
    return Z @ Q.T


def circle(n: int, noise: float, dim: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    X = _embed(np.c_[np.cos(t), np.sin(t)], dim, rng)
    return X + noise * rng.standard_normal(X.shape)


def flat_torus(n: int = 600, noise: float = 0.01, dim: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 2 * np.pi, (2, n))
    X = _embed(np.c_[np.cos(a), np.sin(a), np.cos(b), np.sin(b)], dim, rng)
    return X + noise * rng.standard_normal(X.shape)


def sphere(n: int = 300, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((n, 3))
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    return Y + noise * rng.standard_normal(Y.shape)


def linked_circles(n_each: int = 150, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t, s = rng.uniform(0, 2 * np.pi, (2, n_each))
    X = np.r_[np.c_[np.cos(t), np.sin(t), 0 * t], np.c_[1 + np.cos(s), 0 * s, np.sin(s)]]
    return X + noise * rng.standard_normal(X.shape)


def figure_eight(n: int = 300, noise: float = 0.03, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    side = np.where(rng.random(n) < 0.5, -1.0, 1.0)  # circles centred at (+-1, 0), touching at 0
    X = np.c_[side * (1 - np.cos(t)), np.sin(t)]
    return X + noise * rng.standard_normal(X.shape)


def blobs(k: int, dim: int, separation: float, per: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = separation / math.sqrt(2) * np.eye(max(k, dim))[:k, :dim]
    return np.concatenate([c + rng.standard_normal((per, dim)) for c in centres])


def pentagon(r: float = 1.0) -> np.ndarray:
    t = 2 * np.pi * np.arange(5) / 5
    return r * np.c_[np.cos(t), np.sin(t)]


def _betti(X: np.ndarray, maxdim: int = 2, **kw: object) -> tuple[int, ...]:
    res = ti.significance(X, maxdim=maxdim, **kw)
    return (res.n_clusters, *res.n_significant[1:])


# ---------------------------------------------------------------------- the shapes
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_circle_in_128_dims_has_one_loop_and_no_void(seed: int) -> None:
    assert _betti(circle(200, 0.02, 128, seed)) == (1, 1, 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_small_noisy_circle_of_60_points(seed: int) -> None:
    assert _betti(circle(60, 0.05, 2, seed), maxdim=1) == (1, 1)


def test_pentagon_has_one_loop_born_and_dying_where_geometry_says() -> None:
    r = 2.0
    res = ti.significance(pentagon(r), maxdim=1)
    assert res.n_significant == (0, 1)
    bar = res.significant_bars(1)[0]
    side, diagonal = 2 * r * math.sin(math.pi / 5), 2 * r * math.sin(2 * math.pi / 5)
    np.testing.assert_allclose(bar, [side, diagonal], rtol=1e-9)
    assert res.normalisation[1] == "null clouds"  # one bar: normalised on null clouds


def test_linked_circles_and_a_figure_eight_have_two_loops() -> None:
    # linked circles are two pieces, 0.85 apart where neighbours are 0.04 apart: two clusters
    assert _betti(linked_circles()) == (2, 2, 0)
    assert _betti(figure_eight(), maxdim=1) == (1, 2)  # one piece: the circles touch


@pytest.mark.slow
def test_flat_torus_in_128_dims_has_two_loops_and_one_void() -> None:
    assert _betti(flat_torus()) == (1, 2, 1)


@pytest.mark.slow
def test_sphere_has_one_void_and_no_loop() -> None:
    assert _betti(sphere()) == (1, 0, 1)


@pytest.mark.parametrize(("k", "dim", "separation"), [(2, 2, 12.0), (3, 8, 12.0), (4, 64, 30.0)])
def test_separated_gaussian_blobs_are_k_clusters(k: int, dim: int, separation: float) -> None:
    assert ti.significance(blobs(k, dim, separation), maxdim=0).n_clusters == k


@pytest.mark.parametrize("dim", [2, 64])
def test_gaussian_noise_has_no_feature(dim: int) -> None:
    X = np.random.default_rng(dim).standard_normal((200, dim))
    assert _betti(X, maxdim=1) == (1, 0)


# ---------------------------------------------------------------------- invariance
@pytest.mark.parametrize(
    "make", [lambda: circle(120, 0.05, 8, 3), linked_circles, lambda: blobs(3, 4, 12.0)]
)
def test_calls_are_invariant_under_isometries_and_scaling(make) -> None:  # type: ignore[no-untyped-def]
    X = make()
    rng = np.random.default_rng(9)
    Q, _ = np.linalg.qr(rng.standard_normal((X.shape[1], X.shape[1])))
    Y = 7.3 * X @ Q.T + rng.standard_normal(X.shape[1]) * 5
    a, b = ti.significance(X, maxdim=1), ti.significance(Y, maxdim=1)
    assert a.n_significant == b.n_significant
    for k in range(2):
        np.testing.assert_array_equal(a.significant[k], b.significant[k])
        np.testing.assert_allclose(a.p_values[k], b.p_values[k], rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------------- approximations
def test_landmark_calls_are_widened_by_the_certified_bound() -> None:
    X = circle(800, 0.02, 4, 4)
    exact = ti.significance(X, maxdim=1, approximation="exact")
    approx = ti.significance(X, maxdim=1, approximation="landmarks:150")
    cert = approx.diagram.provenance.certificate  # type: ignore[union-attr]
    assert cert.kind == "landmarks" and approx.widened_by > 0
    assert approx.widened_by == pytest.approx(cert.bound)
    assert exact.widened_by == 0.0 and exact.undecided == (0, 0)
    assert approx.n_significant == exact.n_significant == (0, 1)
    # widening never makes a call: every widened call is a call of the same diagram unwidened
    p, m, _ = universal_p_values(approx.diagram[1])
    assert not (approx.significant[1] & ~(p <= 0.05 / m)).any()


def test_an_approximation_too_coarse_to_call_says_so() -> None:
    # noise of 0.05 per coordinate in 16 dimensions: 150 landmarks are certified within 0.37 of
    # the exact diagram (16% of the diameter), too loose to call the loop the exact test finds
    X = circle(800, 0.05, 16, 4)
    assert ti.significance(X, maxdim=1, approximation="exact").n_significant[1] == 1
    with pytest.warns(ti.TdaInterpWarning, match=r"H1: 1\).*approximation='exact'"):
        res = ti.significance(X, maxdim=1, approximation="landmarks:150")
    assert res.n_significant[1] == 0 and res.undecided[1] == 1
    for b, d in res.significant_bars(1):  # what it does call is longer than twice the bound
        assert d - b > 2 * res.widened_by


class _Embed(nn.Module):
    def __init__(self, points: np.ndarray) -> None:
        super().__init__()
        self.table = nn.Embedding(len(points), points.shape[1])
        with torch.no_grad():
            self.table.weight.copy_(torch.as_tensor(points, dtype=torch.float32))
        self.out = nn.Identity()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.out(self.table(idx))


@pytest.mark.parametrize("approximation", ["exact", "landmarks:120"])
def test_pipeline_and_api_make_the_same_calls(tmp_path, approximation: str) -> None:  # type: ignore[no-untyped-def]
    X = circle(400, 0.05, 8, 6).astype(np.float32)
    model = _Embed(X)
    ckpt = tmp_path / "step_0.pt"
    torch.save(model.state_dict(), ckpt)
    rips = RipsOptions(maxdim=1, approximation=approximation)
    ti.run_pipeline(
        model,
        [ckpt],
        torch.arange(len(X)),
        tmp_path / "run",
        layers=["out"],
        homology=rips,
        execution=ti.ExecutionOptions(executor="serial", cache=False),
    )
    stored = ti.Run(tmp_path / "run").result("step_0", "out", "raw").significance
    assert stored is not None
    api = ti.significance(X.astype(np.float64), rips=rips)
    assert stored.method == api.method == "universal"
    assert stored.widened_by == pytest.approx(api.widened_by)
    for k in range(2):
        np.testing.assert_array_equal(stored.significant[k], api.significant[k])
        np.testing.assert_allclose(stored.p_values[k], api.p_values[k], rtol=1e-9, atol=0)


def test_planar_points_have_no_void_and_cost_no_null_cloud() -> None:
    X = circle(300, 0.05, 2, 8)
    res = ti.significance(X, maxdim=2)
    assert res.n_significant[1:] == (1, 0)
    assert res.normalisation[2] in ("rank", "none") and res.null_statistics[2].size == 0


def test_calls_cost_little_beside_the_diagram() -> None:
    """Not a timing: the universal test on a diagram with many bars computes no null cloud."""
    X = np.random.default_rng(0).standard_normal((300, 16))
    rips = RipsOptions(maxdim=1)
    dgm = compute_diagram(X, "raw", rips)
    res = ti.significance(X, SignificanceOptions(), rips=rips, diagram=dgm)
    assert res.diagram is dgm
    assert res.null_statistics[1].size == 0 and res.normalisation[1] == "diagram"


# ---------------------------------------------------------------------- calibration
@pytest.mark.slow
def test_calibrated_on_noise() -> None:
    """The small version of benchmarks/bench_significance.py: over 240 noise clouds (8
    families x 30, 100 points) for H0 and H1 and 160 (8 x 20, 60 points) for H2, the number of
    clouds with ANY significant bar stays within the 99.9% quantile of Binomial(N, alpha):
    a test whose family-wise rate is alpha passes with probability 0.999, one at 3 x alpha
    almost never."""
    from scipy.stats import binom

    families = {
        "gauss2": lambda r, n: r.standard_normal((n, 2)),
        "gauss8": lambda r, n: r.standard_normal((n, 8)),
        "gauss64": lambda r, n: r.standard_normal((n, 64)),
        "gauss384": lambda r, n: r.standard_normal((n, 384)),
        "decay64": lambda r, n: r.standard_normal((n, 64)) / np.arange(1, 65),
        "decay384": lambda r, n: r.standard_normal((n, 384)) / np.arange(1, 385),
        "cube2": lambda r, n: r.random((n, 2)),
        "cube8": lambda r, n: r.random((n, 8)),
    }
    hits = {0: 0, 1: 0, 2: 0}
    totals = {0: 0, 1: 0, 2: 0}
    for i, make in enumerate(families.values()):
        rng = np.random.default_rng(100 + i)
        for n, count, maxdim, dims in ((100, 30, 1, (0, 1)), (60, 20, 2, (2,))):
            for _ in range(count):
                res = ti.significance(make(rng, n), maxdim=maxdim)
                for k in dims:
                    hits[k] += res.n_significant[k] > 0
                    totals[k] += 1
    for k in (0, 1, 2):
        assert hits[k] <= binom.ppf(0.999, totals[k], 0.05), (k, hits[k], totals[k])
