"""The state boot leaves in RAM, checked against the 2.4.20 reference values."""

from __future__ import annotations

import pytest
from rawmem import (
    FA_MAP,
    MAX_ORDER,
    PAGE_COUNT,
    PAGE_FLAGS,
    PAGE_LIST,
    PAGE_VIRTUAL,
    PGDAT_BDATA,
    PGDAT_MEM_MAP,
    PGDAT_NEXT,
    PGDAT_NODE_ID,
    PGDAT_NR_ZONES,
    PGDAT_SIZE,
    PGDAT_START_MAPNR,
    PGDAT_START_PADDR,
    PGDAT_ZONELISTS,
    SWAPPER_PG_DIR_PHYS,
    VM_SIZE,
    Z_FREE_PAGES,
    Z_MEM_MAP,
    Z_NAME,
    Z_NEED_BALANCE,
    Z_PAGES_HIGH,
    Z_PAGES_LOW,
    Z_PAGES_MIN,
    Z_PGDAT,
    Z_SIZE,
    Z_START_MAPNR,
    Z_START_PADDR,
    Z_WAIT_TABLE,
    Z_WAIT_TABLE_SHIFT,
    Z_WAIT_TABLE_SIZE,
    Raw,
    check_buddy,
    machine,
)

EZP_PHYS = 0x00104000  # __pa(empty_zero_page)


@pytest.fixture(scope="module")
def r64():
    return Raw(machine(64))


@pytest.fixture(scope="module")
def rhm():
    """960 MiB with HIGHMEM: 896 MiB lowmem, 64 MiB HighMem."""
    return Raw(machine(960, highmem=True))


@pytest.fixture(scope="module")
def rhm64():
    """A HIGHMEM kernel on 64 MiB: 48-byte pages, pkmap, but an empty HighMem zone."""
    return Raw(machine(64, highmem=True))


@pytest.fixture(scope="module")
def rpae():
    return Raw(machine(48, pae=True))


# -- mem_map and address-space limits ------------------------------------------------


@pytest.mark.parametrize("highmem,expected", [(False, 0xC100001C), (True, 0xC1000020)])
def test_mem_map_lands_at_16mib(highmem, expected):
    r = Raw(machine(64, highmem=highmem))
    assert r.u32(r.sym("mem_map")) == expected
    assert r.u32(r.sym("contig_page_data") + PGDAT_MEM_MAP) == expected
    # every struct page's list points at itself until the page is first freed
    assert r.u32(expected + PAGE_LIST) == expected
    assert r.u32(expected + PAGE_LIST + 4) == expected


VMALLOC_START_TABLE = [
    (32 << 20, False, 0xC2800000),
    (64 << 20, False, 0xC4800000),
    (128 << 20, False, 0xC8800000),
    (0x07FF0000, False, 0xC8800000),  # e820 stopping at 0x07FF0000
    (256 << 20, False, 0xD0800000),
    (512 << 20, False, 0xE0800000),
    (960 << 20, False, 0xF8800000),  # >= 896 MiB without HIGHMEM: only 896 MiB used
    (960 << 20, True, 0xF8800000),
]


@pytest.mark.parametrize(
    "ram,highmem,start",
    VMALLOC_START_TABLE,
    ids=[f"{r >> 20}M-hm{h:d}" for r, h, _ in VMALLOC_START_TABLE],
)
def test_vmalloc_start(ram, highmem, start):
    k = machine(0, highmem=highmem, ram=ram)
    r = Raw(k)
    lowmem = min(ram, 896 << 20)
    high_memory = r.u32(r.sym("high_memory"))
    assert high_memory == 0xC0000000 + lowmem
    assert (high_memory + (16 << 20) - 1) & ~((8 << 20) - 1) == start
    assert r.u32(r.sym("max_low_pfn")) == lowmem >> 12
    assert r.u32(r.sym("max_pfn")) == ram >> 12
    addr = k.vmalloc.vmalloc(4096)
    assert addr == start
    assert r.vmlist()[0][2] == start


@pytest.mark.parametrize("highmem,end", [(False, 0xFFFFC000), (True, 0xFDFFE000)])
def test_vmalloc_end(highmem, end):
    """get_vm_area stops exactly at VMALLOC_END: an area may end there, not beyond it."""
    k = machine(32, highmem=highmem)
    r = Raw(k)
    first = k.vmalloc.vmalloc(4096)
    node = r.vmlist()[0][0]
    # Stretch the first area (in RAM) so that its end leaves room for exactly one
    # more 1-page area plus guard below VMALLOC_END.
    k.mem.write_u32(r.pa(node + VM_SIZE), end - 2 * 4096 - first)
    assert k.vmalloc.vmalloc(4096) == end - 2 * 4096
    k.mem.write_u32(r.pa(node + VM_SIZE), end - 2 * 4096 - first + 4096)
    k.vmalloc.vfree(end - 2 * 4096)
    assert k.vmalloc.vmalloc(4096) is None


# -- swapper_pg_dir ------------------------------------------------------------------------


def test_swapper_pg_dir_pse(r64):
    for i in range(768):
        assert r64.pgd(i) == 0, f"identity slot {i} not zapped"
    for i in range(16):  # 64 MiB of lowmem in 4 MiB PSE pages, global
        assert r64.pgd(768 + i) == (i << 22) | 0x1E3
    for i in range(784, 1023):
        assert r64.pgd(i) == 0
    # fixmap: one pte page from the lowest free low page (pfn 1), _KERNPG_TABLE
    assert r64.pgd(1023) == 0x1000 | 0x063
    assert r64.mem.read(0x1000, 4096) == bytes(4096)


def test_head_s_boot_tables(r64):
    for i in range(1024):
        assert r64.mem.read_u32(0x102000 + 4 * i) == (i << 12) | 0x007
        assert r64.mem.read_u32(0x103000 + 4 * i) == ((1024 + i) << 12) | 0x007


def test_pse_page_not_trimmed():
    r = Raw(machine(0, ram=0x07FF0000))
    assert [r.pgd(768 + i) for i in range(33)] == [(i << 22) | 0x1E3 for i in range(32)] + [0]


def test_swapper_pg_dir_no_pse():
    r = Raw(machine(32, pse=False))
    for i in range(768):
        assert r.pgd(i) == 0
    for i in range(8):
        # pte pages from the lowest free low pfns: 1, 2, ... (below 640 KiB)
        assert r.pgd(768 + i) == ((1 + i) << 12) | 0x063
        table = r.mem.read((1 + i) << 12, 4096)
        entries = [int.from_bytes(table[4 * n : 4 * n + 4], "little") for n in range(1024)]
        assert entries == [((i * 1024 + n) << 12) | 0x163 for n in range(1024)]
    assert r.pgd(1023) == (9 << 12) | 0x063


def test_swapper_pg_dir_pae(rpae):
    r = rpae
    for i in range(3):
        assert r.pgd(i) == EZP_PHYS + 1
    assert r.pgd(3) == 0x1000 | 0x001  # the kernel pmd page, pfn 1, present bit only
    pmd = [r.mem.read_u64(0x1000 + 8 * j) for j in range(512)]
    assert pmd[:24] == [(j << 21) | 0x1E3 for j in range(24)]  # 48 MiB in 2 MiB pages
    assert pmd[511] == 0x2000 | 0x063  # fixmap pte page first
    assert pmd[496] == 0x3000 | 0x063  # then pkmap (0xFE000000)
    assert all(v == 0 for j, v in enumerate(pmd) if j >= 24 and j not in (496, 511))
    assert r.u32(r.sym("pkmap_page_table")) == 0xC0003000


def test_swapper_pg_dir_pae_keeps_head_s_words(rpae):
    """head.S fills swapper_pg_dir as a 2-level table (BOOT_USER_PGD_PTRS uses
    TWOLEVEL_PGDIR_SHIFT 22 even with PAE); PAE setup only rewrites the first 32 bytes,
    so the words at 768/769 survive."""
    assert rpae.mem.read_u32(SWAPPER_PG_DIR_PHYS + 768 * 4) == 0x00102007
    assert rpae.mem.read_u32(SWAPPER_PG_DIR_PHYS + 769 * 4) == 0x00103007
    assert rpae.mem.read(SWAPPER_PG_DIR_PHYS + 32, 768 * 4 - 32) == bytes(768 * 4 - 32)


def test_swapper_pg_dir_pae_no_pse():
    r = Raw(machine(32, pae=True, pse=False))
    assert r.pgd(3) == 0x1001
    for j in range(16):
        assert r.mem.read_u64(0x1000 + 8 * j) == ((2 + j) << 12) | 0x063
        assert [r.mem.read_u64(((2 + j) << 12) + 8 * n) for n in range(512)] == [
            ((j * 512 + n) << 12) | 0x163 for n in range(512)
        ]
    assert r.mem.read_u64(0x1000 + 8 * 511) == (18 << 12) | 0x063
    assert r.mem.read_u64(0x1000 + 8 * 496) == (19 << 12) | 0x063


def test_swapper_pg_dir_highmem_pkmap(rhm64):
    r = rhm64
    assert r.pgd(1023) == 0x1063  # fixmap (FIX_KMAP slots and BTMAP in the last 4 MiB)
    assert r.pgd(1016) == 0x2063  # pkmap: PKMAP_BASE 0xFE000000
    assert r.u32(r.sym("pkmap_page_table")) == 0xC0002000
    assert r.pte(0xFE000000) == 0
    assert [r.pgd(i) for i in range(784, 1023) if i != 1016] == [0] * 238


def test_init_mm_pgd(r64):
    mm = r64.sym("init_mm")
    assert r64.u32(mm + 12) == 0xC0101000
    # mm_users 2 (INIT_MM); mm_count INIT_MM's 1 and sched_init's for the idle thread
    assert r64.u32(mm + 16) == 2 and r64.u32(mm + 20) == 2
    assert r64.u32(mm + 32) == mm + 32 and r64.u32(mm + 36) == mm + 32  # mmap_sem.wait_list
    # mmlist: init's mm (its exec of /sbin/init put it there) and back
    init_mmlist = r64.u32(mm + 40)
    assert init_mmlist != mm + 40 and r64.u32(init_mmlist) == mm + 40
    assert r64.raw(mm, 12) == bytes(12)
    assert r64.raw(mm + 48, 128 - 48) == bytes(80)


# -- zones --------------------------------------------------------------------------------

ZONES_64M = [
    # name, size, min/low/high, start pfn, wait table size, shift
    ("DMA", 4096, (32, 64, 96), 0, 16, 28),
    ("Normal", 12288, (96, 192, 288), 4096, 64, 26),
    ("HighMem", 0, None, None, None, None),
]
ZONES_960M_HM = [
    ("DMA", 4096, (32, 64, 96), 0, 16, 28),
    ("Normal", 225280, (255, 510, 765), 4096, 1024, 22),
    ("HighMem", 16384, (128, 256, 384), 0x38000, 64, 26),
]


@pytest.mark.parametrize("which,table", [("r64", ZONES_64M), ("rhm", ZONES_960M_HM)])
def test_zones(which, table, request):
    r = request.getfixturevalue(which)
    pgdat = r.sym("contig_page_data")
    for j, (name, size, marks, start, wts, shift) in enumerate(table):
        z = r.zone(j)
        assert r.u32(r.sym("zone_table") + 4 * j) == z
        assert r.cstr(r.u32(z + Z_NAME)) == name
        assert r.u32(z + Z_SIZE) == size
        assert r.u32(z + Z_PGDAT) == pgdat
        assert r.u32(z + Z_NEED_BALANCE) == 0
        if not size:
            assert r.u32(z + Z_FREE_PAGES) == 0
            assert r.raw(z + Z_PAGES_MIN, 12) == bytes(12)
            assert r.u32(z + Z_WAIT_TABLE) == 0 and r.u32(z + Z_MEM_MAP) == 0
            continue
        assert (r.u32(z + Z_PAGES_MIN), r.u32(z + Z_PAGES_LOW), r.u32(z + Z_PAGES_HIGH)) == marks
        assert r.u32(z + Z_START_MAPNR) == start
        assert r.u32(z + Z_START_PADDR) == start << 12
        assert r.u32(z + Z_MEM_MAP) == r.mem_map + start * r.page_sizeof
        assert r.u32(z + Z_WAIT_TABLE_SIZE) == wts
        assert r.u32(z + Z_WAIT_TABLE_SHIFT) == shift
        wt = r.u32(z + Z_WAIT_TABLE)
        for i in range(wts):  # each wait_queue_head_t (8 bytes UP) is an empty list
            assert r.u32(wt + 8 * i) == wt + 8 * i
        for order in range(MAX_ORDER - 1):
            assert r.u32(r.free_area_head(z, order) + FA_MAP) != 0
        assert r.u32(r.free_area_head(z, MAX_ORDER - 1) + FA_MAP) == 0
    nr = sum(1 for t in table if t[1])
    assert r.u32(pgdat + PGDAT_NR_ZONES) == nr
    assert r.u32(pgdat + PGDAT_SIZE) == sum(t[1] for t in table)
    assert r.u32(pgdat + PGDAT_START_PADDR) == 0
    assert r.u32(pgdat + PGDAT_START_MAPNR) == 0
    assert r.u32(pgdat + PGDAT_NODE_ID) == 0
    assert r.u32(pgdat + PGDAT_NEXT) == 0
    assert r.u32(r.sym("pgdat_list")) == pgdat
    assert r.u32(pgdat + PGDAT_BDATA) == r.sym("contig_bootmem_data")


@pytest.mark.parametrize("which", ["r64", "rhm", "rpae"])
def test_zonelists(which, request):
    r = request.getfixturevalue(which)
    sizes = [r.u32(r.zone(j) + Z_SIZE) for j in range(3)]
    for i in range(16):
        first = 0 if i & 1 else 2 if i & 2 else 1  # DMA wins over HIGHMEM
        expected = [r.zone(j) for j in range(first, -1, -1) if sizes[j]]
        zl = r.sym("contig_page_data") + PGDAT_ZONELISTS + 16 * i
        got = [r.u32(zl + 4 * n) for n in range(4)]
        assert got == expected + [0] * (4 - len(expected)), f"node_zonelists[{i}]"


# -- page flags -----------------------------------------------------------------------------


def test_reserved_page_flags(r64):
    k = r64.k
    image_end = (k.layout.end - 0xC0000000) >> 12
    init = range(*((k.sym(s) - 0xC0000000) >> 12 for s in ("__init_begin", "__init_end")))
    assert len(init) == 30
    for pfn in [0, *range(0x9F, 0x100), *range(0x100, image_end)]:
        if pfn not in init:
            assert (r64.flags(pfn), r64.count(pfn)) == (0x4000, 0), f"pfn {pfn:#x}"
    for pfn in init:  # free_initmem gave them to the page allocator
        assert (r64.flags(pfn) & 0x4000, r64.count(pfn)) == (0, 0), f"pfn {pfn:#x}"
    # mem_map itself (at 16 MiB, ZONE_NORMAL) stays reserved
    for pfn in range(0x1000, 0x1000 + (16385 * 44 + 4095) // 4096):
        assert (r64.flags(pfn), r64.count(pfn)) == (0x01004000, 0)


def test_free_page_flags(r64):
    free = check_buddy(r64)
    assert free
    for pfn in free:
        assert r64.flags(pfn) == (0x01000000 if pfn >= 4096 else 0)


def test_free_highmem_page_flags(rhm):
    free = check_buddy(rhm)
    high = [p for p in free if p >= 0x38000]
    # every HighMem page is RAM and free after boot but one: the page of /sbin/init's
    # arguments (copy_strings' alloc_page(GFP_HIGHUSER))
    assert len(high) == 16383
    for pfn in high[::97] + [high[-1]]:
        assert rhm.flags(pfn) == 0x02000800
        assert rhm.u32(rhm.page(pfn) + PAGE_VIRTUAL) == 0
    for pfn in (0, 0x1000, 0x37FFF):
        assert rhm.u32(rhm.page(pfn) + PAGE_VIRTUAL) == 0xC0000000 + (pfn << 12)
    assert rhm.u32(rhm.sym("highmem_start_page")) == rhm.page(0x38000)
    assert rhm.u32(rhm.sym("highstart_pfn")) == 0x38000
    assert rhm.u32(rhm.sym("highend_pfn")) == 0x3C000
    assert rhm.u32(rhm.sym("max_mapnr")) == 0x3C000
    assert rhm.u32(rhm.sym("num_physpages")) == 0x3C000


def test_highmem_freed_top_down(rhm):
    """mem_init frees HighMem from highend_pfn-1 down to highstart_pfn, so the
    last order-9 block completed - the lowest - headed the HighMem free list, until
    /sbin/init's argument page (GFP_HIGHUSER) split it: its top page 0x381FF."""
    assert rhm.free_list(rhm.zone(2), 9)[:3] == [0x38200, 0x38400, 0x38600]
    assert rhm.count(0x381FF) == 1
    halves = [[0x38200 - (2 << o)] for o in range(9)]  # expand's lower halves
    assert [rhm.free_list(rhm.zone(2), o)[:1] for o in range(9)] == halves


def test_slab_page_flags(r64):
    slab_pfns = [p for p in range(16384) if r64.flags(p) & 0x100]
    assert slab_pfns
    for pfn in slab_pfns:
        assert r64.flags(pfn) in (0x100, 0x01000100)
        assert r64.count(pfn) == 1


def test_limits_and_globals(r64):
    r = r64
    k = r.k
    start_pfn = (k.layout.end - 0xC0000000 + 4095) >> 12
    assert r.u32(r.sym("min_low_pfn")) == start_pfn
    assert r.u32(r.sym("max_mapnr")) == 16384 == r.u32(r.sym("num_physpages"))
    assert r.u32(r.sym("vmlist")) == 0
    assert r.raw(r.sym("empty_zero_page"), 4096) == bytes(4096)
    sl = r.sym("swap_list")
    assert (r.s32(sl), r.s32(sl + 4)) == (-1, -1)
    assert r.u32(r.sym("nr_swapfiles")) == 0
    km = r.sym("kernel_module")
    assert r.u32(r.sym("module_list")) == km
    assert r.u32(km) == 96
    assert r.u32(km + 4) == 0
    assert r.cstr(r.u32(km + 8)) == ""
    assert (r.u32(km + 12), r.u32(km + 16), r.u32(km + 20)) == (0, 1, 1)


def test_bootmem_data_after_boot(r64):
    r = r64
    bd = r.sym("contig_bootmem_data")
    assert r.u32(bd) == 0  # node_boot_start
    assert r.u32(bd + 4) == 16384  # node_low_pfn
    # free_all_bootmem_core sets node_bootmem_map = NULL once the bitmap is freed
    assert r.u32(bd + 8) == 0
    # the bitmap page itself (at start_pfn) went to the buddy allocator
    start_pfn = r.u32(r.sym("min_low_pfn"))
    assert r.count(start_pfn) == 0 and not r.flags(start_pfn) & 0x4000


def test_free_page_struct_fields(r64):
    """Free pages: count 0 and no PG_reserved; block heads are linked by page->list."""
    z = r64.zone(1)
    for order in range(MAX_ORDER):
        for pfn in r64.free_list(z, order)[:4]:
            page = r64.page(pfn)
            assert r64.u32(page + PAGE_COUNT) == 0
            assert r64.u32(page + PAGE_FLAGS) == 0x01000000


def test_bootmem_bitmap_agrees_with_reserved_pages(r64):
    """The freed bitmap page keeps its last contents: bit set exactly for the pages that
    stayed PG_reserved, plus its own page (still marked, but freed after the scan)
    and the __init pages (part of the image, which free_initmem freed later)."""
    r = r64
    start_pfn = r.u32(r.sym("min_low_pfn"))
    bitmap = r.mem.read(start_pfn << 12, 16384 // 8)
    assert r.mem.read((start_pfn << 12) + 2048, 2048) == bytes(2048)
    init = range(*((r.sym(s) - 0xC0000000) >> 12 for s in ("__init_begin", "__init_end")))
    for pfn in range(16384):
        bit = bitmap[pfn >> 3] >> (pfn & 7) & 1
        expected = pfn == start_pfn or pfn in init or bool(r.flags(pfn) & 0x4000)
        assert bit == expected, f"pfn {pfn:#x}"
    # page 0, the fixmap pte page (pfn 1), the holes and the image are reserved
    assert bitmap[0] & 0x3 == 0x3
