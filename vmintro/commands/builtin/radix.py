"""``hex`` and ``dec``: crash's shorthands for ``set radix 16`` and ``set radix 10``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.registry import command
from vmintro.commands.result import Text
from vmintro.commands.settings import settings, settings_py

if TYPE_CHECKING:
    from vmintro.program import Program


def _set_radix(prog: Program, radix: int) -> Text:
    settings(prog).radix = radix
    word = "hexadecimal" if radix == 16 else "decimal"
    return Text(f"output radix: {radix} ({word})", name="radix", data={"radix": radix})


@command(
    "hex",
    crash="`hex` (`set radix 16`)",
    gdb="`set output-radix 16`",
    help="print integers in hex from now on (set radix 16)",
    py=lambda prog, args: settings_py({"radix": 16}),
)
def hex_(prog: Program, args: argparse.Namespace) -> Text:
    """Set the output radix of p and struct to 16, as crash's hex does."""
    return _set_radix(prog, 16)


@command(
    "dec",
    crash="`dec` (`set radix 10`)",
    gdb="`set output-radix 10`",
    help="print integers in decimal from now on (set radix 10)",
    py=lambda prog, args: settings_py({"radix": 10}),
)
def dec(prog: Program, args: argparse.Namespace) -> Text:
    """Set the output radix of p and struct to 10, as crash's dec does."""
    return _set_radix(prog, 10)
