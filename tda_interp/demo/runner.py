"""``tda-interp demo``: train the grokking model, replay its checkpoints, write run and report."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tda_interp.config import load_config
from tda_interp.demo.modular import train
from tda_interp.pipeline import ProgressCallback, RunOutcome, run_from_config

__all__ = ["DEMO_CONFIG", "DemoResult", "run_demo"]

#: The config the demo writes next to its checkpoints; `tda-interp run` reads the same file.
DEMO_CONFIG = """\
# Written by `tda-interp demo`; rerun with `tda-interp run {config_name}`.
title = "Grokking modular addition (a + b mod 59): topology of activations through training"
run_dir = "run"

[model]
factory = "tda_interp.demo.modular:make_model"
checkpoints = "checkpoints/*.safetensors"

[inputs]
factory = "tda_interp.demo.modular:probe_inputs"

[capture]
layers = ["embed", "mlp", "unembed"]
reduction = "flatten"

[homology]
maxdim = 1
views = ["raw", "pc_pairs3"]

[summary]
long_bar = 0.25
"""


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things."""

    out_dir: Path
    config: Path
    run: RunOutcome
    report: Path


def run_demo(
    out_dir: str | os.PathLike[str],
    *,
    steps: int = 3000,
    every: int = 250,
    seed: int = 0,
    on_train: Callable[[int, float, float], None] | None = None,
    progress: ProgressCallback | None = None,
) -> DemoResult:
    """Train, capture, compute and report, all under ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Receives ``checkpoints/``, ``demo.toml``, ``run/`` and ``report.html``.
    steps, every, seed
        Training length, checkpoint interval and seed (see :func:`~tda_interp.demo.modular.train`).
    on_train : callable, optional
        ``on_train(step, train_loss, test_accuracy)`` at every checkpoint.
    progress : callable, optional
        Pipeline progress, ``progress(description, done, total)``.

    Returns
    -------
    DemoResult
    """
    from tda_interp.reports import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "checkpoints"
    for stale in ckpt_dir.glob("*.safetensors"):
        stale.unlink()  # a demo rerun with other steps must not mix old checkpoints in
    train(ckpt_dir, steps=steps, every=every, seed=seed, on_step=on_train)
    config_path = out / "demo.toml"
    config_path.write_text(DEMO_CONFIG.format(config_name=config_path.name), encoding="utf-8")
    # fresh weights under the same labels: discard any earlier demo's results
    config = load_config(config_path).with_progress(progress)
    outcome = run_from_config(config, overwrite=True)
    report = write_report(outcome.run_dir, out / "report.html")
    return DemoResult(out_dir=out, config=config_path, run=outcome, report=Path(report))
