"""Scale-out of whole checkpoints on a Dask cluster (issue 14): the same pipeline on a local
cluster of 1 and of 2 worker processes (one thread each, 127.0.0.1), results checked equal,
and the speed-up printed (the median of 3 interleaved pairs of runs, every worker warmed by
importing what a task needs, as any long run amortises), for two runs:

- dominated by homology: 8 checkpoints x 4 layers of an MLP, 512 points in 64 dimensions per
  cloud, H0 and H1 (ripser; a few milliseconds of forward pass);
- dominated by forward passes: 8 checkpoints of a 6 x 1,024-wide MLP run on 8,192 probe
  inputs, 2 layers kept as 128-point subsamples (milliseconds of homology).

Then the driver's peak memory during the run (``VmHWM``, reset just before it, in a fresh
process each, the in-process scheduler included) for 10 and for 40 checkpoints of a small
model, against its memory before the run: it stays
flat because only diagrams come back and at most one checkpoint per worker thread is in
flight. Also prints the cost per diagram and per checkpoint for the README's estimate of a
1,000-checkpoint x 48-layer run. Timings are never asserted: 2 shared cores are noisy.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from tda_interp.execution import ClusterExecutor
from tda_interp.options import CaptureOptions, ExecutionOptions, RipsOptions
from tda_interp.pipeline import run_pipeline
from tda_interp.store import Run


def mlp(width: int, depth: int, d_in: int, seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = [torch.nn.Linear(d_in, width), torch.nn.Tanh()]
    for _ in range(depth - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers)


SCENARIOS: dict[str, dict[str, Any]] = {
    "homology": {
        "model": {"width": 64, "depth": 4, "d_in": 16},
        "n_inputs": 512,
        "layers": ["1", "3", "5", "7"],
        "capture": CaptureOptions(),
    },
    "forward": {
        "model": {"width": 1024, "depth": 6, "d_in": 16},
        "n_inputs": 8192,
        "layers": ["1", "11"],
        "capture": CaptureOptions(max_points=128),
    },
}
N_CHECKPOINTS = 8
REPEATS = 3


def checkpoints(folder: Path, n: int, model: dict[str, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for step in range(n):
        path = folder / f"step_{step}.pt"
        torch.save(mlp(seed=step, **model).state_dict(), path)
        paths.append(path)
    return paths


def run(ex: ClusterExecutor, scenario: dict[str, Any], paths: list[Path], out: Path) -> float:
    gen = torch.Generator().manual_seed(1234)
    inputs = torch.randn(scenario["n_inputs"], scenario["model"]["d_in"], generator=gen)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_pipeline(
            mlp(seed=0, **scenario["model"]),
            paths,
            inputs,
            out,
            layers=scenario["layers"],
            homology=RipsOptions(maxdim=1, backend="ripser"),
            capture=scenario["capture"],
            execution=ExecutionOptions(executor=ex, cache=False),
        )
    return time.perf_counter() - t0


def diagrams(run_dir: Path) -> dict[tuple[str, str, str], Any]:
    return {(r.checkpoint, r.layer, r.view): r.diagram for r in Run(run_dir).results()}


def cluster(n_workers: int) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )


def warm_worker() -> None:
    """Import what a checkpoint task needs, once per worker process (a long run pays this once
    per worker; the first checkpoint of a cold worker takes about a second longer)."""
    import importlib

    import numpy as np
    import ripser

    for module in ("tda_interp.pipeline", "tda_interp.hooks", "tda_interp.execution.cluster"):
        importlib.import_module(module)
    ripser.ripser(np.random.default_rng(0).random((30, 3)), maxdim=1)


def speedups(tmp: Path) -> None:
    for name, scenario in SCENARIOS.items():
        paths = checkpoints(tmp / name / "ckpt", N_CHECKPOINTS, scenario["model"])
        times: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[float]] = {1: [], 2: []}
        results: dict[str, Any] = {}
        with contextlib.ExitStack() as stack:
            executors = {}
            for n_workers in (1, 2):
                c = stack.enter_context(cluster(n_workers))
                ex = executors[n_workers] = stack.enter_context(
                    ClusterExecutor(c.scheduler_address)
                )
                ex.client.run(warm_worker)  # every worker, not only the one a warm-up run gets
                run(ex, scenario, paths[:1], tmp / name / f"warm{n_workers}")
            for rep in range(REPEATS):  # interleaved: slow drifts of the machine hit both alike
                for n_workers, ex in executors.items():
                    out = tmp / name / f"w{n_workers}-{rep}"
                    before = sum(ex.client.run(time.process_time).values())
                    times[n_workers].append(run(ex, scenario, paths, out))
                    cpu[n_workers].append(sum(ex.client.run(time.process_time).values()) - before)
                    results[out.name] = diagrams(out)
        reference = results["w1-0"]
        same = all(found == reference for found in results.values())
        n_results = len(reference)
        size = sum(f.stat().st_size for f in (tmp / name / "w1-0" / "results").rglob("*.npz"))
        ratios = sorted(t1 / t2 for t1, t2 in zip(times[1], times[2], strict=True))
        t1, t2 = statistics.median(times[1]), statistics.median(times[2])
        c1, c2 = statistics.median(cpu[1]), statistics.median(cpu[2])
        print(
            f"{name:>8}-dominated, {N_CHECKPOINTS} checkpoints x {len(scenario['layers'])} "
            f"layers, median of {REPEATS} interleaved pairs: 1 worker {t1:.1f} s, 2 workers "
            f"{t2:.1f} s, speed-up {statistics.median(ratios):.2f}x (pairs "
            f"{', '.join(f'{r:.2f}' for r in ratios)}); diagrams equal: {same}; "
            f"worker CPU {c1:.1f} s and {c2:.1f} s (the 2 workers got "
            f"{c2 / t2:.2f} cores on average); "
            f"{c1 / n_results:.2f} CPU-s per diagram, "
            f"{c1 / N_CHECKPOINTS:.2f} CPU-s per checkpoint, "
            f"{size / n_results / 1024:.0f} KiB per stored result",
            flush=True,
        )
        if not same:
            raise SystemExit("results differ between 1 and 2 workers")


def status_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(n_checkpoints: int, tmp: str) -> None:
    """Run in a fresh process: print the driver's RSS before the run and its peak."""
    scenario: dict[str, Any] = {
        "model": {"width": 256, "depth": 2, "d_in": 16},
        "n_inputs": 2048,
        "layers": ["1", "3"],
        "capture": CaptureOptions(max_points=200),
    }
    paths = checkpoints(Path(tmp) / "ckpt", n_checkpoints, scenario["model"])
    with cluster(2) as c, ClusterExecutor(c.scheduler_address) as ex:
        run(ex, scenario, paths[:1], Path(tmp) / "warm")
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to now
        before = status_mib("VmRSS")
        run(ex, scenario, paths, Path(tmp) / "run")
        peak = status_mib("VmHWM")
    print(f"{before:.1f} {peak:.1f}")


def memory(tmp: Path) -> None:
    figures = {}
    for n in (10, 40):
        out = subprocess.run(
            [sys.executable, __file__, "--memory", str(n), str(tmp / f"mem{n}")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        figures[n] = (float(out[-2]), float(out[-1]))
    for n, (before, peak) in figures.items():
        print(
            f"driver memory, {n} checkpoints x 2 layers (2 workers): {before:.1f} MiB before the "
            f"run, peak during it {peak:.1f} MiB (+{peak - before:.1f} MiB)"
        )
    print(f"peak at 40 / peak at 10 checkpoints: {figures[40][1] / figures[10][1]:.3f}")


def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        speedups(Path(tmp))
        memory(Path(tmp))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        memory_child(int(sys.argv[2]), sys.argv[3])
    else:
        main()
