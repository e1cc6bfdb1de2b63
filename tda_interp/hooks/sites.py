"""Choose which modules of a model to watch.

A *site* is a module path from :meth:`torch.nn.Module.named_modules`, for example
``"encoder.layer.3.output"``; TransformerLens hook names such as ``"blocks.0.hook_resid_post"``
are module paths too (its ``HookPoint`` modules) and pass through unchanged. TransformerLens 4
(``TransformerBridge``) also names hook points by aliases that are not module paths
(``"blocks.0.hook_resid_post"`` is the module ``"blocks.0.hook_out"``); the aliases of a model's
``hook_dict`` are accepted as exact names and globs too (:func:`site_modules`). Every way of
choosing sites (an exact path, a glob, a module type or a tuple of types, a list mixing these, or
a predicate) is normalised here, in :func:`resolve_sites`, and only here.

A value computed inside ``forward`` without a module of its own has no module path. Two kinds of
such sites are reachable all the same:

- a parameter lookup (``x = self.W_E[tokens]``): the site ``"param:W_E"`` records the rows
  looked up, wherever forward indexes the parameter (:mod:`tda_interp.hooks.lookups`);
- a functional call (``h = torch.relu(x @ self.W_in)``): its output is the input of the module
  that receives it, recorded with ``hook="input"`` (in a config ``[capture] hook = "input"``) at
  that module; or wrap the call in a module (``self.act = nn.ReLU()``) and name that module.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeAlias

from torch import nn

from tda_interp.exceptions import ConfigError, SiteNotFoundError
from tda_interp.hooks.lookups import PARAM_PREFIX, is_param_site, param_name

__all__ = ["SiteSpec", "close_names", "resolve_sites", "site_modules", "site_parameters"]

SiteSpec: TypeAlias = (
    str
    | type[nn.Module]
    | tuple[type[nn.Module], ...]
    | Sequence[str | type[nn.Module]]
    | Callable[[str, nn.Module], bool]
)
"""A site selection: a module path or glob, a module type, a list of those, or a predicate."""

_GLOB_CHARS = frozenset("*?[")
_LIST_HINT = "list the valid names with [name for name, _ in model.named_modules()]"


def _no_module_hint(model: nn.Module) -> str:
    """How to reach a value that no module returns; names a bare parameter of ``model``."""
    example = next((name for name, _ in model.named_parameters(recurse=False)), "W_E")
    return (
        "A value computed in forward without a module of its own is reached another way: the "
        f"rows of a parameter lookup such as {example}[tokens] are the site "
        f"{PARAM_PREFIX + example!r}; the output of a functional call such as torch.relu(x) is "
        "the input of the module that receives it (name that module with hook='input', in a "
        'config [capture] hook = "input"), or wrap the call in a module '
        "(self.act = nn.ReLU()) and name that module."
    )


def site_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Map every site name of ``model`` to its module: module paths, then hook aliases.

    Module paths come from ``named_modules()`` (the root excluded). A model with a
    ``hook_dict`` attribute mapping names to modules (TransformerLens) adds the names that are
    not module paths, e.g. ``"blocks.0.hook_resid_post"`` for ``"blocks.0.hook_out"``.

    Examples
    --------
    >>> from torch import nn
    >>> list(site_modules(nn.Sequential(nn.Linear(2, 2), nn.ReLU())))
    ['0', '1']
    """
    modules = {name: module for name, module in model.named_modules() if name}
    hook_dict = getattr(model, "hook_dict", None)
    if isinstance(hook_dict, dict):
        for name, module in hook_dict.items():
            if isinstance(name, str) and isinstance(module, nn.Module) and name not in modules:
                modules[name] = module
    return modules


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a module-path glob: ``*`` and ``?`` stay within one dotted segment, ``**`` crosses.

    So ``"encoder.layer.*.output"`` matches ``encoder.layer.3.output`` but not
    ``encoder.layer.3.attention.output``; ``"encoder.**.dense"`` matches every ``dense`` under
    ``encoder``; ``[0-2]`` and ``[!0]`` are character classes as in :mod:`fnmatch`.

    Examples
    --------
    >>> bool(glob_regex("encoder.layer.*.output").match("encoder.layer.3.attention.output"))
    False
    >>> bool(glob_regex("encoder.**.output").match("encoder.layer.3.attention.output"))
    True
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^.]*")
            i += 1
        elif char == "?":
            out.append("[^.]")
            i += 1
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _is_glob(pattern: str) -> bool:
    return any(char in _GLOB_CHARS for char in pattern)


def close_names(query: str, names: Sequence[str], n: int = 5) -> list[str]:
    """Return up to ``n`` names from ``names`` that look most like ``query``.

    Glob characters are ignored for the comparison. The closest names by
    :func:`difflib.get_close_matches` come first, then names containing ``query``. When nothing
    is similar, the first ``n`` names are returned so that an error always shows real names.

    Parameters
    ----------
    query : str
        A misspelled module path or glob.
    names : sequence of str
        The real names to choose from.
    n : int, default=5
        Maximum number of names returned.

    Returns
    -------
    list of str
        At most ``n`` names, closest first.

    Examples
    --------
    >>> close_names("fc3", ["fc1", "act", "out"])
    ['fc1']
    """
    stripped = "".join(char for char in query if char not in "*?[]") or query
    matches = difflib.get_close_matches(stripped, names, n=n, cutoff=0.4)
    matches += [name for name in names if stripped in name and name not in matches]
    return matches[:n] if matches else list(names[:n])


def site_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Map every ``"param:NAME"`` site of ``model`` to its parameter (``named_parameters()``).

    Examples
    --------
    >>> from torch import nn
    >>> list(site_parameters(nn.Linear(2, 2)))
    ['param:weight', 'param:bias']
    """
    return {PARAM_PREFIX + name: param for name, param in model.named_parameters()}


def _not_found(what: str, query: str, names: Sequence[str], model: nn.Module) -> SiteNotFoundError:
    where = "(in layers= or sites=, or [capture] layers of a config)"
    model_name = type(model).__name__
    param_hint = (
        f"{query!r} is a parameter of {model_name}, not a module, so it has no output to hook; "
        f"to record its rows as forward looks them up (e.g. {query}[tokens]), name the site "
        f"{PARAM_PREFIX + query!r}."
    )
    is_param = query in dict(model.named_parameters())
    if not names:
        return SiteNotFoundError(
            f"{what} {query!r} {where} matches no module: {model_name} has no submodules, so "
            "there is nothing to hook; pass a model built from submodules (e.g. nn.Sequential). "
            + (param_hint if is_param else _no_module_hint(model))
        )
    if is_param:
        return SiteNotFoundError(f"{what} {query!r} {where} matches no module: {param_hint}")
    suggestions = ", ".join(repr(name) for name in close_names(query, names))
    return SiteNotFoundError(
        f"{what} {query!r} {where} matches no module of {model_name}; "
        f"closest module names: {suggestions}. Use an exact module path or a glob such as "
        f"'layers.*', or {_LIST_HINT}. {_no_module_hint(model)}"
    )


def _match_param(pattern: str, model: nn.Module) -> list[str]:
    params = list(site_parameters(model))
    if pattern in params:
        return [pattern]
    if _is_glob(pattern):
        regex = glob_regex(param_name(pattern))
        matched = [site for site in params if regex.match(param_name(site))]
        if matched:
            return matched
    if not params:
        raise SiteNotFoundError(
            f"Site {pattern!r} names a parameter, but {type(model).__name__} has no parameters; "
            "name a module path instead, or list them with list(model.named_parameters())."
        )
    suggestions = ", ".join(repr(name) for name in close_names(pattern, params))
    raise SiteNotFoundError(
        f"Site {pattern!r} matches no parameter of {type(model).__name__}; closest: "
        f"{suggestions}. After 'param:' write a name from model.named_parameters() (or a glob "
        "of them); list them with [name for name, _ in model.named_parameters()]."
    )


def _is_module_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, nn.Module)


def _by_type(
    types: tuple[type[nn.Module], ...], named: Sequence[tuple[str, nn.Module]], model: nn.Module
) -> list[str]:
    selected = [name for name, module in named if isinstance(module, types)]
    if not selected:
        wanted = " or ".join(cls.__name__ for cls in types)
        present = sorted({type(module).__name__ for _, module in named})
        raise SiteNotFoundError(
            f"No module of {type(model).__name__} is an instance of {wanted}; its module types "
            f"are {present[:12]}. Pass one of these types, or {_LIST_HINT}."
        )
    return selected


def _match(pattern: str, names: Sequence[str], model: nn.Module) -> list[str]:
    if not isinstance(pattern, str):
        raise ConfigError(
            f"Expected every site to be a str (module path or glob) or a module type, got "
            f"{type(pattern).__name__} {pattern!r}; pass e.g. sites=['fc1', 'layers.*']."
        )
    if pattern in names:
        return [pattern]
    if is_param_site(pattern):
        return _match_param(pattern, model)
    if _is_glob(pattern):
        regex = glob_regex(pattern)
        matched = [name for name in names if regex.match(name)]
        if matched:
            return matched
        raise _not_found("Site pattern", pattern, names, model)
    raise _not_found("Site", pattern, names, model)


def _dedupe(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def resolve_sites(model: nn.Module, sites: SiteSpec) -> list[str]:
    """Resolve a site selection to a list of module paths of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose submodules are searched. The root module (path ``""``) is never a site.
    sites : str, module type, tuple of module types, sequence, or callable
        - a str: an exact module path (``"encoder.layer.3.output"``) or a glob
          (``"encoder.layer.*.output"``), matched case-sensitively, where ``*`` stays within one
          dotted segment and ``**`` crosses segments (see :func:`glob_regex`); or
          ``"param:NAME"`` (``NAME`` from ``named_parameters()``, or a glob of such names): the
          rows of every lookup of that parameter in forward, e.g. ``W_E[tokens]`` (see
          :mod:`tda_interp.hooks.lookups`);
        - a module type (``nn.Linear``) or a tuple of types: every module that is an instance;
        - a sequence (list) of those: exact paths, globs and types mixed;
        - a callable ``predicate(name, module) -> bool``.

    Returns
    -------
    list of str
        Module paths (and ``"param:NAME"`` sites) without duplicates. Globs and predicates
        keep the order of ``model.named_modules()``; an explicit list keeps the user's order
        (each glob in it expands in ``named_modules()`` order at its position).

    Raises
    ------
    SiteNotFoundError
        If a name or pattern matches no module (or no parameter), or the predicate selects none.
        The message lists the closest real names and how to reach a value that no module returns.
    ConfigError
        If ``sites`` has an unsupported type or is an empty list.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> resolve_sites(model, "*")
    ['0', '1', '2']
    >>> resolve_sites(model, ["2", "0"])
    ['2', '0']
    >>> resolve_sites(model, lambda name, module: isinstance(module, nn.Linear))
    ['0', '2']
    >>> resolve_sites(model, (nn.ReLU, nn.Linear))
    ['0', '1', '2']
    >>> resolve_sites(model, ["0", "param:2.*"])
    ['0', 'param:2.weight', 'param:2.bias']
    """
    named = [(name, module) for name, module in model.named_modules() if name]
    names = list(site_modules(model))
    if isinstance(sites, str):
        return _match(sites, names, model)
    if _is_module_type(sites):
        return _by_type((sites,), named, model)  # type: ignore[arg-type]
    if isinstance(sites, tuple) and sites and all(_is_module_type(item) for item in sites):
        return _by_type(sites, named, model)
    if callable(sites):
        selected = [name for name, module in named if sites(name, module)]
        if not selected:
            first = ", ".join(repr(name) for name in names[:5])
            raise SiteNotFoundError(
                f"Site predicate {getattr(sites, '__name__', repr(sites))!r} selected no module "
                f"of {type(model).__name__} (its first module names: {first}); check the "
                f"predicate's condition, or {_LIST_HINT}."
            )
        return selected
    if isinstance(sites, Sequence):
        if len(sites) == 0:
            raise ConfigError(
                "Expected at least one site, got an empty list; pass a module path, a glob such "
                f"as 'layers.*', or a predicate, or {_LIST_HINT}."
            )
        return _dedupe(
            name
            for pattern in sites
            for name in (
                _by_type((pattern,), named, model)  # type: ignore[arg-type]
                if _is_module_type(pattern)
                else _match(pattern, names, model)  # type: ignore[arg-type]
            )
        )
    raise ConfigError(
        f"Expected sites as a str, a module type, a sequence of those or a predicate "
        f"(name, module) -> bool, got {type(sites).__name__}; pass e.g. sites='layers.*' or "
        "sites=nn.Linear."
    )
