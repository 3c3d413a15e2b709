"""``goto N|end``, ``step [K]``, ``back [K]``: move the session in the image's timeline.

After ``goto 42`` every command reads the kernel just after entry 42
(``prog.at(42)``); the prompt says so (``vmintro [42/10000]>``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.builtin._timeline import move_py, move_to
from vmintro.commands.registry import CommandError, UsageError, arg, command
from vmintro.timeline.moments import require_timeline

if TYPE_CHECKING:
    from vmintro.commands.result import Move
    from vmintro.program import Program


def _where(prog: Program) -> tuple[int, int]:
    """(the moment the session shows, the last entry)."""
    last = len(require_timeline(prog).entries) - 1
    moment = prog.moment
    return (last if moment is None else moment), last


def _goto_target(prog: Program, args: argparse.Namespace) -> int:
    _, last = _where(prog)
    text = args.entry.strip()
    if text == "end":
        return last
    try:
        n = int(text, 10)
    except ValueError:
        raise UsageError(f"goto: '{text}' is not an entry number (0 to {last}) or end") from None
    if not 0 <= n <= last:
        raise CommandError(f"goto: no entry {n}: the timeline has entries 0 to {last}")
    return n


@command(
    "goto",
    crash="none: crash reads one moment of a dump",
    gdb="`record goto N` on a recording",
    help="read the kernel just after entry N of the timeline (end: the image itself)",
    args=[arg("entry", metavar="N|end", help="an entry number, or end")],
    py=lambda prog, args: move_py(prog, _goto_target(prog, args)),
)
def goto(prog: Program, args: argparse.Namespace) -> Move:
    """Move the session to the kernel just after entry N of the image's timeline:
    every command after it (vmlist, vtop, rd, map, py's prog) reads memory as it
    was then. goto 0 is the booted kernel, goto end the image itself.
    """
    return move_to(prog, _goto_target(prog, args))


def _count(text: int) -> int:
    if text < 1:
        raise UsageError(f"the count {text} is not a positive number of entries")
    return text


def _step_target(prog: Program, args: argparse.Namespace) -> int:
    count = _count(args.count)
    moment, last = _where(prog)
    if moment == last:
        raise CommandError(f"step: already at the last entry ({last}), the image itself")
    return min(moment + count, last)


def _back_target(prog: Program, args: argparse.Namespace) -> int:
    count = _count(args.count)
    moment, _ = _where(prog)
    if moment == 0:
        raise CommandError("back: already at entry 0, the booted kernel")
    return max(moment - count, 0)


@command(
    "step",
    crash="none: crash reads one moment of a dump",
    gdb="`stepi` on a recording",
    help="move the session K entries (default 1) forward in the timeline",
    args=[arg("count", nargs="?", type=int, default=1, metavar="K", help="entries (default 1)")],
    py=lambda prog, args: move_py(prog, _step_target(prog, args)),
)
def step(prog: Program, args: argparse.Namespace) -> Move:
    """Move the session forward by K entries of the image's timeline (no further
    than its last entry, the image itself), and say which call the session is now after.
    """
    return move_to(prog, _step_target(prog, args))


@command(
    "back",
    crash="none: crash reads one moment of a dump",
    gdb="`reverse-stepi` on a recording (`record full`, or rr)",
    help="move the session K entries (default 1) back in the timeline",
    args=[arg("count", nargs="?", type=int, default=1, metavar="K", help="entries (default 1)")],
    py=lambda prog, args: move_py(prog, _back_target(prog, args)),
)
def back(prog: Program, args: argparse.Namespace) -> Move:
    """Move the session back by K entries of the image's timeline (no further than
    entry 0, the booted kernel)."""
    return move_to(prog, _back_target(prog, args))
