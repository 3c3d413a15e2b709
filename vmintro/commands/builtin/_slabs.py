"""``kmem -s`` (the slab caches) and ``kmem -i`` (the memory summary), crash's layouts::

CACHE     OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME
c0211140      108         26        36      1     4k  kmem_cache

                 PAGES        TOTAL      PERCENTAGE
    TOTAL MEM    15780      61.6 MB         ----
         FREE    15720      61.4 MB   99% of TOTAL MEM
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SHIFT
from vmintro.commands.argtypes import parse_address
from vmintro.commands.registry import CommandError
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.helpers import (
    find_slab_cache,
    for_each_slab,
    for_each_slab_cache,
    for_each_zone,
    kmem_cache_stats,
    slab_free_objects,
    zone_name,
)

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = [
    "SLAB_COLUMNS",
    "memory_summary",
    "slab_detail_parts",
    "slab_line",
    "slab_row",
    "slab_table",
]


def _kib(n: int) -> str:
    return f"{n >> 10}k"


SLAB_COLUMNS = [
    Column("cache", "CACHE", "x", 8),
    Column("objsize", "OBJSIZE", "d", 7, ">"),
    Column("allocated", "ALLOCATED", "d", 9, ">"),
    Column("total", "TOTAL", "d", 9, ">"),
    Column("slabs", "SLABS", "d", 5, ">"),
    Column("ssize", "SSIZE", _kib, 5, ">"),
    Column("name", "NAME"),
]


def slab_row(cache: Object) -> Row:
    """The ``kmem -s`` line of one ``kmem_cache_t *``."""
    s = kmem_cache_stats(cache)
    return Row(
        cache=s.cache,
        objsize=s.objsize,
        allocated=s.allocated,
        total=s.total,
        slabs=s.slabs,
        ssize=s.slab_size,
        name=s.name,
    )


SLAB_LINE_COLUMNS = [
    Column("slab", "SLAB", "x", 8),
    Column("memory", "MEMORY", "x", 8),
    Column("total", "TOTAL", "d", 6, ">"),
    Column("allocated", "ALLOCATED", "d", 9, ">"),
    Column("free", "FREE", "d", 5, ">"),
]


def slab_line(cache: Object, slab: Object, free: list[int]) -> Table:
    """crash's ``SLAB MEMORY TOTAL ALLOCATED FREE`` line of one ``slab_t *``."""
    num = cache.num.value_()
    row = Row(
        slab=int(slab),
        memory=slab.s_mem.value_(),
        total=num,
        allocated=num - len(free),
        free=len(free),
    )
    return Table(SLAB_LINE_COLUMNS, [row], name="slab")


def slab_detail_parts(prog: Program, words: list[str]) -> Iterator[Part]:
    """``kmem -S [CACHE ...]``: each cache's line, then each of its slabs (full,
    partial, free) with every object, ``[allocated]`` or free, as crash's -S."""
    caches: Iterator[Object] | list[Object]
    caches = [_cache(prog, w) for w in words] if words else for_each_slab_cache(prog)
    for cache in caches:
        yield Table(SLAB_COLUMNS, [slab_row(cache)], name="slab_cache", blank_before=True)
        objsize = cache.objsize.value_()
        for _lst, slab in for_each_slab(cache):
            free = slab_free_objects(cache, slab)
            yield slab_line(cache, slab, free)
            s_mem = slab.s_mem.value_()
            addresses = [s_mem + i * objsize for i in range(cache.num.value_())]
            gone = set(free)
            shown = [f"   {a:x}" if i in gone else f"  [{a:x}]" for i, a in enumerate(addresses)]
            yield Text(
                "FREE / [ALLOCATED]\n" + "\n".join(shown),
                name="objects",
                data={
                    "objects": addresses,
                    "allocated": [i not in gone for i in range(len(addresses))],
                },
            )


def _cache(prog: Program, word: str) -> Object:
    """A cache by name (``size-64``) or by the address of its ``kmem_cache_t``."""
    from vmintro.object import Object

    found = find_slab_cache(prog, word)
    if found is not None:
        return found
    try:
        address = parse_address(prog, word)
    except CommandError:
        raise CommandError(f"kmem: {word}: no slab cache of that name") from None
    for cache in for_each_slab_cache(prog):
        if int(cache) == address:
            return Object(prog, "kmem_cache_t *", address)
    raise CommandError(f"kmem: {address:#x}: not a cache on cache_chain")


def slab_table(prog: Program, words: list[str]) -> Table:
    """``kmem -s [CACHE ...]``: every cache on ``cache_chain``, or those named."""
    caches: Iterator[Object] | list[Object]
    if words:
        caches = [_cache(prog, w) for w in words]
    else:
        caches = for_each_slab_cache(prog)
    return Table(SLAB_COLUMNS, (slab_row(c) for c in caches), name="slabs")


def _size(nbytes: int) -> str:
    """crash's ``pages_to_size``: ``61.6 MB``, ``2 GB``, ``0``."""
    if not nbytes:
        return "0"
    for unit, shift in (("GB", 30), ("MB", 20), ("KB", 10)):
        if nbytes >= 1 << shift:
            value = nbytes / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{nbytes} B"


def _percent(row: Row) -> str:
    of = row["percent_of"]
    return "        ----" if of is None else f"{row['percent']:4d}% of {of}"


_SUMMARY_COLUMNS = [
    Column("field", "", "", 13, ">"),
    Column("pages", "PAGES", "d", 8, ">"),
    Column("bytes", "TOTAL", _size, 12, ">"),
    Column("percentage", "PERCENTAGE", text=_percent),
    Column("percent"),
    Column("percent_of"),
]


def _row(field: str, pages: int, of: tuple[str, int] | None = None) -> Row:
    percent = None
    if of is not None:
        percent = pages * 100 // of[1] if of[1] else 0
    return Row(
        field=field,
        pages=pages,
        bytes=pages << PAGE_SHIFT,
        percent=percent,
        percent_of=None if of is None else of[0],
    )


def memory_summary(prog: Program) -> Iterator[Part]:
    """``kmem -i``: pages in all, free (the zones' ``free_pages``) and used, in
    slabs (every slab of every cache), high and low memory, and swap
    (``total_swap_pages``, ``nr_swap_pages``). This model keeps no page cache
    and no buffers, so crash's SHARED, BUFFERS and CACHED lines are left out.
    """
    total = prog["totalram_pages"].value_()
    zones = [(zone_name(z), z.free_pages.value_()) for z in for_each_zone(prog)]
    free = sum(pages for _, pages in zones)
    slab = 0
    for cache in for_each_slab_cache(prog):
        s = kmem_cache_stats(cache)
        slab += s.slabs * (s.slab_size >> PAGE_SHIFT)
    mem = ("TOTAL MEM", total)
    yield Table(
        _SUMMARY_COLUMNS,
        [
            _row("TOTAL MEM", total),
            _row("FREE", free, mem),
            _row("USED", total - free, mem),
            _row("SLAB", slab, mem),
        ],
        name="memory",
    )
    high = prog["totalhigh_pages"].value_()
    high_free = sum(pages for name, pages in zones if name == "HighMem")
    yield Table(
        _SUMMARY_COLUMNS,
        [
            _row("TOTAL HIGH", high),
            _row("FREE HIGH", high_free, ("TOTAL HIGH", high)),
            _row("TOTAL LOW", total - high),
            _row("FREE LOW", free - high_free, ("TOTAL LOW", total - high)),
        ],
        name="highlow",
        header=False,
        blank_before=True,
    )
    swap = prog["total_swap_pages"].value_()
    swap_free = prog["nr_swap_pages"].value_()
    of = ("TOTAL SWAP", swap)
    yield Table(
        _SUMMARY_COLUMNS,
        [
            _row("TOTAL SWAP", swap),
            _row("SWAP USED", swap - swap_free, of),
            _row("SWAP FREE", swap_free, of),
        ],
        name="swap",
        header=False,
        blank_before=True,
    )
