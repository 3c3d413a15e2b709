"""``eval [-b] EXPR``: an integer expression in every base, as crash prints it::

crash> eval 1024*1024
hexadecimal: 100000  (1MB)
    decimal: 1048576
      octal: 4000000
     binary: 00000000000100000000000000000000
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_number
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Text

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["eval_lines"]

_UNITS = (("GB", 30), ("MB", 20), ("KB", 10))


def _size(value: int) -> str:
    """crash's size note: ``  (1MB)`` when the value is a whole number of KB, MB or GB."""
    for unit, shift in _UNITS:
        if value and value % (1 << shift) == 0:
            return f"  ({value >> shift}{unit})"
    return ""


def eval_lines(value: int, bits: bool = False) -> list[str]:
    """The lines ``eval`` prints for ``value``, as a 32-bit (64 when it needs it) value."""
    width = 32 if -(1 << 31) <= value < 1 << 32 else 64
    unsigned = value & ((1 << width) - 1)
    lines = [
        f"hexadecimal: {unsigned:x}{_size(unsigned)}",
        f"    decimal: {value}" + (f"  ({unsigned})" if value < 0 else ""),
        f"      octal: {unsigned:o}",
        f"     binary: {unsigned:0{width}b}",
    ]
    if bits:
        set_bits = [str(i) for i in range(width) if unsigned >> i & 1]
        lines.append(f"   bits set: {' '.join(reversed(set_bits))}")
    return lines


def _eval_py(prog: Program, args: argparse.Namespace) -> str:
    text = " ".join(args.expression)
    bits = (
        '\nprint("   bits set:", *[i for i in range(31, -1, -1) if unsigned >> i & 1])'
        if args.bits
        else ""
    )
    return (
        "from vmintro.commands.expr import evaluate  # C expressions, as p reads them\n\n"
        f"value = int(evaluate(prog, {text!r}))\n"
        "unsigned = value & 0xFFFFFFFF  # as a 32-bit value\n"
        'print(f"hexadecimal: {unsigned:x}")\n'
        'print(f"    decimal: {value}")\n'
        'print(f"      octal: {unsigned:o}")\n'
        'print(f"     binary: {unsigned:032b}")' + bits + "\n"
    )


@command(
    "eval",
    crash="`eval`",
    gdb="`print` with a format (`p/x`, `p/t`)",
    help="evaluate an integer expression: hex, decimal, octal, binary",
    expressions=("expression",),
    args=[
        arg("-b", "--bits", action="store_true", help="also list the bits that are set"),
        arg("expression", nargs="+", synopsis="expression", help="C integer expression"),
    ],
    py=_eval_py,
)
def eval_(prog: Program, args: argparse.Namespace) -> Text:
    """Evaluate EXPR (numbers are C's: 0x for hex; symbols give their value as
    p does, &sym their address) and print it in hexadecimal (with its size in
    KB, MB or GB when it is a whole number of them), decimal, octal and binary.
    -b also lists the bits set, highest first, as crash's eval -b does.
    """
    text = " ".join(args.expression)
    value = parse_number(prog, text)
    if not -(1 << 63) <= value < 1 << 64:
        raise CommandError(f"eval: {text}: more than 64 bits")
    data = {"expression": text, "value": value}
    return Text("\n".join(eval_lines(value, args.bits)), name="eval", data=data)
