"""``buddyinfo``: free blocks of each order in each zone, as ``/proc/buddyinfo``::

    Node 0, zone      DMA      2      2      3      3      2      2      2      1      1      6
    Node 0, zone   Normal      8      1      1      0      1      0      1      1      0     23

2.4 has no ``/proc/buddyinfo`` (it came with 2.6) and its ``free_area_t``
keeps no ``nr_free``, so each count is the length of
``zone->free_area[order].free_list``, walked (a broken list is an error
naming the bad entry). As 2.6 does, zones without pages are left out.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands import Column, Row, Table, command
from vmintro.helpers import MAX_ORDER, for_each_free_area, for_each_zone, zone_name

if TYPE_CHECKING:
    from vmintro import Program

# said above the lines: 2.4.20 has no /proc/buddyinfo
LATER_KERNEL = "(/proc/buddyinfo is 2.6's; 2.4.20 has none: its view computed over this 2.4 image)"


def zone_rows(prog: Program) -> Iterator[Row]:
    """One row per zone with pages: its free blocks counted per order."""
    for index, zone in enumerate(for_each_zone(prog)):
        if not zone.size.value_():
            continue
        blocks = [0] * MAX_ORDER
        for order, _page in for_each_free_area(prog, zone):
            blocks[order] += 1
        yield Row(
            node=zone.zone_pgdat.node_id.value_(),
            zone=zone_name(zone),
            index=index,
            free=blocks,
            pages=sum(n << order for order, n in enumerate(blocks)),
            free_pages=zone.free_pages.value_(),
        )


def line(row: Row) -> str:
    """``Node 0, zone   Normal      8      1 ...``, in 2.6's columns."""
    counts = "".join(f" {n:6d}" for n in row["free"])
    return f"Node {row['node']}, zone {row['zone']:>8}{counts}"


def _py(prog: Program, args: argparse.Namespace) -> str:
    return f"""\
from {__name__} import LATER_KERNEL, line, zone_rows  # this plugin's own functions

print(LATER_KERNEL)
for row in zone_rows(prog):  # free_area[order].free_list of each zone, walked
    print(line(row))
"""


@command(
    "buddyinfo",
    crash="`kmem -f` (the same counts, one zone at a time)",
    gdb="none: no gdb command walks the buddy lists (/proc/buddyinfo on a live 2.6 kernel)",
    help="free blocks per zone and order, like /proc/buddyinfo",
    py=_py,
)
def buddyinfo(prog: Program, args: argparse.Namespace) -> Table:
    """For each zone with pages, the number of free blocks of order 0 to 9 on
    its buddy lists (a block of order n is 2^n pages).

    JSON columns: node, zone, index (zone number), free (blocks per order),
    pages (free pages the lists hold), free_pages (the zone's own count).
    """
    columns = [
        Column("line", "", text=line),
        *(Column(name) for name in ("node", "zone", "index", "free", "pages", "free_pages")),
    ]
    return Table(
        columns,
        zone_rows(prog),
        name="buddyinfo",
        title=LATER_KERNEL,
        header=False,
    )
