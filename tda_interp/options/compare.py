"""How two diagrams are compared: :class:`DistanceOptions` (``tda-interp compare`` flags)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from tda_interp.exceptions import ConfigError
from tda_interp.options._base import Interval, OneOf, Options

__all__ = [
    "DIAGRAM_METRICS",
    "VECTOR_METRICS",
    "DistanceOptions",
    "InfinitePolicy",
    "MetricName",
]

MetricName: TypeAlias = Literal["bottleneck", "wasserstein", "landscape", "betti", "image"]
#: Distances computed on the diagrams themselves (an optimal matching of bars).
DIAGRAM_METRICS: tuple[str, ...] = ("bottleneck", "wasserstein")
#: Distances between vectorisations of the diagrams on one shared grid (the fast path).
VECTOR_METRICS: tuple[str, ...] = ("landscape", "betti", "image")

InfinitePolicy: TypeAlias = Literal["match", "drop"]


@dataclass(frozen=True, kw_only=True)
class DistanceOptions(Options):
    """How two persistence diagrams are compared, one homology dimension at a time.

    Parameters
    ----------
    metric : {"bottleneck", "wasserstein", "landscape", "betti", "image"}, default "bottleneck"
        ``"bottleneck"``: the largest move of an optimal matching of bars (unmatched bars go to
        the diagonal). ``"wasserstein"``: ``(sum of moves ** order) ** (1 / order)`` over an
        optimal matching. Both exact (gudhi; hera for Wasserstein). The fast path for many
        diagrams: ``"landscape"`` (L2 distance of persistence landscapes), ``"betti"`` (L1
        distance of Betti curves), ``"image"`` (L2 distance of persistence images), all on one
        grid shared by the diagrams compared.
    order : float, default 1.0
        ``p`` of the p-Wasserstein distance (``>= 1``).
    ground : float, default inf
        ``q`` of the ground metric between two bars, ``||(b1 - b2, d1 - d2)||_q`` (and a bar's
        distance to the diagonal is ``||(l / 2, l / 2)||_q`` for lifetime ``l``). ``inf`` (the
        usual convention of persistence; gudhi's and persim's bottleneck) gives
        ``max(|b1 - b2|, |d1 - d2|)`` and ``l / 2``. Packages differ here (POT's default is
        ``q = 2``): compare numbers only under one convention. The bottleneck distance is
        computed with ``q = inf`` only.
    relative : bool, default True
        Divide every diagram by its cloud's scale (diameter) first, so that layers and models
        whose activations differ in size compare; ``False``: absolute filtration values.
    infinite : {"match", "drop"}, default "match"
        Bars that never die: ``"match"`` pairs the essential bars of the two diagrams in order
        of birth (cost ``|b1 - b2|``; the distance is ``inf`` when their numbers differ), as
        gudhi does; ``"drop"`` leaves them out. A Vietoris-Rips diagram has one essential bar,
        the H0 class born at 0, so both give the same numbers on complete diagrams. On the
        fast path, ``"match"`` ends essential bars at the top of the shared grid.
    resolution : int, default 100
        Grid points per axis of the fast path.

    Diagonal points (bars that die when they are born) are removed first: they match the
    diagonal at no cost.

    Examples
    --------
    >>> DistanceOptions(metric="wasserstein", order=2).ground
    inf
    >>> try:
    ...     DistanceOptions(metric="bottleneck", ground=2.0)
    ... except ValueError as err:  # a ConfigError
    ...     print(str(err)[:56])
    The bottleneck distance is computed with ground=inf only
    """

    metric: MetricName = "bottleneck"
    order: float = 1.0
    ground: float = math.inf
    relative: bool = True
    infinite: InfinitePolicy = "match"
    resolution: int = 100

    _constraints: ClassVar[dict[str, tuple[Any, ...]]] = {
        "metric": (OneOf(DIAGRAM_METRICS + VECTOR_METRICS),),
        "order": (Interval(float, 1, None),),
        "ground": (Interval(float, 1, None),),
        "relative": (OneOf((True, False)),),
        "infinite": (OneOf(("match", "drop")),),
        "resolution": (Interval(int, 2, 10_000),),
    }
    _hints: ClassVar[dict[str, str]] = {
        "metric": "Exact: 'bottleneck' or 'wasserstein'; fast: 'landscape', 'betti', 'image'.",
        "ground": "inf (max(|db|, |dd|), the usual convention) or a q >= 1 such as 2.",
    }

    def _check(self) -> None:
        if self.metric == "bottleneck" and not math.isinf(self.ground):
            raise ConfigError(
                "The bottleneck distance is computed with ground=inf only (max(|db|, |dd|)), "
                f'got ground={self.ground}; use metric="wasserstein" for another ground '
                "metric."
            )

    @property
    def exact(self) -> bool:
        """Whether the metric matches bars (bottleneck, Wasserstein), not vectorisations."""
        return self.metric in DIAGRAM_METRICS
