"""``vmallocinfo``: every vmalloc area, one line each, as Linux's ``/proc/vmallocinfo``.

2.4.20 has no ``/proc/vmallocinfo`` (it came with 2.6.28); this prints what
that file shows, from ``vmlist``::

    0xc4800000-0xc4811000   69632 pages=16 vmalloc
    0xc4833000-0xc4934000 1052672 phys=0xe0000000 ioremap

The range includes the guard page, as ``vm_struct.size`` does. 2.4's
``vm_struct`` keeps neither a page count nor a physical address, so ``pages``
counts the pages whose PTE is present and, for an ioremap, ``phys`` is where
its first page leads (``phys_end`` in JSON: just past its last mapped page).
As Linux does, ``pages=`` is shown for vmalloc areas only.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro import CorruptionError, FaultError
from vmintro.commands import Column, Row, Table, command
from vmintro.helpers import VM_ALLOC, VM_IOREMAP, for_each_vm_area, vmalloc_area_pfns

if TYPE_CHECKING:
    from vmintro import Object, Program

# said above the lines: 2.4.20 has no /proc/vmallocinfo
LATER_KERNEL = (
    "(/proc/vmallocinfo is 2.6.28's; 2.4.20 has none: its view computed over this 2.4 image)"
)

PAGE_SIZE = 4096
# The kinds /proc/vmallocinfo names, by vm_struct flag, in the order it prints them.
KINDS = ((VM_IOREMAP, "ioremap"), (VM_ALLOC, "vmalloc"))


def area_kinds(flags: int) -> list[str]:
    """``["vmalloc"]``, ``["ioremap"]``; an unknown bit as ``flags=0x..``."""
    kinds = [name for bit, name in KINDS if flags & bit]
    rest = flags & ~(VM_IOREMAP | VM_ALLOC)
    if rest or not kinds:
        kinds.append(f"flags={flags:#x}")
    return kinds


def area_rows(prog: Program) -> Iterator[Row]:
    """One row per ``vm_struct`` of ``vmlist``, its mapped pages counted in bulk.

    On a corrupt ``vmlist`` (a cycle, a link that cannot be read) the rows of the
    areas before the break come first, then the walk's error.
    """
    areas: list[Object] = []
    broken: CorruptionError | FaultError | None = None
    try:
        areas.extend(for_each_vm_area(prog))
    except (CorruptionError, FaultError) as e:
        broken = e
    yield from _rows(prog, areas)
    if broken is not None:
        raise broken


def _rows(prog: Program, areas: list[Object]) -> Iterator[Row]:
    try:
        pfns = vmalloc_area_pfns(prog, areas)  # every page but the guards, area after area
    except CorruptionError as e:
        # an area of impossible size, or areas overlapping past what the vmalloc
        # range holds: the rows of the areas before the one named, then the error
        cut = next((i for i, a in enumerate(areas) if a.value_() == e.address), 0)
        yield from _rows(prog, areas[:cut])
        raise
    at = 0
    for area in areas:
        start, size = area.addr.value_(), area.size.value_()
        flags = area.flags.value_()
        count = max(size // PAGE_SIZE - 1, 0)
        mine = pfns[at : at + count]
        at += count
        mapped = [int(p) for p in mine if p >= 0]
        phys = phys_end = None
        if flags & VM_IOREMAP and mapped:
            phys, phys_end = mapped[0] * PAGE_SIZE, (mapped[-1] + 1) * PAGE_SIZE
        yield Row(
            vm_struct=area.value_(),
            start=start,
            end=start + size,
            size=size,
            pages=len(mapped),
            phys=phys,
            phys_end=phys_end,
            flags=flags,
            kinds=area_kinds(flags),
        )


def line(row: Row) -> str:
    """The /proc/vmallocinfo line of ``row``."""
    text = f"{row['start']:#010x}-{row['end']:#010x} {row['size']:7d}"
    if row["flags"] & VM_ALLOC and row["pages"]:
        text += f" pages={row['pages']}"
    if row["phys"] is not None:
        text += f" phys={row['phys']:#x}"
    return " ".join([text, *row["kinds"]])


def _py(prog: Program, args: argparse.Namespace) -> str:
    return f"""\
from {__name__} import LATER_KERNEL, area_rows, line  # this plugin's own functions

print(LATER_KERNEL)
for row in area_rows(prog):  # vmlist, as 2.6's s_show prints each area
    print(line(row))
"""


@command(
    "vmallocinfo",
    crash="`kmem -v`",
    gdb="none: /proc/vmallocinfo on a live 2.6.28 or later kernel",
    help="vmalloc areas, one line each, like /proc/vmallocinfo",
    py=_py,
)
def vmallocinfo(prog: Program, args: argparse.Namespace) -> Table:
    """Each area of vmlist in address order: its range (guard page included),
    size in bytes, the pages mapped (vmalloc areas), the physical address an
    ioremap maps, and its kind.

    JSON columns: vm_struct, start, end, size, pages, phys, phys_end, flags, kinds.
    """
    columns = [
        Column("line", "", text=line),
        *(
            Column(name)
            for name in ("vm_struct", "start", "end", "size", "pages", "phys", "phys_end")
        ),
        Column("flags"),
        Column("kinds"),
    ]
    return Table(
        columns,
        area_rows(prog),
        name="vmallocinfo",
        title=LATER_KERNEL,
        header=False,
    )
