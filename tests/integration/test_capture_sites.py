"""Sites without a module of their own, in a research model: a bare ``nn.Parameter`` embedding
indexed in forward (``"param:W_E"``) and a functional ``torch.relu`` (the input of the module
that receives it, ``hook="input"``), from Python and from a config run by the CLI."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import tda_interp as ti
from tda_interp.cli import main
from tda_interp.config import load_config
from tda_interp.exceptions import CaptureError, SiteNotFoundError
from tda_interp.hooks import capture, resolve_sites, run_capture

# A modular-addition model as research code writes it: no nn.Embedding, no nn.ReLU.
MODELS = """
import torch
from torch import nn

P, D, H = 11, 8, 16


class Modular(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.W_E = nn.Parameter(torch.randn(P, D, generator=g) / D**0.5)
        self.W_in = nn.Parameter(torch.randn(2 * D, H, generator=g) / D**0.5)
        self.unembed = nn.Linear(H, P)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.W_E[tokens]  # (batch, 2, D)
        h = torch.relu(x.flatten(1) @ self.W_in)  # (batch, H)
        return self.unembed(h)


def make_model() -> Modular:
    torch.manual_seed(0)
    return Modular()


def inputs() -> torch.Tensor:
    a = torch.arange(P)
    return torch.stack([a, (3 * a + 1) % P], 1)  # (P, 2) token pairs
"""

NS: dict[str, Any] = {}
exec(MODELS, NS)
make_model: Callable[[], Any] = NS["make_model"]
probe: Callable[[], torch.Tensor] = NS["inputs"]


def hidden(model: Any, tokens: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.relu(model.W_E[tokens].flatten(1) @ model.W_in).numpy()


def untouched(model: nn.Module) -> bool:
    hooks = all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    return hooks and torch._C._len_torch_function_stack() == 0


def test_param_site_records_the_rows_looked_up() -> None:
    model, tokens = make_model(), probe()
    cap = run_capture(model, tokens, "param:W_E", reduction="tokens", batch_size=4)
    expected = model.W_E.detach()[tokens].reshape(-1, 8).numpy()
    np.testing.assert_array_equal(cap["param:W_E"], expected)
    labels = cap.labels["param:W_E"]
    assert labels["token_id"].tolist() == tokens.reshape(-1).tolist()
    assert labels["position"].tolist() == [0, 1] * len(tokens)
    assert labels["batch_index"].tolist() == np.repeat(np.arange(len(tokens)), 2).tolist()
    first = run_capture(model, tokens, ["param:W_E"], reduction="first")["param:W_E"]
    np.testing.assert_array_equal(first, model.W_E.detach()[tokens[:, 0]].numpy())
    assert untouched(model)


def test_relu_output_is_the_input_of_the_next_module() -> None:
    model, tokens = make_model(), probe()
    cap = run_capture(model, tokens, ["param:W_E", "unembed"], hook="input", reduction="flatten")
    np.testing.assert_array_equal(cap["unembed"], hidden(model, tokens))
    # a param site ignores hook="input": it records the rows, as with hook="output"
    np.testing.assert_array_equal(cap["param:W_E"], model.W_E.detach()[tokens].flatten(1).numpy())


class Lookups(nn.Module):
    """Single-token inputs (batch,), looked up three ways, and a positional table by slice."""

    def __init__(self) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.randn(7, 3))
        self.W_pos = nn.Parameter(torch.randn(5, 3))
        self.out = nn.Linear(3, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        a = F.embedding(tokens, self.W_E)
        b = torch.index_select(self.W_E, 0, tokens)
        return self.out(a + b + self.W_pos[: len(tokens)])


def test_every_lookup_kind_and_repeated_lookups() -> None:
    model, tokens = Lookups(), torch.tensor([6, 0, 3, 3])
    cap = run_capture(model, tokens, "param:W_*")
    assert cap.clouds == ["param:W_E#0", "param:W_E#1", "param:W_pos"]
    rows = model.W_E.detach()[tokens].numpy()
    np.testing.assert_array_equal(cap["param:W_E#0"], rows)  # F.embedding
    np.testing.assert_array_equal(cap["param:W_E#1"], rows)  # index_select
    np.testing.assert_array_equal(cap["param:W_pos"], model.W_pos.detach()[:4].numpy())


def test_capture_block_trains_and_lookups_outside_forward_are_not_recorded() -> None:
    model, tokens = make_model(), probe()
    params = dict(model.named_parameters())
    with capture(model, "param:W_E", reduction="tokens") as cap:
        loss = model(tokens).logsumexp(1).mean()
        loss.backward()
        _ = model.W_E[tokens]  # outside the forward pass: not a cloud
    assert cap.n_calls == {"param:W_E": 1}
    assert model.W_E.grad is not None and model.W_E.grad.abs().sum() > 0  # gradients reach W_E
    assert dict(model.named_parameters()) == params  # the same parameter objects
    assert untouched(model)


class Failing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.randn(5, 3))
        self.fail = True

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.W_E[tokens]
        if self.fail:
            raise RuntimeError("boom")
        return x.sum(-1)


def test_lookups_stop_when_forward_raises() -> None:
    model, tokens = Failing(), torch.tensor([[1, 2], [3, 4]])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    param, forward = model.W_E, model.forward
    with (
        pytest.raises(RuntimeError, match="boom"),
        capture(model, "param:W_E", reduction="tokens") as cap,
    ):
        model(tokens)
    assert untouched(model)
    assert model.W_E is param and type(param) is nn.Parameter and model.forward == forward
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    model.fail = False
    np.testing.assert_array_equal(model(tokens).detach(), param.detach()[tokens].sum(-1))
    assert cap.n_calls == {"param:W_E": 1}  # the later lookup was not recorded
    with pytest.raises(RuntimeError, match="boom"):
        model.fail = True
        run_capture(model, tokens, "param:W_E", reduction="tokens")
    assert untouched(model)


def test_errors_say_how_to_reach_sites_without_a_module() -> None:
    model = make_model()
    with pytest.raises(SiteNotFoundError) as err:
        resolve_sites(model, ["unembed", "relu"])
    message = str(err.value)
    assert "closest module names: 'unembed'" in message
    for words in ("[capture] layers", "layers=", "'param:W_E'", "hook='input'", "nn.ReLU()"):
        assert words in message
    with pytest.raises(SiteNotFoundError, match=r"is a parameter.*name the site 'param:W_E'"):
        resolve_sites(model, "W_E")
    with pytest.raises(SiteNotFoundError, match=r"matches no parameter.*closest: 'param:W_E'"):
        resolve_sites(model, "param:W_EE")
    with pytest.raises(CaptureError, match=r"'param:W_in' never fired.*derived tensor"):
        run_capture(model, probe(), "param:W_in")  # used in a product, never indexed
    assert untouched(model)


def test_from_a_config_run_by_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "ckpt").mkdir()
    torch.save(make_model().state_dict(), tmp_path / "ckpt" / "step_0.pt")
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        textwrap.dedent(
            """
            [model]
            factory = "models.py:make_model"
            checkpoints = "ckpt/*.pt"
            [inputs]
            factory = "models.py:inputs"
            [capture]
            layers = ["param:W_E", "unembed"]
            hook = "input"
            reduction = "flatten"
            [homology]
            maxdim = 1
            [significance]
            method = "none"
            [execution]
            executor = "serial"
            cache = false
            """
        )
    )
    config = load_config(cfg)
    model, tokens = make_model(), probe()
    cap = run_capture(model, tokens, list(config.layers), config.capture)
    expected = {
        "param:W_E": model.W_E.detach()[tokens].flatten(1).numpy(),
        "unembed": hidden(model, tokens),
    }
    for layer, points in expected.items():
        np.testing.assert_array_equal(cap[layer], points)

    assert main(["run", str(cfg), "-o", str(tmp_path / "out"), "-q"]) == 0
    run = ti.Run(tmp_path / "out")
    assert run.layers == ("param:W_E", "unembed")
    for layer, points in expected.items():
        stored = run.diagram("step_0", layer, "raw")
        direct = ti.vietoris_rips(points, maxdim=1)
        for k in range(2):
            np.testing.assert_allclose(stored.pairs[k], direct.pairs[k], rtol=1e-6)

    (tmp_path / "bad.toml").write_text(cfg.read_text().replace('"unembed"]', '"relu"]'))
    capsys.readouterr()
    assert main(["run", str(tmp_path / "bad.toml"), "-o", str(tmp_path / "bad"), "-q"]) == 2
    printed = capsys.readouterr().err
    assert "'relu'" in printed and "[capture] layers" in printed and 'hook = "input"' in printed
