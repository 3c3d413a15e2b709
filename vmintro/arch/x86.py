"""The i386 machine (2.4.20): its RAM and build options, the kernel image's addresses.

The paging modes and entry bits are in :mod:`vmintro.arch.paging`, the kernel's
virtual address space in :mod:`vmintro.arch.layout`; their names are also
importable from here, the one module the rest of vmintro takes i386 facts from.
Nothing here touches memory. The build modelled is uniprocessor,
PentiumPro-class or later (CONFIG_X86_PGE, F00F bug absent, no local APIC), so
``PAGE_KERNEL`` carries ``_PAGE_GLOBAL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from vmintro.arch.layout import (
    FIXADDR_TOP,
    KM_TYPE_NR,
    MAXMEM,
    MAXMEM_PFN,
    NR_CPUS,
    NR_FIX_BTMAPS,
    PAGE_OFFSET,
    PKMAP_BASE,
    VMALLOC_OFFSET,
    VMALLOC_RESERVE,
    KernelLayout,
    kernel_layout,
    max_low_pfn,
)
from vmintro.arch.paging import (
    _KERNPG_TABLE,
    _PAGE_ACCESSED,
    _PAGE_DIRTY,
    _PAGE_GLOBAL,
    _PAGE_PCD,
    _PAGE_PRESENT,
    _PAGE_PROTNONE,
    _PAGE_PSE,
    _PAGE_PWT,
    _PAGE_RW,
    _PAGE_TABLE,
    _PAGE_USER,
    PAGE_KERNEL,
    PAGE_KERNEL_NOCACHE,
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    PSE_KERNEL,
    PTE_BITS,
    PagingMode,
    decode_entry_bits,
    paging_mode,
)

__all__ = [
    "EMPTY_ZERO_PAGE",
    "FIXADDR_TOP",
    "KERNEL_PHYS",
    "KM_TYPE_NR",
    "L1_CACHE_BYTES",
    "MAXMEM",
    "MAXMEM_PFN",
    "MAX_DMA_ADDRESS",
    "MAX_DMA_PFN",
    "NR_CPUS",
    "NR_FIX_BTMAPS",
    "PAGE_KERNEL",
    "PAGE_KERNEL_NOCACHE",
    "PAGE_MASK",
    "PAGE_OFFSET",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PG0",
    "PG1",
    "PKMAP_BASE",
    "PSE_KERNEL",
    "PTE_BITS",
    "STEXT",
    "SWAPPER_PG_DIR",
    "TEXT_START",
    "VMALLOC_OFFSET",
    "VMALLOC_RESERVE",
    "_KERNPG_TABLE",
    "_PAGE_ACCESSED",
    "_PAGE_DIRTY",
    "_PAGE_GLOBAL",
    "_PAGE_PCD",
    "_PAGE_PRESENT",
    "_PAGE_PROTNONE",
    "_PAGE_PSE",
    "_PAGE_PWT",
    "_PAGE_RW",
    "_PAGE_TABLE",
    "_PAGE_USER",
    "KernelLayout",
    "MachineConfig",
    "PagingMode",
    "decode_entry_bits",
    "kernel_layout",
    "paging_mode",
    "parse_size",
]

MAX_DMA_ADDRESS = PAGE_OFFSET + (16 << 20)
MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT
L1_CACHE_BYTES = 32

# Kernel image (arch/i386/vmlinux.lds, head.S)
KERNEL_PHYS = 0x00100000
TEXT_START = PAGE_OFFSET + KERNEL_PHYS
SWAPPER_PG_DIR = TEXT_START + 0x1000
PG0 = TEXT_START + 0x2000
PG1 = TEXT_START + 0x3000
EMPTY_ZERO_PAGE = TEXT_START + 0x4000
STEXT = TEXT_START + 0x5000


def parse_size(text: str) -> int:
    """'64M', '4G', '512K' or a byte count."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    digits = t[:-1] if t[-1:] in "KMG" else t
    try:
        return int(digits, 0) * mult
    except ValueError:
        raise ValueError(f"bad size '{text}' (expected e.g. 64M, 4G)") from None


def _bytes_text(size: int) -> str:
    """``size`` in the largest of bytes, KiB, MiB and GiB that shows it whole
    (``1 KiB``, ``3 MiB``, ``4097 KiB``), so that no size reads as 0 MiB."""
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} bytes"


# The RAM a machine may have: 16 MiB up, to the 4 GiB of 32-bit physical addresses, or
# the 16 GiB the simulator goes to with PAE (CONFIG_HIGHMEM64G addresses 64 GiB).
RAM_MIN = 16 << 20
RAM_MAX = 4 << 30
RAM_MAX_PAE = 16 << 30


@dataclass(frozen=True)
class MachineConfig:
    """What a simulated machine is: RAM size and the paging options it was built with."""

    ram: int = 64 << 20
    highmem: bool = False
    pae: bool = False
    pse: bool = True

    def __post_init__(self) -> None:
        if self.pae and not self.highmem:
            raise ValueError("PAE needs HIGHMEM (CONFIG_HIGHMEM64G selects both)")
        limit = RAM_MAX_PAE if self.pae else RAM_MAX
        if not RAM_MIN <= self.ram <= limit:
            raise ValueError(
                f"RAM of {_bytes_text(self.ram)}: it must be between 16M and {limit >> 30}G"
                f" {'with' if self.pae else 'without'} PAE"
            )
        if self.ram % PAGE_SIZE:
            raise ValueError("RAM must be a whole number of pages")

    @cached_property
    def paging(self) -> PagingMode:
        """The paging mode: PAE with CONFIG_X86_PAE, else 2-level, with 4 MiB pages on PSE."""
        return paging_mode(self.pae, self.pse)

    @cached_property
    def layout(self) -> KernelLayout:
        """The kernel's virtual address space on this machine (``VMALLOC_START``, ...)."""
        return kernel_layout(self.paging, self.highmem, self.ram)

    # The e820 map of a PC: base memory to 639 KiB, the ISA hole, RAM from 1 MiB.
    @property
    def e820(self) -> list[tuple[int, int, str]]:
        return [
            (0x00000000, 0x0009FC00, "usable"),
            (0x0009FC00, 0x000A0000, "reserved"),
            (0x000F0000, 0x00100000, "reserved"),
            (0x00100000, self.ram, "usable"),
        ]

    def page_is_ram(self, pfn: int) -> bool:
        """``page_is_ram``: the whole page lies inside a usable e820 range."""
        return any(first <= pfn < end for first, end in self.ram_pfn_ranges)

    @cached_property
    def ram_pfn_ranges(self) -> tuple[tuple[int, int], ...]:
        """The frames ``page_is_ram`` says yes to, as ``[first, end)`` ranges: the
        whole pages inside each usable e820 range."""
        ranges = []
        for a, b, kind in self.e820:
            first, end = (a + PAGE_SIZE - 1) >> PAGE_SHIFT, b >> PAGE_SHIFT
            if kind == "usable" and first < end:
                ranges.append((first, end))
        return tuple(ranges)

    @cached_property
    def max_pfn(self) -> int:
        return self.ram >> PAGE_SHIFT

    @cached_property
    def max_low_pfn(self) -> int:
        return max_low_pfn(self.ram)

    @property
    def highstart_pfn(self) -> int:
        return self.max_low_pfn

    @cached_property
    def highend_pfn(self) -> int:
        return self.max_pfn if self.highmem else self.max_low_pfn

    @cached_property
    def num_physpages(self) -> int:
        """``num_physpages`` = ``max_mapnr``: highend_pfn with HIGHMEM, max_low_pfn without."""
        return self.highend_pfn

    @cached_property
    def high_memory(self) -> int:
        """``high_memory``, as ``mem_init`` sets it (see :attr:`layout`)."""
        return self.layout.high_memory

    @cached_property
    def vmalloc_start(self) -> int:
        return self.layout.vmalloc_start

    @cached_property
    def vmalloc_end(self) -> int:
        return self.layout.vmalloc_end

    @property
    def zone_sizes(self) -> tuple[int, int, int]:
        """Pages in ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM (``zone_sizes_init``)."""
        low = self.max_low_pfn
        if low < MAX_DMA_PFN:
            return (low, 0, 0)
        high = self.highend_pfn - low if self.highmem else 0
        return (MAX_DMA_PFN, low - MAX_DMA_PFN, high)
