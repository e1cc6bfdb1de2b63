"""Capturing conv feature maps from a small CNN, and listing its sites."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.hooks import describe_sites, list_sites, run_capture


def make_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 3),
    )


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_spatial_and_avgpool_match_manual_feature_maps() -> None:
    model = make_cnn()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        fmap = model[2](model[1](model[0](x)))  # (5, 6, 4, 4)
    spatial = run_capture(model, x, "2", reduction="spatial", batch_size=2)
    points = spatial["2"]
    assert points.shape == (5 * 4 * 4, 6)
    expected = fmap.permute(0, 2, 3, 1).reshape(-1, 6).numpy()
    np.testing.assert_allclose(points, expected, rtol=1e-5, atol=1e-6)
    labels = spatial.labels["2"]
    assert labels["batch_index"].tolist() == np.repeat(np.arange(5), 16).tolist()
    assert labels["position"].tolist() == np.tile(np.arange(16), 5).tolist()
    pooled = run_capture(model, x, ["0", "2"], reduction="avgpool").activations
    np.testing.assert_allclose(pooled["2"], fmap.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    assert pooled["0"].shape == (5, 4)
    assert no_hooks(model)


def test_conv_output_without_reduction_suggests_avgpool() -> None:
    model = make_cnn()
    with pytest.raises(ActivationError, match=r"'0'.*\(2, 4, 8, 8\).*avgpool"):
        run_capture(model, torch.randn(2, 1, 8, 8), "0")
    assert no_hooks(model)


def test_list_sites_shows_shapes_and_calls() -> None:
    model = make_cnn()
    model.train()
    text = list_sites(model, torch.randn(2, 1, 8, 8))
    lines = text.splitlines()
    assert lines[0] == "Sequential"
    assert "Conv2d" in lines[1]
    assert lines[1].endswith("-> Tensor(2, 4, 8, 8)")
    assert lines[3].endswith("-> Tensor(2, 6, 4, 4)")
    assert lines[5].endswith("-> Tensor(2, 3)")
    assert "40 params" in lines[1]  # 4 * 1 * 3 * 3 weights + 4 biases
    assert no_hooks(model)
    assert all(m.training for m in model.modules())
    rows = describe_sites(model)
    assert [row.name for row in rows] == ["0", "1", "2", "3", "4"]
    assert rows[0].output is None
    with pytest.raises(ConfigError, match="empty probe set"):
        list_sites(model, torch.ones(0, 1, 8, 8))
    assert no_hooks(model)


def test_list_sites_depth_and_reused_modules() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
            self.skipped = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.block(self.block(x))

    rows = describe_sites(Shared(), torch.randn(3, 4), max_depth=1)
    assert [(row.name, row.n_calls, row.output) for row in rows] == [
        ("block", 2, "Tensor(3, 4)"),
        ("skipped", 0, "not called"),
    ]
    assert "(called 2x)" in list_sites(Shared(), torch.randn(3, 4))
