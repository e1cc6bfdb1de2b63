"""Run directories: atomic per-result files, resumable, readable as pandas DataFrames."""

from tda_interp.store.format import decode_component, encode_component, result_path
from tda_interp.store.reader import (
    Result,
    iter_results,
    read_diagram,
    read_manifest,
    read_summaries,
)
from tda_interp.store.writer import RunWriter, atomic_write_bytes, library_versions

__all__ = [
    "Result",
    "RunWriter",
    "atomic_write_bytes",
    "decode_component",
    "encode_component",
    "iter_results",
    "library_versions",
    "read_diagram",
    "read_manifest",
    "read_summaries",
    "result_path",
]
