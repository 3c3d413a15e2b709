"""The page allocator's free lists and buddy bitmaps as arrays, for work that
allocates and frees hundreds of thousands of single pages.

:class:`FreeAreas` reads every zone's free lists from RAM and applies batches of
order-0 allocations and frees with whole-array operations, reaching the state
``rmqueue``/``expand`` and ``__free_pages_ok`` reach page by page
(:class:`vmintro.sim.buddy.Buddy`), then writes it back at once: the lists
threaded through ``page->list``, the bitmaps and each zone's ``free_pages``.

Why batches can be computed whole:

* order-0 allocations with nothing freed in between take the lowest non-empty
  list's head each time, and ``expand`` puts a split block's lower halves on the
  lower lists and returns its last page, so a block is eaten from its top page
  down, the lists in order of size, each from its head;
* after frees, which blocks are free does not depend on the order of the frees
  (the buddy system merges whenever both halves are free), only their places on
  the lists do: each block was added at the head of its list when its last
  page was freed, so a list is ordered by that moment, newest first; blocks no
  free touched keep their places behind them;
* a buddy bitmap bit is set exactly when one block of its pair is on the list.
"""

from __future__ import annotations

import numpy as np

from vmintro.sim.buddy import Buddy
from vmintro.sim.kernel import KernelMemory
from vmintro.types.flags import MAX_ORDER, ZONE_NAMES

__all__ = ["FreeAreas", "ZoneFree"]

TOP = MAX_ORDER - 1


class ZoneFree:
    """One zone's free blocks: start (zone-relative page index), order and the
    moment each was put on its list (larger: nearer the head)."""

    def __init__(self, j: int, zone: int, base: int, size: int, low: int) -> None:
        self.j, self.zone, self.base, self.size, self.low = j, zone, base, size, low
        self.start = np.zeros(0, dtype=np.int64)
        self.order = np.zeros(0, dtype=np.int64)
        self.stamp = np.zeros(0, dtype=np.int64)
        self.free = np.zeros(size, dtype=bool)
        # pages a list_del ran on (zone-relative), batch by batch: every block's
        # head as it leaves its list, and the lower halves expand put on a list
        self.unlinked: list[np.ndarray] = []

    @property
    def name(self) -> str:
        return ZONE_NAMES[self.j]

    @property
    def nr_free(self) -> int:
        return int(self.free.sum())

    def list_order(self) -> np.ndarray:
        """Indexes of the blocks as ``rmqueue`` would take them: smallest order
        first, each list from its head."""
        return np.lexsort((-self.stamp, self.order))

    def alloc(self, count: int, now: int) -> np.ndarray:
        """``count`` order-0 allocations in a row: the pfns in the order given."""
        order = self.list_order()
        sizes = np.left_shift(1, self.order[order])
        cum = np.cumsum(sizes)
        whole = int(np.searchsorted(cum, count, side="right"))
        taken = order[:whole]
        rest = count - (int(cum[whole - 1]) if whole else 0)
        tops = self.start[taken] + sizes[:whole] - 1
        lengths = sizes[:whole]
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        pages = np.repeat(tops, lengths) - (np.arange(int(lengths.sum())) - starts)
        # list_del ran on each block's head as rmqueue took it, and on the lower
        # halves expand put on the lists: the even pages of a block of order 1 and up
        single = np.repeat(self.order[taken] == 0, lengths)
        keep = np.ones(len(self.start), dtype=bool)
        keep[taken] = False
        new_start, new_order = [], []
        if rest:
            b = order[whole]
            keep[b] = False
            first, k = int(self.start[b]), int(self.order[b])
            top = first + (1 << k) - 1
            pages = np.concatenate((pages, top - np.arange(rest)))
            single = np.concatenate((single, np.zeros(rest, dtype=bool)))
            left, pos = (1 << k) - rest, first
            for bit in range(k - 1, -1, -1):  # the lower halves expand left behind
                if left >> bit & 1:
                    new_start.append(pos)
                    new_order.append(bit)
                    pos += 1 << bit
        self.start = np.concatenate((self.start[keep], np.array(new_start, dtype=np.int64)))
        self.order = np.concatenate((self.order[keep], np.array(new_order, dtype=np.int64)))
        self.stamp = np.concatenate((self.stamp[keep], np.full(len(new_start), now, np.int64)))
        self.free[pages] = False
        self.unlinked.append(pages[(pages % 2 == 0) | single])
        return pages + self.base

    def release(self, pfns: np.ndarray, when: np.ndarray) -> None:
        """Free ``pfns`` (order 0), page ``pfns[i]`` at moment ``when[i]``."""
        idx = pfns - self.base
        self.free[idx] = True
        start, order = _decompose(self.free)
        moment = np.full(self.size, -1, dtype=np.int64)
        moment[idx] = when
        by_start = np.argsort(start)
        start, order = start[by_start], order[by_start]
        latest = np.maximum.reduceat(moment, start) if len(start) else start
        stamp = latest.copy()
        old = latest < 0  # no page of it freed now: a block that was there before
        if old.any():
            keys = self.start * MAX_ORDER + self.order
            sort = np.argsort(keys)
            want = start[old] * MAX_ORDER + order[old]
            at = np.searchsorted(keys[sort], want)
            stamp[old] = self.stamp[sort[at]]
        self.unlinked.append(self.start)  # those merged away have been list_del'ed
        self.start, self.order, self.stamp = start, order, stamp

    def counts(self) -> list[int]:
        return [int(n) for n in np.bincount(self.order, minlength=MAX_ORDER)]


def _decompose(free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The free blocks of a zone whose free pages are ``free``: every aligned run of
    ``1 << order`` free pages whose buddy is not free as a whole."""
    unit = 1 << TOP
    padded = np.zeros((len(free) + unit - 1) // unit * unit, dtype=bool)
    padded[: len(free)] = free
    full = [padded]
    for _ in range(TOP):
        full.append(full[-1][0::2] & full[-1][1::2])
    starts, orders = [], []
    for o in range(MAX_ORDER):
        here = full[o] if o == TOP else full[o] & ~np.repeat(full[o + 1], 2)
        s = np.flatnonzero(here) << o
        starts.append(s)
        orders.append(np.full(len(s), o, dtype=np.int64))
    return np.concatenate(starts), np.concatenate(orders)


class FreeAreas:
    """The free blocks of every zone of ``buddy`` as RAM holds them now."""

    def __init__(self, k: KernelMemory, buddy: Buddy) -> None:
        self.k, self.buddy = k, buddy
        psize = k.page_size
        self.zones: dict[int, ZoneFree] = {}
        self.heads: set[int] = set()  # pfns that head a free block now
        # each page's list.next, to walk the lists without a read of RAM per step
        words = k.page_size // 4
        raw = k.mem.read(k.pa(k.mem_map), k.config.num_physpages * k.page_size)
        link = np.frombuffer(raw, dtype="<u4")[buddy.o_list // 4 :: words].tolist()
        first_node = k.mem_map + buddy.o_list
        for j, zone in enumerate(buddy.zones):
            size = k.get(zone, "zone_t", "size")
            if not size:
                continue
            base = k.get(zone, "zone_t", "zone_start_mapnr")
            z = ZoneFree(j, zone, base, size, k.get(zone, "zone_t", "pages_low"))
            zone_map = k.get(zone, "zone_t", "zone_mem_map")
            starts, orders, stamps = [], [], []
            for order in range(MAX_ORDER):
                head = buddy.free_list(zone, order)
                node, n = k.r32(head), 0
                while node != head and n <= size:
                    idx = (node - buddy.o_list - zone_map) // psize
                    starts.append(idx)
                    orders.append(order)
                    stamps.append(-1 - n)  # older than anything done from now on
                    z.free[idx : idx + (1 << order)] = True
                    self.heads.add(base + idx)
                    node, n = link[(node - first_node) // psize], n + 1
            z.start = np.array(starts, dtype=np.int64)
            z.order = np.array(orders, dtype=np.int64)
            z.stamp = np.array(stamps, dtype=np.int64)
            self.zones[j] = z

    def zonelist(self, gfp_mask: int) -> list[ZoneFree]:
        """The zones ``gfp_mask``'s zonelist tries, in order."""
        by_addr = {z.zone: z for z in self.zones.values()}
        return [by_addr[zone] for zone in self.buddy.zonelist(gfp_mask)]

    @staticmethod
    def above_low(zonelist: list[ZoneFree]) -> list[int]:
        """How many order-0 allocations in a row ``__alloc_pages``' first pass gives
        from each zone before every one is at its watermark: a zone serves while
        its free pages are above ``pages_low`` of it and the zones before it, + 1."""
        need, counts = 1, []
        for z in zonelist:
            need += z.low
            counts.append(max(0, z.nr_free - need))
        return counts

    def zone_of(self, pfns: np.ndarray) -> list[tuple[ZoneFree, np.ndarray]]:
        """``pfns`` split by zone: (zone, the mask of those in it)."""
        return [(z, (pfns >= z.base) & (pfns < z.base + z.size)) for z in self.zones.values()]

    def write(self, pages: np.ndarray, touched: np.ndarray) -> None:
        """The state into RAM: list heads, bitmaps and ``free_pages`` directly,
        ``page->list`` into ``pages`` (``mem_map`` as 32-bit words per page, which
        the caller writes back): the free blocks' links, and NULL (``list_del``)
        on every page taken off a free list on the way and on ``touched``."""
        k, buddy, psize, mem_map = self.k, self.buddy, self.k.page_size, self.k.mem_map
        col = buddy.o_list // 4
        old_heads = np.fromiter(self.heads, dtype=np.int64, count=len(self.heads))
        unlinked = [z.base + rows for z in self.zones.values() for rows in z.unlinked]
        for rows in (old_heads, touched, *unlinked):
            pages[rows, col] = 0
            pages[rows, col + 1] = 0
        for z in self.zones.values():
            for order in range(MAX_ORDER):
                head = buddy.free_list(z.zone, order)
                mine = z.order == order
                pfns = z.start[mine][np.argsort(-z.stamp[mine], kind="stable")] + z.base
                addrs = mem_map + pfns * psize + buddy.o_list
                chain = np.concatenate(([head], addrs, [head])).astype(np.int64)
                pages[pfns, col] = chain[2:]
                pages[pfns, col + 1] = chain[:-2]
                k.w32(head, int(chain[1]))
                k.w32(head + 4, int(chain[-2]))
                if order < TOP:
                    bits = np.zeros((z.size >> (order + 1)) + 1, dtype=bool)
                    bits[z.start[mine] >> (order + 1)] = True
                    packed = np.packbits(bits, bitorder="little").tobytes()
                    k.write(k.r32(head + buddy.o_map), packed[: ((z.size - 1) >> (order + 4)) + 1])
            k.set(z.zone, "zone_t", "free_pages", z.nr_free)
