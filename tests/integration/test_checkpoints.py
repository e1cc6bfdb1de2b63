"""Finding, loading and labelling checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from tda_interp.exceptions import CheckpointError
from tda_interp.hooks import (
    checkpoint_label,
    find_checkpoints,
    load_checkpoint,
    load_state_dict,
    natural_sort_key,
)


def make_mlp(hidden: int = 8) -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key])


def test_natural_sort_key() -> None:
    names = ["step_1000.pt", "step_900.pt", "step_90.pt", "Step_95.pt", "step_0100.pt"]
    assert sorted(names, key=natural_sort_key) == [
        "step_90.pt",
        "Step_95.pt",
        "step_0100.pt",
        "step_900.pt",
        "step_1000.pt",
    ]
    # numbers with leading zeros and mixed layouts still give a total order
    assert sorted(["a_01", "a_1", "1_a"], key=natural_sort_key) == ["1_a", "a_01", "a_1"]


def test_find_checkpoints_in_directory_and_glob(tmp_path: Path) -> None:
    for step in (1000, 900, 90):
        torch.save({"w": torch.zeros(1)}, tmp_path / f"step_{step}.pt")
    save_file({"w": torch.zeros(1)}, str(tmp_path / "step_95.safetensors"))
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    (tmp_path / "sub.pt").mkdir()
    by_dir = find_checkpoints(tmp_path)
    assert [p.name for p in by_dir] == [
        "step_90.pt",
        "step_95.safetensors",
        "step_900.pt",
        "step_1000.pt",
    ]
    by_glob = find_checkpoints(str(tmp_path / "step_*.pt"))
    assert [p.name for p in by_glob] == ["step_90.pt", "step_900.pt", "step_1000.pt"]
    assert find_checkpoints(tmp_path / "step_90.pt") == [tmp_path / "step_90.pt"]


def test_find_checkpoints_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"\*\.safetensors"):
        find_checkpoints(tmp_path)
    with pytest.raises(CheckpointError, match="step_\\*"):
        find_checkpoints(str(tmp_path / "step_*.pt"))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    source = make_mlp()
    file = tmp_path / f"step_0100{suffix}"
    if suffix == ".safetensors":
        save_file(source.state_dict(), str(file))
    else:
        torch.save(source.state_dict(), file)
    state = load_state_dict(file)
    assert set(state) == set(source.state_dict())
    assert all(tensor.device.type == "cpu" for tensor in state.values())
    target = load_checkpoint(make_mlp(), file)
    assert_same_weights(source, target)
    assert checkpoint_label(file) == "step_0100"


@pytest.mark.parametrize("key", ["state_dict", "model"])
def test_wrapped_state_dict(tmp_path: Path, key: str) -> None:
    source = make_mlp()
    file = tmp_path / "ckpt.pt"
    torch.save({key: source.state_dict(), "step": 3, "lr": 0.1}, file)
    assert_same_weights(source, load_checkpoint(make_mlp(), file))


class Payload:
    """An arbitrary object: unpickling it would run code from the file."""

    def __init__(self) -> None:
        self.value = 1


def test_pickled_object_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2), "payload": Payload()}, file)
    with pytest.raises(CheckpointError, match="plain state_dict") as info:
        load_state_dict(file)
    assert str(file) in str(info.value)
    assert info.value.__cause__ is not None


def test_no_state_dict_inside(tmp_path: Path) -> None:
    file = tmp_path / "stats.pt"
    torch.save({"step": 3, "loss": 0.5}, file)
    with pytest.raises(CheckpointError, match=r"keys 2 \('step', 'loss'\)"):
        load_state_dict(file)
    torch.save([torch.zeros(1)], file)
    with pytest.raises(CheckpointError, match="got a list"):
        load_state_dict(file)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state_dict(tmp_path / "nope.pt")
    for name in ("bad.pt", "bad.safetensors"):
        (tmp_path / name).write_bytes(b"garbage")
        with pytest.raises(CheckpointError, match=name) as info:
            load_state_dict(tmp_path / name)
        assert info.value.__cause__ is not None


def test_other_architecture_lists_keys(tmp_path: Path) -> None:
    file = tmp_path / "step_5.pt"
    torch.save(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)).state_dict(), file)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(make_mlp(), file)
    message = str(info.value)
    assert str(file) in message
    assert "missing keys 2 ('2.weight', '2.bias')" in message
    assert "unexpected keys 2 ('1.weight', '1.bias')" in message
    assert "another architecture" in message
    assert "prefix" not in message


def test_shape_mismatch(tmp_path: Path) -> None:
    file = tmp_path / "wide.safetensors"
    save_file(make_mlp(hidden=16).state_dict(), str(file))
    with pytest.raises(
        CheckpointError, match=r"'0\.weight': checkpoint \(16, 4\) vs model \(8, 4\)"
    ):
        load_checkpoint(make_mlp(hidden=8), file)


def test_non_strict_loads_matching_keys(tmp_path: Path) -> None:
    source = make_mlp()
    state = source.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["2.bias"]
    file = tmp_path / "partial.pt"
    torch.save(state, file)
    with pytest.raises(CheckpointError, match="missing keys 1"):
        load_checkpoint(make_mlp(), file)
    target = make_mlp()
    assert load_checkpoint(target, file, strict=False) is target
    assert torch.equal(target.state_dict()["0.weight"], source.state_dict()["0.weight"])


def test_non_strict_with_no_matching_key(tmp_path: Path) -> None:
    file = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(2)}, file)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(make_mlp(), file, strict=False)


def test_prefix_hint(tmp_path: Path) -> None:
    file = tmp_path / "ddp.pt"
    torch.save({f"module.{k}": v for k, v in make_mlp().state_dict().items()}, file)
    with pytest.raises(CheckpointError, match=r"prefix 'module\.'"):
        load_checkpoint(make_mlp(), file)


def test_checkpoint_label() -> None:
    assert checkpoint_label("runs/a/step_0100.safetensors") == "step_0100"
    assert checkpoint_label(Path("epoch_3.pt")) == "epoch_3"
