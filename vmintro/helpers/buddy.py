"""Zone and buddy-allocator helpers (``mm/page_alloc.c``, ``include/linux/mmzone.h``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.escape import escape_text
from vmintro.helpers.list import list_for_each
from vmintro.helpers.mm import page_to_pfn
from vmintro.types.flags import MAX_ORDER

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["MAX_ORDER", "for_each_free_area", "for_each_free_page", "for_each_zone", "zone_name"]


def for_each_zone(prog: Program) -> Iterator[Object]:
    """Every ``zone_t *`` of ``contig_page_data`` (DMA, Normal, HighMem), empty ones included."""
    from vmintro.object import Object

    pgdat = prog["contig_page_data"]
    zones = pgdat.node_zones
    ptr = prog.type("zone_t *")
    for j in range(len(zones.value_())):
        yield Object(prog, ptr, zones[j].address_)


def zone_name(zone: Object) -> str:
    """``zone->name`` as a Python string, escaped for display
    (:func:`~vmintro.escape.escape_text`)."""
    return escape_text(zone.name.string_())


def for_each_free_area(prog: Program, zone: Object) -> Iterator[tuple[int, Object]]:
    """(order, ``struct page *``) of every free block on ``zone->free_area[order]``.

    Blocks come in list order (most recently freed first). A broken list raises
    :class:`~vmintro.errors.CorruptionError` with the address of the bad entry, and
    so does a list longer than the zone has blocks of that order (its size, no
    more than RAM holds, over the block size).

    An empty zone yields nothing: 2.4.20's ``free_area_init_core`` skips a zone of
    size 0 before ``INIT_LIST_HEAD`` of its free lists, which stay zero.
    """
    from vmintro.object import Object

    if not zone.size.value_():
        return

    page_t = prog.type("struct page")
    list_off = page_t.offsetof("list")  # type: ignore[attr-defined]
    ptr = prog.type("struct page *")
    pages = min(zone.size.value_(), prog.ram_pages)
    name = zone_name(zone)
    for order in range(MAX_ORDER):
        head = zone.free_area[order].free_list.address_
        assert head is not None  # a member of a zone in memory is in memory
        what = f"zone {name} free_area[{order}]"
        for entry in list_for_each(prog, head, what, (pages >> order) + 1):
            yield order, Object(prog, ptr, entry - list_off)


def for_each_free_page(prog: Program) -> Iterator[tuple[Object, int, int]]:
    """(zone, order, first pfn) of every free block of every zone."""
    for zone in for_each_zone(prog):
        if not zone.size.value_():
            continue
        for order, page in for_each_free_area(prog, zone):
            yield zone, order, page_to_pfn(page)
