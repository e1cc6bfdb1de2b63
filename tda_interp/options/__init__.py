"""Options that travel together, as frozen objects checked once and passed whole.

Each class mirrors one section of a run config (:mod:`tda_interp.config`) and is what the
functions and objects of that stage take:

============================  ==================  ===========================================
class                         config section      taken by
============================  ==================  ===========================================
:class:`CaptureOptions`       ``[capture]``       ``capture``, ``run_capture``, runs, monitor
:class:`RipsOptions`          ``[homology]``      ``vietoris_rips``, ``significance``, runs
:class:`SignificanceOptions`  ``[significance]``  ``significance``, runs, monitor
:class:`SummaryOptions`       ``[summary]``       ``summarize``, runs, monitor, report
:class:`ExecutionOptions`     ``[execution]``     runs, monitor (never part of their params)
:class:`DistanceOptions`      ``compare`` flags   ``tda_interp.compare``, ``tda-interp compare``
============================  ==================  ===========================================

Functions take the object, or the same names as keyword arguments (``vietoris_rips(X,
maxdim=2)`` is ``vietoris_rips(X, RipsOptions(maxdim=2))``). Importing this module does not
import torch.

Examples
--------
>>> from tda_interp.options import RipsOptions
>>> opts = RipsOptions(maxdim=2, approximation="bound:0.05")
>>> opts.replace(coeff=3).coeff, opts.params()["approximation"]
(3, 'bound:0.05')
>>> try:
...     RipsOptions(maxdim=7)
... except ValueError as err:  # a ConfigError
...     print(err)
Expected maxdim to be an int in [0, 3], got 7. H3 of a few hundred points already takes hours.
"""

from tda_interp.options._base import Options
from tda_interp.options.capture import CaptureOptions
from tda_interp.options.compare import DistanceOptions
from tda_interp.options.homology import Approximation, RipsOptions, parse_memory
from tda_interp.options.run import ExecutionOptions, SignificanceOptions, SummaryOptions

__all__ = [
    "Approximation",
    "CaptureOptions",
    "DistanceOptions",
    "ExecutionOptions",
    "Options",
    "RipsOptions",
    "SignificanceOptions",
    "SummaryOptions",
    "parse_memory",
]
