"""Parameter lookups as sites: ``"param:W_E"`` records ``W_E[tokens]`` wherever forward indexes it.

Research models often keep an embedding as a bare :class:`torch.nn.Parameter` and index it in
``forward`` (``x = self.W_E[tokens]``): no module returns the embedded rows, so no hook can see
them. The site ``"param:NAME"``, where ``NAME`` is a name from ``model.named_parameters()``
(``"W_E"``, ``"embed.W_E"``; globs as for module paths), records the result of every *lookup*
of that parameter during a forward pass:

- ``param[index]`` (any index: ``W_E[tokens]``, ``W_pos[:seq]``),
- ``torch.nn.functional.embedding(index, param)`` and ``torch.embedding(param, index)``,
- ``torch.index_select(param, dim, index)`` and ``param.index_select(dim, index)``.

The rows are recorded as what the lookup returned (``W_E[tokens]`` of shape ``(batch, pos,
d_model)`` for ``tokens`` of shape ``(batch, pos)``, or ``(batch, d_model)`` for ``(batch,)``), so
the reductions, labels and clouds of module sites apply unchanged; a parameter looked up ``k``
times per pass gives clouds ``"param:W_E#0"`` .. ``"param:W_E#<k-1>"``.

How: for the duration of the capture a :class:`torch.overrides.TorchFunctionMode` watches torch
calls and records those whose parameter argument *is* the watched parameter object. Nothing of
the model is replaced or wrapped (its parameters, ``forward`` and ``state_dict`` are untouched),
and the mode is exited when the capture ends, also when the forward pass raises.

Limits: a lookup on a derived tensor (``self.W_E.to(dtype)[tokens]``, ``self.W_E.T[...]``, a
parameter copied into a local in ``__init__``) or a product with one-hot vectors
(``one_hot @ W_E``) is not a lookup of the parameter and is not seen; buffers are not
parameters; code compiled with :func:`torch.compile`, and forward passes run in other threads,
run without the mode. While the mode is active every torch call of the forward pass goes
through one Python check, which slows small operations down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["PARAM_PREFIX", "ParameterLookups", "is_param_site", "param_name"]

PARAM_PREFIX = "param:"
"""Prefix of a site that records the lookups of a parameter: ``"param:W_E"``."""

# lookup function -> position of the parameter among its positional arguments, and its keyword
_LOOKUPS: dict[Any, tuple[int, str]] = {
    torch.Tensor.__getitem__: (0, "self"),
    F.embedding: (1, "weight"),
    torch.embedding: (0, "weight"),
    torch.index_select: (0, "input"),
    torch.Tensor.index_select: (0, "self"),
}


def is_param_site(site: str) -> bool:
    """Whether ``site`` names the lookups of a parameter (``"param:NAME"``).

    Examples
    --------
    >>> is_param_site("param:W_E"), is_param_site("embed")
    (True, False)
    """
    return site.startswith(PARAM_PREFIX)


def param_name(site: str) -> str:
    """The parameter name of a ``"param:NAME"`` site.

    Examples
    --------
    >>> param_name("param:blocks.0.W_pos")
    'blocks.0.W_pos'
    """
    return site[len(PARAM_PREFIX) :]


class ParameterLookups(TorchFunctionMode):
    """A torch function mode that passes every lookup of the watched parameters to ``record``.

    Parameters
    ----------
    sites : mapping of str to torch.nn.Parameter
        Site name (``"param:W_E"``) to the parameter whose lookups it records.
    record : callable
        ``record(site, tensor)``, called with what each lookup returned.

    Examples
    --------
    >>> import torch
    >>> W_E = torch.nn.Parameter(torch.eye(3))
    >>> seen = []
    >>> with ParameterLookups({"param:W_E": W_E}, lambda site, rows: seen.append(rows)):
    ...     _ = W_E[torch.tensor([2, 0])] * 2
    >>> seen[0].tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        sites: Mapping[str, nn.Parameter],
        record: Callable[[str, torch.Tensor], None],
    ) -> None:
        super().__init__()
        self._sites = {id(param): (site, param) for site, param in sites.items()}
        self._record = record

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            where = _LOOKUPS.get(func)
        except TypeError:  # an unhashable callable is no lookup
            where = None
        if where is not None:
            position, keyword = where
            param = args[position] if len(args) > position else kwargs.get(keyword)
            found = self._sites.get(id(param))
            if found is not None and found[1] is param and isinstance(out, torch.Tensor):
                self._record(found[0], out)
        return out
