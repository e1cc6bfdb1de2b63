"""A repeated warning is said once, with a count and the first places; classes survive."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from tda_interp.exceptions import TdaInterpWarning
from tda_interp.execution import ProcessExecutor, RipsTask, WarningLog, run_task


def _said(log: WarningLog) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log.emit()
    return caught


def test_one_kind_many_places_is_said_once_with_a_count() -> None:
    log = WarningLog()
    for i in range(5):
        log.add([TdaInterpWarning(f"{i} of 9 points duplicate", kind="dup")], f"layer 'l{i}'")
    log.add([TdaInterpWarning("3 points cannot carry H1", kind="few")], "layer 'x'")
    said = _said(log)
    assert [w.category for w in said] == [TdaInterpWarning, TdaInterpWarning]
    first, second = (str(w.message) for w in said)
    assert first == "0 of 9 points duplicate [5 results: layer 'l0'; layer 'l1'; layer 'l2'; ...]"
    assert second == "3 points cannot carry H1 [layer 'x']"
    assert said[0].message.kind == "dup"  # type: ignore[union-attr]
    assert _said(log) == []  # said once
    log.add([TdaInterpWarning("again", kind="dup")], "layer 'l5'")
    assert _said(log) == []  # and not again when more results raise it
    assert log.counts() == {"dup": 6, "few": 1}


def test_one_result_warning_twice_counts_once() -> None:
    log = WarningLog()
    log.add([TdaInterpWarning("w", kind="k"), TdaInterpWarning("w2", kind="k")], "a")
    assert log.counts() == {"k": 1}


def test_other_warning_classes_keep_their_class() -> None:
    log = WarningLog()
    with log.collect("checkpoint 'a'"):
        warnings.warn("overflow", RuntimeWarning, stacklevel=1)
        warnings.warn("old", DeprecationWarning, stacklevel=1)
    classes = sorted(w.category.__name__ for w in _said(log))
    assert classes == ["DeprecationWarning", "RuntimeWarning"]


def test_emit_quietly_survives_warnings_as_errors() -> None:
    log = WarningLog()
    log.add([TdaInterpWarning("w", kind="k")], "a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TdaInterpWarning):
            log.emit()
    log2 = WarningLog()
    log2.add([TdaInterpWarning("w", kind="k")], "a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log2.emit_quietly()  # an error already unwinding is not masked


def test_warning_kind_survives_pickling() -> None:
    w = pickle.loads(pickle.dumps(TdaInterpWarning("m", kind="few-points")))
    assert isinstance(w, TdaInterpWarning) and w.kind == "few-points" and str(w) == "m"


def test_task_warnings_come_back_from_a_worker_process_with_their_class() -> None:
    pts = np.random.default_rng(0).normal(size=(10, 3))
    task = RipsTask(np.r_[pts, pts[:2]], "raw")
    with ProcessExecutor(1) as ex:
        [(_, output)] = list(ex.imap(run_task, [task]))
    [w] = output.warnings
    assert type(w) is TdaInterpWarning and w.kind == "duplicate-points"
