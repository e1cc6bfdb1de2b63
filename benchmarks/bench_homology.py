"""Persistence of a layer x checkpoint grid: tda-interp against the plain ripser.py loop.

The grid (issue 4): 12 layers x 4 checkpoints of 600 points in 384 dimensions, a third each
Gaussian noise, noisy circles and flat tori (each in a random subspace), H0 + H1.

Baseline: ``ripser.ripser(X, maxdim=1)`` on every cloud in a plain loop, what users and the
existing activation-TDA packages do today. Then, on the same clouds in the same run:

- exact mode: ``run_pipeline``'s task path (float64 distances, automatic backend, independent
  tasks on worker processes), diagrams checked equal to the baseline's (bottleneck distance below
  1e-6 of the diameter; ripser.py works in float32);
- certified-approximate mode, twice: 150 max-min landmarks, and the fewest landmarks whose
  certified bound is within 5% of the diameter (``approximation="bound:0.05"``; exact where no
  subset will do); per family the time against ripser.py, the number of points used, the certified
  bottleneck bound (relative to the diameter) and the actual bottleneck distance to the exact
  diagram;
- H2 of a 1,000-point torus in 128 dimensions, and landmarking 100,000 points in 384 dimensions.

Peak memory (ru_maxrss of this process and of the worker processes) is printed at the end.
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict

import gudhi
import numpy as np
import ripser

from tda_interp.execution import ProcessExecutor, RipsTask, run_task
from tda_interp.homology import estimate_cost, vietoris_rips
from tda_interp.homology.landmarks import maxmin_landmarks
from tda_interp.options import RipsOptions

N_POINTS, DIM, LAYERS, CHECKPOINTS = 600, 384, 12, 4
N_LANDMARKS = 150
TARGET = 0.05  # issue 4: certified bound below 5% of the diameter


def _embed(base: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(DIM, base.shape[1])))
    return base @ q.T + noise * rng.normal(size=(len(base), DIM)) / np.sqrt(DIM)


def grid(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """48 clouds: the families cycle through the layers."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in range(LAYERS):
        for _ in range(CHECKPOINTS):
            family = ("gauss", "circle", "torus")[layer % 3]
            if family == "gauss":
                X = rng.normal(size=(N_POINTS, DIM))
            elif family == "circle":
                t = rng.uniform(0, 2 * np.pi, N_POINTS)
                X = _embed(np.c_[np.cos(t), np.sin(t)], rng, noise=0.05)
            else:
                u, v = rng.uniform(0, 2 * np.pi, (2, N_POINTS))
                X = _embed(np.c_[np.cos(u), np.sin(u), np.cos(v), np.sin(v)], rng, noise=0.05)
            out.append((family, X))
    return out


def bottleneck_rel(a: list[np.ndarray], b: list[np.ndarray], scale: float) -> float:
    worst = 0.0
    for da, db in zip(a, b, strict=True):
        fa, fb = da[np.isfinite(da[:, 1])], db[np.isfinite(db[:, 1])]
        if np.isinf(da[:, 1]).sum() != np.isinf(db[:, 1]).sum():
            return float("inf")
        worst = max(worst, gudhi.bottleneck_distance(fa, fb))
    return worst / scale


def main() -> None:
    clouds = grid()
    fam = [f for f, _ in clouds]
    print(f"grid: {LAYERS} layers x {CHECKPOINTS} checkpoints = {len(clouds)} clouds of "
          f"{N_POINTS} points in {DIM} dims (gauss/circle/torus), H0+H1")  # fmt: skip

    t0 = time.perf_counter()
    base = {}
    base_time: dict[str, float] = defaultdict(float)
    for i, (family, X) in enumerate(clouds):
        t = time.perf_counter()
        base[i] = ripser.ripser(X, maxdim=1)["dgms"]
        base_time[family] += time.perf_counter() - t
    t_base = time.perf_counter() - t0
    print(f"baseline ripser.py loop: {t_base:.1f} s "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in base_time.items())})")  # fmt: skip

    exact_opts = RipsOptions(maxdim=1, approximation="auto")  # every point, exact under 4 GB
    tasks = [RipsTask(points=X, view="raw", rips=exact_opts) for _, X in clouds]
    executor = ProcessExecutor(n_workers=2)
    try:
        t0 = time.perf_counter()
        exact = dict(executor.imap(run_task, tasks))
        t_exact = time.perf_counter() - t0
        worst = max(
            bottleneck_rel(base[i], exact[i].diagram.to_ripser(), exact[i].diagram.scale)
            for i in range(len(clouds))
        )
        backend = exact[0].diagram.provenance.backend
        ok = "equal" if worst < 1e-6 else f"DIFFERENT (worst {worst:.2e} of the diameter)"
        print(f"exact mode ({backend}, 2 worker processes): {t_exact:.1f} s, "
              f"speed-up {t_base / t_exact:.2f}x; diagrams {ok}")  # fmt: skip

        modes = {
            f"{N_LANDMARKS} max-min landmarks": f"landmarks:{N_LANDMARKS}",
            f"target bound {TARGET:.0%} of the diameter": f"bound:{TARGET}",
        }
        for mode, spec in modes.items():
            opts = RipsOptions(maxdim=1, approximation=spec)
            approx_tasks = [RipsTask(points=X, view="raw", rips=opts) for _, X in clouds]
            t0 = time.perf_counter()
            approx = dict(executor.imap(run_task, approx_tasks))
            t_approx = time.perf_counter() - t0
            # per-family wall time: every cloud of the family, serially, in this process
            approx_time: dict[str, float] = defaultdict(float)
            for i, task in enumerate(approx_tasks):
                t = time.perf_counter()
                run_task(task)
                approx_time[fam[i]] += time.perf_counter() - t
            print(f"certified-approximate mode, {mode} (2 workers): {t_approx:.1f} s, "
                  f"speed-up {t_base / t_approx:.1f}x over the grid")  # fmt: skip
            for family in ("gauss", "circle", "torus"):
                idx = [i for i in range(len(clouds)) if fam[i] == family]
                bound = max(approx[i].diagram.provenance.certificate.bound_rel for i in idx)
                n_lm = [approx[i].diagram.n_points for i in idx]
                d = {i: exact[i].diagram for i in idx}
                actual = max(
                    bottleneck_rel(d[i].to_ripser(), approx[i].diagram.to_ripser(), d[i].scale)
                    for i in idx
                )
                ratio = base_time[family] / approx_time[family]
                print(f"  {family:6s}: serial {approx_time[family]:6.2f} s vs ripser.py "
                      f"{base_time[family]:6.1f} s -> {ratio:5.1f}x; "
                      f"{min(n_lm)}-{max(n_lm)} points; certified bound {bound:.3f} of the "
                      f"diameter (max over clouds), actual bottleneck {actual:.3f}")  # fmt: skip
    finally:
        executor.close()

    rng = np.random.default_rng(1)
    u, v = rng.uniform(0, 2 * np.pi, (2, 1000))
    torus = np.c_[np.cos(u), np.sin(u), np.cos(v), np.sin(v)]
    torus = torus @ np.linalg.qr(rng.normal(size=(128, 4)))[0].T
    exact = estimate_cost(len(torus), maxdim=2, n_features=torus.shape[1], backend="gudhi")
    print(f"H2 of a 1,000-point torus in 128 dims: exact estimated at "
          f"{exact.memory_bytes / 1e9:.1f} GB and ~{exact.seconds:.0f} s (over the default "
          f"4 GB budget, so not run here)")  # fmt: skip
    for m in (200, 300):
        t = time.perf_counter()
        dgm = vietoris_rips(torus, maxdim=2, approximation=f"landmarks:{m}")
        t_h2 = time.perf_counter() - t
        life2 = dgm.lifetimes(2, relative=True)
        life1 = dgm.lifetimes(1, relative=True)
        cert = dgm.provenance.certificate
        print(f"  {m} landmarks ({dgm.provenance.backend}): {t_h2:.1f} s; bound "
              f"{cert.bound_rel:.3f} of the diameter; longest H2 bar "
              f"{life2[0]:.2f}, H1 bars > 0.25: {int((life1 > 0.25).sum())}")  # fmt: skip

    big = np.random.default_rng(2).normal(size=(100_000, 384))
    t = time.perf_counter()
    lm = maxmin_landmarks(big, 250, seed=0)
    t_lm = time.perf_counter() - t
    print(f"landmarking 100,000 points in 384 dims: 250 landmarks in {t_lm:.1f} s, "
          f"covering radius {lm.covering_radius:.2f}, bound {lm.bottleneck_bound:.2f}")  # fmt: skip

    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {me:.0f} MiB, largest worker {kids:.0f} MiB")


if __name__ == "__main__":
    main()
