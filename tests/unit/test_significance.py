"""Significance of bars: Monte Carlo core, matched Gaussian null, known answers, bad input.

Ground truths used here:

* the matched Gaussian null is an *exact* conditional Monte Carlo test, so on Gaussian data the
  p-value of the longest H1 bar is uniform on {1/20, ..., 20/20} (19 null clouds): checked on
  200 independent Gaussian clouds (test_false_positive_rate_on_gaussian_clouds);
* a noisy circle has one loop, a flat torus two loops and one void, a sphere one void and no
  loop (each checked for exactly that many significant bars).

The default ``"universal"`` method is tested in tests/unit/test_universal.py and on shapes in
tests/integration/test_significance_truth.py; here ``method="gaussian"`` is named each time.
"""

from __future__ import annotations

import math
import warnings

import gudhi
import numpy as np
import pytest
from scipy.stats import binom

from tda_interp.exceptions import ActivationError, ConfigError, TdaInterpWarning
from tda_interp.homology import vietoris_rips
from tda_interp.homology.significance import (
    FRAME_COLUMNS,
    MIN_REL_LIFETIME,
    SPARSE_NULL,
    SignificanceResult,
    matched_gaussian_clouds,
    monte_carlo_p_values,
    monte_carlo_threshold,
    significance,
)
from tda_interp.options import RipsOptions, SignificanceOptions

# ---------------------------------------------------------------------- fixtures


def _orthonormal_rows(k: int, d: int, seed: int) -> np.ndarray:
    """``k`` orthonormal vectors of R^d (a random k-plane), as rows."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, k)))
    return (q * np.sign(np.diag(r))).T


def _circle_in(d: int, n: int = 80, *, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Unit circle in a random plane of R^d, uniform angles, isotropic Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, 2.0 * np.pi, n)
    plane = _orthonormal_rows(2, d, seed + 1)
    return np.c_[np.cos(t), np.sin(t)] @ plane + rng.normal(scale=noise, size=(n, d))


def _flat_torus(m: int = 14, *, jitter: float = 0.01, seed: int = 0) -> np.ndarray:
    """Flat torus (cos a, sin a, cos b, sin b) in R^4 on an m x m angle grid, jittered.

    A grid rather than uniform angles: 200-400 uniformly random points leave holes whose H1 bars
    (up to 0.26 of the diameter, measured) are longer than Gaussian noise makes, and would be
    rightly called significant. The jitter breaks the grid's exact ties.
    """
    grid = np.arange(m) * 2 * np.pi / m
    a, b = (g.ravel() for g in np.meshgrid(grid, grid))
    pts = np.c_[np.cos(a), np.sin(a), np.cos(b), np.sin(b)]
    return pts + np.random.default_rng(seed).normal(scale=jitter, size=pts.shape)


def _fibonacci_sphere(n: int = 200) -> np.ndarray:
    """n nearly evenly spread points on the unit sphere S^2 (Fibonacci lattice).

    Evenly spread on purpose: 200 uniformly random points on S^2 leave holes whose H1 bars
    (about 0.2 of the diameter, measured) are longer than a 3-d Gaussian cloud's, and the
    Gaussian test rightly calls them significant.
    """
    i = np.arange(n) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / n)
    theta = np.pi * (1.0 + math.sqrt(5.0)) * i
    return np.c_[np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)]


# ---------------------------------------------------------------------- Monte Carlo core


def test_monte_carlo_p_values_hand_computed() -> None:
    null = [0.1, 0.2, 0.3, 0.3]
    p = monte_carlo_p_values([0.5, 0.3, 0.25, 0.0, np.inf], null)
    # (1 + #{null >= obs}) / 5; ties count against the observation; inf is not tested
    np.testing.assert_array_equal(p[:4], [1 / 5, 3 / 5, 3 / 5, 1.0])
    assert np.isnan(p[4])


@pytest.mark.parametrize("n_null", [1, 9, 19, 39, 99])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.5])
def test_threshold_agrees_with_p_values(n_null: int, alpha: float) -> None:
    rng = np.random.default_rng(n_null)
    null = rng.uniform(size=n_null)
    observed = np.r_[rng.uniform(size=200), null]  # null values themselves: the ties
    calls = monte_carlo_p_values(observed, null) <= alpha
    np.testing.assert_array_equal(calls, observed > monte_carlo_threshold(null, alpha))


def test_threshold_hand_computed() -> None:
    assert monte_carlo_threshold(np.arange(19.0), 0.05) == 18.0  # only above the maximum
    assert monte_carlo_threshold(np.arange(39.0), 0.05) == 37.0  # above the 2nd largest
    assert monte_carlo_threshold(np.arange(9.0), 0.05) == math.inf


# ---------------------------------------------------------------------- the null clouds


@pytest.mark.parametrize(("n", "d", "rank"), [(30, 5, 5), (20, 64, 19), (40, 10, 2)])
def test_matched_gaussian_clouds_match_mean_and_covariance(n: int, d: int, rank: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + rng.normal(size=d)
    clouds = matched_gaussian_clouds(X, 3, seed=1)
    assert len(clouds) == 3
    for Y in clouds:
        assert Y.shape == X.shape
        np.testing.assert_allclose(Y.mean(axis=0), X.mean(axis=0), atol=1e-10)
        np.testing.assert_allclose(np.cov(Y.T), np.cov(X.T), atol=1e-10)
        assert np.linalg.matrix_rank(Y - Y.mean(axis=0)) == min(rank, n - 1)
    assert not np.allclose(clouds[0], clouds[1])
    again = matched_gaussian_clouds(X, 3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(clouds, again, strict=True))


# ---------------------------------------------------------------------- false positives


def _family_p_value(res: SignificanceResult, dim: int) -> float:
    """p-value of the longest bar of ``dim`` (1.0 when there is none)."""
    p = res.p_values[dim]
    return float(np.nanmin(p)) if np.isfinite(p).any() else 1.0


@pytest.mark.slow
def test_false_positive_rate_on_gaussian_clouds() -> None:
    """At most 5% of Gaussian clouds get ANY significant H1 bar (alpha=0.05, 19 null clouds).

    Why this check is sound. The null clouds are drawn from the exact conditional law of a
    Gaussian sample given its mean and covariance, so under a Gaussian null the data and the 19
    null clouds are exchangeable and the p-value of the *longest* H1 bar (the family p-value:
    some H1 bar is significant exactly when the longest is) is uniform on {1/20, ..., 20/20}:
    P(p <= 0.05) = 0.05 and P(p <= 0.5) = 0.5 exactly, whatever the covariance, dimension and n.

    200 independent runs (4 dimensions x isotropic/anisotropic covariance x 25 seeds, each
    with its own data seed and null seed) make each count Binomial(200, q). A single run at
    alpha=0.05 could not tell 5% from 15%; a count can:

    * false positives (p <= 0.05): must be <= the 99.9% quantile of Binomial(200, 0.05), 21.
      A valid test fails this with probability < 0.1%; a test with a true rate of 15% passes
      with probability < 1e-6 (e.g. per-bar instead of family-wise p-values, or a null that
      ignores the view).
    * calibration (p <= 0.5): must lie within the 0.05% and 99.95% quantiles of
      Binomial(200, 0.5), [77, 123]: checks that the test is exact, not merely conservative,
      so the check above is not passed by a test that never rejects.

    Seeds are fixed, so the outcome is deterministic; the bounds say how unlikely it was to
    fail by chance with another set of seeds.
    """
    alpha, n_null, n_points, seeds = 0.05, 19, 40, 25
    p_values: dict[str, list[float]] = {}
    for d in (2, 16, 64, 384):
        for shape in ("isotropic", "anisotropic"):
            # anisotropic: power-law spectrum sd_k = 1/k, as in activation spectra
            sd = np.ones(d) if shape == "isotropic" else 1.0 / np.arange(1.0, d + 1.0)
            mix = _orthonormal_rows(d, d, d)  # rotate so the axes are not the coordinates
            key = f"{d}-d {shape}"
            p_values[key] = []
            for run in range(seeds):
                rng = np.random.default_rng([d, shape == "anisotropic", run])
                X = (rng.normal(size=(n_points, d)) * sd) @ mix + 3.0
                res = significance(
                    X, method="gaussian", alpha=alpha, n_null=n_null, seed=1000 + run
                )
                p_values[key].append(_family_p_value(res, 1))
    all_p = np.concatenate(list(p_values.values()))
    n_runs = len(all_p)
    hits = int((all_p <= alpha).sum())
    per_setting = {k: int((np.asarray(v) <= alpha).sum()) for k, v in p_values.items()}
    bound = int(binom.ppf(0.999, n_runs, alpha))
    assert hits <= bound, f"{hits}/{n_runs} Gaussian clouds had a significant H1 bar: {per_setting}"
    half = int((all_p <= 0.5).sum())
    low, high = binom.ppf(0.0005, n_runs, 0.5), binom.ppf(0.9995, n_runs, 0.5)
    assert low <= half <= high, f"{half}/{n_runs} family p-values <= 0.5, expected about half"


# ---------------------------------------------------------------------- known answers


@pytest.mark.parametrize("seed", [0, 1])
def test_circle_in_64_dims_has_exactly_one_significant_loop(seed: int) -> None:
    X = _circle_in(64, seed=seed)
    res = significance(X, method="gaussian", n_null=19, maxdim=1, seed=seed)
    assert res.n_significant[1] == 1
    (sig,) = np.flatnonzero(res.significant[1])
    life = res.diagram[1][:, 1] - res.diagram[1][:, 0]
    assert sig == np.argmax(life)  # the call is on the long bar, aligned with diagram.pairs
    assert res.p_values[1][sig] == pytest.approx(1 / 20)
    assert life[sig] / res.diagram.scale > res.thresholds[1]
    assert res.n_significant[0] == 0  # one cluster


@pytest.mark.slow
def test_flat_torus_has_two_significant_loops_and_one_void() -> None:
    res = significance(_flat_torus(14), method="gaussian", n_null=19, maxdim=2)
    assert res.n_significant[1:] == (2, 1)


@pytest.mark.slow
def test_sphere_has_one_significant_void_and_no_loop() -> None:
    res = significance(_fibonacci_sphere(200), method="gaussian", n_null=19, maxdim=2)
    assert res.n_significant[1:] == (0, 1)


@pytest.mark.parametrize("n", [30, 60, 100])
def test_a_sparse_null_needs_the_absolute_criterion(n: int) -> None:
    """A planar circle's H2 specks beat Gaussian null clouds that mostly have no H2 bar; they
    are not features (issue 10: 20 such calls before the criterion)."""
    res = significance(_circle_in(2, n=n, seed=1), method="gaussian", n_null=19, maxdim=2)
    assert res.n_significant[1:] == (1, 0)
    assert (res.null_statistics[2] > 0).mean() < SPARSE_NULL
    assert res.thresholds[2] >= MIN_REL_LIFETIME


def test_two_clusters_give_one_significant_finite_h0_bar(two_blobs: np.ndarray) -> None:
    res = significance(two_blobs, method="gaussian", n_null=19, maxdim=0)
    assert res.n_significant == (1,)
    inf = np.isinf(res.diagram[0][:, 1])
    assert inf.sum() == 1
    assert np.isnan(res.p_values[0][inf]).all()  # the essential bar is never tested
    assert not res.significant[0][inf].any()


def test_subsample_method_finds_the_circle() -> None:
    """Fasy et al. band, bottleneck variant: the circle's bar is longer than 2 c."""
    X = _circle_in(2, n=100, seed=3)
    res = significance(X, method="subsample", n_null=19, seed=0)
    assert res.method == "subsample"
    assert res.options.subsample_size == 50  # resolved: half the cloud
    assert res.n_significant[1] == 1
    rel = res.to_frame().query("dim == 1")
    np.testing.assert_array_equal(rel["significant"], rel["rel_lifetime"] > res.thresholds[1])


def test_subsample_null_statistics_are_twice_the_bottleneck_distance() -> None:
    X = _circle_in(2, n=40, seed=4)
    res = significance(X, method="subsample", n_null=3, alpha=0.5, subsample_size=30, seed=7)
    idx = np.sort(np.random.default_rng(7).choice(40, size=30, replace=False))
    sub = vietoris_rips(X[idx], maxdim=1)
    for k in (0, 1):
        d_b = gudhi.bottleneck_distance(res.diagram.finite(k), sub.finite(k))
        assert res.null_statistics[k][0] == pytest.approx(2 * d_b / res.diagram.scale)


# ---------------------------------------------------------------------- API behaviour


def test_deterministic_by_seed_and_reuses_a_given_diagram() -> None:
    X = _circle_in(16, n=50, seed=5)
    a = significance(X, method="gaussian", seed=3)
    b = significance(X, seed=3, method="gaussian", diagram=vietoris_rips(X, maxdim=1))
    c = significance(X, method="gaussian", seed=4)
    for k in (0, 1):
        np.testing.assert_array_equal(a.null_statistics[k], b.null_statistics[k])
        np.testing.assert_array_equal(a.p_values[k], b.p_values[k])
    assert not np.array_equal(a.null_statistics[1], c.null_statistics[1])


def test_null_goes_through_the_same_view() -> None:
    X = _circle_in(32, n=50, seed=6)
    res = significance(X, method="gaussian", view="pc1-2", n_null=4, alpha=0.5, seed=0)
    assert res.diagram.provenance is not None
    assert res.diagram.provenance.view == "pc1-2"
    for k, cloud in enumerate(matched_gaussian_clouds(X, 4, seed=0)):
        dgm = vietoris_rips(cloud, maxdim=1, view="pc1-2")
        life = dgm.lifetimes(1, relative=True)
        assert res.null_statistics[1][k] == pytest.approx(life[0] if life.size else 0.0)


def test_to_frame_columns_and_alignment() -> None:
    res = significance(_circle_in(3, n=40, seed=7), method="gaussian", n_null=19)
    df = res.to_frame()
    assert tuple(df.columns) == FRAME_COLUMNS
    assert len(df) == sum(len(p) for p in res.diagram.pairs)
    assert df["dim"].dtype == np.int64 and df["significant"].dtype == bool
    for k in (0, 1):
        part = df[df["dim"] == k]
        np.testing.assert_array_equal(part[["birth", "death"]].to_numpy(), res.diagram[k])
        np.testing.assert_array_equal(part["p_value"].to_numpy(), res.p_values[k])
        np.testing.assert_array_equal(part["significant"].to_numpy(), res.significant[k])
    essential = df[np.isinf(df["death"])]
    assert len(essential) == 1 and np.isinf(essential["rel_lifetime"]).all()
    assert essential["p_value"].isna().all() and not essential["significant"].any()
    assert "H1: 1" in repr(res)


def test_result_records_its_options() -> None:
    X = _circle_in(3, n=40, seed=8)
    res = significance(
        X, method="gaussian", n_null=4, alpha=0.5, seed=2, maxdim=1, backend="ripser"
    )
    assert res.options == SignificanceOptions(method="gaussian", n_null=4, alpha=0.5)
    assert (res.method, res.alpha, res.maxdim, res.seed) == ("gaussian", 0.5, 1, 2)
    assert res.n_significant == tuple(int(s.sum()) for s in res.significant)
    assert all(len(n) == 4 for n in res.null_statistics)
    # options objects and keyword overrides are the same call
    same = significance(
        X,
        SignificanceOptions(method="gaussian", n_null=4, alpha=0.5),
        rips=RipsOptions(maxdim=1, seed=2, backend="ripser"),
    )
    assert same.options == res.options and same.diagram == res.diagram
    for k in (0, 1):
        np.testing.assert_array_equal(same.null_statistics[k], res.null_statistics[k])
        np.testing.assert_array_equal(same.p_values[k], res.p_values[k])
    # "subsample" resolves its size; "gaussian" keeps None
    sub = significance(X, method="subsample", n_null=3, alpha=0.5)
    assert sub.options == SignificanceOptions(
        method="subsample", n_null=3, alpha=0.5, subsample_size=20
    )
    assert res.options.subsample_size is None
    with pytest.raises(ConfigError, match=r"'n_nul' \(did you mean 'n_null'\?\)"):
        significance(X, n_nul=4)


def test_null_clouds_use_the_same_approximation() -> None:
    X = _circle_in(8, n=60, seed=9)
    res = significance(
        X, method="gaussian", n_null=3, alpha=0.5, seed=0, approximation="landmarks:25"
    )
    assert res.diagram.n_points == 25
    assert res.diagram.provenance is not None
    assert res.diagram.provenance.approximation == "landmarks:25"
    for k, cloud in enumerate(matched_gaussian_clouds(X, 3, seed=0)):
        dgm = vietoris_rips(cloud, maxdim=1, approximation="landmarks:25")
        assert dgm.n_points == 25
        for dim in (0, 1):
            life = dgm.lifetimes(dim, relative=True)
            assert res.null_statistics[dim][k] == pytest.approx(life[0] if life.size else 0.0)


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval_is_refused(alpha: float) -> None:
    with pytest.raises(ConfigError, match=r"Expected alpha to be a number in \(0, 1\)") as err:
        significance(_circle_in(2, n=20), alpha=alpha)
    assert err.value.key == "alpha"
    with pytest.raises(ConfigError, match=r"Expected alpha to be a number in \(0, 1\)"):
        SignificanceOptions(alpha=alpha)


@pytest.mark.parametrize("n_null", [0, -3, 2.5, True])
def test_bad_n_null_is_refused(n_null: object) -> None:
    with pytest.raises(ConfigError, match="Expected n_null to be an int >= 1") as err:
        significance(_circle_in(2, n=20), n_null=n_null)
    assert err.value.key == "n_null"
    with pytest.raises(ConfigError, match="Expected n_null to be an int >= 1"):
        SignificanceOptions(n_null=n_null)  # type: ignore[arg-type]


def test_too_few_points_are_refused_by_the_monte_carlo_tests() -> None:
    with pytest.raises(ActivationError, match="at least 4 points"):
        significance(np.eye(3), method="gaussian")
    with pytest.warns(TdaInterpWarning, match="3 points cannot carry H1"):
        res = significance(np.eye(3))  # the universal test has nothing to call
    assert res.n_significant == (0, 0) and res.n_clusters == 1


@pytest.mark.parametrize("method", ["universal", "gaussian"])
def test_identical_points_are_refused(method: str) -> None:
    with pytest.raises(ActivationError, match=r"identical|diameter 0"):
        significance(np.ones((10, 3)), method=method)


def test_unknown_method_and_bad_subsample_size_are_refused() -> None:
    X = _circle_in(2, n=20)
    with pytest.raises(
        ConfigError, match="Expected method to be one of 'universal', 'gaussian', 'subsample'"
    ) as err:
        significance(X, method="bootstrap")
    assert err.value.key == "method"
    for size in (1, 5.5):
        with pytest.raises(ConfigError, match="Expected subsample_size to be an int >= 2"):
            significance(X, method="subsample", subsample_size=size)
    # a size the options allow, but this cloud of 20 points cannot give
    with pytest.raises(ConfigError, match=r"subsample_size to be an integer in \[2, 19\]"):
        significance(X, method="subsample", subsample_size=20)


def test_mismatched_diagram_is_refused() -> None:
    X = _circle_in(2, n=20)
    with pytest.raises(ConfigError, match="maxdim=2"):
        significance(X, maxdim=2, diagram=vietoris_rips(X, maxdim=1))
    with pytest.raises(ConfigError, match="20"):
        significance(X, diagram=vietoris_rips(X[:15], maxdim=1))
    with pytest.raises(ConfigError, match="view='pc1-2'"):
        significance(X, diagram=vietoris_rips(X, maxdim=1, view="pc1-2"))


def test_unreachable_alpha_warns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # legal options: no warning yet ...
        opts = SignificanceOptions(method="gaussian", n_null=9, alpha=0.05)
    with pytest.warns(TdaInterpWarning, match="no bar can be significant"):
        res = significance(_circle_in(2, n=20), opts)  # ... the test warns when it runs
    assert res.n_significant == (0, 0)
    assert res.thresholds == (math.inf, math.inf)
    with pytest.warns(TdaInterpWarning, match="no bar can be significant"):
        significance(_circle_in(2, n=20), method="gaussian", n_null=9, alpha=0.05)
