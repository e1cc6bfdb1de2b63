"""The public API is small, sorted and importable."""

from importlib.metadata import version

import tda_interp


def test_all_is_sorted_and_unique() -> None:
    assert list(tda_interp.__all__) == sorted(tda_interp.__all__)
    assert len(set(tda_interp.__all__)) == len(tda_interp.__all__)


def test_every_public_name_exists() -> None:
    missing = [name for name in tda_interp.__all__ if not hasattr(tda_interp, name)]
    assert missing == []


def test_version_matches_installed_metadata() -> None:
    assert tda_interp.__version__ == version("tda-interp")


def test_subpackage_all_lists_are_sorted() -> None:
    import tda_interp.diagrams
    import tda_interp.exceptions
    import tda_interp.execution
    import tda_interp.homology
    import tda_interp.hooks
    import tda_interp.monitor
    import tda_interp.store

    for module in (
        tda_interp.diagrams,
        tda_interp.exceptions,
        tda_interp.homology,
        tda_interp.execution,
        tda_interp.hooks,
        tda_interp.monitor,
        tda_interp.store,
    ):
        assert list(module.__all__) == sorted(module.__all__), module.__name__
        assert all(hasattr(module, name) for name in module.__all__), module.__name__


def test_lazy_exports_match_all() -> None:
    assert sorted(tda_interp._EXPORTS) == sorted(
        n for n in tda_interp.__all__ if n != "__version__"
    )


def test_homology_import_does_not_load_torch() -> None:
    import subprocess
    import sys

    code = "import sys, tda_interp.execution.tasks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
