"""Run directories: atomic per-result files, resumable, read back by :class:`Run` as pandas
DataFrames."""

from tda_interp.store.codec import decode_result, encode_result
from tda_interp.store.format import decode_component, encode_component, result_path
from tda_interp.store.reader import (
    CheckpointRecord,
    Failure,
    Result,
    Run,
    iter_results,
    max_over_views,
    read_diagram,
    read_manifest,
    read_summaries,
)
from tda_interp.store.writer import RunWriter, atomic_write_bytes

__all__ = [
    "CheckpointRecord",
    "Failure",
    "Result",
    "Run",
    "RunWriter",
    "atomic_write_bytes",
    "decode_component",
    "decode_result",
    "encode_component",
    "encode_result",
    "iter_results",
    "max_over_views",
    "read_diagram",
    "read_manifest",
    "read_summaries",
    "result_path",
]
