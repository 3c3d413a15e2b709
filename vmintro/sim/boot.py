"""Booting the simulated kernel: ``setup_arch`` through ``kmem_cache_sizes_init``."""

from __future__ import annotations

from vmintro.arch.x86 import EMPTY_ZERO_PAGE, KERNEL_PHYS, PAGE_OFFSET, PAGE_SIZE, MachineConfig
from vmintro.sim.bootmem import Bootmem
from vmintro.sim.buddy import boot_free_sequence, free_area_init, free_boot_pages_bulk
from vmintro.sim.kernel import Kernel
from vmintro.sim.paging import KernelPageTables
from vmintro.sim.slab import Slab
from vmintro.sim.vmalloc import Vmalloc
from vmintro.types.flags import MOD_FLAGS

__all__ = ["boot"]


def boot(config: MachineConfig) -> Kernel:
    """A kernel as it stands after ``start_kernel`` has set up the memory manager."""
    k = Kernel(config)
    pt = KernelPageTables(k)
    pt.head_s()
    _static_data(k)
    bm = setup_memory(k)
    k.bootmem = bm
    pkmap = pt.pagetable_init()  # paging_init
    k.buddy = free_area_init(k)  # zone_sizes_init
    k.slab = Slab(k)  # kmem_cache_init
    mem_init(k, pt)
    k.slab.kmem_cache_sizes_init()
    k.vmalloc = Vmalloc(k)
    if pkmap is not None:
        k.w32(k.sym("pkmap_page_table"), pkmap)
    return k


def _static_data(k: Kernel) -> None:
    """Initialisers of .data: ``init_mm``, ``kernel_module``, ``module_list``, ``swap_list``."""
    mm = k.sym("init_mm")
    k.set_many(mm, "struct mm_struct", pgd=k.sym("swapper_pg_dir"))
    k.set(mm, "struct mm_struct", "mm_users.counter", 2)
    k.set(mm, "struct mm_struct", "mm_count.counter", 1)
    for head in ("mmap_sem.wait_list", "mmlist"):
        a = mm + k.types.offsetof("struct mm_struct", head)
        k.w32(a, a)
        k.w32(a + 4, a)
    km = k.sym("kernel_module")
    k.set_many(
        km,
        "struct module",
        size_of_struct=k.types.sizeof("struct module"),
        name=k.rodata_string(""),
        flags=MOD_FLAGS["MOD_RUNNING"],
    )
    k.set(km, "struct module", "uc.usecount.counter", 1)
    k.w32(k.sym("module_list"), km)
    k.set_many(k.sym("swap_list"), "struct swap_list_t", head=0xFFFFFFFF, next=0xFFFFFFFF)


def setup_memory(k: Kernel) -> Bootmem:
    """``setup_memory``: pfn limits, bootmem bitmap after ``_end``, RAM freed, image reserved."""
    cfg = k.config
    start_pfn = (k.layout.end - PAGE_OFFSET + PAGE_SIZE - 1) // PAGE_SIZE
    for name, value in (
        ("max_pfn", cfg.max_pfn),
        ("max_low_pfn", cfg.max_low_pfn),
        ("min_low_pfn", start_pfn),
    ):
        k.w32(k.sym(name), value)
    if cfg.highmem:
        k.w32(k.sym("highstart_pfn"), cfg.highstart_pfn)
        k.w32(k.sym("highend_pfn"), cfg.highend_pfn)
    bm = Bootmem(k, start_pfn, cfg.max_low_pfn)
    for start, end, kind in cfg.e820:  # register_bootmem_low_pages
        if kind != "usable":
            continue
        first = (start + PAGE_SIZE - 1) // PAGE_SIZE
        last = min(end // PAGE_SIZE, cfg.max_low_pfn)
        if last > first:
            bm.free_bootmem(first * PAGE_SIZE, (last - first) * PAGE_SIZE)
    bootmap_end = start_pfn * PAGE_SIZE + bm.mapsize
    bm.reserve_bootmem(KERNEL_PHYS, bootmap_end + PAGE_SIZE - 1 - KERNEL_PHYS)
    bm.reserve_bootmem(0, PAGE_SIZE)
    return bm


def mem_init(k: Kernel, pt: KernelPageTables) -> None:
    """``mem_init``: limits, the zero page, all free RAM to the buddy allocator."""
    cfg = k.config
    k.w32(k.sym("max_mapnr"), cfg.num_physpages)
    k.w32(k.sym("num_physpages"), cfg.num_physpages)
    if cfg.highmem:
        k.w32(k.sym("highmem_start_page"), k.page_addr(cfg.highstart_pfn))
    k.w32(k.sym("high_memory"), cfg.high_memory)
    k.zero(EMPTY_ZERO_PAGE, PAGE_SIZE)
    assert k.buddy is not None
    seq = boot_free_sequence(k)
    free_boot_pages_bulk(k, k.buddy, seq)
    # free_all_bootmem_core: the bitmap is gone, bdata->node_bootmem_map = NULL
    k.set(k.bootmem.bdata, "bootmem_data_t", "node_bootmem_map", 0)
    high = sum(1 for _, is_high in seq if is_high)
    total = len(seq) - high
    k.w32(k.sym("totalram_pages"), total + high)
    if cfg.highmem:
        k.w32(k.sym("totalhigh_pages"), high)
    pt.zap_low_mappings()
    k.printk(f"Memory: {(total + high) * 4}k/{cfg.max_pfn * 4}k available ({high * 4}k highmem)")
