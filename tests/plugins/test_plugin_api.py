"""The shipped plugins use only the public API: ``vmintro``, ``vmintro.helpers`` and
``vmintro.commands`` names (and the standard library), and never the ground truth.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
from pluginkit import ROOT, SHIPPED

import vmintro
import vmintro.commands
import vmintro.helpers
from vmintro.commands import lookup

PUBLIC = {
    "vmintro": set(vmintro.__all__),
    "vmintro.commands": set(vmintro.commands.__all__),
    "vmintro.helpers": set(vmintro.helpers.__all__),
}
FILES = sorted((ROOT / "plugins").glob("*.py"))


def test_the_shipped_plugins_are_there() -> None:
    assert [f.stem for f in FILES] == list(SHIPPED)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_imports_only_public_names(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), "a plugin explains itself in its docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                assert alias.name in PUBLIC or top in sys.stdlib_module_names, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.split(".")[0] == "vmintro":
                assert module in PUBLIC, f"{path.name}: from {module}"
                for alias in node.names:
                    assert alias.name in PUBLIC[module], f"{path.name}: {module}.{alias.name}"
            else:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", module
    assert "truth" not in path.read_text().lower()


@pytest.mark.parametrize("name", SHIPPED)
def test_each_registers_its_command_with_help(name: str) -> None:
    cmd = lookup(name)
    assert cmd.origin == f"vmintro_plugins.{name}" and not cmd.builtin
    assert cmd.help and "JSON columns:" in cmd.description


def test_every_public_name_is_found_where_it_is_defined() -> None:
    """``vmintro`` and ``vmintro.commands`` import a name's module when the name is
    first wanted: each name of ``__all__`` comes from its module, once."""
    assert set(vmintro._LAZY) == set(vmintro.__all__) - {"open"}
    for name, module in vmintro._LAZY.items():
        assert getattr(vmintro, name) is getattr(importlib.import_module(module), name)
    package = vmintro.commands
    modules = {m: importlib.import_module(f"vmintro.commands.{m}") for m in package._MODULES}
    homes = {
        name: [m for m, module in modules.items() if name in module.__all__]
        for name in package.__all__
    }
    assert all(len(found) == 1 for found in homes.values()), homes
    for name, (module,) in homes.items():
        assert getattr(package, name) is getattr(modules[module], name)
