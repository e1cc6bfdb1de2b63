"""Point clouds to persistence diagrams: views, distances, backends, landmarks, significance."""

from tda_interp.homology.backends import (
    auto_backend,
    available_backends,
    representative_cocycles,
    resolve_backend,
    rips_from_distances,
)
from tda_interp.homology.cycles import cloud_scatter, representative_cycles
from tda_interp.homology.distances import check_distance_matrix, distance_matrix
from tda_interp.homology.estimate import (
    CostEstimate,
    estimate_cost,
    largest_affordable,
    parse_memory,
)
from tda_interp.homology.landmarks import (
    Landmarks,
    diameter_bounds,
    interleaving_bound,
    landmarks_within,
    maxmin_landmarks,
    pca_residual_bound,
)
from tda_interp.homology.persistence import (
    DEFAULT_MEMORY_BUDGET,
    check_cloud,
    check_input,
    compute_diagram,
    vietoris_rips,
)
from tda_interp.homology.significance import (
    SignificanceResult,
    compute_significance,
    run_level_calls,
    significance,
)
from tda_interp.homology.truncation import enclosing_radius, truncated_rips
from tda_interp.homology.views import (
    View,
    apply_view,
    callable_view,
    expand_views,
    factory_view,
    parse_view,
    projection_view,
    resolve_views,
    units_view,
)

__all__ = [
    "CostEstimate",
    "DEFAULT_MEMORY_BUDGET",
    "Landmarks",
    "SignificanceResult",
    "View",
    "apply_view",
    "auto_backend",
    "available_backends",
    "callable_view",
    "check_cloud",
    "check_distance_matrix",
    "check_input",
    "cloud_scatter",
    "compute_diagram",
    "compute_significance",
    "diameter_bounds",
    "distance_matrix",
    "enclosing_radius",
    "estimate_cost",
    "expand_views",
    "factory_view",
    "interleaving_bound",
    "landmarks_within",
    "largest_affordable",
    "maxmin_landmarks",
    "parse_memory",
    "parse_view",
    "pca_residual_bound",
    "projection_view",
    "representative_cocycles",
    "representative_cycles",
    "resolve_backend",
    "resolve_views",
    "rips_from_distances",
    "run_level_calls",
    "significance",
    "truncated_rips",
    "units_view",
    "vietoris_rips",
]
