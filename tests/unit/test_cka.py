"""Linear CKA against naive references written here and against known answers.

The references build the ``n x n`` centred Gram matrices explicitly (biased:
``HSIC = tr(K H L H) / (n - 1)^2``) and transcribe the unbiased HSIC estimator of Song et al.
(2012) term by term on the uncentred Gram matrices; the library computes neither that way.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from tda_interp.compare import cka as cka_module
from tda_interp.compare.cka import cka_matrix, linear_cka
from tda_interp.exceptions import ActivationError, TdaInterpWarning

Array = NDArray[np.float64]


# --- references -------------------------------------------------------------------------------


def _naive_hsic(K: Array, L: Array) -> float:
    n = len(K)
    H = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(K @ H @ L @ H)) / (n - 1) ** 2


def _naive_cka(X: Array, Y: Array) -> float:
    K, L = X @ X.T, Y @ Y.T
    return _naive_hsic(K, L) / np.sqrt(_naive_hsic(K, K) * _naive_hsic(L, L))


def _hsic1(K: Array, L: Array) -> float:
    """Song et al. (2012), eq. (5): the unbiased HSIC estimator, as written."""
    n = len(K)
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0.0)
    np.fill_diagonal(Lt, 0.0)
    one = np.ones(n)
    return float(
        (
            np.trace(Kt @ Lt)
            + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)
        )
        / (n * (n - 3))
    )


def _naive_debiased_cka(X: Array, Y: Array) -> float:
    K, L = X @ X.T, Y @ Y.T  # uncentred: the estimator does not need centring
    return _hsic1(K, L) / np.sqrt(_hsic1(K, K) * _hsic1(L, L))


def _orthogonal(d: int, rng: np.random.Generator) -> Array:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _related(n: int, p: int, q: int, seed: int) -> tuple[Array, Array]:
    """Two representations of the same inputs, related but not linearly, off-centre."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + rng.normal(scale=3.0, size=p)
    Y = np.tanh(X @ rng.normal(size=(p, q)) / np.sqrt(p)) + 0.5 * rng.normal(size=(n, q))
    return X, Y


SHAPES = [(30, 5, 7), (50, 2, 1), (12, 40, 25), (9, 60, 3), (20, 20, 20), (6, 100, 80)]


# --- agreement with the references ------------------------------------------------------------


@pytest.mark.parametrize(("n", "p", "q"), SHAPES)
def test_biased_equals_naive_gram_reference(n: int, p: int, q: int) -> None:
    X, Y = _related(n, p, q, seed=n + p + q)
    assert linear_cka(X, Y) == pytest.approx(_naive_cka(X, Y), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize(("n", "p", "q"), [*SHAPES, (4, 3, 2), (5, 1, 9)])
def test_debiased_equals_unbiased_hsic_transcription(n: int, p: int, q: int) -> None:
    X, Y = _related(n, p, q, seed=n * p + q)
    assert linear_cka(X, Y, debiased=True) == pytest.approx(
        _naive_debiased_cka(X, Y), rel=1e-8, abs=1e-10
    )


@pytest.mark.parametrize("debiased", [False, True])
def test_feature_space_and_gram_space_agree(
    debiased: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 6))
    acts = {
        "narrow": x,
        "wide": np.tanh(x @ rng.normal(size=(6, 90))),
        "mid": x @ rng.normal(size=(6, 30)) + rng.normal(size=(40, 30)),
        "noise": rng.normal(size=(40, 70)),
    }
    with_grams = cka_matrix(acts, debiased=debiased)
    monkeypatch.setattr(cka_module, "_GRAM_BUDGET_BYTES", 0)  # no Gram may be cached
    features_only = cka_matrix(acts, debiased=debiased)
    np.testing.assert_allclose(with_grams["cka"], features_only["cka"], rtol=1e-10, atol=1e-12)


# --- invariances and known answers ------------------------------------------------------------


@pytest.mark.parametrize("debiased", [False, True])
def test_self_similarity_is_one(debiased: bool) -> None:
    X = np.random.default_rng(0).normal(size=(25, 4))
    assert linear_cka(X, X, debiased=debiased) == pytest.approx(1.0, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(6, 40),
    p=st.integers(1, 12),
    scale=st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3),
    shift=st.floats(-1e4, 1e4),
    debiased=st.booleans(),
)
def test_invariant_to_rotation_scaling_translation(
    seed: int, n: int, p: int, scale: float, shift: float, debiased: bool
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    Y = np.sin(X @ rng.normal(size=(p, 3))) + rng.normal(size=(n, 3))  # some other layer
    Q = _orthogonal(p, rng)
    t = shift * rng.normal(size=p)
    for moved in (X @ Q, scale * X, X + t, scale * X @ Q + t):
        assert linear_cka(X, moved, debiased=debiased) == pytest.approx(1.0, abs=1e-8)
        assert linear_cka(Y, moved, debiased=debiased) == pytest.approx(
            linear_cka(Y, X, debiased=debiased), abs=1e-8
        )


def test_independent_gaussians_biased_is_inflated_debiased_is_not() -> None:
    """n = 500 probe inputs, widths 1000: biased CKA about 2/3 for unrelated layers."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(500, 1000)), rng.normal(size=(500, 1000))
    biased, debiased = linear_cka(X, Y), linear_cka(X, Y, debiased=True)
    assert abs(debiased) < 0.05  # measured: -0.00015
    assert 0.6 < biased < 0.75  # measured: 0.667
    assert biased > 10 * abs(debiased) + 0.5


def test_inflation_vanishes_with_many_points() -> None:
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(5000, 10)), rng.normal(size=(5000, 10))
    assert linear_cka(X, Y) < 0.01  # measured: 0.002
    assert abs(linear_cka(X, Y, debiased=True)) < 0.01


def test_not_invariant_to_invertible_linear_maps() -> None:
    """Documented blind spot: stretching one direction changes CKA, though no information is
    lost (the map is invertible, X is recovered exactly)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10))
    A = np.diag([10.0] + [1.0] * 9)
    assert np.allclose((X @ A) @ np.linalg.inv(A), X)
    assert linear_cka(X, X @ A) == pytest.approx(0.347, abs=0.01)
    assert linear_cka(X, X @ A, debiased=True) < 0.5
    B = rng.normal(size=(10, 10))  # a generic invertible map, not scaled orthogonal
    assert linear_cka(X, X @ B) < 0.95


def test_shuffled_rows_are_not_the_same_inputs() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 8))
    assert linear_cka(X, X[rng.permutation(300)]) < 0.1


def test_outlier_dominates() -> None:
    """Documented blind spot (Davari et al. 2022): one far point among unrelated ones makes
    two independent representations look alike."""
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(200, 5)), rng.normal(size=(200, 5))
    assert linear_cka(X, Y) < 0.1
    X[0] += 100.0
    Y[0] += 100.0
    assert linear_cka(X, Y) > 0.9


def test_float32_and_lists_are_computed_in_float64() -> None:
    X, Y = _related(30, 4, 6, seed=0)
    expected = linear_cka(X.astype(np.float32).astype(np.float64), Y)
    assert linear_cka(X.astype(np.float32), Y) == expected
    assert linear_cka(X.tolist(), Y.tolist()) == pytest.approx(linear_cka(X, Y), rel=1e-12)
    assert isinstance(linear_cka(X, Y), float)


def test_inputs_are_not_modified() -> None:
    X, Y = _related(30, 4, 6, seed=0)
    X0, Y0 = X.copy(), Y.copy()
    linear_cka(X, Y, debiased=True)
    cka_matrix({"x": X}, {"y": Y})
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)


# --- cka_matrix -------------------------------------------------------------------------------


def _layers(n: int = 40, seed: int = 0) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    return {
        "blocks.0": x,
        "blocks.1": np.tanh(x @ rng.normal(size=(8, 16))),
        "blocks.2": np.tanh(x @ rng.normal(size=(8, 64))) + rng.normal(size=(n, 64)),
        "head": rng.normal(size=(n, 3)),
    }


@pytest.mark.parametrize("debiased", [False, True])
def test_matrix_is_symmetric_with_unit_diagonal(debiased: bool) -> None:
    acts = _layers()
    df = cka_matrix(acts, debiased=debiased)
    square = df["cka"].to_numpy().reshape(4, 4)
    assert np.array_equal(square, square.T)
    assert np.array_equal(np.diag(square), np.ones(4))


@pytest.mark.parametrize("debiased", [False, True])
def test_matrix_matches_pairwise_linear_cka_in_order(debiased: bool) -> None:
    acts_a = _layers(seed=0)
    rng = np.random.default_rng(9)
    acts_b = {"z": rng.normal(size=(40, 5)), "a": acts_a["blocks.1"] @ _orthogonal(16, rng)}
    df = cka_matrix(acts_a, acts_b, debiased=debiased)
    assert df.columns.tolist() == ["layer_a", "layer_b", "cka"]
    assert df["cka"].dtype == np.float64
    expected = [(a, b) for a in acts_a for b in acts_b]  # mapping order, not sorted
    assert list(zip(df["layer_a"], df["layer_b"], strict=True)) == expected
    for (a, b), value in zip(expected, df["cka"], strict=True):
        assert value == pytest.approx(
            linear_cka(acts_a[a], acts_b[b], debiased=debiased), rel=1e-10, abs=1e-12
        )
    assert df.set_index(["layer_a", "layer_b"]).loc[("blocks.1", "a"), "cka"] == pytest.approx(1.0)


def test_matrix_against_itself_equals_matrix_of_one_mapping() -> None:
    acts = _layers()
    pd.testing.assert_frame_equal(
        cka_matrix(acts), cka_matrix(acts, dict(acts)), check_exact=False, rtol=1e-10
    )


def test_empty_mapping_gives_empty_frame() -> None:
    df = cka_matrix({})
    assert df.columns.tolist() == ["layer_a", "layer_b", "cka"]
    assert len(df) == 0
    assert len(cka_matrix(_layers(), {})) == 0


# --- errors and warnings ----------------------------------------------------------------------


def test_row_mismatch_says_both_shapes_and_probe_inputs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ActivationError) as err:
        linear_cka(rng.normal(size=(100, 5)), rng.normal(size=(90, 3)))
    msg = str(err.value)
    assert "(100, 5) for X" in msg and "(90, 3) for Y" in msg
    assert "same probe inputs" in msg


def test_row_mismatch_in_matrix_names_the_layers() -> None:
    acts = _layers()
    with pytest.raises(ActivationError, match="same probe inputs") as err:
        cka_matrix(acts, {"late": np.ones((39, 2))})
    assert "layer 'blocks.0' of acts_a" in str(err.value)
    assert "(39, 2) for layer 'late' of acts_b" in str(err.value)


def test_three_d_input_says_reduce_tokens() -> None:
    X = np.zeros((8, 3, 16))
    with pytest.raises(ActivationError, match=r"got \(8, 3, 16\); reduce tokens first"):
        linear_cka(X, np.ones((8, 2)))
    with pytest.raises(ActivationError, match=r"layer 'blocks.3' of acts_b, got \(8, 3, 16\)"):
        cka_matrix({"a": np.ones((8, 2))}, {"blocks.3": X})


def test_one_d_input_says_reshape() -> None:
    with pytest.raises(ActivationError, match=r"reshape\(-1, 1\)"):
        linear_cka(np.arange(10.0), np.ones((10, 2)))


def test_nonfinite_rows_are_counted_and_located() -> None:
    X = np.random.default_rng(0).normal(size=(20, 3))
    X[4, 1], X[7, 0] = np.nan, np.inf
    msg = r"2 of 20 rows of Y contain NaN or Inf \(first at row 4\); .* from both sides"
    with pytest.raises(ActivationError, match=msg):
        linear_cka(np.ones((20, 2)), X)
    with pytest.raises(ActivationError, match="layer 'bad' of acts_a"):
        cka_matrix({"bad": X})


@pytest.mark.parametrize(("n", "debiased"), [(1, False), (3, True)])
def test_too_few_rows(n: int, debiased: bool) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ActivationError, match=f"at least {2 + 2 * debiased} rows"):
        linear_cka(rng.normal(size=(n, 2)), rng.normal(size=(n, 2)), debiased=debiased)


def test_not_a_mapping() -> None:
    with pytest.raises(ActivationError, match="mapping of layer name"):
        cka_matrix([np.ones((5, 2))])  # type: ignore[arg-type]


@pytest.mark.parametrize("debiased", [False, True])
def test_constant_side_gives_nan_and_names_it(debiased: bool) -> None:
    X = np.random.default_rng(0).normal(size=(30, 4))
    const = np.full((30, 3), 0.1)  # whose mean is not exactly 0.1 in floating point
    with pytest.warns(TdaInterpWarning, match="Y is constant") as rec:
        assert np.isnan(linear_cka(X, const, debiased=debiased))
    assert [w.message.kind for w in rec] == ["constant-representation"]  # type: ignore[union-attr]
    assert rec[0].filename == __file__  # points at the caller


def test_constant_layer_in_matrix_warns_once_and_is_nan() -> None:
    acts = {**_layers(), "dead": np.zeros((40, 5))}
    with pytest.warns(TdaInterpWarning, match="layer 'dead' of acts_a is constant") as rec:
        df = cka_matrix(acts)
    assert len(rec) == 1
    dead = (df["layer_a"] == "dead") | (df["layer_b"] == "dead")
    assert df.loc[dead, "cka"].isna().all()
    assert df.loc[~dead, "cka"].notna().all()


def test_all_rows_but_one_identical_is_degenerate_for_the_debiased_estimator() -> None:
    """Off the diagonal the linear kernel is then f(x) + f(x') + c, which HSIC1 cannot see."""
    X = np.random.default_rng(0).normal(size=(50, 4))
    one_apart = np.repeat([[1.0, 2.0], [3.0, -1.0]], [1, 49], axis=0)
    K = one_apart @ one_apart.T
    assert abs(_hsic1(K, K)) < 1e-12 * _naive_hsic(K, K)  # the reference agrees: zero
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 0.0 < linear_cka(X, one_apart) < 1.0  # biased CKA is defined
        two_groups = np.repeat([[1.0, 2.0], [3.0, -1.0]], 25, axis=0)
        assert linear_cka(X, two_groups, debiased=True) == pytest.approx(
            _naive_debiased_cka(X, two_groups), rel=1e-8
        )  # two distinct rows, each repeated: still defined
    with pytest.warns(TdaInterpWarning, match="Y is degenerate for the debiased") as rec:
        assert np.isnan(linear_cka(X, one_apart, debiased=True))
    assert rec[0].message.kind == "degenerate-representation"  # type: ignore[union-attr]


def test_feature_space_in_blocks_gives_the_same_value(monkeypatch: pytest.MonkeyPatch) -> None:
    X, Y = _related(30, 7, 11, seed=4)
    W, Z = _related(8, 20, 30, seed=5)  # wider than n: the self terms go through X X^T
    expected = [linear_cka(X, Y), linear_cka(W, Z, debiased=True)]
    monkeypatch.setattr(cka_module, "_GRAM_BUDGET_BYTES", 0)
    monkeypatch.setattr(cka_module, "_BLOCK_BYTES", 8 * 3 * 7)  # blocks of a few columns
    got = [linear_cka(X, Y), linear_cka(W, Z, debiased=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got[0] == pytest.approx(_naive_cka(X, Y), rel=1e-10)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_tiny_and_huge_activations(scale: float) -> None:
    X, Y = _related(20, 3, 50, seed=6)
    for debiased in (False, True):
        expected = linear_cka(X, Y, debiased=debiased)
        assert linear_cka(scale * X, Y, debiased=debiased) == pytest.approx(expected, rel=1e-12)
        df = cka_matrix({"x": scale * X, "y": scale * Y}, debiased=debiased)
        assert df["cka"].tolist() == pytest.approx([1.0, expected, expected, 1.0], rel=1e-12)
