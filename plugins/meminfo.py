"""``meminfo``: memory totals, as 2.4.20's ``/proc/meminfo`` shows them.

The lines and their columns are ``meminfo_read_proc``'s (fs/proc/proc_misc.c):
first the old table in bytes (``total: used: free: shared: buffers: cached:``,
``Mem:`` and ``Swap:``), then the tagged lines in kB, from ``si_meminfo`` and
``si_swapinfo``:

* ``MemTotal`` is ``totalram_pages``, ``MemFree`` the sum of the zones'
  ``free_pages`` (``nr_free_pages()``), ``MemShared`` 0 (2.4.20's si_meminfo);
* ``Buffers`` is ``buffermem_pages``; ``Cached`` ``page_cache_size`` less the
  buffers and less ``swapper_space.nrpages``, which is ``SwapCached``;
  ``Active``/``Inactive`` are ``nr_active_pages``/``nr_inactive_pages``;
* ``HighTotal`` is ``totalhigh_pages``, ``HighFree`` the HighMem zone's
  ``free_pages``; ``LowTotal``/``LowFree`` are the rest;
* ``SwapTotal``/``SwapFree`` are ``total_swap_pages``/``nr_swap_pages`` plus, as
  2.4's ``si_swapinfo`` adds, the slots still in use on an area being swapped
  off (flags ``SWP_USED`` without ``SWP_WRITEOK``), counted in its ``swap_map``;
  the slots are those below ``nr_swapfiles``, never past ``MAX_SWAPFILES`` (a
  value beyond it ends meminfo with one line saying so).

A counter an image's kernel does not have (one made before the simulator kept
it) counts 0. 2.4.20 prints no vmalloc lines (``VmallocTotal`` came with 2.6);
``vmallocinfo`` shows the areas.
"""

from __future__ import annotations

import argparse
import sys
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro import CorruptionError
from vmintro.commands import Column, Row, Table, command
from vmintro.helpers import for_each_zone, zone_name

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


MASK64, MASK32 = (1 << 64) - 1, (1 << 32) - 1


def _counter(prog: Program, name: str, member: str = "") -> int:
    """A global of the image's kernel (``name.member``), or 0 where it has none."""
    try:
        obj = prog[name]
    except LookupError:
        return 0
    for part in filter(None, member.split(".")):
        obj = getattr(obj, part)
    return int(obj.value_())


def si_meminfo(prog: Program) -> dict[str, int]:
    """``si_meminfo``'s values and the page-cache counters meminfo_read_proc reads,
    in pages."""
    zones = [(zone_name(z), z.free_pages.value_()) for z in for_each_zone(prog)]
    return {
        "totalram": prog["totalram_pages"].value_(),
        "freeram": sum(pages for _, pages in zones),
        "sharedram": 0,
        "bufferram": _counter(prog, "buffermem_pages", "counter"),
        "totalhigh": prog["totalhigh_pages"].value_(),
        "freehigh": sum(pages for name, pages in zones if name == "HighMem"),
        "page_cache_size": _counter(prog, "page_cache_size", "counter"),
        "swapper_nrpages": _counter(prog, "swapper_space", "nrpages"),
        "nr_active_pages": _counter(prog, "nr_active_pages"),
        "nr_inactive_pages": _counter(prog, "nr_inactive_pages"),
    }


def si_swapinfo(prog: Program) -> tuple[int, int]:
    """``si_swapinfo``: (totalswap, freeswap) in pages."""
    unused = to_be_unused(prog)
    return prog["total_swap_pages"].value_() + unused, prog["nr_swap_pages"].value_() + unused


def _b(pages: int) -> int:
    """``B(x)``: ``(unsigned long long)(x) << PAGE_SHIFT``."""
    return ((pages & MASK64) << 12) & MASK64


def _k(pages: int) -> int:
    """``K(x)``: ``x << (PAGE_SHIFT - 10)`` in an unsigned long."""
    return (pages << 2) & MASK32


def meminfo_table(prog: Program) -> Iterator[Row]:
    """The ``Mem:`` and ``Swap:`` rows under ``total: used: free: ...``, in bytes,
    each as soon as it is known (a corrupt swap_info stops before ``Swap:``)."""
    i = si_meminfo(prog)
    pg_size = i["page_cache_size"] - i["bufferram"]
    mem = [i["totalram"], i["totalram"] - i["freeram"], i["freeram"], i["sharedram"]]
    yield Row(field="Mem", bytes=[_b(x) for x in [*mem, i["bufferram"], pg_size]])
    total, free = si_swapinfo(prog)
    yield Row(field="Swap", bytes=[_b(x) for x in (total, total - free, free)])


def meminfo_fields(prog: Program) -> Iterator[tuple[str, int]]:
    """(field, kB) of the tagged lines in /proc/meminfo's order."""
    i = si_meminfo(prog)
    pg_size = i["page_cache_size"] - i["bufferram"]
    yield "MemTotal", _k(i["totalram"])
    yield "MemFree", _k(i["freeram"])
    yield "MemShared", _k(i["sharedram"])
    yield "Buffers", _k(i["bufferram"])
    yield "Cached", _k(pg_size - i["swapper_nrpages"])
    yield "SwapCached", _k(i["swapper_nrpages"])
    yield "Active", _k(i["nr_active_pages"])
    yield "Inactive", _k(i["nr_inactive_pages"])
    yield "HighTotal", _k(i["totalhigh"])
    yield "HighFree", _k(i["freehigh"])
    yield "LowTotal", _k(i["totalram"] - i["totalhigh"])
    yield "LowFree", _k(i["freeram"] - i["freehigh"])
    total, free = si_swapinfo(prog)
    yield "SwapTotal", _k(total)
    yield "SwapFree", _k(free)


HEADING = "        total:    used:    free:  shared: buffers:  cached:"


def table_line(row: Row) -> str:
    """``Mem:  %8Lu %8Lu ...`` / ``Swap: %8Lu ...``."""
    return f"{row['field'] + ':':<5} " + " ".join(f"{b:8d}" for b in row["bytes"])


def line(row: Row) -> str:
    """``MemTotal:        63332 kB``, in 2.4's columns."""
    return f"{row['field'] + ':':<14}{row['kb']:8d} kB"


def _py(prog: Program, args: argparse.Namespace) -> str:
    return f"""\
from {__name__} import HEADING, meminfo_fields, meminfo_table, table_line

print(HEADING)
for row in meminfo_table(prog):  # Mem: and Swap:, in bytes
    print(table_line(row))
for field, kb in meminfo_fields(prog):  # the tagged lines, in kB
    print(f"{{field + ':':<14}}{{kb:8d}} kB")
"""


@command(
    "meminfo",
    crash="`kmem -i`",
    gdb="none: /proc/meminfo on a live kernel",
    help="memory and swap totals, as 2.4.20's /proc/meminfo",
    py=_py,
)
def meminfo(prog: Program, args: argparse.Namespace) -> Iterator[Table]:
    """2.4.20's /proc/meminfo: the Mem:/Swap: table in bytes, then MemTotal,
    MemFree, MemShared, Buffers, Cached, SwapCached, Active, Inactive,
    HighTotal/HighFree, LowTotal/LowFree, SwapTotal/SwapFree in kB.

    JSON columns: field, kb; before them, table meminfo_table: field, bytes (the
    Mem:/Swap: columns in order).
    """
    yield Table(
        [Column("line", "", text=table_line), Column("field"), Column("bytes")],
        meminfo_table(prog),
        name="meminfo_table",
        title=HEADING,
        header=False,
    )
    rows = (Row(field=name, kb=kb) for name, kb in meminfo_fields(prog))
    yield Table(
        [Column("line", "", text=line), Column("field"), Column("kb")],
        rows,
        name="meminfo",
        header=False,
    )
