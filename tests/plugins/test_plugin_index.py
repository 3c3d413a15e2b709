"""The shipped plugins' index: their commands named without importing them.

Plugin discovery registers each shipped plugin's commands from ``plugins/index.json``
and imports the plugin when one of them is first wanted; a plugin the index does not
describe as it is now is imported at once instead. Each test runs in a fresh Python
process, where nothing has loaded the plugins yet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from vmintro.commands.discovery import PLUGIN_DIR
from vmintro.commands.index import _checksum

ROOT = Path(__file__).resolve().parents[2]

IMPORTED = (
    "import sys\n"
    "def imported():\n"
    "    return sorted(m.rpartition('.')[2] for m in sys.modules\n"
    "                  if m.startswith('vmintro_plugins.'))\n"
)


def _child(code: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A fresh Python process running ``code``: its output."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=check
    )


def _lines(code: str) -> list[str]:
    return _child(code).stdout.splitlines()


def test_the_index_describes_every_shipped_plugin_as_it_is() -> None:
    """Out of date, every session start imports the changed plugins (slower, still
    right): ``python -m vmintro.commands.index`` rewrites it."""
    [line] = _lines(
        "import json\n"
        "from vmintro.commands.discovery import PLUGIN_DIR\n"
        "from vmintro.commands.index import describe_plugins, plugin_entries\n"
        "fresh = {m: [[n, list(a), s] for n, a, s in e] "
        "for m, e in plugin_entries(PLUGIN_DIR).items()}\n"
        "every = {m: r['commands'] for m, r in describe_plugins()['modules'].items()}\n"
        "print(json.dumps([fresh, every]))\n"
    )
    fresh, every = json.loads(line)
    shipped = sorted(p.stem for p in PLUGIN_DIR.glob("*.py") if not p.name.startswith("_"))
    assert sorted(every) == shipped
    assert fresh == every, "run python -m vmintro.commands.index"
    assert every["modules"] == [["modules", ["lsmod"], every["modules"][0][2]]]


def test_loading_imports_no_shipped_plugin_and_a_command_imports_its_own() -> None:
    lines = _lines(
        IMPORTED + "from vmintro.commands.discovery import load_plugins, loaded_plugins\n"
        "from vmintro.commands import lookup, names\n"
        "plugins = load_plugins()\n"
        "print(imported(), 'buddyinfo' in names(), 'lsmod' in names())\n"
        "cmd = lookup('lsmod')\n"
        "print(cmd.name, cmd.origin, imported())\n"
        "print(sorted((p.name, p.commands, p.error) for p in loaded_plugins())[2])\n"
    )
    assert lines == [
        "[] True True",
        "modules vmintro_plugins.modules ['modules']",
        "('modules', ('modules',), None)",
    ]


def test_every_command_listed_imports_every_plugin() -> None:
    lines = _lines(
        IMPORTED + "from vmintro.commands.discovery import load_plugins\n"
        "from vmintro.commands import commands\n"
        "load_plugins()\n"
        "mine = [c.name for c in commands() if c.origin.startswith('vmintro_plugins.')]\n"
        "print(mine, imported())\n"
    )
    shipped = sorted(p.stem for p in PLUGIN_DIR.glob("*.py") if not p.name.startswith("_"))
    assert lines == [f"{sorted(shipped)} {shipped}"]


def _copy(tmp_path: Path) -> Path:
    """A copy of the shipped plugins and their index, to be changed."""
    folder = tmp_path / "plugins"
    shutil.copytree(PLUGIN_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _with_plugin_dir(folder: Path) -> str:
    """Code that makes ``folder`` the shipped plugins' directory of the child."""
    return (
        "import vmintro.commands.discovery as discovery\n"
        f"discovery.PLUGIN_DIR = __import__('pathlib').Path({str(folder)!r})\n"
    )


def test_a_plugin_the_index_no_longer_describes_is_imported_at_start(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    index = json.loads((folder / "index.json").read_text())
    index["modules"]["meminfo"]["crc32"] ^= 1  # an edited declaration
    del index["modules"]["swapinfo"]  # a plugin new since the index
    (folder / "index.json").write_text(json.dumps(index))
    lines = _lines(
        IMPORTED + _with_plugin_dir(folder) + "discovery.load_plugins()\n"
        "from vmintro.commands import names\n"
        "print(imported(), 'buddyinfo' in names(), 'swapinfo' in names())\n"
    )
    assert lines == ["['meminfo', 'swapinfo'] True True"]
    (folder / "index.json").write_text("{not json")
    lines = _lines(
        IMPORTED + _with_plugin_dir(folder) + "discovery.load_plugins()\nprint(imported())"
    )
    assert lines == [str(sorted(p.stem for p in folder.glob("*.py")))]


LATE = """\
import builtins
import time

from vmintro.commands import command

if getattr(builtins, "late_fails", "") == "interrupt":
    raise KeyboardInterrupt
if getattr(builtins, "late_fails", "") == "error":
    raise RuntimeError("late and   broken")
time.sleep(float(getattr(builtins, "late_sleeps", 0)))


@command("late", help="a plugin imported late", aliases=["tardy"])
def late(prog, args):
    return "late ran"


@command("later", help="its second command")
def later(prog, args):
    return "later ran"


if getattr(builtins, "late_fails", "") == "interrupt after":
    raise KeyboardInterrupt
"""


def _late_plugin(tmp_path: Path) -> Path:
    """A shipped-plugins directory of one indexed plugin that fails on request."""
    folder = tmp_path / "late"
    folder.mkdir()
    (folder / "late.py").write_text(LATE)
    commands = [["late", ["tardy"], "x"], ["later", [], "y"]]
    entry = {"crc32": _checksum("late", str(folder)), "commands": commands}
    (folder / "index.json").write_text(json.dumps({"modules": {"late": entry}}))
    return folder


def _late_child(tmp_path: Path, code: str, watch_imports: bool = True) -> str:
    """The code of a child whose shipped plugins are :func:`_late_plugin`'s, then ``code``
    (dedented); with ``watch_imports``, :data:`IMPORTED`'s ``imported()`` before it."""
    setup = _with_plugin_dir(_late_plugin(tmp_path))
    return (IMPORTED if watch_imports else "") + setup + textwrap.dedent(code)


def test_an_indexed_plugin_loads_when_its_alias_is_first_wanted(tmp_path: Path) -> None:
    lines = _lines(
        _late_child(
            tmp_path,
            "discovery.load_plugins()\n"
            "from vmintro.commands import lookup\n"
            "print(imported(), lookup('tardy').func(None, None), imported())\n"
            "print(lookup('late').help)\n",
        )
    )
    assert lines == ["[] late ran ['late']", "a plugin imported late"]


def test_an_indexed_plugin_that_fails_when_first_wanted_is_reported_once(
    tmp_path: Path,
) -> None:
    """Interrupted, it is tried again at the next use; failing, it is reported as a
    plugin that fails at start is, its commands are gone, and the rest still list."""
    proc = _child(
        _late_child(
            tmp_path,
            """\
            import builtins
            from vmintro.commands import CommandError, commands, lookup, names
            from vmintro.commands.registry import plugin_errors
            discovery.load_plugins()
            builtins.late_fails = "interrupt"
            try:
                lookup("late")
            except KeyboardInterrupt:
                print("interrupted", "late" in names(), "tardy" in names(), imported())
            builtins.late_fails = "error"
            try:
                lookup("tardy")
            except CommandError as e:
                print("failed:", e)
            print("late" in names(), "tardy" in names(), len(commands()) > 30)
            print([(p.name, p.commands, p.error) for p in discovery.loaded_plugins()])
            print(len(plugin_errors()))
            """,
        )
    )
    assert proc.stdout.splitlines() == [
        "interrupted True True []",
        "failed: plugin late: RuntimeError: late and broken",
        "False False True",
        "[('late', (), 'RuntimeError: late and broken')]",
        "1",
    ]
    assert proc.stderr == "vmintro: plugin late: RuntimeError: late and broken\n"


def test_interrupted_after_its_commands_registered_it_is_pending_again(tmp_path: Path) -> None:
    """Ctrl-C once the plugin registered its commands: they are put back as the index
    names them, and the next use imports it in full."""
    lines = _lines(
        _late_child(
            tmp_path,
            """\
            import builtins
            from vmintro.commands import lookup, names
            from vmintro.commands.registry import _COMMANDS
            discovery.load_plugins()
            builtins.late_fails = "interrupt after"
            try:
                lookup("later")
            except KeyboardInterrupt:
                kinds = sorted((n, type(_COMMANDS[n]).__name__) for n in ("late", "later"))
                print(kinds, "tardy" in names(), imported())
            builtins.late_fails = ""
            print(lookup("tardy").func(None, None), lookup("later").help, imported())
            """,
        )
    )
    assert lines == [
        "[('late', '_Pending'), ('later', '_Pending')] True []",
        "late ran its second command ['late']",
    ]


def test_listing_every_command_survives_a_plugin_that_fails_then(tmp_path: Path) -> None:
    """``help`` (every command) and ``plugins`` import the plugins put off: one that
    fails then is reported once, listed as failed only, and the rest are listed."""
    proc = _child(
        _late_child(
            tmp_path,
            """\
            import builtins
            from vmintro.commands import commands
            discovery.load_plugins()
            builtins.late_fails = "error"
            every = [c.name for c in commands()]
            print(len(every) > 30, "late" in every, "help" in every)
            """,
            watch_imports=False,
        )
    )
    assert proc.stdout.splitlines() == ["True False True"]
    assert proc.stderr == "vmintro: plugin late: RuntimeError: late and broken\n"
    # `plugins`, the first to want the plugin: listed as failed, not as loaded too
    proc = _child(
        _with_plugin_dir(tmp_path / "late") + "import builtins, sys\n"
        "builtins.late_fails = 'error'\n"
        "from vmintro.cli import main\n"
        "sys.exit(main(['-c', 'plugins', 'images/demo']))\n",
        check=False,
    )
    assert proc.stdout.splitlines()[:3] == ["no plugins loaded", "", "FAILED PLUGIN  ERROR"]
    assert [line.split(" ")[0] for line in proc.stdout.splitlines()].count("late") == 1


def test_two_threads_wanting_a_plugin_at_once_both_get_its_command(tmp_path: Path) -> None:
    lines = _lines(
        _late_child(
            tmp_path,
            """\
            import builtins, threading
            from vmintro.commands import lookup
            discovery.load_plugins()
            builtins.late_sleeps = 0.3  # the first is still importing when the second asks
            got = {}
            def want(i):
                try:
                    got[i] = lookup("late").func(None, None)
                except Exception as e:
                    got[i] = repr(e)
            threads = [threading.Thread(target=want, args=(i,)) for i in range(2)]
            for t in threads: t.start()
            for t in threads: t.join()
            print(sorted(got.values()))
            """,
            watch_imports=False,
        )
    )
    assert lines == ["['late ran', 'late ran']"]


def test_the_code_py_shows_imports_a_plugin_by_name_in_a_checkout_not_installed(
    tmp_path: Path,
) -> None:
    """``from vmintro_plugins.meminfo import ...`` (what ``meminfo --py`` prints) finds
    the plugin put off with no package of that name installed (``python -S``: no
    editable install's finder)."""
    import site

    path = os.pathsep.join([str(ROOT), *site.getsitepackages()])
    script = tmp_path / "m.py"
    script.write_text(
        "from vmintro_plugins.meminfo import meminfo_fields\n"
        "print(dict(meminfo_fields(prog))['MemTotal'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "vmintro", "run", str(script), "images/demo"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": path},
    )  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, "")
    assert int(proc.stdout) > 0
