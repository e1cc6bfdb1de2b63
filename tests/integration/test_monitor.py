"""TopologyMonitor in a training loop: results like replay, training exactly as without it."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tda_interp.exceptions import ConfigError, RunDirError, TdaInterpWarning
from tda_interp.homology import vietoris_rips
from tda_interp.hooks import run_capture
from tda_interp.monitor import TopologyMonitor, preserved_rng_state, weights_fingerprint
from tda_interp.options import CaptureOptions, RipsOptions
from tda_interp.store import Run, read_summaries

LAYERS = ["2", "6"]
VIEWS = ["raw", "pc1-2"]


class RandomTouch(nn.Module):
    """Identity that draws from every global generator on each call, in any mode.

    Without the monitor restoring the random states, the probe pass would shift every later
    dropout mask and batch of the training run.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.rand(1)
        random.random()
        np.random.rand()  # noqa: NPY002 - the global generator is what is being tested
        return x


def make_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(3, 32),
        nn.BatchNorm1d(32),  # running statistics would move if the probe ran in train mode
        nn.ReLU(),
        nn.Dropout(0.3),
        RandomTouch(),
        nn.Linear(32, 16),
        nn.Tanh(),
        nn.Dropout(0.3),
        nn.Linear(16, 1),
    )


def probe() -> torch.Tensor:
    return torch.randn(40, 3, generator=torch.Generator().manual_seed(123))


def train(
    steps: int, monitor: TopologyMonitor | None = None, keep: tuple[int, ...] = ()
) -> tuple[nn.Module, dict[int, dict[str, torch.Tensor]]]:
    """Seeded training whose batches come from torch, NumPy and Python's global generators."""
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002
    random.seed(0)
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    snapshots = {}
    if monitor is not None:
        monitor.step(model, 0)
    for step in range(1, steps + 1):
        x = torch.randn(16, 3) * float(np.random.uniform(0.5, 1.5))  # noqa: NPY002
        x = x[torch.tensor(random.sample(range(16), 16))]
        loss = (model(x).squeeze(1) - x.sum(1).sin()).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if monitor is not None:
            monitor.step(model, step)  # grads of this step still present, model in train mode
        if step in keep:
            snapshots[step] = {k: v.clone() for k, v in model.state_dict().items()}
    return model, snapshots


def make_monitor(run_dir: Path, **kwargs: object) -> TopologyMonitor:
    options: dict[str, object] = {
        "every": 4,
        "views": VIEWS,
        "homology": RipsOptions(maxdim=1),
    } | kwargs
    return TopologyMonitor(run_dir, probe(), LAYERS, **options)  # type: ignore[arg-type]


def test_training_is_bit_identical_and_results_match_replay(tmp_path: Path) -> None:
    reference, snapshots = train(10, keep=(4, 8))
    rng_after = torch.get_rng_state()
    monitor = make_monitor(tmp_path / "run")
    monitored, _ = train(10, monitor)
    for (name, a), (_, b) in zip(
        reference.state_dict().items(), monitored.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    for a, b in zip(reference.parameters(), monitored.parameters(), strict=True):
        assert a.grad is not None and torch.equal(a.grad, b.grad)  # type: ignore[arg-type]
    assert monitored.training and all(m.training for m in monitored.modules())
    assert torch.equal(torch.get_rng_state(), rng_after)

    assert monitor.recorded == ["step_000000", "step_000004", "step_000008"]
    df = read_summaries(tmp_path / "run")
    assert list(df["checkpoint"].unique()) == monitor.recorded
    assert list(df["step"].unique()) == [0, 4, 8]
    assert len(df) == 3 * len(LAYERS) * len(VIEWS) * 2  # H0 and H1 rows
    run = Run(tmp_path / "run")
    assert run.params["layers"] == LAYERS
    assert run.info["source"] == "TopologyMonitor"
    # ground truth: the weights at that step, captured and computed directly
    for step, state in snapshots.items():
        model = make_model()
        model.load_state_dict(state)
        acts = run_capture(model, probe(), LAYERS).activations
        for layer in LAYERS:
            for view in VIEWS:
                stored = run.diagram(f"step_{step:06d}", layer, view)
                direct = vietoris_rips(
                    acts[layer], view=view, maxdim=1, approximation="subsample:1000"
                )
                assert stored.scale == direct.scale
                for k in range(2):
                    np.testing.assert_array_equal(stored.pairs[k], direct.pairs[k])


def test_state_is_restored_around_a_recording(tmp_path: Path) -> None:
    model = make_model()
    model(torch.randn(8, 3)).sum().backward()
    model[1].eval()  # mixed flags: only the batch norm frozen
    model[8].weight.grad = None
    flags = [m.training for m in model.modules()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)  # noqa: NPY002
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()  # noqa: NPY002
    monitor = make_monitor(tmp_path / "run", every=3)
    assert monitor.step(model, 1) == 0 and monitor.step(model, 2) == 0
    assert monitor.step(model, 3) == len(LAYERS) * len(VIEWS)
    assert monitor.step(model, 3) == 0  # same step again (gradient accumulation): once only
    assert [m.training for m in model.modules()] == flags
    for param, grad in zip(model.parameters(), grads, strict=True):
        assert (param.grad is None) if grad is None else torch.equal(param.grad, grad)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), states[0])
    assert random.getstate() == states[1]
    after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(a, b) for a, b in zip(after, states[2], strict=True))


def test_preserved_rng_state_restores_on_error() -> None:
    before = torch.get_rng_state(), random.getstate()
    with pytest.raises(ZeroDivisionError), preserved_rng_state():
        torch.rand(4)
        random.random()
        _ = 1 / 0
    assert torch.equal(torch.get_rng_state(), before[0]) and random.getstate() == before[1]


def test_resume_skips_the_same_weights_and_refuses_others(tmp_path: Path) -> None:
    model = make_model()
    first = make_monitor(tmp_path / "run")
    assert first.step(model, 4) == len(LAYERS) * len(VIEWS)
    again = make_monitor(tmp_path / "run")
    assert again.step(model, 4) == 0  # same weights: already on disk
    assert again.step(model, 8) == len(LAYERS) * len(VIEWS)
    other = make_model()
    with pytest.raises(RunDirError, match=r"'step_000004'.*changed"):
        make_monitor(tmp_path / "run").step(other, 4)
    assert make_monitor(tmp_path / "run", overwrite=True).step(other, 4) == 4
    # naming fewer views resumes the run in part (a run may grow, never shrink)
    assert make_monitor(tmp_path / "run", views=["raw"]).step(model, 0) == len(LAYERS)
    assert list(Run(tmp_path / "run").views) == VIEWS
    with pytest.raises(RunDirError, match=r"differing: homology\.maxdim"):
        make_monitor(tmp_path / "run", homology=RipsOptions(maxdim=2)).step(model, 0)
    assert weights_fingerprint(model) != weights_fingerprint(other)


def test_a_warning_of_every_step_is_said_once_per_monitor(tmp_path: Path) -> None:
    """Duplicate probe inputs make every result of every step warn: the monitor says it once,
    at the first step, with the count of that step's results, and keeps counting."""
    model = make_model()
    duplicated = torch.cat([probe(), probe()[:10]])
    monitor = TopologyMonitor(tmp_path / "run", duplicated, LAYERS, every=1, views=VIEWS)
    per_step = len(LAYERS) * len(VIEWS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [monitor.step(model, step) for step in range(3)] == [per_step] * 3
    ours = [w for w in caught if issubclass(w.category, TdaInterpWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    message = ours[0].message
    assert isinstance(message, TdaInterpWarning) and message.kind == "duplicate-points"
    places = "; ".join(
        f"checkpoint 'step_000000' layer {layer!r} view {view!r}"
        for layer, view in [("2", "raw"), ("2", "pc1-2"), ("6", "raw")]
    )
    assert str(message).startswith("10 of 50 points duplicate another point")
    assert str(message).endswith(f" [{per_step} results: {places}; ...]")
    assert monitor.warning_counts == {"duplicate-points": 3 * per_step}


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="every"):
        make_monitor(tmp_path / "run", every=0)
    with pytest.raises(Exception, match="closest module names"):
        TopologyMonitor(tmp_path / "run", probe(), ["fc9"]).step(make_model(), 0)


# ------------------------------------------------------------------ adapters


def _final_diagram_matches(run_dir: Path, label: str, model: nn.Module, inputs, layer: str):  # type: ignore[no-untyped-def]
    acts = run_capture(model, inputs, [layer], reduction="mean").activations
    direct = vietoris_rips(acts[layer], maxdim=1, approximation="subsample:1000")
    stored = Run(run_dir).diagram(label, layer, "raw")
    for k in range(2):
        np.testing.assert_array_equal(stored.pairs[k], direct.pairs[k])


@pytest.mark.slow
def test_lightning_callback(tmp_path: Path) -> None:
    pl = pytest.importorskip("lightning.pytorch", reason="the lightning extra is not installed")
    from tda_interp.monitor import TopologyLightningCallback

    class Module(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # what the monitor calls
            return self.net(x)

        def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            x, y = batch
            return (self.net(x) - y).pow(2).mean()

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 3), torch.randn(64, 1))
    module = Module()
    monitor = TopologyMonitor(tmp_path / "run", probe(), ["net.2"], every=3)
    trainer = pl.Trainer(
        max_steps=6,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=[TopologyLightningCallback(monitor)],
    )
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=8))
    assert monitor.recorded == ["step_000000", "step_000003", "step_000006"]
    assert list(read_summaries(tmp_path / "run")["step"].unique()) == [0, 3, 6]
    acts = run_capture(module, probe(), ["net.2"]).activations
    direct = vietoris_rips(acts["net.2"], maxdim=1, approximation="subsample:1000")
    stored = Run(tmp_path / "run").diagram("step_000006", "net.2", "raw")
    for k in range(2):
        np.testing.assert_array_equal(stored.pairs[k], direct.pairs[k])


@pytest.mark.slow
def test_hf_trainer_callback(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
    pytest.importorskip(
        "accelerate", reason="the hf extra (Trainer needs accelerate) is not installed"
    )
    from tda_interp.monitor import TopologyTrainerCallback

    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    ids = torch.randint(1, 64, (32, 8))
    rows = [{"input_ids": ids[i], "labels": int(ids[i, 0] % 2)} for i in range(32)]
    probe_ids = {"input_ids": torch.randint(1, 64, (24, 8), generator=torch.Generator())}
    layer = "bert.encoder.layer.1"
    monitor = TopologyMonitor(
        tmp_path / "run", probe_ids, [layer], capture=CaptureOptions(reduction="mean"), every=2
    )
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="no",
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=rows,
        callbacks=[TopologyTrainerCallback(monitor)],
    )
    trainer.train()
    assert monitor.recorded == ["step_000000", "step_000002", "step_000004"]
    assert list(read_summaries(tmp_path / "run")["step"].unique()) == [0, 2, 4]
    _final_diagram_matches(tmp_path / "run", "step_000004", model, probe_ids, layer)
