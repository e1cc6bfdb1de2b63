"""Point cloud -> diagram: ground-truth topology, isometry invariance, views, validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tda_interp.diagrams import Certificate, Diagram
from tda_interp.exceptions import ActivationError, ConfigError, TdaInterpWarning
from tda_interp.execution import RipsTask, WarningLog, run_task
from tda_interp.homology import (
    apply_view,
    available_backends,
    check_cloud,
    distance_matrix,
    expand_views,
    parse_view,
    resolve_backend,
    vietoris_rips,
)
from tda_interp.options import RipsOptions

Cloud = NDArray[np.float64]
HAS_GPH = "giotto-ph" in available_backends()


def in_a_run(X: Cloud, view: str, place: str, **rips: Any) -> Diagram:
    """Compute ``X`` as a run with ``on_error="raise"`` does: as a task that knows its place
    (errors start with it), its warnings re-emitted once per kind, naming the place."""
    out = run_task(RipsTask(X, view, RipsOptions(**rips), place=place))
    log = WarningLog()
    log.add(out.warnings, place)
    log.emit()
    if out.failure is not None:
        raise out.failure
    assert out.diagram is not None
    return out.diagram


def assert_same_diagram(a: Diagram, b: Diagram, atol: float) -> None:
    """Equal bar multisets up to ``atol``; bars shorter than ``atol`` are ignored (ties)."""
    assert a.maxdim == b.maxdim
    for k in range(a.maxdim + 1):
        assert a.n_infinite(k) == b.n_infinite(k)
        fa, fb = a.finite(k), b.finite(k)
        fa = fa[fa[:, 1] - fa[:, 0] > atol]
        fb = fb[fb[:, 1] - fb[:, 0] > atol]
        assert len(fa) == len(fb), f"H{k}: {len(fa)} vs {len(fb)} bars"
        for col in (0, 1):
            np.testing.assert_allclose(np.sort(fa[:, col]), np.sort(fb[:, col]), atol=atol)
        np.testing.assert_allclose(
            np.sort(fa[:, 1] - fa[:, 0]), np.sort(fb[:, 1] - fb[:, 0]), atol=2 * atol
        )


# ---------------------------------------------------------------------- ground truth
@pytest.mark.parametrize("fixture", ["circle", "noisy_circle"])
def test_circle_has_one_long_h1_bar(fixture: str, request: pytest.FixtureRequest) -> None:
    X = request.getfixturevalue(fixture)
    d = vietoris_rips(X, backend="ripser")
    rel = d.lifetimes(1, relative=True)
    assert rel[0] > 0.5
    assert (rel[1:] < 0.1).all()
    assert d.scale == pytest.approx(2.0, abs=0.3)
    # H0: one bar per point, exactly one of them infinite
    assert len(d[0]) == len(X)
    assert d.n_infinite(0) == 1
    assert d.n_infinite(1) == 0


def test_two_blobs_have_one_long_finite_h0_bar(two_blobs: Cloud) -> None:
    d = vietoris_rips(two_blobs, maxdim=0, backend="ripser")
    assert d.maxdim == 0
    assert d.n_infinite(0) == 1
    rel = d.lifetimes(0, relative=True)
    assert len(rel) == len(two_blobs) - 1
    assert rel[0] > 0.8
    assert (rel[1:] < 0.1).all()


def test_gaussian_noise_has_no_long_bars(gaussian: Cloud) -> None:
    d = vietoris_rips(gaussian, backend="ripser")
    assert (d.lifetimes(0, relative=True) < 0.5).all()
    assert (d.lifetimes(1, relative=True) < 0.25).all()


def test_sphere_has_one_long_h2_bar(sphere: Cloud) -> None:
    d = vietoris_rips(sphere, maxdim=2, backend="ripser")
    rel = d.lifetimes(2, relative=True)
    assert rel[0] > 0.2
    assert (rel[1:] < 0.05).all()
    assert d.n_infinite(2) == 0


def test_provenance_records_how_it_was_computed(noisy_circle: Cloud) -> None:
    d = vietoris_rips(noisy_circle, backend="ripser", view="centered")
    p = d.provenance
    assert p is not None
    assert p.view == "centered"
    assert p.metric == "euclidean"
    assert p.backend == "ripser"
    assert p.n_points_total == len(noisy_circle)
    assert p.subsampled is False
    assert d.n_points == len(noisy_circle)
    assert d.scale == pytest.approx(distance_matrix(noisy_circle).max())


def test_provenance_of_an_exact_diagram_hand_checked(noisy_circle: Cloud) -> None:
    # 60 points <= 1000: the default "subsample:1000" keeps every point, exactly
    d = vietoris_rips(noisy_circle, backend="ripser", seed=5, coeff=3)
    p = d.provenance
    assert p is not None
    assert (p.coeff, p.seed, p.approximation) == (3, 5, "subsample:1000")
    assert p.approximate is False
    c = p.certificate
    assert (c.kind, c.bound, c.bound_rel) == ("exact", 0.0, 0.0)
    # fields of landmarks and truncation do not apply: None (0.1 wrote covering_radius=0.0)
    assert c.n_landmarks is None and c.covering_radius is None and c.covering_bound is None
    assert c.interleaving_bound is None and c.truncated_at is None and c.n_truncated is None
    assert p.pca_residual_bound is None and p.pca_residual_bound_rel is None
    assert p.cost_estimate is not None and p.cost_estimate.detail["n_points"] == 60
    assert p.cost_estimate_exact is None  # nothing was avoided
    # the view's name comes from the view
    pca = vietoris_rips(noisy_circle, view="pca2").provenance
    assert pca is not None and pca.view == "pca2"


def test_default_approximation_subsamples_above_1000_points() -> None:
    X = np.random.default_rng(9).normal(size=(1200, 2))
    d = vietoris_rips(X, maxdim=0, backend="ripser", seed=2)
    p = d.provenance
    assert p is not None
    assert d.n_points == 1000 and len(d[0]) == 1000
    assert (p.n_points_total, p.subsampled, p.approximation) == (1200, True, "subsample:1000")
    assert p.approximate is True
    # a uniform subsample has no certified bound
    assert p.certificate == Certificate(
        kind="exact", bound=None, bound_rel=None, convention=p.certificate.convention
    )
    # the subsample is the one uniform_subsample draws with the same seed
    keep = np.sort(np.random.default_rng(2).choice(1200, size=1000, replace=False))
    assert d == vietoris_rips(X[keep], maxdim=0, backend="ripser")
    # exactly 1000 points: nothing subsampled; "auto" and "exact" keep all 1200
    at_1000 = vietoris_rips(X[:1000], maxdim=0).provenance
    assert at_1000 is not None and at_1000.subsampled is False
    for approximation in ("auto", "exact"):
        full = vietoris_rips(X, maxdim=0, backend="ripser", approximation=approximation)
        assert full.provenance is not None and full.provenance.approximate is False
        assert full.n_points == 1200
        assert full.scale == pytest.approx(distance_matrix(X).max())


def test_maxdim_out_of_range_is_config_error(gaussian: Cloud) -> None:
    # 0.1 raised ActivationError for maxdim=-1: a bad option is a ConfigError now
    for bad in (-1, 4, 1.0, True):
        with pytest.raises(ConfigError, match=r"maxdim to be an int in \[0, 3\]") as info:
            vietoris_rips(gaussian, maxdim=bad)
        assert info.value.key == "maxdim"


def test_unknown_option_is_config_error_with_a_suggestion(gaussian: Cloud) -> None:
    with pytest.raises(ConfigError, match=r"'maxdm' \(did you mean 'maxdim'\?\)"):
        vietoris_rips(gaussian, maxdm=2)


# ---------------------------------------------------------------------- invariances
@pytest.mark.parametrize("fixture", ["noisy_circle", "gaussian", "torus"])
def test_orthogonal_map_and_translation_leave_diagram_unchanged(
    fixture: str,
    request: pytest.FixtureRequest,
    random_orthogonal: Callable[[int, int], Cloud],
) -> None:
    X = request.getfixturevalue(fixture)
    Q = random_orthogonal(X.shape[1], 7)
    base = vietoris_rips(X, backend="ripser")
    moved = vietoris_rips(X @ Q.T + np.linspace(-3.0, 5.0, X.shape[1]), backend="ripser")
    assert_same_diagram(base, moved, atol=1e-6 * base.scale)
    assert moved.scale == pytest.approx(base.scale, rel=1e-12)


def test_torch_linear_with_orthogonal_weight_is_an_isometry(noisy_circle: Cloud) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(2, 2, dtype=torch.float64)
    torch.nn.init.orthogonal_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    with torch.no_grad():
        Y = layer(torch.from_numpy(noisy_circle)).numpy()
    assert not np.allclose(Y, noisy_circle)  # the map does move the points
    assert_same_diagram(
        vietoris_rips(noisy_circle, backend="ripser"),
        vietoris_rips(Y, backend="ripser"),
        atol=1e-6,
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.floats(-100, 100))
def test_isometry_invariance_random_clouds(seed: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(15, 3))
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    Y = X @ (q * np.sign(np.diag(r))).T + shift
    a, b = vietoris_rips(X, backend="ripser"), vietoris_rips(Y, backend="ripser")
    assert_same_diagram(a, b, atol=1e-6 * a.scale)
    # H0 always has one bar per point, exactly one infinite
    assert len(a[0]) == 15
    assert a.n_infinite(0) == 1


@pytest.mark.parametrize("c", [0.01, 3.0, 250.0])
def test_scaling_scales_absolute_lifetimes_only(c: float, noisy_circle: Cloud) -> None:
    # ripser.py computes in float32, hence rtol 1e-6
    a = vietoris_rips(noisy_circle, backend="ripser")
    b = vietoris_rips(c * noisy_circle, backend="ripser")
    assert b.scale == pytest.approx(c * a.scale)
    for k in (0, 1):
        np.testing.assert_allclose(b.lifetimes(k), c * a.lifetimes(k), rtol=1e-6, atol=0)
        np.testing.assert_allclose(
            b.lifetimes(k, relative=True), a.lifetimes(k, relative=True), rtol=1e-6, atol=1e-7
        )


# ---------------------------------------------------------------------- backends
@pytest.mark.skipif(not HAS_GPH, reason="giotto-ph is not installed")
@pytest.mark.parametrize("fixture", ["noisy_circle", "gaussian", "two_blobs"])
def test_ripser_and_giotto_ph_agree(fixture: str, request: pytest.FixtureRequest) -> None:
    X = request.getfixturevalue(fixture)
    a = vietoris_rips(X, backend="ripser")
    b = vietoris_rips(X, backend="giotto-ph")
    assert b.provenance is not None and b.provenance.backend == "giotto-ph"
    assert b[0].dtype == np.float64
    assert_same_diagram(a, b, atol=1e-5 * a.scale)


def test_auto_backend_is_an_installed_one(gaussian: Cloud) -> None:
    assert resolve_backend("auto") in available_backends()
    d = vietoris_rips(gaussian)
    assert d.provenance is not None and d.provenance.backend == available_backends()[0]


def test_unknown_backend_is_config_error(gaussian: Cloud) -> None:
    with pytest.raises(ConfigError, match="ripser"):
        vietoris_rips(gaussian, backend="dionysus")


# ---------------------------------------------------------------------- distances
def test_distance_matrix_hand_computed_3_4_5() -> None:
    D = distance_matrix([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    np.testing.assert_array_equal(D, [[0, 3, 4], [3, 0, 5], [4, 5, 0]])


def test_distance_matrix_float64_symmetric_zero_diagonal() -> None:
    X = np.random.default_rng(0).normal(size=(25, 7)).astype(np.float32)
    for metric in ("euclidean", "cosine", "correlation"):
        D = distance_matrix(X, metric=metric)
        assert D.dtype == np.float64
        assert D.shape == (25, 25)
        assert np.array_equal(D, D.T)
        assert np.all(np.diag(D) == 0.0)
        assert np.isfinite(D).all()
        assert (D >= 0).all()


def test_cosine_distance_hand_computed() -> None:
    D = distance_matrix([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]], metric="cosine")
    np.testing.assert_allclose(D, [[0, 1, 2], [1, 0, 1], [2, 1, 0]], atol=1e-12)


def test_cosine_distance_of_zero_rows_follows_docstring() -> None:
    # docstring: undefined distances are 0 against identical rows and 1 otherwise
    D = distance_matrix([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]], metric="cosine")
    assert not np.isnan(D).any()
    assert D[0, 2] == 1.0
    assert D[0, 1] == 0.0


def test_precomputed_distances_give_the_diagram_of_the_points(noisy_circle: Cloud) -> None:
    D = distance_matrix(noisy_circle)
    points = vietoris_rips(noisy_circle, backend="ripser")
    matrix = vietoris_rips(D, metric="precomputed", backend="ripser")
    assert matrix == points
    assert matrix.provenance is not None and matrix.provenance.metric == "precomputed"
    assert matrix.provenance.n_points_total == len(noisy_circle)
    # a subsample takes the same rows and columns as it takes points
    sub = vietoris_rips(D, metric="precomputed", approximation="subsample:25", seed=1)
    assert sub == vietoris_rips(noisy_circle, approximation="subsample:25", seed=1)
    assert sub.n_points == 25


def test_precomputed_hand_computed_and_refusals() -> None:
    # distances 1, 1.5, 2 between 3 points: H0 merges at 1 and 1.5; diameter 2
    D = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
    d = vietoris_rips(D, metric="precomputed", maxdim=0)
    assert d[0].tolist() == [[0.0, 1.0], [0.0, 1.5], [0.0, np.inf]]
    assert (d.scale, d.n_points) == (2.0, 3)
    with pytest.raises(ConfigError, match="needs points"):
        vietoris_rips(D, metric="precomputed", view="pca2")
    with pytest.raises(ConfigError, match="needs points"):
        vietoris_rips(D, metric="precomputed", approximation="landmarks:2")
    with pytest.raises(ActivationError, match="square distance matrix"):
        vietoris_rips(np.zeros((4, 3)), metric="precomputed")


# ---------------------------------------------------------------------- views
def test_parse_view_forms() -> None:
    assert parse_view("raw").kind == "raw"
    assert parse_view(" Centered ").kind == "centered"
    assert parse_view("pca3").components == (0, 1, 2)
    assert parse_view("pc3-4").components == (2, 3)


@pytest.mark.parametrize("bad", ["umap", "pca0", "pc1-1", "pc0-2", "pc_pairs2", ""])
def test_unknown_view_is_config_error_listing_valid_forms(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_view(bad)
    assert repr(bad) in str(info.value) or bad in ("pca0", "pc1-1", "pc0-2")
    if bad in ("umap", "pc_pairs2", ""):
        for form in ("'raw'", "'centered'", "pca<k>", "pc<i>-<j>", "pc_pairs<m>"):
            assert form in str(info.value)


def test_expand_views() -> None:
    assert expand_views(["pc_pairs3"]) == ["pc1-2", "pc3-4", "pc5-6"]
    assert expand_views("pc_pairs1") == ["pc1-2"]
    assert expand_views(["raw", "pc1-2", "pc_pairs2", "RAW"]) == ["raw", "pc1-2", "pc3-4"]
    with pytest.raises(ConfigError, match="at least one view"):
        expand_views([])
    with pytest.raises(ConfigError, match="Unknown view"):
        expand_views(["raw", "tsne"])


def test_pc_view_recovers_circle_hidden_in_high_dimensions(
    circle: Cloud, random_orthogonal: Callable[[int, int], Cloud]
) -> None:
    Q = random_orthogonal(50, 11)
    rng = np.random.default_rng(12)
    X = circle @ Q[:2] + 3.0 + rng.normal(scale=0.01, size=(len(circle), 50))
    viewed = apply_view(X, "pc1-2")
    assert viewed.shape == (60, 2)
    # the plane of the first two components is the circle's plane: same distances
    np.testing.assert_allclose(distance_matrix(viewed), distance_matrix(circle), atol=0.05)
    d = vietoris_rips(X, view="pc1-2", backend="ripser")
    rel = d.lifetimes(1, relative=True)
    assert rel[0] > 0.5
    assert (rel[1:] < 0.1).all()
    assert d.provenance is not None and d.provenance.view == "pc1-2"
    # the higher components are noise only
    noise = vietoris_rips(X, view="pc3-4", backend="ripser")
    assert noise.scale < 0.2


def test_views_are_deterministic_and_centred(gaussian: Cloud) -> None:
    a = apply_view(gaussian, "pca2")
    b = apply_view(gaussian[:, :], "pca2")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(apply_view(gaussian, "centered").mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(apply_view(gaussian, "raw"), gaussian)
    # variances decrease along the components
    assert a[:, 0].var() >= a[:, 1].var()


def test_pca_beyond_rank_raises_naming_the_view() -> None:
    X = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(ActivationError, match="'pca4'"):
        apply_view(X, "pca4")
    with pytest.raises(ActivationError, match="'pc3-6'"):
        vietoris_rips(X, view="pc3-6")
    # a run names the layer and checkpoint once, in front of the message
    place = "checkpoint 'step_3' layer 'blocks.0.mlp' view 'pc3-6'"
    with pytest.raises(ActivationError, match="'pc3-6'") as info:
        in_a_run(X, "pc3-6", place)
    assert str(info.value).startswith(place + ": ")
    assert "blocks.0.mlp" in str(info.value)
    assert "step_3" in str(info.value)


# ---------------------------------------------------------------------- validation
def test_nan_input_names_layer_and_checkpoint(gaussian: Cloud) -> None:
    X = gaussian.copy()
    X[3, 1] = np.nan
    with pytest.raises(ActivationError, match="NaN") as info:
        vietoris_rips(X)
    assert 'nonfinite="drop"' in str(info.value)
    with pytest.raises(ActivationError, match="NaN") as info:
        in_a_run(X, "raw", "checkpoint 'step_0900' layer 'blocks.2.mlp' view 'raw'")
    msg = str(info.value)
    assert "blocks.2.mlp" in msg
    assert "step_0900" in msg
    assert 'nonfinite="drop"' in msg


def test_inf_input_is_rejected(gaussian: Cloud) -> None:
    X = gaussian.copy()
    X[0, 0] = np.inf
    with pytest.raises(ActivationError, match="row 0"):
        check_cloud(X)


def test_drop_nonfinite_warns_and_drops(gaussian: Cloud) -> None:
    X = gaussian.copy()
    X[[2, 5], 0] = [np.nan, -np.inf]
    with pytest.warns(TdaInterpWarning, match="Dropped 2 of 40"):
        d = vietoris_rips(X, nonfinite="drop", backend="ripser")
    assert d.n_points == 38
    assert d.provenance is not None and d.provenance.n_points_total == 38
    assert d == vietoris_rips(np.delete(gaussian, [2, 5], axis=0), backend="ripser")
    # in a run, the warning names the layer
    with pytest.warns(TdaInterpWarning, match="Dropped 2 of 40") as record:
        ran = in_a_run(
            X, "raw", "checkpoint 'c' layer 'fc1' view 'raw'", nonfinite="drop", backend="ripser"
        )
    assert "fc1" in str(record[0].message)
    assert ran == d


def test_check_cloud_returns_float64(gaussian: Cloud) -> None:
    out = check_cloud(gaussian.astype(np.float32).tolist())
    assert out.dtype == np.float64
    assert out.shape == gaussian.shape


@pytest.mark.parametrize("X", [np.zeros((1, 3)), np.zeros((0, 3))])
def test_fewer_than_two_points(X: Cloud) -> None:
    with pytest.raises(ActivationError, match="at least 2 points"):
        vietoris_rips(X)


def test_too_few_points_after_dropping() -> None:
    X = np.array([[0.0, 1.0], [np.nan, 1.0]])
    with (
        pytest.warns(TdaInterpWarning),
        pytest.raises(ActivationError, match="at least 2 points"),
    ):
        vietoris_rips(X, nonfinite="drop")


@pytest.mark.parametrize("shape", [(4, 3, 2), (5,)])
def test_wrong_ndim_is_rejected(shape: tuple[int, ...]) -> None:
    with pytest.raises(ActivationError, match=r"\(n_points, n_features\)") as info:
        vietoris_rips(np.zeros(shape))
    assert str(shape) in str(info.value)
    with pytest.raises(ActivationError, match=r"\(n_points, n_features\)") as info:
        in_a_run(np.zeros(shape), "raw", "checkpoint 'c' layer 'blocks.1' view 'raw'")
    assert str(shape) in str(info.value)
    assert "blocks.1" in str(info.value)


def test_max_points_subsampling_is_seeded_and_recorded(gaussian: Cloud) -> None:
    a = vietoris_rips(gaussian, approximation="subsample:20", seed=3, backend="ripser")
    b = vietoris_rips(gaussian, approximation="subsample:20", seed=3, backend="ripser")
    c = vietoris_rips(gaussian, approximation="subsample:20", seed=4, backend="ripser")
    assert a.n_points == 20
    assert len(a[0]) == 20
    assert a.provenance is not None
    assert a.provenance.subsampled is True
    assert a.provenance.n_points_total == 40
    assert a.provenance.seed == 3
    assert a.provenance.approximation == "subsample:20"
    assert a == b
    assert a != c
    full = vietoris_rips(gaussian, approximation="subsample:40", backend="ripser")
    assert full.provenance is not None
    assert full.provenance.subsampled is False
    assert full.n_points == 40


def test_subsample_is_a_subset_of_the_cloud(gaussian: Cloud) -> None:
    # the scale of a subsample never exceeds the diameter of the whole cloud
    d = vietoris_rips(gaussian, approximation="subsample:10", seed=0, maxdim=0, backend="ripser")
    assert d.scale <= distance_matrix(gaussian).max() + 1e-12
