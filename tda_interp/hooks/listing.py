"""Show what can be captured: the module tree, with output shapes from one probe batch.

:func:`describe_sites` returns one :class:`SiteInfo` row per module; :func:`list_sites` prints
the same as an indented tree. With ``example_inputs`` every module is hooked for one forward
pass (under :func:`torch.no_grad`, in eval mode, modes restored and hooks removed afterwards, also
on an exception) to record what it returns and how often it is called.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from torch import nn

from tda_interp.exceptions import ConfigError
from tda_interp.hooks.guards import inference_mode
from tda_interp.hooks.inputs import Inputs, iter_batches, n_rows
from tda_interp.hooks.outputs import describe_output

__all__ = ["SiteInfo", "describe_sites", "list_sites"]


@dataclass(frozen=True)
class SiteInfo:
    """One module of a model, as listed by :func:`describe_sites`.

    Attributes
    ----------
    name : str
        Module path, usable as a site.
    type : str
        Class name of the module.
    depth : int
        Number of dots in ``name`` plus one (``"encoder.layer.0"`` has depth 3).
    n_params : int
        Parameters owned by the module itself (not its children).
    output : str or None
        What the module returned in the probe pass (e.g. ``"Tensor(2, 7, 384)"``); ``None``
        without example inputs, ``"not called"`` if it did not run.
    n_calls : int or None
        Calls in the probe pass (more than 1 gives clouds ``"name#0"``, ``"name#1"``, ...).
    """

    name: str
    type: str
    depth: int
    n_params: int
    output: str | None = None
    n_calls: int | None = None


def _check_depth(max_depth: object) -> None:
    if max_depth is not None and (
        isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1
    ):
        raise ConfigError(
            f"Expected max_depth to be a positive int or None, got {max_depth!r}; pass e.g. "
            "max_depth=2 to show the two top levels of the module tree."
        )


def _probe(model: nn.Module, inputs: Inputs, modules: dict[str, nn.Module]) -> dict[str, list]:
    total = n_rows(inputs)
    _, _, args, kwargs = next(iter_batches(inputs, total, total))
    seen: dict[str, list[Any]] = {name: [] for name in modules}
    with inference_mode(model), ExitStack() as stack:
        for name, module in modules.items():

            def hook(module: nn.Module, args: Any, output: Any, name: str = name) -> None:
                seen[name].append(describe_output(output))

            stack.callback(module.register_forward_hook(hook).remove)
        model(*args, **kwargs)
    return seen


def describe_sites(
    model: nn.Module, example_inputs: Inputs | None = None, *, max_depth: int | None = None
) -> list[SiteInfo]:
    """List the modules of ``model`` that can be captured, with their outputs on a probe batch.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    example_inputs : Tensor, tuple, dict or None, default=None
        One probe batch, passed like the inputs of
        :func:`~tda_interp.hooks.run_capture`; ``None`` lists names and types only.
    max_depth : int or None, default=None
        Only modules at most this deep (``"encoder.layer"`` has depth 2).

    Returns
    -------
    list of SiteInfo
        One row per module in ``named_modules()`` order, the root (never a site) excluded.

    Raises
    ------
    ConfigError
        If ``example_inputs`` is empty or malformed, or ``max_depth`` is not a positive int.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    >>> [(row.name, row.output) for row in describe_sites(model, torch.zeros(2, 4))]
    [('0', 'Tensor(2, 8)'), ('1', 'Tensor(2, 8)')]
    """
    _check_depth(max_depth)
    modules = {
        name: module
        for name, module in model.named_modules()
        if name and (max_depth is None or name.count(".") + 1 <= max_depth)
    }
    seen = _probe(model, example_inputs, modules) if example_inputs is not None else None
    rows = []
    for name, module in modules.items():
        output = n_calls = None
        if seen is not None:
            calls = seen[name]
            n_calls = len(calls)
            output = calls[0] if calls else "not called"
        rows.append(
            SiteInfo(
                name=name,
                type=type(module).__name__,
                depth=name.count(".") + 1,
                n_params=sum(p.numel() for p in module.parameters(recurse=False)),
                output=output,
                n_calls=n_calls,
            )
        )
    return rows


def list_sites(
    model: nn.Module, example_inputs: Inputs | None = None, *, max_depth: int | None = None
) -> str:
    """Return the module tree of ``model`` as text, with output shapes from one probe batch.

    Each line is a module path (indented by depth, usable as a site), its type, its own
    parameter count and, with ``example_inputs``, what it returned and how often it ran.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    example_inputs : Tensor, tuple, dict or None, default=None
        One probe batch; see :func:`describe_sites`.
    max_depth : int or None, default=None
        Only modules at most this deep.

    Returns
    -------
    str
        The table, one module per line; print it.

    Raises
    ------
    ConfigError
        See :func:`describe_sites`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    >>> print(list_sites(model, torch.zeros(2, 4)))
    Sequential
      0  Linear  40 params  -> Tensor(2, 8)
      1  ReLU               -> Tensor(2, 8)
    """
    rows = describe_sites(model, example_inputs, max_depth=max_depth)
    labels = [f"{'  ' * row.depth}{row.name}" for row in rows]
    width = max((len(label) for label in labels), default=0)
    type_width = max((len(row.type) for row in rows), default=0)
    params = [f"{row.n_params:,} params" if row.n_params else "" for row in rows]
    param_width = max((len(text) for text in params), default=0)
    lines = [type(model).__name__]
    for label, row, param in zip(labels, rows, params, strict=True):
        line = f"{label:<{width}}  {row.type:<{type_width}}  {param:<{param_width}}"
        if row.output is not None:
            calls = f" (called {row.n_calls}x)" if row.n_calls and row.n_calls > 1 else ""
            line += f"  -> {row.output}{calls}"
        lines.append(line.rstrip())
    return "\n".join(lines)
