"""A small pager for long interactive output, in the manner of ``less``.

Lines are shown as they are computed; after each screenful the pager waits
for a key: space (or ``f``) for the next page, Enter (or ``j``) for one more
line, ``b`` back a page and ``k`` back a line, ``g`` to the first line, ``/``
and a pattern (a regular expression, or the text itself when it is none) to
the next line holding it, ``n`` to the next match again, ``q`` to stop (the
command stops too). Going back redraws lines already computed; a search past
them reads on through the command's output without showing it until a line
matches. ``set scroll off`` turns the pager off.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import TextIO

__all__ = ["Pager", "StopOutput", "read_key"]

PROMPT = "-- MORE --  (space: next page, Enter: line, b: back, /: search, n: next, q: quit)"
# lines kept for going back and searching; older ones are dropped (and the top with them)
MAX_LINES = 100_000
_CLEAR = "\x1b[H\x1b[2J"  # home the cursor, clear the screen
_ERASE_LINE = "\r\x1b[K"
_BACKSPACE = ("\x7f", "\b")


class StopOutput(Exception):
    """The reader of the output wants no more (``q`` in the pager, a closed pipe)."""


def read_key(fd: int | None = None) -> str:
    """One key press from the terminal, without waiting for Enter.

    Ctrl-C still interrupts: the terminal keeps its signal keys.
    """
    import termios
    import tty

    fd = sys.stdin.fileno() if fd is None else fd
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        return os.read(fd, 1).decode(errors="replace")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _pattern(text: str) -> re.Pattern[str]:
    """``text`` as a regular expression, or literally when it is not one."""
    try:
        return re.compile(text)
    except re.error:
        return re.compile(re.escape(text))


class Pager:
    """Writes lines to ``out``, pausing every ``rows - 1`` lines.

    The lines shown are ``lines[top:bottom]``; lines past ``bottom`` were computed
    while the reader looked back (or skipped by a search) and come next.
    """

    def __init__(self, out: TextIO, rows: int, key: Callable[[], str] = read_key) -> None:
        self.out = out
        self.page = max(rows - 1, 1)
        self.key = key
        self.lines: list[str] = []
        self.top = 0
        self.bottom = 0
        self.searching: re.Pattern[str] | None = None
        self.last_search: re.Pattern[str] | None = None

    def write_line(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) > MAX_LINES:
            drop = len(self.lines) - MAX_LINES
            del self.lines[:drop]
            self.top = max(self.top - drop, 0)
            self.bottom = max(self.bottom - drop, 0)
        self._pump()

    def finish(self) -> None:
        """The output ended: say so when a search found nothing in it."""
        if self.searching is not None:
            self.out.write(f"(pattern not found: {self.searching.pattern})\n")
            self.searching = None

    # -- showing ---------------------------------------------------------------------

    def _pump(self) -> None:
        """Show the lines not shown yet while the screen has room; ask when it is full."""
        while self.bottom < len(self.lines):
            if self.searching is not None:
                index = self.bottom
                self.bottom += 1  # read past, unshown
                if self.searching.search(self.lines[index]):
                    self.searching = None
                    self._redraw(index)
                continue
            if self.bottom - self.top < self.page:
                self.out.write(self.lines[self.bottom] + "\n")
                self.bottom += 1
                continue
            self._ask()

    def _redraw(self, top: int) -> None:
        """Clear the screen; the next lines shown start at ``top``."""
        self.out.write(_CLEAR)
        self.top = self.bottom = max(top, 0)

    # -- the reader's keys -----------------------------------------------------------

    def _ask(self) -> None:
        """Wait for a key that moves the view (others are ignored)."""
        while True:
            self.out.write(PROMPT)
            self.out.flush()
            try:
                key = self.key()
            finally:
                self.out.write(_ERASE_LINE)
            if key in ("q", "Q"):
                raise StopOutput
            if key in (" ", "f"):
                self.top = self.bottom
                return
            if key in ("\r", "\n", "j"):
                self.top += 1
                return
            if key in ("b", "k", "g", "<"):
                back = {"b": self.page, "k": 1}.get(key, self.top)
                if self.top == 0:
                    continue  # already at the first line
                self._redraw(self.top - back)
                return
            if key in ("/", "n"):
                pattern = self._read_pattern() if key == "/" else self.last_search
                if pattern is None:
                    continue
                self.last_search = pattern
                self._search(pattern)
                return

    def _read_pattern(self) -> re.Pattern[str] | None:
        """The pattern typed after ``/``, up to Enter (Backspace edits, Escape cancels)."""
        typed = ""
        self.out.write("/")
        self.out.flush()
        while True:
            key = self.key()
            if key in ("\r", "\n"):
                break
            if key == "\x1b":
                typed = ""
                break
            if key in _BACKSPACE:
                if typed:
                    typed = typed[:-1]
                    self.out.write("\b \b")
            elif key.isprintable():
                typed += key
                self.out.write(key)
            self.out.flush()
        self.out.write(_ERASE_LINE)
        return _pattern(typed) if typed else None

    def _search(self, pattern: re.Pattern[str]) -> None:
        """Show from the next line after the top that matches, reading on for it."""
        for index in range(self.top + 1, len(self.lines)):
            if pattern.search(self.lines[index]):
                self._redraw(index)
                return
        # not among the lines computed so far: read on, unshown, until one matches
        self.searching = pattern
        self.bottom = len(self.lines)
