"""Cost estimates before computing, and memory sizes."""

from __future__ import annotations

import json

import pytest

from tda_interp.exceptions import ConfigError
from tda_interp.homology.estimate import (
    CALIBRATION,
    estimate_cost,
    largest_affordable,
    parse_memory,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2GB", 2 * 10**9),
        ("2 gb", 2 * 10**9),
        ("1.5GiB", 3 * 2**29),
        ("512MiB", 512 * 2**20),
        ("100kB", 100_000),
        ("7", 7),
        (4096, 4096),
        (2.5e9, 2_500_000_000),
    ],
)
def test_parse_memory(text: str | int | float, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["lots", "2XB", "-1GB", "0", "", True])
def test_parse_memory_rejects(bad: object) -> None:
    with pytest.raises(ConfigError, match="memory size"):
        parse_memory(bad)  # type: ignore[arg-type]


def test_estimate_never_below_the_distance_matrix() -> None:
    for maxdim in (0, 1, 2, 3):
        for n in (10, 500, 5000):
            est = estimate_cost(n, maxdim=maxdim, n_features=64)
            assert est.memory_bytes >= 8 * n * n + 8 * n * 64
            assert est.seconds > 0


def test_estimate_grows_with_size_and_dimension() -> None:
    for backend in ("ripser", "giotto-ph"):
        for maxdim in (0, 1, 2):
            costs = [estimate_cost(n, maxdim=maxdim, backend=backend) for n in (100, 1000, 4000)]
            assert costs[0].memory_bytes < costs[1].memory_bytes < costs[2].memory_bytes
            assert costs[0].seconds < costs[1].seconds < costs[2].seconds
    assert estimate_cost(1000, maxdim=3).memory_bytes > estimate_cost(1000, maxdim=2).memory_bytes


def test_estimate_matches_its_calibration_within_an_order_of_magnitude() -> None:
    for backend, maxdim, n, seconds, peak in CALIBRATION:
        est = estimate_cost(n, maxdim=maxdim, backend=backend)
        assert peak / 10 <= est.memory_bytes <= peak * 10, (backend, maxdim, n)
        assert seconds / 30 <= est.seconds <= seconds * 30, (backend, maxdim, n)


def test_estimate_detail_is_json_and_auto_is_ripser() -> None:
    est = estimate_cost(300, maxdim=1, n_features=5, backend="auto")
    assert est.detail["estimated_as"] == "ripser"
    assert estimate_cost(300, backend="gudhi").detail["estimated_as"] == "ripser"
    assert json.loads(json.dumps(est.to_dict()))["memory_bytes"] == est.memory_bytes
    with pytest.raises(ConfigError, match="n_points"):
        estimate_cost(-1)


def test_largest_affordable_is_the_boundary() -> None:
    budget = parse_memory("1GB")
    m = largest_affordable(budget, maxdim=1)
    assert estimate_cost(m).memory_bytes <= budget < estimate_cost(m + 1).memory_bytes
    assert largest_affordable(budget, maxdim=1, upper=50) == 50
    assert largest_affordable(10, maxdim=1) == 0
