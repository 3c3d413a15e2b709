"""The page LRU lists of ``mm/swap.c`` and ``mm/filemap.c``, one page at a time:
``lru_cache_add``, ``__lru_cache_del`` and ``mark_page_accessed`` (with
``activate_page``), over ``active_list``, ``inactive_list`` and their counters."""

from __future__ import annotations

from vmintro.sim.errors import kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.types.flags import PAGE_FLAGS

__all__ = ["PG_LRU", "lru_cache_add", "lru_cache_del", "mark_page_accessed"]

PG_LRU = 1 << PAGE_FLAGS["PG_lru"]
PG_ACTIVE = 1 << PAGE_FLAGS["PG_active"]
PG_REFERENCED = 1 << PAGE_FLAGS["PG_referenced"]


_OFFSETS: dict[int, tuple[int, int]] = {}  # by id of the kernel's types


def _offsets(k: KernelMemory) -> tuple[int, int]:
    t = k.types
    got = _OFFSETS.get(id(t))
    if got is None:
        got = _OFFSETS[id(t)] = (
            t.offsetof("struct page", "flags"),
            t.offsetof("struct page", "lru"),
        )
    return got


def _add(k: KernelMemory, counter: str, delta: int) -> None:
    a = k.layout.symbols[counter][0]
    k.w32(a, (k.r32(a) + delta) & 0xFFFFFFFF)


def _list_add(k: KernelMemory, new: int, head: int) -> None:
    nxt = k.r32(head)
    k.w32(nxt + 4, new)
    k.w32(new, nxt)
    k.w32(new + 4, head)
    k.w32(head, new)


def _list_del(k: KernelMemory, entry: int) -> None:
    nxt, prev = k.r32(entry), k.r32(entry + 4)
    k.w32(nxt + 4, prev)
    k.w32(prev, nxt)
    k.w32(entry, 0)
    k.w32(entry + 4, 0)


@kernel_function("lru_cache_add")
def lru_cache_add(k: KernelMemory, page: int) -> None:
    """``lru_cache_add``: ``PG_lru`` set, at the head of ``inactive_list``."""
    o_flags, o_lru = _offsets(k)
    flags = k.r32(page + o_flags)
    if flags & PG_LRU:
        return
    k.w32(page + o_flags, flags | PG_LRU)
    _list_add(k, page + o_lru, k.layout.symbols["inactive_list"][0])  # add_page_to_inactive_list
    _add(k, "nr_inactive_pages", 1)


@kernel_function("__lru_cache_del", inline=True)
def lru_cache_del(k: KernelMemory, page: int) -> None:
    """``__lru_cache_del``: off whichever list holds it, ``PG_lru`` (and
    ``PG_active``) cleared."""
    o_flags, o_lru = _offsets(k)
    flags = k.r32(page + o_flags)
    if not flags & PG_LRU:
        return
    flags &= ~PG_LRU
    _list_del(k, page + o_lru)
    if flags & PG_ACTIVE:  # del_page_from_active_list
        flags &= ~PG_ACTIVE
        _add(k, "nr_active_pages", -1)
    else:
        _add(k, "nr_inactive_pages", -1)
    k.w32(page + o_flags, flags)


@kernel_function("mark_page_accessed")
def mark_page_accessed(k: KernelMemory, page: int) -> None:
    """``mark_page_accessed``: a referenced inactive page is activated
    (``activate_page``), any other gets ``PG_referenced``."""
    o_flags, o_lru = _offsets(k)
    flags = k.r32(page + o_flags)
    if not flags & PG_ACTIVE and flags & PG_REFERENCED:
        if flags & PG_LRU:  # activate_page: from the inactive list to the active one
            _list_del(k, page + o_lru)
            _add(k, "nr_inactive_pages", -1)
            _list_add(k, page + o_lru, k.layout.symbols["active_list"][0])
            _add(k, "nr_active_pages", 1)
            flags |= PG_ACTIVE
        k.w32(page + o_flags, flags & ~PG_REFERENCED)
    else:
        k.w32(page + o_flags, flags | PG_REFERENCED)
