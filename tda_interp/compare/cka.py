"""Linear centred kernel alignment (CKA): the geometric baseline for comparing representations.

Linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited",
ICML) compares two representations ``X`` of shape ``(n_points, p)`` and ``Y`` of shape
``(n_points, q)`` of the **same probe inputs** (row ``i`` of both is input ``i``) through their
centred linear Gram matrices ``K = Xc Xc^T`` and ``L = Yc Yc^T`` (``Xc``: ``X`` with each column's
mean removed)::

    CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))

It asks whether the two representations put the same pairs of inputs close together and far
apart, measured by inner products: 1 when one is a rotation (and rescaling) of the other, near 0
for unrelated ones. It sees geometry only, not topology: use it as the baseline that the
persistence-based comparisons of :mod:`tda_interp.compare` are read against.

Estimators
----------
``debiased=False`` (biased, Kornblith et al.): ``HSIC(K, L) = tr(K L) / (n - 1)^2``; since
``tr(K L) = ||Yc^T Xc||_F^2`` this is computed in feature space (``p x q`` matrices) or in Gram
space (``n x n`` matrices), whichever costs less; the constant ``(n - 1)^2`` cancels. Values lie in
``[0, 1]`` (up to rounding).

``debiased=True``: the unbiased HSIC estimator (Song et al. 2012, "Feature Selection via
Dependence Maximization", JMLR), as used by Nguyen, Raghu and Kornblith (2021, "Do Wide and Deep
Networks Learn the Same Things?"). With ``K~``, ``L~`` the uncentred Gram matrices ``X X^T``,
``Y Y^T`` with their diagonals set to zero and ``1`` the vector of ones::

    HSIC1(K, L) = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n - 1)(n - 2))
                   - 2 / (n - 2) 1^T K~ L~ 1] / (n (n - 3))

and CKA = ``HSIC1(K, L) / sqrt(HSIC1(K, K) HSIC1(L, L))``; it needs ``n >= 4``. HSIC1 does not
change when a constant vector is added to every row, so the columns are centred first (better
rounding), and then ``HSIC1`` needs only ``tr(K L)`` (feature or Gram space, as above), the
squared row norms and ``tr K`` (Kornblith et al.'s feature-space form). Being an unbiased
estimate, debiased CKA can come out slightly negative, or above 1, on finite samples.

Invariances
-----------
CKA is invariant to orthogonal transforms of either side (``X Q`` with ``Q^T Q = I``), to isotropic
scaling (``c X``) and to translation (``X + t``). It is **not** invariant to arbitrary invertible
linear maps (``X A`` with ``A`` not a scaled orthogonal matrix): stretching some directions changes
it (Kornblith et al. argue that a measure invariant to all invertible maps cannot compare layers
wider than the number of inputs). The widths ``p`` and ``q`` need not agree.

Blind spots
-----------
- Dominated by a few high-variance directions, and by a few outlier points: two representations
  that agree on their top principal directions score high even if the rest differs, and moving a
  handful of points can change CKA a lot without changing the function computed (Davari et al.
  2022, "Reliability of CKA as a Similarity Measure in Deep Learning").
- Biased CKA is inflated when ``n_points`` is small relative to the widths: two *independent*
  Gaussian representations of 500 points with 1000 features score about 0.67. The debiased
  estimator removes that inflation (about 0 on the same data): use ``debiased=True`` for wide
  layers and few probe inputs.
- A number without a reference is not a finding: compare with CKA between replicates or a
  control run on the same probe inputs.

Both sides must hold the activations of the same probe inputs, in the same order, one row per
input; shuffling the rows of one side destroys the comparison without any error. Token-level
activations must be reduced first (e.g. ``reduction="mean"`` when capturing).

A representation whose rows are all identical (a dead or saturated layer) has no variance:
its CKA with anything is undefined, returned as NaN with a
:class:`~tda_interp.exceptions.TdaInterpWarning` (kind ``"constant-representation"``) that names
the side or layer. The same holds, for ``debiased=True`` only, when ``HSIC1(K, K)`` is zero
up to a relative rounding tolerance of ``1e-10`` (kind ``"degenerate-representation"``): HSIC1
cannot see a kernel of the form ``f(x) + f(x') + c`` off the diagonal, which is what a linear
kernel is when all rows but one are identical (a unit that fires for a single input).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tda_interp.exceptions import ActivationError, TdaInterpWarning

__all__ = ["cka_matrix", "linear_cka"]

#: Most memory (bytes) spent on cached ``n x n`` Gram matrices in one call; above it the
#: remaining pairs are computed in feature space.
_GRAM_BUDGET_BYTES = 2 * 1024**3
#: A debiased self-similarity ``HSIC1(K, K)`` at most this fraction of its largest term is zero
#: up to rounding (the representation is degenerate for the estimator).
_DEGENERATE_RTOL = 1e-10
#: Largest intermediate (bytes) of a feature-space product; larger ones are summed in blocks.
_BLOCK_BYTES = 256 * 1024**2


@dataclass(frozen=True, eq=False)
class _Rep:
    """One representation, checked and column-centred once.

    ``xc`` is scaled to a largest absolute value of 1, and all zeros for a constant
    representation (never rounding noise).
    """

    where: str
    xc: NDArray[np.float64]
    constant: bool

    @property
    def width(self) -> int:
        return int(self.xc.shape[1])


def _shape(arr: object) -> str:
    shape = getattr(arr, "shape", None)
    return str(tuple(shape)) if shape is not None else type(arr).__name__


def _prepare(x: ArrayLike, where: str) -> _Rep:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ActivationError(
            f"Could not read the activations of {where} as a float array ({err}); pass a NumPy "
            "array of shape (n_points, n_features), or tensor.detach().cpu().numpy()."
        ) from err
    if arr.ndim != 2:
        if arr.ndim == 1:
            fix = "pass x.reshape(-1, 1) for a single feature"
        elif arr.ndim == 3:
            fix = (
                "reduce tokens first, to one row per probe input on both sides (e.g. capture "
                'with reduction="mean" or reduction="last")'
            )
        else:
            fix = (
                "reduce the extra dimensions first, to one row per probe input (e.g. capture "
                'with reduction="mean" for tokens or reduction="avgpool" for a feature map)'
            )
        raise ActivationError(
            f"Expected activations of shape (n_points, n_features) for {where}, got "
            f"{_shape(arr)}; {fix}."
        )
    if arr.shape[1] == 0:
        raise ActivationError(
            f"Expected at least one feature for {where}, got shape {_shape(arr)}; check the "
            "layer that produced it."
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ActivationError(
            f"{int(bad.sum())} of {arr.shape[0]} rows of {where} contain NaN or Inf (first at "
            f"row {int(np.flatnonzero(bad)[0])}); fix the model, or drop those probe inputs "
            "from both sides."
        )
    constant = bool(arr.shape[0] > 0 and (arr == arr[:1]).all())
    if constant:
        xc = np.zeros_like(arr)
    else:
        xc = arr - arr.mean(axis=0, keepdims=True)
        xc /= np.abs(xc).max()  # CKA is scale invariant: no overflow or underflow in squares
    return _Rep(where=where, xc=xc, constant=constant)


def _check_rows(reps: Sequence[_Rep], debiased: bool, *, layers: bool) -> int:
    n = reps[0].xc.shape[0]
    for rep in reps[1:]:
        if rep.xc.shape[0] != n:
            raise ActivationError(
                f"Expected the same number of rows (probe inputs) on both sides, got "
                f"{_shape(reps[0].xc)} for {reps[0].where} and {_shape(rep.xc)} for "
                f"{rep.where}; representations compared must hold the activations of the same "
                "probe inputs, in the same order: capture "
                + ("every layer of both runs" if layers else "both runs")
                + " on one probe set, with one row per input."
            )
    n_min = 4 if debiased else 2
    if n < n_min:
        raise ActivationError(
            f"Expected at least {n_min} rows (probe inputs) for debiased={debiased}, got {n} "
            f"for {reps[0].where}; give more probe inputs."
        )
    return int(n)


def _gram_benefit(rep: _Rep, n: int, partner_widths: Sequence[int]) -> float:
    """Work saved (in multiply-adds / n) by caching this representation's ``n x n`` Gram.

    Without a Gram: the self term costs ``n p min(n, p)``, each pair ``n p q`` (half of it
    charged to each side). With one: building it costs ``n^2 p`` (the self term is then free),
    each pair ``n^2`` (half charged to each side). The model assumes the partners have Grams too.
    """
    p = rep.width
    without = p * min(n, p) + p * sum(partner_widths) / 2.0
    with_gram = n * p + len(partner_widths) * n / 2.0
    return without - with_gram


def _choose_grams(reps: Sequence[_Rep], n: int, partners: Sequence[Sequence[int]]) -> list[bool]:
    benefit = [
        -math.inf if rep.constant else _gram_benefit(rep, n, widths)
        for rep, widths in zip(reps, partners, strict=True)
    ]
    budget = _GRAM_BUDGET_BYTES // (8 * n * n)
    chosen = [False] * len(reps)
    for i in sorted(range(len(reps)), key=lambda i: -benefit[i])[:budget]:
        chosen[i] = benefit[i] > 0
    return chosen


def _grams(reps: Sequence[_Rep], n: int) -> NDArray[np.float64]:
    stack = np.empty((len(reps), n * n))
    for i, rep in enumerate(reps):
        np.matmul(rep.xc, rep.xc.T, out=stack[i].reshape(n, n))  # in place, no copy
    return stack


def _frob_sq(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """``||b^T a||_F^2`` for ``a`` of shape (m, p) and ``b`` of shape (m, q), in blocks of
    ``b``'s columns so that no intermediate exceeds ``_BLOCK_BYTES``."""
    step = max(1, _BLOCK_BYTES // (8 * a.shape[1]))
    total = 0.0
    for start in range(0, b.shape[1], step):
        m = b[:, start : start + step].T @ a
        total += float(np.vdot(m, m))
    return total


def _self_term(rep: _Rep) -> float:
    """``tr(K^2) = ||Xc^T Xc||_F^2 = ||Xc Xc^T||_F^2``, in the cheaper space."""
    n, p = rep.xc.shape
    return _frob_sq(rep.xc, rep.xc) if p <= n else _frob_sq(rep.xc.T, rep.xc.T)


def _trace_terms(
    left: Sequence[_Rep], right: Sequence[_Rep] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``T[a, b] = tr(K_a L_b)`` and the self terms ``tr(K_a^2)``, ``tr(L_b^2)``.

    ``right=None``: ``left`` against itself (computed once per unordered pair, exactly
    symmetric).
    """
    n = left[0].xc.shape[0]
    others = left if right is None else right
    widths_l, widths_r = [r.width for r in left], [r.width for r in others]
    if right is None:
        has_gram = _choose_grams(left, n, [widths_l] * len(left))
        gram_l = gram_r = has_gram
    else:
        has_gram = _choose_grams(
            [*left, *right], n, [widths_r] * len(left) + [widths_l] * len(right)
        )
        gram_l, gram_r = has_gram[: len(left)], has_gram[len(left) :]
    self_l, self_r = np.zeros(len(left)), np.zeros(len(others))
    cross = np.zeros((len(left), len(others)))
    done = np.zeros(cross.shape, dtype=bool)

    # Gram space: every pair whose two sides have a cached Gram, in one matrix product.
    gl = [i for i, g in enumerate(gram_l) if g]
    gr = [j for j, g in enumerate(gram_r) if g]
    if gl and gr:
        stack_l = _grams([left[i] for i in gl], n)
        stack_r = stack_l if right is None else _grams([others[j] for j in gr], n)
        cross[np.ix_(gl, gr)] = stack_l @ stack_r.T
        done[np.ix_(gl, gr)] = True
        self_l[gl] = np.einsum("ij,ij->i", stack_l, stack_l)
        self_r[gr] = np.einsum("ij,ij->i", stack_r, stack_r)
        del stack_l, stack_r

    # Feature space: everything else.
    for selfs, reps, grams in ((self_l, left, gram_l), (self_r, others, gram_r)):
        for i, (rep, g) in enumerate(zip(reps, grams, strict=True)):
            if not (g and gl and gr):
                selfs[i] = 0.0 if rep.constant else _self_term(rep)
    for i, a in enumerate(left):
        for j, b in enumerate(others):
            if not (done[i, j] or a.constant or b.constant or (right is None and j < i)):
                cross[i, j] = _frob_sq(a.xc, b.xc)
    if right is None:
        cross = np.triu(cross) + np.triu(cross, 1).T  # exactly symmetric
        self_r = self_l
    return cross, self_l, self_r


def _cka(
    left: Sequence[_Rep], right: Sequence[_Rep] | None, *, debiased: bool
) -> tuple[NDArray[np.float64], list[tuple[_Rep, str]]]:
    """CKA of every layer of ``left`` against every layer of ``right`` (``left`` if None).

    Returns the ``(len(left), len(right))`` matrix and the representations whose CKA is
    undefined, each with the warning kind (they are NaN in the matrix).
    """
    n = left[0].xc.shape[0]
    cross, self_l, self_r = _trace_terms(left, right)
    if debiased:
        d_l = np.stack([np.einsum("ij,ij->i", r.xc, r.xc) for r in left])  # diag(K_a)
        d_r = d_l if right is None else np.stack([np.einsum("ij,ij->i", r.xc, r.xc) for r in right])
        tr_l, tr_r = d_l.sum(axis=1), d_r.sum(axis=1)
        c_rows, c_tr = n / (n - 2.0), 1.0 / ((n - 1.0) * (n - 2.0))
        # HSIC1 times n (n - 3) for centred columns (1^T K 1 = 0), Kornblith et al.'s form.
        num = cross - c_rows * (d_l @ d_r.T) + c_tr * np.outer(tr_l, tr_r)
        sq_l, sq_r = np.sum(d_l * d_l, axis=1), np.sum(d_r * d_r, axis=1)
        scale_l = np.maximum.reduce([self_l, c_rows * sq_l, c_tr * tr_l**2])
        scale_r = np.maximum.reduce([self_r, c_rows * sq_r, c_tr * tr_r**2])
        self_l = self_l - c_rows * sq_l + c_tr * tr_l**2
        self_r = self_r - c_rows * sq_r + c_tr * tr_r**2
        ok_l = self_l > _DEGENERATE_RTOL * scale_l
        ok_r = self_r > _DEGENERATE_RTOL * scale_r
    else:
        num = cross
        ok_l, ok_r = self_l > 0, self_r > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / np.sqrt(np.outer(np.where(ok_l, self_l, 1.0), np.where(ok_r, self_r, 1.0)))
    out[~ok_l, :] = np.nan
    out[:, ~ok_r] = np.nan
    if right is None:
        np.fill_diagonal(out, np.where(ok_l, 1.0, np.nan))
    bad: list[tuple[_Rep, str]] = []
    sides = [(left, ok_l)] if right is None else [(left, ok_l), (right, ok_r)]
    for reps, ok in sides:
        for rep, good in zip(reps, ok, strict=True):
            if not good:
                kind = "constant-representation" if rep.constant else "degenerate-representation"
                bad.append((rep, kind))
    return out, bad


def _warn_undefined(bad: Sequence[tuple[_Rep, str]], *, stacklevel: int) -> None:
    for rep, kind in bad:
        if kind == "constant-representation":
            why = (
                f"{rep.where} is constant (all {rep.xc.shape[0]} rows identical: a dead or "
                "saturated layer, or identical probe inputs), so it has no variance"
            )
        else:
            why = (
                f"{rep.where} is degenerate for the debiased estimator (its unbiased "
                "self-similarity HSIC1(K, K) is zero up to rounding, as when all rows but one "
                "are identical)"
            )
        warnings.warn(
            TdaInterpWarning(
                f"{why}; its CKA is undefined and returned as NaN. Check the layer and the "
                "probe inputs"
                + (", or use debiased=False." if kind == "degenerate-representation" else "."),
                kind=kind,
            ),
            stacklevel=stacklevel + 1,
        )


def linear_cka(X: ArrayLike, Y: ArrayLike, *, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same probe inputs.

    Parameters
    ----------
    X : array-like of shape (n_points, p)
        Activations of one layer, one row per probe input.
    Y : array-like of shape (n_points, q)
        Activations of another layer or model for the same inputs, in the same order; ``q``
        need not equal ``p``.
    debiased : bool, default False
        Use the unbiased HSIC estimator (needs ``n_points >= 4``): no inflation when
        ``n_points`` is small relative to the widths. See the module docstring.

    Returns
    -------
    float
        CKA, 1 for representations equal up to rotation, scaling and translation, near 0 for
        unrelated ones; in ``[0, 1]`` for the biased estimator. NaN, with a
        :class:`~tda_interp.exceptions.TdaInterpWarning`, when a side is constant (or, debiased,
        degenerate). Computed in float64.

    Raises
    ------
    ActivationError
        If an input is not 2-D, holds NaN or Inf, the two row counts differ, or there are fewer
        than 2 rows (4 when ``debiased``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 100))
    >>> Q, _ = np.linalg.qr(rng.normal(size=(100, 100)))
    >>> round(linear_cka(X, 3.0 * X @ Q + 1.0), 6)  # rotated, scaled and shifted
    1.0
    >>> Y = rng.normal(size=(200, 100))  # independent of X: biased CKA is inflated
    >>> round(linear_cka(X, Y), 2)
    0.33
    >>> abs(linear_cka(X, Y, debiased=True)) < 0.02
    True
    >>> linear_cka(X, Y[:150])
    Traceback (most recent call last):
    ...
    tda_interp.exceptions.ActivationError: Expected the same number of rows (probe inputs) ...
    """
    x, y = _prepare(X, "X"), _prepare(Y, "Y")
    _check_rows([x, y], debiased, layers=False)
    out, bad = _cka([x], [y], debiased=debiased)
    _warn_undefined(bad, stacklevel=2)
    return float(out[0, 0])


def cka_matrix(
    acts_a: Mapping[str, ArrayLike],
    acts_b: Mapping[str, ArrayLike] | None = None,
    *,
    debiased: bool = False,
) -> pd.DataFrame:
    """Linear CKA of every layer of one run against every layer of another (or itself).

    Each representation is checked and centred once and reused for all its pairs. A pair is
    computed in feature space (``||Yc^T Xc||_F^2``, cost ``n p q``) or from cached ``n x n`` Gram
    matrices (cost ``n^2`` per pair after ``n^2 p`` per layer), whichever is cheaper for the
    widths and the number of layers (at most 2 GiB of Gram matrices are cached).

    Parameters
    ----------
    acts_a : mapping of str to array-like of shape (n_points, p_layer)
        Layer name -> activations, one row per probe input (e.g. a
        :class:`~tda_interp.hooks.Capture`).
    acts_b : mapping of str to array-like of shape (n_points, q_layer), optional
        The layers to compare with, for the same probe inputs in the same order. ``None``:
        ``acts_a`` against itself (the matrix is then exactly symmetric with diagonal 1).
    debiased : bool, default False
        Use the unbiased HSIC estimator (see :func:`linear_cka`).

    Returns
    -------
    pandas.DataFrame
        Tidy long format, one row per pair, columns ``layer_a``, ``layer_b`` (the names) and
        ``cka`` (float64), ordered by ``layer_a`` then ``layer_b``, each in its mapping's order.
        ``cka`` is NaN, with a :class:`~tda_interp.exceptions.TdaInterpWarning` once per
        layer, for pairs with a constant (or, debiased, degenerate) layer. No rows when a
        mapping is empty. ``df.pivot(index="layer_a", columns="layer_b", values="cka")`` gives
        the square matrix (with sorted labels).

    Raises
    ------
    ActivationError
        If a layer is not 2-D, holds NaN or Inf, or has a different number of rows than the
        first layer of ``acts_a`` (the message names the layer), or there are fewer than 2 rows
        (4 when ``debiased``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 8))
    >>> acts = {"l0": x, "l1": x @ rng.normal(size=(8, 8)), "l2": rng.normal(size=(50, 3))}
    >>> df = cka_matrix(acts)
    >>> df.columns.tolist(), len(df)
    (['layer_a', 'layer_b', 'cka'], 9)
    >>> df.round(2).head(3)
      layer_a layer_b   cka
    0      l0      l0  1.00
    1      l0      l1  0.71
    2      l0      l2  0.06
    """
    if not isinstance(acts_a, Mapping) or not (acts_b is None or isinstance(acts_b, Mapping)):
        got = type(acts_a if not isinstance(acts_a, Mapping) else acts_b).__name__
        raise ActivationError(
            f"Expected a mapping of layer name -> activations, got {got}; pass e.g. "
            '{"blocks.0": array_0, "blocks.1": array_1} or a Capture.'
        )
    names_a, names_b = list(acts_a), list(acts_a if acts_b is None else acts_b)
    if not names_a or not names_b:
        return pd.DataFrame(
            {
                "layer_a": pd.Series([], dtype=object),
                "layer_b": pd.Series([], dtype=object),
                "cka": pd.Series([], dtype=np.float64),
            }
        )
    left = [_prepare(acts_a[k], f"layer {k!r} of acts_a") for k in names_a]
    right = (
        None if acts_b is None else [_prepare(acts_b[k], f"layer {k!r} of acts_b") for k in names_b]
    )
    _check_rows([*left, *(right or [])], debiased, layers=True)
    out, bad = _cka(left, right, debiased=debiased)
    _warn_undefined(bad, stacklevel=2)
    return pd.DataFrame(
        {
            "layer_a": np.repeat(np.array(names_a, dtype=object), len(names_b)),
            "layer_b": np.tile(np.array(names_b, dtype=object), len(names_a)),
            "cka": out.ravel(),
        }
    )
