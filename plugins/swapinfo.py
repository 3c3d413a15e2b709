"""``swapinfo``: the swap areas of ``swap_info`` and the ``swap_map`` each vmalloc'ed.

For every slot below ``nr_swapfiles`` in use (``SWP_USED``): its index, the
device as ``major:minor`` (``kdev_t`` is ``major << 8 | minor`` in 2.4; 0:0
for a swap file), flags, priority, ``pages`` (usable slots), ``max`` (slots
including the header and bad ones), ``lowest_bit``/``highest_bit``, the slots
in use and marked bad in ``swap_map``, and the map itself: ``sys_swapon``
allocates it with ``vmalloc(max * 2)``, so it has a ``vm_struct`` of its own
(its address and size, guard page included). A last line gives
``swap_list`` (head of the priority list, next area to try),
``total_swap_pages`` and ``nr_swap_pages``. A ``nr_swapfiles`` past the end of
``swap_info[]`` (``MAX_SWAPFILES``) ends the table there with one line saying so.
"""

from __future__ import annotations

import argparse
import sys
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro import CorruptionError
from vmintro.commands import Column, Row, Table, Text, command
from vmintro.helpers import find_vm_area

if TYPE_CHECKING:
    from vmintro import Object, Program

SWP_USED, SWP_WRITEOK = 1, 3
SWAP_MAP_BAD = 0x8000
# include/linux/swap.h: swap_info[MAX_SWAPFILES]; sys_swapon never takes a slot past it
MAX_SWAPFILES = 32


def swap_flag_names(flags: int) -> list[str]:
    """``["SWP_USED", "SWP_WRITEOK"]``; WRITEOK (3) includes USED (1)."""
    names = ["SWP_USED"] if flags & SWP_USED else []
    if flags & SWP_WRITEOK == SWP_WRITEOK:
        names.append("SWP_WRITEOK")
    if flags & ~SWP_WRITEOK:
        names.append(f"{flags & ~SWP_WRITEOK:#x}")
    return names


# array's typecodes of unsigned numbers, by size
_UNSIGNED = {array(code).itemsize: code for code in "QIHB"}


def _map_entry_size(prog: Program) -> int:
    """``sizeof(unsigned short)``, a swap_map entry, as the image's types say."""
    return prog.type("unsigned short").size


def map_counts(prog: Program, info: Object) -> tuple[int, int]:
    """(slots in use, slots marked SWAP_MAP_BAD) of ``info->swap_map``, its entries read
    at the size the vmlinux gives them (2 bytes on any i386 build)."""
    entries = info.max.value_()
    if not entries or not info.swap_map.value_():
        return 0, 0
    size = _map_entry_size(prog)
    counts = array(_UNSIGNED[size], prog.read(info.swap_map.value_(), size * entries))
    if sys.byteorder != "little":  # the image is i386: little-endian
        counts.byteswap()
    bad = counts.count(SWAP_MAP_BAD)
    return entries - counts.count(0) - bad, bad


def swap_slots(prog: Program) -> Iterator[tuple[int, Object]]:
    """``(i, swap_info[i])`` for each slot below ``nr_swapfiles``, as mm/swapfile.c
    walks them: at most ``MAX_SWAPFILES``, then :class:`CorruptionError` for a
    ``nr_swapfiles`` past them, which no kernel sets."""
    infos = prog["swap_info"]
    nr = prog["nr_swapfiles"]
    for index in range(min(nr.value_(), MAX_SWAPFILES)):
        yield index, infos[index]
    if nr.value_() > MAX_SWAPFILES:
        message = f"nr_swapfiles is {nr.value_():#x}, more than MAX_SWAPFILES ({MAX_SWAPFILES})"
        raise CorruptionError(message, nr.address_)


def swap_rows(prog: Program) -> Iterator[Row]:
    """One row per swap_info slot in use."""
    for index, info in swap_slots(prog):
        flags = info.flags.value_()
        if not flags & SWP_USED:
            continue
        device = info.swap_device.value_()
        swap_map = info.swap_map.value_()
        area = find_vm_area(prog, swap_map) if swap_map else None
        used, bad = map_counts(prog, info)
        yield Row(
            index=index,
            device=f"{device >> 8}:{device & 0xFF}",
            major=device >> 8,
            minor=device & 0xFF,
            flags=flags,
            flag_names=swap_flag_names(flags),
            prio=info.prio.value_(),
            pages=info.pages.value_(),
            max=info.max.value_(),
            lowest_bit=info.lowest_bit.value_(),
            highest_bit=info.highest_bit.value_(),
            used=used,
            bad=bad,
            next=info.next.value_(),
            swap_map=swap_map,
            map_size=_map_entry_size(prog) * info.max.value_(),
            area=area.addr.value_() if area is not None else None,
            area_size=area.size.value_() if area is not None else None,
        )


def _flags_text(names: list[str]) -> str:
    return "|".join(n.removeprefix("SWP_").lower() for n in names) or "0"


COLUMNS = [
    Column("index", "IDX", "d", 3, ">"),
    Column("device", "DEVICE", "", 6),
    Column("major"),
    Column("minor"),
    Column("flags"),
    Column("flag_names", "FLAGS", _flags_text, 12),
    Column("prio", "PRIO", "d", 5, ">"),
    Column("pages", "PAGES", "d", 8, ">"),
    Column("max", "MAX", "d", 8, ">"),
    Column("lowest_bit", "LOWEST", "d", 8, ">"),
    Column("highest_bit", "HIGHEST", "d", 8, ">"),
    Column("used", "USED", "d", 6, ">"),
    Column("bad", "BAD", "d", 4, ">"),
    Column("next"),
    Column("swap_map", "SWAP_MAP", "08x", 8),
    Column("map_size", "MAP_SIZE", "d", 8, ">"),
    Column("area", "VM_AREA", "08x", 8),
    Column("area_size", "AREA_SIZE", "d", 9, ">"),
]


def swap_totals(prog: Program) -> Text:
    """``swap_list`` and the two page counters, as a line and as data."""
    swap_list = prog["swap_list"]
    data = {
        "head": swap_list.head.value_(),
        "next": swap_list.next.value_(),
        "nr_swapfiles": prog["nr_swapfiles"].value_(),
        "total_swap_pages": prog["total_swap_pages"].value_(),
        "nr_swap_pages": prog["nr_swap_pages"].value_(),
    }
    text = (
        f"swap_list: head {data['head']}, next {data['next']}   "
        f"nr_swapfiles {data['nr_swapfiles']}   total_swap_pages {data['total_swap_pages']}"
        f"   nr_swap_pages {data['nr_swap_pages']}"
    )
    return Text(text, name="swap_list", data=data, blank_before=True)


def _py(prog: Program, args: argparse.Namespace) -> str:
    return f"""\
from {__name__} import swap_rows, swap_totals  # this plugin's own functions

for row in swap_rows(prog):  # swap_info[i] below nr_swapfiles, SWP_USED
    flags = "|".join(n.removeprefix("SWP_").lower() for n in row["flag_names"]) or "0"
    print(row["index"], row["device"], flags, row["prio"], row["pages"], row["max"],
          row["lowest_bit"], row["highest_bit"], row["used"], row["bad"],
          f"{{row['swap_map']:08x}}", row["map_size"], f"{{row['area']:08x}}", row["area_size"])
print(swap_totals(prog).text)  # swap_list, total_swap_pages, nr_swap_pages
"""


@command(
    "swapinfo",
    crash="`swap`",
    gdb="none: /proc/swaps on a live kernel",
    help="swap areas and their vmalloc'ed swap_map",
    py=_py,
)
def swapinfo(prog: Program, args: argparse.Namespace) -> Iterator[Table | Text]:
    """Each swap area in use: index, device (major:minor), flags, priority,
    pages, max, lowest/highest bit, slots used and bad, and its swap_map with
    the vm area holding it; then swap_list and the swap page counters.

    JSON columns: index device major minor flags flag_names prio pages max
    lowest_bit highest_bit used bad next swap_map map_size area area_size; then
    a text part ``swap_list`` with data head, next, nr_swapfiles,
    total_swap_pages, nr_swap_pages.
    """
    rows: list[Row] = []
    broken = None
    try:
        for row in swap_rows(prog):
            rows.append(row)
    except CorruptionError as e:  # the slots read before it, then its one line
        broken = e
    if rows:
        yield Table(COLUMNS, rows, name="swapinfo")
    elif broken is None:
        yield Text("no swap areas", name="swapinfo", data=[])
    if broken is not None:
        raise broken
    yield swap_totals(prog)
