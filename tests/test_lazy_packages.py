"""``vmintro.helpers`` and ``vmintro.commands`` import their modules when a name is
first wanted (vmintro.lazy); ``dir()`` and Tab still list every public name."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["vmintro.helpers", "vmintro.commands"])
def test_dir_lists_the_public_names_not_the_packages_own_imports(package: str) -> None:
    module = importlib.import_module(package)
    listed = dir(module)
    assert set(module.__all__) <= set(listed)
    for own in ("Any", "TYPE_CHECKING", "importlib", "from_modules", "package_dir"):
        assert own not in listed
    assert all(hasattr(module, name) for name in listed)  # each listed name is there


def test_helpers_dir_lists_its_modules() -> None:
    helpers = importlib.import_module("vmintro.helpers")
    assert {"buddy", "mm", "vmalloc", "memory"} <= set(dir(helpers))
    assert helpers.mm.__name__ == "vmintro.helpers.mm"
