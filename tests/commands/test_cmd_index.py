"""The index of the built-in commands: names without importing their modules.

The registry names every built-in command from ``vmintro/commands/builtin/index.json``
and imports a command's module when the command is first wanted; a module whose
source the index no longer describes is imported at once instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vmintro.commands.builtin import module_names
from vmintro.commands.index import INDEX_PATH, current_entries, describe

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str) -> list[str]:
    """The lines a fresh Python process running ``code`` prints."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return proc.stdout.splitlines()


def test_the_index_describes_every_command_module_as_it_is() -> None:
    """Out of date, every session start imports the changed modules (slower, still
    right): ``python -m vmintro.commands.index`` rewrites it."""
    fresh = current_entries()
    stale = sorted(set(module_names()) - set(fresh))
    assert not stale, f"run python -m vmintro.commands.index: {stale} changed since"
    expected = {
        module: tuple((name, tuple(aliases), summary) for name, aliases, summary in r["commands"])
        for module, r in describe()["modules"].items()
    }
    assert fresh == expected


IMPORTED = (
    "import sys\n"
    "def imported():\n"
    "    return sorted(m.rpartition('.')[2] for m in sys.modules\n"
    "                  if m.startswith('vmintro.commands.builtin.') and '._' not in m)\n"
)


def test_names_import_no_command_module_and_a_lookup_imports_its_own() -> None:
    lines = _child(
        IMPORTED + "from vmintro.commands import lookup, names\n"
        "print(len(names()), imported())\n"
        "cmd = lookup('kmem')\n"
        "print(cmd.name, cmd.func.__module__, 'kmem' in imported(), 'check' in imported())\n"
        "print(cmd.help_text().splitlines()[1])\n"
    )
    count, none = lines[0].split(" ", 1)
    assert int(count) > 30 and none == "[]"
    assert lines[1] == "kmem vmintro.commands.builtin.kmem True False"
    assert lines[2].startswith("  kmem - ")


def test_a_module_the_index_no_longer_describes_is_imported_at_start(tmp_path: Path) -> None:
    """A changed checksum (an edited module), or no index at all, costs only time."""
    index = json.loads(Path(INDEX_PATH).read_text())
    index["modules"]["sym"]["crc32"] ^= 1
    del index["modules"]["radix"]
    stale = tmp_path / "index.json"
    stale.write_text(json.dumps(index))
    lines = _child(
        IMPORTED + "import vmintro.commands.index as index\n"
        f"index.INDEX_PATH = {str(stale)!r}\n"
        "from vmintro.commands import names\n"
        "every = names()\n"
        "print(imported(), 'sym' in every, 'hex' in every)\n"
    )
    assert lines == ["['radix', 'sym'] True True"]
    without = _child(
        IMPORTED + "import vmintro.commands.index as index\n"
        f"index.INDEX_PATH = {str(tmp_path / 'none.json')!r}\n"
        "from vmintro.commands import names\n"
        "from vmintro.commands.builtin import module_names\n"
        "every = names()\n"
        "print(len(every), imported() == module_names())\n"
    )
    every = _child("from vmintro.commands import names; print(len(names()))")
    assert without == [f"{every[0]} True"]


def test_a_plugin_cannot_take_the_name_of_a_command_whose_module_is_not_imported() -> None:
    lines = _child(
        IMPORTED + "from vmintro.commands import command\n"
        "try:\n"
        "    command('vtop', help='mine')(lambda prog, args: None)\n"
        "except ValueError as e:\n"
        "    print(e)\n"
        "print(imported())\n"
    )
    assert lines == ["command name 'vtop' is already taken", "[]"]
