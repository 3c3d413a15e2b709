"""Exit statuses are defined once, in :mod:`vmintro.errors`, and every entry point uses them.

A structural check over every module of the package and the shipped plugins: no
``EXIT_*`` name is bound to a number outside ``vmintro/errors.py``, no
``sys.exit``, ``exit``, ``SystemExit`` or ``parser.exit`` is given a number, and
no entry point (``main``, a subcommand's ``cmd_*``, a ``run_*`` function, or any
function of a module that uses the ``EXIT_*`` names) returns a bare 0, 1, 2 or 130
where it means an exit status. A new copy of the numbers anywhere fails here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmintro import errors

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "vmintro" / "errors.py"
STATUSES = {errors.EXIT_OK, errors.EXIT_FAILED, errors.EXIT_USAGE, errors.EXIT_INTERRUPTED}
EXITS = {"exit", "_exit", "SystemExit"}  # sys.exit, os._exit, parser.exit, raise SystemExit


def sources() -> list[Path]:
    files = sorted((ROOT / "vmintro").rglob("*.py")) + sorted((ROOT / "plugins").glob("*.py"))
    return [f for f in files if f != HOME]


def _number(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _names(element)


def _entry_point(function: ast.FunctionDef | ast.AsyncFunctionDef, uses_statuses: bool) -> bool:
    """A function whose int result is an exit status."""
    name = function.name
    returns = ast.unparse(function.returns) if function.returns is not None else ""
    if name == "main" or name.startswith(("cmd_", "run_")):
        return True
    return uses_statuses and returns == "int"


def stray_statuses(source: str, where: str) -> list[str]:
    """Where the module ``source`` (the file ``where``) defines or hard-codes an exit
    status: ``file:line: what``."""
    tree = ast.parse(source, where)
    uses_statuses = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "vmintro.errors"
        and any(alias.name.startswith("EXIT_") for alias in node.names)
        for node in ast.walk(tree)
    )
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (n for t in targets for n in _names(t)):
                if name.startswith("EXIT_"):
                    found.append(f"{where}:{node.lineno}: {name} defined again")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in EXITS and node.args and _number(node.args[0]):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not _entry_point(node, uses_statuses):
                continue
            for inner in ast.walk(node):
                value = inner.value if isinstance(inner, ast.Return) else None
                if _number(value) and value.value in STATUSES:  # type: ignore[union-attr]
                    found.append(f"{where}:{inner.lineno}: {node.name} returns {value.value}")  # type: ignore[union-attr]
    return found


def test_exit_statuses_are_defined_once_and_used_everywhere() -> None:
    stray = [
        line
        for path in sources()
        for line in stray_statuses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert stray == []


@pytest.mark.parametrize(
    "source",
    [
        "EXIT_OK, EXIT_FAILED = 0, 1\n",
        "import sys\ndef f():\n    sys.exit(2)\n",
        "def f(parser):\n    parser.exit(2, 'bad')\n",
        "def main() -> int:\n    return 2\n",
        "def cmd_thing(args) -> int:\n    return 0\n",
        "from vmintro.errors import EXIT_OK\ndef helper() -> int:\n    return 1\n",
    ],
)
def test_the_check_catches_a_new_copy(source: str) -> None:
    assert stray_statuses(source, "vmintro/probe.py")
