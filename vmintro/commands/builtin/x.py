"""``x/NFU ADDR``: gdb's examine, through vmintro's page-table walk::

    vmintro> x/4wx vmlist
    0xc10b61e0:     0x00000002      0xc4800000      0x00011000      0xc10b6200

N values (default 1) of unit U (b 1, h 2, w 4, g 8 bytes; default w) in format
F (x hex, zero-padded as gdb's x pads; d u o t; a an address with
``<symbol+offset>``; c a character; s a string), as many to a line as gdb puts.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import check_address
from vmintro.commands.builtin.rd import string_rows
from vmintro.commands.expr import evaluate
from vmintro.commands.registry import CommandError, UsageError, arg, command
from vmintro.commands.result import Text
from vmintro.types.model import Array, Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["XFormat", "parse_x_format"]

_UNITS = {"b": 1, "h": 2, "w": 4, "g": 8}
_PER_LINE = {1: 8, 2: 8, 4: 4, 8: 2}  # gdb's do_examine: maxelts by size
_LETTERS = "xzduotacs"
_SPEC = re.compile(r"(\d*)([a-z]*)")
MAX_COUNT = 1 << 16


@dataclass(frozen=True)
class XFormat:
    count: int = 1
    letter: str = "x"
    size: int = 4


def parse_x_format(spec: str) -> XFormat:
    """gdb's ``/NFU``: a count, then a format letter and a unit letter in any order."""
    m = _SPEC.fullmatch(spec)
    if not m:
        raise UsageError(f'x: bad format "/{spec}": /NFU, as x/8wx')
    count = int(m.group(1)) if m.group(1) else 1
    letter, size = "x", 0
    for c in m.group(2):
        if c in _UNITS:
            size = _UNITS[c]
        elif c in _LETTERS:
            letter = c
        else:
            raise UsageError(f'x: undefined format letter "{c}" (formats {_LETTERS}, units bhwg)')
    if not 0 < count <= MAX_COUNT:
        raise UsageError(f"x: count {count}: 1 to {MAX_COUNT}")
    if letter == "a":
        size = 4  # an address: the pointer size, whatever unit was asked
    elif letter == "c" and not size:
        size = 1
    return XFormat(count, letter, size or 4)


def _label(prog: Program, address: int) -> str:
    sym = prog.symbol_at(address)
    if sym is None or address >= sym.address + max(sym.size, 1):
        return f"{address:#x}:"
    off = address - sym.address
    return f"{address:#x} <{sym.name}{f'+{off}' if off else ''}>:"


def _value(prog: Program, value: int, fmt: XFormat) -> str:
    bits = 8 * fmt.size
    signed = value - (1 << bits) if value >> (bits - 1) else value
    letter = fmt.letter
    if letter in "xz":
        return f"0x{value:0{bits // 4}x}"
    if letter == "d":
        return str(signed)
    if letter == "u":
        return str(value)
    if letter == "o":
        return f"0{value:o}" if value else "0"
    if letter == "t":
        return f"{value:0{bits}b}"
    if letter == "c":
        byte = value & 0xFF
        shown = chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}"
        return f"{byte - 256 if byte >= 0x80 else byte} '{shown}'"
    sym = prog.symbol_at(value)  # a
    if sym is not None and value < sym.address + max(sym.size, 1):
        off = value - sym.address
        return f"{value:#x} <{sym.name}{f'+{off}' if off else ''}>"
    return f"{value:#x}"


def _address(prog: Program, text: str) -> int:
    """gdb's reading of x's argument: a pointer or integer is the address, an
    array or struct (an lvalue) its own address."""
    value = evaluate(prog, text)
    t = strip_typedefs(value.type_)
    if isinstance(t, (Struct, Array)):
        if value.address_ is None:
            raise CommandError(f"x: '{text}' has no address")
        return value.address_
    return check_address(prog, int(value) & 0xFFFFFFFF)


_LABEL_PY = """\
def label_of(value):  # the address, and the symbol holding it
    sym = prog.symbol_at(value)
    if sym is None or value >= sym.address + max(sym.size, 1):
        return f"{value:#x}"
    offset = value - sym.address
    return f"{value:#x} <{sym.name}" + (f"+{offset}" if offset else "") + ">"


"""
_STRINGS_PY = """\
address = {address:#x}
for _ in range({count}):  # each string after the last one's NUL
    raw = bytearray()
    while len(raw) < 4096 and (byte := prog.read(address + len(raw), 1)) != b"\\0":
        raw += byte
    text = "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in raw[:60])  # its first line
    print((label_of(address) + ':\\t"' + text + '"').expandtabs(8))
    address += len(raw) + 1
"""


def _x_py(prog: Program, args: argparse.Namespace) -> str | None:
    fmt: XFormat = args.format or XFormat()
    address = _address(prog, " ".join(args.expression))
    if fmt.letter == "s":
        return _LABEL_PY + _STRINGS_PY.format(address=address, count=fmt.count)
    bits = 8 * fmt.size
    cell = {
        "x": f"f'0x{{w:0{2 * fmt.size}x}}'",
        "z": f"f'0x{{w:0{2 * fmt.size}x}}'",
        "u": "str(w)",
        "d": f"str(w - (1 << {bits}) if w >> {bits - 1} else w)",
        "o": "f'0{w:o}' if w else '0'",
        "t": f"f'{{w:0{bits}b}}'",
        "c": "char(w & 0xFF)",
        "a": "label_of(w)",
    }[fmt.letter]
    char = (
        "def char(byte):  # the byte as a signed number, then itself or its octal escape\n"
        "    shown = chr(byte) if 0x20 <= byte < 0x7F else f'\\\\{byte:03o}'\n"
        "    return f\"{byte - 256 if byte >= 0x80 else byte} '{shown}'\"\n\n\n"
        if fmt.letter == "c"
        else ""
    )
    per_line = _PER_LINE[fmt.size]
    return (
        _LABEL_PY + char + f"address, size = {address:#x}, {fmt.size}\n"
        f"data = prog.read(address, {fmt.count} * size)\n"
        "words = [int.from_bytes(data[i : i + size], 'little')\n"
        "         for i in range(0, len(data), size)]\n"
        f"for i in range(0, len(words), {per_line}):  # as many to a line as gdb puts\n"
        f"    cells = [{cell} for w in words[i : i + {per_line}]]\n"
        "    print((label_of(address + i * size) + ':\\t' + '\\t'.join(cells)).expandtabs(8))\n"
    )


@command(
    "x",
    crash="`rd`",
    gdb="`x`",
    help="examine memory, as gdb's x/NFU ADDR",
    expressions=("expression",),
    formats=parse_x_format,
    args=[arg("expression", nargs="+", synopsis="expression", help="an address expression")],
    py=_x_py,
)
def x(prog: Program, args: argparse.Namespace) -> Text:
    """gdb's x: N units from ADDR, where ADDR is any expression as gdb reads it
    (a pointer's value, an integer, or the address of an array or struct; write
    &var for a variable's own address). vmalloc addresses read through the
    page tables, which gdb itself cannot do on these cores.
    /NFU: N a count (1), F a format (x z d u o t a c s; x), U a unit (b h w g;
    w). x/s prints the string at ADDR.
    """
    fmt: XFormat = args.format or XFormat()
    text = " ".join(args.expression)
    address = _address(prog, text)
    if fmt.letter == "s":
        lines = []
        for _ in range(fmt.count):
            rows = list(string_rows(prog, address, 4096, False))  # 60 characters a row
            lines.append(f'{_label(prog, address)}\t"{rows[0]["text"]}"')
            # the next string starts after this one's NUL, however long it is
            address += sum(len(r["text"]) for r in rows) + 1
        text = "\n".join(lines).expandtabs(8)
        return Text(text, name="x", data={"address": address, "format": "s"})
    per_line = _PER_LINE[fmt.size]
    data = prog.read(address, fmt.count * fmt.size)
    values = [
        int.from_bytes(data[i : i + fmt.size], "little") for i in range(0, len(data), fmt.size)
    ]
    lines = []
    for i in range(0, len(values), per_line):
        cells = "\t".join(_value(prog, v, fmt) for v in values[i : i + per_line])
        lines.append(f"{_label(prog, address + i * fmt.size)}\t{cells}")
    # gdb separates with tabs; a terminal shows them at 8-column stops, and so do these
    return Text(
        "\n".join(lines).expandtabs(8),
        name="x",
        data={"address": address, "size": fmt.size, "format": fmt.letter, "values": values},
    )
