"""Page reclaim for ``__alloc_pages``' slow path (``mm/vmscan.c``): ``try_to_free_pages_zone``,
``shrink_caches``, ``refill_inactive`` and ``shrink_cache``, over the LRU lists in RAM.

What the simulated machine can reclaim: free slabs (``kmem_cache_reap``) and
clean page-cache pages that nothing else holds (count 1, or 2 with the buffer
heads ext2 attached, which ``try_to_release_page`` frees first), which
``shrink_cache`` takes off the inactive list, out of the page cache and frees.
``swap_out`` walks the processes' page tables (:mod:`vmintro.sim.swapout`: it
frees nothing without swap, and writes nothing to swap with it). Not modelled,
each said where it would be needed: ``writepage`` of a dirty
page or of busy buffers, the swap cache, and
``shrink_dcache_memory``/``shrink_icache_memory`` (the dcache and the unused
inodes stay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.sim.buffer import try_to_free_buffers
from vmintro.sim.errors import KernelBug, LoopGuard, SimulationError, kernel_function
from vmintro.sim.swapout import swap_out
from vmintro.types.flags import PAGE_FLAGS

if TYPE_CHECKING:
    from vmintro.sim.buddy import Buddy

__all__ = ["try_to_free_pages_zone"]

DEF_PRIORITY, SWAP_CLUSTER_MAX = 6, 32  # mm/vmscan.c, include/linux/swap.h
MASK32 = 0xFFFFFFFF
PG = {name: 1 << bit for name, bit in PAGE_FLAGS.items()}
PAGE = "struct page"
_GFP_FS = 0x80  # __GFP_FS


class _Lru:
    """The LRU lists and the page fields reclaim reads, over the buddy allocator's memory."""

    def __init__(self, buddy: Buddy) -> None:
        k = buddy.k
        t = k.types
        self.k, self.buddy = k, buddy
        self.active, self.inactive = k.sym("active_list"), k.sym("inactive_list")
        self.nr_active, self.nr_inactive = k.sym("nr_active_pages"), k.sym("nr_inactive_pages")
        self.page_cache_size = k.sym("page_cache_size")  # atomic_t: counter at 0
        self.swapper_space = k.sym("swapper_space")
        self.o_lru = t.offsetof(PAGE, "lru")
        self.o_flags = t.offsetof(PAGE, "flags")
        self.o_count = t.offsetof(PAGE, "count")
        self.o_mapping = t.offsetof(PAGE, "mapping")
        self.o_list = t.offsetof(PAGE, "list")
        self.o_next_hash = t.offsetof(PAGE, "next_hash")
        self.o_pprev_hash = t.offsetof(PAGE, "pprev_hash")
        self.o_buffers = t.offsetof(PAGE, "buffers")
        self.o_nrpages = t.offsetof("struct address_space", "nrpages")

    def flags(self, page: int) -> int:
        return self.k.r32(page + self.o_flags)

    def set_flags(self, page: int, value: int) -> None:
        self.k.w32(page + self.o_flags, value & MASK32)

    def add(self, counter: int, delta: int) -> None:
        self.k.w32(counter, (self.k.r32(counter) + delta) & MASK32)


@kernel_function("refill_inactive")
def refill_inactive(lru: _Lru, nr_pages: int) -> None:
    """``refill_inactive``: from the tail of ``active_list``, a referenced page gets
    another round (its bit cleared), the others move to ``inactive_list``."""
    k, buddy = lru.k, lru.buddy
    entry = k.r32(lru.active + 4)
    guard = LoopGuard("refill_inactive", "active_list", "pagemap_lru_lock held")
    while nr_pages and entry != lru.active:
        guard.visit(entry)
        page = entry - lru.o_lru
        entry = k.r32(entry + 4)
        flags = lru.flags(page)
        if flags & PG["PG_referenced"]:  # PageTestandClearReferenced
            lru.set_flags(page, flags & ~PG["PG_referenced"])
            buddy.list_del(page + lru.o_lru)
            buddy.list_add(page + lru.o_lru, lru.active)
            continue
        nr_pages -= 1
        buddy.list_del(page + lru.o_lru)  # del_page_from_active_list
        lru.set_flags(page, lru.flags(page) & ~PG["PG_active"])
        lru.add(lru.nr_active, -1)
        buddy.list_add(page + lru.o_lru, lru.inactive)  # add_page_to_inactive_list
        lru.add(lru.nr_inactive, 1)
        lru.set_flags(page, lru.flags(page) | PG["PG_referenced"])


@kernel_function("shrink_cache")
def shrink_cache(lru: _Lru, nr_pages: int, classzone: int, gfp_mask: int, priority: int) -> int:
    """``shrink_cache``: from the tail of ``inactive_list``, each page rotated to its
    head, the clean page-cache pages nothing else holds removed from the cache and
    freed, until ``nr_pages`` are freed or ``max_scan`` pages were looked at.
    Returns the pages still wanted."""
    k, buddy = lru.k, lru.buddy
    max_scan = k.r32(lru.nr_inactive) // priority
    max_mapped = min(nr_pages << (10 - priority), max_scan // 10)
    while True:
        max_scan -= 1
        entry = k.r32(lru.inactive + 4)
        if max_scan < 0 or entry == lru.inactive:
            return nr_pages
        page = entry - lru.o_lru
        flags = lru.flags(page)
        if not flags & PG["PG_lru"]:
            raise KernelBug("shrink_cache", "!PageLRU(page)")
        if flags & PG["PG_active"]:
            raise KernelBug("shrink_cache", "PageActive(page)")
        buddy.list_del(entry)
        buddy.list_add(entry, lru.inactive)
        count = k.r32(page + lru.o_count)
        if not count:
            continue
        if buddy.page_zone(page) > classzone:  # !memclass(page_zone(page), classzone)
            continue
        buffers, mapping = k.r32(page + lru.o_buffers), k.r32(page + lru.o_mapping)
        if not buffers and (count != 1 or not mapping):
            max_mapped -= 1  # page_mapped
            if max_mapped >= 0:
                continue
            # too many mapped pages on the inactive list: start swapping out
            swap_out(k, buddy, classzone)
            return nr_pages
        if flags & PG["PG_locked"]:  # TryLockPage failed: I/O in progress
            continue
        lru.set_flags(page, flags | PG["PG_locked"])
        if flags & PG["PG_dirty"] or mapping == lru.swapper_space:
            raise SimulationError(
                f"shrink_cache: page {page:#x} is dirty or in the swap cache: "
                "writepage and the swap cache are not modelled"
            )
        if buffers and not try_to_free_buffers(k, buddy.reaper, page):  # try_to_release_page
            lru.set_flags(page, lru.flags(page) & ~PG["PG_locked"])  # UnlockPage
            continue
        # __remove_inode_page: remove_page_from_inode_queue, remove_page_from_hash_queue
        lru.add(mapping + lru.o_nrpages, -1)
        buddy.list_del(page + lru.o_list)
        k.w32(page + lru.o_mapping, 0)
        nxt, pprev = k.r32(page + lru.o_next_hash), k.r32(page + lru.o_pprev_hash)
        if nxt:
            k.w32(nxt + lru.o_pprev_hash, pprev)
        k.w32(pprev, nxt)
        k.w32(page + lru.o_pprev_hash, 0)
        lru.add(lru.page_cache_size, -1)
        # __lru_cache_del: TestClearPageLRU, del_page_from_inactive_list
        lru.set_flags(page, lru.flags(page) & ~PG["PG_lru"])
        buddy.list_del(page + lru.o_lru)
        lru.add(lru.nr_inactive, -1)
        lru.set_flags(page, lru.flags(page) & ~PG["PG_locked"])  # UnlockPage
        buddy.free_pages(page, 0)  # page_cache_release
        nr_pages -= 1
        if not nr_pages:
            return 0


def shrink_caches(buddy: Buddy, classzone: int, priority: int, gfp_mask: int, nr_pages: int) -> int:
    """``shrink_caches``: ``kmem_cache_reap`` first, then ``refill_inactive`` and
    ``shrink_cache``. Returns the pages still wanted."""
    chunk = nr_pages
    if buddy.reaper is not None:
        nr_pages -= buddy.reaper.kmem_cache_reap(gfp_mask)
        if nr_pages <= 0:
            return 0
    nr_pages = chunk
    lru = _Lru(buddy)
    k = buddy.k
    # keep the active list 2/3 of the size of the cache (unsigned long arithmetic)
    ratio = (nr_pages * k.r32(lru.nr_active)) // ((k.r32(lru.nr_inactive) + 1) * 2)
    refill_inactive(lru, ratio & MASK32)
    nr_pages = shrink_cache(lru, nr_pages, classzone, gfp_mask, priority)
    if nr_pages <= 0:
        return 0
    return nr_pages  # shrink_dcache_memory, shrink_icache_memory: not modelled


@kernel_function("try_to_free_pages_zone")
def try_to_free_pages_zone(buddy: Buddy, classzone: int, gfp_mask: int) -> bool:
    """``try_to_free_pages_zone`` up to its ``out_of_memory()``: ``shrink_caches`` at
    priorities 6 down to 1 until SWAP_CLUSTER_MAX pages are freed. Returns whether
    they were; the caller calls ``out_of_memory`` when not."""
    nr_pages = SWAP_CLUSTER_MAX
    for priority in range(DEF_PRIORITY, 0, -1):
        nr_pages = shrink_caches(buddy, classzone, priority, gfp_mask, nr_pages)
        if nr_pages <= 0:
            return True
    return False
