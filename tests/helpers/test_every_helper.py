"""Every public helper is tested here: each module of ``vmintro/helpers`` has its test
module in this directory, and each name of ``vmintro.helpers.__all__`` is used in the
test module of the helper module that defines it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import vmintro.helpers

HERE = Path(__file__).resolve().parent
PACKAGE = Path(vmintro.helpers.__file__).resolve().parent


def _helper_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))


def _public(module: str) -> list[str]:
    return list(importlib.import_module(f"vmintro.helpers.{module}").__all__)


def _used(path: Path) -> set[str]:
    """The names a module's code uses (called, read or referred to), imports aside."""
    tree = ast.parse(path.read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return names | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def test_each_helper_module_has_a_test_module() -> None:
    missing = [m for m in _helper_modules() if not (HERE / f"test_{m}.py").is_file()]
    assert not missing, f"no tests/helpers/test_NAME.py for vmintro/helpers/NAME.py: {missing}"


def test_every_public_helper_is_used_in_its_test_module() -> None:
    untested = [
        f"{module}.{name}"
        for module in _helper_modules()
        for name in _public(module)
        if name not in _used(HERE / f"test_{module}.py")
    ]
    assert not untested, f"public helpers no test in tests/helpers/ uses: {untested}"
    assert {n for m in _helper_modules() for n in _public(m)} == set(vmintro.helpers.__all__)


def test_the_package_finds_every_name_in_one_module() -> None:
    """``vmintro.helpers`` imports a module when one of its names is first wanted: it
    looks in every module, and a name in two modules would depend on the order."""
    assert sorted(vmintro.helpers._MODULES) == _helper_modules()
    every = [n for m in _helper_modules() for n in _public(m)]
    assert sorted(every) == sorted(set(every)) == vmintro.helpers.__all__
    for module in _helper_modules():
        for name in _public(module):
            assert getattr(vmintro.helpers, name) is getattr(
                importlib.import_module(f"vmintro.helpers.{module}"), name
            )
