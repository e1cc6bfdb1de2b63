"""Point clouds to persistence diagrams: views, distances, Vietoris-Rips backends."""

from tda_interp.homology.backends import available_backends, resolve_backend, rips_from_distances
from tda_interp.homology.distances import distance_matrix
from tda_interp.homology.persistence import check_cloud, vietoris_rips
from tda_interp.homology.views import View, apply_view, expand_views, parse_view

__all__ = [
    "View",
    "apply_view",
    "available_backends",
    "check_cloud",
    "distance_matrix",
    "expand_views",
    "parse_view",
    "resolve_backend",
    "rips_from_distances",
    "vietoris_rips",
]
