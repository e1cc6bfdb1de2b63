"""Grokking modular addition: the embedding circle, beside a shuffled-label control.

Published result (Nanda, Chan, Lieberum, Smith and Steinhardt 2023, "Progress measures for
grokking via mechanistic interpretability", ICLR): a network trained on ``a + b mod p`` with
weight decay first memorises its training pairs, then generalises ("grokking"); when it does,
its token embeddings lie on circles, one per key Fourier frequency, which show in planes of
principal components of the embedding and not in the raw embedding. A network trained on the
same pairs with shuffled labels can only memorise: it never generalises and its embedding has
no such circle.

This example trains the demo's model (``tda_interp.demo.modular.ModularMLP``: embedding 128,
ReLU layer 256, ``p = 59``, half of the pairs for training, full-batch AdamW, weight decay 1,
seed 0) twice from scratch: once on the true labels, once on the training labels shuffled
(seed 1). Each run has its config (``grokking.toml``, ``control.toml``: layers ``embed`` and
``mlp``, views ``raw`` and ``pc1-2``), run with ``tda-interp run``; the losses and accuracies
are logged into each run, and ``report.html`` is ``tda-interp report grokking/run --control
control/run``.

PASS when, at the last checkpoint, the grokking model's test accuracy is above 0.95 and its
``embed`` layer has at least one significant H1 bar in the ``pc1-2`` view, while the control's
test accuracy is below 0.1 and its ``embed`` ``pc1-2`` view has no significant H1 bar.

Run: ``python examples/01_grokking_control.py [--quick] [-o OUT]`` (default output
``runs/examples/01_grokking_control``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

from tda_interp.demo.modular import ModularMLP, evaluate, modular_dataset
from tda_interp.store import RunWriter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

P = 59
SEED = 0
STEPS = {"full": 3_000, "quick": 2_250}
EVERY = {"full": 250, "quick": 750}

CONFIG = """\
# Written by examples/01_grokking_control.py; rerun with `tda-interp run {name}.toml`.
title = "Modular addition ({what})"
run_dir = "{name}/run"

[model]
factory = "tda_interp.demo.modular:make_model"
checkpoints = "{name}/checkpoints/*.pt"

[inputs]
factory = "tda_interp.demo.modular:probe_inputs"

[capture]
layers = ["embed", "mlp"]
reduction = "flatten"

[homology]
views = ["raw", "pc1-2"]
maxdim = 1

[significance]
method = "universal"
"""


def train(folder: Path, steps: int, every: int, *, shuffle: bool) -> list[tuple[int, dict]]:
    """Train from scratch, save checkpoints, return the metrics logged every ``every // 5``."""
    torch.manual_seed(SEED)
    model = ModularMLP(p=P)
    x_tr, y_tr, x_te, y_te = modular_dataset(P, seed=SEED)
    if shuffle:
        y_tr = y_tr[torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(1))]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0)
    logged = []
    for step in range(steps + 1):
        if step % max(1, every // 5) == 0 or step == steps:
            logged.append((step, evaluate(model, x_tr, y_tr, x_te, y_te)))
        if step % every == 0 or step == steps:
            _common.save_state(model, folder / "checkpoints" / f"step_{step:05d}.pt")
        if step == steps:
            break
        loss = nn.functional.cross_entropy(model(x_tr), y_tr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    last = logged[-1][1]
    print(
        f"{folder.name}: {steps} steps, train accuracy {last['train_accuracy']:.3f}, "
        f"test accuracy {last['test_accuracy']:.3f}"
    )
    return logged


def main(budget: str = "full", out: Path | None = None) -> int:
    started = time.perf_counter()
    out = _common.fresh_dir(
        out or _common.DEFAULT_ROOT / "01_grokking_control",
        ("grokking", "control", "grokking.toml", "control.toml", "report.html"),
    )
    steps, every = STEPS[budget], EVERY[budget]
    runs, accuracy = {}, {}
    for name, shuffle in (("grokking", False), ("control", True)):
        logged = train(out / name, steps, every, shuffle=shuffle)
        what = "shuffled-label control" if shuffle else "true labels"
        config = out / f"{name}.toml"
        config.write_text(CONFIG.format(name=name, what=what), encoding="utf-8")
        run = _common.run_config(config, out / name / "run")
        labels = {c.step: c.label for c in run.checkpoints}
        with RunWriter(run.path, run.params) as writer:
            for step, metrics in logged:
                writer.log_metrics(step, metrics, checkpoint=labels.get(step))
        runs[name], accuracy[name] = run, logged[-1][1]["test_accuracy"]
    report = out / "report.html"
    _common.report(
        str(out / "grokking" / "run"), "--control", str(out / "control" / "run"), "-o", str(report)
    )

    h1: dict[tuple[str, str], int] = {}
    for name, run in runs.items():
        df = run.summaries()
        last = run.checkpoints[-1].label
        first = run.checkpoints[0].label
        for view in ("raw", "pc1-2"):
            rows = df[(df.layer == "embed") & (df.view == view) & (df.dim == 1)]
            at = rows.set_index("checkpoint")
            h1[name, view] = int(at.loc[last, "betti_significant"])
            before = int(at.loc[first, "betti_significant"])
            print(
                f"{name:8s} embed {view:5s}: significant H1 bars {before} at {first}, "
                f"{h1[name, view]} at {last}; longest H1 bar "
                f"{at.loc[first, 'max_rel_persistence']:.3f} -> "
                f"{at.loc[last, 'max_rel_persistence']:.3f} of the diameter"
            )
    ok = (
        accuracy["grokking"] > 0.95
        and h1["grokking", "pc1-2"] >= 1
        and accuracy["control"] < 0.1
        and h1["control", "pc1-2"] == 0
    )
    return _common.finish(
        ok,
        f"grokked model: test accuracy {accuracy['grokking']:.3f}, {h1['grokking', 'pc1-2']} "
        f"significant H1 bar(s) in embed pc1-2; shuffled-label control: test accuracy "
        f"{accuracy['control']:.3f}, {h1['control', 'pc1-2']} (expected >= 1 vs 0); "
        f"report {report}",
        started,
    )


if __name__ == "__main__":
    _common.entry(main, "01_grokking_control", __doc__)
