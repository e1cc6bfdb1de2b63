"""Cost estimates against measured peaks, and what enforcing the memory budget costs.

Default run (``make bench``, a few minutes):

1. For Gaussian clouds in 50 and 384 dimensions, a noisy circle in the plane, a noisy circle
   in 64 dimensions and a flat torus in 128, at H1 and H2, per backend where affordable: the
   estimate of :func:`tda_interp.homology.estimate_cost` (with the cloud's
   :func:`~tda_interp.homology.estimate.intrinsic_dimension`, as ``vietoris_rips`` does) against
   the measured growth of memory over distance matrix + backend call, measured in a fork of a
   fresh interpreter that holds only the points (``VmHWM`` and ``VmPeak``; the larger is what
   the estimate covers). Ratios >= 1 are what the budget needs; the calibrated families give
   1 to 3, other clouds of a family's regime more.
2. Enforcement: the same diagram computed in the process and in a child limited to the budget
   (``memory_budget`` at twice the estimate), diagrams checked bit-identical, and the time each
   took (the fork, the pipe and the pickling; timings are printed, never asserted).

``--calibrate`` re-measures the table of :data:`tda_interp.homology.estimate.CALIBRATION`
(about an hour on 2 cores; sizes grow until one run takes 25 s or 5.5 GB) and prints its rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

from tda_interp.homology import distance_matrix, rips_from_distances, vietoris_rips
from tda_interp.homology.estimate import (
    ENFORCE_FRACTION,
    estimate_cost,
    intrinsic_dimension,
    measure_cost,
)
from tda_interp.homology.landmarks import maxmin_landmarks

RSS_GUARD = 5.5e9  # a measurement above this is stopped (the machine is shared)
SLOW = 25.0  # seconds: the largest size measured in a series


def _embed(base: np.ndarray, rng: np.random.Generator, dim: int, noise: float) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(dim, base.shape[1])))
    X = base @ q.T
    if noise:
        X = X + noise * rng.normal(size=(len(base), dim)) / np.sqrt(dim)
    return X


def make_cloud(family: str, n: int, seed: int = 0) -> np.ndarray:
    """The calibrated families (:data:`tda_interp.homology.estimate.FAMILIES`)."""
    if family.endswith("-lm"):  # max-min landmarks of 8n points: the fallback's point sets
        X = make_cloud(family[:-3], 8 * n, seed)
        return X[maxmin_landmarks(X, n, seed=seed).indices]
    rng = np.random.default_rng(seed)
    if family.startswith("gauss"):
        return rng.normal(size=(n, int(family[5:])))
    if family == "circle2":
        t = rng.uniform(0, 2 * np.pi, n)
        return np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.1, size=(n, 2))
    if family == "disk2":
        r, t = np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * np.pi, n)
        return np.c_[r * np.cos(t), r * np.sin(t)]
    if family == "circle64":
        t = rng.uniform(0, 2 * np.pi, n)
        return _embed(np.c_[np.cos(t), np.sin(t)], rng, 64, 0.05)
    if family == "torus128":
        u, v = rng.uniform(0, 2 * np.pi, (2, n))
        return _embed(np.c_[np.cos(u), np.sin(u), np.cos(v), np.sin(v)], rng, 128, 0.0)
    raise ValueError(f"unknown family {family!r}")


def measure_here(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the cloud, then measure distance matrix + backend in a fork (this process is a
    fresh interpreter started by :func:`measure`)."""
    import importlib

    module = {"gudhi": "gudhi.sklearn.rips_persistence", "giotto-ph": "gph", "ripser": "ripser"}
    importlib.import_module(module[spec["backend"]])
    X = make_cloud(spec["family"], spec["n"], spec.get("seed", 0))
    dgms, m = measure_cost(
        lambda: rips_from_distances(
            distance_matrix(X), maxdim=spec["maxdim"], backend=spec["backend"]
        )
    )
    return {
        **spec,
        "seconds": m.seconds,
        "rss": m.rss_bytes,
        "vm": m.address_space_bytes,
        "intrinsic_dim": intrinsic_dimension(X),
        "n_features": X.shape[1],
        "bars": [len(d) for d in dgms],
    }


def measure(spec: dict[str, Any], timeout: float = 150.0) -> dict[str, Any]:
    """:func:`measure_here` in a fresh interpreter, stopped above RSS_GUARD or the timeout."""
    cmd = [sys.executable, __file__, "--measure", json.dumps(spec)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0, why = time.perf_counter(), None
    while proc.poll() is None:
        rss = _tree_rss(proc.pid)
        if rss > RSS_GUARD:
            why = f"stopped at {rss / 1e9:.1f} GB"
        elif time.perf_counter() - t0 > timeout:
            why = f"stopped after {timeout:.0f} s"
        if why:
            proc.kill()
            break
        time.sleep(0.05)
    out, err = proc.communicate()
    if why or proc.returncode:
        return {**spec, "failed": why or err.strip().splitlines()[-1]}
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _tree_rss(pid: int) -> int:
    """Resident set of a process and its children (the measuring fork)."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            pids += [int(p) for p in fh.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def _row(r: dict[str, Any]) -> str:
    peak = max(r["rss"], r["vm"])
    est = estimate_cost(
        r["n"],
        maxdim=r["maxdim"],
        n_features=r["n_features"],
        backend=r["backend"],
        intrinsic_dim=None if r["family"].endswith("-lm") else r["intrinsic_dim"],
    )
    return (
        f"{r['backend']:9s} H{r['maxdim']} {r['family']:11s} {r['n']:5d} "
        f"{r['intrinsic_dim']:6.1f} {peak / 1e6:9.1f} {est.memory_bytes / 1e6:9.1f} "
        f"{est.memory_bytes / peak:6.2f} {r['seconds']:7.2f} {est.seconds:8.2f}"
    )


def compare() -> None:
    sizes = {
        1: {"gauss50": 1500, "gauss384": 1500, "circle2": 700, "circle64": 600, "torus128": 600},
        2: {"gauss50": 300, "gauss384": 300, "circle2": 400, "circle64": 250, "torus128": 250},
    }
    cases = [
        (backend, maxdim, family, n)
        for backend in ("gudhi", "giotto-ph", "ripser")
        for maxdim in (1, 2)
        for family, n in sizes[maxdim].items()
    ]
    print("estimate vs measured peak (memory growth over distance matrix + backend call)")
    print("backend   H  family          n  2-NN d  measured  estimate  ratio  seconds  est. s")
    print("                                           (MB)      (MB)")
    ratios = []
    for backend, maxdim, family, n in cases:
        if backend == "ripser" and maxdim == 2 and family in ("circle64", "torus128"):
            n = 150  # ripser.py is 5-20x slower at H2
        r = measure({"family": family, "n": n, "maxdim": maxdim, "backend": backend})
        if "failed" in r:
            print(f"{backend:9s} H{maxdim} {family:11s} {n:5d}  failed: {r['failed']}")
            continue
        print(_row(r), flush=True)
        ratios.append(estimate_cost(
            n, maxdim=maxdim, n_features=r["n_features"], backend=backend,
            intrinsic_dim=r["intrinsic_dim"]).memory_bytes / max(r["rss"], r["vm"]))  # fmt: skip
    if ratios:
        print(f"ratio estimate / measured: min {min(ratios):.2f}, median "
              f"{float(np.median(ratios)):.2f}, max {max(ratios):.2f}")  # fmt: skip


def enforcement() -> None:
    X = make_cloud("torus128", 500)
    here = vietoris_rips(X, maxdim=1, approximation="exact")
    est = here.provenance.cost_estimate  # type: ignore[union-attr]
    assert est is not None
    budget = 2 * est.memory_bytes
    print(f"\nenforcement: torus in 128 dims, 500 points, H1 (gudhi), estimated at "
          f"{est.memory_bytes / 1e6:.0f} MB; budget {budget / 1e6:.0f} MB puts it above "
          f"{ENFORCE_FRACTION:g} of the budget")  # fmt: skip
    times: dict[str, list[float]] = {"in process": [], "in a child": []}
    identical = True
    for _ in range(3):
        for label, kwargs in (("in process", {}), ("in a child", {"memory_budget": budget})):
            t0 = time.perf_counter()
            d = vietoris_rips(X, maxdim=1, approximation="exact", **kwargs)
            times[label].append(time.perf_counter() - t0)
            identical &= d == here and all(
                a.tobytes() == b.tobytes() for a, b in zip(here.pairs, d.pairs, strict=True)
            )
    best = {k: min(v) for k, v in times.items()}
    here_s, child_s = best["in process"], best["in a child"]
    print(f"  best of 3: in process {here_s:.3f} s, in a child {child_s:.3f} s: overhead "
          f"{1e3 * (child_s - here_s):+.0f} ms ({child_s / here_s:.3f}x); diagrams "
          f"{'bit-identical' if identical else 'DIFFERENT'}")  # fmt: skip
    small = make_cloud("circle2", 200)
    t0 = time.perf_counter()
    for _ in range(20):
        vietoris_rips(small, maxdim=1)
    t_small = (time.perf_counter() - t0) / 20
    print(f"  a small cloud (200 points, H1) stays in the process: {1e3 * t_small:.1f} ms each")


def calibrate() -> None:
    h0 = [1000, 3000, 6000]
    h1 = [250, 500, 1000, 1500, 2000, 2500, 3000]
    h2 = [100, 150, 200, 300, 400, 600, 800]
    plan: list[tuple[str, int, str, list[int]]] = []
    for backend in ("gudhi", "giotto-ph", "ripser"):
        for family in ("circle2", "circle64", "torus128", "gauss10", "gauss20", "gauss50",
                       "gauss384", "gauss50-lm", "gauss384-lm"):  # fmt: skip
            plan.append((backend, 1, family, h1))
            plan.append((backend, 2, family, h2))
        for family in ("disk2", "gauss2-lm"):
            plan.append((backend, 2, family, h2))
        plan += [(backend, 0, "circle2", h0), (backend, 0, "gauss384", h0)]
    rows = []
    for backend, maxdim, family, sizes in plan:
        for n in sizes:
            r = measure({"family": family, "n": n, "maxdim": maxdim, "backend": backend})
            print(json.dumps(r), file=sys.stderr, flush=True)
            if "failed" in r:
                break
            rows.append(
                f'    ("{backend}", {maxdim}, "{family}", {n}, {r["seconds"]:.3g}, '
                f"{r['rss']:.3g}, {r['vm']:.3g}),"
            )
            if r["seconds"] > SLOW:
                break
    print("CALIBRATION = (\n" + "\n".join(rows) + "\n)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibrate", action="store_true", help="re-measure the table")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_here(json.loads(args.measure))))
    elif args.calibrate:
        calibrate()
    else:
        if not sys.platform.startswith("linux"):
            print("measurements need Linux (fork, /proc); skipped")
            return
        compare()
        enforcement()


if __name__ == "__main__":
    main()
