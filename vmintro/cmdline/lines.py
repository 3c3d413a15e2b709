"""Splitting what the user typed: commands, Python lines, redirections and pipes.

Several commands on one line are separated by ``;`` (outside quotes). A line
starting with ``!`` is Python and is taken whole.

Where a command's output goes, as in crash and gdb:

* ``CMD > FILE``, ``CMD >> FILE``: into FILE (appended with ``>>``);
  ``CMD | SHELL``: through a shell command (crash's spellings);
* ``pipe CMD | SHELL``, ``| CMD | SHELL`` and ``pipe -d DELIM CMD DELIM SHELL``:
  gdb's pipe command. Everything before the first ``|`` (or DELIM) outside
  brackets and quotes is the command, taken whole: its ``>`` and ``|`` are C;
* ``CMD > "FILE"``, ``CMD >> 'FILE'``: a quoted file name is always a file,
  since vmintro's expressions have no strings.

C operators are never taken for these: inside parentheses, brackets and
quotes ``>``, ``>>`` and ``|`` always belong to the expression, and ``->``,
``>=``, ``>>=``, ``||`` and ``|=`` never redirect. Elsewhere (at the *top
level*) the line has two readings when the command's arguments are C
expressions (the registry's ``expressions``): ``p a > 4096`` prints
``a > 4096``, or prints ``a`` into the file ``4096``. A :class:`Judge` says
which readings are valid (:mod:`vmintro.cmdline.readings`: the expressions parse
and name only what the image has); the one valid reading is taken, and a line
with two is refused with :class:`Ambiguous`, which names both and how to write
each. A command whose arguments are no expressions keeps crash's reading: its
first top-level operator redirects.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "Ambiguous",
    "CommandLine",
    "Judge",
    "LineError",
    "Operator",
    "command_spans",
    "explicit_pipe",
    "find_delimiter",
    "quote_file_name",
    "redirection",
    "operators",
    "parse_command",
    "split_commands",
    "word_spans",
]

PIPE_WORD = "pipe"  # gdb's pipe command, recognised before any vmintro command


@dataclass(frozen=True)
class CommandLine:
    """One command with where its output goes."""

    text: str  # the command and its arguments
    redirect: str | None = None  # a file to write
    append: bool = False  # '>>' rather than '>'
    pipe: str | None = None  # a shell command to pipe into
    python: bool = False  # a '!' line: text is Python source


class LineError(ValueError):
    """A line that cannot be split as written; the message is one line."""


class Ambiguous(LineError):
    """A line that reads two ways: a C operator, or a redirection or pipe."""


class Judge(Protocol):
    """What the splitter asks about the commands of a line (see :mod:`.readings`)."""

    def valid(self, text: str) -> bool | None:
        """Whether command line ``text`` runs a command whose expression arguments are
        valid; None when the command takes no expressions (or there is no such command).
        """

    def spell(self, text: str) -> str:
        """``text`` with its expression arguments in parentheses where they hold a
        top-level operator, so that no ``>`` or ``|`` in it can redirect.
        """


@dataclass(frozen=True)
class Operator:
    """A top-level ``>``, ``>>`` or ``|`` of a command line: ``text[start:end]``."""

    start: int
    end: int
    kind: str


def _unquoted(text: str) -> Iterator[tuple[int, str]]:
    """(index, char) of each character of ``text`` outside quotes."""
    quote = None
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
            continue
        if ch == "\\" and quote != "'":
            escaped = True
            continue
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            continue
        yield i, ch


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each shell word of ``text``, quotes included: the runs
    between unquoted blanks, as :func:`shlex.split` separates them."""
    blanks = {i for i, ch in _unquoted(text) if ch.isspace()}
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i in range(len(text) + 1):
        if i == len(text) or i in blanks:
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    return spans


def _top_level(text: str) -> Iterator[tuple[int, str]]:
    """(index, char) of each character outside quotes, parentheses and brackets."""
    depth = 0
    for i, ch in _unquoted(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif depth == 0:
            yield i, ch


# C operators that hold '>' or '|' (or start like one) and never redirect
_C_OPERATOR = re.compile(r"->|<<=|<<|<=|>>=|>=|\|\||\|=")
_REDIRECT = re.compile(r">>|>|\|")


def operators(text: str) -> list[Operator]:
    """The top-level ``>``, ``>>`` and ``|`` of ``text``, in order (``->``, ``>=``,
    ``||`` and the like, and anything inside brackets or quotes, excluded).
    """
    out = []
    skip = 0
    for i, ch in _top_level(text):
        if i < skip or ch not in "-<>|":
            continue
        c_op = _C_OPERATOR.match(text, i)
        if c_op is not None:
            skip = c_op.end()
            continue
        m = _REDIRECT.match(text, i)
        if m is not None:
            out.append(Operator(i, m.end(), m.group()))
            skip = m.end()
    return out


def command_spans(line: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each command of ``line``: the parts between unquoted ``;``
    (a ``!`` line is one part)."""
    if line.lstrip().startswith("!"):
        return [(0, len(line))]
    spans = []
    start = 0
    for i, ch in _unquoted(line):
        if ch == ";":
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(line)))
    return spans


def split_commands(line: str) -> list[str]:
    """The commands of ``line``, split at unquoted ``;`` (a ``!`` line stays whole)."""
    pieces = (line[start:end].strip() for start, end in command_spans(line))
    return [p for p in pieces if p]


def explicit_pipe(text: str) -> tuple[str, str] | None:
    """gdb's pipe: ``(rest, delimiter)`` of ``pipe [-d DELIM] CMD DELIM SHELL`` or
    ``| [-d DELIM] CMD DELIM SHELL`` (``rest`` starts at CMD), None for other lines.

    :raises LineError: for ``-d`` without a delimiter.
    """
    if text.startswith("|"):
        rest = text[1:].lstrip()
    elif text.split(None, 1)[:1] == [PIPE_WORD]:
        rest = text[len(PIPE_WORD) :].lstrip()
    else:
        return None
    if rest == "-d" or rest.startswith(("-d ", "-d\t")):
        parts = rest[2:].split(None, 1)
        if not parts:
            raise LineError("pipe: -d requires a delimiter")
        return (parts[1] if len(parts) > 1 else ""), parts[0]
    return rest, "|"


def find_delimiter(text: str, delimiter: str) -> int | None:
    """Where the first top-level ``delimiter`` of ``text`` starts (``||`` is no ``|``)."""
    if delimiter == "|":
        pipes = [op for op in operators(text) if op.kind == "|"]
        return pipes[0].start if pipes else None
    for i, _ in _top_level(text):
        if text.startswith(delimiter, i):
            return i
    return None


def _parse_pipe(rest: str, delimiter: str) -> CommandLine:
    """The command and shell command of gdb's pipe (:func:`explicit_pipe`)."""
    at = find_delimiter(rest, delimiter)
    if at is None:
        raise LineError(f"pipe: missing delimiter '{delimiter}' before SHELL_COMMAND")
    command, shell = rest[:at].strip(), rest[at + len(delimiter) :].strip()
    if not command:
        raise LineError(f"pipe: missing COMMAND before '{delimiter}'")
    if not shell:
        raise LineError("pipe: missing SHELL_COMMAND")
    return CommandLine(command, pipe=shell)


def _file_name(target: str) -> str | None:
    """The one shell word ``target`` is (quotes removed), or None."""
    try:
        words = shlex.split(target)
    except ValueError:
        return None
    return words[0] if len(words) == 1 else None


def _split(text: str, op: Operator) -> CommandLine | None:
    """The reading of ``text`` that redirects at ``op``; None when the part after it
    is not what that needs (one file name; a shell command) or the command is empty.
    """
    command, target = text[: op.start].strip(), text[op.end :].strip()
    if not command:
        return None
    if op.kind == "|":
        return CommandLine(command, pipe=target) if target else None
    name = _file_name(target)
    return CommandLine(command, redirect=name, append=op.kind == ">>") if name else None


def _split_or_fail(text: str, op: Operator) -> CommandLine:
    """:func:`_split`, or the error that says why it cannot."""
    reading = _split(text, op)
    if reading is not None:
        return reading
    target = text[op.end :].strip()
    if not text[: op.start].strip():
        raise LineError(f"missing command before '{op.kind}'")
    if op.kind == "|":
        raise LineError("missing shell command after '|'")
    if not target:
        raise LineError(f"missing file name after '{op.kind}'")
    raise LineError(f"'{target}' after '{op.kind}' is not one file name (quote a name with spaces)")


def _quoted_target(text: str, op: Operator) -> bool:
    return op.kind != "|" and text[op.end :].lstrip()[:1] in ("'", '"')


def parse_command(text: str, judge: Judge) -> CommandLine:
    """Separate a command from where its output goes (see the module's docstring).

    :raises Ambiguous: when an operator could be C or a redirection, both valid.
    :raises LineError: for a redirection or pipe without its file or command.
    """
    text = text.strip()
    if text.startswith("!"):
        return CommandLine(text[1:].strip(), python=True)
    pipe = explicit_pipe(text)
    if pipe is not None:
        return _parse_pipe(*pipe)
    ops = operators(text)
    if not ops:
        return CommandLine(text)
    for op in ops:
        reading = _split(text, op)
        if reading is not None and _quoted_target(text, op):
            return reading
    verdict = judge.valid(text)
    if verdict is None:  # no expressions: crash's reading
        return _split_or_fail(text, ops[0])
    readings = [CommandLine(text)] if verdict else []
    for op in ops:
        reading = _split(text, op)
        if reading is not None and judge.valid(reading.text):
            readings.append(reading)
    if len(readings) > 1:
        raise Ambiguous(_ambiguity(text, readings, judge))
    if readings:
        return readings[0]
    # no reading is valid: crash's, and the command (or the open) says what is wrong
    return _split_or_fail(text, ops[0])


def redirection(text: str, judge: Judge) -> tuple[int, int] | None:
    """Where in ``text`` (one command) the ``>``, ``>>`` or ``|`` that
    :func:`parse_command` takes for a redirection or pipe stands: ``(start, end)``,
    None when there is none.

    :raises LineError: as :func:`parse_command`.
    """
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    line = parse_command(stripped, judge)
    if line.python or (line.redirect is None and line.pipe is None):
        return None
    pipe = explicit_pipe(stripped)
    if pipe is not None:
        rest, delimiter = pipe
        at = len(stripped) - len(rest) + (find_delimiter(rest, delimiter) or 0)
        return lead + at, lead + at + len(delimiter)
    for op in operators(stripped):
        if stripped[: op.start].strip() == line.text:
            return lead + op.start, lead + op.end
    return None


def quote_file_name(name: str) -> str:
    """``name`` in quotes, as a file name after ``>`` is always read."""
    if not re.search(r'["\\$`]', name):
        return f'"{name}"'
    return "'" + name.replace("'", "'\"'\"'") + "'"


def _spelling(reading: CommandLine, judge: Judge) -> tuple[str, str]:
    """What ``reading`` does, and how to write it so that it reads only so."""
    command = judge.spell(reading.text) if operators(reading.text) else reading.text
    if reading.pipe is not None:
        return f"'{reading.text}' piped into '{reading.pipe}'", f"pipe {command} | {reading.pipe}"
    if reading.redirect is not None:
        where, op = ("appended to", ">>") if reading.append else ("into", ">")
        return (
            f"'{reading.text}' {where} file '{reading.redirect}'",
            f"{command} {op} {quote_file_name(reading.redirect)}",
        )
    spelled = judge.spell(reading.text)
    return f"'{spelled}'", spelled


def _either(items: Sequence[str]) -> str:
    return " or ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " or " + items[-1]


def _ambiguity(text: str, readings: list[CommandLine], judge: Judge) -> str:
    spelled = [_spelling(r, judge) for r in readings]
    whats = [what for what, _ in spelled]
    spellings = [f"'{spelling}'" for _, spelling in spelled]
    return f"ambiguous: '{text}' is {_either(whats)}: write {_either(spellings)}"
