"""The training monitor in distributed data-parallel training: only rank 0 records, into one
run directory, with no duplicates and the results of a single-process run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tda_interp.exceptions import ConfigError
from tda_interp.monitor import TopologyMonitor
from tda_interp.monitor.monitor import detect_rank
from tda_interp.store import Run

# Both ranks train the same DDP model on the same batch (gradients averaged over equal
# gradients are those of one process), and both call the monitor on the same run directory.
TRAIN = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    from tda_interp.monitor import TopologyMonitor
    from tda_interp.options import RipsOptions

    run_dir, out = sys.argv[1], sys.argv[2]
    ddp = len(sys.argv) > 3
    if ddp:
        dist.init_process_group("gloo")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    net = torch.nn.parallel.DistributedDataParallel(model) if ddp else model
    gen = torch.Generator().manual_seed(1)
    batch = torch.randn(40, 3, generator=gen)
    monitor = TopologyMonitor(
        run_dir, batch, ["0", "2"], every=2, views=["raw", "pc1-2"],
        homology=RipsOptions(backend="ripser"),
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    written = 0
    for step in range(5):
        if step:
            opt.zero_grad()
            net(batch).pow(2).mean().backward()
            opt.step()
        written += monitor.step(net, step)
    rank = dist.get_rank() if ddp else 0
    with open(out, "w") as fh:
        json.dump({"rank": rank, "recorded": monitor.recorded, "written": written}, fh)
    if ddp:
        dist.barrier()
        dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _diagrams(run_dir: Path) -> dict[tuple[str, str, str], object]:
    return {(r.checkpoint, r.layer, r.view): r.diagram for r in Run(run_dir).results()}


def test_only_rank_0_records_in_distributed_training(tmp_path: Path) -> None:
    import json

    if not torch.distributed.is_available():
        pytest.skip("this torch build has no torch.distributed")
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env |= {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": "2",
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
    }
    run_dir = tmp_path / "ddp"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(run_dir), str(tmp_path / f"rank{r}.json"), "ddp"],
            env=env | {"RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    single = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "single"), str(tmp_path / "single.json")],
        env={k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for proc in [*procs, single]:
            output, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, output
    finally:
        for proc in [*procs, single]:
            proc.kill()
            proc.wait(10)
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    labels = ["step_000000", "step_000002", "step_000004"]
    assert reports[0] == {"rank": 0, "recorded": labels, "written": 12}
    assert reports[1] == {"rank": 1, "recorded": [], "written": 0}
    run = Run(run_dir)
    assert [c.label for c in run.checkpoints] == labels  # once each, in order
    results = _diagrams(run_dir)
    assert len(results) == len(list(run_dir.rglob("*.npz"))) == 12  # no duplicate, no stray
    assert not list(run_dir.rglob("*.tmp*"))
    assert results == _diagrams(tmp_path / "single")  # rank 0's record is the model's


def test_a_rank_other_than_0_never_opens_the_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh())
    probe = torch.randn(20, 3, generator=torch.Generator().manual_seed(0))
    monkeypatch.setenv("RANK", "3")
    assert detect_rank() == 3
    monitor = TopologyMonitor(tmp_path / "run", probe, ["1"], every=1)
    assert monitor.step(model, 1) == 0 and monitor.record(model, 2) == 0
    assert monitor.rank == 3 and monitor.recorded == []
    assert not (tmp_path / "run").exists()
    monkeypatch.delenv("RANK")
    explicit = TopologyMonitor(tmp_path / "run0", probe, ["1"], every=1, rank=0)
    assert explicit.step(torch.nn.DataParallel(model), 1) == 1  # unwrapped: layer "1"
    with pytest.raises(ConfigError, match="Expected rank to be an int >= 0"):
        TopologyMonitor(tmp_path / "bad", probe, ["1"], rank=-1)
    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(ConfigError, match="RANK environment variable"):
        detect_rank()
