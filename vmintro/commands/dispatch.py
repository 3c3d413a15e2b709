"""From a command's words to its results, for any interface (REPL, ``-c``, gdb).

:func:`prepare` finds the command and parses its arguments; the returned
:class:`Invocation` runs it lazily through :meth:`Invocation.parts`.
:func:`run` does both and collects everything, for scripts and tests::

    >>> from vmintro.commands import run
    >>> [table] = run(prog, "vmlist")
    >>> table.rows[0]["addr"]
    3296722944
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmintro.commands.registry import Command, UsageError, lookup
from vmintro.commands.result import Move, Output, Part, Table, Text, parts_of

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["Invocation", "prepare", "run", "split_words"]


# The longest command (one of a line's ';'-separated commands) that is read: far past any
# typed or written by a script; shlex's time grows with the square of a word's length (a
# word of 3 MB took minutes).
MAX_COMMAND_CHARS = 1 << 16


def split_words(line: str) -> list[str]:
    """The words of a command line, shell-quoted as crash's are.

    :raises UsageError: for an unterminated quote, or a command longer than
        MAX_COMMAND_CHARS.
    """
    if len(line) > MAX_COMMAND_CHARS:
        raise UsageError(
            f"a command of {len(line)} characters: at most {MAX_COMMAND_CHARS} are read"
        )
    try:
        return shlex.split(line)
    except ValueError as e:
        raise UsageError(f"cannot parse line: {e}") from None


@dataclass
class Invocation:
    """A command ready to run: the command, its parsed arguments, its output mode."""

    prog: Program
    command: Command
    args: argparse.Namespace
    line: str
    json: bool = False
    # set once the command has yielded a table of findings (Table.findings)
    findings: bool = False
    # --py: show the script that computes the command's output instead of running it
    show_code: bool = False
    # the program the session reads next, once the command has moved it in time (Move)
    moved_to: Program | None = None

    def parts(self) -> Iterator[Part]:
        """Run the command; parts (and their rows) are computed as they are consumed."""
        if self.show_code:
            from vmintro.commands.showcode import script_for

            script = script_for(self.prog, self.command, self.args, self.line)
            yield Text(script.rstrip("\n"), name="py", data={"script": script})
            return
        for part in parts_of(self.command.func(self.prog, self.args)):
            if isinstance(part, Table) and part.findings:
                self.findings = True
            if isinstance(part, Move):
                self.moved_to = part.program
            yield part


def prepare(prog: Program, words: list[str], line: str | None = None) -> Invocation:
    """The invocation of ``words`` (command name first).

    ``CMD --help`` (and ``CMD -h``, unless the command has its own ``-h``)
    become ``help CMD``; ``CMD/FMT`` is ``CMD /FMT`` (gdb's ``p/x``).

    :raises UsageError: for an unknown command or arguments it does not take.
    """
    if not words:
        raise UsageError("empty command")
    # gdb's p/x: the format letter is joined to the name; the command reads it as "/x"
    name, slash, fmt = words[0].partition("/")
    cmd = lookup(name if slash and name else words[0])
    rest = [f"/{fmt}", *words[1:]] if slash and name else words[1:]
    text = line if line is not None else shlex.join(words)
    own_h = "-h" in cmd.parser._option_string_actions  # list uses -h itself, as in crash
    if "--help" in rest or ("-h" in rest and not own_h):
        helper = lookup("help")
        return Invocation(prog, helper, helper.parse([cmd.name]), text)
    # CMD --py: the arguments are read as the command reads them, the script is shown
    show_code = "--py" in rest
    if show_code:
        rest = [w for w in rest if w != "--py"]
        text = " ".join(w for w in text.split(" ") if w != "--py")
    args = cmd.parse(rest)
    json = bool(getattr(args, "json", False))
    return Invocation(prog, cmd, args, text, json=json, show_code=show_code)


def run(prog: Program, line: str) -> Output:
    """Run one command line and return its parts, every table's rows in a list;
    the result's ``text`` (and ``str()``) is what the command prints.

    :raises UsageError: for bad usage; any error of the command itself propagates.
    """
    invocation = prepare(prog, split_words(line), line)
    out = Output()
    for part in invocation.parts():
        if isinstance(part, Table):
            part.rows = list(part.rows)
        out.append(part)
    return out
