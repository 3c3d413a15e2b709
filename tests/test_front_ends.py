"""The front ends and what they import: the command line, the REPL, gdb and drgn.

``vmintro/cli/`` is the ``vmintro`` command (its modules import each other without
a cycle, and nothing below imports it); ``vmintro/cmdline/`` runs command lines for
every front end and imports neither the CLI nor the prompt-toolkit REPL
(``vmintro/repl/``); the gdb and drgn hosts import the runner from there, so they
never load prompt-toolkit. Imports are read from the sources, those inside
functions included, and followed through the package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vmintro"
HOSTS = ("vmintro.hosts.gdb", "vmintro.hosts.drgn", "vmintro.hosts.gdb_script")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str, node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return name
    base = package.split(".")
    return ".".join([*base[: len(base) - node.level + 1], *([name] if name else [])])


@cache
def imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports, at its top or inside a function."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node, package)
            found.add(base)
            # ``from vmintro.cli import session`` imports the module vmintro.cli.session
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules())
    return frozenset(found)


def reachable(start: str) -> set[str]:
    """The modules ``start`` may load, through vmintro's own modules (and their packages)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in modules():
            parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
            todo.extend([*imports(name), *parents])
    return seen


def _forbidden(found: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in found if n.startswith(prefixes) or n in {p[:-1] for p in prefixes})


@pytest.mark.parametrize("host", HOSTS)
def test_the_hosts_never_import_the_repl_or_prompt_toolkit(host: str) -> None:
    assert _forbidden(reachable(host), ("vmintro.repl.", "vmintro.cli.", "prompt_toolkit.")) == []


def test_the_runner_imports_no_front_end() -> None:
    runner = {m for m in modules() if m.startswith("vmintro.cmdline")}
    for module in sorted(runner):
        forbidden = ("vmintro.repl.", "vmintro.cli.", "prompt_toolkit.")
        assert _forbidden(reachable(module), forbidden) == [], module


def _in_cli(name: str) -> bool:
    return name == "vmintro.cli" or name.startswith("vmintro.cli.")


def test_nothing_below_the_cli_imports_it() -> None:
    users = [
        f"{m} imports {i}"
        for m in modules()
        if not _in_cli(m) and m != "vmintro.__main__"
        for i in imports(m)
        if _in_cli(i)
    ]
    assert users == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle of ``graph`` found by a depth-first walk (each at least once)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for succ in sorted(graph.get(node, ())):
            if state.get(succ) == "open":
                found.append([*path[path.index(succ) :], succ])
            elif succ not in state:
                visit(succ, [*path, succ])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_cli_modules_import_each_other_without_a_cycle() -> None:
    cli = [m for m in modules() if _in_cli(m)]
    assert len(cli) > 3, cli  # a package of modules, one a subcommand
    graph = {m: {i for i in imports(m) if _in_cli(i) and i != m} for m in cli}
    assert cycles(graph) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("how", [["-m", "vmintro"], ["-m", "vmintro.cli"]])
def test_python_dash_m_runs_the_vmintro_command(how: list[str]) -> None:
    demo = str(ROOT / "images" / "demo")
    words = ["-c", "sym vmlist", demo]
    module = subprocess.run([sys.executable, *how, *words], capture_output=True, text=True)
    script = subprocess.run(["vmintro", *words], capture_output=True, text=True)
    assert (module.returncode, module.stderr) == (0, "")
    assert module.stdout == script.stdout and module.stdout.endswith(" (B) vmlist\n")
    helps = [
        subprocess.run([*command, "--help"], capture_output=True, text=True).stdout
        for command in ([sys.executable, *how], ["vmintro"])
    ]
    assert helps[0] == helps[1] and helps[0].startswith("usage: vmintro [-h]")


def test_the_repl_is_not_loaded_by_scripted_use() -> None:
    code = (
        "import sys; from vmintro.cli import main; status = main(['-c', 'vmlist', sys.argv[1]]); "
        "loaded = [m for m in sys.modules if m.startswith(('vmintro.repl', 'prompt_toolkit'))]; "
        "print(loaded, file=sys.stderr); sys.exit(status)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "images" / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (proc.returncode, proc.stderr) == (0, "[]\n")
