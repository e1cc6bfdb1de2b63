"""The diagram type, its converters, Betti curves and summaries."""

from tda_interp.diagrams.betti import betti_curve, betti_number, shared_grid
from tda_interp.diagrams.diagram import Diagram, from_giotto, to_giotto
from tda_interp.diagrams.provenance import Certificate, CostEstimate, Provenance
from tda_interp.diagrams.summaries import (
    DEFAULT_LONG_BAR,
    persistent_entropy,
    significant_betti,
    summarize,
)

__all__ = [
    "Certificate",
    "CostEstimate",
    "DEFAULT_LONG_BAR",
    "Diagram",
    "Provenance",
    "betti_curve",
    "betti_number",
    "from_giotto",
    "persistent_entropy",
    "shared_grid",
    "significant_betti",
    "summarize",
    "to_giotto",
]
