"""``vtop ADDR...``: the page-table walk of kernel virtual addresses, as crash shows it::

VIRTUAL   PHYSICAL
c4800000  10b4000

PAGE DIRECTORY: c0101000
  PGD: c0101c48 => 10b5067
  PTE: c10b5000 => 10b4163
 PAGE: 10b4000

   PTE  PHYSICAL  FLAGS
10b4163   10b4000  (PRESENT|RW|ACCESSED|DIRTY|GLOBAL)

    PAGE  PHYSICAL   MAPPING     INDEX CNT FLAGS
c100e7bc   10b4000         0         0   1 0
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT
from vmintro.commands.argtypes import parse_addresses
from vmintro.commands.builtin._pages import PAGE_ROW_PY, page_table
from vmintro.commands.registry import arg, command
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.commands.showcode import hexlits
from vmintro.errors import NoDebugInfoError
from vmintro.helpers import pfn_valid

if TYPE_CHECKING:
    from vmintro.pagewalk import Walk
    from vmintro.program import Program

__all__ = ["vtop_parts"]

_SIZES = {1 << 12: "4KB", 1 << 21: "2MB", 1 << 22: "4MB"}


def _physical(row: Row) -> str:
    return "(not mapped)" if row["physical"] is None else f"{row['physical']:x}"


def _walk_text(walk: Walk) -> Text:
    """The entry-by-entry lines, with the walk as JSON data."""
    lines = [f"PAGE DIRECTORY: {PAGE_OFFSET + walk.pgd:x}"]
    steps = []
    for s in walk.steps:
        where = f"{s.entry_vaddr:x}" if s.entry_vaddr is not None else f"{s.entry_paddr:x} (phys)"
        lines.append(f"  {s.level.upper()}: {where} => {s.value:x}")
        steps.append(
            {
                "level": s.level,
                "index": s.index,
                "entry_vaddr": s.entry_vaddr,
                "entry_paddr": s.entry_paddr,
                "value": s.value,
                "flags": list(s.bits),
                "large": s.large,
            }
        )
    page = None
    if walk.paddr is not None:
        page = walk.paddr & ~(walk.page_size - 1)
        size = f"  ({_SIZES.get(walk.page_size, hex(walk.page_size))})" if walk.large else ""
        lines.append(f" PAGE: {page:x}{size}")
    data = {
        "virtual": walk.vaddr,
        "page_directory": walk.pgd,
        "steps": steps,
        "page": page,
        "page_size": walk.page_size,
        "fault": str(walk.fault) if walk.fault is not None else None,
    }
    return Text("\n".join(lines), name="walk", data=data, blank_before=True)


def vtop_parts(prog: Program, vaddr: int, blank_before: bool = False) -> Iterator[Part]:
    """The parts ``vtop`` prints for ``vaddr`` (``blank_before``: after another's)."""
    walk = prog.follow_pte(vaddr)
    yield Table(
        [
            Column("virtual", "VIRTUAL", "x", 8),
            Column("physical", "PHYSICAL", text=_physical, json=True),
        ],
        [Row(virtual=vaddr, physical=walk.paddr)],
        name="vtop",
        blank_before=blank_before,
    )
    yield _walk_text(walk)
    if walk.paddr is None:
        return
    last = walk.steps[-1]
    yield Table(
        [
            Column("entry", "PTE", "x", 8, ">"),
            Column("physical", "PHYSICAL", "x", 9, ">"),
            Column("flags", "FLAGS", lambda bits: "(" + "|".join(bits) + ")"),
        ],
        [Row(entry=last.value, physical=walk.paddr & ~(walk.page_size - 1), flags=list(last.bits))],
        name="pte",
        blank_before=True,
    )
    pfn = walk.paddr >> PAGE_SHIFT
    if not prog.has_debuginfo:
        # the walk needs no types; the struct page does (and max_mapnr's, to find it)
        what = f"the struct page of pfn {pfn:#x} is unknown"
        yield Text(str(NoDebugInfoError(what)), name="note", blank_before=True)
    elif pfn_valid(prog, pfn):
        yield page_table(prog, [pfn], blank_before=True)
    else:
        yield Text(
            f"(pfn {pfn:#x} is beyond max_mapnr: device memory, no struct page)",
            name="note",
            blank_before=True,
        )


def _vtop_py(prog: Program, args: argparse.Namespace) -> str:
    listed = hexlits(parse_addresses(prog, args.address))
    code = f"""\
        from vmintro.helpers import page_count, page_flag_names, pfn_to_page

        for vaddr in {listed}:
            walk = prog.follow_pte(vaddr)  # every level of the walk of swapper_pg_dir
            print(f"{{vaddr:x}}  {{walk.paddr:x}}" if walk.paddr is not None else f"{{vaddr:x}}")
            if walk.paddr is None:
                print(walk.fault)
                continue
            last = walk.steps[-1]  # the entry that maps the page
            frame = walk.paddr & ~(walk.page_size - 1)
            print(f"{{last.value:x}}  {{frame:x}}  ({{'|'.join(last.bits)}})")
            pfn = walk.paddr >> 12
        """
    return textwrap.dedent(code) + PAGE_ROW_PY


@command(
    "vtop",
    crash="`vtop`",
    gdb="none: gdb shows no page-table walk (and cannot read vmalloc addresses of these cores)",
    help="virtual to physical: every level of the page-table walk",
    expressions=("address",),
    args=[arg("address", nargs="+", help="kernel virtual address (hex), symbol or expression")],
    py=_vtop_py,
)
def vtop(prog: Program, args: argparse.Namespace) -> Iterator[Part]:
    """Translate each kernel virtual address through swapper_pg_dir, as the MMU
    does, showing each entry read (its address and value), the page and the
    physical address, the PTE flags and the struct page of the frame (which
    needs the vmlinux's types: without one, a line says so instead).
    Addresses are hex, with or without 0x (c4800000); what vtop prints can be
    given as it is to ptov (PHYSICAL), page (PAGE, PHYSICAL) and rd -p.
    """
    addresses = parse_addresses(prog, args.address)
    for i, vaddr in enumerate(addresses):
        yield from vtop_parts(prog, vaddr, blank_before=i > 0)
