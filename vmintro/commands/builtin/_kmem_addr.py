"""``kmem ADDR``: what an address is, in the parts crash prints for it.

First one line saying what it is (:meth:`~vmintro.helpers.AddressInfo.describe`),
then what crash shows: the symbol (``sym``'s line), the vm area (``kmem -v``'s),
the slab cache, slab and object (``kmem -s``'s line, then ``SLAB MEMORY TOTAL
ALLOCATED FREE`` and the object as ``[addr]`` when allocated), the free block
(its zone and ``free_area`` lines and which page of the block it is), and the
frame's ``struct page``::

    crash> kmem c10b61e4
    c10b61e4: slab object: size-32+0x4
    CACHE     OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME
    c10b10c0       32         14       113      1     4k  size-32
    SLAB      MEMORY    TOTAL  ALLOCATED  FREE
    c10b6000  c10b61e0    113         14    99
    FREE / [ALLOCATED]
      [c10b61e0]
    ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.builtin._pages import page_table
from vmintro.commands.builtin._slabs import SLAB_COLUMNS, slab_line, slab_row
from vmintro.commands.builtin.sym import SYM_COLUMNS, symbol_row
from vmintro.commands.builtin.vmlist import VMLIST_COLUMNS
from vmintro.commands.result import Part, Row, Table, Text
from vmintro.helpers import classify_address, slab_free_objects

if TYPE_CHECKING:
    from vmintro.helpers import AddressInfo, FreeBlock, SlabObjectInfo
    from vmintro.program import Program

__all__ = ["address_parts"]

_ORDINAL = {1: "st", 2: "nd", 3: "rd"}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else _ORDINAL.get(n % 10, "th")
    return f"{n}{suffix}"


def _data(info: AddressInfo) -> dict[str, object]:
    """What JSON shows of the summary line: the same facts, as values."""
    slab = info.slab
    return {
        "address": info.address,
        "physical_address": info.physical_request,
        "region": info.region,
        "physical": info.physical,
        "symbol": None if info.symbol is None else info.symbol[0],
        "symbol_offset": None if info.symbol is None else info.symbol[1],
        "vm_struct": None if info.vm_area is None else info.vm_area[0],
        "guard_page": info.guard,
        "module": None if info.module is None else info.module[1],
        "pfn": info.pfn,
        "page": info.page,
        "free_block": None
        if info.free is None
        else {"zone": info.free.zone, "order": info.free.order, "pfn": info.free.pfn},
        "slab_cache": None if slab is None else int(slab.slab_cache),
        "slab": None if slab is None else int(slab.slab),
        "slab_object": None if slab is None or slab.allocated is None else slab.address,
        "allocated": None if slab is None else slab.allocated,
        "page_table": info.page_table,
        "mapped_at": info.mapped_at,
        "describe": info.describe(),
    }


def _slab_parts(slab: SlabObjectInfo) -> Iterator[Part]:
    cache, s = slab.slab_cache, slab.slab
    yield Table(SLAB_COLUMNS, [slab_row(cache)], name="slab_cache")
    yield slab_line(cache, s, slab_free_objects(cache, s))
    if slab.allocated is not None:
        shown = f"[{slab.address:x}]" if slab.allocated else f"{slab.address:x}"
        yield Text(
            f"FREE / [ALLOCATED]\n  {shown}",
            name="object",
            data={"object": slab.address, "allocated": slab.allocated},
        )


def _free_parts(prog: Program, free: FreeBlock, pfn: int) -> Iterator[Part]:
    from vmintro.commands.builtin.kmem import AREA_COLUMNS, ZONE_COLUMNS
    from vmintro.helpers import for_each_zone

    zone = list(for_each_zone(prog))[free.zone_index].deref().read_()
    yield Table(
        ZONE_COLUMNS,
        [
            Row(
                index=free.zone_index,
                name=free.zone,
                size=zone.size.value_(),
                free=zone.free_pages.value_(),
                mem_map=zone.zone_mem_map.value_(),
                start_paddr=zone.zone_start_paddr.value_(),
                start_mapnr=zone.zone_start_mapnr.value_(),
            )
        ],
        name="zone",
    )
    columns = [c for c in AREA_COLUMNS if c.name not in ("blocks", "pages")]
    row = Row(zone=free.zone, order=free.order, size=4 << free.order, free_area=free.free_area)
    yield Table(columns, [row], name="free_area")
    page = free.page
    nth = pfn - free.pfn + 1
    struct_page = prog.type("struct page").size
    yield Text(
        f"{page:x}  ({page + (nth - 1) * struct_page:x} is {_ordinal(nth)} of "
        f"{free.pages} page{'s' if free.pages > 1 else ''})",
        name="free_block",
        data={"page": page, "pfn": free.pfn, "order": free.order, "index": nth - 1},
    )


def address_parts(prog: Program, address: int, physical: bool = False) -> Iterator[Part]:
    """The parts ``kmem ADDR`` prints for one address (``physical``: ``kmem -P``)."""
    info = classify_address(prog, address, physical)
    yield Text(f"{address:x}: {info.describe()}", name="kmem", data=_data(info))
    if info.symbol is not None:
        found = prog.symbol(info.symbol[0])
        yield Table(SYM_COLUMNS, [symbol_row(prog, found, address)], name="sym", header=False)
    if info.vm_area is not None:
        vs, start, size, flags = info.vm_area
        row = Row(vm_struct=vs, addr=start, end=start + size, size=size, flags=flags)
        yield Table(VMLIST_COLUMNS, [row], name="vmlist")
    if info.slab is not None:
        yield from _slab_parts(info.slab)
    if info.free is not None and info.pfn is not None:
        yield from _free_parts(prog, info.free, info.pfn)
    if info.pfn is not None:
        yield page_table(prog, [info.pfn], blank_before=True)
