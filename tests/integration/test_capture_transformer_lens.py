"""TransformerLens hook names are sites: a tiny TL-native model built locally (no download).

TransformerLens 4 replaced ``HookedTransformer`` by ``TransformerBridge``; its classic hook names
(``"blocks.0.hook_resid_post"``) are aliases of ``HookPoint`` modules (``"blocks.0.hook_out"``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tda_interp.hooks import describe_sites, resolve_sites, run_capture

pytest.importorskip("transformer_lens", reason="the transformer-lens extra is not installed")
pytestmark = pytest.mark.slow  # importing and booting TransformerLens takes ~15 s


def hook_counts(model: torch.nn.Module) -> list[tuple[int, int]]:
    return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge.bridge import TransformerBridge

    cfg = TransformerBridgeConfig(
        n_layers=2,
        d_model=32,
        d_head=8,
        n_heads=4,
        d_mlp=64,
        d_vocab=50,
        n_ctx=16,
        act_fn="relu",
        seed=0,
    )
    return TransformerBridge.boot_native(cfg)


def test_hook_names_are_sites_and_match_run_with_cache(model: torch.nn.Module) -> None:
    names = resolve_sites(model, "blocks.*.hook_resid_post")
    assert names == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    assert resolve_sites(model, "blocks.0.hook_out") == ["blocks.0.hook_out"]  # module path
    tokens = torch.randint(0, 50, (4, 6), generator=torch.Generator().manual_seed(1))
    _, cache = model.run_with_cache(tokens)
    before = hook_counts(model)  # the bridge keeps some hooks of its own
    sites = [*names, "hook_embed", "blocks.1.attn.hook_pattern"]
    cap = run_capture(model, tokens, sites[:3], reduction="tokens", batch_size=3)
    for name in sites[:3]:
        expected = cache[name].reshape(-1, cache[name].shape[-1]).numpy()
        np.testing.assert_allclose(cap[name], expected, rtol=1e-4, atol=1e-5)
    labels = cap.labels["blocks.1.hook_resid_post"]
    assert labels["token_id"].tolist() == tokens.reshape(-1).tolist()
    assert labels["position"].tolist() == list(range(6)) * 4
    last = run_capture(model, tokens, "blocks.0.hook_resid_post", reduction="last")
    np.testing.assert_allclose(
        last["blocks.0.hook_resid_post"],
        cache["blocks.0.hook_resid_post"][:, -1].numpy(),
        rtol=1e-4,
        atol=1e-5,
    )
    pattern = run_capture(model, tokens, sites[3], reduction="flatten")[sites[3]]
    np.testing.assert_allclose(pattern, cache[sites[3]].reshape(4, -1).numpy(), rtol=1e-4)
    assert hook_counts(model) == before


def test_hook_points_listed(model: torch.nn.Module) -> None:
    before = hook_counts(model)
    rows = {row.name: row for row in describe_sites(model, torch.zeros(2, 5, dtype=torch.long))}
    assert rows["blocks.0.hook_out"].type == "HookPoint"
    assert rows["blocks.0.hook_out"].output == "Tensor(2, 5, 32)"
    assert hook_counts(model) == before
