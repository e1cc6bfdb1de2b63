"""``tda-interp demo``: train the grokking model, replay its checkpoints, write run and report."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tda_interp.config import load_config
from tda_interp.demo.modular import check_interval, train
from tda_interp.exceptions import ConfigError
from tda_interp.pipeline import ProgressCallback, RunOutcome, run_from_config
from tda_interp.store import Run, RunWriter
from tda_interp.store.format import step_from_label

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


#: Names of the checkpoints :func:`~tda_interp.demo.modular.train` writes.
_CHECKPOINT = re.compile(r"step_\d+\.safetensors")
#: What the demo writes in its output folder (anything else there is the user's).
_OURS = ("checkpoints", "demo.toml", "run", "report.html")


def _check_demo_folder(out: Path, config_path: Path) -> None:
    """Refuse a folder holding anything but an earlier demo's output."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"Demo output {str(out)!r} is a file; choose a folder.")
    entries = sorted(p.name for p in out.iterdir())
    ours = config_path.is_file() and config_path.read_text(encoding="utf-8").startswith(
        DEMO_CONFIG.splitlines()[0][:30]
    )
    foreign = [e for e in entries if not ours or e not in _OURS]
    if foreign:
        raise ConfigError(
            f"Demo output folder {str(out)!r} is not empty and not an earlier demo's "
            f"({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}); the demo writes "
            "checkpoints, a run and a report there: choose a new or empty folder."
        )


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
    metrics_every: int | None = None,
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
    metrics_every : int, optional
        Steps between two evaluations logged into the run (``train_loss``, ``train_accuracy``,
        ``test_loss``, ``test_accuracy``; see :func:`~tda_interp.demo.modular.evaluate`), which
        also happen at every checkpoint; default ``max(1, every // 5)`` (every 50 steps).
        Read them back with ``Run(out_dir / "run").metrics()``.

    Returns
    -------
    DemoResult
    """
    from tda_interp.reports import write_report

    metrics_every = check_interval(max(1, every // 5) if metrics_every is None else metrics_every)
    out = Path(out_dir)
    config_path = out / "demo.toml"
    _check_demo_folder(out, config_path)
    ckpt_dir = out / "checkpoints"
    if ckpt_dir.is_dir():
        for stale in ckpt_dir.iterdir():  # an earlier demo's: a rerun must not mix them in
            if _CHECKPOINT.fullmatch(stale.name) and stale.is_file():
                stale.unlink()
        others = sorted(p.name for p in ckpt_dir.iterdir())
        if others:
            raise ConfigError(
                f"{str(ckpt_dir)!r} holds files the demo did not write ({', '.join(others[:5])}"
                f"{' ...' if len(others) > 5 else ''}), which its run would read as checkpoints; "
                "move them, or choose another output folder."
            )
    out.mkdir(parents=True, exist_ok=True)
    logged: list[tuple[int, dict[str, float]]] = []
    saved = train(
        ckpt_dir,
        steps=steps,
        every=every,
        seed=seed,
        on_step=on_train,
        on_metrics=lambda step, metrics: logged.append((step, metrics)),
        metrics_every=metrics_every,
    )
    config_path.write_text(DEMO_CONFIG.format(config_name=config_path.name), encoding="utf-8")
    # fresh weights under the same labels: discard any earlier demo's results (and metrics)
    config = load_config(config_path).with_progress(progress)
    outcome = run_from_config(config, overwrite=True)
    labels = {step_from_label(p.stem, -1): p.stem for p in saved}
    with RunWriter(outcome.run_dir, Run(outcome.run_dir).params) as writer:  # resumes the run
        for step, metrics in logged:
            writer.log_metrics(step, metrics, checkpoint=labels.get(step))
    report = write_report(outcome.run_dir, out / "report.html")
    return DemoResult(out_dir=out, config=config_path, run=outcome, report=Path(report))
