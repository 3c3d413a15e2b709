"""``kmem [-P] ADDR... | -v [ADDR...] | -p [-P] [ADDR...] | -f | -s [CACHE...] | -i``:
crash's kernel-memory command.

``kmem ADDR`` says what an address is (:mod:`._kmem_addr`); ``-s`` and ``-i`` are in
:mod:`._slabs`; ``-v`` is ``vmlist``, ``-p ADDR`` is ``page``; ``-p`` alone lists every
page of mem_map (streamed: Ctrl-C stops it); ``-f`` shows the buddy allocator's free
areas, zone by zone, as crash does for 2.4 kernels (but START_MAPNR, a pfn, in
hex as every pfn here)::

    NODE
      0
    ZONE  NAME         SIZE    FREE  MEM_MAP   START_PADDR  START_MAPNR
      0   DMA          4096    3722  c100001c            0            0
    AREA    SIZE  FREE_AREA_STRUCT  BLOCKS   PAGES
      0       4k          c0211058       2       2
    ...
    nr_free_pages: 14002  (verified)
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_addresses
from vmintro.commands.builtin._kmem_addr import address_parts
from vmintro.commands.builtin._pages import page_table, pages_py
from vmintro.commands.builtin._slabs import (
    MEMORY_SUMMARY_PY,
    caches_py,
    memory_summary,
    slab_detail_parts,
    slab_detail_py,
    slab_table,
    with_object_import,
)
from vmintro.commands.builtin.page import frame_runs, resolve_pfn, runs_py
from vmintro.commands.builtin.vmlist import vmlist_py, vmlist_table
from vmintro.commands.registry import UsageError, arg, command, one_of
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.commands.showcode import hexlits
from vmintro.helpers import MAX_ORDER, for_each_free_area, for_each_zone, max_mapnr, zone_name

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["AREA_COLUMNS", "ZONE_COLUMNS", "free_area_parts"]

ZONE_COLUMNS = [
    Column("index", "ZONE", "d", 4, ">"),
    Column("name", "NAME", "", 8),
    Column("size", "SIZE", "d", 7, ">"),
    Column("free", "FREE", "d", 7, ">"),
    Column("mem_map", "MEM_MAP", "x", 8, ">"),
    Column("start_paddr", "START_PADDR", "x", 11, ">"),
    Column("start_mapnr", "START_MAPNR", "x", 11, ">"),  # a pfn: hex, as page -n reads it
]
AREA_COLUMNS = [
    Column("zone"),
    Column("order", "AREA", "d", 4, ">"),
    Column("size", "SIZE", lambda kib: f"{kib}k", 6, ">"),
    Column("free_area", "FREE_AREA_STRUCT", "x", 16, ">"),
    Column("blocks", "BLOCKS", "d", 6, ">"),
    Column("pages", "PAGES", "d", 7, ">"),
]


def _zone_parts(prog: Program, index: int, zone: Object) -> tuple[list[Part], int, int]:
    """The zone's heading and area tables, its free_pages and the pages on its lists."""
    value = zone.deref().read_()
    name = zone_name(zone)
    size = value.size.value_()
    free = value.free_pages.value_()
    heading = Table(
        ZONE_COLUMNS,
        [
            Row(
                index=index,
                name=name,
                size=size,
                free=free,
                mem_map=value.zone_mem_map.value_(),
                start_paddr=value.zone_start_paddr.value_(),
                start_mapnr=value.zone_start_mapnr.value_(),
            )
        ],
        name="zone",
    )
    if not size:
        return [heading], free, 0
    blocks = [0] * MAX_ORDER
    for order, _page in for_each_free_area(prog, zone):
        blocks[order] += 1
    rows = [
        Row(
            zone=name,
            order=order,
            size=4 << order,
            free_area=zone.free_area[order].address_,
            blocks=blocks[order],
            pages=blocks[order] << order,
        )
        for order in range(MAX_ORDER)
    ]
    counted = sum(r["pages"] for r in rows)
    return [heading, Table(AREA_COLUMNS, rows, name="free_area")], free, counted


def free_area_parts(prog: Program) -> Iterator[Part]:
    """``kmem -f``: per zone, its heading then one line per order; then the check
    of ``nr_free_pages`` (the sum of ``zone->free_pages``) against the lists.
    """
    yield Text("NODE\n  0", name="node", data={"node": 0})
    total = counted = 0
    for index, zone in enumerate(for_each_zone(prog)):
        parts, free, pages = _zone_parts(prog, index, zone)
        total += free
        counted += pages
        yield from parts
    verdict = "(verified)" if total == counted else f"(found {counted} on the free lists)"
    yield Text(
        f"nr_free_pages: {total}  {verdict}",
        name="nr_free_pages",
        data={"nr_free_pages": total, "counted": counted, "verified": total == counted},
        blank_before=True,
    )


def _all_pages(prog: Program) -> Table:
    # max_mapnr, bounded by the RAM the image describes: an impossible one is an
    # error of one line, not billions of struct pages read from nowhere
    return page_table(prog, range(max_mapnr(prog)))


_FREE_AREA_PY = """\
from vmintro.helpers import MAX_ORDER, for_each_free_area, for_each_zone, zone_name

for index, zone in enumerate(for_each_zone(prog)):  # contig_page_data.node_zones
    z = zone[0]
    print(index, zone_name(zone), z.size.value_(), z.free_pages.value_(),
          f"{z.zone_mem_map.value_():x}", f"{z.zone_start_paddr.value_():x}",
          f"{z.zone_start_mapnr.value_():x}")
    if not z.size.value_():
        continue  # an empty zone's free lists were never set up
    blocks = [0] * MAX_ORDER
    for order, page in for_each_free_area(prog, zone):  # walks free_area[order].free_list
        blocks[order] += 1
    for order in range(MAX_ORDER):
        print(order, f"{4 << order}k", f"{zone.free_area[order].address_:x}",
              blocks[order], blocks[order] << order)
"""

_SLABS_PY = """\
from vmintro.helpers import find_slab_cache, for_each_slab_cache, kmem_cache_stats

for cache in {caches}:  # cache_chain from cache_cache, or kmem_find_cache by name
    s = kmem_cache_stats(cache)  # inuse of each slab on its three lists
    print(f"{{s.cache:x}}  {{s.objsize}}  {{s.allocated}}  {{s.total}}  {{s.slabs}}  "
          f"{{s.slab_size >> 10}}k  {{s.name}}")
"""

_ADDRESS_PY = """\
from vmintro.helpers import classify_address

for addr in {addresses}:
    info = classify_address(prog, addr{physical})  # every fact, as data
    print(f"{{addr:x}}: {{info.describe()}}")
"""


def _kmem_py(prog: Program, args: argparse.Namespace) -> str | None:
    if args.mode == "f":
        return _FREE_AREA_PY
    if args.mode == "s":
        return with_object_import(_SLABS_PY.format(caches=caches_py(prog, args.address)))
    if args.mode == "S":
        return slab_detail_py(prog, args.address)
    if args.mode == "i":
        return MEMORY_SUMMARY_PY
    # kmem -p's addresses are as wide as physical ones (resolve_pfn)
    addresses = parse_addresses(prog, args.address, physical=args.physical or args.mode == "p")
    if args.mode is None:
        physical = ", physical=True" if args.physical else ""
        return _ADDRESS_PY.format(addresses=hexlits(addresses), physical=physical)
    if args.mode == "v":
        return vmlist_py(prog, addresses)
    if not addresses:
        return pages_py("range(max_mapnr(prog))").replace("import ", "import max_mapnr, ", 1)
    return pages_py(runs_py([resolve_pfn(prog, a, args.physical) for a in addresses]))


@command(
    "kmem",
    crash="`kmem`",
    gdb="none: gdb has no kernel-memory walker (`info symbol ADDR` names a symbol)",
    help="kernel memory: what an address is; -v vmalloc, -p pages, -f free areas, -s slabs, -i",
    expressions=("address",),
    args=[
        one_of(
            arg("-v", dest="mode", action="store_const", const="v", help="vmalloc areas (vmlist)"),
            arg("-p", dest="mode", action="store_const", const="p", help="struct pages, or all"),
            arg("-f", dest="mode", action="store_const", const="f", help="buddy free areas"),
            arg("-s", dest="mode", action="store_const", const="s", help="slab caches"),
            arg("-S", dest="mode", action="store_const", const="S", help="slabs and objects"),
            arg("-i", dest="mode", action="store_const", const="i", help="memory summary"),
        ),
        arg("-P", dest="physical", action="store_true", help="the addresses are physical"),
        arg(
            "address",
            nargs="*",
            help="addresses (hex), symbols or expressions; with -s cache names too",
        ),
    ],
    py=_kmem_py,
)
def kmem(prog: Program, args: argparse.Namespace) -> Part | Iterator[Part]:
    """crash's kmem for the memory this kernel model has.

    kmem [-P] ADDR ...     what each address is: its region (lowmem, the
                           VMALLOC_OFFSET gap, vmalloc, pkmap, fixmap), kernel
                           symbol, vm area or its guard page, module, then for
                           the frame behind it: a struct page in mem_map, a
                           free buddy block (zone, order, first page), a slab
                           object (cache, slab, free or allocated), a page-table
                           page of swapper_pg_dir, and its struct page. -P: the
                           addresses are physical
    kmem -v [ADDR ...]     the vmalloc areas (same as vmlist), or those holding
                           each ADDR
    kmem -p [-P] [ADDR ...]
                           the struct page of each ADDR, read as crash reads it:
                           a struct page, a kernel virtual or (below PAGE_OFFSET
                           or past 32 bits, or with -P) a physical address, in
                           hex; without ADDR
                           every page of mem_map (page -n PFN takes frame numbers)
    kmem -f                free areas of the buddy allocator, zone by zone and
                           order by order, and a check of nr_free_pages against
                           the lists; START_MAPNR is a pfn, in hex as pfns are
                           everywhere here (crash prints it in decimal)
    kmem -s [CACHE ...]    the slab caches on cache_chain (cache_cache first),
                           or those named (size-64) or at the addresses given:
                           object size, objects allocated and in all, slabs and
                           the bytes of one slab, as /proc/slabinfo counts them
    kmem -S [CACHE ...]    as -s, then each slab of the cache (full, partial,
                           free) and every object in it, [allocated] or free
    kmem -i                crash's memory summary: total, free and used pages,
                           slab pages, high and low memory, swap
    """
    if args.physical and not (args.mode in ("p", None) and args.address):
        raise UsageError("kmem: -P goes with an address (kmem -P ADDR, kmem -p -P ADDR)")
    if args.mode in ("f", "i"):
        if args.address:
            raise UsageError(f"kmem: -{args.mode} takes no address")
        return free_area_parts(prog) if args.mode == "f" else memory_summary(prog)
    if args.mode == "s":
        return slab_table(prog, args.address)
    if args.mode == "S":
        return slab_detail_parts(prog, args.address)
    if args.mode is None:
        if not args.address:
            raise UsageError("kmem: an address or one of -v -p -f -s -i is required")
        addresses = parse_addresses(prog, args.address, physical=args.physical)
        return (part for a in addresses for part in address_parts(prog, a, args.physical))
    # kmem -p's addresses are as wide as physical ones (resolve_pfn)
    addresses = parse_addresses(prog, args.address, physical=args.physical or args.mode == "p")
    if args.mode == "v":
        return vmlist_table(prog, addresses)
    if not addresses:
        return _all_pages(prog)
    pfns = [resolve_pfn(prog, a, args.physical) for a in addresses]
    return page_table(prog, frame_runs(prog, pfns))
