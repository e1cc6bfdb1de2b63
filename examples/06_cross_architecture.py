"""Two architectures, one task: both modular-addition networks learn a circular embedding.

Published result (Nanda et al. 2023, "Progress measures for grokking via mechanistic
interpretability", ICLR; Zhong, Liu, Tegmark and Andreas 2023, "The Clock and the Pizza",
NeurIPS): networks of different architectures trained on modular addition embed the tokens on
circles (Fourier features of a few key frequencies), visible in planes of principal components
of the embedding: the circle belongs to the task's solution, not to one architecture.

This example trains two architectures from scratch on ``a + b mod 59`` (half of the pairs for
training, full-batch AdamW, weight decay 1, lr 3e-3, seed 0): ``relu``, the demo's model (the
two token embeddings concatenated, then a ReLU layer), and ``gelu`` (the same with a GELU
layer). Each has its config (``relu.toml``, ``gelu.toml``: layers ``embed`` and ``mlp``, views
``raw`` and ``pc1-2``), run with ``tda-interp run``; a third run, ``untrained``, is the
``relu`` model at initialisation, the control. ``tda-interp compare relu gelu --control
untrained`` then writes
``compare.html`` and ``compare.csv``: bottleneck distances between the H1 diagrams (relative
to the diameter) of every pair of layers, with the replicate reference of every layer (the
distance between the diagrams of two random halves of the probe set, three times) and CKA.

PASS when both trained models have a significant H1 bar in ``embed`` ``pc1-2``, and the
distance between their ``embed`` ``pc1-2`` diagrams is smaller than the distance from each to
the untrained control's.

Run: ``python examples/06_cross_architecture.py [--quick] [-o OUT]`` (default output
``runs/examples/06_cross_architecture``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from tda_interp.cli import main as cli_main
from tda_interp.demo.modular import ModularMLP, evaluate, modular_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

P = 59
SEED = 0
STEPS = {"full": 3_000, "quick": 2_500}

CONFIG = """\
# Written by examples/06_cross_architecture.py; rerun with `tda-interp run {name}.toml`.
title = "Modular addition, {name} architecture"
run_dir = "{name}"

[model]
factory = "{script}:{factory}"
checkpoints = "checkpoints/{checkpoints}"

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


class GeluMLP(nn.Module):
    """Embedding -> ``[e_a, e_b]`` -> Linear + GELU (``mlp``) -> logits (``unembed``)."""

    def __init__(self, p: int = P, d_embed: int = 128, d_hidden: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(p, d_embed)
        self.mlp = nn.Sequential(nn.Linear(2 * d_embed, d_hidden), nn.GELU())
        self.unembed = nn.Linear(d_hidden, p)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.unembed(self.mlp(self.embed(pairs).flatten(1)))


def make_relu() -> ModularMLP:
    return ModularMLP(p=P)


def make_gelu() -> GeluMLP:
    return GeluMLP(p=P)


ARCHITECTURES = {"relu": make_relu, "gelu": make_gelu}


def train(name: str, folder: Path, steps: int) -> float:
    torch.manual_seed(SEED)
    model = ARCHITECTURES[name]()
    x_tr, y_tr, x_te, y_te = modular_dataset(P, seed=SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1.0)
    _common.save_state(model, folder / f"{name}_step_00000.pt")
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x_tr), y_tr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _common.save_state(model, folder / f"{name}_step_{steps:05d}.pt")
    accuracy = evaluate(model, x_tr, y_tr, x_te, y_te)["test_accuracy"]
    print(f"{name}: {steps} steps, test accuracy {accuracy:.3f}")
    return accuracy


def main(budget: str = "full", out: Path | None = None) -> int:
    started = time.perf_counter()
    out = _common.fresh_dir(
        out or _common.DEFAULT_ROOT / "06_cross_architecture",
        ("checkpoints", "relu", "gelu", "untrained", "relu.toml", "gelu.toml", "untrained.toml",
         "compare.html", "compare.csv"),
    )  # fmt: skip
    steps = STEPS[budget]
    accuracy = {name: train(name, out / "checkpoints", steps) for name in ARCHITECTURES}
    script = Path(__file__).resolve()
    runs = {}
    for name, factory, checkpoints in (
        ("relu", "make_relu", "relu_step_*.pt"),
        ("gelu", "make_gelu", "gelu_step_*.pt"),
        ("untrained", "make_relu", "relu_step_00000.pt"),
    ):
        config = out / f"{name}.toml"
        text = CONFIG.format(name=name, script=script, factory=factory, checkpoints=checkpoints)
        config.write_text(text, encoding="utf-8")
        runs[name] = _common.run_config(config, out / name)

    h1 = {}
    for name in ("relu", "gelu", "untrained"):
        run = runs[name]
        h1[name] = _common.betti(run.summaries(), run.checkpoints[-1].label, "embed", "pc1-2")[1]
        print(f"{name:9s} embed pc1-2 at {run.checkpoints[-1].label}: {h1[name]} significant H1")

    html, csv = out / "compare.html", out / "compare.csv"
    code = cli_main(
        ["compare", str(out / "relu"), str(out / "gelu"), "--control", str(out / "untrained"),
         "-o", str(html), "--csv", str(csv)]
    )  # fmt: skip
    if code != 0:
        raise SystemExit(f"tda-interp compare failed with exit code {code}")
    table = pd.read_csv(csv)
    embed = table[(table.view == "pc1-2") & (table.layer_a == "embed") & (table.layer_b == "embed")]

    def distance(a: str, b: str) -> float:
        rows = embed[
            ((embed.run_a == a) & (embed.run_b == b)) | ((embed.run_a == b) & (embed.run_b == a))
        ]
        return float(rows["distance"].iloc[0])

    d_ab = distance("relu", "gelu")
    d_a0, d_b0 = distance("relu", "untrained"), distance("gelu", "untrained")
    refs = embed.drop_duplicates("run_a").set_index("run_a")["reference"]
    print("bottleneck distances between the embed pc1-2 H1 diagrams (fraction of the diameter):")
    print(f"  relu - gelu        {d_ab:.3f}")
    print(f"  relu - untrained   {d_a0:.3f}")
    print(f"  gelu - untrained   {d_b0:.3f}")
    for run_name, ref in refs.items():
        print(f"  replicate reference of {run_name} embed (median of 3 half splits): {ref:.3f}")
    within = d_ab <= float(refs.max())
    print(
        f"relu - gelu is {'within' if within else 'above'} the larger replicate reference: the two "
        "embeddings' H1 diagrams are "
        + ("as alike as" if within else "less alike than")
        + " two random halves of one model's probe set"
    )
    print(f"compare page: {html}")
    ok = (
        min(accuracy.values()) > 0.95
        and h1["relu"] >= 1
        and h1["gelu"] >= 1
        and d_ab < min(d_a0, d_b0)
    )
    return _common.finish(
        ok,
        f"both architectures grok (test accuracy {accuracy['relu']:.3f}, {accuracy['gelu']:.3f}) "
        f"with {h1['relu']} and {h1['gelu']} significant H1 bar(s) in embed pc1-2; their H1 "
        f"diagrams are {d_ab:.3f} apart, closer than to the untrained control's "
        f"({d_a0:.3f}, {d_b0:.3f})",
        started,
    )


if __name__ == "__main__":
    _common.entry(main, "06_cross_architecture", __doc__)
