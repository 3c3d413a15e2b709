"""``plugins``: the plugins loaded, the commands each added, and those that failed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.discovery import loaded_plugins
from vmintro.commands.registry import command, commands, plugin_errors
from vmintro.commands.result import Column, Part, Row, Table, Text

if TYPE_CHECKING:
    from vmintro.program import Program


def _plugin_rows() -> list[Row]:
    """Discovered plugins, then modules that registered commands some other way
    (imported by a script or a test before the session started)."""
    every = commands()  # first: a shipped plugin imported now may fail, and is not listed
    rows = [
        Row(plugin=p.name, source=p.source, commands=list(p.commands))
        for p in loaded_plugins()
        if p.error is None
    ]
    claimed = {name for row in rows for name in row["commands"]}
    by_module: dict[str, list[str]] = {}
    for cmd in every:
        if not cmd.builtin and cmd.name not in claimed:
            by_module.setdefault(cmd.origin, []).append(cmd.name)
    for module, names in by_module.items():
        loaded = sys.modules.get(module)
        source = getattr(loaded, "__file__", None) or module
        rows.append(Row(plugin=module, source=source, commands=names))
    return rows


def _error_and_source(row: Row) -> str:
    return f"{row['error']}  ({row['source']})"


_PLUGINS_PY = """\
from vmintro.commands.discovery import loaded_plugins

for plugin in loaded_plugins():  # plugins/, --plugin-dir, entry points, in load order
    if plugin.error is None:
        print(plugin.name, ",".join(plugin.commands), plugin.source)
    else:
        print(plugin.name, "failed:", plugin.error)
"""


@command(
    "plugins",
    crash="`extend` (lists crash's extension modules)",
    gdb="none: gdb's Python extensions are files read with `source`",
    help="list the plugins, the commands they added, and any that failed",
    py=lambda prog, args: _PLUGINS_PY,
)
def plugins(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """Every plugin loaded (from ``plugins/``, ``--plugin-dir`` or an entry point
    of group ``vmintro.plugins``), with its source and the commands it added; then
    every plugin that failed to load, with its one-line error.
    """
    rows = _plugin_rows()
    if rows:
        yield Table(
            [
                Column("plugin", "PLUGIN", "", 12),
                Column("commands", "COMMANDS", ",".join, 12),
                Column("source", "SOURCE"),
            ],
            rows,
            name="plugins",
        )
    else:
        yield Text("no plugins loaded", name="plugins", data=[])
    names = {p.source: p.name for p in loaded_plugins()}
    errors = [Row(plugin=names.get(s, s), source=s, error=e) for s, e in plugin_errors()]
    if errors:
        yield Table(
            [
                Column("plugin", "FAILED PLUGIN", "", 13),
                Column("source"),
                # the error is one line of any length: the source goes after it, not in a column
                Column("error", "ERROR", text=_error_and_source, json=True),
            ],
            errors,
            name="plugin_errors",
            blank_before=True,
        )
