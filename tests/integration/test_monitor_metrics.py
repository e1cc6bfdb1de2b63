"""Metrics logged during training (monitor, Trainer adapter, demo) land in the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from tda_interp.demo import run_demo
from tda_interp.demo.modular import METRIC_NAMES, train
from tda_interp.exceptions import ConfigError
from tda_interp.monitor import TopologyMonitor
from tda_interp.options import RipsOptions
from tda_interp.store import Run, read_summaries
from tda_interp.store.metrics import METRICS


def make_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))


def make_monitor(run_dir: Path, every: int = 2) -> TopologyMonitor:
    probe = torch.randn(24, 3, generator=torch.Generator().manual_seed(1))
    return TopologyMonitor(run_dir, probe, ["1"], every=every, homology=RipsOptions(maxdim=1))


def test_monitor_logs_metrics_beside_the_topology_on_one_step_axis(tmp_path: Path) -> None:
    model = make_model()
    monitor = make_monitor(tmp_path / "run")
    monitor.log(0, loss=2.0)  # before the first step: kept until the run directory opens
    assert not (tmp_path / "run" / METRICS).exists()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(2))
    for step in range(5):
        monitor.step(model, step)
        loss = (model(x).squeeze(1) - x.sum(1)).pow(2).mean()
        monitor.log(step, {"train/loss": loss}, accuracy=0.5 + step / 10)  # a tensor will do
        opt.zero_grad()
        loss.backward()
        opt.step()
    df = Run(tmp_path / "run").metrics()
    assert set(df["name"]) == {"train/loss", "accuracy", "loss"}
    acc = df[df["name"] == "accuracy"]
    assert acc["step"].tolist() == [0, 1, 2, 3, 4]
    assert acc["value"].tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    # a logged step that is a recorded one carries its checkpoint label, the others none
    labels = dict(zip(acc["step"], acc["checkpoint"], strict=True))
    assert labels[0] == "step_000000" and labels[4] == "step_000004"
    assert pd.isna(labels[1]) and pd.isna(labels[3])
    summaries = read_summaries(tmp_path / "run")
    assert set(summaries["step"]) == {0, 2, 4} <= set(acc["step"])
    assert df.loc[df["name"] == "loss", "value"].tolist() == [2.0]


def test_monitor_log_refuses_bad_metrics_and_writes_nothing(tmp_path: Path) -> None:
    model = make_model()
    monitor = make_monitor(tmp_path / "run")
    monitor.step(model, 0)
    with pytest.raises(ConfigError, match="given twice"):
        monitor.log(1, {"loss": 1.0}, loss=2.0)
    with pytest.raises(ConfigError, match=r"'loss' at step 1 \(TopologyMonitor\.log"):
        monitor.log(1, loss=torch.ones(3))
    with pytest.raises(ConfigError, match="non-empty mapping"):
        monitor.log(1)
    with pytest.raises(ConfigError, match="non-empty mapping"):
        monitor.log(1, [1.0])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="int >= 0"):
        monitor.log(-3, loss=1.0)
    assert not (tmp_path / "run" / METRICS).exists()


def test_only_rank_0_writes_metrics_but_every_rank_checks_them(tmp_path: Path) -> None:
    probe = torch.randn(24, 3, generator=torch.Generator().manual_seed(1))
    monitor = TopologyMonitor(tmp_path / "run", probe, ["1"], every=2, rank=1)
    assert monitor.step(make_model(), 0) == 0
    monitor.log(0, loss=1.0)
    with pytest.raises(ConfigError, match="real number"):
        monitor.log(1, loss="low")
    assert not (tmp_path / "run").exists()


def test_trainer_callback_forwards_the_trainers_logs(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from tda_interp.monitor.hf_trainer import TopologyTrainerCallback

    model = make_model()
    monitor = make_monitor(tmp_path / "run", every=10)
    callback = TopologyTrainerCallback(monitor)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[])
    state = TrainerState(global_step=0, is_world_process_zero=True)
    callback.on_train_begin(args, state, TrainerControl(), model=model)
    state.global_step = 10
    logs: dict[str, Any] = {
        "loss": 0.5,
        "grad_norm": 1.25,
        "learning_rate": 1e-3,
        "epoch": 0.5,
        "eval_accuracy": 0.75,
        "train_runtime": 3.0,
        "train_samples_per_second": 100.0,
        "total_flos": 12345.0,
        "note": "text is skipped",
    }
    callback.on_log(args, state, TrainerControl(), logs=logs)
    other_rank = TrainerState(global_step=20, is_world_process_zero=False)
    callback.on_log(args, other_rank, TrainerControl(), logs={"loss": 9.0})
    off = TopologyTrainerCallback(monitor, log_metrics=False)
    off.on_log(
        args,
        TrainerState(global_step=30, is_world_process_zero=True),
        TrainerControl(),
        logs={"loss": 9.0},
    )
    df = Run(tmp_path / "run").metrics()
    assert dict(zip(df["name"], df["value"], strict=True)) == {
        "eval_accuracy": 0.75,
        "grad_norm": 1.25,
        "learning_rate": 1e-3,
        "loss": 0.5,
    }
    assert set(df["step"]) == {10} and set(df["checkpoint"]) == {"step_000010"}


def test_evaluating_for_the_metrics_leaves_training_bit_identical(tmp_path: Path) -> None:
    plain = train(tmp_path / "plain", steps=12, every=6)
    logged: list[tuple[int, dict[str, float]]] = []
    with_metrics = train(
        tmp_path / "metrics",
        steps=12,
        every=6,
        on_metrics=lambda step, m: logged.append((step, m)),
        metrics_every=4,
    )
    assert [p.name for p in plain] == [p.name for p in with_metrics]
    for a, b in zip(plain, with_metrics, strict=True):
        ta, tb = load_file(str(a)), load_file(str(b))
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert [s for s, _ in logged] == [0, 4, 6, 8, 12]  # every 4 steps and every checkpoint
    assert all(sorted(m) == sorted(METRIC_NAMES) for _, m in logged)
    with pytest.raises(ConfigError, match="metrics_every"):
        train(tmp_path / "bad", steps=2, every=1, on_metrics=print, metrics_every=0)
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_demo_logs_loss_and_accuracy_into_its_run(tmp_path: Path) -> None:
    on_train: dict[int, tuple[float, float]] = {}
    run_demo(
        tmp_path,
        steps=20,
        every=10,
        on_train=lambda step, loss, acc: on_train.__setitem__(step, (loss, acc)),
    )
    df = Run(tmp_path / "run").metrics()
    assert set(df["name"]) == set(METRIC_NAMES)
    assert sorted(set(df["step"])) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]  # every // 5
    assert len(df) == 11 * len(METRIC_NAMES)
    at_checkpoints = df.dropna(subset=["checkpoint"])
    assert sorted(set(at_checkpoints["checkpoint"])) == ["step_00000", "step_00010", "step_00020"]
    assert set(at_checkpoints["checkpoint"]) == set(read_summaries(tmp_path / "run")["checkpoint"])
    wide = df.pivot(index="step", columns="name", values="value")
    for step, (loss, acc) in on_train.items():  # the same numbers the callback saw
        assert wide.loc[step, "train_loss"] == loss and wide.loc[step, "test_accuracy"] == acc
    accuracies = wide[["train_accuracy", "test_accuracy"]]
    assert ((accuracies >= 0) & (accuracies <= 1)).all().all()
    assert wide["train_loss"].iloc[-1] < wide["train_loss"].iloc[0]  # it learns
