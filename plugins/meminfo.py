"""``meminfo``: memory totals, as ``/proc/meminfo`` shows them.

The memory and swap lines follow 2.4.20's ``meminfo_read_proc``:

* ``MemTotal`` is ``totalram_pages``, ``MemFree`` the sum of the zones'
  ``free_pages`` (``nr_free_pages()``);
* ``HighTotal`` is ``totalhigh_pages``, ``HighFree`` the HighMem zone's
  ``free_pages``; ``LowTotal``/``LowFree`` are the rest;
* ``SwapTotal``/``SwapFree`` are ``total_swap_pages``/``nr_swap_pages`` plus, as
  2.4's ``si_swapinfo`` adds, the slots still in use on an area being swapped
  off (flags ``SWP_USED`` without ``SWP_WRITEOK``), counted in its ``swap_map``;
  the slots are those below ``nr_swapfiles``, never past ``MAX_SWAPFILES`` (a
  value beyond it ends meminfo with one line saying so).

2.4 has no vmalloc lines; they came with 2.6, and these follow 2.6's
``get_vmalloc_info``: ``VmallocTotal`` is ``VMALLOC_END - VMALLOC_START``,
``VmallocUsed`` the sum of ``vm_struct.size`` over ``vmlist`` (guard pages and
ioremaps included: address space taken, not memory), and ``VmallocChunk``
the largest free gap: between ``VMALLOC_START``, the end of each area (its
guard page included) and the start of the next, and ``VMALLOC_END``. All
values are in kB.
"""

from __future__ import annotations

import argparse
import sys
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro import CorruptionError
from vmintro.commands import Column, Row, Table, command
from vmintro.helpers import for_each_vm_area, for_each_zone, zone_name

if TYPE_CHECKING:
    from vmintro import Object, Program

PAGE_KB = 4
SWP_USED, SWP_WRITEOK = 1, 3
SWAP_MAP_BAD = 0x8000
# include/linux/swap.h: swap_info[MAX_SWAPFILES]; sys_swapon never takes a slot past it
MAX_SWAPFILES = 32


def swap_map_in_use(prog: Program, info: Object) -> int:
    """Slots of ``info->swap_map`` that hold a count (neither 0 nor SWAP_MAP_BAD)."""
    entries = info.max.value_()
    if not entries or not info.swap_map.value_():
        return 0
    size = prog.type("unsigned short").size  # a swap_map entry, as the image's types say
    counts = array("H", prog.read(info.swap_map.value_(), size * entries))
    if sys.byteorder != "little":  # the image is i386: little-endian
        counts.byteswap()
    return entries - counts.count(0) - counts.count(SWAP_MAP_BAD)


def swap_slots(prog: Program) -> int:
    """``nr_swapfiles``, the slots of ``swap_info[]`` si_swapinfo walks.

    :raises CorruptionError: for more than ``MAX_SWAPFILES``, which no kernel sets.
    """
    nr = prog["nr_swapfiles"]
    if nr.value_() > MAX_SWAPFILES:
        message = f"nr_swapfiles is {nr.value_():#x}, more than MAX_SWAPFILES ({MAX_SWAPFILES})"
        raise CorruptionError(message, nr.address_)
    return nr.value_()


def to_be_unused(prog: Program) -> int:
    """2.4's ``nr_to_be_unused``: slots in use on areas being swapped off."""
    infos = prog["swap_info"]
    total = 0
    for i in range(swap_slots(prog)):
        flags = infos[i].flags.value_()
        if flags & SWP_USED and flags & SWP_WRITEOK != SWP_WRITEOK:
            total += swap_map_in_use(prog, infos[i])
    return total


def vmalloc_info(prog: Program) -> tuple[int, int]:
    """(bytes used, largest free gap in bytes) of the vmalloc range, as 2.6 computes them."""
    used = largest = 0
    prev_end = prog.vmalloc_start
    for area in for_each_vm_area(prog):
        start, size = area.addr.value_(), area.size.value_()
        used += size
        largest = max(largest, start - prev_end)
        prev_end = start + size
    return used, max(largest, prog.vmalloc_end - prev_end)


def meminfo_fields(prog: Program) -> Iterator[tuple[str, int]]:
    """(field, kB) in /proc/meminfo's order, each as soon as it is known: on a
    corrupt image the fields read before the fault come out, then its error.
    """
    total = prog["totalram_pages"].value_()
    yield "MemTotal", total * PAGE_KB
    zones = [(zone_name(z), z.free_pages.value_()) for z in for_each_zone(prog)]
    free = sum(pages for _, pages in zones)
    yield "MemFree", free * PAGE_KB
    high_total = prog["totalhigh_pages"].value_()
    high_free = sum(pages for name, pages in zones if name == "HighMem")
    yield "HighTotal", high_total * PAGE_KB
    yield "HighFree", high_free * PAGE_KB
    yield "LowTotal", (total - high_total) * PAGE_KB
    yield "LowFree", (free - high_free) * PAGE_KB
    unused = to_be_unused(prog)
    yield "SwapTotal", (prog["total_swap_pages"].value_() + unused) * PAGE_KB
    yield "SwapFree", (prog["nr_swap_pages"].value_() + unused) * PAGE_KB
    yield "VmallocTotal", (prog.vmalloc_end - prog.vmalloc_start) >> 10
    used, chunk = vmalloc_info(prog)
    yield "VmallocUsed", used >> 10
    yield "VmallocChunk", chunk >> 10


def line(row: Row) -> str:
    """``MemTotal:        63332 kB``, in 2.4's columns."""
    return f"{row['field'] + ':':<14}{row['kb']:8d} kB"


def _py(prog: Program, args: argparse.Namespace) -> str:
    return f"""\
from {__name__} import meminfo_fields  # this plugin's own function

for field, kb in meminfo_fields(prog):  # meminfo_read_proc's values, then 2.6's vmalloc lines
    print(f"{{field + ':':<14}}{{kb:8d}} kB")
"""


@command(
    "meminfo",
    crash="`kmem -i`",
    gdb="none: /proc/meminfo on a live kernel",
    help="memory, swap and vmalloc totals, like /proc/meminfo",
    py=_py,
)
def meminfo(prog: Program, args: argparse.Namespace) -> Table:
    """MemTotal, MemFree, HighTotal/HighFree, LowTotal/LowFree, SwapTotal/SwapFree
    as 2.4.20 computes them, and VmallocTotal/VmallocUsed/VmallocChunk as 2.6
    does (2.4 has none); all in kB.

    JSON columns: field, kb.
    """
    rows = (Row(field=name, kb=kb) for name, kb in meminfo_fields(prog))
    return Table(
        [Column("line", "", text=line), Column("field"), Column("kb")],
        rows,
        name="meminfo",
        header=False,
    )
