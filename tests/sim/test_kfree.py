"""kfree of a pointer that is no slab object, as a 2.4.20 kfree without DEBUG runs it
(mm/slab.c: CHECK_PAGE is empty; GET_PAGE_CACHE and GET_PAGE_SLAB read page->list).
The fault kind built on it, and what check finds after it: test_check.py."""

from __future__ import annotations

import pytest
from rawmem import Raw, machine, ram_snapshot

from vmintro.sim.errors import KernelOops, PageFault


def test_kernel_image_pointer_is_written_through_then_oopses():
    """The kernel image's page->list points at itself (free_area_init_core's
    INIT_LIST_HEAD): the struct page is taken for the cache and for the slab. Its
    flags (PG_reserved) are the objsize, its count gets slabp->free's new value, the
    bufctl write lands objnr words further, and list_add follows its NULL mapping."""
    k = machine(16)
    r = Raw(k)
    page = k.mem_map + 0x100 * k.page_size
    flags = r.u32(page + 24)
    objnr = 0xC0100000 // flags  # (objp - s_mem (index 0)) / objsize
    target = page + 24 + 4 * objnr
    with pytest.raises(PageFault, match="NULL pointer dereference at virtual address 00000004"):
        k.slab.kfree(0xC0100000)
    assert r.u32(page + 20) == objnr  # slabp->free = objnr: page->count
    assert r.u32(page + 16) == 0xFFFFFFFF  # --slabp->inuse: page->next_hash
    assert r.u32(target) == 0  # slab_bufctl(slabp)[objnr] = the old slabp->free (count 0)
    assert (r.u32(page), r.u32(page + 4)) == (0, 0)  # list_del before the faulting list_add


def test_free_page_on_a_dma_only_machine_divides_by_zero():
    """page->list.next of a free DMA page is the next free block's page: its flags
    (zone 0) are read as the cache's objsize, and divl traps."""
    k = machine(16)
    r = Raw(k)
    # four pages from the top of one block; the first and third freed come back as
    # order-0 blocks (their buddies stay taken), the third linked to the first
    first, _, addr, _ = [k.buddy.get_free_pages(0x1F0, 0) for _ in range(4)]
    k.buddy.free_page_vaddr(first)
    k.buddy.free_page_vaddr(addr)
    before = ram_snapshot(k)
    with pytest.raises(KernelOops, match="divide error: 0000"):
        k.slab.kfree(addr)
    assert ram_snapshot(k) == before
    assert r.flags((addr - 0xC0000000) >> 12) >> 24 == 0  # ZONE_DMA
