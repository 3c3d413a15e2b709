"""``plugins``: the commands that plugins added, and the plugins that failed to load."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.registry import command, commands, plugin_errors
from vmintro.commands.result import Column, Part, Row, Table, Text

if TYPE_CHECKING:
    from vmintro.program import Program


@command("plugins", help="list the commands added by plugins")
def plugins(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """Every command registered outside vmintro's built-in set, with the module
    that registered it, then any plugin that failed to load and why.
    """
    rows = [
        Row(command=c.name, module=c.origin, summary=c.help) for c in commands() if not c.builtin
    ]
    if rows:
        yield Table(
            [
                Column("command", "COMMAND", "", 12),
                Column("module", "MODULE", "", 24),
                Column("summary", "DESCRIPTION"),
            ],
            rows,
            name="plugins",
        )
    else:
        yield Text("no plugin commands loaded", name="plugins", data=[])
    errors = plugin_errors()
    if errors:
        yield Table(
            [Column("source", "FAILED PLUGIN", "", 24), Column("error", "ERROR")],
            [Row(source=s, error=e) for s, e in errors],
            name="plugin_errors",
            blank_before=True,
        )
