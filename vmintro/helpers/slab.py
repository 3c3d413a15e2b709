"""Slab allocator helpers (``mm/slab.c`` of 2.4.20, uniprocessor).

2.4.20 chains every cache through ``kmem_cache_t.next`` starting at the static
``cache_cache`` (``cache_chain``); each cache keeps its slabs on ``slabs_full``,
``slabs_partial`` and ``slabs_free``. A slab's pages carry ``PG_slab`` and their
``page->list`` points back at the cache (``next``) and the slab (``prev``), as
``kmem_cache_grow`` sets them with ``SET_PAGE_CACHE``/``SET_PAGE_SLAB``; the
free objects of a slab are a chain of ``kmem_bufctl_t`` indexes after its
``slab_t`` (``slab_bufctl``), from ``slabp->free`` to ``BUFCTL_END``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import CorruptionError, FaultError
from vmintro.escape import escape_text
from vmintro.helpers.list import list_for_each
from vmintro.helpers.mm import pfn_to_page, pfn_valid
from vmintro.types.flags import BUFCTL_END, MAX_ORDER, PG_slab

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = [
    "SlabCacheStats",
    "SlabObjectInfo",
    "find_slab_cache",
    "for_each_slab",
    "for_each_slab_cache",
    "kmem_cache_stats",
    "slab_cache_name",
    "slab_free_objects",
    "slab_object_info",
]

SLAB_LISTS = ("slabs_full", "slabs_partial", "slabs_free")


def for_each_slab_cache(prog: Program) -> Iterator[Object]:
    """Every ``kmem_cache_t *`` on ``cache_chain``, ``&cache_cache`` first, as
    ``/proc/slabinfo`` (``s_start``) lists them.
    """
    from vmintro.object import Object, container_of

    head = prog["cache_cache"]
    ptr = prog.type("kmem_cache_t *")
    yield Object(prog, ptr, head.address_)
    chain = head.next.address_
    assert chain is not None  # cache_cache is a variable: in memory
    for node in list_for_each(prog, chain, "cache_chain", bound=1 << 16):
        yield container_of(Object(prog, "struct list_head *", node), "kmem_cache_t", "next")


def slab_cache_name(cache: Object) -> str:
    """``cachep->name`` as a Python string, escaped for display."""
    return escape_text(cache.name.string_())


def find_slab_cache(prog: Program, name: str) -> Object | None:
    """``kmem_find_cache``-like: the cache called ``name``, or None (drgn's
    ``find_slab_cache``)."""
    for cache in for_each_slab_cache(prog):
        if cache.name.string_().decode(errors="replace") == name:
            return cache
    return None


def for_each_slab(cache: Object) -> Iterator[tuple[str, Object]]:
    """(list name, ``slab_t *``) of every slab of ``cache``: full, partial, free."""
    from vmintro.object import Object

    prog = cache.prog_
    ptr = prog.type("slab_t *")
    bound = max(prog.ram_pages, 1)
    for lst in SLAB_LISTS:
        head = int(cache) + prog.type("struct kmem_cache_s").offsetof(lst)  # type: ignore[attr-defined]
        for node in list_for_each(prog, head, f"{slab_cache_name(cache)} {lst}", bound):
            # slab_t.list is its first member: the node is the slab
            yield lst, Object(prog, ptr, node)


def _geometry(cache: Object) -> tuple[int, int, int]:
    """(objsize, num, gfporder) of ``cache``, as ``kmem_cache_create`` can set them:
    an order below ``MAX_ORDER`` and ``num`` objects of ``objsize`` bytes in a slab's
    pages; anything else is a cache no kernel made, and sizes no walk.

    :raises CorruptionError: naming the cache and the value.
    """
    value = cache.deref().read_()
    objsize, num, order = value.objsize.value_(), value.num.value_(), value.gfporder.value_()
    if order >= MAX_ORDER or num * max(objsize, 4) > PAGE_SIZE << order:
        raise CorruptionError(
            f"kmem_cache_t at {int(cache):#x}: {num} objects of {objsize} bytes in a slab "
            f"of order {order}: no cache is made so",
            int(cache),
        )
    return objsize, num, order


def slab_free_objects(cache: Object, slab: Object) -> list[int]:
    """Indexes of the free objects of ``slab``: the bufctl chain from
    ``slabp->free`` to ``BUFCTL_END`` (``kmem_cache_alloc_one_tail`` pops it).

    :raises CorruptionError: on an index past ``num`` or a chain longer than ``num``.
    """
    prog = cache.prog_
    _objsize, num, _order = _geometry(cache)
    bufctl = int(slab) + prog.type("slab_t").size  # slab_bufctl(slabp)
    free: list[int] = []
    index = slab.free.value_()
    while index != BUFCTL_END:
        if index >= num or len(free) >= num:
            raise CorruptionError(
                f"slab {int(slab):#x} of {slab_cache_name(cache)}: bad free index {index}",
                int(slab),
            )
        free.append(index)
        index = prog.read_u32(bufctl + 4 * index)
    return free


@dataclass(frozen=True)
class SlabCacheStats:
    """What ``kmem -s`` and ``/proc/slabinfo`` show of one cache."""

    cache: int
    name: str
    objsize: int
    allocated: int
    total: int
    slabs: int
    slab_size: int  # bytes: PAGE_SIZE << gfporder


def kmem_cache_stats(cache: Object) -> SlabCacheStats:
    """Objects in use and in all, and slabs, of ``cache``, counted as 2.4.20's
    ``s_show`` does: ``inuse`` of each slab on its three lists, ``num`` per slab.
    """
    value = cache.deref().read_()
    _objsize, num, order = _geometry(cache)
    allocated = slabs = 0
    for _lst, slab in for_each_slab(cache):
        allocated += slab.inuse.value_()
        slabs += 1
    return SlabCacheStats(
        cache=int(cache),
        name=escape_text(value.name.string_()),
        objsize=value.objsize.value_(),
        allocated=allocated,
        total=slabs * num,
        slabs=slabs,
        slab_size=PAGE_SIZE << order,
    )


class SlabObjectInfo:
    """Where an address lies in the slab allocator, as drgn's ``SlabObjectInfo``:
    ``slab_cache`` (``kmem_cache_t *``), ``slab`` (2.4's ``slab_t *``), ``address``
    (the object's start, or 0 for the slab's own bookkeeping) and ``allocated``
    (True, False, or None when the address is in no object).
    """

    __slots__ = ("address", "allocated", "slab", "slab_cache")

    def __init__(
        self, slab_cache: Object, slab: Object, address: int, allocated: bool | None
    ) -> None:
        self.slab_cache = slab_cache
        self.slab = slab
        self.address = address
        self.allocated = allocated

    def __repr__(self) -> str:
        return (
            f"SlabObjectInfo(slab_cache={self.slab_cache!r}, slab={self.slab!r}, "
            f"address={self.address:#x}, allocated={self.allocated})"
        )


def slab_object_info(prog: Program, addr: int | Object) -> SlabObjectInfo | None:
    """drgn's ``slab_object_info(prog, addr)`` for 2.4.20: None unless ``addr`` is
    a lowmem address in a page with ``PG_slab``; then the cache and slab from
    ``page->list`` (``GET_PAGE_CACHE``, ``GET_PAGE_SLAB``) and the object holding
    ``addr``, free when its index is on the slab's bufctl chain.
    """
    from vmintro.object import Object

    address = int(addr)
    if not PAGE_OFFSET <= address < prog.layout.lowmem_end:
        return None
    pfn = (address - PAGE_OFFSET) >> PAGE_SHIFT
    if not pfn_valid(prog, pfn):
        return None
    page = pfn_to_page(prog, pfn)
    try:
        if not page.flags.value_() & PG_slab:
            return None
        cache = Object(prog, "kmem_cache_t *", page.list.next.value_())
        slab = Object(prog, "slab_t *", page.list.prev.value_())
        objsize, num, _order = _geometry(cache)
        s_mem = slab.s_mem.value_()
    except FaultError:
        raise CorruptionError(
            f"page {int(page):#x} is PG_slab but its cache or slab cannot be read", int(page)
        ) from None
    if not objsize or not s_mem <= address < s_mem + num * objsize:
        return SlabObjectInfo(cache, slab, 0, None)
    index = (address - s_mem) // objsize
    allocated = index not in slab_free_objects(cache, slab)
    return SlabObjectInfo(cache, slab, s_mem + index * objsize, allocated)
