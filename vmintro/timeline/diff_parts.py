"""Reading each part of a :func:`~vmintro.timeline.diff.diff` from the two programs, and
turning what each side holds into changes (:mod:`.diff_result`).

Everything is read through the library's helpers (``for_each_vm_area``,
``for_each_free_area``, ``for_each_module``, ...) and the page scan of
:mod:`.diff_scan`; a part that cannot be read whole (a corrupt list) adds one line to
``errors`` and keeps what it read, so the other parts are complete.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import CorruptionError, FaultError
from vmintro.escape import escape_text
from vmintro.helpers import (
    MAX_ORDER,
    for_each_free_area,
    for_each_module,
    for_each_vm_area,
    for_each_zone,
    module_name,
    zone_name,
)
from vmintro.timeline.diff_result import (
    AreaChange,
    FrameChange,
    FreeAreaChange,
    ModuleChange,
    PageChange,
    PteChange,
    SwapChange,
    TableChange,
    ZoneChange,
)
from vmintro.timeline.diff_scan import compare_page_tables, read_page_fields
from vmintro.types.flags import MAX_SWAPFILES, PG_slab

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = [
    "Areas",
    "area_changes",
    "buddy_changes",
    "module_changes",
    "note",
    "page_table_changes",
    "read_areas",
    "read_zones",
    "swap_changes",
]

_PRESENT = 1
# addr -> (vm_struct, size, flags) of each area on vmlist
Areas = dict[int, tuple[int, int, int]]


def note(errors: list[str], what: str, why: str | None) -> None:
    """Add ``what: why`` to ``errors`` (one line, escaped) when a part stopped early."""
    if why is not None:
        errors.append(f"{what}: {escape_text(' '.join(why.split()))}")


def page_table_changes(
    a: Program, b: Program, changed: np.ndarray, errors: list[str]
) -> tuple[list[PteChange], list[TableChange]]:
    """The mapping entries of ``swapper_pg_dir`` that differ, and the tables allocated,
    freed or moved (:func:`~.diff_scan.compare_page_tables`)."""
    table_errors: list[str] = []
    mappings, moves = compare_page_tables(a, b, changed, table_errors)
    for e in table_errors:
        note(errors, "swapper_pg_dir", e)
    mode = a.paging
    ptes = []
    for m in mappings:
        kind = (
            "set"
            if not m.old & _PRESENT and m.new & _PRESENT
            else "cleared"
            if m.old & _PRESENT and not m.new & _PRESENT
            else "changed"
        )
        pfn_old = mode.pte_pfn(m.old) if m.old & _PRESENT else None
        pfn_new = mode.pte_pfn(m.new) if m.new & _PRESENT else None
        ptes.append(PteChange(m.vaddr, m.level, kind, m.old, m.new, pfn_old, pfn_new))
    tables = []
    for t in moves:
        kind = "allocated" if t.old_pfn is None else "freed" if t.new_pfn is None else "moved"
        tables.append(TableChange(kind, t.level, t.vaddr, t.old_pfn, t.new_pfn))
    return ptes, tables


def buddy_changes(
    a: Program,
    b: Program,
    changed: np.ndarray,
    pages: int,
    areas: tuple[Areas, Areas],
    ptes: list[PteChange],
    tables: list[TableChange],
    errors: list[str],
) -> tuple[list[FreeAreaChange], list[ZoneChange], list[PageChange], list[FrameChange]]:
    """The free-list counts per zone and order, each zone's ``free_pages``, the
    ``struct page`` flags and counts, and the blocks of frames taken and given back
    (below ``pages``, ``max_mapnr``), with what took them."""
    counts_a, blocks_a, why_a = _free_blocks(a)
    counts_b, blocks_b, why_b = _free_blocks(b)
    note(errors, "free lists (old)", why_a)
    note(errors, "free lists (new)", why_b)
    free_area = []
    for key in sorted(counts_a.keys() | counts_b.keys(), key=_zone_order(a)):
        before, after = counts_a.get(key, 0), counts_b.get(key, 0)
        if before != after:
            free_area.append(FreeAreaChange(key[0], key[1], before, after))
    zones_a, zones_b = read_zones(a), read_zones(b)
    zones = [
        ZoneChange(name, pages_a, pages_b)
        for (name, _f, _s, pages_a), (_n, _fb, _sb, pages_b) in zip(zones_a, zones_b, strict=False)
        if pages_a != pages_b
    ]
    free_a, free_b = _free_map(blocks_a, pages), _free_map(blocks_b, pages)
    allocated = np.flatnonzero(free_a & ~free_b)
    freed = np.flatnonzero(free_b & ~free_a)
    # struct page: what changed bytes hold, and every frame taken or given back
    indices = np.union1d(_page_indices(a, changed, pages), np.union1d(allocated, freed))
    fa = read_page_fields(a, indices, ("flags", "count"))
    fb = read_page_fields(b, indices, ("flags", "count"))
    moved = np.flatnonzero((fa["flags"] != fb["flags"]) | (fa["count"] != fb["count"]))
    page_changes = [
        PageChange(pfn, f0, f1, c0, c1)
        for pfn, f0, f1, c0, c1 in zip(
            indices[moved].tolist(),
            fa["flags"][moved].tolist(),
            fb["flags"][moved].tolist(),
            fa["count"][moved].tolist(),
            fb["count"][moved].tolist(),
            strict=True,
        )
    ]
    zone_of = _zone_lookup(zones_b)
    frames = []
    for kind, pfns, side, uses in (
        ("allocated", allocated, fb, _uses(ptes, tables, areas[1], new_side=True)),
        ("freed", freed, fa, _uses(ptes, tables, areas[0], new_side=False)),
    ):
        at = np.searchsorted(indices, pfns)
        # a slab page says so in its flags, on the side where it is in use
        slab = dict.fromkeys(
            pfns[(side["flags"][at] & PG_slab) != 0].tolist(), ("slab", None, None)
        )
        for pfn, order in _blocks(pfns, side["count"][at], pages):
            use, vaddr, area = uses.get(pfn) or slab.get(pfn) or ("", None, None)
            frames.append(FrameChange(kind, pfn, order, zone_of(pfn), use, vaddr, area))
    return free_area, zones, page_changes, frames


def module_changes(a: Program, b: Program, errors: list[str]) -> list[ModuleChange]:
    """Modules on ``module_list`` added, removed or changed, by ``struct module``."""
    mods_a, why_a = _modules(a)
    mods_b, why_b = _modules(b)
    note(errors, "module_list (old)", why_a)
    note(errors, "module_list (new)", why_b)
    out = []
    for addr in sorted(mods_a.keys() | mods_b.keys()):
        ma, mb = mods_a.get(addr), mods_b.get(addr)
        if ma is None and mb is not None:
            out.append(ModuleChange("added", addr, mb["name"], mb["size"]))
        elif mb is None and ma is not None:
            out.append(ModuleChange("removed", addr, ma["name"], ma["size"]))
        elif ma is not None and mb is not None and ma != mb:
            out.append(ModuleChange("changed", addr, mb["name"], mb["size"], _changes(ma, mb)))
    return out


def swap_changes(a: Program, b: Program, errors: list[str]) -> list[SwapChange]:
    """``swap_info`` slots switched on, off or changed, and the swap counters."""
    try:
        slots_a, counters_a = _swap(a)
        slots_b, counters_b = _swap(b)
    except (CorruptionError, FaultError) as e:
        note(errors, "swap_info", str(e))
        return []
    out = []
    for i in sorted(slots_a.keys() | slots_b.keys()):
        sa, sb = slots_a.get(i, {}), slots_b.get(i, {})
        kind = "on" if not sa else "off" if not sb else "changed"
        if sa != sb:
            out.append(SwapChange(kind, i, _changes(sa, sb)))
    if counters_a != counters_b:
        out.append(SwapChange("changed", None, _changes(counters_a, counters_b)))
    return out


def read_zones(prog: Program) -> list[tuple[str, int, int, int]]:
    """(name, first pfn, pages, free_pages) of every zone of node 0, empty ones included."""
    out = []
    for zone in for_each_zone(prog):
        value = zone.deref().read_()
        out.append(
            (
                zone_name(zone),
                value.zone_start_mapnr.value_(),
                value.size.value_(),
                value.free_pages.value_(),
            )
        )
    return out


def read_areas(prog: Program) -> tuple[Areas, str | None]:
    """addr -> (vm_struct, size, flags) of every area, and why the walk stopped early."""
    out: dict[int, tuple[int, int, int]] = {}
    try:
        for area in for_each_vm_area(prog):
            out[area.addr.value_()] = (area.value_(), area.size.value_(), area.flags.value_())
    except (CorruptionError, FaultError) as e:
        return out, str(e)
    return out, None


def _free_blocks(
    prog: Program,
) -> tuple[dict[tuple[str, int], int], list[tuple[int, int]], str | None]:
    """(blocks per (zone, order), every free block as (pfn, order), why a walk stopped)."""
    counts: dict[tuple[str, int], int] = {}
    blocks: list[tuple[int, int]] = []
    mem_map = prog["mem_map"].value_()
    size = prog.type("struct page").size
    try:
        for zone in for_each_zone(prog):
            name = zone_name(zone)
            if not zone.size.value_():
                continue
            for order in range(MAX_ORDER):
                counts[(name, order)] = 0
            for order, page in for_each_free_area(prog, zone):
                counts[(name, order)] += 1
                blocks.append(((page.value_() - mem_map) // size, order))
    except (CorruptionError, FaultError) as e:
        return counts, blocks, str(e)
    return counts, blocks, None


def _free_map(blocks: list[tuple[int, int]], pages: int) -> np.ndarray:
    """A frame-by-frame map of what the free lists hold."""
    free = np.zeros(pages, dtype=bool)
    if blocks:
        arr = np.array(blocks, dtype=np.int64)
        ok = (arr[:, 0] >= 0) & (arr[:, 0] + (1 << arr[:, 1]) <= pages)
        arr = arr[ok]
        lengths = 1 << arr[:, 1]
        first = np.repeat(arr[:, 0], lengths)
        nth = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(lengths) - lengths, lengths
        )
        free[first + nth] = True
    return free


def _blocks(pfns: np.ndarray, counts: np.ndarray, limit: int) -> Iterator[tuple[int, int]]:
    """(first pfn, order) of the blocks ``pfns`` (sorted) form, as the allocator hands
    them out: a block of order k starts at a multiple of 2**k, its first page counted
    (``set_page_count(page, 1)``) and the rest left at 0. ``counts`` is each frame's
    count on the side where it is in use, ``limit`` the frames there are.
    """
    i = 0
    n = len(pfns)
    plist = pfns.tolist()
    clist = counts.tolist()
    while i < n:
        pfn = plist[i]
        order = 0
        if clist[i] != 0:
            while order + 1 < MAX_ORDER:
                size = 2 << order
                if pfn % size or pfn + size > limit or i + size > n:
                    break
                if plist[i + size - 1] != pfn + size - 1:  # not all taken
                    break
                if any(clist[i + 1 : i + size]):
                    break
                order += 1
        yield pfn, order
        i += 1 << order


def _page_indices(prog: Program, changed: np.ndarray, pages: int) -> np.ndarray:
    """The frames whose ``struct page`` has bytes in a changed frame of ``mem_map``."""
    size = prog.type("struct page").size
    start = prog["mem_map"].value_() - PAGE_OFFSET
    end = start + pages * size
    frames = changed[(changed >= start >> PAGE_SHIFT) & (changed <= (end - 1) >> PAGE_SHIFT)]
    if not len(frames):
        return np.zeros(0, dtype=np.int64)
    lo = np.maximum((frames * PAGE_SIZE - start) // size, 0)
    hi = np.minimum(((frames + 1) * PAGE_SIZE - start - 1) // size, pages - 1)
    lengths = hi - lo + 1
    first = np.repeat(lo, lengths)
    nth = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(lengths) - lengths, lengths
    )
    return np.unique(first + nth)


def _modules(prog: Program) -> tuple[dict[int, dict[str, Any]], str | None]:
    out: dict[int, dict[str, Any]] = {}
    try:
        for mod in for_each_module(prog):
            out[mod.value_()] = {
                "name": module_name(mod),
                "size": mod.size.value_(),
                "usecount": mod.uc.usecount.counter.value_(),
                "flags": mod.flags.value_(),
                "nsyms": mod.nsyms.value_(),
                "ndeps": mod.ndeps.value_(),
            }
    except (CorruptionError, FaultError) as e:
        return out, str(e)
    return out, None


_SWAP_MEMBERS = (
    "flags",
    "swap_device",
    "prio",
    "pages",
    "max",
    "swap_map",
    "lowest_bit",
    "highest_bit",
    "next",
)
_SWAP_COUNTERS = ("nr_swapfiles", "total_swap_pages", "nr_swap_pages")


def _swap(prog: Program) -> tuple[dict[int, dict[str, int]], dict[str, int]]:
    """Each ``swap_info`` slot in use (``SWP_USED``) below ``nr_swapfiles`` (at most
    ``MAX_SWAPFILES``): its members; and the swap counters."""
    counters = {name: prog[name].value_() for name in _SWAP_COUNTERS if name in prog}
    slots: dict[int, dict[str, int]] = {}
    if "swap_info" not in prog:
        return slots, counters
    info = prog["swap_info"]
    for i in range(min(counters.get("nr_swapfiles", 0), MAX_SWAPFILES)):
        value = info[i].read_()
        members = {m: value.member_(m).value_() for m in _SWAP_MEMBERS}
        if members["flags"] & 1:  # SWP_USED
            slots[i] = members
    return slots, counters


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        k: (old.get(k), new.get(k)) for k in old.keys() | new.keys() if old.get(k) != new.get(k)
    }


def _zone_order(prog: Program) -> Callable[[tuple[str, int]], tuple[int, int]]:
    order = {name: i for i, (name, _f, _s, _free) in enumerate(read_zones(prog))}
    return lambda key: (order.get(key[0], len(order)), key[1])


def _zone_lookup(zones: list[tuple[str, int, int, int]]) -> Callable[[int], str]:
    spans = sorted((first, first + size, name) for name, first, size, _ in zones if size)
    starts = [s for s, _e, _n in spans]

    def zone_of(pfn: int) -> str:
        i = bisect.bisect_right(starts, pfn) - 1
        if i >= 0 and pfn < spans[i][1]:
            return spans[i][2]
        return "-"

    return zone_of


def _uses(
    ptes: list[PteChange], tables: list[TableChange], areas: Areas, new_side: bool
) -> dict[int, tuple[str, int | None, int | None]]:
    """pfn -> (use, vaddr, area) for frames a changed pte maps or a changed table is,
    on one side."""
    starts = sorted(areas)
    uses: dict[int, tuple[str, int | None, int | None]] = {}
    for pte in ptes:
        pfn = pte.pfn_new if new_side else pte.pfn_old
        if pfn is None or pte.level != "pte":
            continue
        i = bisect.bisect_right(starts, pte.vaddr) - 1
        area = starts[i] if i >= 0 and pte.vaddr < starts[i] + areas[starts[i]][1] else None
        kind = "ioremap" if area is not None and areas[area][2] & 1 else "vmalloc"
        uses[pfn] = (kind, pte.vaddr, area)
    for t in tables:
        pfn = t.pfn_new if new_side else t.pfn_old
        if pfn is not None:
            uses[pfn] = ("page table", t.vaddr, None)
    return uses


def area_changes(
    old: Areas,
    new: Areas,
    ptes: list[PteChange],
) -> list[AreaChange]:
    """Areas added, removed, resized, or remapped (a pte of theirs changed, or their
    ``vm_struct`` or flags)."""
    touched = sorted(p.vaddr for p in ptes if p.level == "pte")
    out = []
    for addr in sorted(old.keys() | new.keys()):
        x, y = old.get(addr), new.get(addr)
        if x is None and y is not None:
            out.append(AreaChange("added", addr, None, y[0], None, y[1], None, y[2]))
        elif y is None and x is not None:
            out.append(AreaChange("removed", addr, x[0], None, x[1], None, x[2], None))
        elif x is not None and y is not None:
            if x[1] != y[1]:
                kind = "resized"
            else:
                i = bisect.bisect_left(touched, addr)
                mapped = i < len(touched) and touched[i] < addr + max(y[1] - PAGE_SIZE, 0)
                if x == y and not mapped:
                    continue
                kind = "remapped"
            out.append(AreaChange(kind, addr, x[0], y[0], x[1], y[1], x[2], y[2]))
    return out
