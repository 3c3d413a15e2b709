"""The slab allocator's general caches and ``kmalloc``/``kfree`` (``mm/slab.c``, UP).

Cache descriptors are objects of the static ``cache_cache``; slabs are pages
from the buddy allocator marked ``PG_slab`` whose ``page->list`` points back
at the cache and the slab, as ``kmem_cache_grow`` leaves them.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

from vmintro.arch.x86 import L1_CACHE_BYTES, PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.buddy import Buddy
from vmintro.sim.errors import KernelOops, LoopGuard, SimulationError, kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.types.flags import (
    BUFCTL_END,
    CFLGS_OFF_SLAB,
    CFLGS_OPTIMIZE,
    GFP_DMA,
    GFP_KERNEL,
    SLAB_CACHE_DMA,
    SLAB_HWCACHE_ALIGN,
    SLAB_NO_REAP,
    PG_slab,
)
from vmintro.types.kernel import KernelTypes

__all__ = ["Slab"]

KC = "kmem_cache_t"
SLAB = "slab_t"
SLAB_T_SIZE = 24
BUFCTL_SIZE = 4
MAX_GFP_ORDER = 5
REAP_SCANLEN = REAP_PERFECT = 10
MASK32 = 0xFFFFFFFF
DFLGS_GROWN = 0x1
GENERAL_SIZES = [32 << i for i in range(13)]  # 32 .. 131072


def l1_align(n: int) -> int:
    return (n + L1_CACHE_BYTES - 1) & ~(L1_CACHE_BYTES - 1)


def kmem_cache_estimate(order: int, size: int, flags: int) -> tuple[int, int]:
    """``kmem_cache_estimate``: (objects per slab, bytes left over)."""
    wastage = PAGE_SIZE << order
    base, extra = (0, 0) if flags & CFLGS_OFF_SLAB else (SLAB_T_SIZE, BUFCTL_SIZE)
    i = 0
    while i * size + l1_align(base + i * extra) <= wastage:
        i += 1
    if i > 0:
        i -= 1
    return i, wastage - i * size - l1_align(base + i * extra)


class Slab:
    """``cache_cache``, the cache chain and the general caches."""

    def __init__(self, k: KernelMemory, buddy: Buddy) -> None:
        """``kmem_cache_init``: set up ``cache_cache`` (no memory is allocated yet);
        slabs will come from ``buddy``."""
        self.k = k
        self.buddy = buddy
        self.cache_cache = k.sym("cache_cache")
        self.slab_break_gfp_order = 1
        self.offslab_limit = 0
        cc = self.cache_cache
        for lst in ("slabs_full", "slabs_partial", "slabs_free", "next"):
            head = cc + k.types.offsetof(KC, lst)
            k.w32(head, head)
            k.w32(head + 4, head)
        objsize = k.types.sizeof(KC)
        num, left = kmem_cache_estimate(0, objsize, 0)
        k.set_many(
            cc,
            KC,
            objsize=objsize,
            flags=SLAB_NO_REAP,
            colour_off=L1_CACHE_BYTES,
            num=num,
            colour=left // L1_CACHE_BYTES,
            colour_next=0,
        )
        k.write(cc + k.types.offsetof(KC, "name"), b"kmem_cache".ljust(20, b"\0"))
        k.w32(k.sym("clock_searchp"), cc)  # static kmem_cache_t *clock_searchp = &cache_cache
        self.sizes: list[tuple[int, int, int]] = []  # (size, cache, dma cache)
        buddy.reaper = self  # shrink_caches' first resort: kmem_cache_reap

    @classmethod
    def attach(cls, k: KernelMemory, buddy: Buddy) -> Slab:
        """The allocator of a kernel already running, found in ``k``'s RAM, nothing
        written: the general caches from ``cache_sizes`` (the table
        ``kmem_find_general_cachep`` walks); ``slab_break_gfp_order`` and
        ``offslab_limit`` as ``kmem_cache_sizes_init`` left them, which only a
        later ``kmem_cache_create`` reads.
        """
        slab = cls.__new__(cls)
        slab.k, slab.buddy, slab.cache_cache = k, buddy, k.sym("cache_cache")
        slab.slab_break_gfp_order = 2 if k.config.num_physpages > (32 << 20) >> 12 else 1
        slab.offslab_limit = 0
        slab.sizes = []
        buddy.reaper = slab
        base, cs = k.sym("cache_sizes"), k.types.sizeof("cache_sizes_t")
        for i in range(len(GENERAL_SIZES)):
            size = k.get(base + i * cs, "cache_sizes_t", "cs_size")
            cache = k.get(base + i * cs, "cache_sizes_t", "cs_cachep")
            dma = k.get(base + i * cs, "cache_sizes_t", "cs_dmacachep")
            if not size or not cache:
                break
            if not k.get(cache, KC, "flags") & CFLGS_OFF_SLAB:
                slab.offslab_limit = (size - SLAB_T_SIZE) // 2
            slab.sizes.append((size, cache, dma))
        return slab

    def _list(self, cache: int, name: str) -> int:
        return cache + _offset(self.k.types, KC, name)

    # -- cache creation ---------------------------------------------------------------

    def kmem_cache_sizes_init(self) -> None:
        """``kmem_cache_sizes_init``: size-32 .. size-131072 and their DMA twins."""
        k = self.k
        if k.config.num_physpages > (32 << 20) >> 12:
            self.slab_break_gfp_order = 2
        cs_base = k.sym("cache_sizes")
        cs = k.types.sizeof("cache_sizes_t")
        for i, size in enumerate(GENERAL_SIZES):
            k.set(cs_base + i * cs, "cache_sizes_t", "cs_size", size)
        for i, size in enumerate(GENERAL_SIZES):
            cache = self.kmem_cache_create(f"size-{size}", size, SLAB_HWCACHE_ALIGN)
            if not k.get(cache, KC, "flags") & CFLGS_OFF_SLAB:
                self.offslab_limit = (size - SLAB_T_SIZE) // 2
            dma = self.kmem_cache_create(
                f"size-{size}(DMA)", size, SLAB_CACHE_DMA | SLAB_HWCACHE_ALIGN
            )
            k.set_many(cs_base + i * cs, "cache_sizes_t", cs_cachep=cache, cs_dmacachep=dma)
            self.sizes.append((size, cache, dma))

    def kmem_cache_create(self, name: str, size: int, flags: int) -> int:
        """``kmem_cache_create`` without constructor: geometry, then link into the chain."""
        k = self.k
        cachep = self.kmem_cache_alloc(self.cache_cache, GFP_KERNEL)
        if cachep is None:
            raise SimulationError(f"kmem_cache_create({name}): out of memory")
        k.zero(cachep, k.types.sizeof(KC))
        size = (size + 3) & ~3
        align = L1_CACHE_BYTES if flags & SLAB_HWCACHE_ALIGN else 4
        if size >= PAGE_SIZE >> 3:
            flags |= CFLGS_OFF_SLAB
        if flags & SLAB_HWCACHE_ALIGN:
            while size < align // 2:
                align //= 2
            size = (size + align - 1) & ~(align - 1)
        order = 0
        while True:
            num, left_over = kmem_cache_estimate(order, size, flags)
            if order >= MAX_GFP_ORDER:
                break
            if num:
                if flags & CFLGS_OFF_SLAB and num > self.offslab_limit:
                    order -= 1
                    num, left_over = kmem_cache_estimate(order, size, flags)
                    break
                if order >= self.slab_break_gfp_order:
                    break
                if left_over * 8 <= PAGE_SIZE << order:
                    break
            order += 1
        if not num:
            raise SimulationError(f"kmem_cache_create: couldn't create cache {name}")
        slab_size = l1_align(num * BUFCTL_SIZE + SLAB_T_SIZE)
        if flags & CFLGS_OFF_SLAB and left_over >= slab_size:
            flags &= ~CFLGS_OFF_SLAB
            left_over -= slab_size
        colour_off = L1_CACHE_BYTES
        if not order and not flags & CFLGS_OFF_SLAB:
            flags |= CFLGS_OPTIMIZE
        k.set_many(
            cachep,
            KC,
            gfporder=order,
            num=num,
            colour_off=colour_off,
            colour=left_over // colour_off,
            flags=flags,
            gfpflags=GFP_DMA if flags & SLAB_CACHE_DMA else 0,
            objsize=size,
        )
        for lst in ("slabs_full", "slabs_partial", "slabs_free"):
            head = self._list(cachep, lst)
            k.w32(head, head)
            k.w32(head + 4, head)
        if flags & CFLGS_OFF_SLAB:
            k.set(cachep, KC, "slabp_cache", self.kmem_find_general_cachep(slab_size, 0))
        k.write(cachep + k.types.offsetof(KC, "name"), name.encode()[:19] + b"\0")
        self.buddy.list_add(self._list(cachep, "next"), self._list(self.cache_cache, "next"))
        return cachep

    def kmem_find_general_cachep(self, size: int, gfpflags: int) -> int:
        for csize, cache, dma in self.sizes:
            if size <= csize:
                return dma if gfpflags & GFP_DMA else cache
        raise SimulationError(f"no general cache for {size} bytes")

    # -- slabs ----------------------------------------------------------------------

    @kernel_function("kmem_cache_grow")
    def kmem_cache_grow(self, cachep: int, flags: int) -> bool:
        """``kmem_cache_grow``: one more slab, put on ``slabs_free``."""
        k = self.k
        g = k.get
        colour = g(cachep, KC, "colour")
        offset = g(cachep, KC, "colour_next")
        nxt = offset + 1
        k.set(cachep, KC, "colour_next", 0 if nxt >= colour else nxt)
        offset *= g(cachep, KC, "colour_off")
        k.set(cachep, KC, "dflags", g(cachep, KC, "dflags") | DFLGS_GROWN)
        order = g(cachep, KC, "gfporder")
        buddy = self.buddy
        page = buddy.alloc_pages(flags | g(cachep, KC, "gfpflags"), order)
        if page is None:
            return False
        objp = buddy.page_address(page)
        num = g(cachep, KC, "num")
        if g(cachep, KC, "flags") & CFLGS_OFF_SLAB:
            slabp = self.kmem_cache_alloc(g(cachep, KC, "slabp_cache"), flags)
            if slabp is None:
                buddy.free_pages(page, order)
                return False
            colouroff = offset
        else:
            slabp = objp + offset
            colouroff = offset + l1_align(num * BUFCTL_SIZE + SLAB_T_SIZE)
        k.set_many(slabp, SLAB, inuse=0, colouroff=colouroff, s_mem=objp + colouroff)
        o_list, o_flags = buddy.o_list, buddy.o_flags
        for i in range(1 << order):
            p = page + i * k.page_size
            k.w32(p + o_list, cachep)  # SET_PAGE_CACHE
            k.w32(p + o_list + 4, slabp)  # SET_PAGE_SLAB
            k.w32(p + o_flags, k.r32(p + o_flags) | PG_slab)
        bufctl = np.arange(1, num + 1, dtype="<u4")  # each free object names the next
        bufctl[-1] = BUFCTL_END
        k.write(slabp + SLAB_T_SIZE, bufctl.tobytes())
        k.set(slabp, SLAB, "free", 0)
        # list_add_tail(&slabp->list, &cachep->slabs_free)
        head = self._list(cachep, "slabs_free")
        buddy.list_add(slabp, k.r32(head + 4))
        k.set(cachep, KC, "failures", 0)
        return True

    @kernel_function("kmem_cache_alloc")
    def kmem_cache_alloc(self, cachep: int, flags: int) -> int | None:
        """``kmem_cache_alloc`` (UP): partial slab first, else a free one, else grow."""
        k = self.k
        buddy = self.buddy
        while True:
            partial = self._list(cachep, "slabs_partial")
            entry = k.r32(partial)
            if entry == partial:
                free = self._list(cachep, "slabs_free")
                entry = k.r32(free)
                if entry == free:
                    if not self.kmem_cache_grow(cachep, flags):
                        return None
                    continue
                buddy.list_del(entry)
                buddy.list_add(entry, partial)
            slabp = entry
            k.set(slabp, SLAB, "inuse", k.get(slabp, SLAB, "inuse") + 1)
            free_idx = k.get(slabp, SLAB, "free")
            objp = k.get(slabp, SLAB, "s_mem") + free_idx * k.get(cachep, KC, "objsize")
            nxt = k.r32(slabp + SLAB_T_SIZE + 4 * free_idx)
            k.set(slabp, SLAB, "free", nxt)
            if nxt == BUFCTL_END:
                buddy.list_del(slabp)
                buddy.list_add(slabp, self._list(cachep, "slabs_full"))
            return objp

    def kmem_cache_alloc_calls(self, caches: np.ndarray, flags: int) -> np.ndarray | None:
        """``kmem_cache_alloc(caches[i], flags)`` for each ``i`` in order: the objects
        (None when memory ran out). What the calls would do one by one, done a slab
        at a time: first each cache's partial and free slabs, which take no page, then
        the slabs that the calls grow, in the order of the calls that grow them, each
        taken whole by the calls that follow (only a cache's last may stay partial)."""
        k, buddy = self.k, self.buddy
        caches = np.asarray(caches, dtype=np.int64)
        out = np.zeros(len(caches), dtype=np.int64)
        grows: list[tuple[int, int, np.ndarray]] = []  # (call, cache, the calls it serves)
        for cachep in dict.fromkeys(caches.tolist()):
            calls = np.flatnonzero(caches == cachep)
            partial, free = self._list(cachep, "slabs_partial"), self._list(cachep, "slabs_free")
            i = 0
            while i < len(calls) and (k.r32(partial) != partial or k.r32(free) != free):
                objp = self.kmem_cache_alloc(cachep, flags)
                if objp is None:
                    return None
                out[calls[i]] = objp
                i += 1
            num = k.get(cachep, KC, "num")
            grows += [
                (int(calls[j]), cachep, calls[j : j + num]) for j in range(i, len(calls), num)
            ]
        grows.sort(key=lambda g: g[0])
        while grows:  # a run of grows of one cache at a time
            cachep = grows[0][1]
            run = 1
            while run < len(grows) and grows[run][1] == cachep:
                run += 1
            served = [calls for _, _, calls in grows[:run]]
            del grows[:run]
            objsize = k.get(cachep, KC, "objsize")
            if k.get(cachep, KC, "flags") & CFLGS_OFF_SLAB:
                grown: list[int] = []
                for calls in served:
                    if not self.kmem_cache_grow(cachep, flags):
                        return None
                    num, n = k.get(cachep, KC, "num"), len(calls)
                    slabp = k.r32(self._list(cachep, "slabs_free"))  # the one just grown
                    k.set_many(slabp, SLAB, inuse=n, free=n if n < num else BUFCTL_END)
                    buddy.list_del(slabp)
                    full = "slabs_partial" if n < num else "slabs_full"
                    buddy.list_add(slabp, self._list(cachep, full))
                    grown.append(k.get(slabp, SLAB, "s_mem"))
                mems: list[int] | None = grown
            else:
                mems = self._grow_taken(cachep, [len(calls) for calls in served], flags)
            if mems is None:
                return None
            for s_mem, calls in zip(mems, served, strict=True):
                out[calls] = s_mem + objsize * np.arange(len(calls))
        return out

    def _grow_taken(self, cachep: int, counts: list[int], flags: int) -> list[int] | None:
        """``kmem_cache_grow`` of an on-slab cache once per count, each new slab then
        given that many objects by ``kmem_cache_alloc`` (full, or partial for fewer
        than ``num``), written once each: the slabs' ``s_mem`` (None when memory ran
        out)."""
        k, buddy = self.k, self.buddy
        g = k.get
        colour, nxt = g(cachep, KC, "colour"), g(cachep, KC, "colour_next")
        colour_off, order = g(cachep, KC, "colour_off"), g(cachep, KC, "gfporder")
        gfp, num = flags | g(cachep, KC, "gfpflags"), g(cachep, KC, "num")
        mgmt = l1_align(num * BUFCTL_SIZE + SLAB_T_SIZE)
        bufctl = np.arange(1, num + 1, dtype="<u4")  # untouched by the allocations
        bufctl[-1] = BUFCTL_END
        tail = bufctl.tobytes()
        o_list, o_flags = buddy.o_list, buddy.o_flags
        k.set(cachep, KC, "dflags", g(cachep, KC, "dflags") | DFLGS_GROWN)
        mems = []
        for n in counts:
            offset = nxt * colour_off
            nxt = 0 if nxt + 1 >= colour else nxt + 1
            k.set(cachep, KC, "colour_next", nxt)
            page = buddy.alloc_pages(gfp, order)
            if page is None:
                return None
            objp = buddy.page_address(page)
            slabp, colouroff = objp + offset, offset + mgmt
            for i in range(1 << order):
                p = page + i * k.page_size
                k.write(p + o_list, struct.pack("<II", cachep, slabp))  # SET_PAGE_CACHE, _SLAB
                k.w32(p + o_flags, k.r32(p + o_flags) | PG_slab)
            free = n if n < num else BUFCTL_END
            k.write(slabp, struct.pack("<6I", 0, 0, colouroff, objp + colouroff, n, free) + tail)
            buddy.list_add(slabp, self._list(cachep, "slabs_partial" if n < num else "slabs_full"))
            k.set(cachep, KC, "failures", 0)
            mems.append(objp + colouroff)
        return mems

    @kernel_function("kmem_cache_free")
    def kmem_cache_free(self, cachep: int, objp: int) -> None:
        """``kmem_cache_free``: ``kmem_cache_free_one`` (UP, inlined)."""
        self.kmem_cache_free_one(cachep, objp)

    @kernel_function("kmem_cache_free_one", inline=True)
    def kmem_cache_free_one(self, cachep: int, objp: int) -> None:
        """``kmem_cache_free_one``: LIFO bufctl, move the slab between lists.

        Without DEBUG nothing is checked: the slab is whatever ``page->list.prev``
        of the object's page holds (``GET_PAGE_SLAB``) and the cache whatever the
        caller found, so a pointer that is no slab object makes it read and write
        through those values, in 32-bit unsigned arithmetic, as the kernel would.
        """
        k = self.k
        buddy = self.buddy
        r, w = k.r32, k.w32
        page = self.virt_to_page(objp)
        slabp = r(page + buddy.o_list + 4)  # GET_PAGE_SLAB
        o = _free_one_offsets(k.types)
        objsize = r(cachep + o["objsize"])
        if not objsize:  # x86's divl by zero: the divide error trap
            raise KernelOops("divide error: 0000")
        objnr = ((objp - r(slabp + o["s_mem"])) & MASK32) // objsize
        w((slabp + SLAB_T_SIZE + BUFCTL_SIZE * objnr) & MASK32, r(slabp + o["free"]))
        w(slabp + o["free"], objnr)
        inuse = r(slabp + o["inuse"])
        w(slabp + o["inuse"], (inuse - 1) & MASK32)
        if inuse - 1 == 0:  # was partial or full, now empty
            buddy.list_del(slabp)
            buddy.list_add(slabp, self._list(cachep, "slabs_free"))
        elif inuse == r(cachep + o["num"]):  # was full
            buddy.list_del(slabp)
            buddy.list_add(slabp, self._list(cachep, "slabs_partial"))

    # -- reaping ---------------------------------------------------------------------

    @kernel_function("kmem_cache_reap")
    def kmem_cache_reap(self, gfp_mask: int) -> int:
        """``kmem_cache_reap``: from ``clock_searchp``, at most REAP_SCANLEN caches of
        the chain looked at for the most pages in free slabs (a cache with a ctor
        or of order > 0 counts 4/5), stopping at one of REAP_PERFECT; half of its
        free slabs destroyed, the last ones first. Returns the pages freed."""
        k = self.k
        g = k.get
        clock = k.sym("clock_searchp")
        o_next = k.types.offsetof(KC, "next")
        searchp = start = k.r32(clock)
        best, best_len, best_pages = 0, 0, 0
        perfect = False
        scan = REAP_SCANLEN
        while True:
            if not g(searchp, KC, "flags") & SLAB_NO_REAP and not g(searchp, KC, "growing"):
                dflags = g(searchp, KC, "dflags")
                if dflags & DFLGS_GROWN:  # grown since the last look: leave it alone once
                    k.set(searchp, KC, "dflags", dflags & ~DFLGS_GROWN)
                else:
                    full_free = self._count(self._list(searchp, "slabs_free"))
                    pages = full_free << g(searchp, KC, "gfporder")
                    if g(searchp, KC, "ctor"):
                        pages = (pages * 4 + 1) // 5
                    if g(searchp, KC, "gfporder"):
                        pages = (pages * 4 + 1) // 5
                    if pages > best_pages:
                        best, best_len, best_pages = searchp, full_free, pages
                        if pages >= REAP_PERFECT:
                            perfect = True
                            k.w32(clock, k.r32(searchp + o_next) - o_next)
                            break
            searchp = k.r32(searchp + o_next) - o_next
            scan -= 1
            if not scan or searchp == start:
                break
        if not perfect:
            k.w32(clock, searchp)
            if not best:  # couldn't find anything to reap
                return 0
        head = self._list(best, "slabs_free")
        done = 0
        for _ in range((best_len + 1) // 2):  # free only 50% of the free slabs
            slabp = k.r32(head + 4)  # slabs_free.prev
            if slabp == head:
                break
            self.buddy.list_del(slabp)
            self.kmem_slab_destroy(best, slabp)
            done += 1
        return done << g(best, KC, "gfporder")

    def _count(self, head: int) -> int:
        n, p = 0, self.k.r32(head)
        guard = LoopGuard("kmem_cache_reap", "slabs_free", "the cache's spinlock held")
        while p != head:
            guard.visit(p)
            n += 1
            p = self.k.r32(p)
        return n

    @kernel_function("kmem_slab_destroy")
    def kmem_slab_destroy(self, cachep: int, slabp: int) -> None:
        """``kmem_slab_destroy`` (no dtor): ``kmem_freepages`` clears PG_slab on the
        slab's pages and frees them; an off-slab descriptor goes back to its cache."""
        k = self.k
        g = k.get
        addr = g(slabp, SLAB, "s_mem") - g(slabp, SLAB, "colouroff")
        order = g(cachep, KC, "gfporder")
        page = k.page_addr(k.pa(addr) // PAGE_SIZE)
        o_flags = k.types.offsetof("struct page", "flags")
        for i in range(1 << order):
            p = page + i * k.page_size
            k.w32(p + o_flags, k.r32(p + o_flags) & ~PG_slab)  # PageClearSlab
        self.buddy.free_pages(page, order)
        if g(cachep, KC, "flags") & CFLGS_OFF_SLAB:
            self.kmem_cache_free(g(cachep, KC, "slabp_cache"), slabp)

    # -- kmalloc --------------------------------------------------------------------

    @kernel_function("kmalloc")
    def kmalloc(self, size: int, flags: int = GFP_KERNEL) -> int | None:
        """``kmalloc``: the first general cache that fits; NULL above 128 KiB."""
        for csize, cache, dma in self.sizes:
            if size <= csize:
                return self.kmem_cache_alloc(dma if flags & GFP_DMA else cache, flags)
        return None

    @kernel_function("kfree")
    def kfree(self, objp: int) -> None:
        """``kfree`` (no DEBUG: CHECK_PAGE is empty): the cache is whatever
        ``virt_to_page(objp)->list.next`` holds (``GET_PAGE_CACHE``), slab page or
        not; ``__kmem_cache_free`` then trusts it."""
        if not objp:
            return
        page = self.virt_to_page(objp)
        cachep = self.k.r32(page + self.buddy.o_list)
        self.kmem_cache_free_one(cachep, objp)

    def virt_to_page(self, kaddr: int) -> int:
        """``virt_to_page``: ``mem_map + (__pa(kaddr) >> PAGE_SHIFT)``, for any address
        (one outside the direct map gives a ``struct page`` past ``mem_map``'s end)."""
        k = self.k
        pfn = ((kaddr - PAGE_OFFSET) & MASK32) >> 12
        return (k.mem_map + pfn * k.page_size) & MASK32


@functools.cache
def _offset(types: KernelTypes, typename: str, path: str) -> int:
    """``offsetof``, looked up once per build: the allocator's paths use it per call."""
    return types.offsetof(typename, path)


@functools.cache
def _free_one_offsets(types: KernelTypes) -> dict[str, int]:
    """The members ``kmem_cache_free_one`` reads and writes."""
    return {
        "objsize": types.offsetof(KC, "objsize"),
        "num": types.offsetof(KC, "num"),
        "s_mem": types.offsetof(SLAB, "s_mem"),
        "free": types.offsetof(SLAB, "free"),
        "inuse": types.offsetof(SLAB, "inuse"),
    }
