"""The one persistence-diagram type of tda-interp, and converters to other libraries' formats.

Policy for infinite deaths
--------------------------
A Vietoris-Rips filtration run to the full diameter of a cloud leaves exactly one bar that never
dies: the H0 class of the whole cloud. It is stored with ``death = numpy.inf``; no other
bar is infinite unless the filtration was truncated (``threshold``), in which case those bars are
infinite too. Summaries (lifetimes, counts, entropy, Betti curves) use finite bars only, unless
a function says otherwise. Converters state what they do with infinite bars.

Policy for padding
------------------
A :class:`Diagram` is never padded: ``pairs[k]`` holds exactly the bars of dimension ``k``.
Padding exists only in the giotto-tda format, where every diagram of a collection must have the
same number of points; it pads with points on the diagonal, ``(0, 0, dim)``, which carry zero
persistence and so change no distance and no vectorisation.

Scale
-----
Every diagram carries the ``scale`` of the cloud it came from (its diameter in the metric used,
unless the caller chose another documented scale). Relative lifetimes ``(death - birth) / scale``
are comparable across layers and checkpoints whose activations differ in norm.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.diagrams.provenance import Provenance
from tda_interp.exceptions import ActivationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Diagram", "from_giotto", "to_giotto"]

FloatArray = NDArray[np.float64]

#: Columns of :meth:`Diagram.to_frame`.
FRAME_COLUMNS = ("dim", "birth", "death", "lifetime", "rel_lifetime")


def html_number(value: Any) -> str:
    """A number for a notebook table: 4 significant digits, ``inf``, ``-`` for None or NaN.

    Examples
    --------
    >>> html_number(0.123456), html_number(np.inf), html_number(None), html_number(3)
    ('0.1235', 'inf', '-', '3')
    """
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(value) else f"{float(value):.4g}"
    return str(value)


def html_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain HTML table, every header and cell escaped (numbers by :func:`html_number`).

    Shared by the notebook views (``_repr_html_``) of :class:`Diagram`, the run reader and
    comparisons: no script, no style sheet, nothing loaded.

    Examples
    --------
    >>> html_table(["layer"], [["<b>"]])
    '<table><thead><tr><th>layer</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>'
    """
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(html_number(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _as_pairs(dgm: ArrayLike, dim: int) -> FloatArray:
    arr = np.asarray(dgm, dtype=np.float64)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ActivationError(
            f"Expected the H{dim} bars as an array of shape (n_bars, 2) of (birth, death), "
            f"got shape {arr.shape}."
        )
    if np.isnan(arr).any():
        raise ActivationError(f"The H{dim} bars contain NaN; births and deaths must be numbers.")
    if np.any(arr[:, 1] < arr[:, 0]):
        raise ActivationError(f"Some H{dim} bars die before they are born (death < birth).")
    order = np.lexsort((arr[:, 1], arr[:, 0]))
    out = arr[order]
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Diagram:
    """Persistence diagram of one point cloud, one ``(n_bars, 2)`` array per dimension.

    Parameters
    ----------
    pairs : sequence of array-like of shape (n_bars_k, 2)
        ``pairs[k]`` holds the (birth, death) pairs of dimension ``k``, for ``k = 0 .. maxdim``.
        Deaths may be ``inf`` (see the module's policy). Stored sorted by birth, read-only.
    scale : float
        Reference scale of the cloud (its diameter unless stated otherwise), > 0 for clouds with
        at least two distinct points; used for relative lifetimes.
    n_points : int
        Number of points of the cloud the diagram was computed from.
    provenance : Provenance or None
        How it was computed (view, metric, backend, points used of total, approximation and
        its certificate, cost estimate); ``None`` for a diagram built by hand or read from
        another library. Not compared by ``==``.

    Examples
    --------
    >>> dgm = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> dgm.maxdim
    1
    >>> dgm.lifetimes(1, relative=True)
    array([0.375])
    """

    pairs: tuple[FloatArray, ...]
    scale: float = 1.0
    n_points: int = 0
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        pairs = tuple(_as_pairs(p, k) for k, p in enumerate(self.pairs))
        if not pairs:
            raise ActivationError("A diagram needs bars for at least dimension 0 (maxdim >= 0).")
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "n_points", int(self.n_points))
        if not np.isfinite(self.scale) or self.scale < 0:
            raise ActivationError(f"A diagram's scale must be finite and >= 0, got {self.scale}.")
        if self.provenance is not None and not isinstance(self.provenance, Provenance):
            raise ActivationError(
                f"Expected provenance to be a Provenance or None, got "
                f"{type(self.provenance).__name__}."
            )

    # ------------------------------------------------------------------ basic views
    @property
    def maxdim(self) -> int:
        """Highest homology dimension stored."""
        return len(self.pairs) - 1

    def __getitem__(self, dim: int) -> FloatArray:
        """Bars of dimension ``dim`` as an array of shape (n_bars, 2)."""
        if not 0 <= dim <= self.maxdim:
            raise IndexError(f"This diagram holds dimensions 0..{self.maxdim}, asked for H{dim}.")
        return self.pairs[dim]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diagram):
            return NotImplemented
        return (
            self.maxdim == other.maxdim
            and self.scale == other.scale
            and self.n_points == other.n_points
            and all(np.array_equal(a, b) for a, b in zip(self.pairs, other.pairs, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        counts = ", ".join(f"H{k}: {len(p)}" for k, p in enumerate(self.pairs))
        return f"Diagram({counts}; scale={self.scale:.4g}, n_points={self.n_points})"

    def to_frame(self) -> pd.DataFrame:
        """One tidy row per bar: ``dim, birth, death, lifetime, rel_lifetime``.

        Rows follow ``pairs[dim]`` (sorted by birth), by dimension, so they line up with
        :meth:`SignificanceResult.to_frame <tda_interp.SignificanceResult.to_frame>`.
        ``lifetime`` is ``death - birth`` (``inf`` for a bar that never dies), ``rel_lifetime``
        the same over :attr:`scale` (zeros for a zero-scale cloud).

        Returns
        -------
        pandas.DataFrame of shape (n_bars, 5)
            Columns ``dim`` (int64) and ``birth``, ``death``, ``lifetime``, ``rel_lifetime``
            (float64).

        Examples
        --------
        >>> dgm = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0)
        >>> dgm.to_frame().values.tolist()
        [[0.0, 0.0, 1.0, 1.0, 0.25], [0.0, 0.0, inf, inf, inf], [1.0, 0.5, 2.0, 1.5, 0.375]]
        """
        import pandas as pd

        bars = np.concatenate(self.pairs)
        life = bars[:, 1] - bars[:, 0]
        rel = life / self.scale if self.scale > 0 else np.zeros_like(life)
        dims = np.concatenate(
            [np.full(len(p), k, dtype=np.int64) for k, p in enumerate(self.pairs)]
        )
        return pd.DataFrame(
            {
                "dim": dims,
                "birth": bars[:, 0],
                "death": bars[:, 1],
                "lifetime": life,
                "rel_lifetime": rel,
            },
            columns=list(FRAME_COLUMNS),
        )

    def _repr_html_(self) -> str:
        """Notebook view: bars per dimension, the longest ones, scale, points and provenance.

        Plain escaped HTML: no script, nothing loaded.
        """
        rows = []
        for k in range(self.maxdim + 1):
            rel = self.lifetimes(k, relative=True)
            longest = ", ".join(html_number(x) for x in rel[:3]) + (" ..." if len(rel) > 3 else "")
            rows.append((f"H{k}", len(self[k]), self.n_infinite(k), longest or "-"))
        table = html_table(["dim", "bars", "never die", "longest (lifetime / scale)"], rows)
        head = (
            f"<strong>Diagram</strong>: scale {html.escape(html_number(self.scale))}, "
            f"{self.n_points} points"
        )
        prov = self.provenance
        if prov is None:
            foot = "provenance: none (built by hand or read from another library)"
        else:
            cert = prov.certificate
            bound = "" if cert.bound_rel is None else f", bound {html_number(cert.bound_rel)}"
            foot = (
                f"view {prov.view}, metric {prov.metric}, backend {prov.backend}, "
                f"approximation {prov.approximation}, {self.n_points} of {prov.n_points_total} "
                f"points{' (subsample)' if prov.subsampled else ''}, certificate {cert.kind}"
                f"{bound}"
            )
        return (
            f'<div class="tda-interp-diagram">{head}{table}<small>{html.escape(foot)}</small></div>'
        )

    def finite(self, dim: int) -> FloatArray:
        """Finite bars of dimension ``dim``, shape (n_finite, 2)."""
        bars = self[dim]
        return bars[np.isfinite(bars[:, 1])]

    def n_infinite(self, dim: int) -> int:
        """Number of bars of dimension ``dim`` that never die."""
        return int(np.isinf(self[dim][:, 1]).sum())

    def lifetimes(self, dim: int, *, relative: bool = False) -> FloatArray:
        """Lifetimes ``death - birth`` of the finite bars of dimension ``dim``, descending.

        Parameters
        ----------
        dim : int
            Homology dimension.
        relative : bool, default False
            Divide by :attr:`scale` (the cloud's diameter), so that clouds of different norms
            compare. A zero-scale (single-point or constant) cloud gives zeros.

        Returns
        -------
        ndarray of shape (n_finite,)
        """
        bars = self.finite(dim)
        life = np.sort(bars[:, 1] - bars[:, 0])[::-1]
        if relative:
            life = life / self.scale if self.scale > 0 else np.zeros_like(life)
        return life

    # ------------------------------------------------------------------ converters
    def to_ripser(self) -> list[FloatArray]:
        """ripser.py / persim format: a list of ``(n_bars, 2)`` arrays, infinite deaths kept.

        Returns
        -------
        list of ndarray of shape (n_bars_k, 2), one per dimension ``0 .. maxdim``.
        """
        return [np.array(p) for p in self.pairs]

    @classmethod
    def from_ripser(
        cls,
        dgms: Sequence[ArrayLike],
        *,
        scale: float = 1.0,
        n_points: int = 0,
        provenance: Provenance | None = None,
    ) -> Diagram:
        """Build a diagram from ripser.py's ``result["dgms"]`` list."""
        return cls(
            pairs=tuple(np.asarray(d, dtype=np.float64) for d in dgms),
            scale=scale,
            n_points=n_points,
            provenance=provenance,
        )


def to_giotto(
    diagrams: Sequence[Diagram],
    *,
    infinity_value: float | None = None,
    reduced: bool = True,
) -> FloatArray:
    """Convert diagrams to giotto-tda's ``(n_samples, n_points, 3)`` array of (birth, death, dim).

    Parameters
    ----------
    diagrams : sequence of Diagram
        The diagrams of a collection; they must share ``maxdim``.
    infinity_value : float, optional
        Death given to infinite bars that are kept. ``None`` uses each diagram's ``scale``,
        as giotto-tda uses the filtration's maximal edge length.
    reduced : bool, default True
        Drop the one essential H0 bar of each diagram (reduced homology), as giotto-tda's
        ``VietorisRipsPersistence(reduced_homology=True)`` does by default.

    Returns
    -------
    ndarray of shape (n_samples, n_points, 3)
        Dimensions appear in increasing order; each dimension is padded to the largest count in
        the collection with diagonal points ``(0, 0, dim)``, so that every sample holds at least
        one point of every dimension, as giotto-tda requires.

    Examples
    --------
    >>> d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]], [[0.5, 2.0]]], scale=4.0, n_points=2)
    >>> to_giotto([d]).shape
    (1, 2, 3)
    """
    if len(diagrams) == 0:
        return np.empty((0, 0, 3), dtype=np.float64)
    maxdims = {d.maxdim for d in diagrams}
    if len(maxdims) != 1:
        raise ActivationError(
            f"Expected diagrams that share one maxdim, got maxdims {sorted(maxdims)}; "
            "compute them with the same maxdim."
        )
    maxdim = maxdims.pop()
    per_dim: list[list[FloatArray]] = [[] for _ in range(maxdim + 1)]
    for dgm in diagrams:
        for k in range(maxdim + 1):
            bars = np.array(dgm[k])
            inf = np.isinf(bars[:, 1])
            if reduced and k == 0 and inf.any():
                drop = np.flatnonzero(inf)[:1]
                bars = np.delete(bars, drop, axis=0)
                inf = np.isinf(bars[:, 1])
            bars[inf, 1] = dgm.scale if infinity_value is None else infinity_value
            per_dim[k].append(bars)
    widths = [max(1, max(len(b) for b in per_dim[k])) for k in range(maxdim + 1)]
    out = np.zeros((len(diagrams), sum(widths), 3), dtype=np.float64)
    offset = 0
    for k, width in enumerate(widths):
        out[:, offset : offset + width, 2] = k
        for i, bars in enumerate(per_dim[k]):
            out[i, offset : offset + len(bars), :2] = bars
        offset += width
    return out


def from_giotto(X: ArrayLike, *, scales: Sequence[float] | None = None) -> list[Diagram]:
    """Read giotto-tda's ``(n_samples, n_points, 3)`` array back into diagrams.

    Diagonal points (birth == death) are taken for padding and dropped. The essential H0 bar
    that giotto-tda drops (reduced homology) is not restored.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_points, 3)
    scales : sequence of float, optional
        Scale of each sample's cloud; 1.0 when not given.

    Returns
    -------
    list of Diagram
    """
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ActivationError(
            f"Expected a giotto-tda array of shape (n_samples, n_points, 3), got {arr.shape}."
        )
    maxdim = int(arr[..., 2].max()) if arr.size else 0
    out = []
    for i, sample in enumerate(arr):
        keep = sample[sample[:, 0] != sample[:, 1]]
        pairs = [keep[keep[:, 2] == k][:, :2] for k in range(maxdim + 1)]
        scale = 1.0 if scales is None else float(scales[i])
        out.append(Diagram(pairs=tuple(pairs), scale=scale, n_points=0))
    return out
