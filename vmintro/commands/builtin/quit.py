"""``quit``: end the session."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.registry import QuitRequested, command

if TYPE_CHECKING:
    from vmintro.program import Program


@command(
    "quit",
    crash="`q`",
    gdb="`quit`",
    help="leave vmintro",
    aliases=("q", "exit"),
    # a script ends after its last statement: there is nothing to translate
    py=lambda prog, args: "# quit ends a session; a script ends after its last statement\n",
)
def quit_(prog: Program, args: argparse.Namespace) -> None:
    """End the session (Ctrl-D at the prompt does the same)."""
    raise QuitRequested
