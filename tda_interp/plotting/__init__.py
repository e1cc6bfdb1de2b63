"""Plotly figures of diagrams, Betti curves and layer x checkpoint summaries; never shown."""

from tda_interp.plotting.figures import (
    DIM_COLOURS,
    barcode_figure,
    betti_curves_figure,
    diagram_figure,
    heatmap_figure,
)

__all__ = [
    "DIM_COLOURS",
    "barcode_figure",
    "betti_curves_figure",
    "diagram_figure",
    "heatmap_figure",
]
