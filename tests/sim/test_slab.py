"""The slab allocator in RAM: cache_cache, the general caches, size-32 pages (UP, L1 = 32)."""

from __future__ import annotations

import numpy as np
import pytest
from rawmem import (
    BUFCTL_END,
    KC_COLOUR,
    KC_COLOUR_NEXT,
    KC_COLOUR_OFF,
    KC_CTOR,
    KC_DFLAGS,
    KC_DTOR,
    KC_FAILURES,
    KC_FLAGS,
    KC_FREE,
    KC_FULL,
    KC_GFPFLAGS,
    KC_GFPORDER,
    KC_GROWING,
    KC_NAME,
    KC_NEXT,
    KC_NUM,
    KC_OBJSIZE,
    KC_PARTIAL,
    KC_SLABP_CACHE,
    PAGE_COUNT,
    PAGE_LIST,
    PAGE_MAPPING,
    SLAB_COLOUROFF,
    SLAB_FREE,
    SLAB_INUSE,
    SLAB_S_MEM,
    Raw,
    check_buddy,
    machine,
    ram_snapshot,
)

SIZES = [32 << i for i in range(13)]
# size: (objsize, num, gfporder, on-slab management bytes or None when off-slab, colour,
#        slabp_cache name)
GEOMETRY = {
    32: (32, 113, 0, 480, 0, None),
    64: (64, 59, 0, 288, 1, None),
    128: (128, 30, 0, 160, 3, None),
    256: (256, 15, 0, 96, 5, None),
    512: (512, 8, 0, None, 0, "size-64"),
    1024: (1024, 4, 0, None, 0, "size-64"),
    2048: (2048, 2, 0, None, 0, "size-32"),
    4096: (4096, 1, 0, None, 0, "size-32"),
    8192: (8192, 1, 1, None, 0, "size-32"),
    16384: (16384, 1, 2, None, 0, "size-32"),
    32768: (32768, 1, 3, None, 0, "size-32"),
    65536: (65536, 1, 4, None, 0, "size-32"),
    131072: (131072, 1, 5, None, 0, "size-32"),
}


@pytest.fixture(scope="module")
def r64():
    return Raw(machine(64))


def _cache_cache_page(r):
    """cache_cache's first slab (36 descriptors: the general caches' 26, then
    proc_caches_init's 5, then vfs_caches_init's first 5), full: the last 4 VFS
    caches' descriptors are in a second slab."""
    cc = r.sym("cache_cache")
    full, partial = r.list_nodes(cc + KC_FULL), r.list_nodes(cc + KC_PARTIAL)
    assert len(full) == 1 and len(partial) == 1 and r.list_nodes(cc + KC_FREE) == []
    return full[0]  # colour offset 0: the slab_t is at the page start


# vfs_caches_init's caches in the order 2.4.20 creates them (no CONFIG_QUOTA: no dquot)
VFS_CACHES = [
    "buffer_head",
    "names_cache",
    "filp",
    "dentry_cache",
    "inode_cache",
    "mnt_cache",
    "bdev_cache",
    "cdev_cache",
    "kiobuf",
]


def test_vfs_cache_geometry(r64):
    """Each cache's object size: sizeof as 2.4.20's UP i386 build lays the structure
    out, rounded up to L1_CACHE_BYTES (32) by SLAB_HWCACHE_ALIGN."""
    sizes = {
        "buffer_head": 96,  # 92
        "names_cache": 4096,  # PATH_MAX
        "filp": 128,  # 104
        "dentry_cache": 128,  # 108
        "inode_cache": 448,  # 448
        "mnt_cache": 64,  # 60
        "bdev_cache": 64,  # 52
        "cdev_cache": 64,  # 36
        "kiobuf": 64,  # 52
    }
    for name, objsize in sizes.items():
        assert r64.u32(r64.cache_by_name(name) + KC_OBJSIZE) == objsize, name


def test_cache_cache(r64):
    r = r64
    cc = r.sym("cache_cache")
    assert r.u32(cc + KC_OBJSIZE) == 108  # sizeof(kmem_cache_t), not cache-line rounded
    assert r.u32(cc + KC_FLAGS) == 0x1000  # SLAB_NO_REAP
    assert r.u32(cc + KC_NUM) == 36
    assert r.u32(cc + KC_GFPORDER) == 0 and r.u32(cc + KC_GFPFLAGS) == 0
    assert r.u32(cc + KC_COLOUR) == 0 and r.u32(cc + KC_COLOUR_OFF) == 32
    assert r.u32(cc + KC_COLOUR_NEXT) == 0
    assert r.raw(cc + KC_NAME, 20) == b"kmem_cache".ljust(20, b"\0")
    assert r.u32(cc + KC_DFLAGS) == 1  # DFLGS_GROWN: it grew, for the descriptors
    assert r.u32(cc + KC_GROWING) == 0 and r.u32(cc + KC_FAILURES) == 0
    page = _cache_cache_page(r)
    assert page % 4096 == 0
    # on-slab management: 24 + 4 * 36 = 168, L1-aligned to 192
    assert r.u32(page + SLAB_COLOUROFF) == 192
    assert r.u32(page + SLAB_S_MEM) == page + 192
    # a descriptor for each cache on the chain: the general caches, their DMA twins
    # and the caches start_kernel creates after them (vfs_caches_init...)
    caches = len(r.list_nodes(cc + KC_NEXT))
    assert caches == 26 + 5 + len(VFS_CACHES) > 36
    assert r.u32(page + SLAB_INUSE) == 36
    assert r.u32(page + SLAB_FREE) == BUFCTL_END  # full
    # the rest in the second slab, taken in order
    second = r.list_nodes(cc + KC_PARTIAL)[0]
    assert r.u32(second + SLAB_INUSE) == r.u32(second + SLAB_FREE) == caches - 36
    bufctl = [r.u32(page + 24 + 4 * i) for i in range(36)]
    assert bufctl == list(range(1, 36)) + [BUFCTL_END]
    pfn = r.lowmem_pfn(page)
    assert r.u32(r.page(pfn) + PAGE_LIST) == cc
    assert r.u32(r.page(pfn) + PAGE_LIST + 4) == page
    assert r.flags(pfn) == 0x01000100 and r.count(pfn) == 1


def test_general_cache_descriptors_in_creation_order(r64):
    r = r64
    page = _cache_cache_page(r)
    cs = r.sym("cache_sizes")
    for i, size in enumerate(SIZES):
        plain = page + 192 + 108 * (2 * i)
        dma = plain + 108
        assert r.u32(cs + 12 * i) == size
        assert r.u32(cs + 12 * i + 4) == plain
        assert r.u32(cs + 12 * i + 8) == dma
        assert r.raw(plain + KC_NAME, 20) == f"size-{size}".encode().ljust(20, b"\0")
        assert r.raw(dma + KC_NAME, 20) == f"size-{size}(DMA)".encode().ljust(20, b"\0")
    assert r.raw(cs + 12 * 13, 12) == bytes(12)
    # structs notes 4.3: size-32 at page + 0xC0, size-32(DMA) at page + 0x12C
    assert r.u32(cs + 4) == page + 0xC0 and r.u32(cs + 8) == page + 0x12C


def test_cache_chain_newest_first(r64):
    r = r64
    cc = r.sym("cache_cache")
    names = [r.cstr(n - KC_NEXT + KC_NAME, 20) for n in r.list_nodes(cc + KC_NEXT)]
    expected = []
    for size in reversed(SIZES):
        expected += [f"size-{size}(DMA)", f"size-{size}"]
    assert names[-len(expected) :] == expected
    assert names[: len(VFS_CACHES)] == VFS_CACHES[::-1]  # the newest, created last
    # before them proc_caches_init's (fork_init's and pgtable_cache_init's own none
    # without PAE)
    proc = ["signal_act", "files_cache", "fs_cache", "vm_area_struct", "mm_struct"]
    assert names[len(VFS_CACHES) : len(VFS_CACHES) + len(proc)] == proc[::-1]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dma", [False, True])
def test_general_cache_geometry(r64, size, dma):
    r = r64
    c = r.cache_by_name(f"size-{size}" + ("(DMA)" if dma else ""))
    objsize, num, order, mgmt, colour, slabp = GEOMETRY[size]
    flags = (0x22000 if mgmt else 0x12000) | (0x4000 if dma else 0)
    assert r.u32(c + KC_OBJSIZE) == objsize
    assert r.u32(c + KC_NUM) == num
    assert r.u32(c + KC_GFPORDER) == order
    assert r.u32(c + KC_FLAGS) == flags
    assert r.u32(c + KC_GFPFLAGS) == (1 if dma else 0)
    assert r.u32(c + KC_COLOUR) == colour
    assert r.u32(c + KC_COLOUR_OFF) == 32
    assert r.u32(c + KC_COLOUR_NEXT) == 0
    sc = r.u32(c + KC_SLABP_CACHE)
    assert (r.cstr(sc + KC_NAME, 20) if sc else None) == slabp
    for off in (KC_GROWING, KC_CTOR, KC_DTOR, KC_FAILURES):
        assert r.u32(c + off) == 0
    # boot's one kmalloc is mount_root's super_block (484 bytes): one slab of
    # size-512, whose off-slab slab_t is an object of size-64
    grown = size in (64, 512) and not dma
    assert r.u32(c + KC_DFLAGS) == (1 if grown else 0)  # DFLGS_GROWN
    assert len(r.list_nodes(c + KC_PARTIAL)) == (1 if grown else 0)
    for lst in (KC_FULL, KC_FREE):
        assert r.list_nodes(c + lst) == []
    if mgmt:
        # on-slab: num objects plus management fill the page up to the leftover colours
        assert num * objsize + mgmt + colour * 32 <= 4096 < num * objsize + mgmt + (colour + 1) * 32


def test_first_vm_struct_slab_page():
    """structs notes 4.6: a freshly grown size-32 page after the first kmalloc(16)."""
    k = machine(64)
    r = Raw(k)
    c = r.cache_by_name("size-32")
    k.vmalloc.vmalloc(4096)
    node = r.vmlist()[0][0]
    page = node & ~0xFFF
    assert node == page + 0x1E0
    assert r.u32(page + 0) == c + 8 and r.u32(page + 4) == c + 8  # on slabs_partial
    assert r.list_nodes(c + KC_PARTIAL) == [page]
    assert r.u32(page + SLAB_COLOUROFF) == 0x1E0
    assert r.u32(page + SLAB_S_MEM) == page + 0x1E0
    assert r.u32(page + SLAB_INUSE) == 1
    assert r.u32(page + SLAB_FREE) == 1
    bufctl = [r.u32(page + 0x18 + 4 * i) for i in range(113)]
    assert bufctl == list(range(1, 113)) + [BUFCTL_END]
    assert r.u32(page + 0x1D8) == BUFCTL_END
    assert r.u32(c + KC_DFLAGS) == 1  # DFLGS_GROWN
    pfn = r.lowmem_pfn(page)
    pg = r.page(pfn)
    assert r.u32(pg + PAGE_LIST) == c
    assert r.u32(pg + PAGE_LIST + 4) == page
    assert r.flags(pfn) == 0x01000100
    assert r.u32(pg + PAGE_COUNT) == 1
    assert r.u32(pg + PAGE_MAPPING) == 0
    # the next descriptors take the following 32-byte slots
    k.vmalloc.vmalloc(4096)
    k.vmalloc.vmalloc(4096)
    assert sorted(n for n, *_ in r.vmlist()) == [page + 0x1E0, page + 0x200, page + 0x220]


def test_kfree_is_lifo():
    k = machine(64)
    r = Raw(k)
    objs = [k.slab.kmalloc(16) for _ in range(3)]
    page = objs[0] & ~0xFFF
    assert objs == [page + 0x1E0, page + 0x200, page + 0x220]
    k.slab.kfree(objs[1])
    assert r.u32(page + SLAB_FREE) == 1
    assert r.u32(page + 0x18 + 4 * 1) == 3  # bufctl[1] = the old free index
    assert r.u32(page + SLAB_INUSE) == 2
    assert k.slab.kmalloc(16) == objs[1]


def test_full_slab_moves_and_grows():
    k = machine(64)
    r = Raw(k)
    c = r.cache_by_name("size-32")
    objs = [k.slab.kmalloc(32) for _ in range(113)]
    page = objs[0] & ~0xFFF
    assert {o & ~0xFFF for o in objs} == {page}
    assert r.list_nodes(c + KC_FULL) == [page] and r.list_nodes(c + KC_PARTIAL) == []
    assert r.u32(page + SLAB_FREE) == BUFCTL_END
    extra = k.slab.kmalloc(1)
    page2 = extra & ~0xFFF
    assert page2 != page and extra == page2 + 0x1E0
    assert r.list_nodes(c + KC_PARTIAL) == [page2]
    k.slab.kfree(objs[50])  # was full: to the head of slabs_partial
    assert r.list_nodes(c + KC_PARTIAL) == [page, page2]
    assert r.list_nodes(c + KC_FULL) == []
    assert k.slab.kmalloc(8) == objs[50]
    k.slab.kfree(extra)  # inuse 0: to slabs_free; the page is not given back
    assert r.list_nodes(c + KC_FREE) == [page2]
    assert r.flags(r.lowmem_pfn(page2)) & 0x100
    check_buddy(r)


@pytest.mark.parametrize(
    "n,cache",
    [
        (0, "size-32"),
        (32, "size-32"),
        (33, "size-64"),
        (4096, "size-4096"),
        (4097, "size-8192"),
        (131072, "size-131072"),
    ],
)
def test_kmalloc_routing(n, cache):
    k = machine(64)
    r = Raw(k)
    obj = k.slab.kmalloc(n)
    pfn = r.lowmem_pfn(obj)
    assert r.cstr(r.u32(r.page(pfn) + PAGE_LIST) + KC_NAME, 20) == cache
    order = GEOMETRY[int(cache[5:])][2]
    for i in range(1 << order):  # every page of the slab points back; only the head counts
        assert r.u32(r.page(pfn + i) + PAGE_LIST) == r.cache_by_name(cache)
        assert r.flags(pfn + i) & 0x100
        assert r.count(pfn + i) == (1 if i == 0 else 0)
    check_buddy(r)


def test_kmalloc_too_big():
    k = machine(32)
    before = k.mem.stored_pfns()
    assert k.slab.kmalloc(131073) is None
    assert k.mem.stored_pfns() == before


def test_off_slab_management():
    k = machine(64)
    r = Raw(k)
    obj = k.slab.kmalloc(512)
    page = obj & ~0xFFF
    # colour offset 0, no on-slab management: mount_root's super_block (super_blocks'
    # only entry, s_list first) is the slab's first object, this the second
    assert r.u32(r.sym("super_blocks")) == page and obj == page + 512
    slab = r.u32(r.page(r.lowmem_pfn(page)) + PAGE_LIST + 4)
    assert r.cstr(r.u32(r.page(r.lowmem_pfn(slab)) + PAGE_LIST) + KC_NAME, 20) == "size-64"
    assert r.u32(slab + SLAB_COLOUROFF) == 0
    assert r.u32(slab + SLAB_S_MEM) == page
    assert r.u32(slab + SLAB_INUSE) == 2
    assert [r.u32(slab + 24 + 4 * i) for i in range(8)] == list(range(1, 8)) + [BUFCTL_END]


def test_kmalloc_dma():
    k = machine(64)
    r = Raw(k)
    obj = k.slab.kmalloc(16, 0x1F1)
    pfn = r.lowmem_pfn(obj)
    assert pfn < 4096
    assert r.flags(pfn) == 0x100  # ZONE_DMA, PG_slab
    assert r.u32(r.page(pfn) + PAGE_LIST) == r.cache_by_name("size-32(DMA)")


def test_slab_colouring_cycles():
    """size-128 has colour 3 (offsets 0, 32, 64): each new slab's slab_t moves one step."""
    k = machine(64)
    r = Raw(k)
    c = r.cache_by_name("size-128")
    slabs = []
    for _ in range(4):
        objs = [k.slab.kmalloc(128) for _ in range(30)]  # one full slab each
        page = objs[0] & ~0xFFF
        assert {o & ~0xFFF for o in objs} == {page}
        slab = r.u32(r.page(r.lowmem_pfn(page)) + PAGE_LIST + 4)
        slabs.append(slab - page)
        assert r.u32(slab + SLAB_S_MEM) == objs[0] == slab + 160
        assert r.u32(slab + SLAB_COLOUROFF) == slab - page + 160
    assert slabs == [0, 32, 64, 0]
    assert r.u32(c + KC_COLOUR_NEXT) == 1
    assert len(r.list_nodes(c + KC_FULL)) == 4


@pytest.mark.parametrize("caches", [("size-128", "size-1024"), ("size-64",)])
def test_alloc_calls_are_the_calls_one_by_one(caches):
    """kmem_cache_alloc_calls, which grows a run of slabs at a time, leaves RAM and
    gives objects exactly as kmem_cache_alloc called for each in turn does: caches
    taking turns (on-slab size-128, off-slab size-1024), slabs left partial, and a
    cache whose partial slab is used first."""
    one, many = machine(64), machine(64)
    r = Raw(one)
    order = [r.cache_by_name(caches[i % len(caches)]) for i in range(301)]
    got_one = [one.slab.kmem_cache_alloc(c, 0x1F0) for c in order]
    got_many = many.slab.kmem_cache_alloc_calls(np.array(order), 0x1F0)
    assert got_many is not None and got_many.tolist() == got_one
    assert ram_snapshot(many) == ram_snapshot(one)
