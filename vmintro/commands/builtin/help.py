"""``help [CMD]``: the list of commands, or one command's manual."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import NUMBERS
from vmintro.commands.registry import arg, command, commands, lookup
from vmintro.commands.result import Column, Part, Row, Table, Text

if TYPE_CHECKING:
    from vmintro.program import Program

INTERFACE_NOTES = """\
In the REPL and in -c scripts:
  CMD > FILE, CMD >> FILE   write (append) the output to FILE
  CMD | SHELL-COMMAND       pipe the output through a shell command
  CMD --json                the result as one JSON document
  !STATEMENT                run Python with prog and the helpers in scope
  py                        a Python prompt (Ctrl-D returns)"""


@command(
    "help",
    help="list the commands, or show one command's manual",
    args=[arg("command", nargs="?", help="a command name")],
)
def help_(prog: Program, args: argparse.Namespace) -> Part | Iterator[Part]:
    """Without an argument, every command with its one-line summary; with
    one, its synopsis, description and options.
    """
    if args.command:
        cmd = lookup(args.command)
        text = cmd.help_text()
        return Text(text, name="help", data={"command": cmd.name, "text": text})
    every = commands()
    rows = [
        Row(command=c.name, aliases=list(c.aliases), summary=c.help, builtin=c.builtin)
        for c in every
    ]
    # the whole list is known: columns as wide as their longest entry (plugins' names too)
    name_width = max([8, *(len(c.name) for c in every)])
    alias_width = max([11, *(len(",".join(c.aliases)) for c in every)])
    table = Table(
        [
            Column("command", "COMMAND", "", name_width),
            Column("aliases", "ALIASES", lambda a: ",".join(a) or "-", alias_width),
            Column("summary", "DESCRIPTION"),
            Column("builtin"),
        ],
        rows,
        name="commands",
    )
    return iter(
        [
            table,
            Text(INTERFACE_NOTES, name="notes", blank_before=True),
            Text(NUMBERS, name="numbers", blank_before=True),
        ]
    )
