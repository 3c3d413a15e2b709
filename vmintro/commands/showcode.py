"""``CMD --py``: the short Python script that computes what a command prints.

A command registered with ``py=`` gives the body of its script from its parsed
arguments (``py(prog, args)``: the statements, using the public library); every
built-in and shipped plugin command has one. A third party's plugin command
without one gets the library's own way to run it, ``run("LINE")``. The script
is what ``vmintro run SCRIPT.py IMAGE`` runs, with ``prog`` and every helper in
scope as drgn's scripts have them; its imports say where each name comes from.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from vmintro.commands.registry import Command
    from vmintro.program import Program

__all__ = ["hexlit", "hexlits", "script_for"]


def hexlit(value: int) -> str:
    """An address as a Python literal: ``0xc4800000``."""
    return f"{value:#x}"


def hexlits(values: list[int]) -> str:
    """Addresses as a Python tuple: ``(0xc4800000, 0xc4811000)``, ``(0x10b4000,)``."""
    if len(values) == 1:
        return f"({hexlit(values[0])},)"
    return "(" + ", ".join(hexlit(v) for v in values) + ")"


def script_for(prog: Program, cmd: Command, args: argparse.Namespace, line: str) -> str:
    """The script ``line --py`` prints (``line`` without its ``--py``)."""
    head = (
        f"# {line}\n"
        "# as a script: vmintro run SCRIPT.py IMAGE (prog and the helpers are in scope)\n"
    )
    body = cmd.py(prog, args) if cmd.py is not None else None
    if body is None:
        body = f"from vmintro.commands import run\n\nprint(run(prog, {line!r}))\n"
    return head + textwrap.dedent(body).strip("\n") + "\n"
