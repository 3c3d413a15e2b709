"""``timeline [-c CALL] [-p] [-s SIZE] [address]``: the entries of the image's timeline::

    ENTRY  STEP  CALL                      RESULT      WRITES
        0     0  boot                                  (not itemized)
>       1     2  vmalloc(size=65536)       0xc8800000  143
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_address
from vmintro.commands.builtin._timeline import call_text, result_text
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Column, Row, Table
from vmintro.escape import escape_text
from vmintro.timeline.history import entries_touching
from vmintro.timeline.moments import require_timeline

if TYPE_CHECKING:
    from vmintro.image.format.timeline import Entry
    from vmintro.program import Program


def _row(entry: Entry, moment: int | None) -> Row:
    return Row(
        current=entry.number == moment,
        entry=entry.number,
        step=entry.step,
        call=escape_text(entry.call) if entry.number else "boot",
        text=call_text(entry),
        result=result_text(entry.result),
        writes=entry.write_count if entry.number else None,
    )


def _writes(row: Row) -> str:
    return "(not itemized)" if row["writes"] is None else str(row["writes"])


def _timeline_py(prog: Program, args: argparse.Namespace) -> str:
    timeline(prog, args)  # refused as the command refuses it
    lines = [
        "from vmintro.timeline.moments import require_timeline\n",
        "t = require_timeline(prog)  # NAME.timeline: one entry per kernel call",
    ]
    numbers = "range(len(t.entries))"
    if args.address:
        address = parse_address(prog, " ".join(args.address), args.physical)
        lines[0] += "from vmintro.timeline.history import entries_touching\n"
        numbers = f"entries_touching(prog, {address:#x}, {args.size}, {args.physical})"
    lines.append(f"for n in {numbers}:")
    lines.append("    entry = t.entries[n]")
    if args.call is not None:
        test = "n == 0" if args.call == "boot" else f"n and entry.call == {args.call!r}"
        lines.append(f"    if {test}:")
    pad = "        " if args.call is not None else "    "
    lines.append(
        f"{pad}print(n, entry.step, entry.call, dict(entry.args), "
        "entry.result.kind, entry.result.value, entry.write_count)"
    )
    return "\n".join(lines) + "\n"


@command(
    "timeline",
    crash="none: crash reads one moment of a dump",
    gdb="`info record`, `record instruction-history`",
    help="the entries of the image's timeline: each kernel call, its result and writes",
    expressions=("address",),
    args=[
        arg("-c", "--call", metavar="CALL", help="only the calls of this entry point (vmalloc)"),
        arg("-p", "--physical", action="store_true", help="the address is physical"),
        arg("-s", "--size", type=int, default=4, help="bytes at the address (default 4)"),
        arg(
            "address",
            nargs="*",
            synopsis="[address]",
            help="only the entries that wrote its bytes: virtual address, symbol or expression",
        ),
    ],
    py=_timeline_py,
)
def timeline(prog: Program, args: argparse.Namespace) -> Table:
    """List the entries of the image's timeline (NAME.timeline beside its core): one
    per kernel entry point the workload called (vmalloc, vfree, sys_swapon, ...,
    fault for an injected fault), with the scenario step, the arguments, what the
    kernel returned and how many writes to RAM it made. Entry 0 is boot, whose
    writes are not itemized. > marks the entry the session shows (goto, step,
    back). -c keeps the calls of one entry point; an address (virtual, translated
    at the moment shown, or physical with -p) keeps the entries that wrote its
    SIZE bytes.
    """
    t = require_timeline(prog)
    moment = prog.moment
    numbers: list[int] | range = range(len(t.entries))
    if args.address:
        address = parse_address(prog, " ".join(args.address), args.physical)
        if not 0 < args.size <= 1 << 20:
            raise CommandError(f"timeline: size {args.size} is not between 1 and {1 << 20}")
        numbers = entries_touching(prog, address, args.size, args.physical)
    if args.call == t.entries[0].call:
        args.call = "boot"  # start_kernel, as the file names boot
    if args.call is not None:
        calls = {e.call for e in t.entries[1:]} | {"boot"}
        if args.call not in calls:
            known = ", ".join(sorted(escape_text(c) for c in calls))
            raise CommandError(
                f"timeline: no entry calls {escape_text(args.call)} (calls: {known})"
            )

    def rows() -> Iterator[Row]:
        for n in numbers:
            entry = t.entries[n]
            if args.call is None or (entry.call if n else "boot") == args.call:
                yield _row(entry, moment)

    return Table(
        [
            Column("current", "", lambda here: ">" if here else " ", 1),
            Column("entry", "ENTRY", "d", 6, ">"),
            Column("step", "STEP", "d", 5, ">"),
            Column("call", None),
            Column("text", "CALL", "", 24),
            Column("result", "RESULT", "", 10),
            Column("writes", "WRITES", text=_writes, json=True),
        ],
        rows(),
        name="timeline",
    )
