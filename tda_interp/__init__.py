"""tda-interp: persistent homology of neural-network activation spaces."""

__version__ = "0.1.0"
