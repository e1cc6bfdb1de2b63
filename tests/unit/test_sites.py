"""Site selection: exact names, globs, lists, predicates and helpful errors."""

from __future__ import annotations

import pytest
from torch import nn

from tda_interp.exceptions import ConfigError, SiteNotFoundError
from tda_interp.hooks import resolve_sites
from tda_interp.hooks.sites import close_names


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.Linear(4, 4)
        self.output = nn.Linear(4, 4)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.ModuleList([Block() for _ in range(3)])


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 4)
        self.encoder = Encoder()
        self.head = nn.Linear(4, 2)


@pytest.fixture
def model() -> nn.Module:
    return Model()


def test_exact_name(model: nn.Module) -> None:
    assert resolve_sites(model, "encoder.layer.1.output") == ["encoder.layer.1.output"]


def test_glob_keeps_named_modules_order(model: nn.Module) -> None:
    assert resolve_sites(model, "encoder.layer.*.output") == [
        "encoder.layer.0.output",
        "encoder.layer.1.output",
        "encoder.layer.2.output",
    ]


def test_root_module_is_never_a_site(model: nn.Module) -> None:
    names = resolve_sites(model, "**")
    assert "" not in names
    assert names == [name for name, _ in model.named_modules() if name]


def test_star_stays_within_one_segment(model: nn.Module) -> None:
    # "*" is one dotted segment, as in the "encoder.layer.*.output"; "**" crosses dots
    assert resolve_sites(model, "*") == [name for name, _ in model.named_children()]
    deep = resolve_sites(model, "encoder.**")
    assert "encoder.layer.0.output" in deep and "encoder.layer" in deep


def test_glob_does_not_match_nested_modules_of_the_same_name() -> None:
    bert_like = nn.ModuleDict(
        {
            "layer": nn.ModuleList(
                nn.ModuleDict(
                    {
                        "attention": nn.ModuleDict({"output": nn.Linear(2, 2)}),
                        "output": nn.Linear(2, 2),
                    }
                )
                for _ in range(2)
            )
        }
    )
    assert resolve_sites(bert_like, "layer.*.output") == ["layer.0.output", "layer.1.output"]
    assert resolve_sites(bert_like, "layer.**.output") == [
        "layer.0.attention.output",
        "layer.0.output",
        "layer.1.attention.output",
        "layer.1.output",
    ]
    assert resolve_sites(bert_like, "layer.[!0].output") == ["layer.1.output"]


def test_list_keeps_user_order_and_drops_duplicates(model: nn.Module) -> None:
    sites = ["head", "encoder.layer.*.attn", "embed", "head", "encoder.layer.0.attn"]
    assert resolve_sites(model, sites) == [
        "head",
        "encoder.layer.0.attn",
        "encoder.layer.1.attn",
        "encoder.layer.2.attn",
        "embed",
    ]


def test_predicate(model: nn.Module) -> None:
    selected = resolve_sites(model, lambda name, module: isinstance(module, Block))
    assert selected == ["encoder.layer.0", "encoder.layer.1", "encoder.layer.2"]


def test_misspelled_name_lists_close_real_name(model: nn.Module) -> None:
    with pytest.raises(SiteNotFoundError) as info:
        resolve_sites(model, "encoder.layer.1.outptu")
    message = str(info.value)
    assert "'encoder.layer.1.output'" in message
    assert "named_modules()" in message


def test_unmatched_glob_in_list_raises(model: nn.Module) -> None:
    with pytest.raises(SiteNotFoundError, match=r"encoder\.layers"):
        resolve_sites(model, ["head", "encoder.layers.*.output"])


def test_site_not_found_is_lookup_error(model: nn.Module) -> None:
    with pytest.raises(LookupError):
        resolve_sites(model, "nope")


def test_site_not_found_is_key_error_with_a_plain_message(model: nn.Module) -> None:
    # a KeyError, as a mapping raises, but its text is not repr()-quoted like a KeyError's
    with pytest.raises(KeyError) as info:
        resolve_sites(model, "nope")
    assert isinstance(info.value, SiteNotFoundError)
    assert str(info.value) == info.value.args[0]
    assert "'nope'" in str(info.value)


def test_predicate_selecting_nothing(model: nn.Module) -> None:
    with pytest.raises(SiteNotFoundError, match="selected no module"):
        resolve_sites(model, lambda name, module: False)


def test_empty_list_and_bad_types(model: nn.Module) -> None:
    with pytest.raises(ConfigError, match="at least one site"):
        resolve_sites(model, [])
    with pytest.raises(ConfigError, match="sites as a str"):
        resolve_sites(model, 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="every site to be a str"):
        resolve_sites(model, ["head", 3])  # type: ignore[list-item]


def test_model_without_submodules() -> None:
    with pytest.raises(SiteNotFoundError, match="no submodules"):
        resolve_sites(nn.Linear(2, 2), "weight")


def test_close_names_falls_back_to_first_names() -> None:
    names = [f"layer{i}" for i in range(10)]
    assert close_names("zzzzzz", names) == names[:5]
    assert close_names("layer3", names)[0] == "layer3"
    assert close_names("mlp", ["blocks.0.mlp", "blocks.0.attn"]) == ["blocks.0.mlp"]


def test_module_types(model: nn.Module) -> None:
    assert resolve_sites(model, Block) == ["encoder.layer.0", "encoder.layer.1", "encoder.layer.2"]
    assert resolve_sites(model, (Block, Encoder)) == ["encoder"] + [
        f"encoder.layer.{i}" for i in range(3)
    ]
    assert resolve_sites(model, ["head", Encoder]) == ["head", "encoder"]
    with pytest.raises(SiteNotFoundError, match=r"instance of Conv2d; its module types .*Block"):
        resolve_sites(model, nn.Conv2d)
