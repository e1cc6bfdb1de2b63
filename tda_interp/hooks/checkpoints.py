"""Find, load and label training checkpoints for replay.

A checkpoint is one of

- a state-dict file: ``.safetensors`` (read with :func:`safetensors.torch.load_file`) or anything
  else written by :func:`torch.save` (read with ``torch.load(..., weights_only=True)``, which
  refuses to unpickle arbitrary objects); a ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper
  of tensors is unwrapped;
- a Hugging Face model folder as ``save_pretrained`` and the ``Trainer`` write it
  (``checkpoint-500/`` holding ``config.json`` and ``model.safetensors`` or
  ``pytorch_model.bin``, possibly sharded with an ``*.index.json``); only the weights are read,
  into the model the caller built;
- anything else, through a user ``loader(path)`` returning a state dict or a module.

Checkpoints are replayed in natural order (``step_900`` before ``step_1000``, ``checkpoint-900/``
before ``checkpoint-1000/``) and labelled by file stem or folder name.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import torch
from torch import nn

from tda_interp.exceptions import CheckpointError
from tda_interp.store.format import step_from_label

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "HF_WEIGHT_FILES",
    "CheckpointLoader",
    "CheckpointSpec",
    "checkpoint_fingerprint",
    "checkpoint_label",
    "checkpoint_labels",
    "find_checkpoints",
    "is_hf_model_dir",
    "iter_checkpoints",
    "load_checkpoint",
    "load_state_dict",
    "natural_sort_key",
    "resolve_checkpoints",
]

CheckpointSpec: TypeAlias = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""Checkpoints: a folder, a glob or a file (see :func:`find_checkpoints`), or a list of them."""

CHECKPOINT_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".safetensors")
"""File suffixes collected when :func:`find_checkpoints` is given a directory."""

HF_WEIGHT_FILES: tuple[str, ...] = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""Weight files of a Hugging Face model folder, in order of preference (safetensors first)."""

CheckpointLoader: TypeAlias = Callable[[Path], "Mapping[str, torch.Tensor] | nn.Module"]
"""A user loader: ``loader(path)`` returns a state dict or a module holding the weights."""

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


def is_hf_model_dir(path: str | Path) -> bool:
    """Whether ``path`` is a Hugging Face model folder: ``config.json`` plus a weight file.

    Parameters
    ----------
    path : str or pathlib.Path
        Any path.

    Returns
    -------
    bool
        True for a directory holding ``config.json`` and one of :data:`HF_WEIGHT_FILES`.

    Examples
    --------
    >>> import tempfile
    >>> is_hf_model_dir(tempfile.mkdtemp())
    False
    """
    path = Path(path)
    return (
        path.is_dir()
        and (path / "config.json").is_file()
        and any((path / name).is_file() for name in HF_WEIGHT_FILES)
    )


def _is_checkpoint_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES


def find_checkpoints(pattern: str | os.PathLike[str]) -> list[Path]:
    """List checkpoints, naturally sorted.

    Parameters
    ----------
    pattern : str or pathlib.Path
        - a directory: every ``*.pt``, ``*.pth`` and ``*.safetensors`` file and every Hugging
          Face model folder (see :func:`is_hf_model_dir`) directly inside it, such as the
          ``checkpoint-500/`` folders the ``transformers`` Trainer writes; a directory that is
          itself a Hugging Face model folder is returned alone;
        - a glob such as ``"runs/a/step_*.pt"`` or ``"runs/a/checkpoint-*"`` (``**`` recurses):
          every matching file (any suffix, for a user loader) and Hugging Face model folder;
        - a single file.

    Returns
    -------
    list of pathlib.Path
        Files and folders sorted with :func:`natural_sort_key`.

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
    if is_hf_model_dir(path):
        found = [path]
    elif path.is_dir():
        found = [
            item for item in path.iterdir() if _is_checkpoint_file(item) or is_hf_model_dir(item)
        ]
        if not found:
            raise CheckpointError(
                f"Directory '{path}' holds no checkpoint files ({kinds}) and no Hugging Face "
                "model folders (config.json with model.safetensors or pytorch_model.bin); point "
                "to the folder the checkpoints were saved in, or pass a glob such as "
                "'runs/x/step_*.pt'."
            )
    elif path.is_file():
        found = [path]
    else:
        found = [
            Path(item)
            for item in glob.glob(str(path), recursive=True)
            if Path(item).is_file() or is_hf_model_dir(item)
        ]
        if not found:
            raise CheckpointError(
                f"No checkpoint files or Hugging Face model folders match '{pattern}'; pass an "
                f"existing directory (searched for {kinds} and model folders) or a glob such as "
                "'runs/x/step_*.pt'."
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


def _read_file(path: Path) -> object:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as err:
            raise CheckpointError(
                f"Could not read safetensors checkpoint '{path}': {err}; the file may be "
                f"truncated or not a safetensors file; {_SAVE_HINT}."
            ) from err
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head.startswith((b"PK", b"\x80")):  # neither torch's zip format nor a pickle
        raise CheckpointError(
            f"Checkpoint '{path}' is not a file written by torch.save (it starts with "
            f"{head!r}{', like text' if head.isascii() else ''}); {_SAVE_HINT}."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = (str(err).splitlines() or [""])[0][:200]
        if "weights_only" in str(err):  # torch's advice to unpickle anything: not ours to give
            reason = "it holds objects other than tensors"
        raise CheckpointError(
            f"Could not load checkpoint '{path}' ({type(err).__name__}: {reason}). It must be a "
            "plain state_dict of tensors: arbitrary pickled objects are never unpickled, for "
            f"safety; {_SAVE_HINT}."
        ) from err


def _unwrap(path: Path, loaded: object) -> dict[str, torch.Tensor]:
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


def _hf_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Read the weights of a Hugging Face model folder, merging shards listed in an index."""
    name = next(name for name in HF_WEIGHT_FILES if (folder / name).is_file())
    if not name.endswith(".index.json"):
        return _unwrap(folder / name, _read_file(folder / name))
    index = folder / name
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()), key=natural_sort_key)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"Could not read the shard index '{index}' ({type(err).__name__}: {err}); it should "
            'be JSON with a "weight_map" from tensor names to shard files, as save_pretrained '
            "writes it."
        ) from err
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        file = folder / shard
        if not file.is_file():
            raise CheckpointError(
                f"Shard '{file}' listed in '{index}' does not exist; the checkpoint folder is "
                "incomplete, copy every shard file next to the index."
            )
        state.update(_unwrap(file, _read_file(file)))
    return state


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a checkpoint onto the CPU, never unpickling objects.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.safetensors`` file; a file written by :func:`torch.save` (``.pt``, ``.pth``, ...)
        holding a state dict, or a dict with a ``"state_dict"`` or ``"model"`` entry that is
        one; or a Hugging Face model folder (see :func:`is_hf_model_dir`), whose
        ``model.safetensors`` is preferred over ``pytorch_model.bin`` and whose shards are
        merged.

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
    if is_hf_model_dir(path):
        return _hf_weights(path)
    if path.is_dir():
        raise CheckpointError(
            f"Checkpoint '{path}' is a directory but not a Hugging Face model folder (expected "
            f"config.json and one of {', '.join(HF_WEIGHT_FILES)} inside); pass a checkpoint "
            "file, or the folder save_pretrained wrote."
        )
    if not path.is_file():
        raise CheckpointError(
            f"Checkpoint file '{path}' does not exist; list available files with "
            "find_checkpoints('path/to/folder')."
        )
    return _unwrap(path, _read_file(path))


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


def _from_loader(loader: CheckpointLoader, path: Path, model: nn.Module) -> dict[str, Any] | None:
    """Call a user loader; return its state dict, or None if it filled ``model`` itself."""
    try:
        loaded: object = loader(path)
    except CheckpointError:
        raise
    except Exception as err:
        raise CheckpointError(
            f"The checkpoint loader {getattr(loader, '__name__', repr(loader))} failed on "
            f"'{path}' ({type(err).__name__}: {err}); fix the loader or the file."
        ) from err
    if loaded is model:
        return None
    if isinstance(loaded, nn.Module):
        return dict(loaded.state_dict())
    state = _tensor_dict(loaded)
    if state is None:
        raise CheckpointError(
            f"Expected the checkpoint loader {getattr(loader, '__name__', repr(loader))} to "
            f"return a state_dict (a dict of str to Tensor) or an nn.Module for '{path}', got "
            f"{type(loaded).__name__}; return model.state_dict() or the loaded model."
        )
    return dict(state)


def _match_keys(model: nn.Module, state: dict[str, Any], expected: Mapping[str, Any]) -> None:
    """Reconcile harmless key differences in place, as ``from_pretrained`` does.

    - Keys naming one of the model's non-persistent buffers (e.g. ``embeddings.position_ids``,
      saved by older ``transformers`` versions) are dropped.
    - With a Hugging Face ``base_model_prefix`` (``"bert"``), a checkpoint of the base model
      loads into a model with a head and vice versa: the prefix is added or stripped where that
      turns an unexpected key into a missing one.
    """
    persistent = set(expected)
    for name, _ in model.named_buffers():
        if name not in persistent:
            state.pop(name, None)
    prefix = getattr(model, "base_model_prefix", None)
    if not isinstance(prefix, str) or not prefix:
        return
    lead = f"{prefix}."
    missing = {key for key in expected if key not in state}
    for key in [key for key in state if key not in expected]:
        for renamed in (key.removeprefix(lead), lead + key):
            if renamed != key and renamed in missing:
                state[renamed] = state.pop(key)
                missing.discard(renamed)
                break


def _tied(
    expected: Mapping[str, Any], missing: Sequence[str], state: Mapping[str, Any]
) -> set[str]:
    """Missing keys that share storage with a key in ``state`` (tied weights, saved once)."""
    present: dict[tuple[int, int, tuple[int, ...]], str] = {}
    for key, tensor in expected.items():
        if key in state and isinstance(tensor, torch.Tensor) and tensor.numel():
            present[(tensor.data_ptr(), tensor.numel(), tuple(tensor.shape))] = key
    tied = set()
    for key in missing:
        tensor = expected[key]
        if isinstance(tensor, torch.Tensor) and tensor.numel():
            if (tensor.data_ptr(), tensor.numel(), tuple(tensor.shape)) in present:
                tied.add(key)
    return tied


def load_checkpoint(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    strict: bool = True,
    loader: CheckpointLoader | None = None,
) -> nn.Module:
    """Load the weights in ``path`` into ``model`` in place.

    Parameters
    ----------
    model : torch.nn.Module
        The model to fill; its architecture must match the checkpoint.
    path : str or pathlib.Path
        A checkpoint file or Hugging Face model folder; see :func:`load_state_dict`.
    strict : bool, default=True
        If True, missing and unexpected keys are errors. If False they are ignored, but at least
        one key must match and shapes must agree. Either way, keys of the model's
        non-persistent buffers are ignored, tied weights saved once count for both names, and a
        Hugging Face ``base_model_prefix`` is added or stripped where needed.
    loader : callable, optional
        ``loader(path)`` returning a state dict or an ``nn.Module`` (``model`` itself if it
        loaded the weights in place), for formats this module does not read. The same checks
        apply to what it returns.

    Returns
    -------
    torch.nn.Module
        ``model`` itself, for chaining.

    Raises
    ------
    CheckpointError
        If the file cannot be read, keys are missing or unexpected (with ``strict=True``), no key
        matches, shapes differ, or ``loader`` fails. The message lists the first keys of each
        kind and the file.

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
    if loader is None:
        state: dict[str, Any] = dict(load_state_dict(path))
    else:
        from_loader = _from_loader(loader, path, model)
        if from_loader is None:
            return model
        state = from_loader
    expected = model.state_dict()
    _match_keys(model, state, expected)
    missing = [key for key in expected if key not in state]
    missing = [key for key in missing if key not in _tied(expected, missing, state)]
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
        # Keys were checked above; tied weights are missing by design, so load non-strictly.
        model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    except RuntimeError as err:
        raise CheckpointError(
            f"Could not load checkpoint '{path}' into {name}: {err}. It was probably saved from "
            "another architecture; build the model that wrote it."
        ) from err
    return model


def checkpoint_label(path: str | os.PathLike[str]) -> str:
    """Return a short label for a checkpoint: its file stem, or its folder's name.

    Parameters
    ----------
    path : str or pathlib.Path
        A checkpoint file or Hugging Face model folder.

    Returns
    -------
    str
        The name of a directory (``checkpoint-500``); for a weight file with a standard
        Hugging Face name inside a model folder (``checkpoint-500/model.safetensors``) the
        folder's name; else the file stem.

    Examples
    --------
    >>> checkpoint_label("runs/a/step_0100.safetensors")
    'step_0100'
    """
    path = Path(path)
    if path.is_dir():
        return path.name
    if path.name in HF_WEIGHT_FILES and is_hf_model_dir(path.parent) and path.parent.name:
        return path.parent.name
    return path.stem


def checkpoint_labels(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Labels of checkpoints (:func:`checkpoint_label`), refusing two with the same label.

    Results are stored per label, so two files with one label would overwrite each other.
    """
    labels = [checkpoint_label(path) for path in paths]
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    if dupes:
        raise CheckpointError(
            f"Several checkpoints share the label(s) {dupes} (the file stem or folder name); "
            "keep one checkpoint per label, e.g. with a narrower glob."
        )
    return labels


def iter_checkpoints(
    model: nn.Module,
    pattern: CheckpointSpec,
    *,
    loader: CheckpointLoader | None = None,
    strict: bool = True,
) -> Iterator[tuple[str, int, Path]]:
    """Load each checkpoint into ``model`` in turn, in natural order.

    Parameters
    ----------
    model : torch.nn.Module
        Filled in place before each item is yielded.
    pattern : str, pathlib.Path or sequence of paths
        A folder, glob or file (see :func:`find_checkpoints`), or an explicit list of
        checkpoints (kept in the given order).
    loader : callable, optional
        ``loader(path)`` returning a state dict or module; see :func:`load_checkpoint`.
    strict : bool, default=True
        See :func:`load_checkpoint`.

    Yields
    ------
    label : str
        :func:`checkpoint_label` of the checkpoint.
    step : int
        The last integer in the label (``checkpoint-500`` -> 500), else the position.
    path : pathlib.Path
        The checkpoint file or folder, already loaded into ``model``.

    Raises
    ------
    CheckpointError
        If nothing is found, two checkpoints share a label, or one does not load.

    Examples
    --------
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from torch import nn
    >>> folder = Path(tempfile.mkdtemp())
    >>> for step in (1000, 900):
    ...     torch.save(nn.Linear(2, 1).state_dict(), folder / f"step_{step}.pt")
    >>> [(label, step) for label, step, _ in iter_checkpoints(nn.Linear(2, 1), folder)]
    [('step_900', 900), ('step_1000', 1000)]
    """
    paths = resolve_checkpoints(pattern)
    labels = checkpoint_labels(paths)
    for index, (path, label) in enumerate(zip(paths, labels, strict=True)):
        load_checkpoint(model, path, strict=strict, loader=loader)
        yield label, step_from_label(label, default=index), path


def resolve_checkpoints(spec: CheckpointSpec) -> list[Path]:
    """Checkpoint paths from a folder, glob or file (:func:`find_checkpoints`, natural order),
    or from an explicit list (kept in the given order).

    A single path given as a string is one path, never a sequence of characters.

    Raises
    ------
    CheckpointError
        Nothing found, or an empty list.

    Examples
    --------
    >>> resolve_checkpoints(["b.pt", "a.pt"])
    [PosixPath('b.pt'), PosixPath('a.pt')]
    """
    if isinstance(spec, str | os.PathLike):
        return find_checkpoints(spec)
    paths = [Path(item) for item in spec]
    if not paths:
        raise CheckpointError("No checkpoints given; expected at least one checkpoint.")
    return paths


#: Files of a model folder that define its weights (optimizer and scheduler states do not).
_FOLDER_FILES = ("config.json", "model*.safetensors", "pytorch_model*.bin", "*.index.json")


def checkpoint_fingerprint(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 of a checkpoint file, or of a model folder's config and weight files.

    A run records it per checkpoint, so that a retrained checkpoint under an old label is
    noticed on resume. ``None`` for a path that does not exist (a user loader's own source).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> file = Path(tempfile.mkdtemp()) / "step_1.pt"
    >>> _ = file.write_bytes(b"weights")
    >>> checkpoint_fingerprint(file)[:15]
    'sha256:687995a2'
    """
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted({f for pattern in _FOLDER_FILES for f in path.glob(pattern) if f.is_file()})
    else:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return "sha256:" + digest.hexdigest()
