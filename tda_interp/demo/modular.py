"""Modular addition, the classic grokking task (Nanda et al. 2023, "Progress measures for
grokking via mechanistic interpretability"), small enough to train on a CPU in about a minute.

The model embeds ``a`` and ``b`` (``p`` tokens, ``d_embed`` wide), concatenates the two
embeddings, and maps them through one ReLU layer to ``p`` logits for ``(a + b) mod p``. Trained
full-batch with AdamW and weight decay 1.0 on half of the ``p**2`` pairs, it first memorises,
then generalises; as it does, its token embeddings organise into circles, one per key Fourier
frequency, visible in pairs of principal components.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from tda_interp.exceptions import ConfigError

__all__ = [
    "METRIC_NAMES",
    "ModularMLP",
    "check_interval",
    "evaluate",
    "make_model",
    "modular_dataset",
    "probe_inputs",
    "train",
]

#: The metrics :func:`evaluate` measures (and the demo logs into its run).
METRIC_NAMES = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")

P = 59
D_EMBED = 128
D_HIDDEN = 256


class ModularMLP(nn.Module):
    """Embedding -> concatenation -> Linear + ReLU -> logits.

    Parameters
    ----------
    p : int, default 59
        Modulus and vocabulary size.
    d_embed : int, default 128
        Embedding width.
    d_hidden : int, default 256
        Hidden width.

    Notes
    -----
    Module paths for capture: ``"embed"`` (output of shape (batch, 2, d_embed)), ``"mlp"``
    (hidden activations after the ReLU, (batch, d_hidden)) and ``"unembed"`` (logits).
    """

    def __init__(self, p: int = P, d_embed: int = D_EMBED, d_hidden: int = D_HIDDEN) -> None:
        super().__init__()
        self.embed = nn.Embedding(p, d_embed)
        self.mlp = nn.Sequential(nn.Linear(2 * d_embed, d_hidden), nn.ReLU())
        self.unembed = nn.Linear(d_hidden, p)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, p) for ``pairs`` of shape (batch, 2)."""
        return self.unembed(self.mlp(self.embed(pairs).flatten(1)))


def make_model() -> ModularMLP:
    """The demo architecture with its default sizes (a factory for configs)."""
    return ModularMLP()


def probe_inputs(p: int = P) -> torch.Tensor:
    """One probe per token: the pairs ``(a, 0)`` for ``a = 0 .. p-1``, shape (p, 2).

    With ``reduction="flatten"`` the ``embed`` site gives ``[e_a, e_0]``, an isometric copy of
    the embedding ``e_a`` (the constant half only translates the cloud).
    """
    a = torch.arange(p)
    return torch.stack([a, torch.zeros_like(a)], dim=1)


def modular_dataset(
    p: int = P, *, train_fraction: float = 0.5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All ``p**2`` pairs split at random into train and test.

    Returns
    -------
    x_train : Tensor of shape (n_train, 2)
    y_train : Tensor of shape (n_train,)
    x_test : Tensor of shape (n_test, 2)
    y_test : Tensor of shape (n_test,)
    """
    pairs = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    labels = (pairs[:, 0] + pairs[:, 1]) % p
    perm = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    cut = int(train_fraction * len(pairs))
    tr, te = perm[:cut], perm[cut:]
    return pairs[tr], labels[tr], pairs[te], labels[te]


def check_interval(value: object, name: str = "metrics_every") -> int:
    """``value`` if it is an int >= 1, else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"Expected {name} to be an int >= 1 (steps between two evaluations), got {value!r}.",
            key=name,
            expected="an int >= 1",
            received=repr(value),
        )
    return value


def evaluate(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
) -> dict[str, float]:
    """Loss and accuracy on the train and test pairs, without gradients, in eval mode.

    The model's train/eval flag is restored; nothing random is drawn, so training continues
    exactly as without the evaluation.

    Returns
    -------
    dict
        ``train_loss``, ``train_accuracy``, ``test_loss`` and ``test_accuracy``
        (:data:`METRIC_NAMES`); losses are mean cross-entropies, accuracies fractions.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> x_tr, y_tr, x_te, y_te = modular_dataset(7)
    >>> m = evaluate(ModularMLP(p=7, d_embed=8, d_hidden=16), x_tr, y_tr, x_te, y_te)
    >>> sorted(m) == sorted(METRIC_NAMES), 0.0 <= m["test_accuracy"] <= 1.0
    (True, True)
    """
    was_training = model.training
    out: dict[str, float] = {}
    with torch.no_grad():
        model.eval()
        try:
            for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
                logits = model(x)
                out[f"{split}_loss"] = nn.functional.cross_entropy(logits, y).item()
                out[f"{split}_accuracy"] = (logits.argmax(1) == y).float().mean().item()
        finally:
            model.train(was_training)
    return out


def train(
    out_dir: str | os.PathLike[str],
    *,
    steps: int = 3000,
    every: int = 250,
    seed: int = 0,
    lr: float = 3e-3,
    weight_decay: float = 1.0,
    p: int = P,
    on_step: Callable[[int, float, float], None] | None = None,
    on_metrics: Callable[[int, dict[str, float]], None] | None = None,
    metrics_every: int | None = None,
) -> list[Path]:
    """Train a :class:`ModularMLP` from scratch and save checkpoints along the way.

    Parameters
    ----------
    out_dir : path
        Folder for ``step_<NNNNN>.safetensors`` checkpoints (created).
    steps : int, default 3000
        Full-batch AdamW steps.
    every : int, default 250
        Checkpoint interval; step 0 (the untrained null model) and the last step are always saved.
    seed : int, default 0
        Seeds initialisation and the train/test split; the run is deterministic on CPU.
    lr, weight_decay : float
        AdamW parameters.
    p : int, default 59
    on_step : callable, optional
        ``on_step(step, train_loss, test_accuracy)`` after every checkpoint.
    on_metrics : callable, optional
        ``on_metrics(step, metrics)`` with the dict of :func:`evaluate`, of the model at
        ``step`` (before that step's update), at every checkpoint and every ``metrics_every``
        steps. Evaluating draws nothing random and leaves the weights bit-identical.
    metrics_every : int, optional
        Interval of ``on_metrics`` between checkpoints; default ``every``.

    Returns
    -------
    list of Path
        The checkpoint files in step order.
    """
    metrics_every = check_interval(every if metrics_every is None else metrics_every)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = ModularMLP(p=p)
    x_tr, y_tr, x_te, y_te = modular_dataset(p, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    width = max(5, len(str(steps)))
    saved: list[Path] = []
    for step in range(steps + 1):
        checkpoint = step % every == 0 or step == steps
        metrics = None
        if on_metrics is not None and (checkpoint or step % metrics_every == 0):
            metrics = evaluate(model, x_tr, y_tr, x_te, y_te)
            on_metrics(step, metrics)
        if checkpoint:
            path = out / f"step_{step:0{width}d}.safetensors"
            state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(path), metadata={"step": str(step), "task": f"a+b mod {p}"})
            saved.append(path)
            if on_step is not None:
                metrics = metrics or evaluate(model, x_tr, y_tr, x_te, y_te)
                on_step(step, metrics["train_loss"], metrics["test_accuracy"])
        if step == steps:
            break
        train_loss = nn.functional.cross_entropy(model(x_tr), y_tr)
        opt.zero_grad(set_to_none=True)
        train_loss.backward()
        opt.step()
    return saved
