"""Shared plumbing of the examples: argument parsing, output folders, running a config through
the library's command line, reading summaries back and printing the verdict.

Nothing here computes topology: every diagram of an example comes from ``tda-interp run`` on
the config the example writes next to its outputs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from tda_interp.cli import main as cli_main
from tda_interp.store import Run

# The models are small: one thread is as fast as two on an idle machine, and on cores shared
# with other jobs two OpenMP threads spin against each other (measured: 8x slower per step).
torch.set_num_threads(int(os.environ.get("EXAMPLES_TORCH_THREADS", "1")))

#: Where the examples write by default: ``runs/`` is ignored by git.
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "runs" / "examples"
BUDGETS = ("full", "quick")


def parse_args(name: str, doc: str | None, argv: list[str] | None = None) -> argparse.Namespace:
    """``--quick`` (the small budget) and ``-o OUT`` (default ``runs/examples/<name>``)."""
    parser = argparse.ArgumentParser(
        description=(doc or "").strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small budget (about a minute)")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_ROOT / name, help="output folder")
    return parser.parse_args(argv)


def fresh_dir(path: Path, ours: tuple[str, ...]) -> Path:
    """Make ``path`` and remove what an earlier run of the example wrote there (only ``ours``)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ours:
        target = path / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    return path


def save_state(model: torch.nn.Module, path: Path) -> None:
    """A state-dict checkpoint the pipeline loads with ``weights_only=True``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, path)


def run_config(config: Path, run_dir: Path) -> Run:
    """``tda-interp run CONFIG -o RUN_DIR --overwrite -q``; raises on a nonzero exit."""
    code = cli_main(["run", str(config), "-o", str(run_dir), "--overwrite", "-q"])
    if code != 0:
        raise SystemExit(f"tda-interp run {config} failed with exit code {code}")
    return Run(run_dir)


def report(*args: str) -> None:
    """``tda-interp report ...``; raises on a nonzero exit."""
    code = cli_main(["report", *args])
    if code != 0:
        raise SystemExit(f"tda-interp report {' '.join(args)} failed with exit code {code}")


def betti(df: pd.DataFrame, checkpoint: str, layer: str, view: str) -> tuple[int, ...]:
    """Significant Betti numbers ``(b0, b1, ...)`` of one result (H0: clusters)."""
    rows = df[(df["checkpoint"] == checkpoint) & (df["layer"] == layer) & (df["view"] == view)]
    if rows.empty:
        raise KeyError(f"no result for {checkpoint=} {layer=} {view=}")
    return tuple(int(v) for v in rows.sort_values("dim")["betti_significant"])


def finish(ok: bool, message: str, started: float) -> int:
    """Print the verdict line last and return the exit code (0 on PASS)."""
    print(f"(took {time.perf_counter() - started:.1f} s)")
    print(f"{'PASS' if ok else 'FAIL'}: {message}")
    sys.stdout.flush()
    return 0 if ok else 1


def entry(main: Callable[..., int], name: str, doc: str | None) -> None:
    """The ``__main__`` block of every example."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(name, doc)
    raise SystemExit(main("quick" if args.quick else "full", out=args.out))
