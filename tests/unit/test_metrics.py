"""Scalar metrics per step in a run directory: round trips, validation, torn and damaged lines."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tda_interp.store.metrics as metrics_module
from tda_interp.diagrams import Diagram
from tda_interp.exceptions import ConfigError, RunDirError, TdaInterpWarning
from tda_interp.store import Run, RunWriter
from tda_interp.store.metrics import (
    METRICS,
    METRICS_COLUMNS,
    decode_metrics_line,
    encode_metrics_line,
    read_metrics,
)

PARAMS: dict[str, Any] = {"layers": ["fc"], "views": ["raw"]}


def rows(df: pd.DataFrame) -> list[tuple[int, str, float, str | None]]:
    """The frame as plain tuples, a missing checkpoint as None."""
    return [
        (int(s), str(n), float(v), None if pd.isna(c) else str(c))
        for s, n, v, c in df[list(METRICS_COLUMNS)].itertuples(index=False)
    ]


def test_logged_metrics_read_back_tidy_and_sorted(tmp_path: Path) -> None:
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(100, {"loss": 0.5, "accuracy": 0.75}, checkpoint="step_100")
        w.log_metrics(0, {"loss": 2.25})
        w.log_metrics(50, {"accuracy": 0.25, "loss": 1.0})
    df = Run(tmp_path).metrics()
    assert list(df.columns) == ["step", "name", "value", "checkpoint"]
    assert str(df["step"].dtype) == "int64" and str(df["value"].dtype) == "float64"
    assert rows(df) == [
        (0, "loss", 2.25, None),
        (50, "accuracy", 0.25, None),
        (50, "loss", 1.0, None),
        (100, "accuracy", 0.75, "step_100"),
        (100, "loss", 0.5, "step_100"),
    ]


def test_a_run_without_metrics_reads_as_an_empty_frame(tmp_path: Path) -> None:
    w = RunWriter(tmp_path, PARAMS)
    d = Diagram(pairs=[[[0.0, np.inf], [0.0, 1.0]]], scale=1.0, n_points=2)
    w.write("step_1", "fc", "raw", d, step=1)
    w.close()
    assert not (tmp_path / METRICS).exists()  # nothing logged: no file, old layout unchanged
    df = Run(tmp_path).metrics()
    assert df.empty and list(df.columns) == list(METRICS_COLUMNS)
    assert str(df["step"].dtype) == "int64" and str(df["value"].dtype) == "float64"


def test_file_format_is_one_checksummed_json_line_per_call(tmp_path: Path) -> None:
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(7, {"b": 1, "a": float("nan"), "c": -math.inf}, checkpoint="s7")
    lines = (tmp_path / METRICS).read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2  # one line, newline-terminated
    record = json.loads(lines[0])
    assert record["step"] == 7 and record["checkpoint"] == "s7"
    assert record["metrics"] == {"a": "nan", "b": 1.0, "c": "-inf"}  # standard JSON only
    assert isinstance(record["crc32"], int)
    step, values, checkpoint = decode_metrics_line(lines[0])
    assert (step, checkpoint) == (7, "s7")
    assert math.isnan(values["a"]) and values["b"] == 1.0 and values["c"] == -math.inf


def test_accepted_value_types(tmp_path: Path) -> None:
    loss = (torch.ones(3, requires_grad=True) * 2).mean()  # a loss tensor, graph attached
    given_values = {
        "float": 0.5,
        "int": 3,
        "np_float32": np.float32(0.25),
        "np_int64": np.int64(4),
        "tensor_0d": torch.tensor(1.5),
        "loss": loss,
        "array_1": np.array([0.125]),
        "fraction": Fraction(1, 4),
    }
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(np.int64(3), given_values)
    got = dict(zip(*Run(tmp_path).metrics()[["name", "value"]].T.values, strict=True))
    assert got == {
        "float": 0.5,
        "int": 3.0,
        "np_float32": 0.25,
        "np_int64": 4.0,
        "tensor_0d": 1.5,
        "loss": 2.0,
        "array_1": 0.125,
        "fraction": 0.25,
    }


@pytest.mark.parametrize(
    ("step", "metrics", "checkpoint", "words"),
    [
        (-1, {"loss": 1.0}, None, "step"),
        (True, {"loss": 1.0}, None, "step"),
        (1.0, {"loss": 1.0}, None, "step"),
        ("3", {"loss": 1.0}, None, "step"),
        (1, {}, None, "non-empty mapping"),
        (1, [("loss", 1.0)], None, "non-empty mapping"),
        (1, {"": 1.0}, None, "names"),
        (1, {"  ": 1.0}, None, "names"),
        (1, {3: 1.0}, None, "names"),
        (1, {"loss": True}, None, "real number"),
        (1, {"loss": np.bool_(True)}, None, "real number"),
        (1, {"loss": torch.tensor(True)}, None, "real number"),
        (1, {"loss": "0.5"}, None, "real number"),
        (1, {"loss": None}, None, "real number"),
        (1, {"loss": 1 + 2j}, None, "real number"),
        (1, {"loss": [0.5]}, None, "real number"),
        (1, {"loss": torch.ones(2)}, None, "real number"),
        (1, {"loss": np.ones(3)}, None, "real number"),
        (1, {"loss": 1.0}, "", "checkpoint"),
        (1, {"loss": 1.0}, 5, "checkpoint"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    tmp_path: Path, step: Any, metrics: Any, checkpoint: Any, words: str
) -> None:
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(0, {"ok": 1.0})
        before = (tmp_path / METRICS).read_bytes()
        with pytest.raises(ConfigError, match=words) as info:
            w.log_metrics(step, metrics, checkpoint)
        assert (tmp_path / METRICS).read_bytes() == before
    message = str(info.value)
    assert "Expected" in message and str(tmp_path) in message  # what, and where
    assert info.value.expected is not None and info.value.received is not None


def test_one_bad_value_among_good_ones_writes_none_of_them(tmp_path: Path) -> None:
    with RunWriter(tmp_path, PARAMS) as w, pytest.raises(ConfigError, match="'acc'"):
        w.log_metrics(1, {"loss": 0.5, "acc": "high"})
    assert Run(tmp_path).metrics().empty


def test_the_same_step_and_name_logged_again_keeps_the_later_value(tmp_path: Path) -> None:
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(10, {"loss": 1.0, "acc": 0.5})
        w.log_metrics(20, {"loss": 0.5})
        w.log_metrics(10, {"loss": 0.75}, checkpoint="again")  # a resumed run re-logs step 10
    assert rows(Run(tmp_path).metrics()) == [
        (10, "acc", 0.5, None),
        (10, "loss", 0.75, "again"),
        (20, "loss", 0.5, None),
    ]


def test_a_torn_last_line_is_left_out_with_a_warning_and_the_next_line_starts_anew(
    tmp_path: Path,
) -> None:
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(0, {"loss": 2.0})
        w.log_metrics(1, {"loss": 1.0})
    path = tmp_path / METRICS
    torn = encode_metrics_line(2, {"loss": 0.5}, None)[:-9]  # a crash mid-write
    path.write_bytes(path.read_bytes() + torn)
    with pytest.warns(TdaInterpWarning, match=r"1 line\(s\).*line 3") as caught:
        df = Run(tmp_path).metrics()
    assert caught[0].message.kind == "damaged-metrics"  # type: ignore[union-attr]
    assert rows(df) == [(0, "loss", 2.0, None), (1, "loss", 1.0, None)]
    with RunWriter(tmp_path, PARAMS) as w:  # resumed after the crash
        w.log_metrics(2, {"loss": 0.5})
    with pytest.warns(TdaInterpWarning, match="line 3"):
        df = Run(tmp_path).metrics()
    assert rows(df)[-1] == (2, "loss", 0.5, None)  # not glued onto the torn fragment
    assert path.read_bytes().endswith(b"\n" + encode_metrics_line(2, {"loss": 0.5}, None))


def test_a_line_cut_just_before_its_newline_is_still_read(tmp_path: Path) -> None:
    (tmp_path / METRICS).write_bytes(encode_metrics_line(4, {"loss": 0.5}, None)[:-1])
    assert rows(read_metrics(tmp_path)) == [(4, "loss", 0.5, None)]


def test_a_damaged_line_in_the_middle_is_left_out_and_the_rest_read(tmp_path: Path) -> None:
    with RunWriter(tmp_path, PARAMS) as w:
        for step in range(4):
            w.log_metrics(step, {"loss": 1.5 + step})
    path = tmp_path / METRICS
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"2.5", b"9.5")  # valid JSON, wrong checksum
    lines[2] = b"\x00\xff garbage"
    path.write_bytes(b"\n".join(lines))
    with pytest.warns(TdaInterpWarning, match=r"2 line\(s\).*line 2 \(checksum mismatch\)"):
        df = read_metrics(tmp_path)
    assert rows(df) == [(0, "loss", 1.5, None), (3, "loss", 4.5, None)]


def test_a_failed_write_leaves_a_torn_line_that_the_next_append_does_not_extend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(0, {"loss": 1.0})

        def half_then_full(fd: int, data: Any) -> int:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(metrics_module.os, "write", half_then_full)
        with pytest.raises(RunDirError, match="free disk space"):
            w.log_metrics(1, {"loss": 0.5})
        monkeypatch.setattr(metrics_module.os, "write", real_write)
        w.log_metrics(2, {"loss": 0.25})
    with pytest.warns(TdaInterpWarning, match="line 2"):
        df = Run(tmp_path).metrics()
    assert rows(df) == [(0, "loss", 1.0, None), (2, "loss", 0.25, None)]


def test_lines_survive_the_process_being_killed_without_closing(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from tda_interp.store import RunWriter\n"
        "w = RunWriter(sys.argv[1], {'layers': ['fc'], 'views': ['raw']})\n"
        "for step in range(5):\n"
        "    w.log_metrics(step, {'loss': 1.0 / (step + 1)})\n"
        "os._exit(0)  # no close, no fsync, no atexit\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    df = Run(tmp_path).metrics()
    assert df["step"].tolist() == [0, 1, 2, 3, 4]
    assert df["value"].tolist() == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_overwrite_discards_the_metrics_and_resume_keeps_them(tmp_path: Path) -> None:
    with RunWriter(tmp_path, PARAMS) as w:
        w.log_metrics(0, {"loss": 1.0})
    with RunWriter(tmp_path, PARAMS) as w:  # resumed: appended to
        w.log_metrics(1, {"loss": 0.5})
    assert Run(tmp_path).metrics()["step"].tolist() == [0, 1]
    with RunWriter(tmp_path, PARAMS, overwrite=True):  # a new training run
        pass
    assert not (tmp_path / METRICS).exists()
    assert Run(tmp_path).metrics().empty


def test_a_folder_with_only_a_metrics_file_is_not_taken_for_a_run(tmp_path: Path) -> None:
    (tmp_path / METRICS).write_text("my own notes\n", encoding="utf-8")
    with pytest.raises(RunDirError, match="not empty"):
        RunWriter(tmp_path, PARAMS)
    assert (tmp_path / METRICS).read_text(encoding="utf-8") == "my own notes\n"


_names = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() != "")
_values = st.floats(allow_nan=True, allow_infinity=True)
_calls = st.lists(
    st.tuples(
        st.integers(0, 10**12),
        st.dictionaries(_names, _values, min_size=1, max_size=4),
        st.none() | _names,
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=_calls)
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, calls: Any) -> None:
    folder = tmp_path_factory.mktemp("run")
    expected: dict[tuple[int, str], tuple[float, str | None]] = {}
    with RunWriter(folder, PARAMS) as w:
        for step, values, checkpoint in calls:
            w.log_metrics(step, values, checkpoint)
            for name, value in values.items():
                expected[(step, name)] = (value, checkpoint)
    got = rows(Run(folder).metrics())
    assert [(s, n) for s, n, _, _ in got] == sorted(expected)
    for step, name, value, checkpoint in got:
        want, want_checkpoint = expected[(step, name)]
        assert (math.isnan(value) and math.isnan(want)) or value == want
        assert checkpoint == want_checkpoint
