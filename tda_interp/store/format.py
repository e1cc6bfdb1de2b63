"""On-disk layout of a run directory (documented in the README, "Run directory format").

::

    RUN_DIR/
      manifest.json                      what was run: model, inputs, layers, views, parameters,
                                         library versions, checkpoint labels in order
      results/
        <checkpoint>/<layer>/<view>.npz  one file per (checkpoint, layer, view), written atomically
      metrics.jsonl                      optional: scalar metrics per training step (loss,
                                         accuracy), appended line by line
                                         (:mod:`tda_interp.store.metrics`)

Path components are percent-encoded (``urllib.parse.quote`` with no safe characters), so any
layer name, including ``"a/b"`` or ``"<script>"``, maps to one file and back.

Each ``.npz`` is a result file of :mod:`tda_interp.store.codec` (the diagram, its provenance
and significance calls) whose record also holds ``checkpoint``, ``step``, ``layer``, ``view``
and ``summary`` (one row per dimension, see :func:`tda_interp.diagrams.summarize`). The manifest
is described in :mod:`tda_interp.store.manifest`. Format version 2; version 1 (tda-interp 0.1)
is still read, and resumed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote, unquote

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "RESULTS",
    "decode_component",
    "encode_component",
    "result_path",
    "step_from_label",
]

FORMAT_NAME = "tda-interp-run"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
RESULTS = "results"
_MAX_COMPONENT = 200  # bytes; leaves room for ".npz" and temporary-file affixes
_TRAILING_INT = re.compile(r"(\d+)(?!.*\d)")


def encode_component(name: str) -> str:
    """Percent-encode a name into one safe path component.

    Examples
    --------
    >>> encode_component("encoder.layer.0/out")
    'encoder.layer.0%2Fout'
    """
    text = quote(str(name), safe="")
    if text in ("", ".", ".."):
        text = text.replace(".", "%2E") or "%00empty"
    if len(text) > _MAX_COMPONENT:
        # Too long for one file name (255 bytes on most filesystems): keep a readable prefix
        # and a hash of the full name. The full name is stored inside each result's record.
        digest = hashlib.sha256(str(name).encode("utf-8")).hexdigest()[:16]
        text = f"{text[: _MAX_COMPONENT - 20]}~{digest}"
    return text


def decode_component(text: str) -> str:
    """Inverse of :func:`encode_component` (for names short enough to be kept whole)."""
    return "" if text == "%00empty" else unquote(text)


def result_path(run_dir: Path, checkpoint: str, layer: str, view: str) -> Path:
    """Path of the result file of one (checkpoint, layer, view)."""
    return (
        Path(run_dir)
        / RESULTS
        / encode_component(checkpoint)
        / encode_component(layer)
        / f"{encode_component(view)}.npz"
    )


def step_from_label(label: str, default: int) -> int:
    """The last integer in a checkpoint label (``"step_0900"`` -> 900), else ``default``.

    Examples
    --------
    >>> step_from_label("step_0900", 0), step_from_label("final", 7)
    (900, 7)
    """
    m = _TRAILING_INT.search(label)
    return int(m.group(1)) if m else default
