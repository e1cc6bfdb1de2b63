"""Memory and time of a Vietoris-Rips computation: estimated before it runs, enforced while it runs.

Estimate
--------
:func:`estimate_cost` predicts the peak memory (and, roughly, the wall time) of what
:func:`~tda_interp.homology.compute_diagram` does for one diagram: the float64 distance matrix,
its checks, and the backend call. It interpolates measurements kept in :data:`CALIBRATION`,
taken per backend, per highest dimension (0, 1, 2) and per family of clouds, on a 2-core x86
machine (gudhi 3.13, giotto-ph 0.2.4, ripser.py 0.6.15) by ``benchmarks/bench_estimate.py
--calibrate``: each measurement runs in a fork of a fresh interpreter that holds only the
points, and records the growth of the resident set (``VmHWM``) and of the address space
(``VmPeak``) over the call; the larger of the two is what the estimate covers, since the budget
is enforced on the address space (below).

What drives the cost is not only the number of points (address-space growth, gudhi, H1, 1,000
points): 0.06-0.08 GB for Gaussian noise in 10 to 384 dimensions; 0.46 GB for a noisy circle in
the plane; 0.86-0.87 GB for a noisy circle in 64 dimensions, a flat torus in 128, and 1,000
max-min landmarks of 8,000 Gaussian points in 50 dimensions; 1.7 GB for such landmarks in 384.
At 1,500 points the torus takes 6.6 GB. Clouds where every point is far from the rest are cheap;
samples of low-dimensional shapes, and max-min landmark sets, whose points are evenly spread,
are an order of magnitude dearer, and the gap widens with ``n``. The regime is read from the
data by :func:`intrinsic_dimension`, a coarse-scale two-NN estimate.

The model, per backend and highest dimension (0, 1, 2):

1. Each calibrated family's peak (the larger of the two growths) is interpolated
   piecewise-linearly in ``(log n, log bytes)`` through its measurements (made non-decreasing
   in ``n``), and between or beyond them multiplied by 2, but never above the next measured
   value: memory grows in steps, buffers doubling when they fill (a torus of 600 points took
   3.8 times its 500-point peak where the line to 1,000 points says 1.7). Above the largest
   size the line takes the steeper of the last segment's slope, ``maxdim + 1`` (at least 2:
   the distance matrix grows as ``n**2``, the triangles of H2 as ``n**3``), and the growth of
   the same family measured further with another backend.
2. Each family starts a group at its coarse two-NN dimension rounded down by about 15%
   (:data:`FAMILIES`): the noisy circle in 64 dimensions at 5, Gaussian samples of dimension
   10, 20, 50 and 384 at 8, 13, 25 and 70; noisy circles in the plane, uniform disks and flat
   tori at 0; max-min landmark sets form a group of their own.
3. A cloud of intrinsic dimension ``d`` takes the most expensive family of the groups that
   start at or above the largest group start ``<= d``: a Gaussian-like cloud in 60 dimensions
   is estimated by the 50- and 384-dimensional families, anything below 5 by every sample
   family. A landmark set (and a cloud of unknown dimension, ``intrinsic_dim=None``) takes
   every sample family and the landmark families of at most its own ambient dimension.
   Clouds in the plane at H2 with gudhi (whose edge collapse makes them 40-fold cheaper than a
   torus in 128 dimensions) take the three planar families only.
4. At H0 and H1 a family not measured with a backend borrows the laws of the backend that
   measured it furthest (the three were measured within 2x of each other there); at H2 nothing
   is borrowed (ripser.py, which stores the triangles, takes up to 50x the memory of the other
   two).
5. The result times :data:`SAFETY_MARGIN`, and never below :data:`PIPELINE_BYTES_PER_PAIR`
   ``* n**2`` (what the float64 distance matrix and its checks take whatever the backend
   does), plus ``8 n d`` for the points.
6. Above ``maxdim = 2`` nothing was calibrated: each extra dimension multiplies the H2
   estimate by ``n / 10`` (one more vertex per simplex), an admittedly rough guess.

On its own calibration table the estimate is 1.5 to 1.6 times the measured growth for most
rows (the margin) and at most 5.6 times (the cheapest members of the structured group, whose
envelope is the torus); between calibrated sizes it is up to 3 times the line through them.
Landmark sets of dimensions between those calibrated (say 20 or 100), and sizes beyond the
table, are extrapolated: that is what the enforcement below is for. Time is estimated the same
way, without the step, the margin or any enforcement.

Enforcement
-----------
An estimate can still be wrong (data unlike any calibrated family, another machine, another
library version). :func:`run_with_memory_limit` therefore runs a computation whose estimate
exceeds :data:`ENFORCE_FRACTION` of the budget in a forked child process whose address space
may grow by at most the budget (plus :data:`HEADROOM_BYTES`): ``RLIMIT_AS`` is set to the
child's own virtual size at the fork (it shares the parent's mappings) plus that allowance. An
allocation beyond it fails inside the child (``MemoryError``, ``std::bad_alloc``, or a crash),
the parent survives and raises :class:`~tda_interp.exceptions.HomologyError`, and the result
of a computation that fits comes back through a pipe, pickled: the same bytes as computed in
the process. Linux only (elsewhere ``RLIMIT_AS`` is not enforced, or there is no fork): there
the computation runs in the process, as below the fraction.
"""

from __future__ import annotations

import bisect
import dataclasses
import faulthandler
import functools
import math
import os
import pickle
import resource
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from tda_interp.diagrams.provenance import CostEstimate
from tda_interp.exceptions import ConfigError, HomologyError
from tda_interp.options.homology import parse_memory

__all__ = [
    "CALIBRATION",
    "ENFORCE_FRACTION",
    "FAMILIES",
    "HEADROOM_BYTES",
    "NEAR_BUDGET_FRACTION",
    "PIPELINE_BYTES_PER_PAIR",
    "SAFETY_MARGIN",
    "CostEstimate",
    "Measurement",
    "estimate_cost",
    "format_bytes",
    "intrinsic_dimension",
    "largest_affordable",
    "measure_cost",
    "parse_memory",
    "run_with_memory_limit",
]

T = TypeVar("T")

#: Calibrated families of clouds: ``name -> (group start, ambient dimension, description)``.
#: The group start is the family's coarse two-NN dimension (:func:`intrinsic_dimension` of
#: 1,000 points) rounded down by about 15%, so that another sample of the family lands in its
#: own group; 0 marks the structured samples (the most expensive group of samples), -1 the
#: max-min landmark sets (used for landmark sets and clouds of unknown dimension only).
FAMILIES: dict[str, tuple[float, int, str]] = {
    "circle2": (0.0, 2, "noisy circle in R^2: unit circle, Gaussian noise of sd 0.1 (two-NN 2)"),
    "disk2": (0.0, 2, "uniform in the unit disk of R^2"),
    "gauss2-lm": (-1.0, 2, "max-min landmarks of 8n points of N(0, I_2)"),
    "circle64": (5.0, 64, "circle in a random plane of R^64, noise of norm 0.05 (two-NN 6.5)"),
    "torus128": (0.0, 128, "flat torus (cos u, sin u, cos v, sin v) in a random 4-space of R^128"),
    "gauss50-lm": (-1.0, 50, "max-min landmarks of 8n points of N(0, I_50)"),
    "gauss384-lm": (-1.0, 384, "max-min landmarks of 8n points of N(0, I_384)"),
    "gauss10": (8.0, 10, "N(0, I_10) (two-NN 9.5)"),
    "gauss20": (13.0, 20, "N(0, I_20) (two-NN 15)"),
    "gauss50": (25.0, 50, "N(0, I_50) (two-NN 30)"),
    "gauss384": (70.0, 384, "N(0, I_384) (two-NN 90)"),
}

#: ``(backend, maxdim, family, n_points, seconds, rss_bytes, address_space_bytes)``: growth of
#: the resident set and of the address space over distance matrix + backend call (see the
#: module docstring). Refit by replacing these rows with the output of
#: ``benchmarks/bench_estimate.py --calibrate``.
CALIBRATION: tuple[tuple[str, int, str, int, float, float, float], ...] = (
    ("gudhi", 0, "circle2", 1000, 0.138, 6.17e07, 5.84e07),
    ("gudhi", 0, "circle2", 3000, 1.67, 4.35e08, 5.52e08),
    ("gudhi", 0, "circle2", 6000, 11.6, 1.73e09, 2.24e09),
    ("gudhi", 0, "gauss384", 1000, 0.159, 6.14e07, 5.82e07),
    ("gudhi", 0, "gauss384", 3000, 1.76, 4.37e08, 5.43e08),
    ("gudhi", 0, "gauss384", 6000, 8.2, 1.73e09, 2.22e09),
    ("gudhi", 1, "circle2", 250, 0.0843, 8.55e06, 5.94e06),
    ("gudhi", 1, "circle2", 500, 0.291, 5.03e07, 6.35e07),
    ("gudhi", 1, "circle2", 1000, 9.23, 3.26e08, 4.61e08),
    ("gudhi", 1, "circle2", 1500, 45.4, 1.23e09, 1.78e09),
    ("gudhi", 1, "circle64", 250, 0.0636, 1.54e07, 1.56e07),
    ("gudhi", 1, "circle64", 500, 1.84, 8.06e07, 1.15e08),
    ("gudhi", 1, "circle64", 1000, 13.7, 5.95e08, 8.64e08),
    ("gudhi", 1, "circle64", 1500, 93, 2.3e09, 3.41e09),
    ("gudhi", 1, "gauss10", 500, 0.191, 1.74e07, 1.37e07),
    ("gudhi", 1, "gauss10", 1000, 0.896, 7.89e07, 8.37e07),
    ("gudhi", 1, "gauss10", 1500, 2.57, 1.58e08, 1.83e08),
    ("gudhi", 1, "gauss20", 500, 0.175, 1.7e07, 1.35e07),
    ("gudhi", 1, "gauss20", 1000, 0.394, 6.19e07, 5.87e07),
    ("gudhi", 1, "gauss20", 1500, 1.19, 1.43e08, 1.56e08),
    ("gudhi", 1, "gauss384", 250, 0.0742, 7e06, 2.88e06),
    ("gudhi", 1, "gauss384", 500, 0.123, 2.1e07, 1.94e07),
    ("gudhi", 1, "gauss384", 1000, 0.559, 6.79e07, 6.64e07),
    ("gudhi", 1, "gauss384", 1500, 3.41, 1.56e08, 1.73e08),
    ("gudhi", 1, "gauss384", 2000, 5.76, 2.98e08, 3.39e08),
    ("gudhi", 1, "gauss384", 2500, 4.26, 3.62e08, 4.34e08),
    ("gudhi", 1, "gauss384", 3000, 8.55, 5.27e08, 6.45e08),
    ("gudhi", 1, "gauss384-lm", 500, 2.31, 1.68e08, 2.31e08),
    ("gudhi", 1, "gauss384-lm", 1000, 27.4, 1.17e09, 1.7e09),
    ("gudhi", 1, "gauss50", 250, 0.02, 6.35e06, 2.36e06),
    ("gudhi", 1, "gauss50", 500, 0.0797, 1.66e07, 1.31e07),
    ("gudhi", 1, "gauss50", 1000, 0.412, 6.06e07, 5.76e07),
    ("gudhi", 1, "gauss50", 1500, 3.54, 1.36e08, 1.55e08),
    ("gudhi", 1, "gauss50", 2000, 4.86, 2.53e08, 2.71e08),
    ("gudhi", 1, "gauss50", 2500, 10.1, 3.74e08, 4.53e08),
    ("gudhi", 1, "gauss50", 3000, 9.17, 5.12e08, 5.98e08),
    ("gudhi", 1, "gauss50-lm", 500, 3.7, 7.18e07, 1.06e08),
    ("gudhi", 1, "gauss50-lm", 1000, 23.3, 6.06e08, 8.71e08),
    ("gudhi", 1, "gauss50-lm", 1500, 38.2, 1.24e09, 1.78e09),
    ("gudhi", 1, "torus128", 250, 0.0563, 1.57e07, 1.58e07),
    ("gudhi", 1, "torus128", 500, 0.925, 8.09e07, 1.15e08),
    ("gudhi", 1, "torus128", 1000, 11.9, 5.97e08, 8.66e08),
    ("gudhi", 1, "torus128", 1500, 93.9, 4.45e09, 6.63e09),
    ("gudhi", 2, "circle2", 100, 0.00975, 4.62e06, 0),
    ("gudhi", 2, "circle2", 150, 0.0161, 4.8e06, 1.97e05),
    ("gudhi", 2, "circle2", 200, 0.032, 5.41e06, 7.99e05),
    ("gudhi", 2, "circle2", 300, 0.138, 7.71e06, 3.27e06),
    ("gudhi", 2, "circle2", 400, 0.232, 1.04e07, 6.45e06),
    ("gudhi", 2, "circle2", 600, 0.653, 2.26e07, 1.91e07),
    ("gudhi", 2, "circle2", 800, 1.4, 3.76e07, 3.59e07),
    ("gudhi", 2, "circle64", 100, 0.0405, 5.04e06, 6.27e05),
    ("gudhi", 2, "circle64", 150, 0.101, 7.37e06, 4.04e06),
    ("gudhi", 2, "circle64", 200, 0.169, 1.02e07, 7.71e06),
    ("gudhi", 2, "circle64", 300, 0.485, 1.03e07, 6.91e06),
    ("gudhi", 2, "circle64", 400, 1.01, 2.66e07, 3.14e07),
    ("gudhi", 2, "circle64", 600, 3.36, 7.93e07, 1.14e08),
    ("gudhi", 2, "circle64", 800, 5.64, 9.06e07, 1.27e08),
    ("gudhi", 2, "disk2", 100, 0.00725, 4.69e06, 0),
    ("gudhi", 2, "disk2", 200, 0.0204, 5.36e06, 7.5e05),
    ("gudhi", 2, "disk2", 400, 0.151, 8.72e06, 5.06e06),
    ("gudhi", 2, "disk2", 800, 1.49, 2.83e07, 2.43e07),
    ("gudhi", 2, "gauss10", 200, 0.148, 5.7e06, 1.22e06),
    ("gudhi", 2, "gauss10", 400, 0.925, 1.35e07, 1.06e07),
    ("gudhi", 2, "gauss2-lm", 100, 0.0162, 4.35e06, 0),
    ("gudhi", 2, "gauss2-lm", 200, 0.0276, 5.54e06, 1.41e06),
    ("gudhi", 2, "gauss2-lm", 400, 0.177, 4.55e06, 0),
    ("gudhi", 2, "gauss2-lm", 800, 1.5, 3.71e07, 3.22e07),
    ("gudhi", 2, "gauss20", 200, 0.0741, 6.16e06, 1.52e06),
    ("gudhi", 2, "gauss20", 400, 0.767, 1.29e07, 9.77e06),
    ("gudhi", 2, "gauss384", 100, 0.0382, 4.73e06, 0),
    ("gudhi", 2, "gauss384", 150, 0.138, 5.34e06, 7.37e05),
    ("gudhi", 2, "gauss384", 200, 0.235, 7.9e06, 3.5e06),
    ("gudhi", 2, "gauss384", 300, 1.68, 1.06e07, 6.82e06),
    ("gudhi", 2, "gauss384", 400, 2.63, 2.94e07, 2.63e07),
    ("gudhi", 2, "gauss384", 600, 5.34, 3.66e07, 3.67e07),
    ("gudhi", 2, "gauss384", 800, 14.5, 6.68e07, 7.46e07),
    ("gudhi", 2, "gauss50", 100, 0.0132, 4.59e06, 0),
    ("gudhi", 2, "gauss50", 150, 0.0692, 5.08e06, 5.9e05),
    ("gudhi", 2, "gauss50", 200, 0.157, 6.16e06, 1.77e06),
    ("gudhi", 2, "gauss50", 300, 0.414, 8.83e06, 5.01e06),
    ("gudhi", 2, "gauss50", 400, 1.15, 1.33e07, 1.01e07),
    ("gudhi", 2, "gauss50", 600, 3.06, 3.17e07, 3.32e07),
    ("gudhi", 2, "gauss50", 800, 8.12, 4.55e07, 4.59e07),
    ("gudhi", 2, "gauss50-lm", 100, 0.055, 4.35e06, 0),
    ("gudhi", 2, "gauss50-lm", 200, 2.34, 5.46e07, 6.75e07),
    ("gudhi", 2, "gauss50-lm", 300, 11.1, 1.74e08, 2.37e08),
    ("gudhi", 2, "gauss50-lm", 400, 10.5, 1.61e08, 2.23e08),
    ("gudhi", 2, "gauss50-lm", 600, 32, 6.09e08, 8.73e08),
    ("gudhi", 2, "torus128", 100, 0.0524, 5.03e06, 6.23e05),
    ("gudhi", 2, "torus128", 150, 0.16, 1.06e07, 8.18e06),
    ("gudhi", 2, "torus128", 200, 0.484, 2.45e07, 2.86e07),
    ("gudhi", 2, "torus128", 300, 1.35, 4.71e07, 5.97e07),
    ("gudhi", 2, "torus128", 400, 3.81, 1.51e08, 2.2e08),
    ("gudhi", 2, "torus128", 600, 20.8, 3.1e08, 4.47e08),
    ("gudhi", 2, "torus128", 800, 41.3, 1.15e09, 1.69e09),
    ("giotto-ph", 0, "circle2", 1000, 0.14, 3.49e07, 3.1e07),
    ("giotto-ph", 0, "circle2", 3000, 0.976, 2.56e08, 2.9e08),
    ("giotto-ph", 1, "circle64", 250, 0.12, 1.55e07, 1.45e07),
    ("giotto-ph", 1, "circle64", 500, 0.816, 8.02e07, 1.08e08),
    ("giotto-ph", 1, "circle64", 1000, 9.99, 5.81e08, 8.37e08),
    ("giotto-ph", 1, "gauss50", 250, 0.0354, 7.14e06, 2.02e06),
    ("giotto-ph", 1, "gauss50", 500, 0.0653, 1.28e07, 7.08e06),
    ("giotto-ph", 1, "gauss50", 1000, 0.343, 3.91e07, 3.11e07),
    ("giotto-ph", 1, "gauss50", 2000, 2.19, 1.82e08, 1.59e08),
    ("giotto-ph", 1, "gauss50-lm", 500, 1.39, 1.06e08, 1.01e08),
    ("giotto-ph", 1, "gauss50-lm", 1000, 42.4, 6.07e08, 8.35e08),
    ("giotto-ph", 1, "torus128", 250, 0.103, 1.95e07, 1.02e07),
    ("giotto-ph", 1, "torus128", 500, 0.627, 1.13e08, 1.08e08),
    ("giotto-ph", 1, "torus128", 1000, 8.49, 6.08e08, 8.37e08),
    ("giotto-ph", 2, "gauss50", 100, 0.0165, 4.87e06, 0),
    ("giotto-ph", 2, "gauss50", 200, 0.08, 5.98e06, 1.13e06),
    ("giotto-ph", 2, "gauss50", 300, 0.554, 1.14e07, 5.53e06),
    ("giotto-ph", 2, "gauss50", 400, 1.14, 1.36e07, 5.65e06),
    ("giotto-ph", 2, "torus128", 100, 0.0263, 5.81e06, 0),
    ("giotto-ph", 2, "torus128", 200, 0.408, 1.45e07, 5.66e06),
    ("giotto-ph", 2, "torus128", 300, 1.41, 3.49e07, 2.05e07),
    ("giotto-ph", 2, "torus128", 400, 4.11, 1.12e08, 1.06e08),
    ("ripser", 0, "circle2", 1000, 0.171, 7.03e07, 6.83e07),
    ("ripser", 0, "circle2", 3000, 2.22, 5.51e08, 6.46e08),
    ("ripser", 1, "circle64", 250, 0.146, 1.74e07, 1.76e07),
    ("ripser", 1, "circle64", 500, 1.6, 9.26e07, 1.23e08),
    ("ripser", 1, "circle64", 1000, 20.8, 6.32e08, 8.97e08),
    ("ripser", 1, "gauss50", 250, 0.0315, 7.44e06, 3.71e06),
    ("ripser", 1, "gauss50", 500, 0.144, 2.24e07, 1.98e07),
    ("ripser", 1, "gauss50", 1000, 0.798, 8.98e07, 8.83e07),
    ("ripser", 1, "gauss50", 2000, 3.91, 3.88e08, 4.07e08),
    ("ripser", 1, "gauss50-lm", 500, 2.07, 1e08, 1.3e08),
    ("ripser", 1, "gauss50-lm", 1000, 35.8, 6.52e08, 9.18e08),
    ("ripser", 1, "torus128", 250, 0.151, 2.11e07, 2.07e07),
    ("ripser", 1, "torus128", 500, 1, 1.24e08, 1.54e08),
    ("ripser", 1, "torus128", 1000, 11.7, 6.58e08, 9.23e08),
    ("ripser", 2, "gauss50", 100, 0.051, 9.46e06, 6.53e06),
    ("ripser", 2, "gauss50", 200, 0.498, 6.22e07, 6.86e07),
    ("ripser", 2, "gauss50", 300, 2.52, 2.19e08, 2.76e08),
    ("ripser", 2, "gauss50", 400, 5.78, 4.32e08, 5.18e08),
    ("ripser", 2, "torus128", 100, 0.0982, 1.55e07, 1.65e07),
    ("ripser", 2, "torus128", 200, 1.02, 1.05e08, 1.37e08),
    ("ripser", 2, "torus128", 300, 4.16, 3.86e08, 5.5e08),
    ("ripser", 2, "torus128", 400, 10.3, 7.95e08, 1.1e09),
)

#: The estimate is the calibrated envelope times this: it covers the scatter between runs,
#: allocators and library versions (the measurements themselves are reproducible to a few %).
SAFETY_MARGIN = 1.5

#: Bytes per squared point that the float64 distance matrix and its checks take: the matrix
#: (8), the condensed form it is built from (4), and the symmetry check's temporaries (16).
PIPELINE_BYTES_PER_PAIR = 28

#: Estimates above this fraction of ``memory_budget`` run in a child process limited to the
#: budget (:func:`run_with_memory_limit`); below, in the process, without a fork. An estimate
#: would have to be 4 times too low for a computation below it to break the budget.
ENFORCE_FRACTION = 0.25

#: Estimates above this fraction of ``memory_budget`` warn before the computation starts
#: (``TdaInterpWarning``, kind ``"near-memory-budget"``).
NEAR_BUDGET_FRACTION = 0.5

#: Address space the child may take beyond the budget: the interpreter's own allocations, a
#: thread's stack and malloc arena for giotto-ph; not counted in the estimates.
HEADROOM_BYTES = 64 * 2**20

# the smallest slope (log bytes / log n) used to extrapolate above the largest measured size,
# per highest dimension: the distance matrix grows as n**2, the triangles of H2 as n**3
_MIN_UPPER_SLOPE = {0: 2.0, 1: 2.0, 2: 3.0}
# memory grows in steps of up to this factor between two sizes (buffers double when full)
_MEMORY_STEP = 2.0
# up to this highest dimension a family not measured with a backend borrows another's laws
# (H0 and H1 of the three backends were measured within 2x of each other; at H2 ripser.py
# takes up to 50x the memory of gudhi and giotto-ph, which do not store the triangles)
_BORROW_MAXDIM = 1
# planar clouds get the planar families' envelope where at least this many were calibrated
_MIN_PLANAR_FAMILIES = 3
# extra dimensions beyond H2 multiply the H2 estimate by (n / this)
_EXTRA_DIM_FACTOR_DIVISOR = 10.0
# two-NN: points per sample and number of samples (coarse scale, see intrinsic_dimension)
_TWO_NN_SAMPLE = 128
_TWO_NN_SAMPLES = 4


def format_bytes(n: float) -> str:
    """A memory size for messages, in decimal units.

    Examples
    --------
    >>> format_bytes(4.2e9), format_bytes(512)
    ('4.2 GB', '512 B')
    """
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


# --------------------------------------------------------------------------- regime


def intrinsic_dimension(X: ArrayLike, *, metric: str = "euclidean", seed: int = 0) -> float:
    """Coarse-scale intrinsic dimension of a cloud: the two-NN estimate on small samples.

    The two-NN maximum-likelihood estimate (Facco, d'Errico, Rodriguez & Laio 2017, Sci. Rep.
    7, 12140): with ``r1_i``, ``r2_i`` the distances from point ``i`` to its nearest and second
    nearest neighbour, ``mu_i = r2_i / r1_i`` is Pareto-distributed with exponent ``d`` on a
    ``d``-dimensional manifold, whence::

        d = N / sum_i log(mu_i)

    over the ``N`` points with ``r1_i > 0`` (duplicates are left out). It is computed on up to
    4 disjoint seeded samples of 128 points, pooled (``N`` and the sum add up). Small samples
    see the cloud at a coarse scale, the scale at which the Vietoris-Rips filtration does most
    of its work: a circle in 64 dimensions with noise of 5% of its radius reads 6.5 there, and
    20 on 2,000 points, where the noise dominates the nearest neighbours. Measured on 2,000
    points: noisy circle in R^2 2, flat torus 2, N(0, I_d) 9.5 (d = 10), 15 (20), 30 (50),
    90 (384): high-dimensional noise reads low, which only makes its estimate conservative.
    Cost: four 128 x 128 distance matrices.

    Parameters
    ----------
    X : array-like of shape (n_points, n_features), or (n_points, n_points) if precomputed
    metric : str, default "euclidean"
        A metric of :func:`~tda_interp.homology.distance_matrix`, or ``"precomputed"``.
    seed : int, default 0
        Seeds the samples.

    Returns
    -------
    float
        ``inf`` when every point's two nearest neighbours are equally far (a lattice); 0.0
        when fewer than 3 points are distinct.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(0, 2 * np.pi, 500)
    >>> round(intrinsic_dimension(np.c_[np.cos(t), np.sin(t)]), 1)
    1.0
    >>> intrinsic_dimension(rng.normal(size=(500, 50))) > 20
    True
    """
    from tda_interp.homology.distances import distance_matrix

    M = np.asarray(X, dtype=np.float64)
    n = len(M)
    if n < 3:
        return 0.0
    rng = np.random.default_rng(seed)
    order = rng.permutation(n) if n > _TWO_NN_SAMPLE else np.arange(n)
    n_samples = max(1, min(_TWO_NN_SAMPLES, n // _TWO_NN_SAMPLE))
    count, total = 0, 0.0
    for k in range(n_samples):
        idx = np.sort(order[k * _TWO_NN_SAMPLE : (k + 1) * _TWO_NN_SAMPLE])
        if metric == "precomputed":
            D = M[np.ix_(idx, idx)].copy()
        else:
            D = distance_matrix(M[idx], metric=metric)  # type: ignore[arg-type]
        np.fill_diagonal(D, np.inf)
        r = np.partition(D, 1, axis=1)[:, :2]
        r1, r2 = r.min(axis=1), r.max(axis=1)
        ok = (r1 > 0) & np.isfinite(r2)
        count += int(ok.sum())
        total += float(np.log(r2[ok] / r1[ok]).sum())
    if count < 3:
        return 0.0
    return math.inf if total == 0.0 else count / total


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class _Law:
    """One family's measured ``(log n, log y)`` points, non-decreasing in ``n``.

    Between and beyond the measured sizes the value is the line through them (in log-log),
    times ``step``, but never above the next measured value (below the smallest size, never
    above its value): memory grows in steps, buffers doubling when they fill, so a size just
    past a step can take up to twice what the line says (measured: a torus of 600 points took
    3.8 times its 500-point peak, where the line to 1,000 points says 1.7). Above the largest
    size the line follows the steeper of the last segment, ``min_upper_slope`` and the growth
    of ``tail`` (the same family measured further with another backend). Plain floats: it is
    evaluated a few dozen times per diagram.
    """

    logn: tuple[float, ...]
    logy: tuple[float, ...]
    step: float = 1.0
    tail: _Law | None = None

    def __call__(self, n: float, *, min_upper_slope: float, stepped: bool = True) -> float:
        x = math.log(max(n, 1.0))
        step = math.log(self.step) if stepped else 0.0
        logn, logy = self.logn, self.logy
        i = bisect.bisect_left(logn, x - 1e-12)
        if i < len(logn) and abs(logn[i] - x) <= 1e-12:  # a measured size
            return math.exp(logy[i])
        if len(logn) == 1:
            line = logy[0] + min_upper_slope * (x - logn[0])
        elif i == 0:  # below the smallest size: never above its value
            slope = (logy[1] - logy[0]) / (logn[1] - logn[0])
            return math.exp(min(logy[0] + slope * (x - logn[0]) + step, logy[0]))
        elif i == len(logn):  # above the largest
            slope = max((logy[-1] - logy[-2]) / (logn[-1] - logn[-2]), min_upper_slope)
            line = logy[-1] + slope * (x - logn[-1])
            if self.tail is not None and self.tail.logn[-1] > logn[-1]:
                last = math.exp(logn[-1])
                growth = math.log(
                    self.tail(n, min_upper_slope=min_upper_slope, stepped=False)
                ) - math.log(self.tail(last, min_upper_slope=min_upper_slope, stepped=False))
                line = max(line, logy[-1] + growth)
        else:  # between two measured sizes: never above the next one's value
            t = (x - logn[i - 1]) / (logn[i] - logn[i - 1])
            line = logy[i - 1] + t * (logy[i] - logy[i - 1])
            return math.exp(min(line + step, logy[i]))
        return math.exp(line + step)


def _build_law(rows: list[tuple[int, float]], floor: float, step: float = 1.0) -> _Law:
    rows = sorted(rows)
    n = np.array([r[0] for r in rows], dtype=np.float64)
    y = np.maximum.accumulate(np.maximum([r[1] for r in rows], floor))  # non-decreasing in n
    return _Law(tuple(np.log(n).tolist()), tuple(np.log(y).tolist()), step=step)


_LAWS: dict[tuple[str, int], dict[str, tuple[_Law, _Law]]] = {}


def _laws(backend: str, maxdim: int) -> dict[str, tuple[_Law, _Law]]:
    """``family -> (bytes law, seconds law)`` for one backend and highest dimension."""
    if (backend, maxdim) not in _LAWS:
        rows: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
        for b, k, family, n, seconds, rss, vm in CALIBRATION:
            if k == maxdim:
                rows.setdefault((b, family), []).append((n, max(rss, vm), seconds))
        raw = {
            key: (
                _build_law([(n, peak) for n, peak, _ in r], floor=1.0, step=_MEMORY_STEP),
                _build_law([(n, sec) for n, _, sec in r], floor=1e-6),
            )
            for key, r in rows.items()
        }
        backends = sorted({b for b, _ in raw})
        for b in backends:
            _LAWS[(b, maxdim)] = {}
        for family in sorted({f for _, f in raw}):
            measured = {b: raw[(b, f)] for b, f in raw if f == family}
            # the backend that measured the family to the largest size
            far = max(measured, key=lambda b: (measured[b][0].logn[-1], b))
            for b in backends:
                if b in measured:
                    mem, sec = measured[b]
                    if b != far:  # lends its growth above this backend's largest size
                        mem = dataclasses.replace(mem, tail=measured[far][0])
                        sec = dataclasses.replace(sec, tail=measured[far][1])
                elif maxdim <= _BORROW_MAXDIM:  # not measured with b: the farthest one's laws
                    mem, sec = measured[far]
                else:
                    continue
                _LAWS[(b, maxdim)][family] = (mem, sec)
    return _LAWS.get((backend, maxdim), {})


@functools.cache
def _backends() -> tuple[str, ...]:
    return tuple(sorted({row[0] for row in CALIBRATION}))


def _families_for(
    laws: dict[str, Any], intrinsic_dim: float | None, n_features: int | None
) -> list[str]:
    """The families whose envelope estimates a cloud (see the module docstring)."""
    names = list(laws)
    planar = [f for f in names if FAMILIES[f][1] <= 2]
    if n_features is not None and n_features <= 2 and len(planar) >= _MIN_PLANAR_FAMILIES:
        return planar  # gudhi's edge collapse: H2 of planar clouds is far cheaper
    samples = [f for f in names if FAMILIES[f][0] >= 0]
    if intrinsic_dim is None or math.isnan(intrinsic_dim):  # a landmark set, or unknown
        ambient = math.inf if n_features is None else n_features
        return samples + [f for f in names if FAMILIES[f][0] < 0 and FAMILIES[f][1] <= ambient]
    starts = sorted({FAMILIES[f][0] for f in samples})
    start = max([s for s in starts if s <= intrinsic_dim], default=starts[0])
    return [f for f in samples if FAMILIES[f][0] >= start]


def _envelope(
    backend: str, maxdim: int, n: int, intrinsic_dim: float | None, n_features: int | None
) -> tuple[float, float, str]:
    """Largest calibrated ``(bytes, seconds)`` at ``n`` over the families that apply."""
    laws = _laws(backend, maxdim)
    best = (0.0, 0.0, "")
    for family in _families_for(laws, intrinsic_dim, n_features):
        mem_law, sec_law = laws[family]
        peak = mem_law(n, min_upper_slope=_MIN_UPPER_SLOPE[maxdim])
        if peak > best[0]:
            best = (peak, best[1], family)
        best = (
            best[0],
            max(best[1], sec_law(n, min_upper_slope=_MIN_UPPER_SLOPE[maxdim])),
            best[2],
        )
    return best


def estimate_cost(
    n_points: int,
    *,
    maxdim: int = 1,
    n_features: int | None = None,
    backend: str = "ripser",
    intrinsic_dim: float | None = None,
) -> CostEstimate:
    """Estimate the peak memory and time of a Vietoris-Rips diagram before computing it.

    Interpolates the measurements of :data:`CALIBRATION` (see the module docstring for the
    model): the most expensive calibrated family of clouds in the cloud's regime, times
    :data:`SAFETY_MARGIN`, and never less than the distance matrix and its checks
    (:data:`PIPELINE_BYTES_PER_PAIR` ``* n**2``) plus ``8 n d`` for the points.

    Parameters
    ----------
    n_points : int
        Points that go into the filtration.
    maxdim : int, default 1
        Highest homology dimension.
    n_features : int, optional
        Dimension of the points; adds the distance computation's time and the points' memory.
    backend : str, default "ripser"
        "gudhi", "giotto-ph" or "ripser"; any other name (``"auto"``) is estimated as the
        most expensive of the three at this size.
    intrinsic_dim : float, optional
        The cloud's :func:`intrinsic_dimension`. ``None`` (unknown; also what max-min landmark
        sets are estimated with) takes the most expensive regime.

    Returns
    -------
    CostEstimate
        ``memory_bytes`` is the estimated growth of the process's memory (resident set and
        address space) over the computation.

    Examples
    --------
    >>> est = estimate_cost(4000, maxdim=1)
    >>> est.memory_bytes > 8 * 4000**2
    True
    >>> estimate_cost(100).seconds < 1
    True
    >>> noise = estimate_cost(2000, backend="gudhi", intrinsic_dim=90.0).memory_bytes
    >>> torus = estimate_cost(2000, backend="gudhi", intrinsic_dim=2.0).memory_bytes
    >>> noise < torus / 10
    True
    """
    n = int(n_points)
    if n < 0:
        raise ConfigError(f"Expected n_points >= 0, got {n_points}.")
    if maxdim < 0:
        raise ConfigError(f"Expected maxdim >= 0, got {maxdim}.")
    d = 0 if n_features is None else int(n_features)
    base = min(maxdim, 2)  # calibrated up to H2; above, see the module docstring
    calibrated = [b for b in _backends() if _laws(b, base)]
    # an uncalibrated backend (or "auto") is estimated as the costliest calibrated one
    names = [backend] if backend in calibrated else calibrated
    parts = {name: _envelope(name, base, n, intrinsic_dim, n_features) for name in names}
    name = max(parts, key=lambda b: parts[b][0])
    backend_bytes, backend_seconds, family = parts[name]
    extra = maxdim - base
    if extra > 0:
        factor = max(1.0, n / _EXTRA_DIM_FACTOR_DIVISOR) ** extra
        backend_bytes *= factor
        backend_seconds *= factor
    matrix_bytes = PIPELINE_BYTES_PER_PAIR * n * n
    distance_seconds = 1.5e-9 * n * n * max(d, 1) / 2
    memory = int(max(matrix_bytes, SAFETY_MARGIN * backend_bytes) + 8 * n * d)
    regime = "unknown or landmarks" if intrinsic_dim is None else f"{intrinsic_dim:.3g}"
    return CostEstimate(
        memory_bytes=memory,
        seconds=float(distance_seconds + backend_seconds),
        detail={
            "n_points": n,
            "n_features": n_features,
            "maxdim": int(maxdim),
            "backend": backend,
            "estimated_as": name,
            "intrinsic_dim": None if intrinsic_dim is None else float(intrinsic_dim),
            "distance_matrix_bytes": int(matrix_bytes),
            "backend_bytes": int(SAFETY_MARGIN * backend_bytes),
            "model": f"H{base} envelope of calibrated families, here {family!r} "
            f"(intrinsic dimension {regime}), times {SAFETY_MARGIN:g}"
            + (f", times (n/10)^{extra} for maxdim {maxdim}" if extra > 0 else ""),
            "calibrated_on": "circles, tori, Gaussian noise in 10-384 dimensions, max-min "
            "landmark sets; 2-core x86",
        },
    )


def largest_affordable(
    budget_bytes: int,
    *,
    maxdim: int = 1,
    n_features: int | None = None,
    backend: str = "ripser",
    upper: int | None = None,
    intrinsic_dim: float | None = None,
) -> int:
    """Largest number of points whose :func:`estimate_cost` fits in ``budget_bytes``.

    Parameters
    ----------
    budget_bytes : int
    maxdim, n_features, backend, intrinsic_dim
        As in :func:`estimate_cost`.
    upper : int, optional
        Never return more than this (the size of the cloud).

    Returns
    -------
    int
        0 when not even 2 points fit.

    Examples
    --------
    >>> m = largest_affordable(parse_memory("1GB"))
    >>> estimate_cost(m).memory_bytes <= 10**9 < estimate_cost(m + 1).memory_bytes
    True
    """
    kwargs: dict[str, Any] = {
        "maxdim": maxdim,
        "n_features": n_features,
        "backend": backend,
        "intrinsic_dim": intrinsic_dim,
    }
    lo, hi = 1, 2
    cap = upper if upper is not None else 10**9
    while hi <= cap and estimate_cost(hi, **kwargs).memory_bytes <= budget_bytes:
        lo, hi = hi, hi * 2
    hi = min(hi, cap + 1)
    while hi - lo > 1:  # invariant: lo fits (or is 1), hi does not (or exceeds the cap)
        mid = (lo + hi) // 2
        if estimate_cost(mid, **kwargs).memory_bytes <= budget_bytes:
            lo = mid
        else:
            hi = mid
    return lo if lo >= 2 and estimate_cost(lo, **kwargs).memory_bytes <= budget_bytes else 0


# --------------------------------------------------------------------------- child processes


@dataclass(frozen=True)
class Measurement:
    """What a computation took in a child process (:func:`measure_cost`).

    Attributes
    ----------
    seconds : float
        Wall time of the call.
    rss_bytes : int
        Growth of the resident set over the call (``VmHWM`` minus ``VmRSS`` at its start).
    address_space_bytes : int
        Growth of the address space (``VmPeak`` minus ``VmSize`` at its start).
    """

    seconds: float
    rss_bytes: int
    address_space_bytes: int

    @property
    def peak_bytes(self) -> int:
        """The larger of the two growths: what :func:`estimate_cost` estimates."""
        return max(self.rss_bytes, self.address_space_bytes)


def _enforceable() -> bool:
    """Whether a child with an enforced address-space limit can be forked here."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _proc_status() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmSize", "VmPeak"):
                out[key] = int(value.split()[0]) * 1024
    return out


@dataclass(frozen=True)
class _Outcome:
    """What came back from a child: a result, an exception, or nothing (a crash)."""

    value: Any = None
    error: BaseException | None = None
    warnings: tuple[Any, ...] = ()
    measurement: Measurement | None = None
    out_of_memory: str | None = None  # why, when the child ran out of its allowance


def _is_memory_error(err: BaseException) -> bool:
    """A MemoryError, a bad_alloc, or an error caused by one (the backends re-raise)."""
    seen: BaseException | None = err
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, MemoryError) or "bad_alloc" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this child when its parent dies (a fork clears the setting)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not Linux, or no libc symbol
        return
    if os.getppid() != parent:  # pragma: no cover - the parent died before the line above
        os._exit(1)


def _child_main(
    func: Callable[[], Any], parent: int, write_fd: int, allowance: int | None, measure: bool
) -> int:
    """Body of the forked child; returns its exit status (never raises)."""
    payload: Any
    try:
        # a backend that cannot allocate may abort or crash: the parent reports it, no dump
        faulthandler.disable()
        _die_with_parent(parent)
        limits = resource.getrlimit(resource.RLIMIT_AS)
        if allowance is not None:
            limit = _proc_status()["VmSize"] + allowance
            hard = limits[1]
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        start = _proc_status() if measure else {}
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value, error = func(), None
            except BaseException as err:  # sent to the parent, re-raised there
                value, error = None, err
        seconds = time.perf_counter() - t0
        end = _proc_status() if measure else {}
        resource.setrlimit(resource.RLIMIT_AS, limits)  # room to send the result back
        measurement = None
        if measure:
            measurement = Measurement(
                seconds=seconds,
                rss_bytes=end["VmHWM"] - start["VmRSS"],
                address_space_bytes=end["VmPeak"] - start["VmSize"],
            )
        oom = None
        if error is not None and allowance is not None and _is_memory_error(error):
            oom, error = f"{type(error).__name__}: {error}", None
        try:
            payload = pickle.dumps(
                _Outcome(
                    value=value,
                    error=error,
                    warnings=tuple((w.message, w.category) for w in caught),
                    measurement=measurement,
                    out_of_memory=oom,
                ),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        except Exception as err:  # an unpicklable result or exception
            payload = pickle.dumps(
                _Outcome(error=HomologyError(f"The child process could not send its result: {err}"))
            )
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
        return 0
    except MemoryError:
        return 3
    except BaseException:
        return 4


def _in_child(func: Callable[[], T], *, allowance: int | None, measure: bool) -> _Outcome:
    """Run ``func()`` in a forked child; what it returned, raised, or how it died."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() in a multi-threaded process: the child runs only
        # numpy and the backends, with the backend module imported by the parent beforehand
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        status = 4
        try:
            os.close(read_fd)
            status = _child_main(func, parent, write_fd, allowance, measure)
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks = []
    try:
        while chunk := os.read(read_fd, 1 << 20):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
    except BaseException:  # KeyboardInterrupt: take the child down too
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    finally:
        os.close(read_fd)
    data = b"".join(chunks)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and data:
        outcome: _Outcome = pickle.loads(data)
        return outcome
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        likely = "" if sig == signal.SIGKILL else ": a failed allocation, most likely"
        return _Outcome(out_of_memory=f"the child process was killed by {name}{likely}")
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    why = "ran out of memory" if code == 3 else f"exited with status {code}"
    return _Outcome(out_of_memory=f"the child process {why}")


def _reraise(outcome: _Outcome) -> Any:
    for message, category in outcome.warnings:
        warnings.warn(message, category, stacklevel=4)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def run_with_memory_limit(
    func: Callable[[], T],
    budget_bytes: int,
    *,
    describe: str = "The computation",
    advice: str = "raise memory_budget",
) -> T:
    """Call ``func()`` in a forked child whose memory may grow by at most ``budget_bytes``.

    The child's ``RLIMIT_AS`` is its virtual size at the fork (the parent's mappings, shared
    copy-on-write) plus ``budget_bytes`` plus :data:`HEADROOM_BYTES`. Its return value comes
    back pickled through a pipe (arrays bit for bit), its exceptions are re-raised here and
    its warnings re-emitted. Works inside worker processes too (a plain ``os.fork``, no
    multiprocessing). Where no such child can be made (not Linux), ``func()`` runs here.

    Parameters
    ----------
    func : callable
        Takes no argument; need not be picklable (it is forked, not sent), its result must be.
    budget_bytes : int
    describe : str, default "The computation"
        Starts the error message.
    advice : str, default "raise memory_budget"
        Ends it: what to do instead.

    Returns
    -------
    object
        What ``func()`` returned.

    Raises
    ------
    HomologyError
        The child ran out of its allowance: a ``MemoryError`` or ``std::bad_alloc`` in it, or
        it died (killed by a signal, e.g. by the kernel's OOM killer, or aborted).

    Examples
    --------
    >>> run_with_memory_limit(lambda: np.arange(3.0), 10**8).tolist()
    [0.0, 1.0, 2.0]
    >>> run_with_memory_limit(lambda: np.ones(10**9), 10**8)
    Traceback (most recent call last):
    ...
    tda_interp.exceptions.HomologyError: The computation exceeded the memory budget of 100 MB ...
    """
    if not _enforceable():
        return func()
    outcome = _in_child(func, allowance=int(budget_bytes) + HEADROOM_BYTES, measure=False)
    if outcome.out_of_memory is not None:
        raise HomologyError(
            f"{describe} exceeded the memory budget of {format_bytes(budget_bytes)} "
            f"({outcome.out_of_memory}); it ran in a child process limited to the budget, so "
            f"nothing else was affected. {advice}"
        )
    result: T = _reraise(outcome)
    return result


def measure_cost(func: Callable[[], T]) -> tuple[T, Measurement]:
    """Call ``func()`` in a forked child and measure its wall time and memory growth.

    A fork starts with its high-water marks at the current values, so the growth measured is
    the call's own (C and C++ allocations included, which ``tracemalloc`` misses). Memory the
    parent freed but kept in its heap can be reused by the child without growth: measure from
    a fresh interpreter for calibration (``benchmarks/bench_estimate.py --calibrate`` does).
    Linux only.

    Parameters
    ----------
    func : callable
        Takes no argument; its result must be picklable.

    Returns
    -------
    value : object
        What ``func()`` returned.
    measurement : Measurement

    Raises
    ------
    HomologyError
        Not on Linux, or the child died.

    Examples
    --------
    >>> _, m = measure_cost(lambda: float(np.ones(10**7).sum()))
    >>> m.peak_bytes >= 8 * 10**7
    True
    """
    if not _enforceable():
        raise HomologyError("measure_cost needs Linux (fork and /proc/self/status).")
    outcome = _in_child(func, allowance=None, measure=True)
    if outcome.out_of_memory is not None:
        raise HomologyError(f"The measured computation failed: {outcome.out_of_memory}.")
    value: T = _reraise(outcome)
    if outcome.measurement is None:  # pragma: no cover - every child that returns sets it
        raise HomologyError("The measured computation sent no measurement back.")
    return value, outcome.measurement
