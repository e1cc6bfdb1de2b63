"""Cost of capture: forward passes with hooks on every layer against the same passes without.

Baseline: ``model(x)`` under ``torch.no_grad()`` over the same batches, in the same run. The
captured activations are checked equal to a manual forward pass before any figure is printed.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from tda_interp.hooks import capture_activations

WIDTH = 512
DEPTH = 8
N = 8192
BATCH = 512
REPEATS = 5


def main() -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), nn.GELU()]
    model = nn.Sequential(*layers).eval()
    x = torch.randn(N, WIDTH)
    sites = [str(2 * i + 1) for i in range(DEPTH)]  # every GELU output

    def plain() -> None:
        with torch.no_grad():
            for chunk in x.split(BATCH):
                model(chunk)

    def captured() -> dict[str, np.ndarray]:
        return capture_activations(model, x, sites, batch_size=BATCH)

    acts = captured()
    with torch.no_grad():
        expect = model[:2](x).numpy()
    if not np.allclose(acts["1"], expect, atol=1e-6):
        raise SystemExit("captured activations differ from a manual forward pass")
    kept_mb = sum(a.nbytes for a in acts.values()) / 2**20
    t_plain = min(_time(plain) for _ in range(REPEATS))
    t_capt = min(_time(captured) for _ in range(REPEATS))
    print(f"MLP {DEPTH}x{WIDTH}, {N} inputs in batches of {BATCH}, {len(sites)} sites, "
          f"{kept_mb:.0f} MiB kept")  # fmt: skip
    print(f"plain forward {t_plain:.3f} s, with capture {t_capt:.3f} s: "
          f"ratio {t_capt / t_plain:.2f}x (includes copying the kept activations)")  # fmt: skip


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
