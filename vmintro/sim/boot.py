"""The simulated kernel, built whole: ``start_kernel`` from ``setup_arch`` through
``kmem_cache_sizes_init``, each subsystem of the memory manager made in that order
over the kernel's memory and given the ones before it."""

from __future__ import annotations

from typing import Any

from vmintro.arch.x86 import EMPTY_ZERO_PAGE, KERNEL_PHYS, PAGE_OFFSET, PAGE_SIZE, MachineConfig
from vmintro.sim.anon import run_anon_workload
from vmintro.sim.bootmem import Bootmem
from vmintro.sim.buddy import Buddy, boot_free_sequence, free_area_init, free_boot_pages_bulk
from vmintro.sim.kernel import KERN_INFO, KernelMemory
from vmintro.sim.pagecache import boot_truth, run_page_cache_workload
from vmintro.sim.paging import KernelPageTables
from vmintro.sim.process import Processes, init_task_static, sched_init
from vmintro.sim.slab import Slab
from vmintro.sim.vfs import mount_root
from vmintro.sim.vfs_init import (
    buffer_init,
    free_initmem,
    page_cache_init,
    vfs_caches_init,
    vfs_static_data,
)
from vmintro.sim.vmalloc import Vmalloc
from vmintro.types.flags import MOD_FLAGS

__all__ = ["Kernel", "boot"]


class Kernel(KernelMemory):
    """A 2.4.20 kernel as ``start_kernel`` leaves it: its memory (RAM, globals, typed
    access) and the memory manager's subsystems, every one present and typed.

    Each step of the boot below is given the kernel's memory and the subsystems
    made before it, never the kernel being built, so none can use one that is not
    there yet; the kernel takes them all at the end.
    """

    bootmem: Bootmem
    buddy: Buddy
    slab: Slab
    vmalloc: Vmalloc
    processes: Processes

    # What boot left for the truth: the hash tables, the page cache's workload, the
    # free blocks per zone and order (None for a kernel resumed from an image)
    boot_truth: dict[str, Any] | None = None

    def __init__(
        self, config: MachineConfig, page_cache: float = 0.0, seed: int = 0, anon: float = 0.0
    ) -> None:
        super().__init__(config)
        mem: KernelMemory = self
        pt = KernelPageTables(mem)
        pt.head_s()
        _static_data(mem)
        init_task_static(mem)
        bootmem = setup_memory(mem)  # setup_arch
        pkmap = pt.pagetable_init(bootmem)  # paging_init
        buddy = free_area_init(mem, bootmem)  # paging_init: zone_sizes_init
        sched_init(mem)
        slab = Slab(mem, buddy)  # kmem_cache_init
        mem_init(mem, bootmem, buddy, pt)
        slab.kmem_cache_sizes_init()
        procs = Processes(mem, buddy, slab)
        procs.pgtable_cache_init()
        procs.fork_init(config.max_low_pfn)  # num_mappedpages: lowmem, as mem_init sets it
        procs.proc_caches_init()
        vmalloc = Vmalloc(mem, buddy, slab)
        if pkmap is not None:
            mem.w32(mem.sym("pkmap_page_table"), pkmap)
        mempages = config.num_physpages
        vfs_caches_init(mem, buddy, slab, mempages)
        buffer_init(mem, buddy, mempages)
        page_cache_init(mem, buddy, mempages)
        procs.rest_init()  # kernel_thread(init); init's do_basic_setup starts the daemons
        mount_root(mem, slab)  # init's prepare_namespace
        free_initmem(mem, buddy)  # init(), before it runs /sbin/init
        procs.exec_init()
        # the machine runs a while before the scenario's steps: files read, evicted, deleted
        cache = run_page_cache_workload(mem, buddy, slab, page_cache, seed)
        # and user processes init started hold anonymous memory
        user = run_anon_workload(procs, anon, seed)
        self.boot_truth = boot_truth(mem, buddy, cache)
        self.boot_truth["anon"] = user.truth()
        self.bootmem, self.buddy, self.slab, self.vmalloc = bootmem, buddy, slab, vmalloc
        self.processes = procs


def boot(
    config: MachineConfig, page_cache: float = 0.0, seed: int = 0, anon: float = 0.0
) -> Kernel:
    """A kernel as it stands after ``start_kernel`` has set up the memory manager and,
    with ``page_cache`` above 0, the machine has run a while: that share of its RAM
    in the page cache, the rest free in small blocks, the workload drawn from
    ``seed`` (:mod:`vmintro.sim.pagecache`; scenarios ask for
    :data:`~vmintro.sim.pagecache.DEFAULT_PAGE_CACHE` unless they say otherwise),
    and with ``anon`` above 0 user processes hold that share in anonymous memory
    (:mod:`vmintro.sim.anon`, :data:`~vmintro.sim.anon.DEFAULT_ANON` in scenarios)."""
    return Kernel(config, page_cache, seed, anon)


def _static_data(k: KernelMemory) -> None:
    """Initialisers of .data: ``init_mm``, ``kernel_module``, ``module_list``, ``swap_list``."""
    mm = k.sym("init_mm")
    k.set_many(mm, "struct mm_struct", pgd=k.sym("swapper_pg_dir"))
    k.set(mm, "struct mm_struct", "mm_users.counter", 2)
    k.set(mm, "struct mm_struct", "mm_count.counter", 1)
    k.w32(k.sym("swap_mm"), mm)  # struct mm_struct *swap_mm = &init_mm;
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
    vfs_static_data(k)
    k.set_many(k.sym("swap_list"), "struct swap_list_t", head=0xFFFFFFFF, next=0xFFFFFFFF)


def setup_memory(k: KernelMemory) -> Bootmem:
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


def mem_init(k: KernelMemory, bm: Bootmem, buddy: Buddy, pt: KernelPageTables) -> None:
    """``mem_init``: limits, the zero page, all free RAM (``bm``'s) to the page allocator."""
    cfg = k.config
    k.w32(k.sym("max_mapnr"), cfg.num_physpages)
    k.w32(k.sym("num_physpages"), cfg.num_physpages)
    if cfg.highmem:
        k.w32(k.sym("highmem_start_page"), k.page_addr(cfg.highstart_pfn))
    k.w32(k.sym("high_memory"), cfg.high_memory)
    k.zero(EMPTY_ZERO_PAGE, PAGE_SIZE)
    seq = boot_free_sequence(k, bm)
    free_boot_pages_bulk(k, buddy, seq)
    # free_all_bootmem_core: the bitmap is gone, bdata->node_bootmem_map = NULL
    k.set(bm.bdata, "bootmem_data_t", "node_bootmem_map", 0)
    high = int(seq.high.sum())
    total = len(seq) - high
    k.w32(k.sym("totalram_pages"), total + high)
    if cfg.highmem:
        k.w32(k.sym("totalhigh_pages"), high)
    pt.zap_low_mappings()
    # free_pages_init: the RAM frames below max_low_pfn that bootmem kept (all are
    # PG_reserved from free_area_init on, and free_all_bootmem freed the rest)
    ram_low = sum(
        max(0, min(b // PAGE_SIZE, cfg.max_low_pfn) - (a + PAGE_SIZE - 1) // PAGE_SIZE)
        for a, b, kind in cfg.e820
        if kind == "usable"
    )
    reserved = ram_low - total
    sym = k.layout.symbols
    code = sym["_etext"][0] - sym["_text"][0]
    data = sym["_edata"][0] - sym["_etext"][0]
    free = sum(k.get(z, "zone_t", "free_pages") for z in buddy.zones)  # nr_free_pages()
    init = sym["__init_end"][0] - sym["__init_begin"][0]
    k.printk(
        KERN_INFO + f"Memory: {free * 4}k/{cfg.num_physpages * 4}k available "
        f"({code >> 10}k kernel code, {reserved * 4}k reserved, {data >> 10}k data, "
        f"{init >> 10}k init, {high * 4}k highmem)"
    )
