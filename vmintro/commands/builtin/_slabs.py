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
    "MEMORY_SUMMARY_PY",
    "SLAB_COLUMNS",
    "memory_summary",
    "caches_py",
    "slab_detail_py",
    "slab_detail_parts",
    "slab_line",
    "slab_row",
    "slab_table",
    "with_object_import",
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


_SLAB_DETAIL_PY = """\
from vmintro.helpers import (
    find_slab_cache,
    for_each_slab,
    for_each_slab_cache,
    kmem_cache_stats,
    slab_free_objects,
)

for cache in {caches}:
    s = kmem_cache_stats(cache)  # inuse of each slab on its three lists
    print(f"{{s.cache:x}}  {{s.objsize}}  {{s.allocated}}  {{s.total}}  {{s.slabs}}  "
          f"{{s.slab_size >> 10}}k  {{s.name}}")
    num, objsize = cache.num.value_(), cache.objsize.value_()
    for lst, slab in for_each_slab(cache):  # slabs_full, slabs_partial, slabs_free
        free = set(slab_free_objects(cache, slab))  # the indices on the slab's bufctl chain
        s_mem = slab.s_mem.value_()
        print(f"{{slab.value_():x}}  {{s_mem:x}}  {{num}}  {{num - len(free)}}  {{len(free)}}")
        print("FREE / [ALLOCATED]")
        for i in range(num):
            address = s_mem + i * objsize
            print(f"{{address:x}}" if i in free else f"[{{address:x}}]")
"""


def caches_py(prog: Program, words: list[str]) -> str:
    """The caches ``kmem -s``/``-S`` walk, as a script's expression: every cache on
    ``cache_chain``, or each named (``find_slab_cache``) or at an address."""
    if not words:
        return "for_each_slab_cache(prog)"
    found = []
    for word in words:
        cache = _cache(prog, word)  # refused here as the command refuses it
        if find_slab_cache(prog, word) is not None:
            found.append(f"find_slab_cache(prog, {word!r})")
        else:
            found.append(f"Object(prog, 'kmem_cache_t *', {int(cache):#x})")
    return f"({', '.join(found)},)"


def slab_detail_py(prog: Program, words: list[str]) -> str:
    """The script of ``kmem -S [CACHE ...]``: each cache, its slabs, their objects."""
    return with_object_import(_SLAB_DETAIL_PY.format(caches=caches_py(prog, words)))


def with_object_import(script: str) -> str:
    """``script``, importing Object first when it makes one."""
    return f"from vmintro.object import Object\n{script}" if "Object(" in script else script


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


MEMORY_SUMMARY_PY = """\
from vmintro.helpers import for_each_slab_cache, for_each_zone, kmem_cache_stats, zone_name


def size(pages):  # crash's pages_to_size: 61.6 MB, 2 GB
    nbytes = pages << 12
    for unit, shift in (("GB", 30), ("MB", 20), ("KB", 10)):
        if nbytes >= 1 << shift:
            value = nbytes / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{nbytes} B" if nbytes else "0"


def line(field, pages, of=None):  # of: (name, pages) of the total it is a share of
    share = "----" if of is None else f"{pages * 100 // of[1] if of[1] else 0}% of {of[0]}"
    print(f"{field:>13} {pages:8d} {size(pages):>12}  {share}")


total = prog["totalram_pages"].value_()
zones = [(zone_name(z), z.free_pages.value_()) for z in for_each_zone(prog)]
free = sum(pages for _, pages in zones)  # nr_free_pages()
slab = sum(s.slabs * (s.slab_size >> 12)  # every slab of every cache on cache_chain
           for s in map(kmem_cache_stats, for_each_slab_cache(prog)))
mem = ("TOTAL MEM", total)
line("TOTAL MEM", total)
line("FREE", free, mem)
line("USED", total - free, mem)
line("SLAB", slab, mem)
high = prog["totalhigh_pages"].value_()
high_free = sum(pages for name, pages in zones if name == "HighMem")
line("TOTAL HIGH", high)
line("FREE HIGH", high_free, ("TOTAL HIGH", high))
line("TOTAL LOW", total - high)
line("FREE LOW", free - high_free, ("TOTAL LOW", total - high))
swap, swap_free = prog["total_swap_pages"].value_(), prog["nr_swap_pages"].value_()
line("TOTAL SWAP", swap)
line("SWAP USED", swap - swap_free, ("TOTAL SWAP", swap))
line("SWAP FREE", swap_free, ("TOTAL SWAP", swap))
"""


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
