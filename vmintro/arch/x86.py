"""i386 address-space constants and page-table entry encoding (2.4.20).

Pure functions of a :class:`MachineConfig`; nothing here touches memory.
The build modelled is uniprocessor, PentiumPro-class or later (CONFIG_X86_PGE,
F00F bug absent, no local APIC), so ``PAGE_KERNEL`` carries ``_PAGE_GLOBAL``
and the fixmap holds only the kmap slots of a HIGHMEM kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

__all__ = [
    "MachineConfig",
    "PAGE_OFFSET",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "Paging",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1) & 0xFFFFFFFF
PAGE_OFFSET = 0xC0000000
VMALLOC_RESERVE = 128 << 20
MAXMEM = (-PAGE_OFFSET - VMALLOC_RESERVE) & 0xFFFFFFFF
MAXMEM_PFN = MAXMEM >> PAGE_SHIFT
VMALLOC_OFFSET = 8 << 20
MAX_DMA_ADDRESS = PAGE_OFFSET + (16 << 20)
MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT
FIXADDR_TOP = 0xFFFFE000
PKMAP_BASE = 0xFE000000
KM_TYPE_NR = 6
NR_CPUS = 1
NR_FIX_BTMAPS = 16
L1_CACHE_BYTES = 32

# Kernel image (arch/i386/vmlinux.lds, head.S)
KERNEL_PHYS = 0x00100000
TEXT_START = PAGE_OFFSET + KERNEL_PHYS
SWAPPER_PG_DIR = TEXT_START + 0x1000
PG0 = TEXT_START + 0x2000
PG1 = TEXT_START + 0x3000
EMPTY_ZERO_PAGE = TEXT_START + 0x4000
STEXT = TEXT_START + 0x5000

# Page-table entry bits (include/asm-i386/pgtable.h)
_PAGE_PRESENT = 0x001
_PAGE_RW = 0x002
_PAGE_USER = 0x004
_PAGE_PWT = 0x008
_PAGE_PCD = 0x010
_PAGE_ACCESSED = 0x020
_PAGE_DIRTY = 0x040
_PAGE_PSE = 0x080
_PAGE_PROTNONE = 0x080
_PAGE_GLOBAL = 0x100
_PAGE_TABLE = 0x067
_KERNPG_TABLE = 0x063
__PAGE_KERNEL = 0x063
PAGE_KERNEL = __PAGE_KERNEL | _PAGE_GLOBAL
PAGE_KERNEL_NOCACHE = 0x073 | _PAGE_GLOBAL
PSE_KERNEL = 0x0E3 | _PAGE_GLOBAL

PTE_BITS = {
    "PRESENT": _PAGE_PRESENT,
    "RW": _PAGE_RW,
    "USER": _PAGE_USER,
    "PWT": _PAGE_PWT,
    "PCD": _PAGE_PCD,
    "ACCESSED": _PAGE_ACCESSED,
    "DIRTY": _PAGE_DIRTY,
    "PSE": _PAGE_PSE,
    "GLOBAL": _PAGE_GLOBAL,
}


def decode_entry_bits(value: int, large: bool = False) -> list[str]:
    """Names of the set bits of a page-table entry (PSE only at pgd/pmd level)."""
    names = [n for n, b in PTE_BITS.items() if value & b and (n != "PSE" or large)]
    if not large and value & _PAGE_PROTNONE and not value & _PAGE_PRESENT:
        names.append("PROTNONE")
    return names


@dataclass(frozen=True)
class Paging:
    """Geometry of one paging mode (include/asm-i386/pgtable-{2,3}level.h)."""

    pae: bool

    @property
    def entry_size(self) -> int:
        return 8 if self.pae else 4

    @property
    def pgdir_shift(self) -> int:
        return 30 if self.pae else 22

    @property
    def ptrs_per_pgd(self) -> int:
        return 4 if self.pae else 1024

    @property
    def pmd_shift(self) -> int:
        return 21 if self.pae else 22

    @property
    def ptrs_per_pmd(self) -> int:
        return 512 if self.pae else 1

    @property
    def ptrs_per_pte(self) -> int:
        return 512 if self.pae else 1024

    @property
    def pmd_size(self) -> int:
        return 1 << self.pmd_shift

    @property
    def pgdir_size(self) -> int:
        return 1 << self.pgdir_shift

    @property
    def phys_mask(self) -> int:
        """Bits of an entry that hold a physical frame address."""
        return 0x0000000FFFFFF000 if self.pae else 0xFFFFF000

    def pgd_index(self, addr: int) -> int:
        return (addr >> self.pgdir_shift) & (self.ptrs_per_pgd - 1)

    def pmd_index(self, addr: int) -> int:
        return (addr >> self.pmd_shift) & (self.ptrs_per_pmd - 1)

    def pte_index(self, addr: int) -> int:
        return (addr >> PAGE_SHIFT) & (self.ptrs_per_pte - 1)

    def mk_pte(self, pfn: int, prot: int) -> int:
        """``mk_pte``: (pfn << PAGE_SHIFT) | prot."""
        return (pfn << PAGE_SHIFT) | prot

    def pte_pfn(self, entry: int) -> int:
        return (entry & self.phys_mask) >> PAGE_SHIFT


def parse_size(text: str) -> int:
    """'64M', '4G', '512K' or a byte count."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    digits = t[:-1] if t[-1:] in "KMG" else t
    try:
        return int(digits, 0) * mult
    except ValueError:
        raise ValueError(f"bad size '{text}' (expected e.g. 64M, 4G)") from None


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
        limit = (16 << 30) if self.pae else (4 << 30)
        if not (16 << 20) <= self.ram <= limit:
            raise ValueError(
                f"RAM of {self.ram >> 20} MiB: it must be between 16M and {limit >> 30}G"
                f" {'with' if self.pae else 'without'} PAE"
            )
        if self.ram % PAGE_SIZE:
            raise ValueError("RAM must be a whole number of pages")

    @property
    def paging(self) -> Paging:
        return Paging(self.pae)

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
        start, end = pfn << PAGE_SHIFT, (pfn + 1) << PAGE_SHIFT
        return any(a <= start and end <= b for a, b, k in self.e820 if k == "usable")

    @cached_property
    def max_pfn(self) -> int:
        return self.ram >> PAGE_SHIFT

    @cached_property
    def max_low_pfn(self) -> int:
        return min(self.max_pfn, MAXMEM_PFN)

    @property
    def highstart_pfn(self) -> int:
        return self.max_low_pfn

    @property
    def highend_pfn(self) -> int:
        return self.max_pfn if self.highmem else self.max_low_pfn

    @property
    def num_physpages(self) -> int:
        """``num_physpages`` = ``max_mapnr``: highend_pfn with HIGHMEM, max_low_pfn without."""
        return self.highend_pfn

    @property
    def high_memory(self) -> int:
        return PAGE_OFFSET + self.max_low_pfn * PAGE_SIZE

    @property
    def vmalloc_start(self) -> int:
        return (self.high_memory + 2 * VMALLOC_OFFSET - 1) & ~(VMALLOC_OFFSET - 1)

    @property
    def permanent_fixed(self) -> int:
        """``__end_of_permanent_fixed_addresses``: only the kmap slots in this build."""
        return KM_TYPE_NR * NR_CPUS if self.highmem else 0

    @property
    def fixaddr_start(self) -> int:
        return FIXADDR_TOP - self.permanent_fixed * PAGE_SIZE

    @property
    def fixmap_lowest(self) -> int:
        """``__fix_to_virt(__end_of_fixed_addresses - 1)``: the lowest boot-time slot."""
        return FIXADDR_TOP - (self.permanent_fixed + NR_FIX_BTMAPS - 1) * PAGE_SIZE

    @property
    def vmalloc_end(self) -> int:
        if self.highmem:
            return PKMAP_BASE - 2 * PAGE_SIZE
        return self.fixaddr_start - 2 * PAGE_SIZE

    @property
    def last_pkmap(self) -> int:
        return 512 if self.pae else 1024

    @property
    def zone_sizes(self) -> tuple[int, int, int]:
        """Pages in ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM (``zone_sizes_init``)."""
        low = self.max_low_pfn
        if low < MAX_DMA_PFN:
            return (low, 0, 0)
        high = self.highend_pfn - low if self.highmem else 0
        return (MAX_DMA_PFN, low - MAX_DMA_PFN, high)
