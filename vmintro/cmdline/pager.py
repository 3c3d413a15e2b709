"""A small pager for long interactive output, in the manner of ``more``.

Lines are shown as they are computed; after each screenful the pager waits
for a key: space for the next page, Enter for one more line, ``q`` to stop
(the command stops too). ``set scroll off`` turns it off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

__all__ = ["Pager", "StopOutput", "read_key"]

PROMPT = "-- MORE --  (space: next page, Enter: next line, q: quit)"


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


class Pager:
    """Writes lines to ``out``, pausing every ``rows - 1`` lines."""

    def __init__(self, out: TextIO, rows: int, key: Callable[[], str] = read_key) -> None:
        self.out = out
        self.page = max(rows - 1, 1)
        self.key = key
        self.shown = 0

    def write_line(self, line: str) -> None:
        if self.shown >= self.page:
            self._wait()
        self.out.write(line + "\n")
        self.shown += 1

    def _wait(self) -> None:
        self.out.write(PROMPT)
        self.out.flush()
        try:
            key = self.key()
        finally:
            self.out.write("\r\x1b[K")  # erase the prompt line
        if key in ("q", "Q"):
            raise StopOutput
        self.shown = self.page - 1 if key in ("\r", "\n", "j") else 0
