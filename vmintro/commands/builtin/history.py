"""``history [-p] [-s SIZE] address`` and ``blame [-p] [-s SIZE] address``: who wrote some bytes::

ENTRY  CALL     ADDRESS   OLD       NEW       PATH
   12  vmalloc  c10b5000  00000000  010b4163  vmalloc > __vmalloc > ... > set_pte
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_address
from vmintro.commands.registry import arg, command
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.timeline.history import MAX_HISTORY_BYTES, Write, blame, iter_history
from vmintro.timeline.moments import require_timeline

if TYPE_CHECKING:
    from vmintro.program import Program

# Values up to this many bytes show as the number they hold (little-endian), as rd shows words
_AS_NUMBER = 8

_NOT_WRITTEN = "not written after boot (entry 0's writes are not itemized)"


def _size(text: str) -> int:
    """``-s``: a size, decimal unless ``0x`` (as every count), 1 to MAX_HISTORY_BYTES."""
    try:
        size = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size") from None
    if not 0 < size <= MAX_HISTORY_BYTES:
        raise argparse.ArgumentTypeError(f"size {size} is not between 1 and {MAX_HISTORY_BYTES}")
    return size


_ARGS = [
    arg("-p", "--physical", action="store_true", help="the address is physical"),
    arg("-s", "--size", type=_size, default=4, help="bytes at the address (default 4, a word)"),
    arg("address", nargs="+", synopsis="address", help="virtual address, symbol or expression"),
]


def _value(data: bytes) -> str:
    """The bytes as the number they hold (up to 8), else in memory order."""
    if len(data) <= _AS_NUMBER:
        return f"{int.from_bytes(data, 'little'):0{2 * len(data)}x}"
    return data[:_AS_NUMBER].hex() + f"... ({len(data)} bytes)"


def _row(w: Write) -> Row:
    return Row(
        entry=w.entry,
        call=w.call,
        address=w.address,
        physical=w.physical,
        size=len(w.old),
        old=w.old.hex(),
        new=w.new.hex(),
        old_text=_value(w.old),
        new_text=_value(w.new),
        path=list(w.path),
    )


_COLUMNS = [
    Column("entry", "ENTRY", "d", 6, ">"),
    Column("call", "CALL", "", 8),
    Column("address", "ADDRESS", "x", 8),
    Column("physical", None),
    Column("size", None),
    Column("old", None),
    Column("new", None),
    Column("old_text", "OLD", "", 8, json=False),
    Column("new_text", "NEW", "", 8, json=False),
    Column("path", "PATH", " > ".join),
]


def _query(prog: Program, args: argparse.Namespace) -> tuple[int, str]:
    """The address asked about, and the title saying what is shown."""
    require_timeline(prog)
    address = parse_address(prog, " ".join(args.address), args.physical)
    kind = "physical " if args.physical else ""
    where = f"{args.size} bytes at {kind}{address:x}"
    if not args.physical:
        where += f" (physical {prog.translate(address):x})"
    return address, f"{where}, up to entry {prog.moment}:"


_WRITES_PY = """\
from vmintro import {function}


def value(data):  # the bytes as the number they hold, little-endian, as rd shows words
    if len(data) <= 8:
        return f"{{int.from_bytes(data, 'little'):0{{2 * len(data)}}x}}"
    return data[:8].hex() + f"... ({{len(data)}} bytes)"


{writes}  # up to the moment prog shows
    print(w.entry, w.call, f"{{w.address:x}}", value(w.old), value(w.new), " > ".join(w.path))
"""


def _writes_py(prog: Program, args: argparse.Namespace, function: str) -> str:
    address, _ = _query(prog, args)
    call = f"{function}(prog, {address:#x}, {args.size}, physical={args.physical})"
    if function == "history":
        writes = f"for w in {call}:  # every write to the bytes, oldest first"
    else:
        writes = f"for w in filter(None, [{call}]):  # the last write, if any"
    return _WRITES_PY.format(function=function, writes=writes)


@command(
    "history",
    crash="none: crash keeps no record of writes",
    gdb="`watch -l EXPR` and `reverse-continue`, repeated, on a recording (or rr)",
    help="every write to some bytes, oldest first, with the kernel call path that made it",
    expressions=("address",),
    args=_ARGS,
    py=lambda prog, args: _writes_py(prog, args, "history"),
)
def history(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """Every write the timeline's entries made to the SIZE bytes at the address (a
    virtual one, translated at the moment the session shows, or physical with -p),
    up to that moment, oldest first: the entry, the call, where, the bytes before
    and after (as a number, little-endian) and the kernel call path, innermost
    last. Boot's writes (entry 0) are not itemized. Ctrl-C stops a long history.
    """
    address, title = _query(prog, args)
    writes = iter_history(prog, address, args.size, args.physical)
    first = next(writes, None)
    if first is None:
        yield Table(list(_COLUMNS), [], name="history", title=title, header=False)
        yield Text(_NOT_WRITTEN, name="note")
        return

    def rows() -> Iterator[Row]:
        yield _row(first)
        for w in writes:
            yield _row(w)

    yield Table(list(_COLUMNS), rows(), name="history", title=title)


@command(
    "blame",
    crash="none: crash keeps no record of writes",
    gdb="`watch -l EXPR` then `reverse-continue` on a recording (or rr)",
    help="the last write to some bytes: its entry, call and kernel call path",
    expressions=("address",),
    args=_ARGS,
    py=lambda prog, args: _writes_py(prog, args, "blame"),
)
def blame_(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """The last write the timeline's entries made to the SIZE bytes at the address
    (virtual, translated at the moment the session shows, or physical with -p) up
    to that moment: the entry that put the bytes there, and the kernel call path.
    Bytes that no entry after boot wrote say so (boot's writes are not itemized).
    """
    address, title = _query(prog, args)
    last = blame(prog, address, args.size, args.physical)
    if last is None:
        yield Text(f"{title.removesuffix(':')}: {_NOT_WRITTEN}", name="blame")
        return
    yield Table(list(_COLUMNS), [_row(last)], name="blame", title=title)
