"""Reductions of one batch of module output to (n_points, n_features)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.hooks import reduce_output, reduce_points
from tda_interp.hooks.reductions import ReductionLike
from tda_interp.options import CaptureOptions


@pytest.fixture
def tokens() -> torch.Tensor:
    return torch.arange(8 * 3 * 5, dtype=torch.float32).reshape(8, 3, 5)


def test_none_passes_2d_through() -> None:
    x = torch.randn(6, 4)
    assert torch.equal(reduce_output(x, "none", site="fc"), x)


def test_1d_becomes_column() -> None:
    x = torch.arange(6.0)
    for reduction in ("none", "flatten"):
        out = reduce_output(x, reduction, site="fc")
        assert out.shape == (6, 1)
        assert torch.equal(out[:, 0], x)


def test_flatten(tokens: torch.Tensor) -> None:
    out = reduce_output(tokens, "flatten", site="blocks.2.mlp")
    assert out.shape == (8, 15)
    assert torch.equal(out[1], tokens[1].reshape(-1))


def test_flatten_empty_batch() -> None:
    assert reduce_output(torch.zeros(0, 3, 5), "flatten").shape == (0, 15)


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        ("mean", lambda t: t.mean(dim=1)),
        ("first", lambda t: t[:, 0]),
        ("last", lambda t: t[:, -1]),
        (1, lambda t: t[:, 1]),
        (-2, lambda t: t[:, 1]),
    ],
)
def test_sequence_reductions(
    tokens: torch.Tensor,
    reduction: ReductionLike,
    expected: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    out = reduce_output(tokens, reduction, site="blocks.2.mlp")
    assert out.shape == (8, 5)
    assert torch.equal(out, expected(tokens))


def test_none_on_3d_names_site_and_fix(tokens: torch.Tensor) -> None:
    with pytest.raises(ActivationError) as info:
        reduce_output(tokens, "none", site="blocks.2.mlp")
    message = str(info.value)
    assert "(n_points, n_features)" in message
    assert "'blocks.2.mlp'" in message
    assert "(8, 3, 5)" in message
    assert "reduction='flatten'" in message
    assert "reduction='mean'" in message


def test_none_on_4d_suggests_flatten_only() -> None:
    with pytest.raises(ActivationError, match="reduction='flatten'") as info:
        reduce_output(torch.zeros(2, 3, 4, 4), "none", site="conv")
    assert "mean" not in str(info.value)


@pytest.mark.parametrize("shape", [(8, 5), (8, 3, 5, 2)])
def test_sequence_reduction_wrong_rank(shape: tuple[int, ...]) -> None:
    with pytest.raises(ActivationError) as info:
        reduce_output(torch.zeros(shape), "mean", site="blocks.0.attn")
    message = str(info.value)
    assert "(batch, seq, features)" in message
    assert "'blocks.0.attn'" in message
    assert str(shape) in message
    assert "reduction='flatten'" in message


def test_position_out_of_range(tokens: torch.Tensor) -> None:
    with pytest.raises(ActivationError, match=r"\[-3, 2\]"):
        reduce_output(tokens, 3, site="blocks.0")


def test_empty_sequence() -> None:
    with pytest.raises(ActivationError, match="at least one sequence position"):
        reduce_output(torch.zeros(2, 0, 4), "mean", site="blocks.0")


def test_scalar_output() -> None:
    with pytest.raises(ActivationError, match="batch dimension"):
        reduce_output(torch.tensor(1.0), "none", site="loss")


@pytest.mark.parametrize("reduction", ["max", True, 1.5, None])
def test_unknown_reduction(reduction: object) -> None:
    with pytest.raises(ConfigError, match="reduction"):
        reduce_output(torch.zeros(2, 3), reduction, site="fc")  # type: ignore[arg-type]


@pytest.mark.parametrize("reduction", ["max", True, 1.5, None])
def test_unknown_reduction_in_capture_options(reduction: object) -> None:
    with pytest.raises(ConfigError, match="reduction") as info:
        CaptureOptions(reduction=reduction)  # type: ignore[arg-type]
    assert info.value.key == "reduction"


@pytest.mark.parametrize("reduction", ["none", "tokens", "avgpool", -1, 2])
def test_capture_options_accept_every_reduction(reduction: ReductionLike) -> None:
    assert CaptureOptions(reduction=reduction).reduction == reduction


# --- tokens, conv feature maps and attention masks -------------------------------------------
MASK = torch.tensor([[1, 1, 0], [0, 1, 1], [1, 1, 1], [1, 0, 0]] + [[1, 1, 1]] * 4)


def test_tokens_unmasked(tokens: torch.Tensor) -> None:
    out = reduce_points(tokens, "tokens", site="blocks.0")
    assert out.points.shape == (24, 5)
    assert torch.equal(out.points[4], tokens[1, 1])
    assert out.batch.tolist()[:6] == [0, 0, 0, 1, 1, 1]
    assert out.position.tolist()[:6] == [0, 1, 2, 0, 1, 2]


def test_tokens_drop_padding(tokens: torch.Tensor) -> None:
    out = reduce_points(tokens, "tokens", site="blocks.0", mask=MASK)
    assert out.points.shape == (int(MASK.sum()), 5)
    for point, b, t in zip(out.points, out.batch, out.position, strict=True):
        assert MASK[b, t] == 1
        assert torch.equal(point, tokens[b, t])


def test_masked_mean_first_last_and_position(tokens: torch.Tensor) -> None:
    real = [[t for t in range(3) if MASK[b, t]] for b in range(8)]
    mean = reduce_output(tokens, "mean", mask=MASK)
    expected_mean = torch.stack([tokens[b, real[b]].mean(dim=0) for b in range(8)])
    torch.testing.assert_close(mean, expected_mean)
    for reduction, index in [("first", 0), ("last", -1), (0, 0), (-1, -1)]:
        out = reduce_points(tokens, reduction, mask=MASK)
        assert out.position.tolist() == [real[b][index] for b in range(8)]
        expected = torch.stack([tokens[b, real[b][index]] for b in range(8)])
        assert torch.equal(out.points, expected)


def test_masked_position_out_of_range_and_bad_mask(tokens: torch.Tensor) -> None:
    with pytest.raises(ActivationError, match=r"unpadded .* length 1 .*\[-1, 0\]"):
        reduce_output(tokens, 1, site="blocks.0", mask=MASK)
    with pytest.raises(ActivationError, match=r"attention_mask of shape .*\(8, 3\).*'blocks.0'"):
        reduce_output(tokens, "tokens", site="blocks.0", mask=torch.ones(8, 4))
    empty = MASK.clone()
    empty[2] = 0
    with pytest.raises(ActivationError, match=r"Rows \[2\] .* fully padded"):
        reduce_output(tokens, "mean", site="blocks.0", mask=empty)


def test_mean_ignores_nan_in_padding() -> None:
    x = torch.tensor([[[1.0], [3.0], [float("nan")]]])
    assert reduce_output(x, "mean", mask=torch.tensor([[1, 1, 0]])).tolist() == [[2.0]]


def test_spatial_and_avgpool() -> None:
    fmap = torch.randn(2, 3, 4, 5)
    spatial = reduce_points(fmap, "spatial", site="conv")
    assert spatial.points.shape == (2 * 4 * 5, 3)
    index = 1 * 20 + 2 * 5 + 3  # batch 1, h 2, w 3
    assert torch.equal(spatial.points[index], fmap[1, :, 2, 3])
    assert (int(spatial.batch[index]), int(spatial.position[index])) == (1, 13)
    pooled = reduce_points(fmap, "avgpool", site="conv")
    torch.testing.assert_close(pooled.points, fmap.mean(dim=(2, 3)))
    assert pooled.position.tolist() == [-1, -1]
    with pytest.raises(ActivationError, match=r"\(batch, channels, \*spatial\).*'fc'"):
        reduce_output(torch.zeros(2, 3), "avgpool", site="fc")


def test_none_on_4d_suggests_conv_reductions() -> None:
    with pytest.raises(ActivationError, match=r"reduction='avgpool'.*'spatial'"):
        reduce_output(torch.zeros(2, 3, 4, 4), "none", site="conv")
