"""Persistence backends: agreement, matrix traps, options, the auto rule, cocycles.

Ground truth used here: a circle's one H1 bar dies at the side of the inscribed equilateral
triangle (sqrt(3) r); the real projective plane has an H1 and an H2 class over Z/2 and none over
Z/3; truncating a filtration at ``t`` keeps the bars that die by ``t``, turns the bars alive at
``t`` into infinite ones and drops the ones born after ``t``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gudhi
import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components

from tda_interp.exceptions import ActivationError, ConfigError, HomologyError
from tda_interp.homology import backends, vietoris_rips
from tda_interp.homology.backends import (
    auto_backend,
    available_backends,
    representative_cocycles,
    resolve_backend,
    rips_from_distances,
)
from tda_interp.homology.distances import check_distance_matrix, distance_matrix

Cloud = NDArray[np.float64]
BACKENDS = available_backends()
ALL = ["gudhi", "giotto-ph", "ripser"]


def bottleneck_gap(a: list[Cloud], b: list[Cloud]) -> float:
    """Largest bottleneck distance over dimensions of the finite parts (same maxdim asserted)."""
    assert len(a) == len(b)
    worst = 0.0
    for da, db in zip(a, b, strict=True):
        ia, ib = np.isinf(da[:, 1]), np.isinf(db[:, 1])
        assert ia.sum() == ib.sum(), f"{ia.sum()} vs {ib.sum()} infinite bars"
        np.testing.assert_allclose(np.sort(da[ia, 0]), np.sort(db[ib, 0]), atol=1e-6)
        worst = max(worst, gudhi.bottleneck_distance(da[~ia], db[~ib], 0.0))
    return worst


def assert_well_formed(dgms: list[Cloud], maxdim: int) -> None:
    assert len(dgms) == maxdim + 1
    for d in dgms:
        assert d.dtype == np.float64 and d.ndim == 2 and d.shape[1] == 2
        assert (d[:, 1] > d[:, 0]).all()  # no diagonal bars
        order = np.lexsort((d[:, 1], d[:, 0]))
        np.testing.assert_array_equal(order, np.arange(len(d)))  # sorted by birth, death


def rp2_distances(n: int = 40) -> Cloud:
    """Chordal metric of the projective plane on ``n`` near-uniform points of a hemisphere."""
    i = np.arange(2 * n) + 0.5
    z = 1 - i / n
    r = np.sqrt(1 - z * z)
    phi = np.pi * (1 + 5**0.5) * i
    P = np.c_[r * np.cos(phi), r * np.sin(phi), z][z > 0]
    return np.minimum(distance_matrix(P), distance_matrix(np.vstack([P, -P]))[: len(P), len(P) :])


# ---------------------------------------------------------------------- agreement
@pytest.mark.parametrize("coeff", [2, 3])
@pytest.mark.parametrize(
    ("cloud", "maxdim"),
    [("noisy_circle", 2), ("torus", 2), ("gaussian", 2), ("gauss384", 1), ("duplicates", 1)],
)
def test_backends_give_the_same_diagram(
    cloud: str, maxdim: int, coeff: int, request: pytest.FixtureRequest
) -> None:
    if cloud == "gauss384":
        X = np.random.default_rng(7).normal(size=(100, 384))
    elif cloud == "duplicates":
        X = np.random.default_rng(8).normal(size=(30, 5))
        X[[3, 17]] = X[[9, 21]]  # two duplicated points: two zero-length H0 bars dropped
    else:
        X = request.getfixturevalue(cloud)
    D = distance_matrix(X)
    ref = rips_from_distances(D, maxdim=maxdim, coeff=coeff, backend="ripser")
    for name in BACKENDS:
        for k in range(maxdim + 1):  # every maxdim up to the highest, same lower dimensions
            dgms = rips_from_distances(D, maxdim=k, coeff=coeff, backend=name)
            assert_well_formed(dgms, k)
            assert int(np.isinf(dgms[0][:, 1]).sum()) == 1
            assert bottleneck_gap(dgms, ref[: k + 1]) < 1e-6 * D.max(), (name, k)
    n_expected = len(X) - 2 if cloud == "duplicates" else len(X)
    assert len(ref[0]) == n_expected


def test_circle_ground_truth_every_backend(make_circle: Callable[..., Cloud]) -> None:
    D = distance_matrix(make_circle(30, radius=2.0))
    for name in BACKENDS:
        h0, h1 = rips_from_distances(D, backend=name)
        assert len(h0) == 30 and np.isinf(h0[-1, 1])
        assert len(h1) == 1
        np.testing.assert_allclose(h1[0], [2 * 2 * np.sin(np.pi / 30), 2 * np.sqrt(3)], rtol=1e-6)


def test_gudhi_is_exact_in_float64() -> None:
    D = distance_matrix(np.random.default_rng(0).normal(size=(30, 4)))
    deaths = rips_from_distances(D, maxdim=0, backend="gudhi")[0][:-1, 1]
    assert np.isin(deaths, D).all()  # float64 distances, not float32-rounded ones


@pytest.mark.parametrize("name", BACKENDS)
def test_coefficients_reach_the_backend_projective_plane(name: str) -> None:
    D = rp2_distances(40)
    z2 = rips_from_distances(D, maxdim=2, coeff=2, backend=name)
    z3 = rips_from_distances(D, maxdim=2, coeff=3, backend=name)
    diam = D.max()
    for k in (1, 2):
        life2 = (z2[k][:, 1] - z2[k][:, 0]) / diam
        life3 = (z3[k][:, 1] - z3[k][:, 0]) / diam
        assert np.sort(life2)[-1] > 0.3  # the RP^2 class over Z/2 (0.44 and 0.36) ...
        assert np.sort(life2)[-2] < 0.15
        assert life3.max() < 0.15  # ... is invisible over Z/3 (at most 0.13)


@pytest.mark.parametrize("name", BACKENDS)
def test_vietoris_rips_passes_coeff_to_the_backend(name: str) -> None:
    D = rp2_distances(40)
    z2 = vietoris_rips(D, metric="precomputed", maxdim=2, coeff=2, backend=name)
    z3 = vietoris_rips(D, metric="precomputed", maxdim=2, coeff=3, backend=name)
    for dgm, coeff in ((z2, 2), (z3, 3)):
        assert dgm.provenance is not None
        assert (dgm.provenance.coeff, dgm.provenance.backend) == (coeff, name)
        ref = rips_from_distances(D, maxdim=2, coeff=coeff, backend=name)
        assert bottleneck_gap(dgm.to_ripser(), ref) == 0.0
    for k in (1, 2):
        assert z2.lifetimes(k, relative=True)[0] > 0.3  # the RP^2 class over Z/2 ...
        assert z3.lifetimes(k, relative=True)[0] < 0.15  # ... is invisible over Z/3
    with pytest.raises(ConfigError, match="coeff to be a prime"):
        vietoris_rips(D, metric="precomputed", coeff=4)


def test_large_prime_only_on_gudhi(noisy_circle: Cloud) -> None:
    D = distance_matrix(noisy_circle)
    big = rips_from_distances(D, coeff=131, backend="auto")
    assert bottleneck_gap(big, rips_from_distances(D, coeff=2, backend="gudhi")) < 1e-12
    for name in ("ripser", "giotto-ph"):
        with pytest.raises(ConfigError, match=r"up to 127.*backend='gudhi'"):
            rips_from_distances(D, coeff=131, backend=name)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coeff": 4}, "prime"),
        ({"coeff": 1}, "prime"),
        ({"maxdim": 4}, "maxdim <= 3"),
        ({"maxdim": -1}, "maxdim"),
        ({"threshold": -1.0}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"n_threads": 0}, "n_threads"),
    ],
)
def test_bad_options_are_config_errors(kwargs: dict[str, float], match: str) -> None:
    D = distance_matrix(np.eye(3))
    with pytest.raises(ConfigError, match=match):
        rips_from_distances(D, **kwargs)  # type: ignore[arg-type]


def test_single_point() -> None:
    for name in BACKENDS:
        dgms = rips_from_distances(np.zeros((1, 1)), maxdim=2, backend=name)
        np.testing.assert_array_equal(dgms[0], [[0.0, np.inf]])
        assert len(dgms[1]) == len(dgms[2]) == 0


# ---------------------------------------------------------------------- matrix traps
def test_off_symmetric_by_1e16_gives_the_exact_diagram(noisy_circle: Cloud) -> None:
    D = distance_matrix(noisy_circle)
    rng = np.random.default_rng(0)
    bad = D.copy()
    i, j = np.triu_indices(len(D), k=1)
    pick = rng.random(len(i)) < 0.5
    # one ulp (~2e-16 relative) up in the upper triangle, exactly like a Gram-trick matrix
    bad[i[pick], j[pick]] = np.nextafter(D[i[pick], j[pick]], np.inf)
    assert not np.array_equal(bad, bad.T) and np.abs(bad - bad.T).max() < 1e-15
    for name in BACKENDS:
        exact = rips_from_distances(D, maxdim=2, backend=name)
        got = rips_from_distances(bad, maxdim=2, backend=name)
        for a, b in zip(exact, got, strict=True):
            np.testing.assert_array_equal(a, b)
        # in the lower triangle instead: off by one ulp, so the same up to round-off
        got_t = rips_from_distances(bad.T, maxdim=2, backend=name)
        assert bottleneck_gap(exact, got_t) < 1e-12 * D.max()


def test_every_backend_receives_an_exact_matrix(
    noisy_circle: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spy on the third-party calls: exactly symmetric, zero diagonal, gudhi given the lower one."""
    import ripser
    from gudhi.sklearn.rips_persistence import RipsPersistence

    seen: dict[str, Cloud] = {}

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(M: Any, *args: Any, **kwargs: Any) -> Any:
            seen[name] = np.array(M[0] if name == "gudhi" else M)
            return real(M, *args, **kwargs)

        return wrapped

    real_fit = RipsPersistence.fit_transform

    def gudhi_spy(self: RipsPersistence, X: Any, *args: Any, **kwargs: Any) -> Any:
        assert self.input_type == "lower distance matrix"
        return spy("gudhi", lambda M, *a, **k: real_fit(self, M, *a, **k))(X, *args, **kwargs)

    monkeypatch.setattr(RipsPersistence, "fit_transform", gudhi_spy)
    monkeypatch.setattr(ripser, "ripser", spy("ripser", ripser.ripser))
    if "giotto-ph" in BACKENDS:
        import gph

        monkeypatch.setattr(gph, "ripser_parallel", spy("giotto-ph", gph.ripser_parallel))
    D = distance_matrix(noisy_circle)
    bad = D.copy()
    bad[np.triu_indices(len(D), k=1)] *= 1 + 4e-16
    bad[np.diag_indices(len(D))] = 1e-14
    assert not np.array_equal(bad, bad.T)
    for name in BACKENDS:
        rips_from_distances(bad, backend=name)
        np.testing.assert_array_equal(seen[name], D)


def test_nonzero_diagonal_round_off_is_fixed_larger_is_refused(noisy_circle: Cloud) -> None:
    D = distance_matrix(noisy_circle)
    tiny = D + np.diag(np.full(len(D), 1e-13))
    for name in BACKENDS:
        exact = rips_from_distances(D, backend=name)
        for a, b in zip(exact, rips_from_distances(tiny, backend=name), strict=True):
            np.testing.assert_array_equal(a, b)
    big = D.copy()
    big[7, 7] = 0.05
    for name in BACKENDS:
        with pytest.raises(ActivationError, match=r"zero diagonal.*D\[7, 7\].*fill_diagonal"):
            rips_from_distances(big, backend=name)


def test_asymmetric_by_1e3_is_refused_with_a_fix(noisy_circle: Cloud) -> None:
    D = distance_matrix(noisy_circle)
    D[4, 11] += 1e-3
    for name in [*BACKENDS, "auto"]:
        with pytest.raises(ActivationError, match=r"symmetric.*D\[4, 11\].*\(D \+ D\.T\) / 2"):
            rips_from_distances(D, backend=name)


def _negative(D: Cloud) -> Cloud:
    D = D.copy()
    D[1, 2] = D[2, 1] = -0.5
    return D


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda D: D[:, :-1], "square"),
        (lambda D: D[None], "square"),
        (lambda D: np.where(np.eye(len(D)) == 1, 0.0, np.nan), "NaN"),
        (_negative, r"non-negative.*D\[1, 2\]"),
        (lambda D: D + np.diag(np.full(len(D), np.inf)), "zero diagonal"),
        (lambda D: np.where(np.eye(len(D)) == 1, 0.0, -np.inf), "non-negative"),
        (lambda D: np.zeros((0, 0)), "at least 1 point"),
        (lambda D: [["a", "b"], ["c", "d"]], "numeric"),
    ],
)
def test_invalid_matrices_are_refused(edit: Callable[[Cloud], ArrayLike], match: str) -> None:
    D = distance_matrix(np.random.default_rng(0).normal(size=(12, 3)))
    with pytest.raises(ActivationError, match=match):
        check_distance_matrix(edit(D))


def test_check_distance_matrix_repairs_round_off_exactly() -> None:
    X = np.random.default_rng(1).normal(size=(20, 3))
    X[5] = X[2]  # coincident points: D[5, 2] = 0, where round-off can go negative
    D = distance_matrix(X)
    assert np.shares_memory(check_distance_matrix(D), D)  # clean input: no copy
    noisy = D * (1 + 1e-9 * np.random.default_rng(2).standard_normal(D.shape))
    noisy[3, 3] = 1e-10
    noisy[5, 2] = noisy[2, 5] = -1e-12
    out = check_distance_matrix(noisy)
    assert np.array_equal(out, out.T)
    assert (np.diag(out) == 0).all() and (out >= 0).all()
    # the lower triangle is kept, negative round-off clipped to 0
    np.testing.assert_array_equal(np.tril(out, -1), np.tril(np.maximum(noisy, 0.0), -1))
    with pytest.raises(ActivationError, match="rtol=1e-12"):
        check_distance_matrix(noisy, rtol=1e-12)


# ---------------------------------------------------------------------- threshold
@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("cloud", ["noisy_circle", "gaussian", "two_blobs"])
def test_threshold_truncates_the_filtration(
    name: str, cloud: str, request: pytest.FixtureRequest
) -> None:
    D = distance_matrix(request.getfixturevalue(cloud))
    full = rips_from_distances(D, maxdim=1, backend=name)
    vals = np.unique(D)
    # a threshold in the middle of a clear gap, so float32 rounding cannot move an edge across
    for q in (0.05, 0.3, 0.6):
        k = int(q * len(vals))
        while vals[k + 1] - vals[k] < 1e-5 * vals[-1]:
            k += 1
        t = 0.5 * (vals[k] + vals[k + 1])
        cut = rips_from_distances(D, maxdim=1, backend=name, threshold=t)
        for dim in (0, 1):
            bars = full[dim]
            keep = bars[bars[:, 0] <= t].copy()
            keep[keep[:, 1] > t, 1] = np.inf
            keep = keep[np.lexsort((keep[:, 1], keep[:, 0]))]
            np.testing.assert_allclose(cut[dim], keep, rtol=1e-6)
        # H0: one infinite bar per connected component of the graph {d <= t}
        n_comp = connected_components(D <= t, directed=False)[0]
        assert int(np.isinf(cut[0][:, 1]).sum()) == n_comp


def test_infinite_entries_mean_never_connected(two_blobs: Cloud) -> None:
    D = distance_matrix(two_blobs)
    blob = np.arange(len(D)) < 30
    cut = np.where(blob[:, None] == blob[None, :], D, np.inf)
    for name in BACKENDS:
        got = rips_from_distances(cut, maxdim=1, backend=name)
        a = rips_from_distances(D[:30, :30], maxdim=1, backend=name)
        b = rips_from_distances(D[30:, 30:], maxdim=1, backend=name)
        both = [np.vstack([x, y]) for x, y in zip(a, b, strict=True)]
        assert int(np.isinf(got[0][:, 1]).sum()) == 2
        assert bottleneck_gap(got, both) < 1e-12


# ---------------------------------------------------------------------- names and the auto rule
def test_unknown_backend_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'dionysus'.*'gudhi'"):
        resolve_backend("dionysus")
    with pytest.raises(ConfigError, match="dionysus"):
        rips_from_distances(np.zeros((2, 2)), backend="dionysus")


def test_missing_giotto_ph_is_homology_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = backends._importable
    monkeypatch.setattr(backends, "_importable", lambda name: name != "giotto-ph" and real(name))
    assert "giotto-ph" not in available_backends()
    with pytest.raises(HomologyError, match=r"'giotto-ph' is not installed.*3\.13"):
        resolve_backend("giotto-ph")
    with pytest.raises(HomologyError, match="giotto-ph"):
        rips_from_distances(np.zeros((2, 2)), backend="giotto-ph")
    # auto never picks it, even where it would be preferred
    assert resolve_backend("auto", n_points=10_000, maxdim=2, n_threads=2) != "giotto-ph"


def test_only_ripser_installed_is_what_auto_falls_back_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_importable", lambda name: name == "ripser")
    assert available_backends() == ["ripser"]
    assert resolve_backend("auto", n_points=500, maxdim=2, n_threads=2) == "ripser"
    with pytest.raises(HomologyError, match="coeff=131"):
        resolve_backend("auto", coeff=131)


@pytest.mark.parametrize(
    ("n_points", "maxdim", "coeff", "n_threads", "available", "expected"),
    [
        (None, 1, 2, 1, ALL, "gudhi"),
        (40, 1, 2, 1, ALL, "gudhi"),
        (5000, 1, 2, 1, ALL, "gudhi"),
        (5000, 2, 2, 1, ALL, "gudhi"),
        (149, 1, 2, 2, ALL, "gudhi"),  # too small for threads to pay
        (150, 1, 2, 2, ALL, "giotto-ph"),
        (400, 2, 2, 4, ALL, "giotto-ph"),
        (None, 1, 2, 2, ALL, "gudhi"),  # unknown size: no threads rule
        (400, 2, 131, 4, ALL, "gudhi"),  # only gudhi computes over Z/131
        (400, 1, 2, 1, ["giotto-ph", "ripser"], "giotto-ph"),  # Python < 3.13 without gudhi
        (400, 1, 2, 2, ["gudhi", "ripser"], "gudhi"),  # Python >= 3.13: no giotto-ph
        (400, 1, 2, 1, ["ripser"], "ripser"),
    ],
)
def test_auto_rule(
    n_points: int | None,
    maxdim: int,
    coeff: int,
    n_threads: int,
    available: list[str],
    expected: str,
) -> None:
    kw = {"maxdim": maxdim, "coeff": coeff, "n_threads": n_threads, "available": available}
    got = {auto_backend(n_points, **kw) for _ in range(3)}  # type: ignore[arg-type]
    assert got == {expected}


def test_auto_without_size_is_the_first_available() -> None:
    assert resolve_backend("auto") == available_backends()[0]
    assert available_backends()[-1] == "ripser"


# ---------------------------------------------------------------------- cocycles
@pytest.mark.parametrize("coeff", [2, 3])
def test_circle_cocycle_pairs_with_the_circle(
    coeff: int, make_circle: Callable[..., Cloud]
) -> None:
    n = 40
    X = make_circle(n, noise=0.03, seed=4)  # points in angular order
    dgms, cocycles = representative_cocycles(distance_matrix(X), maxdim=1, coeff=coeff)
    assert [len(c) for c in cocycles] == [0, len(dgms[1])]
    plain = rips_from_distances(distance_matrix(X), backend="ripser")
    for got, ref in zip(dgms, plain, strict=True):
        np.testing.assert_array_equal(got, ref)  # the same diagram, in the same order
    life = dgms[1][:, 1] - dgms[1][:, 0]
    long = int(np.argmax(life))
    assert (np.delete(life, long) < 0.1 * life[long]).all()
    coc = cocycles[1][long]
    assert coc.dtype == np.int64 and coc.shape[1] == 3
    assert ((coc[:, 2] > 0) & (coc[:, 2] < coeff)).all()
    # evaluate it on the circle's fundamental cycle 0 -> 1 -> ... -> n-1 -> 0
    value = {(int(u), int(v)): int(c) for u, v, c in coc}
    total = 0
    for k in range(n):
        u, v = k, (k + 1) % n
        total += value.get((u, v), 0) - value.get((v, u), 0)
    assert total % coeff != 0
