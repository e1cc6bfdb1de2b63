"""Storage strategies: in memory, seeded reservoir sample, memory-mapped files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tda_interp.exceptions import ConfigError
from tda_interp.hooks import MemmapBuffer, MemoryBuffer, ReservoirBuffer
from tda_interp.hooks.buffers import PointBuffer, make_buffer
from tda_interp.options import CaptureOptions


def feed(buffer: PointBuffer, n: int, batch: int, width: int = 2) -> None:
    """Point i is (i, i, ...) with label batch_index = i."""
    for start in range(0, n, batch):
        rows = np.arange(start, min(start + batch, n))
        buffer.append(np.repeat(rows[:, None], width, axis=1).astype(np.float32), {"i": rows})


def test_memory_buffer_keeps_everything_in_order() -> None:
    buffer = MemoryBuffer()
    feed(buffer, 10, 3)
    points, labels = buffer.result()
    assert points.shape == (10, 2)
    assert points[:, 0].tolist() == list(range(10))
    assert labels["i"].tolist() == list(range(10))
    assert buffer.result()[0] is points  # concatenated once


def test_reservoir_small_input_keeps_all() -> None:
    buffer = ReservoirBuffer(20, seed=0)
    feed(buffer, 7, 3)
    _, labels = buffer.result()
    assert labels["i"].tolist() == list(range(7))


@pytest.mark.parametrize("batch", [1, 4, 9, 50])
def test_reservoir_does_not_depend_on_batching(batch: int) -> None:
    reference = ReservoirBuffer(10, seed=5)
    feed(reference, 50, 7)
    buffer = ReservoirBuffer(10, seed=5)
    feed(buffer, 50, batch)
    points, labels = buffer.result()
    assert labels["i"].tolist() == reference.result()[1]["i"].tolist()
    assert points[:, 0].tolist() == labels["i"].tolist()  # labels follow their points
    assert labels["i"].tolist() == sorted(set(labels["i"].tolist()))


def test_reservoir_is_uniform() -> None:
    # Each of n points is kept with probability k / n; 2000 seeds give sd ~0.009.
    n, k, trials = 50, 10, 2000
    counts = np.zeros(n)
    for seed in range(trials):
        buffer = ReservoirBuffer(k, seed=seed)
        feed(buffer, n, 7, width=1)
        counts[buffer.result()[1]["i"]] += 1
    frequency = counts / trials
    assert np.abs(frequency - k / n).max() < 0.05
    # the last batch is as likely as the first (a per-batch cap would fail this)
    assert abs(frequency[:7].mean() - frequency[-8:].mean()) < 0.03


def test_memmap_buffer_roundtrip_and_float16(tmp_path: Path) -> None:
    buffer = MemmapBuffer(tmp_path, "encoder.layer.0/x", dtype="float16")
    feed(buffer, 9, 4, width=3)
    points, labels = buffer.result()
    assert isinstance(points, np.memmap)
    assert points.dtype == np.float16
    assert points.shape == (9, 3)
    assert points[:, 2].tolist() == list(range(9))
    assert labels["i"].tolist() == list(range(9))
    buffer.close()
    assert (tmp_path / "encoder.layer.0%2Fx.points.float16").stat().st_size == 9 * 3 * 2


def test_memmap_memory_stays_one_batch(tmp_path: Path) -> None:
    # 32 batches of 1 MiB: in memory the peak is the whole capture, memmap keeps about one batch.
    n_batches, rows, width = 32, 1024, 256
    batch_bytes = rows * width * 4
    peaks = {}
    for name, buffer in [
        ("memory", MemoryBuffer()),
        ("memmap", MemmapBuffer(tmp_path, "big")),
    ]:
        tracemalloc.start()
        for b in range(n_batches):
            points = np.full((rows, width), b, dtype=np.float32)
            buffer.append(points, {"i": np.arange(b * rows, (b + 1) * rows)})
            del points
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        result, labels = buffer.result()
        assert result.shape == (n_batches * rows, width)
        assert float(result[-1, 0]) == n_batches - 1
        assert labels["i"][-1] == n_batches * rows - 1
        buffer.close()
    assert peaks["memory"] > n_batches * batch_bytes
    assert peaks["memmap"] < 4 * batch_bytes


def test_make_buffer_and_bad_options(tmp_path: Path) -> None:
    assert isinstance(make_buffer("a"), MemoryBuffer)
    assert isinstance(make_buffer("a", CaptureOptions()), MemoryBuffer)
    memmap = CaptureOptions(storage="memmap", storage_dir=tmp_path)
    assert isinstance(make_buffer("a", memmap), MemmapBuffer)
    sampled = make_buffer("a", memmap.replace(max_points=3))
    assert isinstance(sampled, ReservoirBuffer)
    feed(sampled, 10, 4)
    assert isinstance(sampled.result()[0], np.memmap)
    assert len(sampled.result()[0]) == 3
    half = make_buffer("a", CaptureOptions(dtype="float16"))
    feed(half, 5, 2)
    assert half.result()[0].dtype == np.float16
    with pytest.raises(ConfigError, match="storage_dir"):
        CaptureOptions(storage="memmap")
    with pytest.raises(ConfigError, match="max_points"):
        CaptureOptions(max_points=-1)
    with pytest.raises(ConfigError, match="max_points"):
        CaptureOptions(max_points=0)
    with pytest.raises(ConfigError, match="dtype"):
        CaptureOptions(dtype="float64")
    with pytest.raises(ConfigError, match="storage"):
        CaptureOptions(storage="disk", storage_dir=tmp_path)
    with pytest.raises(ConfigError, match="seed"):
        CaptureOptions(seed=1.5)  # type: ignore[arg-type]


def test_make_buffer_reservoir_is_seeded_per_cloud() -> None:
    def kept(name: str, seed: int) -> list[int]:
        buffer = make_buffer(name, CaptureOptions(max_points=5, seed=seed))
        feed(buffer, 50, 7)
        return buffer.result()[1]["i"].tolist()

    assert kept("a", 0) == kept("a", 0)  # reproducible
    assert kept("a", 0) != kept("a", 1)  # the seed matters
    assert kept("a", 0) != kept("b", 0)  # and so does the cloud's name
