"""``rd [-8|-16|-32|-64|-s|-a] [-p] ADDR [COUNT]``: read memory, as crash does::

c0211000:  c100001c 00004000 00004000 00003f2c   ....@...@...,?..
c0211028:  00000000 c10b61e0 mem_map  00000000          (rd -s)
"""

from __future__ import annotations

import argparse
import struct
from collections.abc import Iterator
from textwrap import dedent
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.commands.argtypes import parse_address, parse_number, split_count
from vmintro.commands.registry import CommandError, arg, command, one_of
from vmintro.commands.result import Column, Row, Table

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["read_rows", "string_rows", "symbolic"]

LINE_BYTES = 16
STRING_LINE = 60
STRING_LIMIT = 4096
_FORMATS = {8: "B", 16: "H", 32: "I", 64: "Q"}


def _ascii(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


def _chunks(prog: Program, address: int, size: int, physical: bool) -> Iterator[tuple[int, bytes]]:
    """(address, bytes) of successive reads, a page at most each (a fault stops at its page)."""
    while size > 0:
        n = min(size, PAGE_SIZE - (address & (PAGE_SIZE - 1)))
        yield address, prog.read(address, n, physical=physical)
        address += n
        size -= n


def read_rows(prog: Program, address: int, count: int, width: int, physical: bool) -> Iterator[Row]:
    """One row per 16 bytes: the address, ``count`` values of ``width`` bits, ASCII."""
    unit = width // 8
    fmt = "<" + _FORMATS[width]
    pending = b""
    line_addr = address
    for _addr, data in _chunks(prog, address, count * unit, physical):
        pending += data
        while len(pending) >= LINE_BYTES:
            line, pending = pending[:LINE_BYTES], pending[LINE_BYTES:]
            yield Row(address=line_addr, values=_values(line, fmt, unit), ascii=_ascii(line))
            line_addr += LINE_BYTES
    if pending:
        yield Row(address=line_addr, values=_values(pending, fmt, unit), ascii=_ascii(pending))


def symbolic(prog: Program, value: int) -> str:
    """crash's ``rd -s`` cell: ``symbol+offset`` for a value inside a kernel symbol,
    else the value in hex."""
    sym = prog.symbol_at(value)
    if sym is None or value >= sym.address + max(sym.size, 1):
        return f"{value:08x}"
    off = value - sym.address
    return f"{sym.name}+{off}" if off else sym.name


def _symbolic(prog: Program, address: int, count: int, physical: bool) -> Table:
    """``rd -s``: 32-bit values, four to a line, each a symbol where it is one."""
    rows = (
        Row(
            address=row["address"],
            values=row["values"],
            symbols=[symbolic(prog, v) for v in row["values"]],
        )
        for row in read_rows(prog, address, count, 32, physical)
    )
    columns = [
        Column("address", "ADDRESS", lambda a: f"{a:x}:", 9),
        Column("values"),
        Column("symbols", "SYMBOLS", lambda names: " ".join(f"{n:<8}" for n in names).rstrip()),
    ]
    return Table(columns, rows, name="rd", header=False, sep="  ")


def _values(data: bytes, fmt: str, unit: int) -> list[int]:
    return [struct.unpack_from(fmt, data, i)[0] for i in range(0, len(data), unit)]


def string_rows(prog: Program, address: int, limit: int, physical: bool) -> Iterator[Row]:
    """``rd -a``: the string at ``address`` up to a NUL (or ``limit`` bytes), 60 a line."""
    text = bytearray()
    for _addr, data in _chunks(prog, address, limit, physical):
        nul = data.find(b"\0")
        text += data if nul < 0 else data[:nul]
        if nul >= 0:
            break
    # an empty string still gets its line: the address, and nothing after it
    for i in range(0, max(len(text), 1), STRING_LINE):
        yield Row(address=address + i, text=_ascii(bytes(text[i : i + STRING_LINE])))


def _rd_py(prog: Program, args: argparse.Namespace) -> str:
    text, count_text = split_count(args.address)
    address = parse_address(prog, text, physical=args.physical)
    count = parse_number(prog, count_text) if count_text else None
    physical = ", physical=True" if args.physical else ""
    if args.ascii:
        return dedent(f"""\
            data = prog.read({address:#x}, {count or STRING_LIMIT}{physical}).split(b"\\0")[0]
            text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)
            for i in range(0, max(len(text), 1), 60):  # 60 characters a line
                print(f"{{{address:#x} + i:x}}:  {{text[i : i + 60]}}")
            """)
    width = 32 if args.symbols else args.width or 32
    unit = width // 8
    cell = (
        "(name_of(w) if name_of(w) else f'{w:08x}')" if args.symbols else f"f'{{w:0{2 * unit}x}}'"
    )
    names = (
        dedent("""\
            def name_of(value):  # symbol+offset when the value lies in a kernel symbol
                sym = prog.symbol_at(value)
                if sym is None or value >= sym.address + max(sym.size, 1):
                    return None
                off = value - sym.address
                return f"{sym.name}+{off}" if off else sym.name


            """)
        if args.symbols
        else ""
    )
    ascii_part = (
        ""
        if args.symbols
        else ' + "  " + "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in line)'
    )
    return names + dedent(f"""\
        address = {address:#x}
        data = prog.read(address, {(count or 1) * unit}{physical})
        for off in range(0, len(data), 16):  # 16 bytes a line
            line = data[off : off + 16]
            words = [int.from_bytes(line[i : i + {unit}], "little")
                     for i in range(0, len(line), {unit})]
            print(f"{{address + off:x}}:  " + " ".join({cell} for w in words){ascii_part})
        """)


@command(
    "rd",
    crash="`rd`",
    gdb="`x`",
    help="read memory: hex words with ASCII, or a string",
    expressions=("address",),
    args=[
        one_of(
            arg("-8", dest="width", action="store_const", const=8, help="bytes"),
            arg("-16", dest="width", action="store_const", const=16, help="16-bit values"),
            arg("-32", dest="width", action="store_const", const=32, help="32-bit (default)"),
            arg("-64", dest="width", action="store_const", const=64, help="64-bit values"),
            arg("-a", "--ascii", action="store_true", help="show the string at ADDR"),
            arg("-s", "--symbols", action="store_true", help="32-bit values, symbols by name"),
        ),
        arg("-p", "--physical", action="store_true", help="ADDR is a physical address"),
        arg(
            "address",
            nargs="+",
            synopsis="address [count]",
            help="address (hex), symbol or expression, then COUNT (decimal unless 0x)",
        ),
    ],
    py=_rd_py,
)
def rd(prog: Program, args: argparse.Namespace) -> Table:
    """Display COUNT values (default 1) from ADDR: a kernel virtual address
    (vmalloc ones included, through the page tables) or, with -p, a physical
    one. Each line holds 16 bytes and their ASCII. With -a, the NUL-terminated
    string at ADDR (at most COUNT bytes, 4096 by default). With -s, 32-bit
    values with each one that lies in a kernel symbol shown as symbol+offset
    (offset in decimal, as sym prints it), and no ASCII, as crash's rd -s.
    """
    text, count_text = split_count(args.address)
    address = parse_address(prog, text, physical=args.physical)
    count = parse_number(prog, count_text) if count_text else None
    if count is not None and count < 1:
        raise CommandError(f"rd: bad count {count}")
    if args.ascii:
        rows = string_rows(prog, address, count or STRING_LIMIT, args.physical)
        columns = [
            Column("address", "ADDRESS", lambda a: f"{a:x}:", 9),
            Column("text", "TEXT"),
        ]
        return Table(columns, rows, name="rd", header=False)
    if args.symbols:
        return _symbolic(prog, address, count or 1, args.physical)
    width = args.width or 32
    digits = width // 4
    per_line = LINE_BYTES // (width // 8)
    values_width = per_line * (digits + 1) - 1
    columns = [
        Column("address", "ADDRESS", lambda a: f"{a:x}:", 9),
        Column(
            "values",
            "VALUES",
            lambda vs: " ".join(f"{v:0{digits}x}" for v in vs),
            values_width,
        ),
        Column("ascii", "ASCII"),
    ]
    rows = read_rows(prog, address, count or 1, width, args.physical)
    return Table(columns, rows, name="rd", header=False, sep="  ")
