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
``"units:<indices>"`` (e.g. ``"units:0,5,7"``, ``"units:0-63"``, ``"units:0-3,8"``)
    The columns (units) with these 0-based indices; ranges include both ends. The view is
    recorded as its sorted index list (``"units:0-3,8"``).
``"units:<file.npy>"``
    The units of a mask saved with :func:`numpy.save`: a boolean array of shape
    (n_features,) (or a 1-D integer array of indices), read once; recorded as its index list
    (``"units:<k>#<hash>"`` when that list is long).
``"factory:<file.py:function>"`` or ``"factory:<package.module:function>"``
    A view chosen at every checkpoint from the model: ``function(model, layer, activations)``
    is called with the checkpoint's weights loaded, the layer's name and its activations of
    shape (n_points, n_features), and returns the units to keep (a boolean mask of shape
    (n_features,), or indices), a projection matrix of shape (n_features, k), or a
    ``units:``/``project:`` view. It is recorded under this one name at every checkpoint;
    :func:`bind_view` makes the view of one checkpoint, :func:`factory_view` takes the
    function directly.

:func:`expand_views` turns ``"pc_pairs<m>"`` into the first ``m`` consecutive pairs
(``pc1-2``, ``pc3-4``, ...).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tda_interp.exceptions import ActivationError, ConfigError

__all__ = [
    "View",
    "ViewKind",
    "ViewLike",
    "ViewFactory",
    "apply_view",
    "bind_view",
    "callable_view",
    "expand_views",
    "factory_view",
    "parse_view",
    "projection_view",
    "resolve_views",
    "units_view",
    "view_name",
]

ViewKind = Literal[
    "raw", "centered", "standardized", "pca", "neurons", "projection", "callable", "units",
    "factory",
]  # fmt: skip

#: ``factory(model, layer, activations)`` -> the units to keep (boolean mask of shape
#: (n_features,) or indices), a projection matrix (n_features, k), or a units/projection view.
ViewFactory = Callable[[Any, str, NDArray[np.float64]], Any]

_PCA = re.compile(r"^pca(\d+)$")
_PAIR = re.compile(r"^pc(\d+)-(\d+)$")
_PAIRS = re.compile(r"^pc_pairs(\d+)$")
_PROJECT = "project:"
_UNITS = "units:"
_FACTORY = "factory:"
_INDEX_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
_UNITS_HASHED = re.compile(r"^\d+#[0-9a-f]{12}$")
_MAX_UNITS_NAME = 80  # longer index lists are recorded as "units:<k>#<hash>"
_FORMS = (
    "'raw', 'centered', 'standardized', 'pca<k>' (e.g. 'pca10'), 'pc<i>-<j>' (e.g. 'pc1-2'), "
    "'pc_pairs<m>' (e.g. 'pc_pairs3'), 'neurons', 'project:<file.npy>', 'units:<indices>' "
    "(e.g. 'units:0-63'), 'units:<mask.npy>' or 'factory:<file.py:function>'"
)
_UNITS_FORMS = (
    "0-based unit indices and inclusive ranges like 'units:0,5,7' or 'units:0-63', or a mask "
    "file like 'units:mask.npy' (a boolean array of shape (n_features,) saved with numpy.save)"
)


@dataclass(frozen=True)
class View:
    """A parsed view.

    Attributes
    ----------
    name : str
        The name recorded in runs (for projections it includes a hash of the matrix).
    kind : str
        One of "raw", "centered", "standardized", "pca", "neurons", "projection",
        "callable", "units", "factory" (:data:`ViewKind`).
    components : tuple of int
        0-based principal components, for ``kind == "pca"``; 0-based unit indices, sorted,
        for ``kind == "units"``.
    matrix : ndarray of shape (n_features, k), optional
        For ``kind == "projection"``.
    func : callable, optional
        For ``kind == "callable"``; must be picklable to run in worker processes. For
        ``kind == "factory"``, the :data:`ViewFactory` given in Python (``None``: imported
        from ``source``).
    metric : str, optional
        The distance the view implies (``"abs_correlation"`` for ``"neurons"``); ``None``
        leaves the caller's metric.
    source : str, optional
        The file a ``project:`` or ``units:`` view was read from, the factory of a
        ``factory:`` view (absolute), or what a bound factory view chose (named in messages,
        not compared).
    width : int, optional
        For a ``units:`` mask, the number of units it was made for (checked against the
        cloud).
    """

    name: str
    kind: ViewKind
    components: tuple[int, ...] = ()
    matrix: NDArray[np.float64] | None = field(default=None, compare=False, repr=False)
    func: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    metric: str | None = None
    source: str | None = field(default=None, compare=False)
    width: int | None = field(default=None, compare=False, repr=False)

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


def _units_name(indices: Sequence[int]) -> str:
    """``"units:0-3,8"``: sorted indices, runs written as inclusive ranges; a long list as
    ``"units:<k>#<sha256 prefix>"`` (a file name must stay short)."""
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    text = ",".join(parts)
    if len(text) <= _MAX_UNITS_NAME:
        return f"{_UNITS}{text}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{_UNITS}{len(indices)}#{digest}"


def units_view(units: ArrayLike, *, name: str | None = None) -> View:
    """A view keeping some units (columns) of the activations.

    Parameters
    ----------
    units : array-like of int, or of bool with shape (n_features,)
        0-based indices of the units to keep (any order, no repeats), or a boolean mask.
    name : str, optional
        Recorded name; by default the sorted index list, e.g. ``"units:0-3,8"``.

    Raises
    ------
    ConfigError
        No unit selected, a negative or repeated index, or not a 1-D array of ints or bools.

    Examples
    --------
    >>> v = units_view([5, 0, 1])
    >>> v.name
    'units:0-1,5'
    >>> apply_view(np.arange(12.0).reshape(2, 6), v)
    array([[ 0.,  1.,  5.],
           [ 6.,  7., 11.]])
    >>> units_view(np.array([True, False, True])).name
    'units:0,2'
    """
    arr = np.asarray(units)
    width = None
    if arr.ndim == 1 and arr.dtype == np.bool_:
        width, arr = int(arr.size), np.flatnonzero(arr)
    elif arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ConfigError(
            f"Expected units as a 1-D array of 0-based indices or a boolean mask of shape "
            f"(n_features,), got an array of dtype {arr.dtype} and shape {arr.shape}; pass e.g. "
            "[0, 5, 7] or mask.astype(bool)."
        )
    indices = [int(i) for i in arr]
    if not indices:
        raise ConfigError("Expected at least one unit, got none; select one or more units.")
    if min(indices) < 0:
        raise ConfigError(
            f"Expected 0-based unit indices >= 0, got {min(indices)}; count units from 0."
        )
    repeated = sorted({i for i in indices if indices.count(i) > 1})
    if repeated:
        raise ConfigError(
            f"Unit(s) {repeated[:5]} are listed more than once; list each unit once (a 0/1 "
            "mask saved as integers reads as indices: save mask.astype(bool))."
        )
    ordered = tuple(sorted(indices))
    label = name if name is not None else _units_name(ordered)
    return View(name=label, kind="units", components=ordered, width=width)


def factory_view(func: ViewFactory, name: str) -> View:
    """A view chosen at every checkpoint by ``func(model, layer, activations)``.

    See :func:`bind_view` for what ``func`` receives and may return. ``name`` is what runs
    record at every checkpoint; give different functions different names.

    Examples
    --------
    >>> def two_loudest(model, layer, activations):
    ...     return np.argsort(activations.var(axis=0))[-2:]
    >>> v = factory_view(two_loudest, "loudest2")
    >>> X = np.random.default_rng(0).normal(size=(20, 4)) * [1.0, 5.0, 1.0, 3.0]
    >>> bind_view(v, model=None, layer="fc", points=X).source
    'units 1, 3 of 4 chosen by loudest2'
    """
    if not callable(func):
        raise ConfigError(f"factory_view expects a function, got {type(func).__name__}.")
    if not name or not isinstance(name, str):
        raise ConfigError("factory_view needs a non-empty name to record in the run.")
    return View(name=name, kind="factory", func=func)


def _parse_units(raw: str, base_dir: Path | None) -> View:
    arg = raw[len(_UNITS) :].strip()
    compact = re.sub(r"\s+", "", arg)
    if _INDEX_LIST.match(compact):
        indices: list[int] = []
        for part in compact.split(","):
            lo, _, hi = part.partition("-")
            if hi and int(hi) < int(lo):
                raise ConfigError(
                    f"View {raw!r}: the range {part!r} ends before it starts; write "
                    f"'{hi}-{lo}' (ranges include both ends)."
                )
            indices.extend(range(int(lo), int(hi or lo) + 1))
        try:
            return units_view(indices)
        except ConfigError as err:
            raise ConfigError(f"View {raw!r}: {err}") from err
    if _UNITS_HASHED.match(compact):
        raise ConfigError(
            f"View {raw!r} names a long unit selection by its hash, as runs record it; select "
            "the units again with their mask file ('units:<mask.npy>') or indices."
        )
    if not arg.lower().endswith(".npy"):
        raise ConfigError(f"View {raw!r}: expected {_UNITS_FORMS}.")
    return _view_from_file(raw, arg, base_dir, "a unit mask", "mask", units_view)


def _view_from_file(
    raw: str,
    arg: str,
    base_dir: Path | None,
    what: str,
    name: str,
    build: Callable[[NDArray[Any]], View],
) -> View:
    """``build(numpy.load(arg))`` for a ``units:<mask.npy>`` or ``project:<matrix.npy>`` view,
    with ``arg`` relative to ``base_dir``; the file is the view's ``source``."""
    path = Path(arg).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"View {raw!r}: cannot read {what} from {str(path)!r} ({err}); save one with "
            f"numpy.save(path, {name}) (a path relative to the config file's folder)."
        ) from err
    try:
        return replace(build(array), source=str(path))
    except ConfigError as err:
        raise ConfigError(f"View {raw!r} ({str(path)!r}): {err}") from err


def _parse_factory(raw: str, base_dir: Path | None) -> View:
    spec = raw[len(_FACTORY) :].strip()
    module_part, _, attr = spec.rpartition(":")
    if not module_part or not attr:
        raise ConfigError(
            f"View {raw!r}: expected 'factory:<file.py:function>' or "
            "'factory:<package.module:function>', e.g. 'factory:select.py:fourier_units'."
        )
    source = spec
    if module_part.endswith(".py"):
        file = Path(module_part).expanduser()
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        if not file.is_file():
            raise ConfigError(
                f"View {raw!r}: file {str(file)!r} does not exist; name a Python file (relative "
                "to the config file's folder) that defines the function."
            )
        source = f"{file.resolve()}:{attr}"
    return View(name=f"{_FACTORY}{spec}", kind="factory", source=source)


def parse_view(view: ViewLike, *, base_dir: Path | None = None) -> View:
    """Parse a view name (see the module docstring); a :class:`View` passes through.

    Parameters
    ----------
    view : str or View
    base_dir : Path, optional
        Directory against which a relative ``project:<file.npy>``, ``units:<file.npy>`` or
        ``factory:<file.py:function>`` path is resolved.

    Examples
    --------
    >>> parse_view("pc3-4")
    View(name='pc3-4', kind='pca', components=(2, 3), metric=None, source=None)
    >>> parse_view("units:8, 0-2").name
    'units:0-2,8'
    """
    if isinstance(view, View):
        return view
    raw = str(view).strip()
    if raw.lower().startswith(_UNITS):
        return _parse_units(raw, base_dir)
    if raw.lower().startswith(_FACTORY):
        return _parse_factory(raw, base_dir)
    if raw.lower().startswith(_PROJECT):
        arg = raw[len(_PROJECT) :]
        return _view_from_file(raw, arg, base_dir, "a projection matrix", "matrix", projection_view)
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
        Directory against which relative ``project:``, ``units:`` and ``factory:`` paths are
        resolved.

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

    Raises
    ------
    ActivationError
        The cloud is too narrow for the view (a principal component, a unit or a matrix row
        it does not have).
    ConfigError
        A ``factory:`` view not bound to a checkpoint (see :func:`bind_view`).

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
    if v.kind == "units":
        return _select_units(pts, v)
    if v.kind == "factory":
        raise ConfigError(
            f"View {v.name!r} is chosen at each checkpoint from the model; make the view of "
            "one checkpoint with bind_view(view, model=..., layer=..., points=...) and apply "
            "that (a run does this for every layer and checkpoint)."
        )
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


def _select_units(pts: NDArray[np.float64], v: View) -> NDArray[np.float64]:
    n = pts.shape[1]
    if v.width is not None and v.width != n:
        raise ActivationError(
            f"View {v.label!r} is a mask of {v.width} units, but the cloud has {n} features; "
            "make the mask for this layer's width, or apply it to another layer."
        )
    if not v.components:
        raise ConfigError(f"View {v.name!r} selects no unit; build it with units_view(units).")
    if v.components[-1] >= n:
        raise ActivationError(
            f"View {v.label!r} selects unit {v.components[-1]}, but the cloud has {n} features "
            f"(units 0 to {n - 1}); select units of this layer, or apply it to a wider one."
        )
    return np.ascontiguousarray(pts[:, list(v.components)])


@dataclass(frozen=True)
class _NoPoints:
    """The function of a bound view that has nothing to show at one checkpoint: applying it
    raises, so that a run records that result as a failure and goes on (picklable)."""

    message: str

    def __call__(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        raise ActivationError(self.message)


_LOADED: dict[tuple[str, int], ViewFactory] = {}  # imported factories, by source and mtime


def _factory_of(v: View) -> ViewFactory:
    if v.func is not None:
        return v.func
    from tda_interp.config import resolve_factory

    source = str(v.source)
    module_part = source.rpartition(":")[0]
    mtime = Path(module_part).stat().st_mtime_ns if module_part.endswith(".py") else 0
    key = (source, mtime)
    if key not in _LOADED:
        try:
            _LOADED[key] = resolve_factory(source)
        except ConfigError as err:
            raise ConfigError(f"View {v.name!r}: {err}") from err
    return _LOADED[key]


def _call_factory(v: View, func: ViewFactory, model: Any, layer: str, pts: NDArray[Any]) -> Any:
    from tda_interp.config import _on_path, _where

    module_part = str(v.source or "").rpartition(":")[0]
    folders = [Path(module_part).parent] if module_part.endswith(".py") else []
    name = getattr(func, "__name__", "function")
    try:
        with _on_path(folders):
            return func(model, layer, pts)
    except Exception as err:
        raise ConfigError(
            f"The view factory of {v.name!r} raised {type(err).__name__}: {err}{_where(err)}; "
            f"it is called as {name}(model, layer, activations), with the checkpoint's weights "
            "loaded in model, the layer's name, and its activations of shape (n_points, "
            "n_features)."
        ) from err


def _chosen(result: Any, v: View, n_features: int) -> View | str:
    """The bound view of a factory's result (a message when it chose nothing)."""
    by = v.name.removeprefix(_FACTORY)
    if result is None:
        return f"the view factory of {v.name!r} chose nothing for this layer"
    if isinstance(result, str | View):
        module_part = str(v.source or "").rpartition(":")[0]
        base = Path(module_part).parent if module_part.endswith(".py") else None
        chosen = parse_view(result, base_dir=base)
    elif callable(getattr(result, "detach", None)):  # a torch tensor
        chosen = None
        result = result.detach().cpu().numpy()
    else:
        chosen = None
    if chosen is None:
        arr = np.asarray(result)
        if (arr.ndim == 1 and arr.size == 0) or (arr.dtype == np.bool_ and not arr.any()):
            return f"the view factory of {v.name!r} chose no unit for this layer"
        chosen = projection_view(arr) if arr.ndim == 2 else units_view(arr)
    if chosen.kind == "projection" and chosen.matrix is not None:
        matrix = chosen.matrix
        if matrix.shape[0] != n_features:
            raise ConfigError(
                f"The view factory of {v.name!r} returned a projection from "
                f"{matrix.shape[0]} features, but the layer has {n_features}; return a matrix "
                "of shape (n_features, k) for this layer, or None for a layer it does not "
                "handle."
            )
        what = f"a {matrix.shape[0]} x {matrix.shape[1]} projection"
    elif chosen.kind == "units":
        units = list(chosen.components)
        if (chosen.width is not None and chosen.width != n_features) or units[-1] >= n_features:
            got = f"a mask of {chosen.width} units" if chosen.width else f"unit {units[-1]}"
            raise ConfigError(
                f"The view factory of {v.name!r} returned {got}, but the layer has "
                f"{n_features} units; return units of this layer, or None for a layer it does "
                "not handle."
            )
        matrix = np.zeros((n_features, len(units)))
        matrix[units, np.arange(len(units))] = 1.0
        shown = ", ".join(map(str, units[:8])) + (", ..." if len(units) > 8 else "")
        what = f"units {shown} of {n_features}"
    else:
        raise ConfigError(
            f"The view factory of {v.name!r} returned a {chosen.kind!r} view; expected the "
            "units to keep (a boolean mask of shape (n_features,) or indices), a projection "
            "matrix of shape (n_features, k), or a 'units:' or 'project:' view. Views that do "
            "not depend on the checkpoint go in the views list directly."
        )
    return View(name=v.name, kind="projection", matrix=matrix, source=f"{what} chosen by {by}")


def bind_view(
    view: ViewLike,
    *,
    model: Any,
    layer: str,
    points: ArrayLike,
    place: str | None = None,
) -> View:
    """The view of one layer at one checkpoint: a ``factory:`` view (or :func:`factory_view`)
    asks its function; any other view is returned as it is.

    The function is called as ``factory(model, layer, activations)`` and returns the units to
    keep (a boolean mask of shape (n_features,), or 0-based indices), a projection matrix of
    shape (n_features, k), a ``units:``/``project:`` view (a name or a :class:`View`), or
    ``None`` for a layer it does not handle. The result is a projection view recorded under the
    factory view's name, whose matrix (part of a result's cache key) and ``source`` (what was
    chosen, named in messages) are those of this checkpoint. Nothing chosen gives a view whose
    application raises :class:`~tda_interp.exceptions.ActivationError` (a run records a
    failure for that result and goes on).

    Parameters
    ----------
    view : str or View
    model : torch.nn.Module, state dict or None
        The model with the checkpoint's weights loaded (what the factory reads; ``None`` for
        a factory that reads only the activations).
    layer : str
        The layer (cloud) name, e.g. ``"blocks.0.mlp"``.
    points : array-like of shape (n_points, n_features)
        The layer's activations at this checkpoint.
    place : str, optional
        Where (``"checkpoint 'step_10' layer 'fc'"``): errors start with it.

    Returns
    -------
    View

    Raises
    ------
    ConfigError
        The factory cannot be imported, raises, or returns something that is not a selection
        of this layer's units or a projection of them.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(2, 4)
    >>> def strongest_inputs(model, layer, activations):
    ...     norms = model.weight.detach().norm(dim=1).numpy()
    ...     return norms >= np.sort(norms)[-2]
    >>> _ = model.weight.data.copy_(torch.tensor([[1.0, 0], [0, 9], [5, 0], [0, 1]]))
    >>> X = np.random.default_rng(0).normal(size=(10, 4))
    >>> bound = bind_view(factory_view(strongest_inputs, "strong"), model=model,
    ...                   layer="", points=X)
    >>> bound.name, bound.source
    ('strong', 'units 1, 2 of 4 chosen by strong')
    >>> bool(np.allclose(apply_view(X, bound), X[:, [1, 2]]))
    True
    """
    v = parse_view(view)
    if v.kind != "factory":
        return v
    pts = np.asarray(points, dtype=np.float64)
    try:
        if pts.ndim != 2:
            raise ConfigError(
                f"View {v.name!r} needs activations of shape (n_points, n_features), got "
                f"{pts.shape}."
            )
        func = _factory_of(v)
        chosen = _chosen(_call_factory(v, func, model, layer, pts), v, pts.shape[1])
    except ConfigError as err:
        if place is None:
            raise
        raise ConfigError(f"{place}: {err}") from err
    if isinstance(chosen, str):
        return View(name=v.name, kind="callable", func=_NoPoints(f"{chosen}."), source=chosen)
    return chosen
