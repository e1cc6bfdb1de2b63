"""Capturing activations from small models with temporary forward hooks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tda_interp.exceptions import (
    ActivationError,
    CaptureError,
    ConfigError,
    SiteNotFoundError,
    TdaInterpWarning,
)
from tda_interp.hooks import Capture, capture, capture_activations, run_capture
from tda_interp.options import CaptureOptions


def make_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def no_hooks(model: nn.Module) -> bool:
    return all(
        not module._forward_hooks and not module._forward_pre_hooks for module in model.modules()
    )


class Exploding(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


class TupleOut(nn.Module):
    """Returns (hidden, attention-like weights, a non-tensor), like many transformer blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, str]:
        h = self.fc(x)
        return h, h.sum(dim=1), "meta"


class WithTuple(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = TupleOut()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)[0]


class Skipping(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(4, 4)
        self.unused = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


class Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.fc(x))


class ModeProbe(nn.Module):
    """Records the train flag and grad mode seen during forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.fc(x)


def test_mlp_matches_manual_activations() -> None:
    model = make_mlp()
    x = torch.randn(10, 4)
    acts = run_capture(model, x, ["0", "1", "2"]).activations
    with torch.no_grad():
        h0 = model[0](x)
        h1 = torch.relu(h0)
        h2 = model[2](h1)
    assert list(acts) == ["0", "1", "2"]
    for site, expected in zip(["0", "1", "2"], [h0, h1, h2], strict=True):
        assert acts[site].shape == tuple(expected.shape)
        assert acts[site].dtype == np.float32
        np.testing.assert_allclose(acts[site], expected.numpy(), rtol=1e-6, atol=1e-6)


def test_capture_activations_is_a_deprecated_shim_of_run_capture() -> None:
    model = make_mlp()
    x = torch.randn(10, 4)
    with pytest.warns(
        DeprecationWarning, match=r"run_capture\(model, inputs, sites, \.\.\.\)"
    ) as w:
        acts = capture_activations(model, x, ["2", "0"], batch_size=3)
    assert [r.filename for r in w if r.category is DeprecationWarning] == [__file__]
    expected = run_capture(model, x, ["2", "0"], batch_size=3).activations
    assert type(acts) is dict and list(acts) == list(expected) == ["2", "0"]
    for site in expected:
        np.testing.assert_array_equal(acts[site], expected[site])
    # the same options, and the same defaults: NaN and Inf now raise (0.1 kept them here)
    with pytest.warns(DeprecationWarning):
        pooled = capture_activations(model, x, "0", CaptureOptions(max_points=4), seed=1)
    np.testing.assert_array_equal(
        pooled["0"], run_capture(model, x, "0", max_points=4, seed=1)["0"]
    )
    with pytest.warns(DeprecationWarning), pytest.raises(ActivationError, match="'inner'"):
        capture_activations(Head(Diverging()), torch.randn(5, 4), "inner")


def test_batches_are_concatenated_in_order() -> None:
    model = make_mlp()
    x = torch.randn(10, 4)
    full = run_capture(model, x, "*").activations
    batched = run_capture(model, x, "*", batch_size=3).activations
    for site in full:
        np.testing.assert_allclose(batched[site], full[site], rtol=1e-6, atol=1e-6)


def test_tuple_and_dict_inputs() -> None:
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: float = 0.0) -> torch.Tensor:
            return self.fc(x * scale + shift)

    model = TwoInputs()
    x, scale = torch.randn(7, 4), torch.rand(7, 1)
    with torch.no_grad():
        expected = model.fc(x * scale + 1.0).numpy()
    by_args = run_capture(model, (x, scale, 1.0), "fc", batch_size=2).activations
    by_kwargs = run_capture(
        model, {"x": x, "scale": scale, "shift": 1.0}, "fc", batch_size=4
    ).activations
    np.testing.assert_allclose(by_args["fc"], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(by_kwargs["fc"], expected, rtol=1e-6, atol=1e-6)


def test_hooks_removed_when_forward_raises() -> None:
    model = nn.Sequential(nn.Linear(4, 4), Exploding())
    with pytest.raises(RuntimeError, match="boom"), capture(model, "*"):
        model(torch.randn(2, 4))
    assert no_hooks(model)
    with pytest.raises(RuntimeError, match="boom"):
        run_capture(model, torch.randn(2, 4), "*")
    assert no_hooks(model)


def test_hooks_removed_after_normal_exit_and_capture_error() -> None:
    model = WithTuple()
    with capture(model, "block") as cap:
        model(torch.randn(2, 4))
    assert no_hooks(model)
    assert cap["block"].shape == (2, 6)
    with pytest.raises(CaptureError):
        run_capture(model, torch.randn(2, 4), "block", output_index=2)
    assert no_hooks(model)


def test_train_eval_modes_restored() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), ModeProbe(), nn.BatchNorm1d(4))
    model.train()
    model[1].eval()  # mixed: dropout in eval, the rest in train
    before = {name: module.training for name, module in model.named_modules()}
    run_capture(model, torch.randn(6, 4), ["0", "3"])
    assert model[2].seen == [(False, False)]  # eval mode and no grad during the forward pass
    assert {name: module.training for name, module in model.named_modules()} == before
    assert torch.is_grad_enabled()


def test_train_eval_modes_restored_on_exception() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), Exploding())
    model[0].train()
    model[1].eval()
    model[2].train()
    before = {name: module.training for name, module in model.named_modules()}
    with pytest.raises(RuntimeError, match="boom"):
        run_capture(model, torch.randn(2, 4), "0")
    assert {name: module.training for name, module in model.named_modules()} == before


def test_context_manager_leaves_modes_and_grad_to_caller() -> None:
    model = nn.Sequential(ModeProbe())
    model.train()
    with capture(model, "0") as cap:
        out = model(torch.randn(3, 4))
    assert model[0].seen == [(True, True)]
    assert out.requires_grad
    stored = cap["0"]
    assert isinstance(stored, np.ndarray)
    assert stored.shape == (3, 4)


def test_context_manager_appends_each_call() -> None:
    model = make_mlp()
    with capture(model, "2") as cap, torch.no_grad():
        model(torch.randn(5, 4))
        model(torch.randn(2, 4))
    assert cap.n_calls == {"2": 2}
    assert cap.activations["2"].shape == (7, 3)
    assert cap.sites == ["2"]
    assert isinstance(cap, Capture)


def test_stored_arrays_are_copies() -> None:
    # An in-place ReLU after the Linear must not change what was captured from the Linear.
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True))
    x = torch.randn(20, 4)
    with torch.no_grad():
        expected = model[0](x).numpy().copy()
    acts = run_capture(model, x, "0").activations
    np.testing.assert_allclose(acts["0"], expected, rtol=1e-6, atol=1e-6)
    assert (acts["0"] < 0).any()


def test_selection_by_glob_list_and_predicate() -> None:
    model = make_mlp()
    x = torch.randn(3, 4)
    assert list(run_capture(model, x, "*").activations) == ["0", "1", "2"]
    assert list(run_capture(model, x, ["2", "0"]).activations) == ["2", "0"]
    linear = run_capture(model, x, lambda name, module: isinstance(module, nn.Linear)).activations
    assert list(linear) == ["0", "2"]


def test_misspelled_site_lists_close_name() -> None:
    model = WithTuple()
    with pytest.raises(SiteNotFoundError, match=r"'block\.fc'"):
        run_capture(model, torch.randn(2, 4), "block.fcc")
    assert no_hooks(model)


def test_getitem_with_wrong_key_lists_close_names() -> None:
    model = make_mlp()
    with capture(model, ["0", "2"]) as cap, torch.no_grad():
        model(torch.randn(2, 4))
    with pytest.raises(SiteNotFoundError, match="'2'"):
        cap["22"]
    assert "0" in cap
    assert len(cap) == 2


def test_tuple_output_with_output_index() -> None:
    model = WithTuple()
    x = torch.randn(5, 4)
    with torch.no_grad():
        hidden = model.block.fc(x)
    first = run_capture(model, x, "block").activations
    second = run_capture(model, x, "block", output_index=1).activations
    np.testing.assert_allclose(first["block"], hidden.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        second["block"], hidden.sum(dim=1, keepdim=True).numpy(), rtol=1e-5, atol=1e-5
    )


def test_non_tensor_output_raises_capture_error() -> None:
    model = WithTuple()
    with pytest.raises(CaptureError, match=r"'block'.*got str"):
        run_capture(model, torch.randn(2, 4), "block", output_index=2)
    with pytest.raises(CaptureError, match="out of range"):
        run_capture(model, torch.randn(2, 4), "block", output_index=5)


def test_site_that_never_fires() -> None:
    model = Skipping()
    with pytest.raises(CaptureError, match="'unused' never fired"):
        run_capture(model, torch.randn(2, 4), ["used", "unused"])
    with capture(model, ["used", "unused"]) as cap:
        model(torch.randn(2, 4))
    assert cap["used"].shape == (2, 4)
    with pytest.raises(CaptureError, match="'unused' never fired"):
        cap.activations  # noqa: B018
    # as a mapping, only the clouds that exist: a site that never fired is not one
    assert len(cap) == 1 and list(cap) == ["used"] and "unused" not in cap
    with pytest.raises(SiteNotFoundError, match="'unused' never fired") as info:
        cap["unused"]
    assert isinstance(info.value, KeyError)


def test_site_that_fires_twice_per_forward_keeps_each_call() -> None:
    model = Reused()
    x = torch.randn(5, 4)
    with torch.no_grad():
        first = model.fc(x)
        second = model.fc(first)
    cap = run_capture(model, x, "fc", batch_size=2)
    assert cap.clouds == ["fc#0", "fc#1"]
    np.testing.assert_allclose(cap["fc#0"], first.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cap["fc#1"], second.numpy(), rtol=1e-6, atol=1e-6)
    assert cap.labels["fc#1"]["call"].tolist() == [1] * 5
    assert cap.labels["fc#1"]["batch_index"].tolist() == [0, 1, 2, 3, 4]
    assert cap.n_calls == {"fc": 6}  # 3 passes, 2 calls each
    assert list(run_capture(model, x, "fc").activations) == ["fc#0", "fc#1"]
    with pytest.raises(SiteNotFoundError, match=r"'fc#0', 'fc#1'") as info:
        cap["fc"]
    assert isinstance(info.value, KeyError)
    assert no_hooks(model)


def test_capture_is_a_mapping_of_clouds_for_a_module_called_twice() -> None:
    """len, iteration, ``in`` and ``[]`` all speak of clouds (``fc#0``, ``fc#1``), never of
    the site called twice per pass, so the capture converts like any mapping."""
    model = Reused()
    x = torch.randn(5, 4)
    with torch.no_grad():
        first = model.fc(x)
        second = model.fc(first)
    for cap in (run_capture(model, x, "fc", batch_size=2), _captured_in_block(model, x)):
        assert len(cap) == 2 == len(cap.clouds)
        assert list(cap) == cap.clouds == ["fc#0", "fc#1"]
        assert "fc#0" in cap and "fc#1" in cap
        assert "fc" not in cap and "fc#2" not in cap
        as_dict = {k: cap[k] for k in cap}
        assert list(as_dict) == list(dict(cap)) == list(cap.keys()) == list(cap.activations)
        np.testing.assert_allclose(as_dict["fc#0"], first.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(as_dict["fc#1"], second.numpy(), rtol=1e-6, atol=1e-6)
        for cloud, points in cap.items():
            np.testing.assert_array_equal(points, cap.activations[cloud])
        assert cap.get("fc") is None  # the site's name is a missing key, as in any mapping
        with pytest.raises(KeyError, match=r"'fc#0', 'fc#1'"):
            cap["fc"]
    assert no_hooks(model)


def _captured_in_block(model: nn.Module, x: torch.Tensor) -> Capture:
    with capture(model, "fc") as cap, torch.no_grad():
        model(x[:2])
        model(x[2:])
    return cap


def test_sequence_model_needs_reduction() -> None:
    model = nn.Sequential(nn.Embedding(10, 6), nn.Linear(6, 6))
    tokens = torch.randint(0, 10, (4, 5))
    with pytest.raises(ActivationError, match=r"'1'.*\(4, 5, 6\).*reduction='flatten'"):
        run_capture(model, tokens, "1")
    assert no_hooks(model)
    acts = run_capture(model, tokens, "*", reduction="mean").activations
    assert acts["0"].shape == (4, 6)
    flat = run_capture(model, tokens, "1", reduction="flatten").activations
    assert flat["1"].shape == (4, 30)
    last = run_capture(model, tokens, "1", reduction=-1).activations
    np.testing.assert_allclose(last["1"], flat["1"][:, -6:], rtol=1e-6)


def test_flatten_with_varying_lengths_across_batches() -> None:
    model = nn.Sequential(nn.Embedding(10, 2))
    with capture(model, "0", reduction="flatten") as cap:
        model(torch.randint(0, 10, (2, 3)))
        model(torch.randint(0, 10, (2, 4)))
    with pytest.raises(ActivationError, match="different numbers of features"):
        cap["0"]


def test_non_float_outputs_become_float32() -> None:
    class Double(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.double() * 2

    acts = run_capture(nn.Sequential(Double()), torch.ones(3, 2), "0").activations
    assert acts["0"].dtype == np.float32
    np.testing.assert_array_equal(acts["0"], np.full((3, 2), 2, dtype=np.float32))


def test_rows_not_matching_batch_warn() -> None:
    class TokensFlat(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(-1, 2)

    with pytest.warns(TdaInterpWarning, match="gave 6 rows for a batch of 3"):
        run_capture(nn.Sequential(TokensFlat()), torch.ones(3, 4), "0")


@pytest.mark.parametrize(
    ("inputs", "kwargs", "match"),
    [
        ([torch.ones(2, 4)], {}, "Expected inputs as a Tensor"),
        ((torch.ones(2, 4), torch.ones(3, 1)), {}, "same size along dim 0"),
        (torch.ones(0, 4), {}, "at least one input row"),
        (torch.ones(2, 4), {"batch_size": 0}, "batch_size"),
        (torch.ones(2, 4), {"reduction": "max"}, "reduction"),
    ],
)
def test_bad_arguments(inputs: object, kwargs: dict[str, object], match: str) -> None:
    model = make_mlp()
    with pytest.raises(ConfigError, match=match):
        run_capture(model, inputs, "0", **kwargs)  # type: ignore[arg-type]
    assert no_hooks(model)


class Diverging(nn.Module):
    """Row 1 of every batch becomes NaN, row 2 +inf."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x).clone()
        h[1, 0] = float("nan")
        h[2, 1] = float("inf")
        return h


class Head(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_nonfinite_raises_naming_site_and_checkpoint(tmp_path: Path) -> None:
    from tda_interp.pipeline import run_pipeline

    model = Head(Diverging())
    message = r"Site 'inner' gave NaN or Inf activations in 2 of 5 points"
    with pytest.raises(ActivationError, match=f"^{message}"):  # the default: raise
        run_capture(model, torch.randn(5, 4), "inner")
    assert no_hooks(model)
    # capture no longer knows checkpoints: the argument is refused, not ignored ...
    with pytest.raises(ConfigError, match="'checkpoint'"):
        run_capture(model, torch.randn(5, 4), "inner", checkpoint="step_100")
    assert no_hooks(model)
    # ... a run names the checkpoint, in front of the capture's message
    ckpt = tmp_path / "step_100.pt"
    torch.save(model.state_dict(), ckpt)
    with pytest.raises(ActivationError, match=f"^checkpoint 'step_100': {message}"):
        run_pipeline(model, ckpt, torch.randn(5, 4), tmp_path / "run", layers=["inner"])
    assert no_hooks(model)
    with pytest.raises(ActivationError, match=r"'inner' gave NaN or Inf.*nonfinite=\"drop\""):
        run_capture(model, torch.randn(5, 4), "inner", nonfinite="raise")
    kept = run_capture(model, torch.randn(5, 4), "inner", nonfinite="keep").activations
    assert np.isnan(kept["inner"][1, 0])
    assert np.isinf(kept["inner"][2, 1])


def test_nonfinite_drop_warns_and_keeps_finite_rows() -> None:
    model = Head(Diverging())
    x = torch.randn(5, 4)
    with pytest.warns(TdaInterpWarning, match=r"Dropped 2 points .* from 'inner'"):
        cap = run_capture(model, x, "inner", nonfinite="drop")
    with torch.no_grad():
        expected = model.inner.fc(x).numpy()[[0, 3, 4]]
    np.testing.assert_allclose(cap["inner"], expected, rtol=1e-6, atol=1e-6)
    assert cap.labels["inner"]["batch_index"].tolist() == [0, 3, 4]
    assert cap.n_seen == {"inner": 5}
    assert cap.n_dropped == {"inner": 2}
    assert no_hooks(model)
    with pytest.warns(TdaInterpWarning, match="Dropped 2 points"):  # the context manager too
        with capture(model, "inner", nonfinite="drop") as cap2, torch.no_grad():
            model(x)
    assert cap2["inner"].shape == (3, 3)


def test_zero_and_one_point() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4))
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(ActivationError, match="'1' has no points"):
        run_capture(model, ids, "1", reduction="tokens", attention_mask=torch.zeros(1, 3))
    assert no_hooks(model)
    with pytest.warns(TdaInterpWarning, match="'1' has a single point"):
        acts = run_capture(model, ids, "1", reduction="last").activations
    assert acts["1"].shape == (1, 4)


def test_empty_probe_set_and_bad_options() -> None:
    model = make_mlp()
    with pytest.raises(ConfigError, match="empty probe set"):
        run_capture(model, torch.ones(0, 4), "0")
    with pytest.raises(ConfigError, match="at least one input tensor"):
        run_capture(model, {}, "0")
    for options, match in [
        ({"hook": "grad"}, "hook"),
        ({"nonfinite": "ignore"}, "nonfinite"),
        ({"max_points": 0}, "max_points"),
        ({"dtype": "float64"}, "dtype"),
        ({"storage": "memmap"}, "storage_dir"),
        ({"attention_mask": torch.ones(3, 2)}, r"attention_mask of shape \(n_inputs, seq\)"),
    ]:
        with pytest.raises(ConfigError, match=match):
            run_capture(model, torch.ones(2, 4), "0", **options)
        assert no_hooks(model)


def test_input_hook_with_args_and_kwargs() -> None:
    class Scaled(nn.Module):
        def forward(self, x: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
            return x * scale

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.scaled = Scaled()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scaled(self.fc(x), scale=torch.full((x.shape[0], 1), 2.0))

    model = Outer()
    x = torch.randn(6, 4)
    with torch.no_grad():
        h = model.fc(x).numpy()
    got = run_capture(model, x, ["fc", "scaled"], hook="input", batch_size=4).activations
    np.testing.assert_allclose(got["fc"], x.numpy(), rtol=1e-6)
    np.testing.assert_allclose(got["scaled"], h, rtol=1e-6, atol=1e-6)
    scale = run_capture(model, x, "scaled", hook="input", output_index="scale").activations
    np.testing.assert_array_equal(scale["scaled"], np.full((6, 1), 2.0, dtype=np.float32))
    with pytest.raises(CaptureError, match=r"input of site 'scaled'.*'scale'"):
        run_capture(model, x, "scaled", hook="input", output_index="shift")
    assert no_hooks(model)


def test_select_by_module_type() -> None:
    model = make_mlp()
    acts = run_capture(model, torch.randn(3, 4), nn.Linear).activations
    assert list(acts) == ["0", "2"]
    assert list(run_capture(model, torch.randn(3, 4), (nn.ReLU,)).activations) == ["1"]


def test_float16_storage_and_overflow() -> None:
    model = make_mlp()
    x = torch.randn(8, 4)
    full = run_capture(model, x, "0").activations
    half = run_capture(model, x, "0", dtype="float16").activations
    assert half["0"].dtype == np.float16
    np.testing.assert_allclose(half["0"], full["0"], rtol=1e-3, atol=1e-3)
    with pytest.raises(ActivationError, match=r"float16 range.*dtype='float32'"):
        run_capture(model, x * 1e6, "0", dtype="float16")


def test_max_points_reservoir_is_seeded_and_keeps_labels() -> None:
    model = make_mlp()
    x = torch.randn(50, 4)
    full = run_capture(model, x, "0").activations["0"]
    a = run_capture(model, x, "0", max_points=10, seed=3, batch_size=7)
    b = run_capture(model, x, "0", max_points=10, seed=3, batch_size=7)
    c = run_capture(model, x, "0", max_points=10, seed=4, batch_size=7)
    rows = a.labels["0"]["batch_index"]
    assert a["0"].shape == (10, 8)
    assert rows.tolist() == sorted(set(rows.tolist()))  # distinct, in input order
    np.testing.assert_allclose(a["0"], full[rows], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a["0"], b["0"])
    assert rows.tolist() != c.labels["0"]["batch_index"].tolist()
    assert a.n_seen == {"0": 50}


def test_memmap_storage_roundtrip(tmp_path: Path) -> None:
    model = make_mlp()
    x = torch.randn(20, 4)
    full = run_capture(model, x, "*").activations
    cap = run_capture(model, x, "*", storage="memmap", storage_dir=tmp_path, batch_size=6)
    for site in full:
        assert isinstance(cap[site], np.memmap)
        np.testing.assert_allclose(cap[site], full[site], rtol=1e-6, atol=1e-6)
    assert cap.labels["2"]["batch_index"].tolist() == list(range(20))
    assert sorted(path.name for path in tmp_path.iterdir())[:2] == [
        "0.batch_index.int64",
        "0.call.int64",
    ]
    sampled = run_capture(
        model, x, "2", storage="memmap", storage_dir=tmp_path / "s", max_points=5, batch_size=6
    )
    rows = sampled.labels["2"]["batch_index"]
    assert isinstance(sampled["2"], np.memmap)
    np.testing.assert_allclose(sampled["2"], full["2"][rows], rtol=1e-6, atol=1e-6)


def test_labels_frame_and_token_ids_from_dict_inputs() -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 3)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.embed(input_ids)

    model = Tokens()
    ids = torch.tensor([[5, 6, 0], [7, 0, 0]])
    inputs = {"input_ids": ids, "attention_mask": (ids > 0).long()}
    cap = run_capture(model, inputs, "embed", reduction="tokens", batch_size=1)
    frame = cap.label_frame("embed")
    assert frame["token_id"].tolist() == [5, 6, 7]
    assert frame["batch_index"].tolist() == [0, 0, 1]
    assert frame["position"].tolist() == [0, 1, 0]
    np.testing.assert_allclose(
        cap["embed"], model.embed.weight.detach().numpy()[[5, 6, 7]], rtol=1e-6
    )
    last = run_capture(model, inputs, "embed", reduction="last")
    assert last.labels["embed"]["token_id"].tolist() == [6, 7]
    unmasked = run_capture(model, inputs, "embed", reduction="tokens", attention_mask=None)
    assert len(unmasked["embed"]) == 6
