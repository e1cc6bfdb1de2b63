"""tda-interp's Vietoris-Rips path against the plain ripser.py loop users write today.

Both sides get the same clouds (noisy circles, tori and Gaussian noise in 64 dimensions). The
baseline is ``ripser.ripser(X, maxdim=1)`` on the raw points; tda-interp builds the float64
distance matrix itself and hands it to the automatically chosen backend. Diagrams are checked
equal (to float32 precision, as giotto-ph reduces in float32) before any figure is printed.
"""

from __future__ import annotations

import time

import numpy as np
import ripser

from tda_interp.homology import resolve_backend, vietoris_rips

N_POINTS = 400
DIM = 64
REPEATS = 3


def clouds(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(2):
        t = rng.uniform(0, 2 * np.pi, N_POINTS)
        base = np.c_[np.cos(t), np.sin(t)]
        q, _ = np.linalg.qr(rng.normal(size=(DIM, 2)))
        out[f"circle{i}"] = base @ q.T + 0.1 * rng.normal(size=(N_POINTS, DIM)) / np.sqrt(DIM)
        u, v = rng.uniform(0, 2 * np.pi, (2, N_POINTS))
        torus = np.c_[np.cos(u), np.sin(u), 0.5 * np.cos(v), 0.5 * np.sin(v)]
        q4, _ = np.linalg.qr(rng.normal(size=(DIM, 4)))
        out[f"torus{i}"] = torus @ q4.T
        out[f"gauss{i}"] = rng.normal(size=(N_POINTS, DIM))
    return out


def best_of(fn, repeats: int = REPEATS) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    data = clouds()
    backend = resolve_backend("auto")
    print(
        f"{len(data)} clouds of {N_POINTS} points in {DIM} dims, H0+H1; backend auto -> {backend}"
    )
    total_base = total_ours = 0.0
    for name, X in data.items():
        ref = ripser.ripser(X, maxdim=1)["dgms"]
        ours = vietoris_rips(X, maxdim=1)
        tol = 1e-5 * ours.scale
        for k in range(2):
            a, b = np.sort(ref[k], axis=0), np.sort(ours[k], axis=0)
            if a.shape != b.shape or not np.allclose(a, b, atol=tol, rtol=0):
                raise SystemExit(f"{name}: H{k} differs from ripser.py; benchmark invalid")
        t_base = best_of(lambda X=X: ripser.ripser(X, maxdim=1))
        t_ours = best_of(lambda X=X: vietoris_rips(X, maxdim=1))
        total_base += t_base
        total_ours += t_ours
        print(f"  {name:8s} ripser.py {t_base:7.3f} s   tda-interp {t_ours:7.3f} s   "
              f"speed-up {t_base / t_ours:5.2f}x   H1 bars {len(ours[1])}")  # fmt: skip
    print(f"TOTAL ripser.py {total_base:.2f} s, tda-interp {total_ours:.2f} s: "
          f"{total_base / total_ours:.2f}x (diagrams equal)")  # fmt: skip


if __name__ == "__main__":
    main()
