"""Scale-free numbers that summarise a diagram, as tidy rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tda_interp.diagrams.betti import betti_curve
from tda_interp.diagrams.diagram import Diagram
from tda_interp.options.run import (
    DEFAULT_BETTI_SCALES,
    DEFAULT_LONG_BAR,
    SummaryOptions,
    betti_column,
)

if TYPE_CHECKING:
    from tda_interp.homology.significance import SignificanceResult

__all__ = [
    "BETTI_SCALES",
    "DEFAULT_LONG_BAR",
    "betti_column",
    "persistent_entropy",
    "significant_betti",
    "summarize",
]

#: Relative filtration values (fractions of the diameter) at which :func:`summarize` reports
#: Betti numbers by default, as columns ``betti_at_0.10``, ``betti_at_0.25``,
#: ``betti_at_0.50`` (``SummaryOptions.betti_scales`` chooses others).
BETTI_SCALES = DEFAULT_BETTI_SCALES


def persistent_entropy(lifetimes: np.ndarray) -> float:
    """Shannon entropy (nats) of the normalised lifetimes; 0.0 for fewer than two bars.

    Examples
    --------
    >>> round(persistent_entropy(np.array([1.0, 1.0])), 4)
    0.6931
    """
    life = np.asarray(lifetimes, dtype=np.float64)
    life = life[life > 0]
    if life.size < 2:
        return 0.0
    p = life / life.sum()
    return float(-(p * np.log(p)).sum())


def significant_betti(diagram: Diagram, n_significant: Sequence[int]) -> tuple[int, ...]:
    """Betti numbers of the significant features: ``n_significant[k]`` plus the essential
    classes of ``H_k`` (the infinite H0 bar: the whole cloud is one cluster before any split).

    Parameters
    ----------
    diagram : Diagram
    n_significant : sequence of int, one per dimension
        Significant finite bars per dimension.

    Returns
    -------
    tuple of int, one per dimension

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> significant_betti(d, [1, 1])
    (2, 1)
    """
    return tuple(int(n) + diagram.n_infinite(k) for k, n in enumerate(n_significant))


def summarize(
    diagram: Diagram,
    options: SummaryOptions | None = None,
    *,
    significance: SignificanceResult | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """One row of summaries per homology dimension.

    Parameters
    ----------
    diagram : Diagram
    options : SummaryOptions, optional
    significance : SignificanceResult, optional
        Calls on the bars of ``diagram`` (see :func:`tda_interp.homology.significance`); adds
        ``n_significant`` and ``betti_significant``.
    **overrides
        Fields of :class:`~tda_interp.options.SummaryOptions`: ``long_bar`` (default 0.25),
        the relative-lifetime threshold of ``n_long``; ``betti_scales`` (default
        ``(0.1, 0.25, 0.5)``), the relative scales of the ``betti_at_<t>`` columns.

    Returns
    -------
    list of dict, one per dimension, with keys
        ``dim``; ``n_bars`` (finite), ``n_infinite``; ``n_long`` (finite bars whose relative
        lifetime exceeds ``long_bar``); ``max_persistence`` (absolute);
        ``max_rel_persistence``, ``second_rel_persistence``, ``total_rel_persistence``
        (relative to the scale); ``entropy``; ``scale``; ``n_points``; ``bound_rel``, the
        certified bottleneck distance to the exact diagram over (a lower bound of) the full
        cloud's diameter: 0 when exact, None when unknown (a uniform subsample, or a diagram
        without provenance). A bar longer than twice the absolute bound
        (``diagram.provenance.certificate.bound``) has a partner in the exact diagram
        (``scale``, the landmarks' diameter, can be smaller than the full cloud's, so compare
        absolute lifetimes); ``betti_at_<t>``, the Betti number at relative filtration value
        ``t``, for each ``t`` in ``betti_scales`` (named by :func:`betti_column`); with
        ``significance``, also
        ``n_significant`` (significant finite bars) and ``betti_significant``, the Betti number
        of the significant features (:func:`significant_betti`: clusters for H0, significant
        bars above).

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> summarize(d)[1]["n_long"]
    1
    >>> summarize(d, long_bar=0.5)[1]["n_long"]
    0
    >>> summarize(d, betti_scales=[0.125, 1.0])[0]["betti_at_0.125"]
    2
    """
    opts = SummaryOptions.resolve(options, overrides, caller="summarize()")
    rows = []
    provenance = diagram.provenance
    bound_rel = None if provenance is None else provenance.certificate.bound_rel
    calls = None if significance is None else significance.n_significant
    scales = opts.betti_scales
    betti_sig = None if calls is None else significant_betti(diagram, calls)
    for k in range(diagram.maxdim + 1):
        life = diagram.lifetimes(k)
        rel = diagram.lifetimes(k, relative=True)
        rows.append(
            {
                "dim": k,
                "n_bars": int(life.size),
                "n_infinite": diagram.n_infinite(k),
                "n_long": int((rel > opts.long_bar).sum()),
                "max_persistence": float(life[0]) if life.size else 0.0,
                "max_rel_persistence": float(rel[0]) if rel.size else 0.0,
                "second_rel_persistence": float(rel[1]) if rel.size > 1 else 0.0,
                "total_rel_persistence": float(rel.sum()),
                "entropy": persistent_entropy(life),
                "scale": diagram.scale,
                "n_points": diagram.n_points,
                "bound_rel": None if bound_rel is None else float(bound_rel),
            }
            | {
                betti_column(t): int(b)
                for t, b in zip(scales, betti_curve(diagram, k, np.array(scales)), strict=True)
            }
            | (
                {"n_significant": int(calls[k]), "betti_significant": betti_sig[k]}
                if calls is not None and betti_sig is not None
                else {}
            )
        )
    return rows
