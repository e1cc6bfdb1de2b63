"""Plotly figures of diagrams, Betti curves and layer x checkpoint summaries; never shown.

Every string a figure takes from its caller reaches plotly through :func:`plain_text`, so names
are shown as written and are never read as markup.
"""

from tda_interp.plotting.figures import (
    DIM_COLOURS,
    barcode_figure,
    betti_curves_figure,
    diagram_figure,
    heatmap_figure,
    lines_figure,
)
from tda_interp.plotting.text import plain_text

__all__ = [
    "DIM_COLOURS",
    "barcode_figure",
    "betti_curves_figure",
    "diagram_figure",
    "heatmap_figure",
    "lines_figure",
    "plain_text",
]
