"""Choose which modules of a model to watch.

A *site* is a module path from :meth:`torch.nn.Module.named_modules`, for example
``"encoder.layer.3.output"``; TransformerLens hook names such as ``"blocks.0.hook_resid_post"``
are module paths too and pass through unchanged. Every way of choosing sites (an exact path, a
glob, a list mixing both, or a predicate) is normalised here, in :func:`resolve_sites`, and only
here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase
from typing import TypeAlias

from torch import nn

from tda_interp.exceptions import ConfigError, SiteNotFoundError

__all__ = ["SiteSpec", "close_names", "resolve_sites"]

SiteSpec: TypeAlias = str | Sequence[str] | Callable[[str, nn.Module], bool]
"""A site selection: an exact module path or glob, a list of those, or a predicate."""

_GLOB_CHARS = frozenset("*?[")
_LIST_HINT = "list the valid names with [name for name, _ in model.named_modules()]"


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


def _not_found(what: str, query: str, names: Sequence[str], model: nn.Module) -> SiteNotFoundError:
    if not names:
        return SiteNotFoundError(
            f"{what} {query!r} matches no module: {type(model).__name__} has no submodules, so "
            "there is nothing to hook; pass a model built from submodules (e.g. nn.Sequential)."
        )
    suggestions = ", ".join(repr(name) for name in close_names(query, names))
    return SiteNotFoundError(
        f"{what} {query!r} matches no module of {type(model).__name__}; "
        f"closest module names: {suggestions}. Use an exact module path or a glob such as "
        f"'layers.*', or {_LIST_HINT}."
    )


def _match(pattern: str, names: Sequence[str], model: nn.Module) -> list[str]:
    if not isinstance(pattern, str):
        raise ConfigError(
            f"Expected every site to be a str (module path or glob), got "
            f"{type(pattern).__name__} {pattern!r}; pass e.g. sites=['fc1', 'layers.*']."
        )
    if pattern in names:
        return [pattern]
    if _is_glob(pattern):
        matched = [name for name in names if fnmatchcase(name, pattern)]
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
    sites : str, sequence of str, or callable
        - a str: an exact module path (``"encoder.layer.3.output"``) or an :mod:`fnmatch` glob
          (``"encoder.layer.*.output"``), matched case-sensitively;
        - a sequence of str: exact paths and globs mixed;
        - a callable ``predicate(name, module) -> bool``.

    Returns
    -------
    list of str
        Module paths without duplicates. Globs and predicates keep the order of
        ``model.named_modules()``; an explicit list keeps the user's order (each glob in it
        expands in ``named_modules()`` order at its position).

    Raises
    ------
    SiteNotFoundError
        If a name or pattern matches no module, or the predicate selects none. The message lists
        the closest real module names.
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
    """
    named = [(name, module) for name, module in model.named_modules() if name]
    names = [name for name, _ in named]
    if isinstance(sites, str):
        return _match(sites, names, model)
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
        return _dedupe(name for pattern in sites for name in _match(pattern, names, model))
    raise ConfigError(
        f"Expected sites as a str, a sequence of str or a predicate (name, module) -> bool, got "
        f"{type(sites).__name__}; pass e.g. sites='layers.*'."
    )
