"""What :func:`vmintro.timeline.diff.diff` reads from each side: changed pages first,
then only the page tables and ``struct page`` entries those pages hold.

Two moments of one timeline differ only in the frames the entries between them
wrote (the timeline says which); two images only in the frames their cores store
(a frame neither stores is zeros in both). Those frames are compared page by page
with numpy, and everything structural is decoded only where a page differs: a
page table whose frame is unchanged in both is not read at all, a ``struct page``
only where its bytes lie in a changed frame of ``mem_map``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vmintro.arch.paging import PTE_BITS
from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import FaultError, VmintroError

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = [
    "MappingEntry",
    "TableMove",
    "changed_frames",
    "compare_page_tables",
    "moment_shown",
    "read_page_fields",
    "timeline_span",
]

_PRESENT = PTE_BITS["PRESENT"]
_PSE = PTE_BITS["PSE"]
# Bytes compared at once: big enough for numpy, small enough for memory.
_CHUNK = 16 << 20


def timeline_span(a: Program, b: Program) -> np.ndarray | None:
    """The frames written between two moments of one timeline (sorted, unique), or
    None unless ``a`` and ``b`` are moments of the same image (``prog.at(n)``, or the
    image itself) and its timeline can be read.

    Only those frames can differ: each moment is the image's RAM with the writes
    after it undone. Two programs of different images never load their timelines.
    """
    from vmintro.timeline.moments import root_of

    if root_of(a) is not root_of(b):
        return None
    try:
        timeline = a.timeline
        ma, mb = a.moment, b.moment
    except (VmintroError, ValueError):
        return None  # a damaged timeline: compare the memory instead
    if timeline is None or ma is None or mb is None:
        return None
    lo, hi = min(ma, mb), max(ma, mb)
    entries = timeline.writes["entry"]
    # records are sorted by entry: the span is one slice
    first, last = np.searchsorted(entries, [lo + 1, hi + 1], side="left")
    return np.unique(timeline.writes["pfn"][first:last].astype(np.int64))


def moment_shown(prog: Program) -> int | None:
    """The entry a moment (``prog.at(n)``) shows, without loading a timeline; None
    for an image itself."""
    moment = getattr(prog.backend, "moment", None)
    return moment if isinstance(moment, int) else None


def _stored_ranges(prog: Program) -> list[tuple[int, int]]:
    """(start, end) of the physical memory the program's backend may hold non-zero:
    what an image's core stores, or all of RAM where the backend cannot say.
    """
    ranges = getattr(prog.backend, "stored_ranges", None)
    if ranges is not None:
        return [(s, e) for s, e in ranges() if e > s]
    return [(0, prog.ram_size)]


def _stored_frames(prog: Program, frames: int) -> np.ndarray:
    """A frame-indexed map of the frames ``prog``'s backend stores (may be non-zero)."""
    stored = np.zeros(frames, dtype=bool)
    for start, end in _stored_ranges(prog):
        stored[start >> PAGE_SHIFT : -(-end // PAGE_SIZE)] = True
    return stored


def _differing(a: Program, b: Program | None, runs: Iterator[tuple[int, int]]) -> np.ndarray:
    """The frames of ``runs`` whose bytes differ between ``a`` and ``b`` (with ``b``
    None: that are not all zeros in ``a``), read in chunks."""
    found: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    frames = _CHUNK >> PAGE_SHIFT
    for first, end in runs:
        for lo in range(first, end, frames):
            hi = min(lo + frames, end)
            size = (hi - lo) << PAGE_SHIFT
            x = np.frombuffer(a.read(lo << PAGE_SHIFT, size, physical=True), dtype=np.uint64)
            if b is None:
                differ = x.reshape(-1, PAGE_SIZE // 8).any(axis=1)
            else:
                y = np.frombuffer(b.read(lo << PAGE_SHIFT, size, physical=True), dtype=np.uint64)
                differ = (x != y).reshape(-1, PAGE_SIZE // 8).any(axis=1)
            found.append(np.flatnonzero(differ) + lo)
    return np.concatenate(found)


def changed_frames(a: Program, b: Program, candidates: np.ndarray | None = None) -> np.ndarray:
    """The frames that differ between ``a`` and ``b`` (sorted ``int64``).

    With ``candidates`` (a timeline's span: the frames the entries between two
    moments wrote) those frames, unread: nothing else can differ. Otherwise every
    frame either backend stores is compared, a frame only one stores against zeros.
    """
    frames = min(a.ram_size, b.ram_size) >> PAGE_SHIFT
    if candidates is not None:
        return candidates[candidates < frames]
    stored_a, stored_b = _stored_frames(a, frames), _stored_frames(b, frames)
    both = _differing(a, b, _runs(np.flatnonzero(stored_a & stored_b)))
    only_a = _differing(a, None, _runs(np.flatnonzero(stored_a & ~stored_b)))
    only_b = _differing(b, None, _runs(np.flatnonzero(stored_b & ~stored_a)))
    return np.unique(np.concatenate((both, only_a, only_b)))


# -- page tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingEntry:
    """A page-table entry that maps memory (a pte, or a large pgd/pmd entry) whose value
    differs: at kernel virtual address ``vaddr``, in a table of level ``level``."""

    vaddr: int
    level: str
    old: int
    new: int
    large: bool


@dataclass(frozen=True)
class TableMove:
    """A page table below ``swapper_pg_dir`` that one side has and the other has not
    (or at another frame): the entry at ``vaddr`` of level ``parent`` points to it."""

    vaddr: int
    level: str  # the table's level: "pmd", "pte"
    old_pfn: int | None
    new_pfn: int | None


def compare_page_tables(
    a: Program, b: Program, changed: np.ndarray, errors: list[str]
) -> tuple[list[MappingEntry], list[TableMove]]:
    """Every mapping entry of ``swapper_pg_dir`` over the kernel range (``PAGE_OFFSET``
    up) that differs, and every table one side has and the other has not.

    A table both sides hold at the same frame is read only when that frame changed.
    A table that cannot be read (outside RAM) is named in ``errors`` and read as empty.
    """
    changed_set = set(changed.tolist())
    mode = a.paging
    dtype = np.dtype(mode.entry_format)
    mappings: list[MappingEntry] = []
    moves: list[TableMove] = []

    def table(prog: Program, paddr: int | None, level: int) -> np.ndarray:
        n = mode.levels[level].entries
        if paddr is None:
            return np.zeros(n, dtype=dtype)
        try:
            raw = prog.read(paddr, n * dtype.itemsize, physical=True)
        except FaultError:
            errors.append(f"{mode.levels[level].name} table at physical {paddr:#x} is outside RAM")
            return np.zeros(n, dtype=dtype)
        return np.frombuffer(raw, dtype=dtype)

    def child(entry: int, level: int) -> int | None:
        """The next table an entry points to; None for one that maps or is absent."""
        lv = mode.levels[level]
        if level == len(mode.levels) - 1 or not entry & _PRESENT:
            return None
        if lv.large and entry & _PSE:
            return None
        return entry & mode.phys_mask

    def visit(level: int, base: int, pa: int | None, pb: int | None) -> None:
        lv = mode.levels[level]
        ea, eb = table(a, pa, level), table(b, pb, level)
        first = 0
        if level == 0:  # the kernel's part of swapper_pg_dir only
            first = PAGE_OFFSET >> lv.shift
        last_level = level == len(mode.levels) - 1
        # a table of the last level holds only entries: unchanged, it needs no reading
        leaf_below = level + 2 == len(mode.levels)
        if last_level:
            for i in (np.flatnonzero(ea[first:] != eb[first:]) + first).tolist():
                mappings.append(
                    MappingEntry(base + (i << lv.shift), lv.name, int(ea[i]), int(eb[i]), False)
                )
            return
        # upper level: entries that point to a table on either side, or differ
        tables_a = (ea & _PRESENT) != 0
        tables_b = (eb & _PRESENT) != 0
        if lv.large:
            tables_a &= (ea & _PSE) == 0
            tables_b &= (eb & _PSE) == 0
        interesting = (ea != eb) | tables_a | tables_b
        interesting[:first] = False
        for i in np.flatnonzero(interesting).tolist():
            va = base + (i << lv.shift)
            old, new = int(ea[i]), int(eb[i])
            ca, cb = child(old, level), child(new, level)
            if ca is None and cb is None:
                mappings.append(MappingEntry(va, lv.name, old, new, True))
                continue
            if ca is None or cb is None:
                # a large mapping one side has where the other has a table
                if old != new and (ca is None and old & _PRESENT or cb is None and new & _PRESENT):
                    mappings.append(
                        MappingEntry(
                            va, lv.name, old if ca is None else 0, new if cb is None else 0, True
                        )
                    )
            below = mode.levels[level + 1].name
            if ca != cb:
                moves.append(
                    TableMove(
                        va,
                        below,
                        None if ca is None else ca >> PAGE_SHIFT,
                        None if cb is None else cb >> PAGE_SHIFT,
                    )
                )
            elif leaf_below and ca is not None and ca >> PAGE_SHIFT not in changed_set:
                continue  # the same pte table, untouched: none of its entries differs
            visit(level + 1, va, ca, cb)

    visit(0, 0, a.swapper_pg_dir, b.swapper_pg_dir)
    return mappings, moves


# -- struct page -------------------------------------------------------------------------


def read_page_fields(
    prog: Program, pfns: np.ndarray, fields: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """The 32-bit ``struct page`` members ``fields`` (``"flags"``, ``"count"``) of
    frames ``pfns`` (sorted, unique, below ``max_mapnr``), each array aligned with it.

    Only the frames of ``mem_map`` that hold those entries are read, run by run.
    """
    page_t = prog.type("struct page")
    size = page_t.size
    mem_map_phys = prog["mem_map"].value_() - PAGE_OFFSET
    offsets = [page_t.offsetof(f) for f in fields]  # type: ignore[attr-defined]
    out = {f: np.zeros(len(pfns), dtype=np.int64) for f in fields}
    if not len(pfns):
        return out
    for f, off in zip(fields, offsets, strict=True):
        addr = mem_map_phys + pfns * size + off
        out[f] = _gather_u32(prog, addr)
    return out


def _gather_u32(prog: Program, paddrs: np.ndarray) -> np.ndarray:
    """The 32-bit words at physical ``paddrs`` (4-aligned), reading each frame once."""
    frames = np.unique(paddrs >> PAGE_SHIFT)
    buf = bytearray()
    for lo, hi in _runs(frames):
        buf += prog.read(lo << PAGE_SHIFT, (hi - lo) << PAGE_SHIFT, physical=True)
    words = np.frombuffer(bytes(buf), dtype="<u4")
    rank = np.searchsorted(frames, paddrs >> PAGE_SHIFT)
    return words[(rank << (PAGE_SHIFT - 2)) + ((paddrs & (PAGE_SIZE - 1)) >> 2)].astype(np.int64)


def _runs(sorted_ints: np.ndarray) -> Iterator[tuple[int, int]]:
    """(first, end) of each run of consecutive values."""
    if not len(sorted_ints):
        return
    breaks = np.flatnonzero(np.diff(sorted_ints) != 1) + 1
    starts = np.concatenate(([0], breaks)).tolist()
    ends = np.concatenate((breaks, [len(sorted_ints)])).tolist()
    for s, e in zip(starts, ends, strict=True):
        yield int(sorted_ints[s]), int(sorted_ints[e - 1]) + 1
