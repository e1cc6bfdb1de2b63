"""Comparing runs, against known answers: a run with itself, an orthogonal map, two seeds of
one architecture against another architecture (with the replicate reference in the assertion),
the command line and its page."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import tda_interp as ti
from tda_interp.cli import main
from tda_interp.compare import compare_runs, permutation_test
from tda_interp.options import DistanceOptions, RipsOptions

SERIAL = ti.ExecutionOptions(executor="serial", cache=False)

# A task where the answer is known: predict (cos 2t, sin 2t) from (cos t, sin t). Architecture
# "wide" keeps the circle in its hidden layers; architecture "neck" squeezes it through one
# unit first, so no hidden layer after the neck can hold the loop (a circle does not embed in
# a line). Two seeds of "wide" must be closer than "wide" and "neck".
MODELS = """
import math
import torch
from torch import nn

N = 160


def inputs():
    t = torch.linspace(0, 2 * math.pi, N + 1)[:-1]
    return torch.stack([torch.cos(t), torch.sin(t)], 1)


def targets():
    t = torch.linspace(0, 2 * math.pi, N + 1)[:-1]
    return torch.stack([torch.cos(2 * t), torch.sin(2 * t)], 1)


def wide():
    return nn.Sequential(
        nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2)
    )


def neck():
    return nn.Sequential(nn.Linear(2, 1), nn.Tanh(), nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 2))
"""


def _train(make: str, seed: int, folder: Path, ns: dict) -> Path:  # type: ignore[type-arg]
    torch.manual_seed(seed)
    model = ns[make]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = ns["inputs"](), ns["targets"]()
    for _ in range(300):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "step_300.pt"
    torch.save(model.state_dict(), path)
    return path


def _config(project: Path, name: str, make: str) -> Path:
    cfg = project / f"{name}.toml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            [model]
            factory = "models.py:{make}"
            checkpoints = "ckpt_{name}/*.pt"
            [inputs]
            factory = "models.py:inputs"
            [capture]
            layers = ["1", "3"]
            [homology]
            maxdim = 1
            [significance]
            method = "none"
            [execution]
            executor = "serial"
            cache = false
            """
        )
    )
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    project = tmp_path_factory.mktemp("compare")
    (project / "models.py").write_text(MODELS)
    ns: dict = {}  # type: ignore[type-arg]
    exec(MODELS, ns)
    out = {}
    for name, make, seed in (("wide0", "wide", 0), ("wide1", "wide", 1), ("neck0", "neck", 0)):
        _train(make, seed, project / f"ckpt_{name}", ns)
        cfg = _config(project, name, make)
        assert main(["run", str(cfg), "-o", str(project / name), "-q"]) == 0
        out[name] = project / name
    return out


def test_a_run_compared_with_itself_is_zero_everywhere(runs: dict[str, Path]) -> None:
    c = compare_runs([runs["wide0"], runs["wide0"]], replicates=0, execution=SERIAL)
    assert c.runs == ("wide0", "wide0 (2)")
    same = c.matrix("wide0", "wide0 (2)", "raw")
    np.testing.assert_array_equal(np.diag(same.to_numpy()), 0.0)
    np.testing.assert_allclose(same.to_numpy(), c.matrix("wide0", "wide0", "raw").to_numpy())
    within = c.matrix("wide0", "wide0", "raw").to_numpy()
    np.testing.assert_array_equal(within, within.T)
    # CKA of a run with itself: 1 on the diagonal
    diag = c.cka[(c.cka["run_b"] == "wide0 (2)") & (c.cka["layer_a"] == c.cka["layer_b"])]
    np.testing.assert_allclose(diag["cka"], 1.0)


def test_an_orthogonal_map_is_invisible_to_topology_and_cka(tmp_path: Path) -> None:
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(8, 8))
    rotate = nn.Linear(8, 8, bias=False)
    with torch.no_grad():
        rotate.weight.copy_(q)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), rotate)
    ckpt = tmp_path / "step_0.pt"
    torch.save(model.state_dict(), ckpt)
    t = torch.rand(200) * 2 * math.pi
    x = torch.stack([torch.cos(t), torch.sin(t), 0.1 * torch.randn(200)], 1)
    ti.run_pipeline(model, [ckpt], x, tmp_path / "run", layers=["1", "2"], execution=SERIAL)
    acts = ti.run_capture(model, x, ["1", "2"]).activations
    c = compare_runs([tmp_path / "run"], activations={"run": acts}, replicates=2, execution=SERIAL)
    d = c.matrix("run", "run", "raw").loc["1", "2"]
    assert d < 1e-6  # an isometry moves no bar (float32 activations: round-off only)
    pair = c.cka[(c.cka["layer_a"] == "1") & (c.cka["layer_b"] == "2")]
    assert pair["cka"].iloc[0] == pytest.approx(1.0, abs=1e-6)
    assert pair["cka_debiased"].iloc[0] == pytest.approx(1.0, abs=1e-6)
    assert set(c.references["layer"]) == {"1", "2"} and (c.references["distance"] >= 0).all()


def test_two_seeds_are_closer_than_two_architectures(runs: dict[str, Path]) -> None:
    c = compare_runs([runs["wide0"], runs["wide1"], runs["neck0"]], replicates=3, execution=SERIAL)
    assert not c.notes, c.notes  # activations captured again from the runs' configs
    seeds = c.matrix("wide0", "wide1", "raw").loc["3", "3"]
    archs = c.matrix("wide0", "neck0", "raw").loc["3", "3"]
    reference = c.reference().set_index(["run", "view", "layer"]).loc[("wide0", "raw", "3")]
    # seeds agree within replicate noise; the architectures differ by far more than it
    assert seeds <= 2 * reference["max"]
    assert archs > 3 * reference["max"]
    assert archs > 3 * seeds
    nearest = c.nearest().set_index(["run_a", "run_b", "view", "layer_a"])
    # both hidden layers of the other seed hold the loop: either is within replicate noise
    assert nearest.loc[("wide0", "wide1", "raw", "3"), "ratio"] <= 2
    assert nearest.loc[("wide0", "neck0", "raw", "3"), "ratio"] > 3  # no layer of it has one
    frame = c.to_frame()
    assert {"reference", "cka", "cka_debiased"} <= set(frame.columns)


def test_a_permutation_test_separates_the_architectures(runs: dict[str, Path]) -> None:
    # diagrams of layer "3" on 4 disjoint quarters of the probe set, for each architecture
    def quarters(run: Path) -> list[ti.Diagram]:
        acts = ti.compare.run_activations(run)["3"]
        return [ti.vietoris_rips(acts[k::4], maxdim=1) for k in range(4)]

    wide, neck = quarters(runs["wide0"]), quarters(runs["neck0"])
    res = permutation_test(wide, neck, execution=SERIAL)
    assert res.exact and len(res.null) == 69  # C(8, 4) - 1 relabellings
    assert res.p_value == pytest.approx(2 / 70)  # the split and its mirror: the tightest two
    same = permutation_test(wide[:2], wide[2:], execution=SERIAL)
    assert same.p_value > 0.1


def test_a_control_run_sits_beside_and_trajectories_need_two_checkpoints(
    runs: dict[str, Path],
) -> None:
    c = compare_runs([runs["wide0"]], control=runs["neck0"], replicates=0, execution=SERIAL)
    assert c.control == "neck0"
    assert set(zip(c.distances["run_a"], c.distances["run_b"], strict=True)) == {
        ("wide0", "wide0"),
        ("wide0", "neck0"),
    }
    assert c.trajectories.empty  # one checkpoint each


def test_runs_without_activations_say_so(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh())
    torch.save(model.state_dict(), tmp_path / "step_0.pt")
    torch.save(model.state_dict(), tmp_path / "step_5.pt")
    x = torch.randn(60, 2)
    ti.run_pipeline(
        model, [tmp_path / "step_0.pt", tmp_path / "step_5.pt"], x, tmp_path / "py", layers=["1"]
    )
    c = compare_runs([tmp_path / "py"], execution=SERIAL)
    assert c.references.empty and c.cka.empty
    assert any("does not record how to rebuild" in n for n in c.notes)
    traj = c.trajectories
    assert list(traj["checkpoint"]) == ["step_0", "step_5"]
    assert traj["to_final"].iloc[-1] == 0.0 and math.isnan(traj["to_previous"].iloc[0])
    assert traj["to_previous"].iloc[1] == 0.0  # the same weights: the same diagram


def test_the_command_line_writes_the_page_and_the_table(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, table = tmp_path / "c.html", tmp_path / "c.csv"
    argv = ["compare", str(runs["wide0"]), str(runs["neck0"]), "-o", str(out), "--csv", str(table)]
    assert main([*argv, "--metric", "wasserstein", "--order", "2", "--executor", "serial"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "2-Wasserstein, L∞ ground metric" in html and "Replicate references" in html
    assert "Linear CKA" in html and "Most similar layers" in html
    frame = pd.read_csv(table)
    assert {"run_a", "run_b", "layer_a", "layer_b", "distance", "reference", "cka"} <= set(
        frame.columns
    )
    assert "Report:" in capsys.readouterr().out
    data = json.loads(html.split('id="tda-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["figures"]) >= 3


def test_bad_flags_are_one_line(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", str(runs["wide0"]), "--metric", "bottleneck", "--ground", "2"])
    assert code == 2
    assert "ground=inf only" in capsys.readouterr().err
    code = main(["compare", str(runs["wide0"]), "--dim", "2"])
    assert code == 2
    assert "dim <= 1" in capsys.readouterr().err


def test_the_vector_metrics_agree_on_which_pair_is_far(runs: dict[str, Path]) -> None:
    for metric, factor in (("landscape", 2.0), ("betti", 2.0), ("image", 1.0)):
        c = compare_runs(
            [runs["wide0"], runs["wide1"], runs["neck0"]],
            options=DistanceOptions(metric=metric),  # type: ignore[arg-type]
            replicates=0,
            execution=SERIAL,
        )
        seeds = c.matrix("wide0", "wide1", "raw").loc["3", "3"]
        archs = c.matrix("wide0", "neck0", "raw").loc["3", "3"]
        # images weigh every bar by persistence, noise included: they separate least
        assert archs > factor * seeds, metric


def test_replicates_use_the_runs_subsample_size() -> None:
    from tda_interp.compare.references import _half_size

    assert _half_size(5000, RipsOptions(approximation="subsample:1000")) == 1000
    assert _half_size(1500, RipsOptions(approximation="subsample:1000")) == 750
    assert _half_size(300, RipsOptions(approximation="exact")) == 150


def test_a_report_of_several_runs_links_to_their_comparison(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "pages" / "report.html"
    assert main(["report", str(runs["wide0"]), str(runs["neck0"]), "-o", str(out)]) == 0
    compare_page = out.read_text("utf-8")
    assert "Linear CKA" in compare_page  # the comparison page
    for name in ("wide0", "neck0"):
        page = out.with_name(f"report.{name}.html")
        assert f'<a href="report.{name}.html">report of {name}</a>' in compare_page
        assert '<a href="report.html">comparison of the runs</a>' in page.read_text("utf-8")
