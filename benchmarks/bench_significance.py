"""Significance calls: calibration on noise, ground truth on shapes, and what a call costs.

1. Calibration (issue 10): for each noise family (Gaussian, isotropic and with an
   activation-like spectrum ``sd_i = 1/i``, in 2, 8, 64 and 384 dimensions; uniform in a 2- and
   8-cube), 200 clouds spread over 60, 200 and 1,000 points (H0 and H1) and 200 over 60 and 200
   points (H2), each put through ``compute_diagram`` and the default test exactly as runs do.
   Printed: the family-wise rate of *any* significant bar per dimension (H0: any cluster beyond
   the one), with its Monte Carlo standard error, against alpha = 0.05. The universal test is
   valid where every rate is at most alpha plus about two standard errors.
2. Ground truth: shapes with known Betti numbers, the calls of the default test, and whether
   they survive a random rotation, translation and scaling.
3. Cost: the time of the default test on top of the diagram (the target is 10%), beside the
   Gaussian null's (``method="gaussian"``), on 600-point clouds in 384 dimensions (H0 + H1)
   and on small diagrams that need the null-cloud fallback.

``--quick`` runs 40 clouds per family instead of 200 (for a look, not a calibration).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from tda_interp.homology import check_input, compute_diagram
from tda_interp.homology.significance import compute_significance
from tda_interp.options import RipsOptions, SignificanceOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from test_significance_truth import (
    blobs,
    circle,
    figure_eight,
    flat_torus,
    linked_circles,
    pentagon,
    sphere,
)

ALPHA = 0.05
FAMILIES = ("gauss2", "gauss8", "gauss64", "gauss384", "decay64", "decay384", "cube2", "cube8")
# clouds per size: H0 and H1 (maxdim 1), H2 (maxdim 2); 200 per family each
H1_PLAN = {60: 100, 200: 70, 1000: 30}
H2_PLAN = {60: 150, 200: 50}


def sample(family: str, n: int, rng: np.random.Generator) -> np.ndarray:
    kind, d = family.rstrip("0123456789"), int("".join(c for c in family if c.isdigit()))
    if kind == "gauss":
        return rng.standard_normal((n, d))
    if kind == "decay":
        return rng.standard_normal((n, d)) / np.arange(1, d + 1)
    return rng.random((n, d))


def _calls(X: np.ndarray, maxdim: int) -> tuple[tuple[int, ...], float, float]:
    """(n_significant per dimension, diagram seconds, test seconds)."""
    rips = RipsOptions(maxdim=maxdim)
    pts = check_input(X, rips)
    t0 = time.perf_counter()
    dgm = compute_diagram(pts, "raw", rips)
    t1 = time.perf_counter()
    res = compute_significance(pts, "raw", rips, SignificanceOptions(), diagram=dgm)
    return res.n_significant, t1 - t0, time.perf_counter() - t1


def calibration(scale: float) -> None:
    print("1. Family-wise rate of any significant bar on noise (alpha = 0.05), default test")
    print(f"{'family':10s} {'H0 (extra cluster)':>20s} {'H1':>20s} {'H2':>20s}   clouds")
    worst: dict[int, float] = defaultdict(float)
    t_dgm = t_test = 0.0
    for family in FAMILIES:
        rng = np.random.default_rng(FAMILIES.index(family))
        hits = {0: [], 1: [], 2: []}  # type: dict[int, list[bool]]
        for plan, maxdim in ((H1_PLAN, 1), (H2_PLAN, 2)):
            for n, count in plan.items():
                for _ in range(max(1, round(count * scale))):
                    calls, a, b = _calls(sample(family, n, rng), maxdim)
                    t_dgm, t_test = t_dgm + a, t_test + b
                    dims = (0, 1) if maxdim == 1 else (2,)
                    for k in dims:
                        hits[k].append(calls[k] > 0)
        cells = []
        for k in (0, 1, 2):
            r = float(np.mean(hits[k]))
            se = float(np.sqrt(max(r * (1 - r), 1e-12) / len(hits[k])))
            worst[k] = max(worst[k], r)
            cells.append(f"{r:.3f} (se {se:.3f})")
        sizes = f"{len(hits[1])} + {len(hits[2])}"
        print(f"{family:10s} {cells[0]:>20s} {cells[1]:>20s} {cells[2]:>20s}   {sizes}", flush=True)
    print(
        f"worst rate: H0 {worst[0]:.3f}, H1 {worst[1]:.3f}, H2 {worst[2]:.3f} (alpha {ALPHA}); "
        f"test time / diagram time over all clouds: {t_test / t_dgm:.3f}"
    )


SHAPES = {
    "noisy circle, 200 pts in R^128": (lambda: circle(200, 0.02, 128), 2, (1, 1, 0)),
    "small noisy circle, 60 pts": (lambda: circle(60, 0.05, 2), 1, (1, 1)),
    "flat torus, 600 pts in R^128": (flat_torus, 2, (1, 2, 1)),
    "sphere, 300 pts": (sphere, 2, (1, 0, 1)),
    "linked circles (2 pieces)": (linked_circles, 2, (2, 2, 0)),
    "figure eight": (figure_eight, 1, (1, 2)),
    "regular pentagon, 5 pts": (pentagon, 1, (1, 1)),
    "3 Gaussian blobs in R^8": (lambda: blobs(3, 8, 12.0), 0, (3,)),
    "Gaussian noise, 600 pts in R^64": (
        lambda: np.random.default_rng(5).standard_normal((600, 64)),
        2,
        (1, 0, 0),
    ),
}


def ground_truth() -> None:
    print("\n2. Ground truth, default test: Betti numbers of the significant features")
    print(f"{'shape':34s} {'expected':>10s} {'called':>10s} {'isometry':>9s}  normalisation")
    rng = np.random.default_rng(11)
    for name, (make, maxdim, truth) in SHAPES.items():
        X = make()
        rips = RipsOptions(maxdim=maxdim)
        res = compute_significance(check_input(X, rips), "raw", rips, SignificanceOptions())
        Q, _ = np.linalg.qr(rng.standard_normal((X.shape[1],) * 2))
        Y = 3.7 * X @ Q.T + rng.standard_normal(X.shape[1])
        moved = compute_significance(check_input(Y, rips), "raw", rips, SignificanceOptions())
        called = (res.n_clusters, *res.n_significant[1:])
        same = all(
            np.array_equal(a, b) for a, b in zip(res.significant, moved.significant, strict=True)
        )
        print(
            f"{name:34s} {truth!s:>10s} {called!s:>10s} {same!s:>9s}  "
            f"{', '.join(res.normalisation)}",
            flush=True,
        )


def cost() -> None:
    print("\n3. Cost of a call beside the diagram (H0 + H1; ratios of wall time in this run)")
    rng = np.random.default_rng(3)
    clouds = {
        "Gaussian 600 x 384": rng.standard_normal((600, 384)),
        "noisy circle 600 x 384": circle(600, 0.05, 384, 1),
        "flat torus 600 x 384": flat_torus(600, 0.01, 384, 2),
        "pentagon (fallback)": pentagon(),
        "sphere H2 (fallback)": sphere(),
    }
    print(f"{'cloud':26s} {'diagram s':>10s} {'universal':>10s} {'gaussian 19':>12s}")
    for name, X in clouds.items():
        maxdim = 2 if "H2" in name else 1
        rips = RipsOptions(maxdim=maxdim)
        pts = check_input(X, rips)
        t0 = time.perf_counter()
        dgm = compute_diagram(pts, "raw", rips)
        t_dgm = time.perf_counter() - t0
        t0 = time.perf_counter()
        uni = compute_significance(pts, "raw", rips, SignificanceOptions(), diagram=dgm)
        t_uni = time.perf_counter() - t0
        t0 = time.perf_counter()
        gauss = SignificanceOptions(method="gaussian", n_null=19)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compute_significance(pts, "raw", rips, gauss, diagram=dgm)
        t_gauss = time.perf_counter() - t0
        print(
            f"{name:26s} {t_dgm:10.3f} {t_uni / t_dgm:9.3f}x {t_gauss / t_dgm:11.1f}x"
            f"   ({', '.join(uni.normalisation)})",
            flush=True,
        )
    print(
        "universal: the test's time over the diagram's; gaussian 19: 19 null clouds (the "
        "default n_null = 99 costs about 5 times more)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 clouds per family, not 200")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    calibration(0.2 if args.quick else 1.0)
    ground_truth()
    cost()
    print(f"\nbench_significance: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
