"""Toy Models of Superposition: 5 sparse features in 2 dimensions form a regular pentagon.

Published result (Elhage et al. 2022, "Toy Models of Superposition", Anthropic, section
"Superposition as a phase change" / the pentagon of Figure 1): a ReLU output model
``x' = ReLU(W^T W x + b)`` with ``n = 5`` features of equal importance squeezed into ``m = 2``
hidden dimensions stores all five features when they are sparse, with the columns ``W_i``
arranged as a regular pentagon. Topologically (Vietoris-Rips, Euclidean), a regular pentagon of
radius ``r`` has exactly one H1 bar, born when the sides connect (``2 r sin 36deg``) and dying
when the diagonals fill it (``2 r sin 72deg``).

This example trains the toy model from scratch (feature probability 0.05, values uniform in
[0, 1], AdamW, batch 1024, seed 0), saves checkpoints, writes ``tms.toml`` (layer ``hidden``:
the 5 points ``W e_i``, one per feature) and runs it with ``tda-interp run``, then writes
``report.html``. It prints the measured H1 bar beside the analytic one for the measured mean
radius, and says PASS when the last checkpoint has exactly one H1 bar, called significant, whose
birth and death are within 3% of the analytic values and within 1e-5 of a plain
``ripser.ripser`` call on the same points, and whose features all have norm within
5% of ``r`` with angular gaps of 72 +- 3 degrees.

Run: ``python examples/03_tms_pentagon.py [--quick] [-o OUT]`` (default output
``runs/examples/03_tms_pentagon``).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

N_FEATURES, N_HIDDEN = 5, 2
FEATURE_PROBABILITY = 0.05
SEED = 0
STEPS = {"full": 10_000, "quick": 1_500}
TOLERANCE = 0.03

CONFIG = """\
# Written by examples/03_tms_pentagon.py; rerun with `tda-interp run tms.toml`.
title = "Toy Models of Superposition: 5 features in 2 dimensions"
run_dir = "run"

[model]
factory = "{script}:make_model"
checkpoints = "checkpoints/*.pt"

[inputs]
factory = "{script}:probe_inputs"

[capture]
layers = ["hidden"]
reduction = "none"

[homology]
views = ["raw"]
maxdim = 1
approximation = "exact"

[significance]
method = "universal"
"""


class ToyModel(nn.Module):
    """``x' = ReLU(W^T W x + b)``; ``hidden`` is ``W`` (an ``nn.Linear`` without bias)."""

    def __init__(self, n: int = N_FEATURES, m: int = N_HIDDEN) -> None:
        super().__init__()
        self.hidden = nn.Linear(n, m, bias=False)
        nn.init.xavier_normal_(self.hidden.weight)
        self.b_final = nn.Parameter(torch.zeros(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.hidden(x) @ self.hidden.weight + self.b_final)


def make_model() -> ToyModel:
    return ToyModel()


def probe_inputs() -> torch.Tensor:
    """One probe per feature: the identity, so ``hidden`` gives the columns ``W_i``."""
    return torch.eye(N_FEATURES)


def train(out: Path, steps: int) -> ToyModel:
    torch.manual_seed(SEED)
    model = ToyModel()
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    every = steps // 4
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            _common.save_state(model, out / "checkpoints" / f"step_{step:05d}.pt")
        if step == steps:
            break
        x = torch.rand(1024, N_FEATURES, generator=gen)
        x = x * (torch.rand(1024, N_FEATURES, generator=gen) < FEATURE_PROBABILITY)
        loss = ((model(x) - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    print(f"trained {steps} steps, final loss {loss.item():.5f}")
    return model


def main(budget: str = "full", out: Path | None = None) -> int:
    started = time.perf_counter()
    out = _common.fresh_dir(
        out or _common.DEFAULT_ROOT / "03_tms_pentagon",
        ("checkpoints", "run", "tms.toml", "report.html"),
    )
    model = train(out, STEPS[budget])
    config = out / "tms.toml"
    config.write_text(CONFIG.format(script=Path(__file__).resolve()), encoding="utf-8")
    run = _common.run_config(config, out / "run")
    _common.report(str(out / "run"), "-o", str(out / "report.html"))

    last = run.checkpoints[-1].label
    result = run.result(last, "hidden", "raw")
    bars = result.diagram.pairs[1]
    calls = result.significance.significant[1] if result.significance is not None else None
    w = model.hidden.weight.detach().double().numpy()  # (2, 5): columns are the features
    norms = np.linalg.norm(w, axis=0)
    r = float(norms.mean())
    angles = np.sort(np.degrees(np.arctan2(w[1], w[0])))
    gaps = np.diff(np.r_[angles, angles[0] + 360.0])
    analytic = (2 * r * math.sin(math.radians(36)), 2 * r * math.sin(math.radians(72)))
    print(f"feature norms {np.round(norms, 4).tolist()}, mean radius r = {r:.4f}")
    print(f"angular gaps (deg) {np.round(gaps, 2).tolist()}")
    print(f"analytic H1 bar  [2r sin36, 2r sin72] = [{analytic[0]:.4f}, {analytic[1]:.4f}]")
    for i, (b, d) in enumerate(bars):
        sig = "significant" if calls is not None and bool(calls[i]) else "not significant"
        print(f"measured H1 bar  [{b:.4f}, {d:.4f}]  ({sig})")
    import ripser  # the plain ripser.py computation, as a cross-check of the pipeline's bar

    plain = ripser.ripser(w.T, maxdim=1)["dgms"][1]
    print(f"plain ripser.py  {np.round(plain, 4).tolist()}", end="")
    if plain.shape == bars.shape:
        print(f"  (largest difference {np.abs(plain - bars).max():.1e})", end="")
    print()
    ok = len(bars) == 1 and calls is not None and bool(calls[0])
    ok = ok and plain.shape == bars.shape and bool(np.allclose(plain, bars, atol=1e-5))
    if ok:
        errs = [abs(bars[0][k] - analytic[k]) / analytic[k] for k in (0, 1)]
        print(f"relative error birth {errs[0]:.4f}, death {errs[1]:.4f}")
        ok = max(errs) <= TOLERANCE
    regular = bool(np.all(np.abs(norms / r - 1) <= 0.05) and np.all(np.abs(gaps - 72) <= 3))
    ok = ok and regular
    return _common.finish(
        ok,
        f"TMS pentagon at {last}: {len(bars)} H1 bar(s), measured "
        + (f"[{bars[0][0]:.4f}, {bars[0][1]:.4f}]" if len(bars) else "none")
        + f" vs analytic [{analytic[0]:.4f}, {analytic[1]:.4f}] (tolerance {TOLERANCE:.0%})",
        started,
    )


if __name__ == "__main__":
    _common.entry(main, "03_tms_pentagon", __doc__)
