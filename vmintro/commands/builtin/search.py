"""``search [-s START] [-e END | -l LENGTH] [-m MASK] [-p] [-w|-h|-c] VALUE...``:
crash's search of memory for a value::

    crash> search c10b61e0
    c021102c: c10b61e0
    c10b600c: c10b61e0
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_address, parse_number
from vmintro.commands.registry import CommandError, UsageError, arg, command, one_of
from vmintro.commands.result import Column, Row, Table
from vmintro.helpers import search_memory

if TYPE_CHECKING:
    from vmintro.program import Program

_WIDTH = {"w": 4, "h": 2}


def _rows(prog: Program, args: argparse.Namespace, start: int, end: int) -> Iterator[Row]:
    size = _WIDTH.get(args.unit or "w", 4)
    for word in args.value:
        if args.unit == "c":
            value: int | bytes = word.encode()
        else:
            value = parse_number(prog, word)
            if not 0 <= value < 1 << (8 * size):
                raise CommandError(f"search: {word}: more than {8 * size} bits")
        mask = None if args.mask is None else ~parse_number(prog, args.mask) & ((1 << 8 * size) - 1)
        for address in search_memory(
            prog, value, start, end, physical=args.physical, size=size, mask=mask
        ):
            found = prog.read(
                address, size if not isinstance(value, bytes) else len(value), args.physical
            )
            yield Row(
                address=address,
                value=int.from_bytes(found, "little") if not isinstance(value, bytes) else None,
                text=found.decode(errors="replace") if isinstance(value, bytes) else None,
                size=size,
            )


def _cell(row: Row) -> str:
    if row["text"] is not None:
        return row["text"]
    return f"{row['value']:0{2 * row['size']}x}"


def _search_py(prog: Program, args: argparse.Namespace) -> str:
    start, end = _limits(prog, args)
    size = _WIDTH.get(args.unit or "w", 4)
    lines = ["from vmintro.helpers import search_memory", ""]
    for word in args.value:
        value = repr(word.encode()) if args.unit == "c" else hex(parse_number(prog, word))
        options = [f"physical={args.physical}", f"size={size}"]
        if args.mask is not None:
            options.append(f"mask={~parse_number(prog, args.mask) & ((1 << 8 * size) - 1):#x}")
        lines.append(
            f"for addr in search_memory(prog, {value}, {start:#x}, {end:#x}, {', '.join(options)}):"
        )
        if args.unit == "c":
            n = len(word.encode())
            lines.append(f"    text = prog.read(addr, {n}, {args.physical}).decode()")
            lines.append('    print(f"{addr:x}: {text}")')
        else:
            lines.append(
                f"    found = int.from_bytes(prog.read(addr, {size}, {args.physical}), 'little')"
            )
            lines.append(f'    print(f"{{addr:x}}: {{found:0{2 * size}x}}")')
    return "\n".join(lines) + "\n"


@command(
    "search",
    crash="`search`",
    gdb="`find`",
    help="search memory for a value (virtual, vmalloc included, or -p physical)",
    expressions=("start", "end"),
    args=[
        arg("-s", dest="start", metavar="START", help="where to start (an address)"),
        one_of(
            arg("-e", dest="end", metavar="END", help="where to stop (an address, excluded)"),
            arg("-l", dest="length", metavar="LENGTH", help="how many bytes to search"),
        ),
        arg("-m", dest="mask", metavar="MASK", help="bits of the value to ignore"),
        arg("-p", "--physical", action="store_true", help="search physical memory"),
        one_of(
            arg("-w", dest="unit", action="store_const", const="w", help="32-bit values (default)"),
            arg("-h", dest="unit", action="store_const", const="h", help="16-bit values"),
            arg("-c", dest="unit", action="store_const", const="c", help="a string"),
        ),
        arg("value", nargs="+", help="values (C numbers, 0x for hex) or, with -c, strings"),
    ],
    py=_search_py,
)
def search(prog: Program, args: argparse.Namespace) -> Table:
    """Search memory for each VALUE, 32 bits wide and aligned (16 with -h),
    or a string anywhere with -c, and print each address holding it with
    what is there, as crash does. Without -p the kernel's virtual memory is
    searched: the direct map, every vmalloc area (through the page tables;
    guard pages and the unmapped range between areas are skipped), pkmap and
    the fixmap, from PAGE_OFFSET unless -s says otherwise; with -p all of RAM
    by physical address. -e ends the search (excluded), -l gives its length.
    -m MASK ignores the bits set in MASK (search -m 0xfff c10b6000 finds any
    pointer into that page). VALUEs are C numbers: write 0x for hex.
    """
    start, end = _limits(prog, args)
    columns = [
        Column("address", "ADDRESS", lambda a: f"{a:x}:", 9),
        Column("value", "VALUE", text=_cell, json=True),
        Column("text"),
        Column("size"),
    ]
    return Table(columns, _rows(prog, args, start, end), name="search", header=False, sep=" ")


def _limits(prog: Program, args: argparse.Namespace) -> tuple[int, int]:
    """Where the search starts and where it stops (excluded)."""
    physical = args.physical
    start = parse_address(prog, args.start, physical) if args.start else None
    if start is None:
        start = 0 if physical else prog.page_offset
    if args.length is not None:
        length = parse_number(prog, args.length)
        if length < 1:
            raise UsageError(f"search: bad length {length}")
        end = start + length
    elif args.end is not None:
        end = parse_address(prog, args.end, physical)
    else:
        end = prog.ram_size if physical else 1 << 32
    if end <= start:
        raise UsageError(f"search: the end {end:#x} is not above the start {start:#x}")
    return start, end
