"""Clouds split by the labels of the probe inputs: one run gives the whole cloud and one cloud
per class, from Python and from a config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import tda_interp as ti
from tda_interp.cli import main
from tda_interp.exceptions import ActivationError, ConfigError
from tda_interp.homology import vietoris_rips
from tda_interp.options import CaptureOptions, RipsOptions

N = 60
SERIAL = ti.ExecutionOptions(executor="serial", cache=False)


def _probe() -> tuple[torch.Tensor, np.ndarray]:
    """Class 0: a circle; class 1: a small blob far away."""
    t = torch.linspace(0, 2 * np.pi, N // 2 + 1)[:-1]
    circle = torch.stack([torch.cos(t), torch.sin(t)], 1)
    blob = 0.05 * torch.randn(N // 2, 2, generator=torch.Generator().manual_seed(0)) + 5.0
    return torch.cat([circle, blob]), np.repeat([0, 1], N // 2)


def _identity() -> nn.Module:
    """A layer whose output is its input, exactly (checkpoints need parameters)."""
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
        layer.bias.zero_()
    return nn.Sequential(layer)


def test_one_cloud_per_label_beside_the_whole_cloud(tmp_path: Path) -> None:
    x, labels = _probe()
    model = _identity()
    torch.save(model.state_dict(), tmp_path / "step_0.pt")
    out = ti.run_pipeline(
        model,
        [tmp_path / "step_0.pt"],
        ti.ProbeSet(x, labels),
        tmp_path / "run",
        layers=["0"],
        homology=RipsOptions(maxdim=1),
        execution=SERIAL,
    )
    assert out.computed == 3 and out.layers == ("0", "0@0", "0@1")
    run = ti.Run(tmp_path / "run")
    for cloud, rows in (("0", slice(None)), ("0@0", slice(0, N // 2)), ("0@1", slice(N // 2, N))):
        expected = vietoris_rips(x[rows].numpy(), RipsOptions(maxdim=1))
        assert run.diagram("step_0", cloud, "raw") == expected, cloud
    table = run.summaries().query("dim == 1").set_index("layer")
    assert table.loc["0@0", "n_significant"] == 1  # the circle is class 0's
    assert table.loc["0@1", "n_significant"] == 0
    assert run.params["point_labels"]["n_values"] == 2


def test_labels_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    x, labels = _probe()
    model = _identity()
    torch.save(model.state_dict(), tmp_path / "step_0.pt")
    kwargs = {"layers": ["0"], "execution": SERIAL}
    with pytest.raises(ConfigError, match=r"shape \(60,\)"):
        ti.run_pipeline(
            model, [tmp_path / "step_0.pt"], ti.ProbeSet(x, labels[:5]), tmp_path / "a", **kwargs
        )  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="floats"):
        ti.run_pipeline(
            model, [tmp_path / "step_0.pt"], ti.ProbeSet(x, labels + 0.5), tmp_path / "a", **kwargs
        )  # type: ignore[arg-type]
    assert not (tmp_path / "a").exists()
    seq = torch.stack([x, x], 1)  # (inputs, positions, features): one point per token
    with pytest.raises(ActivationError, match="one point per input"):
        ti.run_pipeline(
            model,
            [tmp_path / "step_0.pt"],
            ti.ProbeSet(seq, labels),
            tmp_path / "b",
            capture=CaptureOptions(reduction="tokens"),
            **kwargs,  # type: ignore[arg-type]
        )


def test_a_config_names_a_labels_factory(tmp_path: Path) -> None:
    (tmp_path / "data.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import torch
            from torch import nn

            def model():
                layer = nn.Linear(2, 2)
                with torch.no_grad():
                    layer.weight.copy_(torch.eye(2))
                    layer.bias.zero_()
                return nn.Sequential(layer)

            def probe():
                t = torch.linspace(0, 6.283, 41)[:-1]
                return torch.stack([torch.cos(t), torch.sin(t)], 1)

            def classes():
                return np.arange(40) % 2
            """
        )
    )
    (tmp_path / "run.toml").write_text(
        textwrap.dedent(
            """
            [model]
            factory = "data.py:model"
            [inputs]
            factory = "data.py:probe"
            labels = "data.py:classes"
            [capture]
            layers = ["0"]
            [execution]
            executor = "serial"
            cache = false
            """
        )
    )
    assert main(["run", str(tmp_path / "run.toml"), "-o", str(tmp_path / "run"), "-q"]) == 0
    run = ti.Run(tmp_path / "run")
    assert {r.layer for r in run.results()} == {"0", "0@0", "0@1"}
    assert run.diagram("pretrained", "0@1", "raw").n_points == 20


def test_the_report_colours_the_points_by_the_runs_labels(tmp_path: Path) -> None:
    from tda_interp.reports import build_report

    test_a_config_names_a_labels_factory(tmp_path)
    report = build_report(tmp_path / "run")
    assert report.cloud_label == "your labels"
    (entry,) = [c for c in report.clouds if c.layer == "0"]
    assert entry.labels == tuple(str(i % 2) for i in range(40))
    assert not [c for c in report.clouds if "@" in c.layer]  # drawn within the whole cloud
    assert "No activations" not in report.clouds_note
