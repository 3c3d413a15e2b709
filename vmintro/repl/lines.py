"""Splitting what the user typed: commands, Python lines, redirections and pipes.

As in crash, ``CMD > FILE`` and ``CMD >> FILE`` write the output to a file and
``CMD | SHELL`` pipes it through a shell command. ``->`` is a C operator, not a
redirection; anything in quotes is left alone. Several commands on one line
are separated by ``;``. A line starting with ``!`` is Python and is taken
whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["CommandLine", "parse_command", "split_commands"]


@dataclass(frozen=True)
class CommandLine:
    """One command with where its output goes."""

    text: str  # the command and its arguments
    redirect: str | None = None  # a file to write
    append: bool = False  # '>>' rather than '>'
    pipe: str | None = None  # a shell command to pipe into
    python: bool = False  # a '!' line: text is Python source


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


def split_commands(line: str) -> list[str]:
    """The commands of ``line``, split at unquoted ``;`` (a ``!`` line stays whole)."""
    if line.lstrip().startswith("!"):
        return [line.strip()]
    pieces = []
    start = 0
    for i, ch in _unquoted(line):
        if ch == ";":
            pieces.append(line[start:i])
            start = i + 1
    pieces.append(line[start:])
    return [p.strip() for p in pieces if p.strip()]


def parse_command(text: str) -> CommandLine:
    """Separate a command from its ``> FILE``, ``>> FILE`` or ``| SHELL`` tail.

    :raises ValueError: for a redirection without a file name.
    """
    text = text.strip()
    if text.startswith("!"):
        return CommandLine(text[1:].strip(), python=True)
    for i, ch in _unquoted(text):
        if ch == "|":
            pipe = text[i + 1 :].strip()
            if not pipe:
                raise ValueError("missing shell command after '|'")
            return CommandLine(text[:i].strip(), pipe=pipe)
        if ch == ">" and (i == 0 or text[i - 1] != "-"):
            append = text[i + 1 : i + 2] == ">"
            target = text[i + (2 if append else 1) :].strip()
            if not target:
                raise ValueError("missing file name after '>'")
            return CommandLine(text[:i].strip(), redirect=target, append=append)
    return CommandLine(text)
