"""Zones, ``mem_map`` and the buddy allocator (``mm/page_alloc.c``), in simulated RAM.

Free lists are the ``list_head``s inside each ``zone_t`` threaded through
``page->list``; the buddy bitmaps are bootmem arrays; ``page->count`` and
``page->flags`` are kept as 2.4.20 keeps them. The Python side holds only the
addresses of things, never their state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vmintro.accel import simspeedups
from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim import errors
from vmintro.sim.bootmem import Bootmem
from vmintro.sim.errors import (
    KernelBug,
    KernelHang,
    PageFault,
    SimulationError,
    kernel_function,
)
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.lru import PG_LRU, lru_cache_del
from vmintro.sim.oom import OOM_FAILURES, current, out_of_memory
from vmintro.sim.vmscan import try_to_free_pages_zone
from vmintro.types.flags import (
    GFP_DMA,
    GFP_HIGHMEM,
    GFP_ZONEMASK,
    MAX_NR_ZONES,
    MAX_ORDER,
    ZONE_NAMES,
    ZONE_SHIFT,
    PG_dirty,
    PG_highmem,
    PG_referenced,
    PG_reserved,
)

__all__ = ["Buddy", "free_area_init", "read_mem_map", "write_mem_map"]

_MASK32 = 0xFFFFFFFF
_GFP_WAIT = 0x10  # __GFP_WAIT (a leading "__" would be name-mangled inside Buddy)
PAGES_PER_WAITQUEUE = 256
ZONE_BALANCE_RATIO, ZONE_BALANCE_MIN, ZONE_BALANCE_MAX = 128, 20, 255


def _wait_table_size(pages: int) -> int:
    size = 1
    pages //= PAGES_PER_WAITQUEUE
    while size < pages:
        size <<= 1
    return min(size, 4096)


class Reaper(Protocol):
    """What ``shrink_caches`` asks of the slab allocator, and ``shrink_cache`` when
    it frees a page's buffer heads."""

    def kmem_cache_reap(self, gfp_mask: int) -> int: ...

    def kmem_cache_free(self, cachep: int, objp: int) -> None: ...  # try_to_free_buffers


class Buddy:
    """The page allocator of node 0 (``contig_page_data``)."""

    def __init__(self, k: KernelMemory) -> None:
        self.k = k
        t = k.types
        self.pgdat = k.sym("contig_page_data")
        self.zone_size = t.sizeof("zone_t")
        self.free_area_size = t.sizeof("free_area_t")
        self.zones = [
            self.pgdat + t.offsetof("pg_data_t", f"node_zones[{j}]") for j in range(MAX_NR_ZONES)
        ]
        self.o_free_area = t.offsetof("zone_t", "free_area")
        self.o_free_pages = t.offsetof("zone_t", "free_pages")
        self.o_map = t.offsetof("free_area_t", "map")
        self._o_maps = self.o_free_area + self.o_map  # free_area[0].map in the zone
        self.o_zone_mem_map = t.offsetof("zone_t", "zone_mem_map")
        p = t.struct("struct page")
        self.o_list = p.offsetof("list")
        self.o_count = p.offsetof("count")
        self.o_flags = p.offsetof("flags")
        self.o_mapping = p.offsetof("mapping")
        self.o_buffers = p.offsetof("buffers")
        self.o_index = p.offsetof("index")
        # What try_to_free_pages can reclaim here: the slab allocator's free slabs
        # (set by it); the page cache's clean pages, the dcache and the icache
        # are not modelled. And how the OOM killer's victim runs to its exit
        # (set by the process model): kill(pid).
        self.reaper: Reaper | None = None
        self.run_victim: Callable[[int], None] | None = None
        # whether the caller has PF_MEMDIE (the OOM killer chose the task whose
        # page fault allocates): then rebalance takes any free page
        self.memdie: Callable[[], bool] | None = None
        # current->local_pages while current has PF_FREE_PAGES (None: the flag is clear)
        self._local: list[int] | None = None
        self._freed = 0  # blocks __free_pages_ok has taken: whether reclaim made progress

        # 32-bit words of kernel memory: the direct map, or for a stray pointer what
        # the page tables say (or a fault), as KernelMemory's r32 and w32 do.
        self._r = k.r32
        self._w = k.w32
        self._rb, self._wb = k.mem.read_u8, k.mem.write_u8  # the buddy bitmaps' bytes
        self._o_mark = {m: t.offsetof("zone_t", m) for m in ("pages_min", "pages_low")}
        self._zone_table = k.sym("zone_table")
        self._zonelists = self.pgdat + t.offsetof("pg_data_t", "node_zonelists")
        self._zonelist_size = t.sizeof("zonelist_t")
        # rmqueue, __free_pages_ok's merge and __alloc_pages' first pass run in C where
        # it was built and the RAM is its C form (what they do is the Python below, the
        # loads and stores the same ones): c_form is (the C RAM, rmqueue, the merge, the
        # pass), or None for the Python form; _consts what they need, in the order the C
        # form takes it.
        self.c_form: tuple[Any, ...] | None = None
        ram = getattr(k.mem, "_ram", None)
        if simspeedups is not None and ram is not None and k.r32 is ram.r32:
            c = simspeedups
            self.c_form = (ram, c.buddy_rmqueue, c.buddy_free, c.buddy_alloc)
        self._consts = (
            self._zone_table,
            self.o_flags,
            self.o_list,
            self.o_count,
            self.o_zone_mem_map,
            self.o_free_area,
            self.o_free_pages,
            self.o_map,
            self.free_area_size,
            k.page_size,
            ZONE_SHIFT,
            MAX_ORDER,
        )

    @kernel_function("list_add", inline=True)
    def list_add(self, new: int, head: int) -> None:
        """``list_add``: insert ``new`` right after ``head``."""
        nxt = self._r(head)
        self._w(nxt + 4, new)
        self._w(new, nxt)
        self._w(new + 4, head)
        self._w(head, new)

    @kernel_function("list_del", inline=True)
    def list_del(self, entry: int) -> None:
        """``list_del`` of 2.4.20: unlink, then set both pointers to NULL."""
        nxt, prev = self._r(entry), self._r(entry + 4)
        self._w(nxt + 4, prev)
        self._w(prev, nxt)
        self._w(entry, 0)
        self._w(entry + 4, 0)

    def free_list(self, zone: int, order: int) -> int:
        return zone + self.o_free_area + order * self.free_area_size

    def _change_bit(self, zone: int, order: int, index: int) -> int:
        """``__test_and_change_bit`` on ``free_area[order].map``; returns the old bit."""
        bitmap = self._r(zone + self._o_maps + order * self.free_area_size)
        a = bitmap + (index >> 3) - PAGE_OFFSET
        byte = self._rb(a)
        self._wb(a, byte ^ (1 << (index & 7)))
        return byte >> (index & 7) & 1

    def page_zone(self, page: int) -> int:
        """``page_zone``: ``zone_table[page->flags >> ZONE_SHIFT]``."""
        idx = self._r(page + self.o_flags) >> ZONE_SHIFT
        return self._r(self._zone_table + 4 * idx)

    # -- allocation -----------------------------------------------------------------

    @kernel_function("rmqueue")
    def rmqueue(self, zone: int, order: int) -> int | None:
        """``rmqueue``: take the most recently freed block, split off lower halves."""
        c = self.c_form
        if c is not None and 0 <= order < MAX_ORDER and 0 <= zone <= _MASK32:
            return c[1](c[0], errors._tracer, errors.CALL_PATH, self._consts, zone, order)
        r = self._r
        base = r(zone + self.o_zone_mem_map)
        psize = self.k.page_size
        area, area_size = zone + self.o_free_area, self.free_area_size  # free_list, inline
        for cur in range(order, MAX_ORDER):
            head = area + cur * area_size
            curr = r(head)
            if curr == head:
                continue
            page = curr - self.o_list
            self.list_del(curr)
            index = (page - base) // psize
            if cur != MAX_ORDER - 1:
                self._change_bit(zone, cur, index >> (1 + cur))
            fp = zone + self.o_free_pages
            self._w(fp, self._r(fp) - (1 << order))
            page = self.expand(zone, page, index, order, cur)
            self._w(page + self.o_count, 1)  # set_page_count(page, 1)
            return page
        return None

    @kernel_function("expand", inline=True)
    def expand(self, zone: int, page: int, index: int, low: int, high: int) -> int:
        """``expand``: put the upper halves of an order-``high`` block back on the
        lower free lists; returns the order-``low`` page that is left."""
        psize = self.k.page_size
        size = 1 << high
        while high > low:
            high -= 1
            size >>= 1
            self.list_add(page + self.o_list, self.free_list(zone, high))
            self._change_bit(zone, high, index >> (1 + high))
            index += size
            page += size * psize
        return page

    def zonelist(self, gfp_mask: int) -> list[int]:
        zl = self._zonelists + (gfp_mask & GFP_ZONEMASK) * self._zonelist_size
        zones = []
        for i in range(MAX_NR_ZONES + 1):
            z = self._r(zl + 4 * i)
            if not z:
                break
            zones.append(z)
        return zones

    @kernel_function("__alloc_pages", entry=("gfp_mask", "order"), returns="pointer")
    def alloc_pages(self, gfp_mask: int, order: int = 0) -> int | None:
        """``__alloc_pages``: watermark passes down the zonelist, then for a sleeping
        allocation reclaim, the OOM killer and (order <= 3) the loop.

        Returns the ``struct page *`` or None when the kernel would return NULL.
        """
        c = self.c_form
        if c is not None and 0 <= order < MAX_ORDER:  # the zonelist and first pass in C
            zonelist = self._zonelists + (gfp_mask & GFP_ZONEMASK) * self._zonelist_size
            low = self._o_mark["pages_low"]
            got = c[3](
                c[0], errors._tracer, errors.CALL_PATH, self._consts, zonelist, order, low,
                errors._claim, PageFault,
            )  # fmt: skip
            if got is not False:
                return got
            zones = self.zonelist(gfp_mask)
        else:
            zones = self.zonelist(gfp_mask)
            if not zones:
                return None
            page = self._watermark_pass(zones, order, "pages_low")
            if page:
                return page
        self.k.set(zones[0], "zone_t", "need_balance", 1)
        if not gfp_mask & _GFP_WAIT:  # local_min = pages_min / 4
            return self._watermark_pass(zones, order, "pages_min", 2)
        page = self._watermark_pass(zones, order, "pages_min")
        return page or self._rebalance(zones, gfp_mask, order)

    def _watermark_pass(
        self, zones: list[int], order: int, mark: str, shift: int = 0
    ) -> int | None:
        """One of ``__alloc_pages``' passes down the zonelist: the first zone whose
        free pages exceed ``1 << order`` plus the sum of the zones' ``mark`` so far
        (each ``>> shift``) gives the block, if ``rmqueue`` finds one."""
        r, o_mark, o_free = self._r, self._o_mark[mark], self.o_free_pages
        need = 1 << order
        for z in zones:
            need += r(z + o_mark) >> shift
            if r(z + o_free) > need:
                page = self.rmqueue(z, order)
                if page:
                    return page
        return None

    def _rebalance(self, zones: list[int], gfp_mask: int, order: int) -> int | None:
        """``__alloc_pages``' slow path from ``rebalance:``. The caller is ``current``,
        the idle task between the simulator's calls, which has no PF_MEMALLOC or
        PF_MEMDIE; an order above 3 gets one round, a smaller one loops until it
        gets memory, the OOM killer's victims exiting in its ``yield()``."""
        get = self.k.get
        failures = 0  # out_of_memory's count: earlier failures taken as long past
        while True:
            if self.memdie is not None and self.memdie():  # PF_MEMDIE: no watermark
                for z in zones:
                    page = self.rmqueue(z, order)
                    if page:
                        return page
                return None
            freed = self._freed
            page, ok, killed = self.balance_classzone(zones[0], gfp_mask, order, failures + 1)
            failures = 0 if killed else failures if ok else failures + 1
            page = page or self._watermark_pass(zones, order, "pages_min")
            if page:
                return page
            if order > 3:  # don't let big-order allocations loop
                return None
            if killed:  # yield(): the victims run, die of their signal and are reaped
                if self.run_victim is None:
                    raise SimulationError(
                        "__alloc_pages: the OOM killer's victim would exit when it next "
                        "runs; this simulation cannot run it"
                    )
                for task in killed:
                    self.run_victim(get(task, "struct task_struct", "pid"))
            elif failures >= OOM_FAILURES and self._freed == freed:
                swap = self.k.r32(self.k.sym("nr_swap_pages"))
                raise KernelHang(
                    "__alloc_pages",
                    f"an order-{order} allocation finds nothing to reclaim (this simulation "
                    f"writes no pages out to swap) and out_of_memory() sees {swap} swap "
                    "pages free, so it kills nothing: the loop at rebalance",
                )

    @kernel_function("balance_classzone")
    def balance_classzone(
        self, classzone: int, gfp_mask: int, order: int, failures: int
    ) -> tuple[int | None, bool, list[int]]:
        """``balance_classzone``: ``try_to_free_pages_zone`` with PF_FREE_PAGES set, so
        the first block it frees waits on ``current->local_pages``; that block is the
        caller's when reclaim succeeded and it is of the order and class asked for,
        else it is freed. A failed reclaim ends in ``out_of_memory()`` (its
        ``failures``-th call in a row). Returns (that page or None, whether reclaim
        succeeded, the tasks the OOM killer killed)."""
        k = self.k
        k.set(current(k), "struct task_struct", "allocation_order", order)
        self._local = []
        killed: list[int] = []
        try:
            ok = try_to_free_pages_zone(self, classzone, gfp_mask)
            if not ok:
                killed = out_of_memory(k, failures)
        finally:
            local, self._local = self._local, None
        page = None
        for tmp in local:
            self._w(tmp + self.o_list, 0)  # list_del: off current->local_pages
            self._w(tmp + self.o_list + 4, 0)
            index = self._r(tmp + self.o_index)
            if ok and page is None and index == order and self.page_zone(tmp) <= classzone:
                self._w(tmp + self.o_count, 1)  # set_page_count(tmp, 1)
                page = tmp
            else:
                self.free_pages_ok(tmp, index)
        return page, ok, killed

    @kernel_function("__get_free_pages")
    def get_free_pages(self, gfp_mask: int, order: int = 0) -> int | None:
        """``__get_free_pages``: the block's kernel virtual address (lowmem masks only)."""
        page = self.alloc_pages(gfp_mask, order)
        return None if page is None else self.page_address(page)

    def page_address(self, page: int) -> int:
        return self.k.va(self.k.page_pfn(page) * PAGE_SIZE)

    # -- freeing --------------------------------------------------------------------

    @kernel_function("__free_pages_ok")
    def free_pages_ok(self, page: int, order: int) -> None:
        """``__free_pages_ok``: off the LRU (a process's page freed by its last
        user), coalesce with free buddies, then add at the list head."""
        if self._r(page + self.o_flags) & PG_LRU:
            lru_cache_del(self.k, page)
        if self._r(page + self.o_buffers):
            raise KernelBug("__free_pages_ok", "page->buffers")
        if self._r(page + self.o_mapping):
            raise KernelBug("__free_pages_ok", "page->mapping")
        if self.k.page_pfn(page) >= self.k.config.num_physpages:
            raise KernelBug("__free_pages_ok", "!VALID_PAGE(page)")
        fl = page + self.o_flags
        self._w(fl, self._r(fl) & ~(PG_referenced | PG_dirty))
        self._freed += 1
        if self._local is not None and not self._local:  # PF_FREE_PAGES: local_freelist
            self._w(page + self.o_index, order)  # page->index = order
            self._local.append(page)
            return
        c = self.c_form
        if c is not None and 0 <= order < MAX_ORDER and 0 <= page <= _MASK32:
            if not c[2](c[0], errors._tracer, errors.CALL_PATH, self._consts, page, order):
                raise KernelBug("__free_pages_ok", "page_idx & ~mask")
            return
        zone = self.page_zone(page)
        base = self._r(zone + self.o_zone_mem_map)
        psize = self.k.page_size
        page_idx = (page - base) // psize
        if page_idx & ((1 << order) - 1):
            raise KernelBug("__free_pages_ok", "page_idx & ~mask")
        fp = zone + self.o_free_pages
        self._w(fp, self._r(fp) + (1 << order))
        while order < MAX_ORDER - 1:
            if not self._change_bit(zone, order, page_idx >> (1 + order)):
                break  # the buddy is still allocated
            buddy = base + (page_idx ^ (1 << order)) * psize
            self.list_del(buddy + self.o_list)
            order += 1
            page_idx &= ~((1 << order) - 1)
        self.list_add(base + page_idx * psize + self.o_list, self.free_list(zone, order))

    @kernel_function("__free_pages", entry=("page", "order"))
    def free_pages(self, page: int, order: int = 0) -> None:
        """``__free_pages``: drop a reference; free when it was the last one."""
        if self._r(page + self.o_flags) & PG_reserved:
            return
        count = self._r(page + self.o_count) - 1
        self._w(page + self.o_count, count)
        if count == 0:
            self.free_pages_ok(page, order)

    def free_page_vaddr(self, vaddr: int, order: int = 0) -> None:
        """``free_pages(addr, order)`` for a lowmem kernel address."""
        self.free_pages(self.k.page_addr(self.k.pa(vaddr) // PAGE_SIZE), order)


def free_area_init(k: KernelMemory, bm: Bootmem) -> Buddy:
    """``free_area_init_core`` for node 0: mem_map, zones, wait tables, bitmaps, zonelists,
    their memory from the boot-time allocator ``bm``."""
    cfg = k.config
    t = k.types
    sizes = cfg.zone_sizes
    total = sum(sizes)
    psize = k.page_size
    raw = bm.alloc_node((total + 1) * psize)
    off = raw - PAGE_OFFSET
    if off % psize:
        off += psize - off % psize  # MAP_ALIGN
    lmem_map = PAGE_OFFSET + off
    k.mem_map = lmem_map
    k.w32(k.sym("mem_map"), lmem_map)
    pgdat = k.sym("contig_page_data")
    k.set_many(
        pgdat,
        "pg_data_t",
        node_mem_map=lmem_map,
        node_size=total,
        node_start_paddr=0,
        node_start_mapnr=0,
        nr_zones=0,
    )
    buddy = Buddy(k)
    zone_start_paddr = 0
    offset = 0
    wqh = t.sizeof("wait_queue_head_t")
    o_task_list = t.offsetof("wait_queue_head_t", "task_list")
    for j in range(MAX_NR_ZONES):
        zone = buddy.zones[j]
        k.w32(k.sym("zone_table") + 4 * j, zone)
        size = sizes[j]
        k.set_many(
            zone,
            "zone_t",
            size=size,
            name=k.rodata_string(ZONE_NAMES[j]),
            zone_pgdat=pgdat,
            free_pages=0,
            need_balance=0,
        )
        if not size:
            continue
        wts = _wait_table_size(size)
        k.set(zone, "zone_t", "wait_table_size", wts)
        k.set(zone, "zone_t", "wait_table_shift", 32 - (wts.bit_length() - 1))
        wt = bm.alloc_node(wts * wqh)
        k.set(zone, "zone_t", "wait_table", wt)
        for i in range(wts):
            head = wt + i * wqh + o_task_list
            k.w32(head, head)
            k.w32(head + 4, head)
        k.set(pgdat, "pg_data_t", "nr_zones", j + 1)
        mask = min(max(size // ZONE_BALANCE_RATIO, ZONE_BALANCE_MIN), ZONE_BALANCE_MAX)
        k.set_many(
            zone,
            "zone_t",
            pages_min=mask,
            pages_low=mask * 2,
            pages_high=mask * 3,
            zone_mem_map=lmem_map + offset * psize,
            zone_start_mapnr=offset,
            zone_start_paddr=zone_start_paddr,
        )
        _init_pages(k, lmem_map, offset, size, j, zone_start_paddr, highmem_zone=(j == 2))
        zone_start_paddr += size * PAGE_SIZE
        offset += size
        for i in range(MAX_ORDER):
            head = buddy.free_list(zone, i)
            k.w32(head, head)
            k.w32(head + 4, head)
            if i == MAX_ORDER - 1:
                k.w32(head + buddy.o_map, 0)
                break
            bitmap_size = (((size - 1) >> (i + 4)) + 1 + 3) & ~3  # LONG_ALIGN
            k.w32(head + buddy.o_map, bm.alloc_node(bitmap_size))
    _build_zonelists(k, buddy, sizes)
    k.w32(k.sym("pgdat_list"), pgdat)
    return buddy


def _init_pages(
    k: KernelMemory, mem_map: int, first: int, count: int, zone: int, paddr: int, highmem_zone: bool
) -> None:
    """The per-page loop of ``free_area_init_core``, done as one bulk write.

    Each page: zone in the flags' top byte, count 0, PG_reserved, ``list``
    pointing at itself, and (HIGHMEM kernels) ``virtual`` for non-highmem pages.
    """
    t = k.types
    psize = k.page_size
    words = np.zeros((count, psize // 4), dtype="<u4")
    start = mem_map + first * psize
    addrs = start + np.arange(count, dtype=np.uint64) * psize
    lo = t.offsetof("struct page", "list") // 4
    words[:, lo] = addrs + t.offsetof("struct page", "list")
    words[:, lo + 1] = words[:, lo]
    words[:, t.offsetof("struct page", "flags") // 4] = (zone << ZONE_SHIFT) | PG_reserved
    if k.config.highmem and not highmem_zone:
        words[:, t.offsetof("struct page", "virtual") // 4] = (
            PAGE_OFFSET + paddr + np.arange(count, dtype=np.uint64) * PAGE_SIZE
        )
    k.mem.write(start - PAGE_OFFSET, words.data.cast("B"))


def read_mem_map(k: KernelMemory) -> np.ndarray:
    """``mem_map`` as an array of 32-bit words, a row per ``struct page``, for the boot
    code that computes many pages at once (read straight into it: a 4 GiB machine's
    mem_map is 46 MB)."""
    pages = np.empty((k.config.num_physpages, k.page_size // 4), dtype="<u4")
    k.mem.read_into(k.pa(k.mem_map), pages)
    return pages


def write_mem_map(k: KernelMemory, pages: np.ndarray) -> None:
    """Store the rows of :func:`read_mem_map` back in ``mem_map``."""
    k.mem.write(k.pa(k.mem_map), np.ascontiguousarray(pages, "<u4").data.cast("B"))


def _build_zonelists(k: KernelMemory, buddy: Buddy, sizes: tuple[int, int, int]) -> None:
    """``build_zonelists``: for each gfp zone mask, the zones to try, in order."""
    for i in range(GFP_ZONEMASK + 1):
        zl = buddy.pgdat + k.types.offsetof("pg_data_t", f"node_zonelists[{i}]")
        k.zero(zl, 16)
        first = 1
        if i & GFP_HIGHMEM:
            first = 2
        if i & GFP_DMA:
            first = 0
        n = 0
        for j in range(first, -1, -1):
            if sizes[j]:
                k.w32(zl + 4 * n, buddy.zones[j])
                n += 1


@dataclass(frozen=True)
class FreeSequence:
    """Pages in the order ``mem_init`` hands them to the buddy allocator: their frame
    numbers, and whether each is a highmem page."""

    pfns: np.ndarray
    high: np.ndarray

    def __len__(self) -> int:  # pages, not fields
        return len(self.pfns)


def boot_free_sequence(k: KernelMemory, bm: Bootmem) -> FreeSequence:
    """The order in which ``mem_init`` hands pages to the buddy allocator.

    ``free_all_bootmem_core`` frees every lowmem page whose bootmem bit is clear,
    ascending, then the bootmem bitmap's own pages; the highmem loop follows,
    from ``highend_pfn - 1`` down to ``highstart_pfn`` (2.4.20 ``free_pages_init``),
    the pages ``page_is_ram`` says yes to.
    """
    first = k.pa(bm.map_vaddr) // PAGE_SIZE
    parts = [
        bm.free_pfns(),
        np.arange(first, first + (bm.low_pfn // 8 + PAGE_SIZE - 1) // PAGE_SIZE),
    ]
    low = sum(len(p) for p in parts)
    cfg = k.config
    if cfg.highmem:
        lo, hi = cfg.highstart_pfn, cfg.highend_pfn
        for first, end in reversed(cfg.ram_pfn_ranges):
            first, end = max(first, lo), min(end, hi)
            if first < end:
                parts.append(np.arange(end - 1, first - 1, -1))
    pfns = np.concatenate(parts).astype(np.int64)
    high = np.zeros(len(pfns), dtype=bool)
    high[low:] = True
    return FreeSequence(pfns, high)


def free_boot_pages(k: KernelMemory, buddy: Buddy, seq: FreeSequence) -> None:
    """Each page in turn: ``ClearPageReserved``, ``set_page_count(1)``, ``__free_page``."""
    o_flags, o_count = buddy.o_flags, buddy.o_count
    for pfn, high in zip(seq.pfns.tolist(), seq.high.tolist(), strict=True):
        page = k.page_addr(pfn)
        flags = buddy._r(page + o_flags) & ~PG_reserved
        buddy._w(page + o_flags, flags | PG_highmem if high else flags)
        buddy._w(page + o_count, 1)
        buddy.free_pages(page, 0)


def free_boot_pages_bulk(k: KernelMemory, buddy: Buddy, seq: FreeSequence) -> None:
    """:func:`free_boot_pages` computed for all pages at once, then written to RAM.

    The result is byte-for-byte what the page-by-page path writes (a test checks
    it): the same merges, bitmap toggles, list order and ``list_del`` NULLs. It
    needs the zones' free lists empty and their bitmaps clear, as at boot.

    Freeing a set of pages one by one leaves a state that the set decides, the
    order only saying when: an aligned block of order ``o`` becomes free when
    the last of its pages is freed (its time), at which moment it merges with
    its buddy if that one is already free. So, per order: a pair's bitmap bit
    ends 1 when exactly one half became free; when both did, the one free
    first was on the free list and ``list_del`` took it off, and the pair is a
    block of the next order with the later time; a free block that did not
    merge stays on its list, the latest at the head.
    """
    psize = k.page_size
    o_list, o_flags, o_count = buddy.o_list // 4, buddy.o_flags // 4, buddy.o_count // 4
    mem_map = k.mem_map
    total = k.config.num_physpages
    pages = read_mem_map(k)
    pfns = seq.pfns
    flags = pages[pfns, o_flags] & np.uint32(~PG_reserved & 0xFFFFFFFF)
    flags[seq.high] |= np.uint32(PG_highmem)
    pages[pfns, o_flags] = flags
    pages[pfns, o_count] = 0
    zone_of_page = flags >> ZONE_SHIFT
    order_of_time = np.arange(len(pfns), dtype=np.int64)  # when each page is freed
    deleted = np.zeros(total, dtype=bool)
    lists: list[tuple[int, np.ndarray]] = []  # (free list head, its blocks' first pages)
    for j, zone in enumerate(buddy.zones):
        size = k.get(zone, "zone_t", "size")
        if not size:
            continue
        if k.get(zone, "zone_t", "free_pages"):
            raise ValueError("bulk free needs empty zones")
        base = k.get(zone, "zone_t", "zone_start_mapnr")
        mine = zone_of_page == j
        # time[i]: when block i of the current order became free, -1 while it is not
        span = -(-size // (1 << (MAX_ORDER - 1))) << (MAX_ORDER - 1)
        time = np.full(span, -1, dtype=np.int64)
        time[pfns[mine] - base] = order_of_time[mine]
        for order in range(MAX_ORDER):
            free = time >= 0
            if order < MAX_ORDER - 1:
                left, right = time[0::2], time[1::2]
                merged = (left >= 0) & (right >= 0)
                # the half free first was list_del'ed when its buddy came
                first_left = merged & (left < right)
                first_right = merged & (right < left)
                gone = np.concatenate(
                    (np.flatnonzero(first_left) * 2, np.flatnonzero(first_right) * 2 + 1)
                )
                deleted[base + (gone << order)] = True
                bits = (left >= 0) ^ (right >= 0)
                nbytes = ((size - 1) >> (order + 4)) + 1
                packed = np.packbits(bits, bitorder="little").tobytes()
                bitmap = k.r32(buddy.free_list(zone, order) + buddy.o_map)
                k.write(bitmap, packed.ljust(nbytes, b"\0")[:nbytes])
                free &= ~np.repeat(merged, 2)
                upper = np.where(merged, np.maximum(left, right), -1)
            stay = np.flatnonzero(free)
            stay = stay[np.argsort(-time[stay], kind="stable")]  # list_add: the newest first
            lists.append((buddy.free_list(zone, order), base + (stay << order)))
            if order < MAX_ORDER - 1:
                time = upper
        k.set(zone, "zone_t", "free_pages", int(np.count_nonzero(mine)))
    pages[deleted, o_list] = 0
    pages[deleted, o_list + 1] = 0
    for head, blocks in lists:  # head -> the blocks -> head, each page's list
        chain = mem_map + blocks * psize + buddy.o_list
        k.w32(head, int(chain[0]) if len(chain) else head)
        k.w32(head + 4, int(chain[-1]) if len(chain) else head)
        pages[blocks, o_list] = np.append(chain[1:], head)
        pages[blocks, o_list + 1] = np.insert(chain[:-1], 0, head)
    write_mem_map(k, pages)
