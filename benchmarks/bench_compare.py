"""All-pairs distances over 48 layers x 50 checkpoints of 600-point diagrams (issue 11).

2,400 H1 diagrams: 16 Vietoris-Rips diagrams of 600-point clouds in 384 dimensions (Gaussian
noise, noisy circles, flat tori), each repeated with every bar's ends moved by a random 1%, so
that no two are alike. Then, in one run:

- the fast path: the whole 2,400 x 2,400 matrix for each vector metric (landscape, Betti
  curve, persistence image on one shared grid);
- the exact bottleneck distance (gudhi) and the plain persim loop users write today
  (``persim.bottleneck``) on the same 300 random pairs, checked equal, and extrapolated to the
  2.88 million pairs of the matrix (serial);
- ``pairwise_distances`` on a 48-diagram block with the automatic executor (worker processes),
  for the parallel throughput, and once more from the cache;
- how well each fast metric orders pairs like the exact one (Spearman rank correlation on the
  300 pairs).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings

import numpy as np
import persim
from scipy.stats import spearmanr

from tda_interp.compare import pairwise_distances
from tda_interp.diagrams import Diagram
from tda_interp.diagrams.distances import bars_distance, prepare_bars
from tda_interp.homology import vietoris_rips
from tda_interp.options import DistanceOptions, ExecutionOptions

N_POINTS, DIM, N_BASE, N_LAYERS, N_CHECKPOINTS, N_SAMPLE = 600, 384, 16, 48, 50, 300


def _embed(base: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(DIM, base.shape[1])))
    return base @ q.T + noise * rng.normal(size=(len(base), DIM)) / np.sqrt(DIM)


def base_diagrams() -> list[Diagram]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(N_BASE):
        family = k % 3
        if family == 0:
            X = rng.normal(size=(N_POINTS, DIM))
        elif family == 1:
            t = rng.uniform(0, 2 * np.pi, N_POINTS)
            X = _embed(np.c_[np.cos(t), np.sin(t)], rng, 0.05)
        else:
            u, v = rng.uniform(0, 2 * np.pi, (2, N_POINTS))
            X = _embed(np.c_[np.cos(u), np.sin(u), np.cos(v), np.sin(v)], rng, 0.05)
        out.append(vietoris_rips(X, maxdim=1, approximation="exact"))
    return out


def jittered(base: list[Diagram], n: int) -> list[Diagram]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        d = base[i % len(base)]
        h1 = np.array(d[1])
        h1 = np.sort(h1 * (1 + 0.01 * rng.uniform(-1, 1, h1.shape)), axis=1)
        out.append(Diagram(pairs=[d[0], h1], scale=d.scale, n_points=d.n_points))
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    base = base_diagrams()
    diagrams = jittered(base, N_LAYERS * N_CHECKPOINTS)
    bars = [len(d[1]) for d in diagrams]
    print(
        f"{len(diagrams)} H1 diagrams ({min(bars)}-{max(bars)} bars) from {N_BASE} Rips "
        f"diagrams of {N_POINTS} points in {DIM} dims, made in {time.perf_counter() - t0:.1f} s"
    )
    n_pairs = len(diagrams) * (len(diagrams) - 1) // 2

    print("\nFast path: the whole matrix")
    fast: dict[str, float] = {}
    for metric in ("landscape", "betti", "image"):
        t = time.perf_counter()
        M = pairwise_distances(diagrams, None, 1, DistanceOptions(metric=metric))  # type: ignore[arg-type]
        fast[metric] = time.perf_counter() - t
        assert M.shape == (len(diagrams),) * 2 and np.allclose(M, M.T)
        print(f"  {metric:10s} {fast[metric]:8.1f} s for {n_pairs:,} pairs")

    rng = np.random.default_rng(2)
    sample = [tuple(rng.choice(len(diagrams), 2, replace=False)) for _ in range(N_SAMPLE)]
    opts = DistanceOptions(relative=False)
    prepared = {i: prepare_bars(diagrams[i], 1, relative=False) for pair in sample for i in pair}
    t = time.perf_counter()
    exact = np.array([bars_distance(prepared[i], prepared[j], opts) for i, j in sample])
    t_exact = (time.perf_counter() - t) / N_SAMPLE
    t = time.perf_counter()
    theirs = np.array(
        [persim.bottleneck(diagrams[i].finite(1), diagrams[j].finite(1)) for i, j in sample]
    )
    t_persim = (time.perf_counter() - t) / N_SAMPLE
    worst = float(np.max(np.abs(exact - theirs) / np.maximum(exact, 1e-12)))
    print(f"\nExact bottleneck on {N_SAMPLE} random pairs (absolute diagrams)")
    print(f"  gudhi (tda-interp)  {1e3 * t_exact:8.2f} ms/pair")
    print(f"  persim loop         {1e3 * t_persim:8.2f} ms/pair")
    print(f"  equal: largest relative difference {worst:.1e}")
    full_exact, full_persim = t_exact * n_pairs, t_persim * n_pairs
    print(
        f"  the whole matrix, serial: exact {full_exact / 3600:.1f} h, persim "
        f"{full_persim / 3600:.1f} h"
    )

    block = diagrams[:N_LAYERS]
    cache = tempfile.mkdtemp()
    try:
        run = ExecutionOptions(executor="auto", cache=cache)
        t = time.perf_counter()
        pairwise_distances(block, None, 1, DistanceOptions(), execution=run)
        t_block = time.perf_counter() - t
        t = time.perf_counter()
        pairwise_distances(block, None, 1, DistanceOptions(), execution=run)
        t_cached = time.perf_counter() - t
    finally:
        shutil.rmtree(cache)
    n_block = len(block) * (len(block) - 1) // 2
    print(
        f"\npairwise_distances, {len(block)} diagrams ({n_block} pairs, relative, auto "
        f"executor): {t_block:.1f} s ({1e3 * t_block / n_block:.1f} ms/pair); from the cache "
        f"{1e3 * t_cached:.0f} ms"
    )

    print("\nRatios in this run (time of the whole matrix)")
    for metric, seconds in fast.items():
        print(
            f"  exact / {metric:9s} {full_exact / seconds:10.0f}x   persim / {metric:9s} "
            f"{full_persim / seconds:10.0f}x"
        )
    print(f"  persim / exact      {t_persim / t_exact:10.1f}x")

    print("\nDo the fast metrics order pairs like the exact bottleneck? (Spearman, relative)")
    rel = np.array(
        [
            pairwise_distances([diagrams[i]], [diagrams[j]], 1, DistanceOptions())[0, 0]
            for i, j in sample
        ]
    )
    for metric in fast:
        idx = sorted({i for pair in sample for i in pair})
        where = {i: k for k, i in enumerate(idx)}
        M = pairwise_distances([diagrams[i] for i in idx], None, 1, DistanceOptions(metric=metric))  # type: ignore[arg-type]
        vals = np.array([M[where[i], where[j]] for i, j in sample])
        rho = spearmanr(rel, vals).statistic
        print(f"  {metric:10s} rho = {rho:.2f}")
    print(f"\nbench_compare: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
