"""``sym NAME|ADDR...``, ``sym -l``, ``sym -q TEXT``: kernel symbols, nm-style::

c021102c (B) vmlist
c0211030 (B) vmlist+4
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from textwrap import dedent
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_address, split_values
from vmintro.commands.registry import CommandError, UsageError, arg, command, one_of
from vmintro.commands.result import Column, Row, Table
from vmintro.commands.showcode import hexlit

if TYPE_CHECKING:
    from vmintro.program import Program, Symbol

__all__ = ["SYM_COLUMNS", "symbol_letter", "symbol_row"]

SYM_COLUMNS = [
    Column("address", "ADDRESS", "x", 8),
    Column("type", "TYPE", lambda t: f"({t})", 3),
    Column("symbol", "SYMBOL", text=lambda r: _with_offset(r), json=True),
    Column("offset"),
]


def _with_offset(row: Row) -> str:
    return f"{row['symbol']}+{row['offset']}" if row["offset"] else row["symbol"]


def _bound(prog: Program, name: str) -> int | None:
    try:
        return prog.symbol(name).address
    except LookupError:
        return None


def symbol_letter(prog: Program, sym: Symbol) -> str:
    """nm's letter for ``sym``: T text, D data, B bss, A outside the image."""
    if sym.kind == "func":
        return "T"
    text = _bound(prog, "_text")
    etext = _bound(prog, "_etext")
    bss = _bound(prog, "__bss_start")
    end = _bound(prog, "_end")
    a = sym.address
    if text is not None and etext is not None and text <= a < etext:
        return "T"
    if etext is not None and bss is not None and etext <= a < bss:
        return "D"
    if bss is not None and end is not None and bss <= a < end:
        return "B"
    return "A"


def symbol_row(prog: Program, sym: Symbol, address: int | None = None) -> Row:
    """The ``sym`` line of ``sym`` (at ``address`` inside it, when given)."""
    address = sym.address if address is None else address
    return Row(
        address=address,
        type=symbol_letter(prog, sym),
        symbol=sym.name,
        offset=address - sym.address,
    )


def _sym_py(prog: Program, args: argparse.Namespace) -> str | None:
    if not (args.list or args.query is not None or args.target):
        raise UsageError("sym: a symbol, an address, -l or -q is required")
    imports = "from vmintro.commands.builtin.sym import symbol_letter  # nm's T D B A\n\n"
    if args.list or args.query is not None:
        test = "True" if args.list else f"{args.query!r} in sym.name"
        return imports + dedent(f"""\
            for sym in prog.symbols():  # by address
                if {test}:
                    print(f"{{sym.address:x}} ({{symbol_letter(prog, sym)}}) {{sym.name}}")
            """)
    targets = []
    for text in split_values(prog, args.target):
        try:
            targets.append(repr(prog.symbol(text).name))
        except LookupError:
            targets.append(hexlit(parse_address(prog, text)))
    return imports + dedent(f"""\
        for target in ({", ".join(targets)},):
            # a name gives its symbol, an address the symbol holding it
            sym = prog.symbol(target) if isinstance(target, str) else prog.symbol_at(target)
            address = sym.address if isinstance(target, str) else target
            offset = address - sym.address
            name = f"{{sym.name}}+{{offset}}" if offset else sym.name
            print(f"{{address:x}} ({{symbol_letter(prog, sym)}}) {{name}}")
        """)


@command(
    "sym",
    crash="`sym`",
    gdb="`info symbol` / `info address`",
    help="translate a symbol to its address, or an address to symbol+offset",
    expressions=("target",),
    args=[
        one_of(
            arg("-l", "--list", action="store_true", help="list every symbol"),
            arg("-q", "--query", metavar="TEXT", help="symbols whose name contains TEXT"),
        ),
        arg("target", nargs="*", help="symbol name, or address (hex) or expression"),
    ],
    py=_sym_py,
)
def sym(prog: Program, args: argparse.Namespace) -> Table:
    """Show a symbol's address and nm type letter (T text, D data, B bss,
    A absolute), or the symbol containing an address (hex, with or without
    0x) with the offset into it (decimal, as symbol+N reads it back); one line
    for each symbol or address given.
    """
    if (args.list or args.query is not None) and args.target:
        raise UsageError("sym: -l and -q take no symbol or address")
    rows: Iterable[Row]
    if args.list:
        rows = [symbol_row(prog, s) for s in prog.symbols()]
    elif args.query is not None:
        rows = [symbol_row(prog, s) for s in prog.symbols() if args.query in s.name]
    elif args.target:
        # one row at a time: the symbols before an address no symbol holds still show
        rows = (_target_row(prog, text) for text in split_values(prog, args.target))
    else:
        raise UsageError("sym: a symbol, an address, -l or -q is required")
    return Table(SYM_COLUMNS, rows, name="sym", header=False, sep=" ")


def _target_row(prog: Program, text: str) -> Row:
    """The row of a symbol name, or of the symbol holding an address."""
    try:
        return symbol_row(prog, prog.symbol(text))
    except LookupError:
        pass
    address = parse_address(prog, text)
    found = prog.symbol_at(address)
    if found is None:
        raise CommandError(f"sym: {address:#x}: no symbol contains it")
    return symbol_row(prog, found, address)
