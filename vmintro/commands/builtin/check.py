"""``check``: every invariant of the globals, vmlist, the vmalloc page tables, mem_map and the
buddy lists."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.check import check_program
from vmintro.checkrun import CLEAN
from vmintro.commands.registry import command
from vmintro.commands.result import Column, Row, Table, Text

if TYPE_CHECKING:
    from vmintro.program import Program


_CHECK_PY = f"""\
from vmintro.check import check_program

findings = check_program(prog)  # the globals, vmlist, page tables, modules, buddy lists
for f in findings:
    print(f"{{f.kind:24}}  {{f.message}}")  # f.where: the addresses involved
if not findings:
    print({CLEAN!r})
"""


@command(
    "check",
    crash="none: crash has no consistency checker (compare `kmem -v` and `kmem -f`)",
    gdb="none: gdb checks no kernel invariant",
    help="post-mortem consistency check (one line per finding)",
    py=lambda prog, args: _CHECK_PY,
)
def check(prog: Program, args: argparse.Namespace) -> Table | Text:
    """Checks first the globals the walks trust (mem_map, max_mapnr, high_memory,
    pgdat_list, nr_zones and each zone, nr_swapfiles and each swap_info slot with
    its swap_map's area), then walks vmlist (cycles, wild pointers, order,
    overlaps, impossible sizes, guard pages), the vmalloc page tables (pages an
    area misses, PTEs outside any area, frames that are reserved, beyond
    max_mapnr, free or unreferenced), the module list (a module's memory left
    behind), the buddy free lists (links, counts, bitmaps) and each process's
    page-directory entries for the vmalloc range against init_mm's: one not
    faulted in yet is normal; one init_mm no longer has is process_pgd_stale,
    legal in 2.4 (the kernel clears only init_mm's), said so; one pointing at
    another table is process_pgd_corrupt. Each finding names the kind and the
    addresses involved; an image without any is "clean". Findings make the
    exit status of vmintro -c (and of commands on standard input) 1, as a
    failed command's, with no error line, stale entries alone excepted: the
    same status as `vmintro check IMAGE...`, which checks images from the
    command line (in parallel with -j, one JSON line with --json).
    """
    findings = check_program(prog)
    if not findings:
        return Text(CLEAN, "check", data=[])  # as `vmintro check IMAGE` says it
    rows = [Row(kind=f.kind, message=f.message, where=f.where) for f in findings]
    return Table(
        [
            Column("kind", "KIND", width=24),
            Column("message", "FINDING"),
            Column("where", None),
        ],
        rows,
        name="check",
        findings=any(not f.legal for f in findings),  # stale copies are 2.4's own
    )
