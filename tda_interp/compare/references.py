"""What makes a distance between diagrams mean something: references from the same data.

A distance of 0.03 between two layers is a finding only if diagrams of *one* layer, computed
from other samples of the same probe set, are further apart than that less often than not.

Replicate noise (:func:`replicate_distances`)
    The points of one cloud are split at random into two disjoint halves, each half goes
    through the same view and homology options as the run, and the distance between the two
    diagrams is one replicate; ``n_replicates`` splits give its spread. When a run subsampled
    its clouds (``approximation = "subsample:N"``) and the cloud has at least ``2 N`` points,
    both halves are subsampled to ``N`` points too: the reference is measured at the size of the
    run's diagrams. Smaller clouds give halves of ``n / 2`` points, whose diagrams vary more
    than full ones: the reference then errs on the large (cautious) side.

Two groups of diagrams (:func:`permutation_test`)
    Robinson and Turner, "Hypothesis testing for topological data analysis", Journal of Applied
    and Computational Topology 1 (2017): with the distances of all diagrams of both groups, the
    joint loss ``F = sum over groups g of (1 / (2 n_g (n_g - 1))) sum_{i != j in g}
    d(x_i, x_j) ** power`` is small when each group is tight; relabelling the diagrams at random
    gives its null distribution, and ``p = (1 + #{F_perm <= F}) / (n_permutations + 1)``. All
    relabellings are enumerated when there are fewer than ``n_permutations`` of them (the test
    is then exact).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from tda_interp.compare.matrices import paired_distances, pairwise_distances
from tda_interp.diagrams.diagram import Diagram
from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.execution.dispatch import open_cache, run_tasks
from tda_interp.execution.executors import executor_scope
from tda_interp.execution.tasks import RipsTask
from tda_interp.homology.views import ViewLike, parse_view, view_name
from tda_interp.options import DistanceOptions, ExecutionOptions, RipsOptions

__all__ = ["PermutationTest", "permutation_test", "replicate_distances"]

FloatArray = NDArray[np.float64]

#: Fewest points a half may have (a loop needs 4 points).
MIN_HALF = 4


@dataclass(frozen=True)
class PermutationTest:
    """Result of :func:`permutation_test`.

    Attributes
    ----------
    statistic : float
        The joint loss of the observed groups.
    p_value : float
        ``(1 + #{null <= statistic}) / (len(null) + 1)``.
    null : ndarray of shape (n_permutations,)
        The joint loss of each relabelling.
    exact : bool
        Whether every relabelling was enumerated.
    """

    statistic: float
    p_value: float
    null: FloatArray
    exact: bool


def _joint_loss(D: FloatArray, labels: NDArray[np.bool_], power: float) -> float:
    total = 0.0
    for group in (labels, ~labels):
        idx = np.flatnonzero(group)
        n = len(idx)
        if n > 1:
            total += float((D[np.ix_(idx, idx)] ** power).sum()) / (2.0 * n * (n - 1))
    return total


def permutation_test(
    group_a: Sequence[Diagram],
    group_b: Sequence[Diagram],
    dim: int = 1,
    options: DistanceOptions | None = None,
    *,
    n_permutations: int = 999,
    power: float = 1.0,
    seed: int = 0,
    execution: ExecutionOptions | None = None,
    **overrides: Any,
) -> PermutationTest:
    """Are two groups of diagrams (several seeds of architecture A, several of B) different?

    See the module docstring for the statistic and the p-value.

    Parameters
    ----------
    group_a, group_b : sequence of Diagram
        At least 2 diagrams each.
    dim : int, default 1
    options : DistanceOptions, optional
        How two diagrams are compared (any metric).
    n_permutations : int, default 999
        Random relabellings (all of them when fewer exist).
    power : float, default 1.0
        Exponent of the distances in the joint loss (Robinson and Turner use the order of the
        Wasserstein distance).
    seed : int, default 0
    execution : ExecutionOptions, optional
        Where the distances are computed (see :func:`pairwise_distances`).
    **overrides
        Fields of :class:`~tda_interp.options.DistanceOptions`.

    Returns
    -------
    PermutationTest

    Examples
    --------
    >>> def dgm(d):
    ...     return Diagram(pairs=[[[0.0, np.inf]], [[1.0, d]]], scale=1.0, n_points=3)
    >>> a = [dgm(2.0), dgm(2.1), dgm(2.2)]
    >>> b = [dgm(5.0), dgm(5.1), dgm(5.2)]
    >>> res = permutation_test(a, b, relative=False)
    >>> res.exact, len(res.null), res.p_value  # 19 other splits; only the mirror is as tight
    (True, 19, 0.1)
    """
    opts = DistanceOptions.resolve(options, overrides, caller="permutation_test()")
    if len(group_a) < 2 or len(group_b) < 2:
        raise ConfigError(
            f"Expected at least 2 diagrams in each group, got {len(group_a)} and "
            f"{len(group_b)}; a group's spread needs two of its members."
        )
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, int)
        or n_permutations < 1
    ):
        raise ConfigError(f"Expected n_permutations to be an int >= 1, got {n_permutations!r}.")
    if not power > 0:
        raise ConfigError(f"Expected power to be a number > 0, got {power!r}.")
    everything = [*group_a, *group_b]
    D = pairwise_distances(everything, None, dim, opts, execution=execution)
    n, n_a = len(everything), len(group_a)
    observed = np.zeros(n, dtype=bool)
    observed[:n_a] = True
    statistic = _joint_loss(D, observed, power)
    total = math.comb(n, n_a)
    if total - 1 <= n_permutations:
        labellings = []
        for chosen in itertools.combinations(range(n), n_a):
            labels = np.zeros(n, dtype=bool)
            labels[list(chosen)] = True
            if not np.array_equal(labels, observed):
                labellings.append(labels)
        exact = True
    else:
        rng = np.random.default_rng(seed)
        labellings = [rng.permutation(observed) for _ in range(n_permutations)]
        exact = False
    null = np.array([_joint_loss(D, labels, power) for labels in labellings])
    tol = 1e-12 * max(abs(statistic), 1e-300)
    p = (1.0 + float((null <= statistic + tol).sum())) / (len(null) + 1.0)
    null.setflags(write=False)
    return PermutationTest(statistic=statistic, p_value=p, null=null, exact=exact)


def replicate_distances(
    clouds: Mapping[str, ArrayLike],
    views: Sequence[ViewLike] = ("raw",),
    dim: int = 1,
    options: DistanceOptions | None = None,
    *,
    rips: RipsOptions | None = None,
    n_replicates: int = 3,
    seed: int = 0,
    execution: ExecutionOptions | None = None,
) -> pd.DataFrame:
    """Replicate noise of every (layer, view): distances between diagrams of disjoint halves.

    Parameters
    ----------
    clouds : mapping of str to array of shape (n_points, n_features)
        The activations of each layer (the clouds of a run at one checkpoint).
    views : sequence of str or View, default ("raw",)
    dim : int, default 1
    options : DistanceOptions, optional
        How the two halves' diagrams are compared (as the comparison it is a reference for).
    rips : RipsOptions, optional
        How each half becomes a diagram: the run's homology options (``maxdim`` is raised to
        ``dim`` if lower).
    n_replicates : int, default 3
        Random splits per (layer, view).
    seed : int, default 0
    execution : ExecutionOptions, optional
        Where the half diagrams are computed, and their cache.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer, view, dim, replicate, n_points, distance``: one row per split.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(0, 2 * np.pi, 200)
    >>> circle = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.05, size=(200, 2))
    >>> df = replicate_distances({"fc": circle}, execution=ExecutionOptions(cache=False))
    >>> list(df.columns), len(df), df["n_points"].tolist()
    (['layer', 'view', 'dim', 'replicate', 'n_points', 'distance'], 3, [100, 100, 100])
    """
    opts = options if options is not None else DistanceOptions()
    base = rips if rips is not None else RipsOptions()
    if base.maxdim < dim:
        base = base.replace(maxdim=dim)
    exec_opts = execution if execution is not None else ExecutionOptions()
    if isinstance(n_replicates, bool) or not isinstance(n_replicates, int) or n_replicates < 1:
        raise ConfigError(f"Expected n_replicates to be an int >= 1, got {n_replicates!r}.")
    rng = np.random.default_rng(seed)
    parsed = [parse_view(v) for v in views]
    tasks: list[RipsTask] = []
    rows: list[dict[str, Any]] = []
    for layer, cloud in clouds.items():
        pts = np.asarray(cloud)
        n = len(pts)
        if n < 2 * MIN_HALF:
            raise ActivationError(
                f"Layer {layer!r} has {n} points; a replicate needs two halves of at least "
                f"{MIN_HALF}: give at least {2 * MIN_HALF} probe inputs."
            )
        half = _half_size(n, base)
        for r in range(n_replicates):
            order = rng.permutation(n)
            first, second = np.sort(order[:half]), np.sort(order[half : 2 * half])
            for view in parsed:
                place = f"layer {layer!r} view {view_name(view)!r} replicate {r}"
                for idx in (first, second):
                    tasks.append(RipsTask(points=pts[idx], view=view, rips=base, place=place))
                rows.append(
                    {
                        "layer": layer,
                        "view": view_name(view),
                        "dim": dim,
                        "replicate": r,
                        "n_points": half,
                    }
                )
    diagrams: list[Diagram | None] = [None] * len(tasks)
    cache = open_cache(exec_opts.cache)
    with executor_scope(
        exec_opts.executor,
        n_tasks=len(tasks),
        work=float(sum(len(t.points) ** 2 for t in tasks)),
        stall_timeout=exec_opts.stall_timeout,
    ) as runner:
        for index, output in run_tasks(tasks, runner, cache):
            if output.diagram is None:
                raise output.failure or ActivationError(f"No diagram for {tasks[index].place}.")
            diagrams[index] = output.diagram
    done = [d for d in diagrams if d is not None]  # every task gave one, or raised above
    frame = pd.DataFrame(rows, columns=["layer", "view", "dim", "replicate", "n_points"])
    frame["distance"] = paired_distances(done[0::2], done[1::2], dim, opts, execution=_NO_CACHE)
    return frame


_NO_CACHE = ExecutionOptions(executor="serial", cache=False)


def _half_size(n: int, rips: RipsOptions) -> int:
    """Points per half: half the cloud, or the run's subsample size when both halves hold it."""
    approx = rips.approximation
    if approx.mode == "subsample" and approx.value and n >= 2 * int(approx.value):
        return int(approx.value)
    return n // 2
