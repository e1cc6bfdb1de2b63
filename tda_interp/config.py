"""The TOML configuration of ``tda-interp run``, parsed into a frozen :class:`RunConfig`.

Example (every key but ``model.factory``, ``model.checkpoints``, ``inputs.factory`` and
``capture.layers`` has the default shown)::

    title = "My model"                       # optional, shown in the report
    run_dir = "runs/my-model"                # optional; `-o` overrides

    [model]
    factory = "mypkg.models:make_model"      # or "models.py:make_model", next to this file
    checkpoints = "checkpoints/step_*.pt"    # glob or folder of .pt/.pth/.safetensors

    [inputs]
    factory = "mypkg.data:probe_inputs"      # returns a Tensor, a tuple of Tensors or a dict
    batch_size = 0                           # 0: one forward pass for all probe inputs

    [capture]
    layers = ["embed", "mlp.*"]              # module paths or globs
    reduction = "none"                       # none | flatten | mean | last | first | <int>
    output_index = 0                         # element taken from tuple outputs

    [homology]
    maxdim = 1
    views = ["raw", "pc_pairs2"]             # see tda_interp.homology.views
    metric = "euclidean"                     # euclidean | cosine | correlation
    backend = "auto"                         # auto | gudhi | giotto-ph | ripser
    max_points = 1000                        # seeded subsample above this; 0: keep all
    seed = 0
    long_bar = 0.25                          # relative lifetime of a "long-lived" bar
    drop_nonfinite = false
    n_null = 0                               # > 0: significance calls against n_null
    alpha = 0.05                             #      matched Gaussian clouds, at level alpha
    # certified approximation (optional; set max_points = 0 with it, a subsample has no bound):
    # max_bound_rel = 0.05                   # fewest landmarks within 5% of the diameter
    # n_landmarks = 500                      # or a fixed number of max-min landmarks
    # memory_budget = "4GB"                  # above it, landmarks (with a warning)

    [execution]                              # how, not what: never part of a run's parameters
    executor = "auto"                        # auto | serial | processes[:N] | dask:ADDRESS
    cache = true                             # diagram cache: true, false or a folder

Relative paths are resolved against the directory of the config file.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tda_interp.diagrams.summaries import DEFAULT_LONG_BAR
from tda_interp.exceptions import ConfigError
from tda_interp.homology.views import parse_view, resolve_views

__all__ = ["RunConfig", "load_config", "resolve_factory"]

_SECTIONS = {
    "": {"title", "run_dir", "model", "inputs", "capture", "homology", "execution"},
    "model": {"factory", "checkpoints"},
    "inputs": {"factory", "batch_size"},
    "capture": {"layers", "reduction", "output_index"},
    "homology": {
        "maxdim", "views", "metric", "backend", "max_points", "seed", "long_bar",
        "drop_nonfinite", "n_null", "alpha", "max_bound_rel", "n_landmarks", "memory_budget",
    },
    "execution": {"executor", "cache"},
}  # fmt: skip
_METRICS = ("euclidean", "cosine", "correlation")
_BACKENDS = ("auto", "gudhi", "giotto-ph", "ripser")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``tda-interp run`` needs; see the module docstring for the file format."""

    model_factory: str
    checkpoints: str
    inputs_factory: str
    layers: tuple[str, ...]
    title: str | None = None
    run_dir: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    batch_size: int | None = None
    reduction: str | int = "none"
    output_index: int = 0
    maxdim: int = 1
    views: tuple[str, ...] = ("raw",)
    metric: str = "euclidean"
    backend: str = "auto"
    max_points: int | None = 1000
    seed: int = 0
    long_bar: float = DEFAULT_LONG_BAR
    drop_nonfinite: bool = False
    n_null: int = 0
    alpha: float = 0.05
    max_bound_rel: float | None = None
    n_landmarks: int | None = None
    memory_budget: str | int | None = None
    executor: str = "auto"
    cache: bool | Path = True


def _check_keys(data: dict[str, Any], section: str, path: Path) -> None:
    unknown = set(data) - _SECTIONS[section]
    if unknown:
        import difflib

        hints = []
        for key in sorted(unknown):
            close = difflib.get_close_matches(key, _SECTIONS[section], n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        where = f"[{section}]" if section else "the top level"
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(hints)} in {where}; allowed: "
            f"{', '.join(sorted(_SECTIONS[section]))}."
        )


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{where}: {key} must be {kind}, got a boolean {value!r}.")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {key} must be {kind}, got {type(value).__name__} {value!r}.")
    return value


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run configuration file.

    Parameters
    ----------
    path : str or Path
        A TOML file (see the module docstring).

    Returns
    -------
    RunConfig
    """
    cfg_path = Path(path)
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"Config file {str(cfg_path)!r} does not exist.") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{cfg_path}: not valid TOML: {err}.") from err
    _check_keys(data, "", cfg_path)
    for section in ("model", "inputs", "capture", "homology", "execution"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{cfg_path}: [{section}] must be a table.")
        _check_keys(table, section, cfg_path)
    model, inputs = data.get("model", {}), data.get("inputs", {})
    capture, hom = data.get("capture", {}), data.get("homology", {})
    execution = data.get("execution", {})
    missing = [
        name
        for name, table, key in (
            ("model.factory", model, "factory"),
            ("model.checkpoints", model, "checkpoints"),
            ("inputs.factory", inputs, "factory"),
            ("capture.layers", capture, "layers"),
        )
        if key not in table
    ]
    if missing:
        raise ConfigError(
            f"{cfg_path}: missing required key(s) {', '.join(missing)}; see `tda-interp run "
            "--help` for an example config."
        )
    w = str(cfg_path)
    layers = capture["layers"]
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, list) or not layers or not all(isinstance(x, str) for x in layers):
        raise ConfigError(f"{w}: capture.layers must be a non-empty list of module paths/globs.")
    reduction = capture.get("reduction", "none")
    if not isinstance(reduction, str | int) or isinstance(reduction, bool):
        raise ConfigError(f"{w}: capture.reduction must be a string or a token position.")
    views = hom.get("views", ["raw"])
    maxdim = _get(hom, "maxdim", int, w) if "maxdim" in hom else 1
    if not 0 <= maxdim <= 3:
        raise ConfigError(f"{w}: homology.maxdim must be between 0 and 3, got {maxdim}.")
    max_points = _get(hom, "max_points", int, w) if "max_points" in hom else 1000
    batch_size = _get(inputs, "batch_size", int, w) if "batch_size" in inputs else 0
    long_bar = float(_get(hom, "long_bar", (int, float), w)) if "long_bar" in hom else None
    base = cfg_path.resolve().parent
    run_dir = data.get("run_dir")
    metric = _get(hom, "metric", str, w) if "metric" in hom else "euclidean"
    backend = _get(hom, "backend", str, w) if "backend" in hom else "auto"
    seed = _get(hom, "seed", int, w) if "seed" in hom else 0
    drop = _get(hom, "drop_nonfinite", bool, w) if "drop_nonfinite" in hom else False
    n_null = _get(hom, "n_null", int, w) if "n_null" in hom else 0
    alpha = float(_get(hom, "alpha", (int, float), w)) if "alpha" in hom else 0.05
    bound = float(_get(hom, "max_bound_rel", (int, float), w)) if "max_bound_rel" in hom else None
    n_landmarks = _get(hom, "n_landmarks", int, w) if "n_landmarks" in hom else None
    budget = _get(hom, "memory_budget", (str, int), w) if "memory_budget" in hom else None
    if budget is not None:
        from tda_interp.homology.estimate import parse_memory

        try:
            parse_memory(budget)
        except ConfigError as err:
            raise ConfigError(f"{w}: homology.memory_budget: {err}") from err
    checks = (
        (metric in _METRICS, f"homology.metric must be one of {_METRICS}, got {metric!r}"),
        (backend in _BACKENDS, f"homology.backend must be one of {_BACKENDS}, got {backend!r}"),
        (max_points >= 0, f"homology.max_points must be >= 0 (0 keeps all), got {max_points}"),
        (seed >= 0, f"homology.seed must be >= 0, got {seed}"),
        (long_bar is None or long_bar >= 0, f"homology.long_bar must be >= 0, got {long_bar}"),
        (batch_size >= 0, f"inputs.batch_size must be >= 0 (0: one pass), got {batch_size}"),
        (n_null >= 0, f"homology.n_null must be >= 0 (0: no significance test), got {n_null}"),
        (0 < alpha < 1, f"homology.alpha must be between 0 and 1, got {alpha}"),
        (bound is None or bound > 0, f"homology.max_bound_rel must be > 0, got {bound}"),
        (
            n_landmarks is None or n_landmarks >= 2,
            f"homology.n_landmarks must be >= 2, got {n_landmarks}",
        ),
        (
            bound is None or n_landmarks is None,
            "homology: give max_bound_rel or n_landmarks, not both",
        ),
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{w}: {message}.")
    if isinstance(views, str):
        views = [views]
    if not isinstance(views, list) or not all(isinstance(v, str) for v in views):
        raise ConfigError(f"{w}: homology.views must be a list of view names.")
    # Projection files are read now (a missing file fails before any model runs) and kept as
    # absolute paths, so the run does not depend on the working directory.
    views_checked = []
    for spec in views:
        if spec.strip().lower().startswith("project:"):
            file = Path(spec.strip()[len("project:") :])
            file = file if file.is_absolute() else base / file
            views_checked.append((parse_view(f"project:{file}"), f"project:{file}"))
        else:
            views_checked.extend((v, v.name) for v in resolve_views(spec))
    executor = _get(execution, "executor", str, w) if "executor" in execution else "auto"
    cache_value = execution.get("cache", True)
    if not isinstance(cache_value, bool | str):
        raise ConfigError(f"{w}: execution.cache must be true, false or a folder path.")
    cache = cache_value if isinstance(cache_value, bool) else base / cache_value
    return RunConfig(
        model_factory=_get(model, "factory", str, w),
        checkpoints=_get(model, "checkpoints", str, w),
        inputs_factory=_get(inputs, "factory", str, w),
        layers=tuple(layers),
        title=data.get("title"),
        run_dir=(base / run_dir) if isinstance(run_dir, str) else None,
        base_dir=base,
        batch_size=batch_size or None,
        reduction=reduction,
        output_index=_get(capture, "output_index", int, w) if "output_index" in capture else 0,
        maxdim=maxdim,
        views=tuple(dict.fromkeys(spec for _, spec in views_checked)),
        metric=metric,
        backend=backend,
        max_points=max_points or None,
        seed=seed,
        long_bar=DEFAULT_LONG_BAR if long_bar is None else long_bar,
        drop_nonfinite=drop,
        n_null=n_null,
        alpha=alpha,
        max_bound_rel=bound,
        n_landmarks=n_landmarks,
        memory_budget=budget,
        executor=executor,
        cache=cache,
    )


def resolve_factory(spec: str, *, base_dir: Path | None = None) -> Callable[..., Any]:
    """Import ``"package.module:function"`` or ``"file.py:function"``.

    A ``.py`` path is resolved against ``base_dir`` (the config file's directory).

    Examples
    --------
    >>> resolve_factory("tda_interp.demo.modular:make_model").__name__
    'make_model'
    """
    if spec.count(":") < 1 or not spec.rpartition(":")[0] or not spec.rpartition(":")[2]:
        raise ConfigError(
            f"Factory {spec!r} must look like 'package.module:function' or 'file.py:function'."
        )
    module_part, _, attr = spec.rpartition(":")
    try:
        if module_part.endswith(".py"):
            file = Path(module_part)
            if not file.is_absolute() and base_dir is not None:
                file = base_dir / file
            if not file.is_file():
                raise ConfigError(f"Factory {spec!r}: file {str(file)!r} does not exist.")
            name = f"_tda_interp_user_{file.stem}"
            loader_spec = importlib.util.spec_from_file_location(name, file)
            if loader_spec is None or loader_spec.loader is None:
                raise ConfigError(f"Factory {spec!r}: cannot import {str(file)!r}.")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_part)
    except ImportError as err:
        raise ConfigError(
            f"Factory {spec!r}: cannot import {module_part!r} ({err}); is the package installed "
            "in this environment, or should it be a path like 'models.py:make_model'?"
        ) from err
    func = getattr(module, attr, None)
    if not callable(func):
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        import difflib

        close = difflib.get_close_matches(attr, public, n=3)
        raise ConfigError(
            f"Factory {spec!r}: {module_part!r} has no callable {attr!r}"
            + (f"; closest: {', '.join(close)}." if close else ".")
        )
    return func
