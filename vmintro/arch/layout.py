"""The i386 kernel's virtual address space (2.4.20), as one function of the machine.

From ``PAGE_OFFSET`` up: the direct-mapped lowmem to ``high_memory``, the
``VMALLOC_OFFSET`` gap, the vmalloc range, then (HIGHMEM) the pkmap area at
``PKMAP_BASE``, and the fixmap below ``FIXADDR_TOP`` (Gorman's Figure 8.1).
:func:`kernel_layout` computes all of it with the kernel's formulas; the
simulator, the reader, the maps and the checks read their bounds from it.

The build modelled is uniprocessor, PentiumPro-class or later (F00F bug absent,
no local APIC), so the fixmap's permanent slots are only the kmap ones of a
HIGHMEM kernel.

``include/asm-i386/page.h``, ``pgtable.h``, ``highmem.h``, ``fixmap.h``;
``arch/i386/kernel/setup.c`` (``setup_memory``), ``arch/i386/mm/init.c`` (``mem_init``).
"""

from __future__ import annotations

from dataclasses import dataclass

from vmintro.arch.paging import PAGE_SHIFT, PAGE_SIZE, PagingMode

__all__ = [
    "FIXADDR_TOP",
    "KM_TYPE_NR",
    "MAXMEM",
    "MAXMEM_PFN",
    "NR_CPUS",
    "NR_FIX_BTMAPS",
    "PAGE_OFFSET",
    "PKMAP_BASE",
    "VMALLOC_OFFSET",
    "VMALLOC_RESERVE",
    "KernelLayout",
    "kernel_layout",
    "max_low_pfn",
]

PAGE_OFFSET = 0xC0000000
VMALLOC_RESERVE = 128 << 20
MAXMEM = (-PAGE_OFFSET - VMALLOC_RESERVE) & 0xFFFFFFFF  # 896 MiB of lowmem at most
MAXMEM_PFN = MAXMEM >> PAGE_SHIFT
VMALLOC_OFFSET = 8 << 20
PKMAP_BASE = 0xFE000000
FIXADDR_TOP = 0xFFFFE000
KM_TYPE_NR = 6
NR_CPUS = 1
NR_FIX_BTMAPS = 16


def max_low_pfn(ram: int) -> int:
    """``setup_memory``'s ``max_low_pfn``: the frames below ``ram`` (the e820 map's
    end of RAM, rounded down to a page as ``find_max_pfn`` does), at most
    ``MAXMEM_PFN``.
    """
    return min(max(ram, 0) >> PAGE_SHIFT, MAXMEM_PFN)


@dataclass(frozen=True)
class KernelLayout:
    """Where each part of the kernel's virtual address space lies (see :func:`kernel_layout`)."""

    highmem: bool
    high_memory: int  # as the kernel stored it
    lowmem_end: int  # where the direct map ends: high_memory within PAGE_OFFSET..+MAXMEM
    vmalloc_start: int
    vmalloc_end: int
    last_pkmap: int  # LAST_PKMAP: pages of the pkmap area (HIGHMEM only)
    fixaddr_start: int
    fixmap_lowest: int  # __fix_to_virt(__end_of_fixed_addresses - 1): the lowest boot slot

    @property
    def pkmap_base(self) -> int:
        return PKMAP_BASE

    @property
    def pkmap_end(self) -> int:
        return PKMAP_BASE + self.last_pkmap * PAGE_SIZE

    @property
    def fixaddr_top(self) -> int:
        return FIXADDR_TOP


def kernel_layout(
    mode: PagingMode, highmem: bool, ram: int, high_memory: int | None = None
) -> KernelLayout:
    """The address space of a kernel in paging ``mode``, with or without HIGHMEM,
    on a machine whose RAM ends at ``ram`` bytes.

    ``high_memory`` is the value the kernel stored, where one is known (an
    image's); None takes what ``mem_init`` sets, ``__va(max_low_pfn * PAGE_SIZE)``.
    A stored value outside ``PAGE_OFFSET``..``PAGE_OFFSET + MAXMEM`` cannot be the
    kernel's: the direct map (:attr:`KernelLayout.lowmem_end`) and ``VMALLOC_START``
    with it keep to those bounds.
    """
    if high_memory is None:
        high_memory = PAGE_OFFSET + max_low_pfn(ram) * PAGE_SIZE
    lowmem_end = min(max(high_memory, PAGE_OFFSET), PAGE_OFFSET + MAXMEM)
    # VMALLOC_START: the 8 MiB boundary 8..16 MiB above high_memory
    vmalloc_start = (lowmem_end + 2 * VMALLOC_OFFSET - 1) & ~(VMALLOC_OFFSET - 1)
    # __end_of_permanent_fixed_addresses: FIX_KMAP_BEGIN..END with HIGHMEM, else none
    permanent_fixed = KM_TYPE_NR * NR_CPUS if highmem else 0
    fixaddr_start = FIXADDR_TOP - permanent_fixed * PAGE_SIZE
    if highmem:
        vmalloc_end = PKMAP_BASE - 2 * PAGE_SIZE
    else:
        vmalloc_end = fixaddr_start - 2 * PAGE_SIZE
    return KernelLayout(
        highmem=highmem,
        high_memory=high_memory,
        lowmem_end=lowmem_end,
        vmalloc_start=vmalloc_start,
        vmalloc_end=vmalloc_end,
        # highmem.h: 512 with CONFIG_X86_PAE, 1024 without: the pkmap area is the
        # one pte table pkmap_page_table, however many entries the mode's tables hold
        last_pkmap=mode.ptrs_per_pte,
        fixaddr_start=fixaddr_start,
        fixmap_lowest=FIXADDR_TOP - (permanent_fixed + NR_FIX_BTMAPS - 1) * PAGE_SIZE,
    )
