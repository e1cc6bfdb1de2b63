"""How a diagram was computed, as typed records: :class:`Provenance` and :class:`Certificate`.

Every diagram from :func:`tda_interp.vietoris_rips` carries a frozen :class:`Provenance`: the
view, metric, backend and coefficients, how many points were used of how many, whether they
were a uniform subsample, the approximation asked for, the :class:`Certificate` of how far the
diagram may be from the exact one, and the cost estimate of the computation that ran. Readers
use named fields; the file formats use :meth:`Provenance.to_dict` / :meth:`Provenance.from_dict`
(old files are decoded in :mod:`tda_interp.store.codec`, nowhere else).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = ["Certificate", "CertificateKind", "CostEstimate", "Provenance"]

CertificateKind: TypeAlias = Literal["exact", "landmarks", "truncation", "none"]


@dataclass(frozen=True)
class CostEstimate:
    """Estimated peak memory and wall time of one Vietoris-Rips computation.

    Attributes
    ----------
    memory_bytes : int
        Peak memory above the process's baseline (distance matrices + backend).
    seconds : float
        Wall time on one core.
    detail : dict
        The parts (``distance_matrix_bytes``, ``backend_bytes``...), the fitted law and what it
        was calibrated on; JSON-serialisable, for reading, not for computing with.
    """

    memory_bytes: int
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``memory_bytes``, ``seconds`` and the detail)."""
        return {"memory_bytes": self.memory_bytes, "seconds": self.seconds, **self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostEstimate:
        """Inverse of :meth:`to_dict`."""
        rest = {k: v for k, v in data.items() if k not in ("memory_bytes", "seconds")}
        return cls(
            memory_bytes=int(data["memory_bytes"]), seconds=float(data["seconds"]), detail=rest
        )


@dataclass(frozen=True)
class Certificate:
    """How far a diagram may be from the exact diagram of the whole (viewed) cloud.

    Attributes
    ----------
    kind : {"exact", "landmarks", "truncation", "none"}
        How the points (after any uniform subsample, see :attr:`Provenance.subsampled`) went
        into the filtration: all of them (``"exact"``), max-min landmarks of them
        (``"landmarks"``), or all of them with the filtration stopped short of the enclosing
        radius (``"truncation"``); ``"none"``: unknown (an old file that did not say).
    bound : float or None
        Certified bottleneck distance to the exact diagram of the cloud given, in the units of
        the metric; 0 when exact, None when none exists (after a uniform subsample, or unknown).
    bound_rel : float or None
        ``bound`` over a certified lower bound of the cloud's diameter (conservative).
    convention : str
        The filtration and distance the bound is stated in.
    n_landmarks, landmark_indices, covering_radius, covering_bound, interleaving_bound : optional
        With landmarks: their number, their rows among the points they were picked from (after
        any subsample and view), the covering radius ``eps``, ``2 eps`` and the a-posteriori
        interleaving bound (None above 10,000 points). They describe the landmarks against the
        points they were picked from, also after a subsample (where ``bound`` is None).
    truncated_at, enclosing_radius, n_truncated : optional
        With truncation: where the filtration stopped, the enclosing radius, and how many bars
        were alive there (they were given the death ``(truncated_at + enclosing_radius) / 2``).
    """

    kind: CertificateKind
    bound: float | None
    bound_rel: float | None
    convention: str = field(default="", repr=False)
    n_landmarks: int | None = None
    landmark_indices: tuple[int, ...] | None = field(default=None, repr=False)
    covering_radius: float | None = None
    covering_bound: float | None = None
    interleaving_bound: float | None = None
    truncated_at: float | None = None
    enclosing_radius: float | None = None
    n_truncated: int | None = None


@dataclass(frozen=True)
class Provenance:
    """How a diagram was computed.

    Attributes
    ----------
    view : str
        Name of the view the points were seen through.
    metric : str
        Distance used (the view's own when it implies one).
    backend : str
        Persistence backend that ran.
    coeff : int
        Prime field of coefficients.
    seed : int
        Seed of the subsample and of the first landmark.
    approximation : str
        The approximation asked for (``"subsample:1000"``, ``"bound:0.05"``...).
    n_points_total : int
        Points given (after dropping non-finite ones); the diagram's ``n_points`` is how many
        went into the filtration.
    subsampled : bool
        Whether a uniform subsample of them was taken first.
    certificate : Certificate
    pca_residual_bound, pca_residual_bound_rel : float or None
        For PCA views with the euclidean metric: a bound on the bottleneck distance between the
        view's diagram and the raw cloud's (absolute, and over the raw diameter).
    cost_estimate : CostEstimate or None
        Estimate of the computation that ran.
    cost_estimate_exact : CostEstimate or None
        With landmarks: the estimate of the exact computation that was avoided.

    Examples
    --------
    >>> p = Provenance(view="raw", metric="euclidean", backend="ripser", coeff=2, seed=0,
    ...                approximation="auto", n_points_total=10, subsampled=False,
    ...                certificate=Certificate(kind="exact", bound=0.0, bound_rel=0.0))
    >>> Provenance.from_dict(p.to_dict()) == p
    True
    """

    view: str
    metric: str
    backend: str
    coeff: int
    seed: int
    approximation: str
    n_points_total: int
    subsampled: bool
    certificate: Certificate
    pca_residual_bound: float | None = None
    pca_residual_bound_rel: float | None = None
    cost_estimate: CostEstimate | None = field(default=None, repr=False)
    cost_estimate_exact: CostEstimate | None = field(default=None, repr=False)

    @property
    def approximate(self) -> bool:
        """Whether the diagram may differ from the exact diagram of the points given: a
        subsample, landmarks or a truncated filtration."""
        return self.subsampled or self.certificate.kind != "exact"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe nested dict (the form stored in run directories and the cache)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["certificate"] = dataclasses.asdict(self.certificate)
        indices = self.certificate.landmark_indices
        out["certificate"]["landmark_indices"] = None if indices is None else list(indices)
        for key in ("cost_estimate", "cost_estimate_exact"):
            value = out[key]
            out[key] = None if value is None else value.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        cert = dict(values["certificate"])
        if cert.get("landmark_indices") is not None:
            cert["landmark_indices"] = tuple(int(i) for i in cert["landmark_indices"])
        values["certificate"] = Certificate(**cert)
        for key in ("cost_estimate", "cost_estimate_exact"):
            if values.get(key) is not None:
                values[key] = CostEstimate.from_dict(values[key])
        return cls(**values)
