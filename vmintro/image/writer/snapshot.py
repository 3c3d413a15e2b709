"""Freezing a simulated kernel into an :class:`ImageSpec`, with its ground truth."""

from __future__ import annotations

from typing import Any

from vmintro.arch.x86 import _PAGE_PSE
from vmintro.image.writer.spec import ImageSpec, Symbol
from vmintro.sim.boot import Kernel
from vmintro.sim.errors import PageFault
from vmintro.sim.kernel import LOCAL_VARS
from vmintro.sim.paging import KernelPageTables
from vmintro.types.flags import MAX_ORDER

__all__ = ["snapshot"]

TRUTH_VERSION = 1


def vmalloc_page_tables(k: Kernel) -> list[list[int]]:
    """[first address, pfn, entry] of each page-table page that maps part of the vmalloc
    range, ``entry`` the physical address of the PMD entry (the PDE without PAE) that
    points at it, from the simulator's ``swapper_pg_dir`` (kernel page tables are never
    freed: the page a span got when something was first mapped there)."""
    cfg, pt = k.config, KernelPageTables(k)
    span = k.paging.pmd_size
    tables = []
    for addr in range(cfg.vmalloc_start & ~(span - 1), cfg.vmalloc_end, span):
        pmd = pt.pmd_offset(pt.pgd_offset_k(addr), addr)
        entry = pt.get(pmd)
        if entry & 1 and not entry & _PAGE_PSE:
            tables.append([addr, (entry & k.paging.phys_mask) >> 12, k.pa(pmd)])
    return tables


def free_lists(k: Kernel) -> list[dict[str, Any]]:
    """Each zone's free lists as the snapshot leaves them: per order, how many blocks
    and the pfn of the first (the block ``rmqueue`` takes next: ``free_list.next``)."""
    buddy, zones = k.buddy, []
    for j, zone in enumerate(buddy.zones):
        size = k.get(zone, "zone_t", "size")
        if not size:
            continue
        zone_map = k.get(zone, "zone_t", "zone_mem_map")
        base = k.get(zone, "zone_t", "zone_start_mapnr")
        counts, heads, r32 = [], [], k.r32
        for order in range(MAX_ORDER):
            head = buddy.free_list(zone, order)
            node = first = r32(head)
            count = 0  # blocks counted, not kept: a 4 GiB machine has some 280,000
            try:
                while node != head and count <= size:  # a corrupted list stops here
                    count += 1
                    node = r32(node)
            except PageFault:  # or where it points at memory nothing maps
                pass
            counts.append(count)
            pfn = (first - buddy.o_list - zone_map) // k.page_size
            heads.append(base + pfn if count else None)
        zones.append({"zone": j, "counts": counts, "heads": heads})
    return zones


def _check_area_pages(k: Kernel, records: list[tuple[int, dict[str, Any]]]) -> None:
    """Refuse area records that list more pages than the vmalloc range has: a kernel's
    areas lie in that range without overlapping (get_vm_area), so theirs never do, but a
    kernel resumed from a forged vmlist or truth file may hold any sizes, and the truth
    lists a frame per page of each area.

    :raises ImageWriteError: one line.
    """
    from vmintro.image.writer.install import ImageWriteError

    cfg = k.config
    room = (cfg.vmalloc_end - cfg.vmalloc_start) // 4096
    listed = sum(len(range(0, int(rec["size"]) - 4096, 4096)) for _addr, rec in records)
    if listed > room:
        areas = f"{len(records)} vm area" + ("" if len(records) == 1 else "s")
        raise ImageWriteError(
            f"the kernel's {areas} hold {listed} pages, more than the {room} pages of the "
            "vmalloc range: not areas a kernel makes (a vmlist or truth file it was "
            "resumed from was forged); nothing written"
        )


def snapshot(
    k: Kernel, generator: dict[str, Any], extra_truth: dict[str, Any] | None = None
) -> ImageSpec:
    """The kernel's memory, symbols and types, plus what the simulator knows about them.

    The truth is what the simulator recorded as it ran (who owns each area, the
    frame it gave each page), never something read back from the image.
    """
    symbols = []
    by_address = sorted(k.layout.symbols.items(), key=lambda s: (s[1][0], s[0]))
    for name, (addr, size, ctype) in by_address:
        kind = "object" if ctype is not None else "notype"
        symbols.append(Symbol(name, addr, size, kind, name in LOCAL_VARS, ctype))
    cfg = k.config
    vm = k.vmalloc
    # From the simulator's own records, not a walk of vmlist: an injected fault
    # may have left the list cyclic or pointing into nowhere.
    records = sorted(vm.records.items())
    _check_area_pages(k, records)
    areas = []
    for addr, rec in records:
        size = int(rec["size"])
        pages = [vm.frames.get(addr + off) for off in range(0, size - 4096, 4096)]
        areas.append({"addr": addr, **rec, "pages": pages})
    truth: dict[str, Any] = {
        "version": TRUTH_VERSION,
        "config": {
            "ram": cfg.ram,
            "highmem": cfg.highmem,
            "pae": cfg.pae,
            "pse": cfg.pse,
        },
        "page_offset": 0xC0000000,
        "high_memory": cfg.high_memory,
        "vmalloc_start": cfg.vmalloc_start,
        "vmalloc_end": cfg.vmalloc_end,
        "max_low_pfn": cfg.max_low_pfn,
        "num_physpages": cfg.num_physpages,
        "mem_map": k.mem_map,
        "sizeof_page": k.page_size,
        "areas": areas,
        "freed": list(vm.freed),
        "page_tables": vmalloc_page_tables(k),
        "free_lists": free_lists(k),
        "log": list(k.log),
        "faults": [],
        # the simulator's account of each task (the idle task, pid 0, is not one)
        "tasks": [dict(rec) for _pid, rec in sorted(k.processes.records.items())],
    }
    if k.boot_truth is not None:
        truth["boot"] = k.boot_truth
    if extra_truth:
        truth.update(extra_truth)
    return ImageSpec(
        config=cfg,
        mem=k.mem,
        types=k.types,
        symbols=symbols,
        kernel_range=k.kernel_phys_range,
        keep_frames=frozenset(p for p in vm.frames.values() if p < cfg.max_pfn),
        generator=generator,
        truth=truth,
    )
