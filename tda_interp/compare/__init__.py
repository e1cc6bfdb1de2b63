"""Compare diagrams across layers, checkpoints and runs, with the references that make a
distance mean something.

- :func:`compare_runs` (and ``tda-interp compare``): layer x layer distances within and across
  runs, trajectories through training, replicate references, a control run, and linear CKA on
  the same probe inputs, as a :class:`Comparison` of tidy DataFrames.
- :func:`diagram_distance`, :func:`pairwise_distances`, :func:`paired_distances`: distances of
  one pair, all pairs, or matched pairs (exact bottleneck and Wasserstein, or the fast vector
  metrics), parallel and cached.
- :func:`replicate_distances`: the replicate noise of a layer; :func:`permutation_test`: are two
  groups of diagrams different (Robinson and Turner 2017)?
- :func:`linear_cka`, :func:`cka_matrix`: the geometric baseline.

The conventions of every distance (order, ground metric, infinite bars, diagonal points) are in
:mod:`tda_interp.diagrams.distances`, :mod:`tda_interp.diagrams.vectors` and
:class:`~tda_interp.options.DistanceOptions`.
"""

from tda_interp.compare.cka import cka_matrix, linear_cka
from tda_interp.compare.matrices import diagram_distance, paired_distances, pairwise_distances
from tda_interp.compare.references import (
    PermutationTest,
    permutation_test,
    replicate_distances,
)
from tda_interp.compare.runs import Comparison, compare_runs, run_activations

__all__ = [
    "Comparison",
    "PermutationTest",
    "cka_matrix",
    "compare_runs",
    "diagram_distance",
    "linear_cka",
    "paired_distances",
    "pairwise_distances",
    "permutation_test",
    "replicate_distances",
    "run_activations",
]
