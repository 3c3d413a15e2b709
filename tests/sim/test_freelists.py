"""FreeAreas: batches of order-0 allocations and frees done on arrays leave the
free lists, bitmaps and counts byte for byte where the page allocator leaves
them taking and freeing the same pages one at a time."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rawmem import machine

from vmintro.sim.freelists import FreeAreas
from vmintro.sim.kernel import KernelMemory
from vmintro.types.flags import MAX_ORDER

GFP_HIGHUSER = 0x1D2


def _lists(k: KernelMemory) -> dict[tuple[int, int], list[int]]:
    """Every non-empty zone's free lists (pfns, head first) and its bitmaps' bytes."""
    seen: dict[tuple[int, int], list[int]] = {}
    b = k.buddy
    for j, zone in enumerate(b.zones):
        size = k.get(zone, "zone_t", "size")
        if not size:
            continue
        for order in range(MAX_ORDER):
            head = b.free_list(zone, order)
            node, pfns = k.r32(head), []
            while node != head:
                pfns.append(k.page_pfn(node - b.o_list))
                node = k.r32(node)
            seen[j, order] = pfns
            if order < MAX_ORDER - 1:
                raw = k.read(k.r32(head + b.o_map), ((size - 1) >> (order + 4)) + 1)
                seen[j, order + 100] = list(raw)
        seen[j, -1] = [k.get(zone, "zone_t", "free_pages")]
    return seen


def _mem_map(k: KernelMemory) -> np.ndarray:
    raw = k.mem.read(k.pa(k.mem_map), k.config.num_physpages * k.page_size)
    return np.frombuffer(raw, dtype="<u4").reshape(k.config.num_physpages, -1).copy()


@pytest.mark.parametrize(
    "ram_mib, highmem",
    [(24, False), pytest.param(960, True, marks=pytest.mark.slow)],
)
def test_batches_end_where_page_by_page_does(ram_mib, highmem):
    fast, slow = machine(ram_mib, highmem), machine(ram_mib, highmem)
    areas = FreeAreas(fast, fast.buddy)
    zonelist = areas.zonelist(GFP_HIGHUSER)
    rng = random.Random(ram_mib)
    held: list[int] = []
    freed_all: list[int] = []
    for round_ in range(4):
        room = FreeAreas.above_low(zonelist)
        # the first round fills the first zone and spills 3000 pages into the next
        want = min(sum(room), room[0] + 3000 if not round_ else rng.randint(50, 2000))
        got = []
        for z, n in zip(zonelist, room, strict=True):
            take = min(n, want)
            if take:
                got.append(z.alloc(take, round_ << 30))
                want -= take
        pfns = np.concatenate(got).tolist()
        for pfn in pfns:  # the same pages, in the same order, from __alloc_pages
            assert slow.page_pfn(slow.buddy.alloc_pages(GFP_HIGHUSER, 0)) == pfn
        held += pfns
        rng.shuffle(held)
        gone, held = held[: len(held) * 2 // 3], held[len(held) * 2 // 3 :]
        freed = np.array(gone, dtype=np.int64)
        when = (round_ << 30) + 1 + np.arange(len(freed))
        for z, mine in areas.zone_of(freed):
            if mine.any():
                z.release(freed[mine], when[mine])
        for pfn in gone:  # as the page cache lets go of a page: list_del, then free it
            page = slow.page_addr(pfn)
            slow.w32(page + slow.buddy.o_list, 0)
            slow.w32(page + slow.buddy.o_list + 4, 0)
            slow.buddy.free_pages(page, 0)
        freed_all.extend(gone)
    pages = _mem_map(fast)
    areas.write(pages, np.array(freed_all, dtype=np.int64))
    fast.mem.write(fast.pa(fast.mem_map), pages.tobytes())
    assert _lists(fast) == _lists(slow)
    # page->list of every page: the free blocks' links, NULL where a list_del ran
    o = fast.buddy.o_list // 4
    assert (_mem_map(fast)[:, o : o + 2] == _mem_map(slow)[:, o : o + 2]).all()
