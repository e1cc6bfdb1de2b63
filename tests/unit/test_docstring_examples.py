"""Every ``Examples`` section in the package runs and gives the output it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import tda_interp


def _modules() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.walk_packages(tda_interp.__path__, prefix="tda_interp.")
        if not m.name.endswith("__main__")
    )


@pytest.mark.parametrize("name", _modules())
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={"np": np, **vars(module)}):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} docstring example(s) failed in {name}"


def test_examples_exist() -> None:
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = sum(
        len(t.examples)
        for name in _modules()
        for t in finder.find(importlib.import_module(name), name)
    )
    assert found > 100  # the public functions carry examples (STYLE: "examples that run")
