"""Views: what the points are, before distances are taken.

Raw high-dimensional activations often show no topology at all; a circle may live in the plane
of one pair of principal components. A view is named by a short string, recorded in the run:

``"raw"``
    The activations as captured.
``"centered"``
    Mean removed (distances unchanged; kept for explicitness).
``"pca<k>"`` (e.g. ``"pca10"``)
    Projection onto the first ``k`` principal components.
``"pc<i>-<j>"`` (e.g. ``"pc1-2"``, ``"pc3-4"``)
    Projection onto the plane of principal components ``i`` and ``j`` (1-based).

:func:`expand_views` turns ``"pc_pairs<m>"`` into the first ``m`` consecutive pairs
(``pc1-2``, ``pc3-4``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.exceptions import ActivationError, ConfigError

__all__ = ["View", "apply_view", "expand_views", "parse_view"]

_PCA = re.compile(r"^pca(\d+)$")
_PAIR = re.compile(r"^pc(\d+)-(\d+)$")
_PAIRS = re.compile(r"^pc_pairs(\d+)$")


@dataclass(frozen=True)
class View:
    """A parsed view: ``kind`` is "raw", "centered" or "pca"; ``components`` are 0-based."""

    name: str
    kind: str
    components: tuple[int, ...] = ()


def parse_view(name: str) -> View:
    """Parse a view name (see the module docstring).

    Examples
    --------
    >>> parse_view("pc3-4")
    View(name='pc3-4', kind='pca', components=(2, 3))
    """
    text = str(name).strip().lower()
    if text in ("raw", "centered"):
        return View(name=text, kind=text)
    if m := _PCA.match(text):
        k = int(m.group(1))
        if k < 1:
            raise ConfigError(f"View {name!r}: the number of components must be >= 1.")
        return View(name=text, kind="pca", components=tuple(range(k)))
    if m := _PAIR.match(text):
        i, j = int(m.group(1)), int(m.group(2))
        if i < 1 or j < 1 or i == j:
            raise ConfigError(
                f"View {name!r}: expected two distinct 1-based component numbers, e.g. 'pc1-2'."
            )
        return View(name=text, kind="pca", components=(i - 1, j - 1))
    raise ConfigError(
        f"Unknown view {name!r}; expected 'raw', 'centered', 'pca<k>' (e.g. 'pca10'), "
        "'pc<i>-<j>' (e.g. 'pc1-2') or 'pc_pairs<m>' (e.g. 'pc_pairs3')."
    )


def expand_views(names: Sequence[str]) -> list[str]:
    """Expand ``"pc_pairsM"`` shorthands and check every name; duplicates are removed.

    Examples
    --------
    >>> expand_views(["raw", "pc_pairs2"])
    ['raw', 'pc1-2', 'pc3-4']
    """
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for name in names:
        text = str(name).strip().lower()
        if m := _PAIRS.match(text):
            expanded = [f"pc{2 * i + 1}-{2 * i + 2}" for i in range(int(m.group(1)))]
        else:
            expanded = [parse_view(text).name]
        out.extend(v for v in expanded if v not in out)
    if not out:
        raise ConfigError("Expected at least one view, e.g. views = ['raw', 'pc1-2'].")
    return out


def apply_view(X: ArrayLike, view: str | View) -> NDArray[np.float64]:
    """Map a cloud to the points of a view.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    view : str or View

    Returns
    -------
    ndarray of shape (n_points, n_view_features), float64

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> apply_view(rng.normal(size=(10, 5)), "pc1-2").shape
    (10, 2)
    """
    v = parse_view(view) if isinstance(view, str) else view
    pts = np.asarray(X, dtype=np.float64)
    if v.kind == "raw":
        return pts
    centred = pts - pts.mean(axis=0, keepdims=True)
    if v.kind == "centered":
        return centred
    need = max(v.components) + 1
    rank_cap = min(pts.shape[0], pts.shape[1])
    if need > rank_cap:
        raise ActivationError(
            f"View {v.name!r} needs principal component {need}, but a cloud of shape "
            f"{pts.shape} has at most {rank_cap}; choose a smaller view or capture more "
            "points/features."
        )
    # Thin SVD: right singular vectors are the principal axes, in decreasing variance order.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[list(v.components)]
    # Fix the sign of each axis (largest-magnitude loading positive) so views are deterministic.
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1.0
    return centred @ (axes * signs[:, None]).T
