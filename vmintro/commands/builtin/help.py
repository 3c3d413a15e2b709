"""``help [CMD]``: the list of commands, or one command's manual."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import NUMBERS
from vmintro.commands.registry import arg, command, commands, lookup
from vmintro.commands.result import Column, Part, Row, Table, Text

if TYPE_CHECKING:
    from vmintro.program import Program

INTERFACE_NOTES = """\
In the REPL and in -c scripts:
  CMD; CMD                  one command after the other
  CMD --json                the result as one JSON document
  CMD --py                  the Python script computing it (vmintro run runs it)
  !STATEMENT                run Python with prog and the helpers in scope
  py                        a Python prompt (Ctrl-D returns)"""

# the rule of vmintro.cmdline.lines, said once; help shows it, and with each
# command whose arguments are expressions
OUTPUT_NOTES = """\
Output goes to the terminal, or (here, in gdb's vm and in drgn's %vm):
  CMD > FILE, CMD >> FILE   write (append) it to FILE; CMD > "FILE" always does
  CMD | SHELL-COMMAND       pipe it through a shell command
  pipe CMD | SHELL-COMMAND  gdb's pipe: CMD is all before the first | outside
  | CMD | SHELL-COMMAND     ( ) and quotes, taken whole and never split;
                            pipe -d DELIM CMD DELIM SHELL-COMMAND: another |
A C operator is never taken for these: inside ( ), [ ] and quotes > >> | are
C, and -> >= >>= || |= always are. Where a command's arguments are
expressions, a line that reads both ways is refused, naming both:
'p vmlist > 4096' is p (vmlist > 4096) or p vmlist into file 4096. A reading
counts when its expressions parse and name only symbols, members and types
the image has: 'p vmlist > out.txt' writes out.txt (out is no symbol)."""


def output_notes() -> str:
    """:data:`OUTPUT_NOTES`, naming the commands (plugins' too) that take expressions."""
    names = ", ".join(c.name for c in commands() if c.expressions)
    listed = textwrap.fill(f"Commands whose arguments are expressions: {names}.", 78)
    return f"{OUTPUT_NOTES}\n{listed}"


def _help_py(prog: Program, args: argparse.Namespace) -> str:
    if args.command and args.command not in ("pipe", "|"):
        name = lookup(args.command).name
        return (
            "from vmintro.commands import lookup\n\n"
            f"cmd = lookup({name!r})  # the one command registry: name, options, help\n"
            "print(cmd.help_text())\n"
        )
    return (
        "from vmintro.commands import commands\n\n"
        "for cmd in commands():  # every registered command, plugins' too\n"
        "    print(cmd.name, ','.join(cmd.aliases) or '-', cmd.help)\n"
    )


@command(
    "help",
    crash="`help`",
    gdb="`help`",
    help="list the commands, or show one command's manual",
    args=[arg("command", nargs="?", help="a command name")],
    py=_help_py,
)
def help_(prog: Program, args: argparse.Namespace) -> Part | Iterator[Part]:
    """Without an argument, every command with its one-line summary; with
    one, its synopsis, description and options.
    """
    if args.command in ("pipe", "|"):  # gdb's pipe is read by the line, not a command
        text = output_notes()
        return Text(text, name="help", data={"command": "pipe", "text": text})
    if args.command:
        cmd = lookup(args.command)
        text = cmd.help_text()
        if cmd.expressions:
            text += "\n\nOUTPUT\n" + textwrap.indent(output_notes(), "  ")
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
    parts: list[Table | Text] = [
        table,
        Text(INTERFACE_NOTES, name="notes", blank_before=True),
        Text(output_notes(), name="output", blank_before=True),
        Text(NUMBERS, name="numbers", blank_before=True),
    ]
    return iter(parts)
