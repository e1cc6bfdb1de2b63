"""Options as version 0.1 spelled them, and the one rule that reads them today.

Version 0.1 kept every option in one flat namespace: the manifest's ``params`` of a run
directory of format version 1, and the ``[homology]`` table of a config, which also held the
significance and summary options and described the approximation with four interacting keys
(``max_points``, ``n_landmarks``, ``max_bound_rel``, ``memory_budget``). Both are read here, and
nowhere else:

- :func:`upgrade_params` turns version-1 ``params`` into today's layout, so that a version-1 run
  reads and resumes like a new one;
- :func:`upgrade_config` moves the old keys of a config to their sections, so that an old config
  file still runs (with one :class:`DeprecationWarning` naming every move).

Values the 0.1 pipeline fixed without an option (``hook="output"``, ``coeff=2``,
``dtype="float32"``...) are written out explicitly, not taken from today's defaults.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

from tda_interp.exceptions import ConfigError
from tda_interp.options.capture import CaptureOptions
from tda_interp.options.homology import (
    DEFAULT_MEMORY_BUDGET,
    Approximation,
    RipsOptions,
    parse_memory,
)
from tda_interp.options.run import SignificanceOptions, SummaryOptions

__all__ = [
    "LEGACY_HOMOLOGY_KEYS",
    "ORIGINS",
    "approximation_from_v1",
    "upgrade_config",
    "upgrade_params",
]

#: Key of :func:`upgrade_config`'s result mapping ``(section, key)`` to the 0.1 key it was
#: read from, so that an error about a moved value names what the file says.
ORIGINS = "__0.1_origins__"

#: Keys of the 0.1 ``[homology]`` table that now live elsewhere or under another name.
LEGACY_HOMOLOGY_KEYS = frozenset(
    {"max_points", "n_landmarks", "max_bound_rel", "drop_nonfinite", "n_null", "alpha", "long_bar"}
)


def approximation_from_v1(
    max_points: int | None, n_landmarks: int | None, max_bound_rel: float | None
) -> str:
    """The approximation spec equivalent to 0.1's three keys (``None``: not set).

    0.1 could take a uniform subsample *and then* landmarks of it; no single approximation
    says that, so such a combination gets a spec of its own that no option equals (a run
    written with it reads, but does not resume).

    Examples
    --------
    >>> approximation_from_v1(1000, None, None), approximation_from_v1(None, 300, None)
    ('subsample:1000', 'landmarks:300')
    >>> approximation_from_v1(None, None, None), approximation_from_v1(None, None, 0.05)
    ('auto', 'bound:0.05')
    """
    if max_bound_rel is not None:
        then = f"bound:{float(max_bound_rel):g}"
    elif n_landmarks is not None:
        then = f"landmarks:{int(n_landmarks)}"
    else:
        return "auto" if max_points is None else f"subsample:{int(max_points)}"
    return then if max_points is None else f"subsample:{int(max_points)} then {then}"


def upgrade_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Version-1 manifest ``params`` in today's layout (see :func:`tda_interp.pipeline.run_params`).

    Examples
    --------
    >>> new = upgrade_params({"layers": ["fc"], "views": ["raw"], "reduction": "none",
    ...     "output_index": 0, "maxdim": 1, "metric": "euclidean", "backend": "auto",
    ...     "max_points": 1000, "seed": 0, "long_bar": 0.25, "drop_nonfinite": False,
    ...     "n_null": 0, "alpha": 0.05, "inputs": {}})
    >>> new["homology"]["approximation"], new["significance"], new["capture"]["output_index"]
    ('subsample:1000', {'method': 'none'}, None)
    """
    p = dict(params)
    drop: Literal["raise", "drop"] = "drop" if p.get("drop_nonfinite") else "raise"
    # 0.1 captured with output_index=0; whenever that found a tensor, None (the first tensor)
    # finds the same one, and a run with results did find one
    index = p.get("output_index", 0)
    capture = CaptureOptions(
        reduction=p.get("reduction", "none"),
        output_index=None if index in (0, None) else index,
        hook="output",
        max_points=None,
        seed=0,
        dtype="float32",
        nonfinite=drop,
        attention_mask="auto",
        token_ids="auto",
    )
    spec = approximation_from_v1(p.get("max_points"), p.get("n_landmarks"), p.get("max_bound_rel"))
    homology = RipsOptions(
        maxdim=p.get("maxdim", 1),
        metric=p.get("metric", "euclidean"),
        coeff=2,
        backend=p.get("backend", "auto"),
        seed=p.get("seed", 0),
        approximation=Approximation.parse("auto" if " then " in spec else spec),
        memory_budget=parse_memory(p.get("memory_budget") or DEFAULT_MEMORY_BUDGET),
        nonfinite=drop,
    ).params() | {"approximation": spec}
    n_null = int(p.get("n_null", 0) or 0)
    significance = SignificanceOptions(method="none").params()
    if n_null > 0:
        significance = SignificanceOptions(
            method="gaussian", n_null=n_null, alpha=p.get("alpha", 0.05)
        ).params()
    return {
        "layers": list(p.get("layers", [])),
        "views": list(p.get("views", [])),
        "capture": capture.params(),
        "homology": homology,
        "significance": significance,
        "summary": SummaryOptions(long_bar=p.get("long_bar", 0.25)).params(),
        "inputs": p.get("inputs", {}),
    }


def upgrade_config(data: Mapping[str, Any], *, file: str) -> dict[str, Any]:
    """A parsed 0.1 config with its old keys moved to today's sections.

    ``[inputs] batch_size`` goes to ``[capture]``; in ``[homology]``, ``max_points``,
    ``n_landmarks`` and ``max_bound_rel`` become one ``approximation`` (landmarks alone were
    taken of a 1,000-point subsample in 0.1 unless ``max_points = 0``; now of every point, and a
    ``max_points`` set with them is an error), ``drop_nonfinite`` becomes ``nonfinite = "drop"``
    (in ``[capture]`` and ``[homology]``), ``n_null`` and
    ``alpha`` a ``[significance]`` section with ``method = "gaussian"`` (``method = "none"``
    for ``n_null = 0``: 0.1 made no calls then) and ``long_bar`` goes to
    ``[summary]``. Warns once (:class:`DeprecationWarning`) listing what moved; a key given in
    both its old and its new place is an error. Where keys moved, ``result[ORIGINS]`` maps each
    new ``(section, key)`` to the old key.
    """
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    hom = out.get("homology")
    inputs = out.get("inputs")
    moves: list[str] = []
    origins: dict[tuple[str, str], str] = {}

    def put(section: str, key: str, value: Any, old: str, note: str = "") -> None:
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: [{section}] must be a table.")
        if key in table:
            raise ConfigError(
                f"{file}: {old} and [{section}] {key} both given; keep only [{section}] {key}."
            )
        table[key] = value
        moves.append(f"{old} -> [{section}] {key} = {value!r}{note}")
        origins[(section, key)] = old

    if isinstance(inputs, dict) and "batch_size" in inputs:
        put("capture", "batch_size", inputs.pop("batch_size"), "[inputs] batch_size")
    if isinstance(hom, dict) and LEGACY_HOMOLOGY_KEYS & set(hom):
        old = {k: hom.pop(k) for k in sorted(LEGACY_HOMOLOGY_KEYS & set(hom))}
        if {"max_points", "n_landmarks", "max_bound_rel"} & set(old):
            if "n_landmarks" in old and "max_bound_rel" in old:
                raise ConfigError(
                    f"{file}: [homology] n_landmarks and max_bound_rel both given; keep one, as "
                    'approximation = "landmarks:N" or "bound:B".'
                )
            landmarks = "n_landmarks" if "n_landmarks" in old else "max_bound_rel"
            max_points = old.get("max_points", 1000)
            _check_int(max_points, "max_points", file)
            if landmarks in old and "max_points" in old and max_points:
                raise ConfigError(
                    f"{file}: [homology] max_points = {max_points} with {landmarks}: a uniform "
                    "subsample and then landmarks of it is no longer offered; write "
                    'approximation = "landmarks:N" or "bound:B" (landmarks of every point).'
                )
            if landmarks in old:  # 0.1 subsampled 1,000 points first unless max_points = 0
                max_points = 0
            spec = approximation_from_v1(
                max_points or None, old.get("n_landmarks"), old.get("max_bound_rel")
            )
            keys = "/".join(k for k in ("max_points", "n_landmarks", "max_bound_rel") if k in old)
            note = "" if "max_points" in old or landmarks not in old else " (of every point)"
            put("homology", "approximation", spec, f"[homology] {keys}", note)
        if "drop_nonfinite" in old:
            if not isinstance(old["drop_nonfinite"], bool):
                raise ConfigError(f"{file}: [homology] drop_nonfinite must be true or false.")
            value = "drop" if old["drop_nonfinite"] else "raise"
            put("capture", "nonfinite", value, "[homology] drop_nonfinite")
            put("homology", "nonfinite", value, "[homology] drop_nonfinite")
        if "n_null" in old or "alpha" in old:
            n_null = old.get("n_null", 0)
            _check_int(n_null, "n_null", file)
            if n_null > 0:
                put("significance", "method", "gaussian", "[homology] n_null")
                put("significance", "n_null", n_null, "[homology] n_null")
                if "alpha" in old:
                    put("significance", "alpha", old["alpha"], "[homology] alpha")
            else:
                put("significance", "method", "none", "[homology] n_null = 0")
        if "long_bar" in old:
            put("summary", "long_bar", old["long_bar"], "[homology] long_bar")
    if moves:
        warnings.warn(
            f"{file} uses option names of tda-interp 0.1; read as: {'; '.join(moves)}. "
            "Rename them in the file to silence this warning.",
            DeprecationWarning,
            stacklevel=3,
        )
    if origins:
        out[ORIGINS] = origins
    return out


def _check_int(value: Any, key: str, file: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{file}: [homology] {key} must be an int >= 0, got {value!r}.")
