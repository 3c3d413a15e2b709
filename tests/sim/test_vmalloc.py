"""vmalloc, vfree and ioremap (vm notes sections 2, 3 and 7), read back from RAM."""

from __future__ import annotations

import pytest
from rawmem import (
    KC_NAME,
    PAGE_LIST,
    SLAB_FREE,
    SLAB_S_MEM,
    VM_ALLOC,
    VM_IOREMAP,
    VM_NEXT,
    Raw,
    check_buddy,
    check_vmlist,
    machine,
    ram_but_log,
    ram_snapshot,
)

from vmintro.sim.errors import KernelBug

START_64M = 0xC4800000


def _pte_page_of(r, vaddr):
    pmd = r.pmd(vaddr)
    assert pmd & 0xFFF == 0x067, f"pte page for {vaddr:#x} installed as {pmd:#x}"  # pmd_populate
    return r.pte_pfn(pmd)


def _check_vmalloc_area(r, addr, npages, zone_flags=(0x01000000,)):
    """PTEs = mk_pte(pfn, PAGE_KERNEL), pfn = the recorded frame, guard PTE 0."""
    frames = r.k.vmalloc.frames
    pfns = []
    for i in range(npages):
        va = addr + 4096 * i
        pte = r.pte(va)
        assert pte is not None and pte & 0xFFF == 0x163, f"PTE of {va:#x} is {pte}"
        pfn = r.pte_pfn(pte)
        assert frames[va] == pfn
        assert r.flags(pfn) in zone_flags, f"pfn {pfn:#x} flags {r.flags(pfn):#x}"
        assert r.count(pfn) == 1
        pfns.append(pfn)
        pt = _pte_page_of(r, va)
        assert r.flags(pt) >> 24 in (0, 1) and not r.flags(pt) & 0xFFFF
        assert r.count(pt) == 1
    assert r.pte(addr + 4096 * npages) in (None, 0)
    assert len(set(pfns)) == npages
    return pfns


def test_first_area():
    k = machine(64)
    r = Raw(k)
    addr = k.vmalloc.vmalloc(3 * 4096 + 1)
    assert addr == START_64M
    [(node, flags, a, size)] = check_vmlist(r)
    assert (flags, a, size) == (VM_ALLOC, addr, 5 * 4096)  # 4 pages + guard
    assert r.u32(node + VM_NEXT) == 0
    assert r.u32(r.sym("vmlist")) == node
    _check_vmalloc_area(r, addr, 4)
    # the new pte page is zero apart from the four entries
    table = r.mem.read(_pte_page_of(r, addr) << 12, 4096)
    idx = (addr >> 12) & 1023
    assert table[: 4 * idx] == bytes(4 * idx)
    assert table[4 * (idx + 4) :] == bytes(4096 - 4 * (idx + 4))
    check_buddy(r)


def test_area_across_pte_pages():
    k = machine(64)
    r = Raw(k)
    k.vmalloc.vmalloc(0x3FE000)  # [START, START + 4M - 8K) plus guard: fills slot 786
    addr = k.vmalloc.vmalloc(5 * 4096)
    assert addr == START_64M + 0x3FF000
    assert (addr >> 22) != ((addr + 4 * 4096) >> 22)
    _check_vmalloc_area(r, addr, 5)
    assert _pte_page_of(r, addr) != _pte_page_of(r, addr + 4 * 4096)
    check_vmlist(r)
    check_buddy(r)


def test_pae_area():
    k = machine(48, pae=True)
    r = Raw(k)
    addr = k.vmalloc.vmalloc(8192)
    assert addr == 0xC3800000
    pmd = r.mem.read_u64(0x1000 + 8 * ((addr >> 21) & 511))  # the kernel pmd page, pfn 1
    assert pmd & 0xFFF == 0x067 and pmd >> 32 == 0
    for i in range(2):
        pte = r.mem.read_u64(((pmd >> 12) << 12) + 8 * (((addr >> 12) + i) & 511))
        assert pte >> 32 == 0  # pte_high
        assert pte == (k.vmalloc.frames[addr + 4096 * i] << 12) | 0x163
    _check_vmalloc_area(r, addr, 2)
    check_buddy(r)


def test_first_fit_and_sorted_vmlist():
    k = machine(64)
    r = Raw(k)
    vm = k.vmalloc
    a, b, c = (vm.vmalloc(8192) for _ in range(3))
    assert (a, b, c) == (START_64M, START_64M + 0x3000, START_64M + 0x6000)
    assert vm.vfree(b)
    assert [x[2] for x in check_vmlist(r)] == [a, c]
    d = vm.vmalloc(4096)  # 0x2000 fits the 0x3000 hole
    assert d == b
    e = vm.vmalloc(4096)  # the rest of the hole (0x1000) is too small
    assert e == c + 0x3000
    assert [x[2] for x in check_vmlist(r)] == [a, d, c, e]
    assert vm.vfree(d)
    f = vm.vmalloc(8192)  # exact fit: addr + size == next->addr
    assert f == b
    assert [x[2] for x in check_vmlist(r)] == [a, f, c, e]
    check_buddy(r)


def test_vfree_unmaps_and_frees():
    k = machine(64)
    r = Raw(k)
    addr = k.vmalloc.vmalloc(5 * 4096)
    [(node, *_)] = r.vmlist()
    pfns = _check_vmalloc_area(r, addr, 5)
    pgd_before = r.pmd(addr)
    slab = node & ~0xFFF
    objnr = (node - r.u32(slab + SLAB_S_MEM)) // 32
    assert k.vmalloc.vfree(addr) is True
    assert r.u32(r.sym("vmlist")) == 0
    assert all(r.pte(addr + 4096 * i) == 0 for i in range(6))
    assert r.pmd(addr) == pgd_before  # pte pages are never freed
    free = check_buddy(r)
    for pfn in pfns:
        assert pfn in free and r.count(pfn) == 0
    assert r.u32(slab + SLAB_FREE) == objnr  # kfree'd back to size-32
    assert not any(addr <= va < addr + 6 * 4096 for va in k.vmalloc.frames)


@pytest.mark.parametrize(
    "offset,message",
    [
        (4096, "Trying to vfree() nonexistent vm area ({:08x})"),
        (0x10000, "Trying to vfree() nonexistent vm area ({:08x})"),
        (1, "Trying to vfree() bad address ({:08x})"),
    ],
)
def test_vfree_of_no_area_changes_nothing(offset, message):
    k = machine(64)
    addr = k.vmalloc.vmalloc(4 * 4096)
    before = ram_but_log(k)
    frames = dict(k.vmalloc.frames)
    assert k.vmalloc.vfree(addr + offset) is False
    assert k.log[-1] == message.format(addr + offset)
    assert ram_but_log(k) == before
    assert k.vmalloc.frames == frames


def test_vfree_null_is_silent():
    k = machine(32)
    before, log = ram_snapshot(k), list(k.log)
    k.vmalloc.vfree(0)
    assert ram_snapshot(k) == before and k.log == log


@pytest.mark.parametrize("size", [0, (16384 + 1) * 4096, 16384 * 4096 + 1])
def test_vmalloc_bug_changes_nothing(size):
    k = machine(64)
    before = ram_snapshot(k)
    with pytest.raises(KernelBug):
        k.vmalloc.vmalloc(size)
    assert ram_snapshot(k) == before


def test_vmalloc_space_exhausted():
    k = machine(960, highmem=True)
    r = Raw(k)
    vm = k.vmalloc
    end = 0xFDFFE000
    # one ioremap of device memory fills VMALLOC_START..VMALLOC_END - 3 pages (guard incl.)
    io = vm.ioremap(0xE0000000, end - 0x3000 - 0xF8800000)
    assert io == 0xF8800000
    last = vm.vmalloc(4096)
    assert last == end - 0x2000  # the last page and its guard end exactly at VMALLOC_END
    before = ram_snapshot(k)
    assert vm.vmalloc(4096) is None
    assert vm.ioremap(0xE8000000, 4096) is None
    assert ram_snapshot(k) == before  # the descriptor was kmalloc'ed and kfree'd again
    assert [x[2] for x in check_vmlist(r)] == [io, last]


def test_highmem_pages_first():
    k = machine(960, highmem=True)
    r = Raw(k)
    addr = k.vmalloc.vmalloc(4 * 4096)
    pfns = _check_vmalloc_area(r, addr, 4, zone_flags=(0x02000800,))
    # the lowest HighMem order-9 block headed the list (freed top-down) and /sbin/init's
    # argument page took its top page: the rest of it, split from the top
    assert pfns == [0x381FE, 0x381FD, 0x381FC, 0x381FB]
    assert r.flags(_pte_page_of(r, addr)) >> 24 == 1  # pte page: GFP_KERNEL, lowmem
    check_buddy(r)


def test_vmalloc_32_and_dma_zones():
    k = machine(960, highmem=True)
    r = Raw(k)
    a = k.vmalloc.vmalloc_32(6 * 4096)
    _check_vmalloc_area(r, a, 6, zone_flags=(0x01000000, 0))
    b = k.vmalloc.vmalloc_dma(6 * 4096)
    pfns = _check_vmalloc_area(r, b, 6, zone_flags=(0,))
    assert all(p < 4096 for p in pfns)
    check_vmlist(r)
    check_buddy(r)


# -- ioremap ----------------------------------------------------------------------------------


@pytest.mark.parametrize("nocache,prot", [(False, 0x063), (True, 0x073)])
def test_ioremap_ptes(nocache, prot):
    k = machine(64)
    r = Raw(k)
    fn = k.vmalloc.ioremap_nocache if nocache else k.vmalloc.ioremap
    addr = fn(0xE0000000, 1 << 20)
    assert addr == START_64M
    [(node, flags, a, size)] = check_vmlist(r)
    assert (flags, a, size) == (VM_IOREMAP, addr, (1 << 20) + 4096)
    for i in range(256):
        assert r.pte(addr + 4096 * i) == ((0xE0000 + i) << 12) | prot  # no _PAGE_GLOBAL
    assert r.pte(addr + (1 << 20)) == 0
    _pte_page_of(r, addr)
    assert not k.vmalloc.frames
    check_buddy(r)


def test_ioremap_keeps_offset():
    k = machine(64)
    r = Raw(k)
    addr = k.vmalloc.ioremap(0xE0000010, 0x100)
    assert addr == START_64M + 0x10
    assert r.vmlist()[0][3] == 0x2000
    assert r.pte(START_64M) == 0xE0000063
    assert r.translate(addr) == 0xE0000010


def test_ioremap_aligns_last_addr():
    """2.4.20 __ioremap: size = PAGE_ALIGN(last_addr) - phys, so 0x1001 bytes map one page."""
    k = machine(64)
    r = Raw(k)
    addr = k.vmalloc.ioremap(0xE0000000, 0x1001)
    assert r.vmlist()[0][3] == 0x2000
    assert r.pte(addr) == 0xE0000063 and r.pte(addr + 4096) == 0


def test_ioremap_of_free_ram_fails():
    k = machine(64)
    before = ram_snapshot(k)
    assert k.vmalloc.ioremap(0x02000000, 4096) is None
    # the last page of the kernel image is reserved, the bootmem bitmap page after it is not
    image_end = k.layout.end - 0xC0000000
    assert k.vmalloc.ioremap(image_end - 0x1000, 0x2000) is None
    assert ram_snapshot(k) == before


def test_ioremap_reserved_ram_and_iounmap():
    k = machine(64)
    r = Raw(k)
    flags_before = [(r.flags(p), r.count(p)) for p in (0x100, 0x101)]
    addr = k.vmalloc.ioremap(0x00100000, 0x2000)  # the kernel image: PG_reserved
    assert [r.pte(addr), r.pte(addr + 4096)] == [0x00100063, 0x00101063]
    free_before = check_buddy(r)
    k.vmalloc.iounmap(addr)
    assert r.pte(addr) == 0 and r.pte(addr + 4096) == 0
    assert r.u32(r.sym("vmlist")) == 0
    # vfree skips PG_reserved pages: the image is not handed to the buddy allocator
    assert [(r.flags(p), r.count(p)) for p in (0x100, 0x101)] == flags_before
    assert check_buddy(r) == free_before


def test_iounmap_device_memory_with_offset():
    k = machine(64)
    r = Raw(k)
    addr = k.vmalloc.ioremap(0xE0000800, 0x3000)
    free_before = check_buddy(r)
    node = r.vmlist()[0][0]
    k.vmalloc.iounmap(addr)
    assert r.vmlist() == []
    assert all(r.pte((addr & ~0xFFF) + 4096 * i) == 0 for i in range(5))
    assert check_buddy(r) == free_before  # pfns >= max_mapnr are never freed
    slab = node & ~0xFFF
    assert r.u32(slab + SLAB_FREE) == (node - r.u32(slab + SLAB_S_MEM)) // 32


def test_ioremap_isa_hole_and_zero_size():
    k = machine(64)
    before = ram_snapshot(k)
    assert k.vmalloc.ioremap(0xA0000, 0x20000) == 0xC00A0000
    assert k.vmalloc.ioremap(0xE0000000, 0) is None
    assert ram_snapshot(k) == before


def test_descriptors_come_from_size_32():
    k = machine(64)
    r = Raw(k)
    k.vmalloc.vmalloc(4096)
    k.vmalloc.ioremap(0xE0000000, 4096)
    for node, *_ in r.vmlist():
        page = r.page(r.lowmem_pfn(node))
        assert r.cstr(r.u32(page + PAGE_LIST) + KC_NAME, 20) == "size-32"


def test_allocation_order_within_vmalloc():
    """vm notes 3.4: the vm_struct (growing size-32), then the pte page, then the data
    pages, each split from the top of one fresh order-9 block."""
    k = machine(64)
    r = Raw(k)
    normal = r.zone(1)
    for order in range(9):  # leave only order-9 blocks in ZONE_NORMAL
        while r.free_list(normal, order):
            k.buddy.alloc_pages(0x1F0, order)
    block = r.free_list(normal, 9)[0]
    addr = k.vmalloc.vmalloc(3 * 4096)
    node = r.vmlist()[0][0]
    assert r.lowmem_pfn(node) == block + 511
    assert _pte_page_of(r, addr) == block + 510
    assert [k.vmalloc.frames[addr + 4096 * i] for i in range(3)] == [
        block + 509,
        block + 508,
        block + 507,
    ]
    check_buddy(r)


def test_empty_vmlist_has_no_end_check():
    """vm notes 3.3: with vmlist empty the loop never runs, so the first area may run
    past VMALLOC_END (here into the pkmap page table); the next request then fails."""
    k = machine(960, highmem=True)
    r = Raw(k)
    size = 100 << 20
    addr = k.vmalloc.ioremap(0xE0000000, size)
    assert addr == 0xF8800000 and addr + size > 0xFDFFE000
    assert r.pte(0xFE000000) == (0xE0000000 + 0xFE000000 - addr) | 0x063
    assert r.pmd(0xFE000000) == 0x2063  # the boot-time pkmap pte page was reused
    assert k.vmalloc.vmalloc(4096) is None
