"""Checkpoint-level cluster tasks without a cluster: options, cloud names, and the model
pickled by value when a config file's module defines it."""

from __future__ import annotations

import pickle
import sys
import textwrap
from pathlib import Path

import pytest

from tda_interp.config import resolve_factory
from tda_interp.exceptions import ConfigError
from tda_interp.execution import ClusterExecutor, ClusterOptions
from tda_interp.execution.cluster import dumps_by_value, split_clouds


def test_cluster_options_are_checked_once_with_a_hint() -> None:
    assert ClusterOptions().params() == {}  # how, never what: no run parameter
    assert ClusterOptions(resource=" GPU ").resource == "GPU"
    with pytest.raises(ConfigError, match="device"):
        ClusterOptions(device="tpu")
    with pytest.raises(ConfigError, match=r"resource.*--resources"):
        ClusterOptions(resource="")
    with pytest.raises(ConfigError, match="stall_timeout"):
        ClusterOptions(stall_timeout=0)
    with pytest.raises(ConfigError, match="Expected options to be a ClusterOptions"):
        ClusterExecutor("tcp://127.0.0.1:1", {"device": "cpu"})  # type: ignore[arg-type]


def test_split_clouds_names_each_call_of_a_module_in_order() -> None:
    captured = {"fc#10": 0, "fc#2": 0, "fc#x": 0, "out": 0, "fc2#0": 0}
    assert split_clouds(captured, "fc") == ["fc#2", "fc#10"]
    assert split_clouds(captured, "out") == ["out"]
    assert split_clouds(captured, "missing") == ["missing"]


def test_a_config_files_model_class_travels_by_value(tmp_path: Path) -> None:
    pytest.importorskip("cloudpickle", reason="the dask extra is not installed")
    (tmp_path / "models.py").write_text(
        textwrap.dedent(
            """
            class Scaled:
                def __init__(self, k):
                    self.k = k

                def __call__(self, x):
                    return self.k * x

            def make_model():
                return Scaled(3)
            """
        )
    )
    model = resolve_factory("models.py:make_model", base_dir=tmp_path)()
    blob = dumps_by_value((model, 2))
    module = sys.modules.pop("_tda_interp_user_models")  # as on a worker: not importable
    try:
        copy, probe = pickle.loads(blob)
        assert copy(probe) == 6 and type(copy).__name__ == "Scaled"
    finally:
        sys.modules["_tda_interp_user_models"] = module
