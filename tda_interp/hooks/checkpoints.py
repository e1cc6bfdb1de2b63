"""Find, load and label training checkpoints for replay.

Only plain state dicts are read: ``.safetensors`` files with :func:`safetensors.torch.load_file`,
anything else with ``torch.load(..., weights_only=True)``, which refuses to unpickle arbitrary
objects. A ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper of tensors is unwrapped.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tda_interp.exceptions import CheckpointError

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "checkpoint_label",
    "find_checkpoints",
    "load_checkpoint",
    "load_state_dict",
    "natural_sort_key",
]

CHECKPOINT_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".safetensors")
"""File suffixes collected when :func:`find_checkpoints` is given a directory."""

_WRAPPER_KEYS = ("state_dict", "model")
_N_SHOWN = 5
_DIGITS = re.compile(r"(\d+)")
_SAVE_HINT = (
    "save it with torch.save(model.state_dict(), path) or "
    "safetensors.torch.save_file(model.state_dict(), path)"
)


def natural_sort_key(path: str | Path) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value, so ``step_900`` precedes ``step_1000``.

    Parameters
    ----------
    path : str or pathlib.Path
        A file name or path; the whole path string is compared.

    Returns
    -------
    tuple
        Alternating lower-cased text and int parts, then the original string as a tie-break
        (so ``step_01`` and ``step_1`` still have a fixed order).

    Examples
    --------
    >>> sorted(["step_1000.pt", "step_900.pt", "step_90.pt"], key=natural_sort_key)
    ['step_90.pt', 'step_900.pt', 'step_1000.pt']
    """
    text = str(path)
    parts = _DIGITS.split(text)  # text, digits, text, digits, ..., text: types align by position
    key = tuple(int(part) if i % 2 else part.lower() for i, part in enumerate(parts))
    return (*key, text)


def _describe(names: Sequence[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:_N_SHOWN])
    more = f" and {len(names) - _N_SHOWN} more" if len(names) > _N_SHOWN else ""
    return f"{len(names)} ({shown}{more})"


def find_checkpoints(pattern: str | Path) -> list[Path]:
    """List checkpoint files, naturally sorted.

    Parameters
    ----------
    pattern : str or pathlib.Path
        A directory (every ``*.pt``, ``*.pth`` and ``*.safetensors`` file directly inside it), a
        glob such as ``"runs/a/step_*.pt"`` (``**`` recurses), or a single file.

    Returns
    -------
    list of pathlib.Path
        Files sorted with :func:`natural_sort_key`.

    Raises
    ------
    CheckpointError
        If nothing is found.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> for step in (1000, 900):
    ...     torch.save({"w": torch.zeros(1)}, folder / f"step_{step}.pt")
    >>> [path.name for path in find_checkpoints(folder)]
    ['step_900.pt', 'step_1000.pt']
    """
    path = Path(pattern).expanduser()
    kinds = ", ".join(f"*{suffix}" for suffix in CHECKPOINT_SUFFIXES)
    if path.is_dir():
        found = [
            item
            for item in path.iterdir()
            if item.is_file() and item.suffix.lower() in CHECKPOINT_SUFFIXES
        ]
        if not found:
            raise CheckpointError(
                f"Directory '{path}' holds no checkpoint files ({kinds}); point to the folder "
                "the checkpoints were saved in, or pass a glob such as 'runs/x/step_*.pt'."
            )
    elif path.is_file():
        found = [path]
    else:
        found = [
            Path(item) for item in glob.glob(str(path), recursive=True) if Path(item).is_file()
        ]
        if not found:
            raise CheckpointError(
                f"No checkpoint files match '{pattern}'; pass an existing directory (searched "
                f"for {kinds}) or a glob such as 'runs/x/step_*.pt'."
            )
    return sorted(found, key=natural_sort_key)


def _tensor_dict(obj: object) -> dict[str, torch.Tensor] | None:
    if (
        isinstance(obj, Mapping)
        and obj
        and all(
            isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in obj.items()
        )
    ):
        return dict(obj)
    return None


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a checkpoint file onto the CPU, never unpickling objects.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.safetensors`` file, or a file written by :func:`torch.save` (``.pt``, ``.pth``,
        ...) holding a state dict, or a dict with a ``"state_dict"`` or ``"model"`` entry that is
        one.

    Returns
    -------
    dict of str to torch.Tensor
        Parameter and buffer tensors on the CPU.

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable, holds pickled objects other than tensors, or holds
        no state dict.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> file = Path(tempfile.mkdtemp()) / "step_0100.pt"
    >>> torch.save({"model": {"weight": torch.ones(2)}, "step": 100}, file)
    >>> load_state_dict(file)
    {'weight': tensor([1., 1.])}
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"Checkpoint file '{path}' does not exist; list available files with "
            "find_checkpoints('path/to/folder')."
        )
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            loaded: object = load_file(str(path), device="cpu")
        except Exception as err:
            raise CheckpointError(
                f"Could not read safetensors checkpoint '{path}': {err}; the file may be "
                f"truncated or not a safetensors file; {_SAVE_HINT}."
            ) from err
    else:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            first_line = (str(err).splitlines() or [""])[0][:200]
            raise CheckpointError(
                f"Could not load checkpoint '{path}' with torch.load(weights_only=True) "
                f"({type(err).__name__}: {first_line}). It must "
                "be a plain state_dict of tensors (arbitrary pickled objects are refused for "
                f"safety); {_SAVE_HINT}."
            ) from err
    state = _tensor_dict(loaded)
    if state is None and isinstance(loaded, Mapping):
        for key in _WRAPPER_KEYS:
            state = _tensor_dict(loaded.get(key))
            if state is not None:
                break
    if state is None:
        found = (
            f"a dict with keys {_describe([str(key) for key in loaded])}"
            if isinstance(loaded, Mapping)
            else f"a {type(loaded).__name__}"
        )
        raise CheckpointError(
            f"Expected checkpoint '{path}' to hold a state_dict (a dict of tensors, or one under "
            f"a 'state_dict' or 'model' key), got {found}; {_SAVE_HINT}."
        )
    return state


def _prefix_hint(missing: Sequence[str], unexpected: Sequence[str]) -> str:
    """Suggest stripping a prefix such as ``module.`` when that would fix the key mismatch."""
    if not unexpected or not missing:
        return ""
    prefixes = {key.split(".", 1)[0] for key in unexpected if "." in key}
    if len(prefixes) != 1 or not all("." in key for key in unexpected):
        return ""
    prefix = f"{prefixes.pop()}."
    if {key[len(prefix) :] for key in unexpected} >= set(missing):
        return (
            f" The checkpoint keys carry the prefix '{prefix}'; strip it first: "
            f"{{k.removeprefix('{prefix}'): v for k, v in state.items()}}."
        )
    return ""


def load_checkpoint(model: nn.Module, path: str | Path, *, strict: bool = True) -> nn.Module:
    """Load the weights in ``path`` into ``model`` in place.

    Parameters
    ----------
    model : torch.nn.Module
        The model to fill; its architecture must match the checkpoint.
    path : str or pathlib.Path
        A checkpoint file; see :func:`load_state_dict`.
    strict : bool, default=True
        If True, missing and unexpected keys are errors. If False they are ignored, but at least
        one key must match and shapes must agree.

    Returns
    -------
    torch.nn.Module
        ``model`` itself, for chaining.

    Raises
    ------
    CheckpointError
        If the file cannot be read, keys are missing or unexpected (with ``strict=True``), no key
        matches, or shapes differ. The message lists the first keys of each kind and the file.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from torch import nn
    >>> file = Path(tempfile.mkdtemp()) / "step_0100.pt"
    >>> torch.save(nn.Linear(3, 2).state_dict(), file)
    >>> load_checkpoint(nn.Linear(3, 2), file)
    Linear(in_features=3, out_features=2, bias=True)
    """
    path = Path(path).expanduser()
    state = load_state_dict(path)
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    name = type(model).__name__
    if (strict and (missing or unexpected)) or (expected and len(missing) == len(expected)):
        parts = []
        if missing:
            parts.append(f"missing keys {_describe(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_describe(unexpected)}")
        raise CheckpointError(
            f"Checkpoint '{path}' does not fit {name}: {'; '.join(parts)}. It was probably "
            "saved from another architecture or configuration; build the model that wrote it, "
            "or pass strict=False to load only the matching keys."
            + _prefix_hint(missing, unexpected)
        )
    mismatched = [
        f"{key!r}: checkpoint {tuple(state[key].shape)} vs model {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    if mismatched:
        shown = "; ".join(mismatched[:_N_SHOWN])
        more = f" and {len(mismatched) - _N_SHOWN} more" if len(mismatched) > _N_SHOWN else ""
        raise CheckpointError(
            f"Checkpoint '{path}' does not fit {name}: {len(mismatched)} shape mismatches "
            f"({shown}{more}). It was probably saved from a model of another size; build the "
            "model with the configuration that wrote it."
        )
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise CheckpointError(
            f"Could not load checkpoint '{path}' into {name}: {err}. It was probably saved from "
            "another architecture; build the model that wrote it."
        ) from err
    return model


def checkpoint_label(path: str | Path) -> str:
    """Return a short label for a checkpoint: its file name without suffix.

    Parameters
    ----------
    path : str or pathlib.Path
        A checkpoint file.

    Returns
    -------
    str
        The file stem.

    Examples
    --------
    >>> checkpoint_label("runs/a/step_0100.safetensors")
    'step_0100'
    """
    return Path(path).stem
