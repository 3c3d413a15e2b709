"""i386 page tables (2.4.20): the entry format, and each paging mode as a table of levels.

A paging mode is data, in the manner of volatility3's Intel layers: its levels from
the top, each with the name the kernel gives its table (``pgd``, ``pmd``, ``pte``),
the address bit its index starts at, how many entries it holds and whether an
entry there can map a large page; the entry format; and how many bits of physical
address an entry holds. The kernel's constants (``PGDIR_SHIFT``, ``PTRS_PER_PMD``,
``PMD_SIZE``, ...) are read from the table, and every walk (the simulator's, the
reader's, the translation cache in C) loops over it, so a new mode is a new table
here.

``include/asm-i386/page.h``, ``pgtable.h``, ``pgtable-2level.h``, ``pgtable-3level.h``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

__all__ = [
    "PAE",
    "PAGE_MASK",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PTE_BITS",
    "TWO_LEVEL",
    "TWO_LEVEL_4K",
    "Level",
    "PagingMode",
    "decode_entry_bits",
    "paging_mode",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1) & 0xFFFFFFFF

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


# The bits decode_entry_bits names: its answer depends on no other bit of an entry.
_NAMED_BITS = _PAGE_PROTNONE | sum(PTE_BITS.values())
# (named bits, large) -> their names, found once: at most 2 * 512 of them
_DECODED: dict[tuple[int, bool], tuple[str, ...]] = {}


def decode_entry_bits(value: int, large: bool = False) -> list[str]:
    """Names of the set bits of a page-table entry (PSE only at pgd/pmd level)."""
    key = (value & _NAMED_BITS, bool(large))
    names = _DECODED.get(key)
    if names is None:
        names = _DECODED[key] = tuple(_decode_entry_bits(*key))
    return list(names)


def _decode_entry_bits(value: int, large: bool) -> list[str]:
    names = [n for n, b in PTE_BITS.items() if value & b and (n != "PSE" or large)]
    if not large and value & _PAGE_PROTNONE and not value & _PAGE_PRESENT:
        names.append("PROTNONE")
    return names


@dataclass(frozen=True)
class Level:
    """One level of a walk: a table of ``entries`` entries indexed from address bit ``shift``.

    ``large``: an entry with ``_PAGE_PSE`` set here maps a page of ``1 << shift``
    bytes (:attr:`page_size`) and ends the walk, as the MMU does.
    """

    name: str
    shift: int
    entries: int
    large: bool = False

    @property
    def bits(self) -> int:
        """Address bits of the index: ``log2(entries)``."""
        return self.entries.bit_length() - 1

    @property
    def size(self) -> int:
        """Bytes of address space one entry covers (``PGDIR_SIZE``, ``PMD_SIZE``, ``PAGE_SIZE``)."""
        return 1 << self.shift

    @property
    def page_size(self) -> int | None:
        """The large page an entry here can map, or None where none can."""
        return self.size if self.large else None

    def index(self, vaddr: int) -> int:
        """``pgd_index`` / ``pmd_index`` / ``pte_index`` for this level."""
        return (vaddr >> self.shift) & (self.entries - 1)


@dataclass(frozen=True)
class PagingMode:
    """One paging mode: its levels from the top, entry format and physical address width.

    ``entry_format`` is the ``struct`` format of one entry (little-endian);
    ``phys_bits`` how wide a physical address its entries hold; ``pae`` whether the
    kernel is built with CONFIG_X86_PAE (its page-table code then differs beyond
    the geometry: pgd entries hold only PRESENT). The kernel's names for the
    geometry are properties, computed once (page-table code asks them per entry); a
    folded level (2-level's pmd) takes the one above's.
    """

    name: str
    levels: tuple[Level, ...]
    entry_format: str
    phys_bits: int
    pae: bool = False

    def __post_init__(self) -> None:
        levels = self.levels
        if not levels or levels[-1].shift != PAGE_SHIFT or levels[-1].large:
            raise ValueError(f"{self.name}: the last level must map {PAGE_SIZE}-byte pages")
        for upper, lower in zip(levels, levels[1:], strict=False):
            if upper.shift != lower.shift + lower.bits:
                raise ValueError(f"{self.name}: {upper.name} must start where {lower.name} ends")
        if any(lv.entries != 1 << lv.bits for lv in levels):
            raise ValueError(f"{self.name}: a table's entries must be a power of two")
        if levels[0].shift + levels[0].bits != 32:
            raise ValueError(f"{self.name}: the levels must index 32-bit addresses")
        if struct.calcsize(self.entry_format) * 8 < self.phys_bits:
            raise ValueError(f"{self.name}: a {self.entry_format} entry has no room for the frame")

    def __str__(self) -> str:
        return self.name

    # -- the entry -----------------------------------------------------------------------

    @cached_property
    def entry_size(self) -> int:
        """Bytes of one entry: ``sizeof(pte_t)``."""
        return struct.calcsize(self.entry_format)

    @cached_property
    def phys_mask(self) -> int:
        """Bits of an entry that hold a physical frame address."""
        return ((1 << self.phys_bits) - 1) & ~(PAGE_SIZE - 1)

    @property
    def phys_limit(self) -> int:
        """The most RAM an entry can address: 4 GiB, or 64 GiB with PAE's 36 bits."""
        return 1 << self.phys_bits

    def mk_pte(self, pfn: int, prot: int) -> int:
        """``mk_pte``: (pfn << PAGE_SHIFT) | prot."""
        return (pfn << PAGE_SHIFT) | prot

    def pte_pfn(self, entry: int) -> int:
        return (entry & self.phys_mask) >> PAGE_SHIFT

    # -- the levels, as the kernel names them ----------------------------------------------

    def level(self, name: str) -> Level | None:
        """The level the kernel calls ``name``, or None where the mode folds it away."""
        return next((lv for lv in self.levels if lv.name == name), None)

    @cached_property
    def pmd_folded(self) -> bool:
        """No pmd table: ``pmd_offset`` returns the pgd entry itself (pgtable-2level.h)."""
        return self.level("pmd") is None

    @cached_property
    def pgdir_shift(self) -> int:
        return self.levels[0].shift

    @cached_property
    def ptrs_per_pgd(self) -> int:
        return self.levels[0].entries

    @cached_property
    def pgdir_size(self) -> int:
        return self.levels[0].size

    @cached_property
    def pmd_shift(self) -> int:
        pmd = self.level("pmd")
        return self.pgdir_shift if pmd is None else pmd.shift

    @cached_property
    def ptrs_per_pmd(self) -> int:
        pmd = self.level("pmd")
        return 1 if pmd is None else pmd.entries

    @cached_property
    def pmd_size(self) -> int:
        return 1 << self.pmd_shift

    @cached_property
    def ptrs_per_pte(self) -> int:
        return self.levels[-1].entries

    def pgd_index(self, addr: int) -> int:
        return (addr >> self.pgdir_shift) & (self.ptrs_per_pgd - 1)

    def pmd_index(self, addr: int) -> int:
        return (addr >> self.pmd_shift) & (self.ptrs_per_pmd - 1)

    def pte_index(self, addr: int) -> int:
        return self.levels[-1].index(addr)


# pgtable-2level.h: the pmd is folded into the pgd entry; with CR4.PSE a pgd entry
# with _PAGE_PSE maps 4 MiB.
TWO_LEVEL = PagingMode(
    "2-level", (Level("pgd", 22, 1024, large=True), Level("pte", 12, 1024)), "<I", 32
)
# The same tables on a CPU without PSE: the MMU ignores bit 7 of a pgd entry, and
# pagetable_init maps lowmem with 4 KiB pages.
TWO_LEVEL_4K = PagingMode(
    "2-level, 4 KiB pages", (Level("pgd", 22, 1024), Level("pte", 12, 1024)), "<I", 32
)
# pgtable-3level.h: a 4-entry pgd (the PDPT), then pmd and pte pages of 512 8-byte
# entries; a pmd entry with _PAGE_PSE maps 2 MiB whatever CR4.PSE says.
PAE = PagingMode(
    "PAE",
    (Level("pgd", 30, 4), Level("pmd", 21, 512, large=True), Level("pte", 12, 512)),
    "<Q",
    36,
    pae=True,
)


def paging_mode(pae: bool, pse: bool = True) -> PagingMode:
    """The mode a kernel built with (or without) CONFIG_X86_PAE runs in, on a CPU
    with (or without) PSE. An image does not record PSE: its reader takes the
    2-level mode with PSE, which reads the tables a kernel writes on a CPU without
    PSE (never with bit 7 in a pgd entry) as that CPU does.
    """
    if pae:
        return PAE
    return TWO_LEVEL if pse else TWO_LEVEL_4K
