"""The buddy allocator's invariants and allocation order, read back from RAM."""

from __future__ import annotations

import pytest
from rawmem import (
    MAX_ORDER,
    PAGE_FLAGS,
    PAGE_LIST,
    PG_DIRTY,
    PG_REFERENCED,
    Z_FREE_PAGES,
    Raw,
    check_buddy,
    machine,
)

GFP_KERNEL = 0x1F0


@pytest.mark.parametrize(
    "args",
    [
        dict(ram_mib=16),
        dict(ram_mib=64),
        dict(ram_mib=40, pse=False),
        dict(ram_mib=48, pae=True),
        dict(ram_mib=960, highmem=True),
    ],
    ids=["16M", "64M", "40M-nopse", "48M-pae", "960M-highmem"],
)
def test_invariants_after_boot(args):
    r = Raw(machine(**args))
    free = check_buddy(r)
    assert len(free) == sum(r.u32(r.zone(j) + Z_FREE_PAGES) for j in range(3))


def test_invariants_after_traffic():
    k = machine(64)
    r = Raw(k)
    pages = []
    for order in (0, 3, 0, 1, 9, 2, 0, 5, 0):
        pages.append((k.buddy.alloc_pages(GFP_KERNEL, order), order))
        check_buddy(r)
    for page, order in pages[::2] + pages[1::2]:
        k.buddy.free_pages(page, order)
        check_buddy(r)


def _drain_lower_orders(k, r, zone, top):
    """Allocate every free block of order < top in zone, taking each list's head."""
    taken = []
    for order in range(top):
        while r.free_list(zone, order):
            head = r.free_list(zone, order)[0]
            page = k.buddy.alloc_pages(GFP_KERNEL, order)
            assert r.pfn_of_page(page) == head  # rmqueue takes free_list.next
            taken.append((page, order))
    return taken


def test_split_returns_highest_page_descending():
    k = machine(64)
    r = Raw(k)
    normal = r.zone(1)
    _drain_lower_orders(k, r, normal, MAX_ORDER - 1)
    block = r.free_list(normal, 9)[0]
    got = [r.pfn_of_page(k.buddy.alloc_pages(GFP_KERNEL, 0)) for _ in range(12)]
    assert got == [block + 511 - i for i in range(12)]
    # the lower halves went onto the free lists, one per order
    assert r.free_list(normal, 8) == [block]
    check_buddy(r)


def test_lifo_free_list():
    k = machine(64)
    r = Raw(k)
    normal = r.zone(1)
    _drain_lower_orders(k, r, normal, MAX_ORDER - 1)
    pages = [k.buddy.alloc_pages(GFP_KERNEL, 0) for _ in range(8)]
    pfns = [r.pfn_of_page(p) for p in pages]
    # free two pages whose buddies stay allocated: each goes to the head of order 0
    a, b = pages[0], pages[2]
    k.buddy.free_pages(a)
    k.buddy.free_pages(b)
    assert r.free_list(normal, 0)[:2] == [pfns[2], pfns[0]]
    assert k.buddy.alloc_pages(GFP_KERNEL, 0) == b
    assert k.buddy.alloc_pages(GFP_KERNEL, 0) == a
    check_buddy(r)


def test_list_del_nulls_and_count():
    k = machine(64)
    r = Raw(k)
    normal = r.zone(1)
    head = r.free_list(normal, 9)[0]
    page = k.buddy.alloc_pages(GFP_KERNEL, 9)
    assert r.pfn_of_page(page) == head
    assert r.u32(page + PAGE_LIST) == 0 and r.u32(page + PAGE_LIST + 4) == 0
    assert r.count(head) == 1
    assert all(r.count(head + i) == 0 for i in range(1, 512))


def test_free_clears_referenced_and_dirty():
    k = machine(64)
    r = Raw(k)
    page = k.buddy.alloc_pages(GFP_KERNEL, 0)
    pfn = r.pfn_of_page(page)
    flags = r.flags(pfn)
    k.mem.write_u32(r.pa(page + PAGE_FLAGS), flags | PG_REFERENCED | PG_DIRTY)
    k.buddy.free_pages(page)
    assert r.flags(pfn) == flags
    check_buddy(r)


def test_zone_choice_follows_zonelist():
    """GFP_KERNEL takes ZONE_NORMAL; GFP_DMA only ZONE_DMA; HIGHMEM masks start at HighMem."""
    k = machine(960, highmem=True)
    r = Raw(k)
    assert r.flags(r.pfn_of_page(k.buddy.alloc_pages(GFP_KERNEL, 0))) >> 24 == 1
    assert r.flags(r.pfn_of_page(k.buddy.alloc_pages(GFP_KERNEL | 0x01, 0))) >> 24 == 0
    assert r.flags(r.pfn_of_page(k.buddy.alloc_pages(GFP_KERNEL | 0x02, 0))) >> 24 == 2
    assert r.flags(r.pfn_of_page(k.buddy.alloc_pages(GFP_KERNEL | 0x03, 0))) >> 24 == 0
    check_buddy(r)


def test_watermark_spills_to_next_zone():
    """A zone is used in the first pass only while free_pages > 1 + sum(pages_low)."""
    k = machine(16)  # only ZONE_DMA
    r = Raw(k)
    dma = r.zone(0)
    low, mn = r.u32(dma + 8), r.u32(dma + 4)
    while r.u32(dma + Z_FREE_PAGES) > 1 + low:
        assert k.buddy.alloc_pages(GFP_KERNEL, 0) is not None
    # second pass: pages_min (GFP_KERNEL may sleep, so not min/4)
    while r.u32(dma + Z_FREE_PAGES) > 1 + mn:
        assert k.buddy.alloc_pages(GFP_KERNEL, 0) is not None
    # neither pass takes the next page (test_oom.py follows it into reclaim)
    assert r.u32(dma + Z_FREE_PAGES) == 1 + mn
    assert r.u32(dma + 16) == 1  # need_balance set on the class zone
    check_buddy(r)
