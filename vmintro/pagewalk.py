"""The i386 page-table walk as the MMU does it, and the translation cache it fills.

The levels are the paging mode's (:class:`vmintro.arch.paging.PagingMode`): one
loop walks any mode, reading one entry per level from the table the previous
entry points at. An entry with ``_PAGE_PSE`` set at a level that allows it maps
a large page (4 MiB at the 2-level pgd, 2 MiB at the PAE pmd) and ends the walk.

Only the hardware view counts here: an entry maps when its PRESENT bit is set.
The kernel's ``pgd_present()`` is always true and ``pte_present()`` also
accepts PROTNONE, but neither makes the MMU translate.
"""

from __future__ import annotations

import array
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmintro.accel import speedups
from vmintro.arch.layout import PAGE_OFFSET
from vmintro.arch.paging import (
    _PAGE_PRESENT,
    _PAGE_PSE,
    PAGE_SHIFT,
    PAGE_SIZE,
    Level,
    PagingMode,
    decode_entry_bits,
)
from vmintro.errors import FaultError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "PageWalker",
    "TranslationCache",
    "Walk",
    "WalkStep",
]

ADDRESS_LIMIT = 1 << 32
_IN_PAGE = PAGE_SIZE - 1
_CHUNK = 1 << 16  # batch elements per pass: keeps temporaries in cache
# Pages the translation cache remembers: all of VMALLOC, pkmap and fixmap (at most
# 128 MiB, 32k pages) fit, and at ~100 bytes a page it stays a few MiB.
TLB_PAGES = 1 << 16
# Decoded tables the walker keeps, and pte tables the translation cache holds.
CACHE_TABLES = 256
_SMALL_LEVEL = 64  # levels with at most this many slots read every present table


def _array_code(size: int) -> str:
    """The ``array`` typecode of unsigned ``size``-byte items: decoded tables stay compact."""
    return next(c for c in "BHILQ" if array.array(c).itemsize == size)


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
        return bool(self.value & _PAGE_PRESENT)


class _WalkFields:
    """The fields of a :class:`Walk`, as slots. Where the C forms were built its base is
    ``vmintro._speedups.WalkFields`` instead: the same fields, of which the walks C's
    follow_pte makes leave ``paddr`` and ``_trail`` as C numbers until they are read."""

    __slots__ = (
        "_levels",
        "_lowmem_size",
        "_trail",
        "entry_size",
        "fault",
        "page_size",
        "paddr",
        "pgd",
        "vaddr",
    )


if TYPE_CHECKING:
    _WalkBase = _WalkFields
else:
    _WalkBase = _WalkFields if speedups is None else speedups.WalkFields


class Walk(_WalkBase):
    """Every level of one translation, then its physical address or the fault.

    ``steps`` (a list of :class:`WalkStep`) is made from the entries read the first
    time it is asked for: a walk whose caller wants only ``paddr`` or ``fault``
    makes none.
    """

    __slots__ = ("_steps",)
    vaddr: int
    pgd: int  # physical address of the top-level table
    entry_size: int
    paddr: int | None
    page_size: int
    fault: FaultError | None
    _steps: list[WalkStep] | None
    _trail: tuple[int, ...]  # (table's physical address, entry) of each level read
    _levels: tuple[Level, ...]
    _lowmem_size: int

    def __init__(
        self,
        vaddr: int,
        pgd: int,
        entry_size: int,
        steps: list[WalkStep] | None = None,
        paddr: int | None = None,
        page_size: int = PAGE_SIZE,
        fault: FaultError | None = None,
    ) -> None:
        self.vaddr = vaddr
        self.pgd = pgd
        self.entry_size = entry_size
        self.paddr = paddr
        self.page_size = page_size
        self.fault = fault
        self._steps = [] if steps is None else steps
        self._trail = ()
        self._levels = ()
        self._lowmem_size = 0

    @property
    def steps(self) -> list[WalkStep]:
        """One :class:`WalkStep` per entry read, from the top level down."""
        steps = self._steps
        if steps is None:
            steps = self._steps = self._make_steps()
        return steps

    def _make_steps(self) -> list[WalkStep]:
        """The steps of ``_trail``: (table's physical address, entry) of each level read."""
        steps = []
        trail = self._trail
        for n in range(len(trail) // 2):
            base, entry = trail[2 * n], trail[2 * n + 1]
            level = self._levels[n]
            index = level.index(self.vaddr)
            paddr = base + index * self.entry_size
            vaddr = PAGE_OFFSET + paddr if paddr < self._lowmem_size else None
            large = level.large and bool(entry & _PAGE_PRESENT) and bool(entry & _PAGE_PSE)
            bits = decode_entry_bits(entry, large=level.large)
            steps.append(WalkStep(level.name, index, paddr, vaddr, entry, bits, large))
        return steps

    @property
    def large(self) -> bool:
        return self.paddr is not None and self.page_size > PAGE_SIZE

    def __repr__(self) -> str:
        return (
            f"Walk(vaddr={self.vaddr!r}, pgd={self.pgd!r}, entry_size={self.entry_size!r}, "
            f"steps={self.steps!r}, paddr={self.paddr!r}, page_size={self.page_size!r}, "
            f"fault={self.fault!r})"
        )

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


class TranslationCache:
    """The translation cache of one program: what translating a kernel address needs
    without a walk, and :meth:`translate`, which uses it.

    Like the MMU, it keeps a TLB: :attr:`tlb` maps the virtual page number of every
    page translated through ``swapper_pg_dir`` to ``physical page - virtual page``,
    so translating that page again is one dictionary lookup. Faults are never
    cached. Up to :attr:`tlb_max` pages are kept; past that the TLB starts again
    empty (a flush, as on a CR3 reload), which keeps it small whatever a caller
    walks. A TLB miss in a span whose last-level table a walk already read (the
    MMU's paging-structure cache, :attr:`spans`) reads the entry from that table
    without walking the levels above it again. Lowmem needs neither: it is the
    direct map, ``vaddr - lowmem_start`` below :attr:`lowmem_end`.

    :class:`PageWalker` owns the cache and fills it; :meth:`PageWalker.clear_cache`
    empties it. ``Program.translate`` is :meth:`translate`, or the
    ``vmintro._speedups.Translator`` made from this object, which does the same in C
    and reads these attributes, its whole interface, once when it is made:

    ``tlb``, ``spans``
        the two dicts above, emptied in place and never replaced; a span's key is
        ``vaddr >> span_shift``, its table an ``array`` of unsigned
        ``entry_size``-byte entries in the machine's byte order, indexed by
        ``(vaddr >> page_shift) & span_mask``
    ``tlb_max``
        the TLB is emptied before it would hold more pages than this
    ``lowmem_start``, ``lowmem_end``
        the direct map
    ``page_shift``, ``present``, ``phys_mask``, ``entry_size``
        the paging mode's page size, PRESENT bit, frame bits and entry width
    ``translate``
        this object's :meth:`translate`, called for anything the C form does not
        answer itself (a miss, a fault, an argument that is not a plain int)
    ``on_clear``
        a list to which the C form adds its ``flush``, which :meth:`clear` calls:
        it remembers recent answers of its own
    """

    def __init__(
        self,
        mode: PagingMode,
        lowmem_end: int,
        walk: Callable[[int], int],
        tlb_pages: int = TLB_PAGES,
        span_tables: int = CACHE_TABLES,
    ) -> None:
        self.mode = mode
        self.walk = walk  # translates a miss through swapper_pg_dir, filling this cache
        self.lowmem_start = PAGE_OFFSET
        self.lowmem_end = lowmem_end
        self.tlb: dict[int, int] = {}
        self.tlb_max = tlb_pages
        self.spans: dict[int, array.array[int]] = {}
        self.span_max = span_tables
        last = mode.levels[-1]
        self.page_shift = last.shift
        self.span_shift = last.shift + last.bits
        self.span_mask = last.entries - 1
        self.present = _PAGE_PRESENT
        self.phys_mask = mode.phys_mask
        self.entry_size = mode.entry_size
        self.on_clear: list[Callable[[], object]] = []  # what else clear() empties

    def translate(self, vaddr: int) -> int:
        """Physical address of kernel virtual address ``vaddr``.

        :raises FaultError: naming the page-table entry that is not present.
        """
        if self.lowmem_start <= vaddr < self.lowmem_end:
            return vaddr - self.lowmem_start
        delta = self.tlb.get(vaddr >> PAGE_SHIFT)
        if delta is not None:
            return vaddr + delta
        return self.walk(vaddr)

    def lookup(self, vaddr: int) -> int | None:
        """``vaddr``'s physical address from the TLB, or from the table held for its
        span (then remembered in the TLB); None when neither knows it as present.
        """
        delta = self.tlb.get(vaddr >> PAGE_SHIFT)
        if delta is not None:
            return vaddr + delta
        table = self.spans.get(vaddr >> self.span_shift)
        if table is not None:
            entry = table[(vaddr >> PAGE_SHIFT) & self.span_mask]
            if entry & _PAGE_PRESENT:
                return self.remember(vaddr, (entry & self.phys_mask) | (vaddr & _IN_PAGE))
        return None  # not present: the walk names the entry in its error

    def remember(self, vaddr: int, paddr: int) -> int:
        """Put ``vaddr``'s page in the TLB; returns ``paddr``."""
        tlb = self.tlb
        if len(tlb) >= self.tlb_max:
            tlb.clear()
        tlb[vaddr >> PAGE_SHIFT] = paddr - vaddr  # same in-page offset: a page delta
        return paddr

    def hold(self, vaddr: int, table: array.array[int]) -> None:
        """Keep ``table``, the last-level table a walk of ``vaddr`` read, for its span."""
        spans = self.spans
        if len(spans) >= self.span_max:
            spans.clear()
        spans[vaddr >> self.span_shift] = table

    def clear(self) -> None:
        """Forget every page and table (in place: the C form holds the same dicts,
        and remembers its own answers until its flush is called)."""
        self.tlb.clear()
        self.spans.clear()
        for flush in self.on_clear:
            flush()


class PageWalker:
    """Walks page tables in physical memory, keeping recently used tables decoded.

    The decoded tables are an LRU of ``cache_tables`` tables keyed by physical
    address: a dump does not change, and nearby addresses share their tables, so a
    run of translations in one area reads each table once. What translating
    through ``swapper_pg_dir`` found is kept in :attr:`cache`, the program's
    :class:`TranslationCache`; a walk from another table is not.
    """

    def __init__(
        self,
        read_phys: Callable[[int, int], bytes],
        mode: PagingMode,
        pgd: int,
        lowmem_size: int,
        cache_tables: int = CACHE_TABLES,
        tlb_pages: int = TLB_PAGES,
    ) -> None:
        self.read_phys = read_phys
        self.paging = mode
        self.pgd = pgd
        self.levels = mode.levels
        self.lowmem_size = lowmem_size
        self.entry_size = mode.entry_size
        self._code = _array_code(mode.entry_size)
        self._phys_mask = mode.phys_mask
        self._cache: OrderedDict[int, array.array[int]] = OrderedDict()
        self._cache_max = cache_tables
        self.cache = TranslationCache(
            mode, PAGE_OFFSET + lowmem_size, self.translate, tlb_pages, cache_tables
        )
        # Per level: what the hot loop needs, precomputed once.
        self._plan = tuple(
            (
                n,
                lv.shift,
                lv.entries - 1,
                lv.large,
                self._phys_mask & ~(lv.size - 1),
                lv.size - 1,
            )
            for n, lv in enumerate(self.levels)
        )
        self._in_page = self.levels[-1].size - 1

    def clear_cache(self) -> None:
        """Forget decoded tables and the translation cache (needed only if the memory
        underneath changes).
        """
        self._cache.clear()
        self.cache.clear()

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
        """Physical address of ``vaddr`` through the page tables (lowmem included),
        from ``swapper_pg_dir`` unless ``pgd`` gives another table's physical address.

        :raises FaultError: naming the entry that is not present.
        """
        if not 0 <= vaddr < ADDRESS_LIMIT:
            raise FaultError(vaddr, f"read of {vaddr:#x}: not a 32-bit address")
        if pgd is None:
            known = self.cache.lookup(vaddr)
            if known is not None:
                return known
            base = self.pgd
        else:
            base = pgd
        cache = self._cache
        for n, shift, mask, large, large_mask, offset_mask in self._plan:
            held = cache.get(base * 4 + n)
            if held is None:
                entries = self._load(base, n, vaddr)
            else:
                entries = held
                cache.move_to_end(base * 4 + n)
            entry = entries[(vaddr >> shift) & mask]
            if not entry & _PAGE_PRESENT:
                raise self._not_present(vaddr, n, base, (vaddr >> shift) & mask, entry)
            if large and entry & _PAGE_PSE:
                paddr = (entry & large_mask) | (vaddr & offset_mask)
                break
            base = entry & self._phys_mask
        else:
            paddr = base | (vaddr & self._in_page)
            if pgd is None:
                self.cache.hold(vaddr, entries)  # the last-level table just read
        if pgd is None:
            return self.cache.remember(vaddr, paddr)
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
        """``follow_pte``: every entry read on the way to ``vaddr``; never raises for a fault.

        The entries are kept as read (the table's physical address and the entry, per
        level); the :class:`Walk` makes its steps of them when they are asked for.
        """
        base = self.pgd if pgd is None else pgd
        walk = Walk.__new__(Walk)
        walk.vaddr = vaddr
        walk.pgd = base
        walk.entry_size = self.entry_size
        walk.paddr = walk.fault = walk._steps = None
        walk.page_size = PAGE_SIZE
        walk._levels = self.levels
        walk._lowmem_size = self.lowmem_size
        trail: list[int] = []
        if not 0 <= vaddr < ADDRESS_LIMIT:
            walk.fault = FaultError(vaddr, f"read of {vaddr:#x}: not a 32-bit address")
            walk._trail = ()
            return walk
        cache = self._cache
        for n, shift, mask, large, large_mask, offset_mask in self._plan:
            entries = cache.get(base * 4 + n)
            if entries is None:
                try:
                    entries = self._load(base, n, vaddr)
                except FaultError as e:
                    walk.fault = e
                    break
            index = (vaddr >> shift) & mask
            entry = entries[index]
            trail += (base, entry)
            if not entry & _PAGE_PRESENT:
                walk.fault = self._not_present(vaddr, n, base, index, entry)
                break
            if large and entry & _PAGE_PSE:
                walk.page_size = offset_mask + 1
                walk.paddr = (entry & large_mask) | (vaddr & offset_mask)
                break
            base = entry & self._phys_mask
        else:
            walk.paddr = base | (vaddr & self._in_page)
        walk._trail = tuple(trail)
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
        import numpy as np  # numpy only for batches: opening an image needs none

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
        import numpy as np

        dense = [self._table_array(pgd, 0).astype(np.int64)]
        last = len(self.levels) - 1
        leaf: tuple[np.ndarray, np.ndarray] | None = None
        for n, level in enumerate(self.levels[:-1]):
            parent = dense[-1]
            child = self.levels[n + 1]
            wanted = (parent & _PAGE_PRESENT) != 0
            if level.large:
                wanted &= (parent & _PAGE_PSE) == 0
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
        import numpy as np

        last = self.levels[-1]
        row_of, rows = leaf
        index = row_of[v >> (last.shift + last.bits)] * last.entries
        index += (v >> last.shift) & (last.entries - 1)
        entry = rows[index]
        out = np.where(entry & _PAGE_PRESENT, (entry & self._phys_mask) | (v & self._in_page), -1)
        for level, table in zip(self.levels[:-1], dense, strict=True):
            if not level.large:
                continue
            entry = table[v >> level.shift]
            size = level.size
            large = (entry & (_PAGE_PRESENT | _PAGE_PSE)) == (_PAGE_PRESENT | _PAGE_PSE)
            if large.any():
                phys = (entry & (self._phys_mask & ~(size - 1))) | (v & (size - 1))
                out = np.where(large, phys, out)
        if direct_map is not None:
            start, end = direct_map
            low = (v >= start) & (v < end)
            out = np.where(low, v - start, out)
        return out

    def _table_array(self, base: int, level: int) -> np.ndarray:
        import numpy as np

        n = self.levels[level].entries
        raw = self.read_phys(base, n * self.entry_size)
        return np.frombuffer(raw, dtype=np.dtype(self.paging.entry_format))
