"""Topology simplification through depth (Naitzat, Zhitnikov and Lim 2020).

Published result (Naitzat, Zhitnikov and Lim 2020, "Topology of deep neural networks", JMLR
21(184)): a deep ReLU classifier trained to near-zero error on entangled classes changes the
topology of each class layer by layer: the Betti numbers of one class's points fall from the
input to the last hidden layer, where the class is topologically simple (about ``(1, 0)``).

This example builds their kind of data: class A is two disjoint unit circles in R^3, class B
a larger circle linked with both (a chain A-B-A), each ring with small noise. It trains from
scratch (seed 0, full-batch Adam) an MLP of 8 hidden ReLU layers of width 16 to classify A
against B, saves the untrained and the trained checkpoints, writes ``rings.toml`` (probe set:
fresh points of class A, 200 per circle, 120 with ``--quick``; layers ``input`` and
``hidden.0`` .. ``hidden.7``, the ReLU outputs; view ``raw``, exact Vietoris-Rips to H1 with
significance calls) and runs it with ``tda-interp run``, then writes ``report.html`` (Betti
numbers of significant bars against depth, one line per checkpoint).

PASS when the trained classifier reaches 99% training accuracy, class A's significant Betti
numbers at the input are ``(2, 2)`` (two circles), and their total at the last hidden layer is
smaller than at the input.

Measured (full budget): ``(2, 2)`` at the input, holes gone from ``hidden.4`` on, ``(2, 0)`` at
``hidden.7``. The untrained network (checkpoint ``step_00000``) simplifies class A about as much
at this depth (a deep ReLU net at initialisation collapses small features too), so this run
shows the fall of the Betti numbers, not that training causes it.

Run: ``python examples/04_topology_simplification.py [--quick] [-o OUT]`` (default output
``runs/examples/04_topology_simplification``).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

SEED = 0
DEPTH, WIDTH = 8, 16
STEPS = {"full": 4_000, "quick": 1_500}
N_TRAIN = {"full": 600, "quick": 300}  # points per ring
N_PROBE = {"full": 200, "quick": 120}  # class-A points per ring in the probe set
NOISE = 0.05

CONFIG = """\
# Written by examples/04_topology_simplification.py; rerun with `tda-interp run rings.toml`.
title = "Topology simplification (Naitzat et al. 2020): class A through depth"
run_dir = "run"

[model]
factory = "{script}:make_model"
checkpoints = "checkpoints/*.pt"

[inputs]
factory = "{script}:probe_inputs"

[inputs.args]
per_ring = {per_ring}

[capture]
layers = ["input", "hidden.*"]
reduction = "none"

[homology]
views = ["raw"]
maxdim = 1
approximation = "exact"

[significance]
method = "universal"
"""


class DeepClassifier(nn.Module):
    """``input`` (identity) -> ``hidden.i`` = Linear + ReLU, ``DEPTH`` times -> ``head``."""

    def __init__(self, depth: int = DEPTH, width: int = WIDTH) -> None:
        super().__init__()
        self.input = nn.Identity()
        self.hidden = nn.ModuleList(
            nn.Sequential(nn.Linear(3 if i == 0 else width, width), nn.ReLU()) for i in range(depth)
        )
        self.head = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input(x)
        for layer in self.hidden:
            x = layer(x)
        return self.head(x)


def make_model() -> DeepClassifier:
    return DeepClassifier()


def ring(
    n: int, center: tuple[float, float, float], radius: float, plane: str, gen: torch.Generator
) -> torch.Tensor:
    """``n`` noisy points of a circle around ``center`` in the ``xy`` or ``xz`` plane."""
    t = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
    zero = torch.zeros_like(t)
    pts = torch.stack(
        [torch.cos(t), torch.sin(t), zero] if plane == "xy" else [torch.cos(t), zero, torch.sin(t)],
        dim=1,
    )
    pts = radius * pts + torch.tensor(center, dtype=torch.float64)
    return (pts + NOISE * torch.randn(pts.shape, generator=gen, dtype=torch.float64)).float()


def rings(per_ring: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class A (label 0): unit circles around (0,0,0) and (3,0,0) in the xy plane; class B
    (label 1): the circle of radius 1.5 around (1.5,0,0) in the xz plane, linked with both
    (it passes through their centres)."""
    gen = torch.Generator().manual_seed(seed)
    a1 = ring(per_ring, (0.0, 0.0, 0.0), 1.0, "xy", gen)
    a2 = ring(per_ring, (3.0, 0.0, 0.0), 1.0, "xy", gen)
    b = ring(2 * per_ring, (1.5, 0.0, 0.0), 1.5, "xz", gen)
    a = torch.cat([a1, a2])
    x = torch.cat([a, b])
    y = torch.cat([torch.zeros(len(a), dtype=torch.long), torch.ones(len(b), dtype=torch.long)])
    return x, y


def probe_inputs(per_ring: int = 200) -> torch.Tensor:
    """Class A only, drawn with another seed than the training set."""
    x, y = rings(per_ring, seed=1_000)
    return x[y == 0]


def train(out: Path, steps: int, per_ring: int) -> float:
    torch.manual_seed(SEED)
    model = DeepClassifier()
    x, y = rings(per_ring, seed=SEED)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    _common.save_state(model, out / "checkpoints" / "step_00000.pt")
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _common.save_state(model, out / "checkpoints" / f"step_{steps:05d}.pt")
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"trained {steps} steps: loss {loss.item():.4f}, training accuracy {accuracy:.4f}")
    return accuracy


def main(budget: str = "full", out: Path | None = None) -> int:
    started = time.perf_counter()
    out = _common.fresh_dir(
        out or _common.DEFAULT_ROOT / "04_topology_simplification",
        ("checkpoints", "run", "rings.toml", "report.html"),
    )
    accuracy = train(out, STEPS[budget], N_TRAIN[budget])
    config = out / "rings.toml"
    config.write_text(
        CONFIG.format(script=Path(__file__).resolve(), per_ring=N_PROBE[budget]),
        encoding="utf-8",
    )
    run = _common.run_config(config, out / "run")
    _common.report(str(out / "run"), "-o", str(out / "report.html"))

    df = run.summaries()
    layers = ["input", *(f"hidden.{i}" for i in range(DEPTH))]
    profile: dict[str, dict[str, tuple[int, ...]]] = {}
    for ckpt in (c.label for c in run.checkpoints):
        profile[ckpt] = {layer: _common.betti(df, ckpt, layer, "raw") for layer in layers}
    print("significant Betti numbers (b0, b1) of class A by depth:")
    print(f"{'layer':10s}" + "".join(f"{c:>14s}" for c in profile))
    for layer in layers:
        print(f"{layer:10s}" + "".join(f"{profile[c][layer]!s:>14s}" for c in profile))
    trained = profile[run.checkpoints[-1].label]
    first, last = trained["input"], trained[layers[-1]]
    ok = accuracy >= 0.99 and first == (2, 2) and sum(last) < sum(first)
    return _common.finish(
        ok,
        f"class A's significant Betti numbers fall from {first} (total {sum(first)}) at the input "
        f"to {last} (total {sum(last)}) at {layers[-1]} of the trained classifier "
        f"(training accuracy {accuracy:.3f})",
        started,
    )


if __name__ == "__main__":
    _common.entry(main, "04_topology_simplification", __doc__)
