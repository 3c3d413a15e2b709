"""Every size and offset of the 2.4.20 reference tables against the simulator's type model.

The numbers below are transcribed from linux-2.4-i386-vm.md and
linux-2.4-i386-structs.md (UP build, gcc >= 2.96: 0-byte spinlock_t and
rwlock_t). They are the oracle; the type model must reproduce them.
"""

from __future__ import annotations

import pytest

from vmintro.arch.x86 import MachineConfig, paging_mode
from vmintro.sim.kernel import KernelLayout
from vmintro.types import flags as F
from vmintro.types.kernel import kernel_types
from vmintro.types.model import Struct, strip_typedefs

# (type name, {member: (offset, size)}, sizeof)
PAGE_FIELDS = {
    "list": (0, 8),
    "mapping": (8, 4),
    "index": (12, 4),
    "next_hash": (16, 4),
    "count": (20, 4),
    "flags": (24, 4),
    "lru": (28, 8),
    "pprev_hash": (36, 4),
    "buffers": (40, 4),
}

COMMON = [
    ("struct list_head", {"next": (0, 4), "prev": (4, 4)}, 8),
    ("atomic_t", {"counter": (0, 4)}, 4),
    ("spinlock_t", {}, 0),
    ("rwlock_t", {}, 0),
    (
        "struct vm_struct",
        {"flags": (0, 4), "addr": (4, 4), "size": (8, 4), "next": (12, 4)},
        16,
    ),
    ("free_area_t", {"free_list": (0, 8), "map": (8, 4)}, 12),
    (
        "zone_t",
        {
            "lock": (0, 0),
            "free_pages": (0, 4),
            "pages_min": (4, 4),
            "pages_low": (8, 4),
            "pages_high": (12, 4),
            "need_balance": (16, 4),
            "free_area": (20, 120),
            "wait_table": (140, 4),
            "wait_table_size": (144, 4),
            "wait_table_shift": (148, 4),
            "zone_pgdat": (152, 4),
            "zone_mem_map": (156, 4),
            "zone_start_paddr": (160, 4),
            "zone_start_mapnr": (164, 4),
            "name": (168, 4),
            "size": (172, 4),
        },
        176,
    ),
    ("zonelist_t", {"zones": (0, 16)}, 16),
    (
        "pg_data_t",
        {
            "node_zones": (0, 528),
            "node_zonelists": (528, 256),
            "nr_zones": (784, 4),
            "node_mem_map": (788, 4),
            "valid_addr_bitmap": (792, 4),
            "bdata": (796, 4),
            "node_start_paddr": (800, 4),
            "node_start_mapnr": (804, 4),
            "node_size": (808, 4),
            "node_id": (812, 4),
            "node_next": (816, 4),
        },
        820,
    ),
    (
        "bootmem_data_t",
        {
            "node_boot_start": (0, 4),
            "node_low_pfn": (4, 4),
            "node_bootmem_map": (8, 4),
            "last_offset": (12, 4),
            "last_pos": (16, 4),
        },
        20,
    ),
    (
        "kmem_cache_t",
        {
            "slabs_full": (0, 8),
            "slabs_partial": (8, 8),
            "slabs_free": (16, 8),
            "objsize": (24, 4),
            "flags": (28, 4),
            "num": (32, 4),
            "spinlock": (36, 0),
            "gfporder": (36, 4),
            "gfpflags": (40, 4),
            "colour": (44, 4),
            "colour_off": (48, 4),
            "colour_next": (52, 4),
            "slabp_cache": (56, 4),
            "growing": (60, 4),
            "dflags": (64, 4),
            "ctor": (68, 4),
            "dtor": (72, 4),
            "failures": (76, 4),
            "name": (80, 20),
            "next": (100, 8),
        },
        108,
    ),
    (
        "slab_t",
        {"list": (0, 8), "colouroff": (8, 4), "s_mem": (12, 4), "inuse": (16, 4), "free": (20, 4)},
        24,
    ),
    ("kmem_bufctl_t", None, 4),
    ("cache_sizes_t", {"cs_size": (0, 4), "cs_cachep": (4, 4), "cs_dmacachep": (8, 4)}, 12),
    (
        "struct module",
        {
            "size_of_struct": (0, 4),
            "next": (4, 4),
            "name": (8, 4),
            "size": (12, 4),
            "uc": (16, 4),
            "flags": (20, 4),
            "nsyms": (24, 4),
            "ndeps": (28, 4),
            "syms": (32, 4),
            "deps": (36, 4),
            "refs": (40, 4),
            "init": (44, 4),
            "cleanup": (48, 4),
            "ex_table_start": (52, 4),
            "ex_table_end": (56, 4),
            "persist_start": (60, 4),
            "persist_end": (64, 4),
            "can_unload": (68, 4),
            "runsize": (72, 4),
            "kallsyms_start": (76, 4),
            "kallsyms_end": (80, 4),
            "archdata_start": (84, 4),
            "archdata_end": (88, 4),
            "kernel_data": (92, 4),
        },
        96,
    ),
    ("struct module_symbol", {"value": (0, 4), "name": (4, 4)}, 8),
    ("struct module_ref", {"dep": (0, 4), "ref": (4, 4), "next_ref": (8, 4)}, 12),
    (
        "struct swap_info_struct",
        {
            "flags": (0, 4),
            "swap_device": (4, 2),
            "sdev_lock": (6, 0),
            "swap_file": (8, 4),
            "swap_vfsmnt": (12, 4),
            "swap_map": (16, 4),
            "lowest_bit": (20, 4),
            "highest_bit": (24, 4),
            "cluster_next": (28, 4),
            "cluster_nr": (32, 4),
            "prio": (36, 4),
            "pages": (40, 4),
            "max": (44, 4),
            "next": (48, 4),
        },
        52,
    ),
    ("struct swap_list_t", {"head": (0, 4), "next": (4, 4)}, 8),
    (
        "struct rw_semaphore",
        {"count": (0, 4), "wait_lock": (4, 0), "wait_list": (4, 8)},
        12,
    ),
    (
        "struct mm_struct",
        {
            "mmap": (0, 4),
            "mm_rb": (4, 4),
            "mmap_cache": (8, 4),
            "pgd": (12, 4),
            "mm_users": (16, 4),
            "mm_count": (20, 4),
            "map_count": (24, 4),
            "mmap_sem": (28, 12),
            "page_table_lock": (40, 0),
            "mmlist": (40, 8),
            "start_code": (48, 4),
            "end_code": (52, 4),
            "start_data": (56, 4),
            "end_data": (60, 4),
            "start_brk": (64, 4),
            "brk": (68, 4),
            "start_stack": (72, 4),
            "arg_start": (76, 4),
            "arg_end": (80, 4),
            "env_start": (84, 4),
            "env_end": (88, 4),
            "rss": (92, 4),
            "total_vm": (96, 4),
            "locked_vm": (100, 4),
            "def_flags": (104, 4),
            "cpu_vm_mask": (108, 4),
            "swap_address": (112, 4),
            "dumpable": (116, 4),
            "context": (120, 8),
        },
        128,
    ),
    ("pgprot_t", {"pgprot": (0, 4)}, 4),
]

CONFIGS = [(False, False), (True, False), (True, True)]


def _check(kt, name, fields, size):
    t = kt[name]
    assert t.size == size, f"sizeof({name}) = {t.size}, reference says {size}"
    if fields is None:
        return
    s = strip_typedefs(t)
    assert isinstance(s, Struct)
    got = {f.name: (f.offset, f.type.size) for f in s.fields}
    assert got == fields, f"{name}: {got} != {fields}"


@pytest.mark.parametrize("highmem,pae", CONFIGS, ids=["plain", "highmem", "pae"])
@pytest.mark.parametrize("name,fields,size", COMMON, ids=[c[0] for c in COMMON])
def test_layout(highmem, pae, name, fields, size):
    _check(kernel_types(highmem, pae), name, fields, size)


def test_struct_page_without_highmem():
    _check(kernel_types(False, False), "struct page", PAGE_FIELDS, 44)


@pytest.mark.parametrize("pae", [False, True])
def test_struct_page_with_highmem(pae):
    # PAE does not change struct page; HIGHMEM adds `virtual` at 44.
    _check(kernel_types(True, pae), "struct page", {**PAGE_FIELDS, "virtual": (44, 4)}, 48)


def test_page_table_entry_types_two_level():
    kt = kernel_types(False, False)
    for name, member in (("pte_t", "pte_low"), ("pmd_t", "pmd"), ("pgd_t", "pgd")):
        _check(kt, name, {member: (0, 4)}, 4)


def test_page_table_entry_types_pae():
    kt = kernel_types(True, True)
    _check(kt, "pte_t", {"pte_low": (0, 4), "pte_high": (4, 4)}, 8)
    _check(kt, "pmd_t", {"pmd": (0, 8)}, 8)
    _check(kt, "pgd_t", {"pgd": (0, 8)}, 8)
    # long long is 4-byte aligned inside structures on i386
    assert kt["pmd_t"].align == 4 and kt["pgd_t"].align == 4


def test_nested_offsets():
    kt = kernel_types(False, False)
    assert kt.offsetof("zone_t", "free_area[9].map") == 20 + 9 * 12 + 8
    assert kt.offsetof("pg_data_t", "node_zonelists[15]") == 528 + 15 * 16
    assert kt.offsetof("pg_data_t", "node_zones[2].size") == 2 * 176 + 172
    assert kt.offsetof("struct mm_struct", "mmap_sem.wait_list") == 32
    assert kt.offsetof("struct module", "uc.usecount") == 16


@pytest.mark.parametrize("highmem,pae", CONFIGS, ids=["plain", "highmem", "pae"])
def test_global_sizes(highmem, pae):
    kt = kernel_types(highmem, pae)
    lay = KernelLayout.build(kt)
    sizes = {name: size for name, (_, size, _) in lay.symbols.items()}
    assert sizes["swap_info"] == 1664  # 32 x 52 (UP)
    assert sizes["cache_sizes"] == 168  # 14 x 12, terminated by {0, NULL, NULL}
    assert sizes["zone_table"] == 12
    assert sizes["vmlist_lock"] == 0  # rwlock_t on UP
    assert sizes["contig_page_data"] == 820
    assert sizes["cache_cache"] == 108
    assert sizes["kernel_module"] == 96
    assert sizes["init_mm"] == 128
    assert sizes["swap_list"] == 8
    assert sizes["contig_bootmem_data"] == 20
    # head.S places these at fixed offsets from _text (0xC0100000)
    assert lay.symbols["swapper_pg_dir"][0] == 0xC0101000
    assert lay.symbols["pg0"][0] == 0xC0102000
    assert lay.symbols["pg1"][0] == 0xC0103000
    assert lay.symbols["empty_zero_page"][0] == 0xC0104000
    assert lay.symbols["_stext"][0] == 0xC0105000
    assert lay.symbols["_text"][0] == 0xC0100000


def test_page_flag_bits():
    assert F.PAGE_FLAGS == {
        "PG_locked": 0,
        "PG_error": 1,
        "PG_referenced": 2,
        "PG_uptodate": 3,
        "PG_dirty": 4,
        "PG_unused": 5,
        "PG_lru": 6,
        "PG_active": 7,
        "PG_slab": 8,
        "PG_skip": 10,
        "PG_highmem": 11,
        "PG_checked": 12,
        "PG_arch_1": 13,
        "PG_reserved": 14,
        "PG_launder": 15,
    }
    assert F.ZONE_SHIFT == 24
    assert F.ZONE_NAMES == ("DMA", "Normal", "HighMem")


def test_flag_constants():
    assert (F.VM_IOREMAP, F.VM_ALLOC) == (0x1, 0x2)
    assert F.GFP == {
        "__GFP_DMA": 0x01,
        "__GFP_HIGHMEM": 0x02,
        "__GFP_WAIT": 0x10,
        "__GFP_HIGH": 0x20,
        "__GFP_IO": 0x40,
        "__GFP_HIGHIO": 0x80,
        "__GFP_FS": 0x100,
    }
    assert (F.GFP_KERNEL, F.GFP_USER, F.GFP_ZONEMASK) == (0x1F0, 0x1D0, 0x0F)
    assert F.MOD_FLAGS == {
        "MOD_RUNNING": 0x01,
        "MOD_DELETED": 0x02,
        "MOD_AUTOCLEAN": 0x04,
        "MOD_VISITED": 0x08,
        "MOD_USED_ONCE": 0x10,
        "MOD_JUST_FREED": 0x20,
        "MOD_INITIALIZING": 0x40,
    }
    assert (F.SWP_USED, F.SWP_WRITEOK, F.SWAP_MAP_BAD, F.SWAP_FLAG_PREFER) == (1, 3, 0x8000, 0x8000)
    assert F.BUFCTL_END == 0xFFFFFFFF
    assert (F.SLAB_NO_REAP, F.SLAB_HWCACHE_ALIGN, F.SLAB_CACHE_DMA) == (0x1000, 0x2000, 0x4000)
    assert (F.CFLGS_OFF_SLAB, F.CFLGS_OPTIMIZE) == (0x10000, 0x20000)


@pytest.mark.parametrize(
    "pae,geometry",
    [
        (
            False,
            dict(
                pgdir_shift=22,
                ptrs_per_pgd=1024,
                pmd_shift=22,
                ptrs_per_pmd=1,
                ptrs_per_pte=1024,
                entry_size=4,
                pmd_size=4 << 20,
            ),
        ),
        (
            True,
            dict(
                pgdir_shift=30,
                ptrs_per_pgd=4,
                pmd_shift=21,
                ptrs_per_pmd=512,
                ptrs_per_pte=512,
                entry_size=8,
                pmd_size=2 << 20,
            ),
        ),
    ],
)
@pytest.mark.parametrize("pse", [True, False])
def test_paging_geometry(pae, geometry, pse):
    g = paging_mode(pae, pse)
    assert {name: getattr(g, name) for name in geometry} == geometry
    assert g.pgd_index(0xC0000000) == (3 if pae else 768)  # USER_PTRS_PER_PGD


def test_pte_bit_values():
    from vmintro.arch import x86

    assert x86._PAGE_TABLE == 0x067
    assert x86._KERNPG_TABLE == 0x063
    assert x86.PAGE_KERNEL == 0x163  # PGE build
    assert x86.PAGE_KERNEL_NOCACHE == 0x173
    assert x86.PSE_KERNEL == 0x1E3


@pytest.mark.parametrize(
    "cfg,vmalloc_end,last_pkmap",
    [
        (MachineConfig(ram=64 << 20), 0xFFFFC000, 1024),  # UP, no APIC, PPro+, no HIGHMEM
        (MachineConfig(ram=64 << 20, highmem=True), 0xFDFFE000, 1024),
        (MachineConfig(ram=64 << 20, highmem=True, pae=True), 0xFDFFE000, 512),
    ],
)
def test_address_space_constants(cfg, vmalloc_end, last_pkmap):
    assert cfg.vmalloc_end == vmalloc_end
    assert cfg.layout.last_pkmap == last_pkmap
    if not cfg.highmem:
        assert cfg.layout.fixaddr_start == 0xFFFFE000
