"""Peak memory of streaming capture: every token of MiniLM's 7 hidden states, 100,352 tokens.

That is 100,352 x 7 x 384 float32 = 1.0 GiB of activations. With ``storage="memmap"`` they are
appended to files batch by batch, so peak RSS should rise by less than 300 MiB over the same
forward loop without capture. Each variant runs in its own child process, which reports
``resource.getrusage(RUSAGE_SELF).ru_maxrss``; the memmap child first checks its last batch
against ``output_hidden_states``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

BATCHES, BATCH, SEQ = 49, 32, 64  # 100,352 tokens
SITES = ["embeddings", *(f"encoder.layer.{i}" for i in range(6))]
TARGET_MIB = 300


def child(variant: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_capture import load_minilm

    from tda_interp.hooks import capture

    model = load_minilm()
    gen = torch.Generator().manual_seed(0)

    def batches():  # type: ignore[no-untyped-def]
        for _ in range(BATCHES):
            yield torch.randint(1000, 30000, (BATCH, SEQ), generator=gen)

    check = ""
    with torch.no_grad():
        if variant == "plain":
            for ids in batches():
                model(input_ids=ids)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                with capture(
                    model, SITES, reduction="tokens", storage="memmap", storage_dir=tmp
                ) as cap:
                    for ids in batches():
                        model(input_ids=ids)
                acts = cap.activations
                hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
                for i, site in enumerate(SITES):
                    expect = hidden[i].reshape(-1, hidden[i].shape[-1]).numpy()
                    got = np.asarray(acts[site][-len(expect) :])
                    if acts[site].shape != (BATCHES * BATCH * SEQ, 384):
                        raise SystemExit(f"{site}: shape {acts[site].shape}")
                    if not np.array_equal(got, expect):
                        raise SystemExit(f"{site}: last batch differs from hidden_states[{i}]")
                stored = sum(a.nbytes for a in acts.values()) / 2**20
                check = f"{stored:.0f} MiB on disk, last batch == hidden_states"
                del acts, cap
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"peak_mib": peak_kib / 1024, "check": check}))


def run(variant: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"{variant} child failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    plain = run("plain")
    memmap = run("memmap")
    rise = float(memmap["peak_mib"]) - float(plain["peak_mib"])  # type: ignore[arg-type]
    print(f"MiniLM-L6, {BATCHES * BATCH * SEQ} tokens x {len(SITES)} sites, every token kept "
          f"({memmap['check']})")  # fmt: skip
    print(f"peak RSS: forward only {plain['peak_mib']:.0f} MiB, with memmap capture "
          f"{memmap['peak_mib']:.0f} MiB: +{rise:.0f} MiB "
          f"({'under' if rise < TARGET_MIB else 'OVER'} the {TARGET_MIB} MiB target)")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
