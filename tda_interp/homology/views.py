"""Views: what the points are, before distances are taken.

Raw high-dimensional activations often show no topology at all; a circle may live in the plane
of one pair of principal components. A view is named by a short string, recorded with every
result of a run:

``"raw"``
    The activations as captured.
``"centered"``
    Mean removed (distances unchanged; kept for explicitness).
``"standardized"``
    Each feature centred and scaled to unit variance (constant features are only centred).
``"pca<k>"`` (e.g. ``"pca10"``)
    Projection onto the first ``k`` principal components.
``"pc<i>-<j>"`` (e.g. ``"pc1-2"``, ``"pc3-4"``)
    Projection onto the plane of principal components ``i`` and ``j`` (1-based).
``"neurons"``
    Neurons as points: each unit (column) becomes a point described by its activations over
    the probe set, compared with the distance ``1 - |correlation|`` (the view's metric), so that
    units that fire together or in opposition are close.
``"project:<file.npy>"``
    Projection onto the columns of a user matrix of shape (n_features, k) saved with
    :func:`numpy.save`; in Python, :func:`projection_view` takes the matrix directly and
    :func:`callable_view` any picklable function ``(n_points, n_features) -> (n_points, k)``.

:func:`expand_views` turns ``"pc_pairs<m>"`` into the first ``m`` consecutive pairs
(``pc1-2``, ``pc3-4``, ...).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.exceptions import ActivationError, ConfigError

__all__ = [
    "View",
    "ViewKind",
    "ViewLike",
    "apply_view",
    "callable_view",
    "expand_views",
    "parse_view",
    "projection_view",
    "resolve_views",
    "view_name",
]

ViewKind = Literal[
    "raw", "centered", "standardized", "pca", "neurons", "projection", "callable"
]  # fmt: skip

_PCA = re.compile(r"^pca(\d+)$")
_PAIR = re.compile(r"^pc(\d+)-(\d+)$")
_PAIRS = re.compile(r"^pc_pairs(\d+)$")
_PROJECT = "project:"
_FORMS = (
    "'raw', 'centered', 'standardized', 'pca<k>' (e.g. 'pca10'), 'pc<i>-<j>' (e.g. 'pc1-2'), "
    "'pc_pairs<m>' (e.g. 'pc_pairs3'), 'neurons' or 'project:<file.npy>'"
)


@dataclass(frozen=True)
class View:
    """A parsed view.

    Attributes
    ----------
    name : str
        The name recorded in runs (for projections it includes a hash of the matrix).
    kind : {"raw", "centered", "standardized", "pca", "neurons", "projection", "callable"}
    components : tuple of int
        0-based principal components, for ``kind == "pca"``.
    matrix : ndarray of shape (n_features, k), optional
        For ``kind == "projection"``.
    func : callable, optional
        For ``kind == "callable"``; must be picklable to run in worker processes.
    metric : str, optional
        The distance the view implies (``"abs_correlation"`` for ``"neurons"``); ``None``
        leaves the caller's metric.
    source : str, optional
        The file a ``project:`` view was read from (named in messages, not compared).
    """

    name: str
    kind: ViewKind
    components: tuple[int, ...] = ()
    matrix: NDArray[np.float64] | None = field(default=None, compare=False, repr=False)
    func: Callable[[NDArray[np.float64]], ArrayLike] | None = field(
        default=None, compare=False, repr=False
    )
    metric: str | None = None
    source: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """How messages name the view: its name, and the file it was read from."""
        return self.name if self.source is None else f"{self.name} (from {self.source})"


ViewLike = str | View


def projection_view(matrix: ArrayLike, name: str | None = None) -> View:
    """A view projecting onto the columns of ``matrix``.

    Parameters
    ----------
    matrix : array-like of shape (n_features, k)
    name : str, optional
        Recorded name; by default ``"project:<sha256 prefix of the matrix>"``, so two runs with
        different matrices never share a name.

    Examples
    --------
    >>> v = projection_view(np.eye(3)[:, :2])
    >>> apply_view(np.arange(6.0).reshape(2, 3), v)
    array([[0., 1.],
           [3., 4.]])
    """
    mat = np.asarray(matrix, dtype=np.float64)
    if mat.ndim != 2 or mat.shape[1] < 1 or not np.isfinite(mat).all():
        raise ConfigError(
            f"Expected a finite projection matrix of shape (n_features, k), got shape "
            f"{mat.shape}; save it with numpy.save(path, matrix)."
        )
    digest = hashlib.sha256(np.ascontiguousarray(mat).tobytes() + str(mat.shape).encode())
    label = name if name is not None else f"{_PROJECT}{digest.hexdigest()[:12]}"
    return View(name=label, kind="projection", matrix=mat)


def callable_view(func: Callable[[NDArray[np.float64]], ArrayLike], name: str) -> View:
    """A view computed by ``func(X) -> points``; ``name`` is what runs record.

    Examples
    --------
    >>> v = callable_view(np.abs, "abs")
    >>> apply_view(np.array([[-1.0, 2.0]]), v)
    array([[1., 2.]])
    """
    if not callable(func):
        raise ConfigError(f"callable_view expects a function, got {type(func).__name__}.")
    if not name or not isinstance(name, str):
        raise ConfigError("callable_view needs a non-empty name to record in the run.")
    return View(name=name, kind="callable", func=func)


def parse_view(view: ViewLike, *, base_dir: Path | None = None) -> View:
    """Parse a view name (see the module docstring); a :class:`View` passes through.

    Parameters
    ----------
    view : str or View
    base_dir : Path, optional
        Directory against which a relative ``project:<file.npy>`` path is resolved.

    Examples
    --------
    >>> parse_view("pc3-4")
    View(name='pc3-4', kind='pca', components=(2, 3), metric=None, source=None)
    """
    if isinstance(view, View):
        return view
    raw = str(view).strip()
    if raw.lower().startswith(_PROJECT):
        path = Path(raw[len(_PROJECT) :])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"View {raw!r}: cannot read a projection matrix from {str(path)!r} ({err}); "
                "save one with numpy.save(path, matrix)."
            ) from err
        try:
            return replace(projection_view(matrix), source=str(path))
        except ConfigError as err:
            raise ConfigError(f"View {raw!r} ({str(path)!r}): {err}") from err
    text = raw.lower()
    if text in ("raw", "centered", "standardized"):
        return View(name=text, kind=text)  # type: ignore[arg-type]
    if text == "neurons":
        return View(name=text, kind="neurons", metric="abs_correlation")
    if m := _PCA.match(text):
        k = int(m.group(1))
        if k < 1:
            raise ConfigError(f"View {view!r}: the number of components must be >= 1.")
        return View(name=text, kind="pca", components=tuple(range(k)))
    if m := _PAIR.match(text):
        i, j = int(m.group(1)), int(m.group(2))
        if i < 1 or j < 1 or i == j:
            raise ConfigError(
                f"View {view!r}: expected two distinct 1-based component numbers, e.g. 'pc1-2'."
            )
        return View(name=text, kind="pca", components=(i - 1, j - 1))
    raise ConfigError(f"Unknown view {view!r}; expected {_FORMS}.")


def view_name(view: ViewLike) -> str:
    """The name a view is recorded under."""
    return parse_view(view).name


def resolve_views(
    views: Sequence[ViewLike] | ViewLike, *, base_dir: Path | None = None
) -> list[View]:
    """Parse views, expanding ``"pc_pairsM"`` shorthands; duplicates (by name) are removed.

    Parameters
    ----------
    views : str, View, or a sequence of them
    base_dir : Path, optional
        Directory against which relative ``project:<file.npy>`` paths are resolved.

    Examples
    --------
    >>> [v.name for v in resolve_views(["raw", "pc_pairs2"])]
    ['raw', 'pc1-2', 'pc3-4']
    """
    items: Sequence[ViewLike] = [views] if isinstance(views, str | View) else views
    out: dict[str, View] = {}
    for item in items:
        if not isinstance(item, View) and (m := _PAIRS.match(str(item).strip().lower())):
            parsed = [parse_view(f"pc{2 * i + 1}-{2 * i + 2}") for i in range(int(m.group(1)))]
        else:
            parsed = [parse_view(item, base_dir=base_dir)]
        for view in parsed:
            out.setdefault(view.name, view)
    if not out:
        raise ConfigError("Expected at least one view, e.g. views = ['raw', 'pc1-2'].")
    return list(out.values())


def expand_views(views: Sequence[ViewLike] | ViewLike) -> list[str]:
    """Names of :func:`resolve_views`.

    Examples
    --------
    >>> expand_views(["raw", "pc_pairs2"])
    ['raw', 'pc1-2', 'pc3-4']
    """
    return [v.name for v in resolve_views(views)]


def _principal_axes(centred: NDArray[np.float64], view: View) -> NDArray[np.float64]:
    need = max(view.components) + 1
    rank_cap = min(centred.shape[0], centred.shape[1])
    if need > rank_cap:
        raise ActivationError(
            f"View {view.name!r} needs principal component {need}, but a cloud of shape "
            f"{centred.shape} has at most {rank_cap}; choose a smaller view or capture more "
            "points/features."
        )
    # Thin SVD: right singular vectors are the principal axes, in decreasing variance order.
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[list(view.components)]
    # Fix the sign of each axis (largest-magnitude loading positive) so views are deterministic.
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1.0
    out: NDArray[np.float64] = axes * signs[:, None]
    return out


def apply_view(X: ArrayLike, view: ViewLike) -> NDArray[np.float64]:
    """Map a cloud to the points of a view.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features)
    view : str or View

    Returns
    -------
    ndarray of shape (n_view_points, n_view_features), float64
        ``n_view_points == n_points`` for every view but ``"neurons"``, whose points are the
        ``n_features`` units, each described by its ``n_points`` activations.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> apply_view(rng.normal(size=(10, 5)), "pc1-2").shape
    (10, 2)
    >>> apply_view(rng.normal(size=(10, 5)), "neurons").shape
    (5, 10)
    """
    v = parse_view(view)
    pts = np.asarray(X, dtype=np.float64)
    if v.kind == "raw":
        return pts
    if v.kind == "neurons":
        return np.ascontiguousarray(pts.T)
    if (v.kind == "projection" and v.matrix is None) or (v.kind == "callable" and v.func is None):
        raise ConfigError(
            f"View {v.name!r} of kind {v.kind!r} has no matrix/function; build it with "
            "projection_view(matrix) or callable_view(func, name)."
        )
    if v.kind == "projection" and v.matrix is not None:
        if v.matrix.shape[0] != pts.shape[1]:
            raise ActivationError(
                f"View {v.label!r} projects from {v.matrix.shape[0]} features, but the cloud "
                f"has {pts.shape[1]}; build the matrix for this layer's width."
            )
        return pts @ v.matrix
    if v.kind == "callable" and v.func is not None:
        out = np.asarray(v.func(pts), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] != pts.shape[0]:
            raise ActivationError(
                f"View {v.name!r} returned shape {out.shape}; expected (n_points, k) with "
                f"n_points = {pts.shape[0]}."
            )
        return out
    centred = pts - pts.mean(axis=0, keepdims=True)
    if v.kind == "centered":
        return centred
    if v.kind == "standardized":
        std = centred.std(axis=0, keepdims=True)
        return centred / np.where(std > 0, std, 1.0)
    return centred @ _principal_axes(centred, v).T
