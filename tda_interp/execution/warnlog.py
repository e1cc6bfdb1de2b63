"""Warnings of many results, said once per kind with a count and the first places.

A run computes hundreds of diagrams; a condition of the probe set (duplicate points, too few
points for H2) holds for most of them. :class:`WarningLog` collects the warnings raised while
each result is computed (in this process, or carried back from a worker by
:class:`~tda_interp.execution.TaskOutput`), groups them by class and
:attr:`~tda_interp.exceptions.TdaInterpWarning.kind`, and emits each group once::

    TdaInterpWarning: 3 points cannot carry H1 (...). [12 results: checkpoint 'step_0' layer
    'fc' view 'raw'; checkpoint 'step_0' layer 'fc' view 'pc1-2'; checkpoint 'step_1' layer
    'fc' view 'raw'; ...]

Warnings of other classes (a library's ``FutureWarning`` raised in a model's forward pass)
are grouped the same way and keep their class.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tda_interp.exceptions import TdaInterpWarning

__all__ = ["WarningLog", "as_warning"]

_SHOWN = 3


def as_warning(message: Warning | str) -> Warning:
    """A recorded warning's message as a Warning instance (the warnings module may keep a str)."""
    return message if isinstance(message, Warning) else UserWarning(message)


@dataclass
class _Group:
    first: Warning
    places: list[str] = field(default_factory=list)
    count: int = 0
    said: bool = False


class WarningLog:
    """Collects warnings per place and emits each kind once, with a count.

    Examples
    --------
    >>> log = WarningLog()
    >>> for layer in ("a", "b", "c", "d"):
    ...     log.add([TdaInterpWarning("5 duplicates", kind="dup")], f"layer {layer!r}")
    >>> log.counts()
    {'dup': 4}
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     log.emit()
    >>> print(w[0].message)
    5 duplicates [4 results: layer 'a'; layer 'b'; layer 'c'; ...]
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[type[Warning], str], _Group] = {}

    def add(self, caught: Iterable[Warning], place: str) -> None:
        """Record warnings raised at ``place`` (``"checkpoint 'x' layer 'fc' view 'raw'"``)."""
        seen: set[tuple[type[Warning], str]] = set()
        for warning in caught:
            kind = getattr(warning, "kind", None) or str(warning)
            key = (type(warning), kind)
            if key in seen:  # one result warns of a kind once
                continue
            seen.add(key)
            group = self._groups.setdefault(key, _Group(first=warning))
            group.count += 1
            if len(group.places) < _SHOWN:
                group.places.append(place)

    @contextmanager
    def collect(self, place: str) -> Iterator[None]:
        """Record the warnings raised inside the block as raised at ``place``."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        self.add([as_warning(w.message) for w in caught], place)

    def counts(self) -> dict[str, int]:
        """How many results raised each kind so far."""
        return {kind: g.count for (_, kind), g in self._groups.items()}

    def emit(self, *, stacklevel: int = 2) -> None:
        """Emit every group not said yet, once.

        Parameters
        ----------
        stacklevel : int
            As for :func:`warnings.warn`, counted from the caller of :meth:`emit`.
        """
        for group in self._groups.values():
            if not group.said:
                group.said = True
                warnings.warn(_summary(group), stacklevel=stacklevel + 1)

    def emit_quietly(self, *, stacklevel: int = 2) -> None:
        """:meth:`emit`, ignoring errors from warning filters (while another error unwinds)."""
        try:
            self.emit(stacklevel=stacklevel + 1)
        except Warning:
            pass


def _summary(group: _Group) -> Warning:
    first = group.first
    places = "; ".join(group.places)
    if group.count == 1:
        text = f"{first} [{places}]"
    else:
        more = "; ..." if group.count > len(group.places) else ""
        text = f"{first} [{group.count} results: {places}{more}]"
    if isinstance(first, TdaInterpWarning):
        return type(first)(text, kind=first.kind)
    try:
        return type(first)(text)
    except Exception:
        return UserWarning(f"{type(first).__name__}: {text}")
