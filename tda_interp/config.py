"""The TOML configuration of ``tda-interp run``, parsed into a frozen :class:`RunConfig`.

Each section but ``[model]`` and ``[inputs]`` mirrors one option class
(:mod:`tda_interp.options`), key for key; ``[capture]`` also holds the ``layers`` and
``[homology]`` the ``views`` of the run. Every key but ``model.factory``, ``inputs.factory`` and
``capture.layers`` has the default shown::

    title = "My model"                       # optional, shown in the report
    run_dir = "runs/my-model"                # optional; `-o` overrides

    [model]
    factory = "mypkg.models:make_model"      # or "models.py:make_model", next to this file
    checkpoints = "checkpoints/step_*.pt"    # glob, folder or file (.pt/.pth/.safetensors);
                                             # none: the model as made, checkpoint "pretrained"
    strict = true                            # false: load the checkpoint keys that match

    [model.args]                             # keyword arguments of the factory (optional)
    # width = 64

    [inputs]
    factory = "mypkg.data:probe_inputs"      # returns a Tensor, a tuple of Tensors or a dict
    # labels = "mypkg.data:probe_labels"     # one int/str per input: a cloud per label too

    [inputs.args]                            # keyword arguments of the factory (optional)

    [capture]                                # CaptureOptions
    layers = ["embed", "mlp.*"]              # module paths or globs
    reduction = "none"                       # none | flatten | mean | last | first | tokens |
                                             # spatial | avgpool | <position>
    # output_index = 0                       # element of tuple outputs (default: first tensor)
    hook = "output"                          # output | input
    batch_size = 0                           # 0: one forward pass for all probe inputs
    max_points = 0                           # > 0: seeded reservoir sample per cloud
    seed = 0
    dtype = "float32"                        # float32 | float16
    storage = "memory"                       # memory | memmap (with storage_dir)
    nonfinite = "raise"                      # raise | drop | keep

    [homology]                               # RipsOptions
    views = ["raw", "pc_pairs2"]             # see tda_interp.homology.views
    maxdim = 1
    metric = "euclidean"                     # euclidean | cosine | correlation
    coeff = 2                                # prime field
    backend = "auto"                         # auto | gudhi | giotto-ph | ripser
    seed = 0
    approximation = "subsample:1000"         # auto | exact | subsample:N | landmarks[:N] |
                                             # bound:B (certified within B x diameter)
    memory_budget = "4GB"
    nonfinite = "raise"                      # raise | drop

    [significance]                           # SignificanceOptions (on by default)
    method = "universal"                     # universal | gaussian | subsample | none
    alpha = 0.05                             # family-wise per diagram and dimension
    n_null = 99                              # gaussian, subsample: null clouds per diagram

    [summary]                                # SummaryOptions
    long_bar = 0.25                          # relative lifetime of a "long-lived" bar
    correction = "diagram"                   # diagram | bonferroni | bh (over the run)
    betti_scales = [0.1, 0.25, 0.5]          # betti_at_<t> columns: relative scales in (0, 1]

    [execution]                              # ExecutionOptions: how, never part of a run's params
    executor = "auto"                        # auto | serial | processes[:N] | dask:ADDRESS
    cache = true                             # diagram cache: true, false or a folder

Relative paths are resolved against the directory of the config file; while a ``file.py``
factory is imported and called, its folder is on ``sys.path``, so it can import the modules
beside it. Errors name the file, the section and the key. Configs written for tda-interp 0.1
still run: their old keys are moved to these sections, with one :class:`DeprecationWarning`
saying how (:func:`tda_interp.options.legacy.upgrade_config`).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tda_interp.exceptions import ConfigError
from tda_interp.homology.views import parse_view, resolve_views
from tda_interp.options import (
    CaptureOptions,
    ExecutionOptions,
    RipsOptions,
    SignificanceOptions,
    SummaryOptions,
)
from tda_interp.options.legacy import ORIGINS, upgrade_config
from tda_interp.options.run import ProgressCallback

__all__ = ["RunConfig", "call_factory", "load_config", "resolve_factory"]

_TOP = ("title", "run_dir", "model", "inputs", "capture", "homology", "significance", "summary",
        "execution")  # fmt: skip
_MODEL = ("args", "checkpoints", "factory", "strict")
_INPUTS = ("args", "factory", "labels")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything ``tda-interp run`` needs, composed of the option objects.

    See the module docstring for the file format; :func:`load_config` reads one.
    ``checkpoints=None``: the model as its factory makes it is the one checkpoint
    (``"pretrained"``, step 0). ``model_args`` and ``inputs_args`` are the factories' keyword
    arguments (the labels factory takes the inputs factory's); ``labels_factory``, when set,
    gives a label per probe input, and each layer then also gives one cloud per label value;
    ``file`` the config file (named in errors).
    """

    model_factory: str
    inputs_factory: str
    layers: tuple[str, ...]
    checkpoints: str | None = None
    model_args: Mapping[str, Any] = field(default_factory=dict)
    inputs_args: Mapping[str, Any] = field(default_factory=dict)
    labels_factory: str | None = None
    views: tuple[str, ...] = ("raw",)
    strict: bool = True
    capture: CaptureOptions = field(default_factory=CaptureOptions)
    homology: RipsOptions = field(default_factory=RipsOptions)
    significance: SignificanceOptions = field(default_factory=SignificanceOptions)
    summary: SummaryOptions = field(default_factory=SummaryOptions)
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    title: str | None = None
    run_dir: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    file: Path | None = field(default=None, compare=False)

    def with_progress(self, progress: ProgressCallback | None) -> RunConfig:
        """This config, reporting progress to ``progress(description, done, total)``."""
        return dataclasses.replace(self, execution=self.execution.replace(progress=progress))


def _unknown(keys: Any, allowed: tuple[str, ...], where: str, path: Path) -> None:
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(hints)} in {where}; allowed: "
            f"{', '.join(sorted(allowed))}."
        )


def _string(table: Mapping[str, Any], key: str, where: str, path: Path) -> str:
    value = table[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: {where} {key} must be a non-empty string, got {value!r}.")
    return value


def _names(value: Any, key: str, path: Path) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise ConfigError(f"{path}: {key} must be a non-empty list of strings, got {value!r}.")
    return items


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a run configuration file.

    Parameters
    ----------
    path : str or Path
        A TOML file (see the module docstring).

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        Naming the file, the section and the key, for anything missing, unknown or invalid.
    """
    cfg_path = Path(path)
    try:
        data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"Config file {str(cfg_path)!r} does not exist.") from err
    except IsADirectoryError as err:
        raise ConfigError(
            f"Config path {str(cfg_path)!r} is a directory; pass the TOML file inside it."
        ) from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"Config file {str(cfg_path)!r} is not UTF-8 text ({err.reason} at byte "
            f"{err.start}); save it as UTF-8."
        ) from err
    except OSError as err:
        raise ConfigError(f"Cannot read the config file {str(cfg_path)!r}: {err}.") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{cfg_path}: not valid TOML: {err}.") from err
    _unknown(data, _TOP, "the top level", cfg_path)
    for section in _TOP[2:]:
        if section in data and not isinstance(data[section], dict):
            raise ConfigError(f"{cfg_path}: [{section}] must be a table.")
    data = upgrade_config(data, file=str(cfg_path))
    origins = data.pop(ORIGINS, {})
    try:
        return _read(data, cfg_path)
    except ConfigError as err:
        old = origins.get((err.section, err.key))
        if old is None:
            raise
        raise ConfigError(
            f"{err} (read from {old}, a tda-interp 0.1 key)", key=err.key, section=err.section
        ) from err


def _read(data: dict[str, Any], cfg_path: Path) -> RunConfig:
    model, inputs = data.get("model", {}), data.get("inputs", {})
    capture, hom = dict(data.get("capture", {})), dict(data.get("homology", {}))
    _unknown(model, _MODEL, "[model]", cfg_path)
    _unknown(inputs, _INPUTS, "[inputs]", cfg_path)
    missing = [
        name
        for name, table, key in (
            ("model.factory", model, "factory"),
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
    base = cfg_path.resolve().parent
    strict = model.get("strict", True)
    if not isinstance(strict, bool):
        raise ConfigError(f"{cfg_path}: [model] strict must be true or false, got {strict!r}.")
    title, run_dir = data.get("title"), data.get("run_dir")
    if title is not None and not isinstance(title, str):
        raise ConfigError(f"{cfg_path}: title must be a string, got {title!r}.")
    if run_dir is not None and not isinstance(run_dir, str):
        raise ConfigError(f"{cfg_path}: run_dir must be a folder path, got {run_dir!r}.")
    significance = SignificanceOptions()
    if "significance" in data:
        significance = SignificanceOptions.from_toml(
            data["significance"], file=cfg_path, section="significance", base_dir=base
        )
    return RunConfig(
        model_factory=_string(model, "factory", "[model]", cfg_path),
        checkpoints=_string(model, "checkpoints", "[model]", cfg_path)
        if "checkpoints" in model
        else None,
        model_args=_args(model, "model", cfg_path),
        inputs_factory=_string(inputs, "factory", "[inputs]", cfg_path),
        inputs_args=_args(inputs, "inputs", cfg_path),
        labels_factory=_string(inputs, "labels", "[inputs]", cfg_path)
        if "labels" in inputs
        else None,
        layers=tuple(_names(capture["layers"], "[capture] layers", cfg_path)),
        views=_views(hom.get("views", ["raw"]), base, cfg_path),
        strict=strict,
        capture=CaptureOptions.from_toml(
            capture, file=cfg_path, section="capture", base_dir=base, skip=["layers"]
        ),
        homology=RipsOptions.from_toml(
            hom, file=cfg_path, section="homology", base_dir=base, skip=["views"]
        ),
        significance=significance,
        summary=SummaryOptions.from_toml(
            data.get("summary", {}), file=cfg_path, section="summary", base_dir=base
        ),
        execution=ExecutionOptions.from_toml(
            data.get("execution", {}), file=cfg_path, section="execution", base_dir=base
        ),
        title=title,
        run_dir=None if run_dir is None else base / run_dir,
        base_dir=base,
        file=cfg_path,
    )


def _args(table: Mapping[str, Any], section: str, path: Path) -> dict[str, Any]:
    """``[<section>.args]``: keyword arguments of the factory (checked against its signature
    when it is called, see :func:`call_factory`)."""
    args = table.get("args", {})
    if not isinstance(args, dict):
        raise ConfigError(
            f"{path}: [{section}] args must be a table of keyword arguments, got {args!r}; "
            f"write them under [{section}.args], one 'name = value' a line.",
            key="args",
            section=section,
        )
    return dict(args)


def _views(value: Any, base: Path, path: Path) -> tuple[str, ...]:
    """View names, projection and mask files read now (a missing file fails before any model
    runs) and kept as absolute paths, so the run does not depend on the working directory; a
    ``factory:`` view is kept as written (its file is checked now, imported at the first
    checkpoint, and resolved against ``base_dir`` by :func:`run_from_config`)."""
    names = []
    for spec in _names(value, "[homology] views", path):
        text = spec.strip()
        prefix = text.partition(":")[0].lower()
        try:
            if prefix == "project" or (prefix == "units" and text.lower().endswith(".npy")):
                file = Path(text[len(prefix) + 1 :].strip()).expanduser()
                file = file if file.is_absolute() else base / file
                parse_view(f"{prefix}:{file}")
                names.append(f"{prefix}:{file}")
            elif prefix == "factory":
                parse_view(text, base_dir=base)
                names.append(text)
            else:
                names.extend(v.name for v in resolve_views(spec))
        except ConfigError as err:
            raise ConfigError(f"{path}: [homology] views: {err}") from err
    return tuple(dict.fromkeys(names))


def _where(err: BaseException) -> str:
    """`` (file.py, line 3)`` for the innermost frame of the user's code, if known."""
    if isinstance(err, SyntaxError):  # its message names the file and line already
        return ""
    tb = err.__traceback__
    last = None
    while tb is not None:
        if "tda_interp" not in tb.tb_frame.f_code.co_filename.replace("\\", "/").split("/"):
            last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    return f" ({last.tb_frame.f_code.co_filename}, line {last.tb_lineno})"


@contextmanager
def _on_path(folders: Iterable[Path]) -> Iterator[None]:
    """``folders`` first on ``sys.path`` inside the block (a user's file imports the modules
    beside it); ``sys.path`` is restored after."""
    saved = list(sys.path)
    sys.path[:0] = [str(f) for f in dict.fromkeys(Path(f).resolve() for f in folders)]
    try:
        yield
    finally:
        sys.path[:] = saved


def _folders(spec: str, base_dir: Path | None) -> list[Path]:
    """The folders a factory's imports may need: a ``file.py``'s own folder, and the config's."""
    module_part = spec.rpartition(":")[0]
    if not module_part.endswith(".py"):
        return [base_dir] if base_dir is not None else []
    file = Path(module_part).expanduser()
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    return [file.parent] + ([base_dir] if base_dir is not None else [])


def _check_args(
    func: Callable[..., Any], args: Mapping[str, Any], spec: str, what: str, where: str
) -> None:
    """The keyword arguments ``args`` fit ``func``'s signature, or a ConfigError naming the key
    and the signature."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature: its call will tell
        return
    try:
        sig.bind(**args)
        return
    except TypeError as err:
        reason = str(err)
    params = sig.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = [
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    unknown = [] if takes_any else [k for k in args if k not in named]
    name = getattr(func, "__name__", "factory")
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, named, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        reason = f"unknown argument(s) {', '.join(hints)}"
    raise ConfigError(
        f"{where}: {reason} for the {what} {spec!r}, which is {name}{sig}; give only the "
        "arguments it takes (one 'name = value' a line), and every one it needs.",
        key=unknown[0] if unknown else None,
        expected=f"arguments of {name}{sig}",
        received=", ".join(sorted(args)) or "none",
        section=where.rpartition("[")[2].rstrip("]") or None,
    )


def call_factory(
    spec: str,
    *,
    base_dir: Path | None = None,
    what: str = "factory",
    args: Mapping[str, Any] | None = None,
    where: str | None = None,
) -> Any:
    """Import and call a factory with keyword arguments ``args``; arguments its signature does
    not take, and an exception it raises, become a :class:`ConfigError` naming the factory
    (and the key, or the line that raised).

    Parameters
    ----------
    spec : str
        ``"package.module:function"`` or ``"file.py:function"`` (see :func:`resolve_factory`).
    base_dir : Path, optional
        The config file's folder: a relative ``file.py`` is found there, and it is on
        ``sys.path`` while the factory is imported and called.
    what : str, default "factory"
        How messages name it (``"model factory"``).
    args : mapping, optional
        Keyword arguments (a config's ``[model.args]``).
    where : str, optional
        Where ``args`` come from, for messages (``"my.toml: [model.args]"``).

    Examples
    --------
    >>> call_factory("tda_interp.demo.modular:probe_inputs").shape
    torch.Size([59, 2])
    >>> call_factory("tda_interp.demo.modular:probe_inputs", args={"p": 5}).shape
    torch.Size([5, 2])
    >>> try:
    ...     call_factory("tda_interp.demo.modular:probe_inputs", args={"q": 5})
    ... except ValueError as err:  # a ConfigError
    ...     print(str(err)[:60])
    [factory args]: unknown argument(s) 'q' for the factory 'tda
    """
    func = resolve_factory(spec, base_dir=base_dir)
    kwargs = dict(args or {})
    _check_args(func, kwargs, spec, what, where or "[factory args]")
    try:
        with _on_path(_folders(spec, base_dir)):
            return func(**kwargs)
    except Exception as err:
        how = "with these arguments" if kwargs else "with no arguments"
        raise ConfigError(
            f"The {what} {spec!r} raised {type(err).__name__}: {err}{_where(err)}; fix it so "
            f"that it runs {how}."
        ) from err


def resolve_factory(spec: str, *, base_dir: Path | None = None) -> Callable[..., Any]:
    """Import ``"package.module:function"`` or ``"file.py:function"``.

    A ``.py`` path is resolved against ``base_dir`` (the config file's directory); while it is
    imported, its folder (and ``base_dir``) are first on ``sys.path``, so that it can import
    the modules beside it.

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
            with _on_path(_folders(spec, base_dir)):
                loader_spec.loader.exec_module(module)
        else:
            with _on_path([base_dir] if base_dir is not None else []):
                module = importlib.import_module(module_part)
    except ImportError as err:
        if module_part.endswith(".py"):
            raise ConfigError(
                f"Factory {spec!r}: importing {module_part!r} failed with "
                f"{type(err).__name__}: {err}{_where(err)}; the modules beside it (and beside "
                "the config file) are importable by their names: is the name spelled right, "
                "or the package installed in this environment?"
            ) from err
        raise ConfigError(
            f"Factory {spec!r}: cannot import {module_part!r} ({err}); is the package installed "
            "in this environment, or should it be a path like 'models.py:make_model'?"
        ) from err
    except ConfigError:
        raise
    except Exception as err:  # a SyntaxError, NameError... in the user's module
        raise ConfigError(
            f"Factory {spec!r}: importing {module_part!r} failed with {type(err).__name__}: "
            f"{err}{_where(err)}; fix the module."
        ) from err
    func = getattr(module, attr, None)
    if not callable(func):
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = difflib.get_close_matches(attr, public, n=3)
        raise ConfigError(
            f"Factory {spec!r}: {module_part!r} has no callable {attr!r}"
            + (f"; closest: {', '.join(close)}." if close else ".")
        )
    return func
