"""Betti curves on a filtration grid shared by every diagram that is compared."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError

__all__ = ["betti_curve", "betti_number", "shared_grid"]


def _bars(diagram: Diagram, dim: int, relative: bool) -> NDArray[np.float64]:
    bars = np.array(diagram[dim])
    if relative:
        bars = bars / diagram.scale if diagram.scale > 0 else np.zeros_like(bars)
    return bars


def shared_grid(
    diagrams: Sequence[Diagram],
    *,
    n_bins: int = 100,
    relative: bool = True,
    dims: Sequence[int] | None = None,
) -> NDArray[np.float64]:
    """One filtration grid for a collection of diagrams, fitted on all of them together.

    Curves compared across layers, checkpoints or models must share a grid; fitting one per
    diagram makes them incomparable.

    Parameters
    ----------
    diagrams : sequence of Diagram
    n_bins : int, default 100
        Number of grid values.
    relative : bool, default True
        Build the grid on relative filtration values (divided by each diagram's scale); the
        grid then spans ``[0, 1]`` at most, since no finite Rips value exceeds the diameter.
    dims : sequence of int, optional
        Dimensions whose bars set the range; all stored dimensions by default.

    Returns
    -------
    ndarray of shape (n_bins,)
        Increasing values from 0 to the largest of the finite deaths and the scales seen
        (1.0 when relative).

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> shared_grid([d], n_bins=3)
    array([0. , 0.5, 1. ])
    """
    if n_bins < 2:
        raise ActivationError(f"Expected n_bins >= 2 for a filtration grid, got {n_bins}.")
    if relative:
        return np.linspace(0.0, 1.0, n_bins)
    top = 0.0
    for dgm in diagrams:
        for k in dims if dims is not None else range(dgm.maxdim + 1):
            bars = _bars(dgm, k, relative)
            finite = bars[np.isfinite(bars[:, 1]), 1]
            if finite.size:
                top = max(top, float(finite.max()))
            top = max(top, dgm.scale)
    return np.linspace(0.0, top if top > 0 else 1.0, n_bins)


def betti_curve(
    diagram: Diagram, dim: int, grid: NDArray[np.float64], *, relative: bool = True
) -> NDArray[np.int64]:
    """Number of bars of dimension ``dim`` alive at each grid value.

    A bar ``[b, d)`` is alive at ``t`` when ``b <= t < d``; infinite bars count everywhere after
    their birth.

    Parameters
    ----------
    diagram : Diagram
    dim : int
    grid : ndarray of shape (n_bins,)
        Filtration values, e.g. from :func:`shared_grid`.
    relative : bool, default True
        Whether ``grid`` is in relative units (fractions of the diagram's scale).

    Returns
    -------
    ndarray of int of shape (n_bins,)

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> betti_curve(d, 1, np.array([0.0, 0.25, 0.5]))
    array([0, 1, 0])
    """
    bars = _bars(diagram, dim, relative)
    t = np.asarray(grid, dtype=np.float64)[:, None]
    alive = (bars[None, :, 0] <= t) & (t < bars[None, :, 1])
    return alive.sum(axis=1).astype(np.int64)


def betti_number(diagram: Diagram, dim: int, t: float, *, relative: bool = True) -> int:
    """Betti number of dimension ``dim`` at filtration value ``t``."""
    return int(betti_curve(diagram, dim, np.array([t]), relative=relative)[0])
