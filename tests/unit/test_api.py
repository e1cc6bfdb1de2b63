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
    import tda_interp.homology
    import tda_interp.hooks
    import tda_interp.store

    for module in (
        tda_interp.diagrams,
        tda_interp.exceptions,
        tda_interp.homology,
        tda_interp.hooks,
        tda_interp.store,
    ):
        assert list(module.__all__) == sorted(module.__all__), module.__name__
        assert all(hasattr(module, name) for name in module.__all__), module.__name__
