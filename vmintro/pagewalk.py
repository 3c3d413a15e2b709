"""The i386 page-table walk, 2-level and PAE, as the MMU does it.

The levels are data (:data:`TWO_LEVEL`, :data:`PAE_LEVELS`): one loop walks
either mode, reading one entry per level from the table the previous entry
points at. An entry with bit 7 set at a level that allows it maps a large page
(4 MiB at the 2-level pgd, 2 MiB at the PAE pmd) and ends the walk.

Only the hardware view counts here: an entry maps when its PRESENT bit is set.
The kernel's ``pgd_present()`` is always true and ``pte_present()`` also
accepts PROTNONE, but neither makes the MMU translate.
"""

from __future__ import annotations

import array
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, Paging, decode_entry_bits
from vmintro.errors import FaultError

__all__ = [
    "PAE_LEVELS",
    "TWO_LEVEL",
    "Level",
    "PageWalker",
    "Walk",
    "WalkStep",
    "levels_for",
]

_PRESENT = 0x001
_PSE = 0x080
ADDRESS_LIMIT = 1 << 32
# array typecodes of exactly 4 and 8 bytes: decoded tables stay compact (4 KiB each)
_CODE32 = next(c for c in "IL" if array.array(c).itemsize == 4)
_CODE64 = next(c for c in "LQ" if array.array(c).itemsize == 8)
_CHUNK = 1 << 16  # batch elements per pass: keeps temporaries in cache
# Pages the translation cache remembers: all of VMALLOC, pkmap and fixmap (at most
# 128 MiB, 32k pages) fit, and at ~100 bytes a page it stays a few MiB.
TLB_PAGES = 1 << 16
_SMALL_LEVEL = 64  # levels with at most this many slots read every present table


@dataclass(frozen=True)
class Level:
    """One level of the walk: its index is ``bits`` wide and starts at address bit ``shift``."""

    name: str
    shift: int
    bits: int
    large: bool = False  # bit 7 here maps a large page of 1 << shift bytes

    @property
    def entries(self) -> int:
        return 1 << self.bits

    def index(self, vaddr: int) -> int:
        return (vaddr >> self.shift) & (self.entries - 1)


# include/asm-i386/pgtable-2level.h: the pmd is folded into the pgd entry.
TWO_LEVEL = (Level("pgd", 22, 10, large=True), Level("pte", 12, 10))
# include/asm-i386/pgtable-3level.h: a 4-entry pgd (the PDPT), then pmd and pte pages.
PAE_LEVELS = (Level("pgd", 30, 2), Level("pmd", 21, 9, large=True), Level("pte", 12, 9))


def levels_for(pae: bool) -> tuple[Level, ...]:
    return PAE_LEVELS if pae else TWO_LEVEL


@dataclass
class WalkStep:
    """One entry read during a walk."""

    level: str
    index: int
    entry_paddr: int
    entry_vaddr: int | None  # None when the table is not in the lowmem direct map
    value: int
    bits: list[str]
    large: bool = False

    @property
    def present(self) -> bool:
        return bool(self.value & _PRESENT)


@dataclass
class Walk:
    """Every level of one translation, then its physical address or the fault."""

    vaddr: int
    pgd: int  # physical address of the top-level table
    entry_size: int
    steps: list[WalkStep] = field(default_factory=list)
    paddr: int | None = None
    page_size: int = 1 << PAGE_SHIFT
    fault: FaultError | None = None

    @property
    def large(self) -> bool:
        return bool(self.steps) and self.steps[-1].large

    def __str__(self) -> str:
        width = 2 * self.entry_size
        lines = [f"VIRTUAL {self.vaddr:#010x}  PGD TABLE (physical) {self.pgd:#x}"]
        for s in self.steps:
            where = f"{s.entry_vaddr:#010x}" if s.entry_vaddr is not None else "(no vaddr)"
            kind = "  large page" if s.large else ""
            lines.append(
                f"  {s.level.upper():4} [{s.index:4}] {where} phys {s.entry_paddr:#x}"
                f" => {s.value:#0{width + 2}x}  ({' '.join(s.bits) or 'none'}){kind}"
            )
        if self.fault is not None:
            lines.append(f"  FAULT: {self.fault}")
        else:
            lines.append(f"  PHYSICAL {self.paddr:#x}  (page size {self.page_size:#x})")
        return "\n".join(lines)


class PageWalker:
    """Walks page tables in physical memory, keeping recently used tables decoded.

    The cache is an LRU of ``cache_tables`` tables keyed by physical address:
    a dump does not change, and nearby addresses share their tables, so a run of
    translations in one area reads each table once.

    Like the MMU, it also keeps a TLB: :attr:`tlb` maps the virtual page number
    of every page translated through ``swapper_pg_dir`` to ``physical page -
    virtual page``, so translating that page again is one dictionary lookup
    (:meth:`vmintro.program.Program.translate` does it before calling here).
    Faults are never cached. Up to ``tlb_pages`` pages are kept; past that the
    TLB starts again empty (a flush, as on a CR3 reload), which keeps it small
    whatever a caller walks. A TLB miss in a span whose pte table was already
    found (the MMU's paging-structure cache) reads the entry from that table
    without walking the levels above it again.
    """

    def __init__(
        self,
        read_phys: Callable[[int, int], bytes],
        paging: Paging,
        pgd: int,
        lowmem_size: int,
        cache_tables: int = 256,
        tlb_pages: int = TLB_PAGES,
    ) -> None:
        self.read_phys = read_phys
        self.paging = paging
        self.pgd = pgd
        self.levels = levels_for(paging.pae)
        self.lowmem_size = lowmem_size
        self.entry_size = paging.entry_size
        self._code = _CODE64 if paging.pae else _CODE32
        self._np_dtype = np.dtype("<u8" if paging.pae else "<u4")
        self._phys_mask = paging.phys_mask
        self._cache: OrderedDict[int, array.array[int]] = OrderedDict()
        self._cache_max = cache_tables
        self.tlb: dict[int, int] = {}
        self._tlb_max = tlb_pages
        # vaddr >> _span_shift -> the pte table mapping that span (swapper_pg_dir only)
        last = self.levels[-1]
        self._span_shift = last.shift + last.bits
        self._span_mask = last.entries - 1
        self._spans: dict[int, array.array[int]] = {}
        # Per level: what the hot loop needs, precomputed once.
        self._plan = tuple(
            (
                n,
                lv.shift,
                lv.entries - 1,
                lv.large,
                lv.entries,
                self._phys_mask & ~((1 << lv.shift) - 1),
                (1 << lv.shift) - 1,
            )
            for n, lv in enumerate(self.levels)
        )

    def clear_cache(self) -> None:
        """Forget decoded tables (needed only if the memory underneath changes)."""
        self._cache.clear()
        self._spans.clear()
        self.tlb.clear()  # in place: Program holds the same dict

    def table(self, base: int, level: int) -> array.array[int]:
        """The entries of the level-``level`` table at physical ``base``.

        :raises FaultError: when the table lies outside RAM.
        """
        key = base * 4 + level
        cache = self._cache
        entries = cache.get(key)
        if entries is not None:
            cache.move_to_end(key)
            return entries
        n = self.levels[level].entries
        entries = array.array(self._code, self.read_phys(base, n * self.entry_size))
        if sys.byteorder != "little":
            entries.byteswap()
        cache[key] = entries
        if len(cache) > self._cache_max:
            cache.popitem(last=False)
        return entries

    def translate(self, vaddr: int, pgd: int | None = None) -> int:
        """Physical address of ``vaddr``.

        :raises FaultError: naming the entry that is not present.
        """
        if not 0 <= vaddr < ADDRESS_LIMIT:
            raise FaultError(vaddr, f"read of {vaddr:#x}: not a 32-bit address")
        if pgd is None:
            delta = self.tlb.get(vaddr >> PAGE_SHIFT)
            if delta is not None:
                return vaddr + delta
            pte_table = self._spans.get(vaddr >> self._span_shift)
            if pte_table is not None:
                entry = pte_table[(vaddr >> PAGE_SHIFT) & self._span_mask]
                if entry & _PRESENT:
                    return self._remember(vaddr, (entry & self._phys_mask) | (vaddr & 0xFFF))
                # not present: the walk below names the entry in its error
            base = self.pgd
        else:
            base = pgd
        cache = self._cache
        for n, shift, mask, large, _entries, large_mask, offset_mask in self._plan:
            entries = cache.get(base * 4 + n)
            if entries is None:
                entries = self._load(base, n, vaddr)
            else:
                cache.move_to_end(base * 4 + n)
            entry = entries[(vaddr >> shift) & mask]
            if not entry & _PRESENT:
                raise self._not_present(vaddr, n, base, (vaddr >> shift) & mask, entry)
            if large and entry & _PSE:
                paddr = (entry & large_mask) | (vaddr & offset_mask)
                break
            base = entry & self._phys_mask
        else:
            paddr = base | (vaddr & 0xFFF)
            if pgd is None:
                spans = self._spans
                if len(spans) >= self._cache_max:
                    spans.clear()
                spans[vaddr >> self._span_shift] = entries  # the pte table just read
        if pgd is None:
            return self._remember(vaddr, paddr)
        return paddr

    def _remember(self, vaddr: int, paddr: int) -> int:
        """Put ``vaddr``'s page in the TLB; returns ``paddr``."""
        tlb = self.tlb
        if len(tlb) >= self._tlb_max:
            tlb.clear()
        tlb[vaddr >> PAGE_SHIFT] = paddr - vaddr  # same in-page offset: a page delta
        return paddr

    def _load(self, base: int, level: int, vaddr: int) -> array.array[int]:
        try:
            return self.table(base, level)
        except FaultError:
            name = self.levels[level].name
            raise FaultError(
                vaddr,
                f"read of {vaddr:#x}: {name} table at physical {base:#x} is outside RAM",
            ) from None

    def _entry_vaddr(self, paddr: int) -> int | None:
        return PAGE_OFFSET + paddr if paddr < self.lowmem_size else None

    def _not_present(self, vaddr: int, level: int, base: int, index: int, entry: int) -> FaultError:
        paddr = base + index * self.entry_size
        ev = self._entry_vaddr(paddr)
        where = f"{ev:#x}" if ev is not None else f"physical {paddr:#x}"
        width = 2 * self.entry_size + 2
        name = self.levels[level].name
        return FaultError(
            vaddr, f"read of {vaddr:#x}: page not present ({name} {entry:#0{width}x} at {where})"
        )

    def walk(self, vaddr: int, pgd: int | None = None) -> Walk:
        """``follow_pte``: every entry read on the way to ``vaddr``; never raises for a fault."""
        walk = Walk(vaddr, self.pgd if pgd is None else pgd, self.entry_size)
        if not 0 <= vaddr < ADDRESS_LIMIT:
            walk.fault = FaultError(vaddr, f"read of {vaddr:#x}: not a 32-bit address")
            return walk
        base = walk.pgd
        for n, level in enumerate(self.levels):
            try:
                entries = self._load(base, n, vaddr)
            except FaultError as e:
                walk.fault = e
                return walk
            index = level.index(vaddr)
            entry = entries[index]
            large = level.large and bool(entry & _PRESENT) and bool(entry & _PSE)
            paddr = base + index * self.entry_size
            walk.steps.append(
                WalkStep(
                    level.name,
                    index,
                    paddr,
                    self._entry_vaddr(paddr),
                    entry,
                    decode_entry_bits(entry, large=level.large),
                    large,
                )
            )
            if not entry & _PRESENT:
                walk.fault = self._not_present(vaddr, n, base, index, entry)
                return walk
            if large:
                walk.page_size = 1 << level.shift
                walk.paddr = (entry & self._phys_mask & ~(walk.page_size - 1)) | (
                    vaddr & (walk.page_size - 1)
                )
                return walk
            base = entry & self._phys_mask
        walk.paddr = base | (vaddr & 0xFFF)
        return walk

    def translate_many(
        self,
        vaddrs: np.ndarray,
        pgd: int | None = None,
        direct_map: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Physical addresses of many virtual addresses at once; -1 where a read would fault.

        ``direct_map`` = (start, end) translates [start, end) by subtracting
        ``start`` instead of walking (the kernel's ``__pa`` for lowmem).

        Each level above the last has its entries spread over a dense array
        indexed by the address bits above that level (``vaddr >> shift``), filled
        from the tables the batch needs, each read once. The last level, whose
        dense array would take 8 MiB, keeps only the tables the batch uses, one
        row each, with a row number per slot of the level above (row 0, all
        zeros, for slots with no table). An element then needs one gather per
        level that can end the walk, and two for the last. A zero left where no
        table was read reads as not present, which is also what a missing or
        large parent means.
        """
        v = np.asarray(vaddrs)
        shape = v.shape
        v = v.astype(np.int64).ravel()
        invalid = None
        if v.size and (v.min() < 0 or v.max() >= ADDRESS_LIMIT):
            invalid = (v < 0) | (v >= ADDRESS_LIMIT)
            v[invalid] = 0
        dense, leaf = self._dense_levels(v, self.pgd if pgd is None else pgd)
        out = np.empty(v.size, dtype=np.int64)
        for lo in range(0, v.size, _CHUNK):
            part = v[lo : lo + _CHUNK]
            out[lo : lo + _CHUNK] = self._resolve(part, dense, leaf, direct_map)
        if invalid is not None:
            out[invalid] = -1
        return out.reshape(shape)

    def _dense_levels(
        self, v: np.ndarray, pgd: int
    ) -> tuple[list[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Per level but the last, its entries for every slot ``vaddr >> shift`` the batch
        reaches; for the last, (row of each slot of the level above, the rows).
        """
        dense = [self._table_array(pgd, 0).astype(np.int64)]
        last = len(self.levels) - 1
        leaf: tuple[np.ndarray, np.ndarray] | None = None
        for n, level in enumerate(self.levels[:-1]):
            parent = dense[-1]
            child = self.levels[n + 1]
            wanted = (parent & _PRESENT) != 0
            if level.large:
                wanted &= (parent & _PSE) == 0
            if len(parent) > _SMALL_LEVEL:
                used = np.zeros(len(parent), dtype=bool)
                for lo in range(0, v.size, _CHUNK):
                    used[v[lo : lo + _CHUNK] >> level.shift] = True
                wanted &= used
            slots = np.flatnonzero(wanted).tolist()
            if n + 1 == last:
                rows = np.zeros((len(slots) + 1, child.entries), dtype=np.int64)
                row_of = np.zeros(len(parent), dtype=np.intp)
                k = 1
                for slot in slots:
                    try:
                        rows[k] = self._table_array(int(parent[slot]) & self._phys_mask, n + 1)
                    except FaultError:
                        continue  # the slot keeps row 0: not present
                    row_of[slot] = k
                    k += 1
                leaf = (row_of, rows[:k].ravel())
                break
            table = np.zeros(len(parent) * child.entries, dtype=np.int64)
            for slot in slots:
                try:
                    entries = self._table_array(int(parent[slot]) & self._phys_mask, n + 1)
                except FaultError:
                    continue  # its slots stay zero: not present
                table[slot * child.entries : (slot + 1) * child.entries] = entries
            dense.append(table)
        assert leaf is not None
        return dense, leaf

    def _resolve(
        self,
        v: np.ndarray,
        dense: list[np.ndarray],
        leaf: tuple[np.ndarray, np.ndarray],
        direct_map: tuple[int, int] | None,
    ) -> np.ndarray:
        """Physical addresses for one chunk, from the dense levels and the leaf rows."""
        last = self.levels[-1]
        row_of, rows = leaf
        index = row_of[v >> (last.shift + last.bits)] * last.entries
        index += (v >> last.shift) & (last.entries - 1)
        entry = rows[index]
        out = np.where(entry & _PRESENT, (entry & self._phys_mask) | (v & 0xFFF), -1)
        for level, table in zip(self.levels[:-1], dense, strict=True):
            if not level.large:
                continue
            entry = table[v >> level.shift]
            size = 1 << level.shift
            large = (entry & (_PRESENT | _PSE)) == (_PRESENT | _PSE)
            if large.any():
                phys = (entry & (self._phys_mask & ~(size - 1))) | (v & (size - 1))
                out = np.where(large, phys, out)
        if direct_map is not None:
            start, end = direct_map
            low = (v >= start) & (v < end)
            out = np.where(low, v - start, out)
        return out

    def _table_array(self, base: int, level: int) -> np.ndarray:
        n = self.levels[level].entries
        return np.frombuffer(self.read_phys(base, n * self.entry_size), dtype=self._np_dtype)
