"""Pick the tensor to capture from what a module returns (or receives).

Modules return a tensor, a tuple or list (``(hidden, attention_weights)``), a mapping or a Hugging
Face ``ModelOutput`` (an ``OrderedDict`` subclass that is also a dataclass, whose ``None`` fields
are left out), or any dataclass. An *element* chooses one entry:

- ``None`` (the default): the first tensor, in order;
- an int: a position (``ModelOutput`` positions skip ``None`` fields, as ``output[i]`` does);
- a str: a key or attribute name such as ``"last_hidden_state"``.

The inputs of a module, seen by a forward pre-hook, are an :class:`CallInputs`: the positional
arguments first (element ``0``, ``1``, ...), then the keyword arguments by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from tda_interp.exceptions import CaptureError
from tda_interp.options.capture import ElementLike

__all__ = ["CallInputs", "ElementLike", "describe_output", "output_elements", "select_output"]


class CallInputs(NamedTuple):
    """The arguments of one module call, as seen by a forward pre-hook."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def output_elements(output: object) -> list[tuple[str | int, object]]:
    """List the (name or position, value) pairs of a structured module output.

    Parameters
    ----------
    output : object
        A tensor (one element, position 0), tuple, list, mapping, dataclass or
        :class:`CallInputs`.

    Returns
    -------
    list of (int or str, object)
        Positions for tuples and lists (and positional arguments), names for mappings,
        dataclasses and keyword arguments. ``None`` fields of a mapping are left out.

    Examples
    --------
    >>> import torch
    >>> [key for key, _ in output_elements((torch.zeros(2), None, "x"))]
    [0, 1, 2]
    >>> [key for key, _ in output_elements({"logits": torch.zeros(2), "loss": None})]
    ['logits']
    """
    if isinstance(output, CallInputs):
        items: list[tuple[str | int, object]] = list(enumerate(output.args))
        return items + list(output.kwargs.items())
    if isinstance(output, torch.Tensor):
        return [(0, output)]
    if isinstance(output, Mapping):
        return [(str(key), value) for key, value in output.items() if value is not None]
    if isinstance(output, (tuple, list)):
        return list(enumerate(output))
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return [(field.name, getattr(output, field.name)) for field in dataclasses.fields(output)]
    return []


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)}"
    if value is None:
        return "None"
    return type(value).__name__


def describe_output(output: object) -> str:
    """Describe a module output in one line: its type and the shapes of its tensors.

    Parameters
    ----------
    output : object
        What a module returned.

    Returns
    -------
    str
        E.g. ``"Tensor(2, 7, 384)"`` or ``"tuple[0: Tensor(2, 7, 384), 1: None]"``.

    Examples
    --------
    >>> import torch
    >>> describe_output((torch.zeros(2, 3), None))
    'tuple[0: Tensor(2, 3), 1: None]'
    """
    if isinstance(output, torch.Tensor) or not output_elements(output):
        return _describe(output)
    inner = ", ".join(f"{key}: {_describe(value)}" for key, value in output_elements(output))
    return f"{type(output).__name__}[{inner}]"


def _where(site: str, hook: str) -> str:
    return f"site {site!r}" if hook == "output" else f"the input of site {site!r}"


def select_output(
    output: object, element: ElementLike = None, *, site: str = "<module>", hook: str = "output"
) -> torch.Tensor:
    """Return the tensor chosen by ``element`` from a module's output or inputs.

    Parameters
    ----------
    output : object
        A tensor, tuple, list, mapping, ``ModelOutput``, dataclass or :class:`CallInputs`.
    element : int, str or None, default=None
        ``None``: the first tensor; an int: a position; a str: a key, attribute or keyword name.
        A bare tensor output accepts ``None``, ``0`` and ``-1``.
    site : str, default="<module>"
        Module path named in error messages.
    hook : {"output", "input"}, default="output"
        Whether ``output`` is a module's output or its call inputs (for messages only).

    Returns
    -------
    torch.Tensor
        The chosen tensor, not copied.

    Raises
    ------
    CaptureError
        If the element does not exist or is not a tensor; the message lists the available
        elements of the output.

    Examples
    --------
    >>> import torch
    >>> out = {"last_hidden_state": torch.zeros(2, 5, 8), "pooler_output": torch.ones(2, 8)}
    >>> tuple(select_output(out, "pooler_output").shape)
    (2, 8)
    >>> tuple(select_output(out).shape)
    (2, 5, 8)
    """
    if isinstance(output, torch.Tensor) and element in (None, 0, -1):
        return output
    elements = output_elements(output)
    available = ", ".join(f"{key!r}: {_describe(value)}" for key, value in elements) or "none"
    where = _where(site, hook)
    if element is None:
        for _, candidate in elements:
            if isinstance(candidate, torch.Tensor):
                return candidate
        raise CaptureError(
            f"Expected {where} to give a tensor, or a tuple / mapping / ModelOutput holding one, "
            f"got {type(output).__name__} (elements: {available}); hook a submodule that "
            "returns a tensor instead."
        )
    value: object
    if isinstance(element, bool) or not isinstance(element, (int, str)):
        raise CaptureError(
            f"Expected output_index to be an int position, a str name or None for {where}, "
            f"got {type(element).__name__} {element!r}."
        )
    if isinstance(element, int):
        positions = [value for key, value in elements if isinstance(key, int)]
        if isinstance(output, Mapping):
            positions = [value for _, value in elements]
        if not -len(positions) <= element < len(positions):
            raise CaptureError(
                f"output_index={element} is out of range for the {type(output).__name__} given "
                f"by {where}, which has {len(positions)} positional elements ({available}); pass "
                "one of the listed positions or names."
            )
        value = positions[element]
    else:
        named = {key: value for key, value in elements if isinstance(key, str)}
        if element in named:
            value = named[element]
        elif hasattr(output, element) and not isinstance(output, CallInputs):
            value = getattr(output, element)
        else:
            raise CaptureError(
                f"{where[0].upper()}{where[1:]} gave a {type(output).__name__} without an "
                f"element {element!r}; its elements are {available}. Pass one of these names or "
                "positions as output_index."
            )
    if isinstance(value, torch.Tensor):
        return value
    raise CaptureError(
        f"Expected a tensor at output_index={element!r} of the {type(output).__name__} given by "
        f"{where}, got {type(value).__name__}; its elements are {available}. Pass the "
        "output_index of a tensor element, or hook a submodule that returns a tensor."
    )
