"""``diff(prog_a, prog_b)``: what changed between two moments of one machine, in kernel terms.

The two programs are two moments of one timeline (``prog.at(n)``) or two images of
the same machine (two runs of one scenario stopped at different steps, say)::

    >>> d = diff(prog.at(0), prog)
    >>> [hex(a.addr) for a in d.areas if a.kind == "added"][:2]
    ['0xc4800000', '0xc4812000']
    >>> print(d)            # the text the ``diff`` command prints
    >>> d.to_json()         # the same as plain data

What it reports, each read through the library's helpers: ``vmlist`` areas added,
removed, resized or remapped (with their ``vm_struct``); entries of
``swapper_pg_dir`` over the kernel range that were set, changed or cleared, by
virtual address, and the page tables below it allocated or freed; frames taken from
and given back to the buddy allocator, as blocks by zone and order, with what took
them where that is known (a vmalloc area, a page table); the free-list counts per
zone and order and each zone's ``free_pages``; ``struct page`` flags and counts that
changed; modules loaded, unloaded or changed; swap areas switched on, off or changed.

Pages are compared first (:mod:`vmintro.timeline.diff_scan`): only frames that
differ are decoded, so a diff of two moments costs what changed between them.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import CorruptionError, FaultError, VmintroError
from vmintro.escape import escape_text
from vmintro.helpers import (
    MAX_ORDER,
    for_each_free_area,
    for_each_module,
    for_each_vm_area,
    for_each_zone,
    max_mapnr,
    module_name,
    zone_name,
)
from vmintro.timeline.diff_scan import (
    changed_frames,
    compare_page_tables,
    moment_shown,
    read_page_fields,
    timeline_span,
)
from vmintro.types.flags import MAX_SWAPFILES, PG_slab

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = [
    "AreaChange",
    "Diff",
    "DiffError",
    "DifferentMachinesError",
    "FrameChange",
    "FreeAreaChange",
    "ModuleChange",
    "PageChange",
    "PteChange",
    "SwapChange",
    "TableChange",
    "ZoneChange",
    "check_same_machine",
    "diff",
]

_PRESENT = 1


class DiffError(VmintroError):
    """Two programs that cannot be compared; the message is one line."""


class DifferentMachinesError(DiffError):
    """Two programs that are not moments of one machine; the message is one line
    naming what differs."""


# -- the result --------------------------------------------------------------------------


@dataclass(slots=True)
class AreaChange:
    """A ``vmlist`` area: ``added``, ``removed``, ``resized`` (the same address, another
    size) or ``remapped`` (the same address and size, another ``vm_struct``, flags
    or frames). ``old`` fields are of the first program, ``new`` of the second;
    sizes include the guard page, as ``vm_struct.size`` does."""

    kind: str
    addr: int
    vm_struct_old: int | None
    vm_struct_new: int | None
    size_old: int | None
    size_new: int | None
    flags_old: int | None
    flags_new: int | None

    @property
    def size(self) -> int:
        return self.size_new if self.size_new is not None else self.size_old or 0


@dataclass(slots=True)
class PteChange:
    """An entry of ``swapper_pg_dir`` that maps memory (a pte, or a large pgd/pmd
    entry), by the kernel virtual address it maps: ``set`` (not present before),
    ``cleared`` (not present after) or ``changed``; pfns None where not present."""

    vaddr: int
    level: str
    kind: str
    old: int
    new: int
    pfn_old: int | None
    pfn_new: int | None


@dataclass(slots=True)
class TableChange:
    """A page table below ``swapper_pg_dir``: ``allocated``, ``freed`` or ``moved``
    (its parent entry points to another frame); ``vaddr`` is where the addresses it
    maps start."""

    kind: str
    level: str
    vaddr: int
    pfn_old: int | None
    pfn_new: int | None


@dataclass(slots=True)
class FrameChange:
    """A block of ``2**order`` frames the buddy allocator handed out (``allocated``)
    or took back (``freed``), in ``zone``; ``use`` says what it backs where that is
    known: ``vmalloc`` (then ``vaddr`` is the page and ``area`` its area),
    ``ioremap``, ``page table`` (``vaddr`` where it maps from), ``slab`` (``PG_slab``
    set: a page of a kmalloc cache), or ``""``."""

    kind: str
    pfn: int
    order: int
    zone: str
    use: str = ""
    vaddr: int | None = None
    area: int | None = None


@dataclass(slots=True)
class FreeAreaChange:
    """The number of free blocks on ``zone->free_area[order]`` before and after."""

    zone: str
    order: int
    old: int
    new: int


@dataclass(slots=True)
class ZoneChange:
    """A zone's ``free_pages`` before and after."""

    zone: str
    old: int
    new: int


@dataclass(slots=True)
class PageChange:
    """A ``struct page`` whose ``flags`` or ``count`` changed."""

    pfn: int
    flags_old: int
    flags_new: int
    count_old: int
    count_new: int


@dataclass(slots=True)
class ModuleChange:
    """A ``struct module`` on ``module_list``: ``added``, ``removed`` or ``changed``;
    ``changes`` maps each member that changed to (old, new)."""

    kind: str
    module: int
    name: str
    size: int
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class SwapChange:
    """A ``swap_info`` slot (``index``) switched ``on``, ``off`` or ``changed``, or
    (``index`` None) the swap counters; ``changes`` maps each member to (old, new)."""

    kind: str
    index: int | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


_SECTIONS = ("areas", "tables", "ptes", "frames", "free_area", "zones", "pages", "modules", "swap")


@dataclass
class Diff:
    """The difference from ``old`` (the first program) to ``new`` (the second).

    ``frames_changed`` counts the frames whose bytes differ; ``errors`` holds one
    line for each part that could not be read whole (a corrupt list, say): the
    other parts are complete.
    """

    old: str
    new: str
    frames_changed: int = 0
    areas: list[AreaChange] = field(default_factory=list)
    tables: list[TableChange] = field(default_factory=list)
    ptes: list[PteChange] = field(default_factory=list)
    frames: list[FrameChange] = field(default_factory=list)
    free_area: list[FreeAreaChange] = field(default_factory=list)
    zones: list[ZoneChange] = field(default_factory=list)
    pages: list[PageChange] = field(default_factory=list)
    modules: list[ModuleChange] = field(default_factory=list)
    swap: list[SwapChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """True when anything changed."""
        return bool(self.frames_changed or self.errors or any(getattr(self, s) for s in _SECTIONS))

    def count(self, section: str, kind: str) -> int:
        """How many changes of ``section`` are of ``kind`` (``count("areas", "added")``)."""
        return sum(1 for c in getattr(self, section) if getattr(c, "kind", None) == kind)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per part, how many changes of each kind: ``{"areas": {"added": 3}, ...}``."""
        out: dict[str, dict[str, int]] = {}
        for section in _SECTIONS:
            kinds: dict[str, int] = {}
            for item in getattr(self, section):
                kind = getattr(item, "kind", "changed")
                kinds[kind] = kinds.get(kind, 0) + 1
            out[section] = kinds
        return out

    def to_json(self, summary: bool = False) -> dict[str, Any]:
        """The difference as plain data (numbers as integers, names escaped); with
        ``summary``, only the counts of each part (:meth:`counts`)."""
        out: dict[str, Any] = {
            "old": self.old,
            "new": self.new,
            "frames_changed": self.frames_changed,
            "counts": self.counts(),
        }
        for section in _SECTIONS:
            items = getattr(self, section)
            if summary:
                continue
            if items:
                names = [f.name for f in fields(items[0])]
                out[section] = [{n: _plain(getattr(item, n)) for n in names} for item in items]
            else:
                out[section] = []
        out["errors"] = list(self.errors)
        return out

    def text(self, summary: bool = False) -> str:
        """The difference as the ``diff`` command prints it; with ``summary``, only the
        heading of each part, with its counts."""
        from vmintro.timeline.diff_render import render_diff

        return render_diff(self, summary)

    def __str__(self) -> str:
        return self.text()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
    return value


# -- the same machine --------------------------------------------------------------------


def _zones(prog: Program) -> list[tuple[str, int, int, int]]:
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


def _mib(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n:#x} bytes"


def check_same_machine(a: Program, b: Program, names: tuple[str, str] | None = None) -> None:
    """Refuse two programs of different machines, in one line naming what differs and
    the two images (``names``, by default their names).

    The same machine is the same kernel build (release, HIGHMEM, PAE, every symbol
    at the same address, ``struct page`` of the same size) on the same RAM
    (size, ``mem_map``, ``max_mapnr``, ``high_memory``, the zones' extents).

    :raises DifferentMachinesError: naming the first fact that differs, both values:
        ``different machines: RAM 64 MiB (images/demo) vs 128 MiB (/tmp/big)``.
    :raises DiffError: for an image without types (no vmlinux) to read the rest with.
    """
    old, new = names if names is not None else (_name(a, False), _name(b, False))

    def differ(what: str, x: object, y: object) -> None:
        if x != y:
            raise DifferentMachinesError(f"different machines: {what} {x} ({old}) vs {y} ({new})")

    differ("release", a.osrelease or "unknown", b.osrelease or "unknown")
    differ("paging", "PAE" if a.pae else "2-level", "PAE" if b.pae else "2-level")
    differ("HIGHMEM", "yes" if a.highmem else "no", "yes" if b.highmem else "no")
    differ("RAM", _mib(a.ram_size), _mib(b.ram_size))
    symbols_b = {s.name: s.address for s in b.symbols()}
    only = [(escape_text(s.name), old) for s in a.symbols() if s.name not in symbols_b]
    symbols_a = {s.name for s in a.symbols()}
    only += [(escape_text(n), new) for n in sorted(symbols_b) if n not in symbols_a]
    if only:
        name, side = only[0]
        raise DifferentMachinesError(
            f"different machines (kernel builds): symbol {name} only in {side}'s kernel"
        )
    for sym in a.symbols():
        differ(
            f"kernel builds: {escape_text(sym.name)} at",
            f"{sym.address:#x}",
            f"{symbols_b[sym.name]:#x}",
        )
    if not (a.has_debuginfo and b.has_debuginfo):
        raise DiffError(
            f"{old if not a.has_debuginfo else new} has no vmlinux: no types to compare"
        )
    differ("sizeof(struct page)", a.type("struct page").size, b.type("struct page").size)
    differ("mem_map", f"{a['mem_map'].value_():#x}", f"{b['mem_map'].value_():#x}")
    differ("max_mapnr", f"{max_mapnr(a):#x}", f"{max_mapnr(b):#x}")
    differ("high_memory", f"{a.high_memory:#x}", f"{b.high_memory:#x}")
    for (name, first, size, _), (name_b, first_b, size_b, _) in zip(
        _zones(a), _zones(b), strict=False
    ):
        differ("zone", name, name_b)
        differ(f"zone {name}", f"pfn {first:#x}+{size}", f"pfn {first_b:#x}+{size_b}")


# -- reading each part ---------------------------------------------------------------------


def _name(prog: Program, moments: bool) -> str:
    """The image's name, with ``@N`` for a moment of its timeline, and for the image
    itself when two moments of one timeline are compared."""
    path = getattr(prog.backend, "vmcore_path", None)
    name = os.fspath(Path(path).with_suffix("")) if path is not None else repr(prog)
    moment = moment_shown(prog)
    if moment is None and moments:
        moment = prog.moment
    return escape_text(f"{name}@{moment}" if moment is not None else name)


def _areas(prog: Program) -> tuple[dict[int, tuple[int, int, int]], str | None]:
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


# -- the diff ----------------------------------------------------------------------------


def diff(
    prog_a: Program,
    prog_b: Program,
    *,
    names: tuple[str, str] | None = None,
) -> Diff:
    """What changed from ``prog_a`` to ``prog_b``, two moments of one machine: moments
    of one timeline (``prog.at(n)``) or images of the same machine.

    ``names`` label the two sides (default: each image's name, with ``@N`` for
    moments of one timeline).

    :raises DifferentMachinesError: for programs of different machines, naming what
        differs (:func:`check_same_machine`).
    """
    a, b = prog_a, prog_b
    span = timeline_span(a, b)
    old, new = (
        names if names is not None else (_name(a, span is not None), _name(b, span is not None))
    )
    check_same_machine(a, b, (old, new))
    result = Diff(old, new)
    changed = changed_frames(a, b, span)
    result.frames_changed = len(changed)
    if not len(changed):
        return result
    pages = max_mapnr(a)
    errors = result.errors

    def part(what: str, why: str | None) -> None:
        if why is not None:
            errors.append(f"{what}: {escape_text(' '.join(why.split()))}")

    # vmlist
    areas_a, why_a = _areas(a)
    areas_b, why_b = _areas(b)
    part("vmlist (old)", why_a)
    part("vmlist (new)", why_b)
    # swapper_pg_dir
    table_errors: list[str] = []
    mappings, moves = compare_page_tables(a, b, changed, table_errors)
    for e in table_errors:
        part("swapper_pg_dir", e)
    mode = a.paging
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
        result.ptes.append(PteChange(m.vaddr, m.level, kind, m.old, m.new, pfn_old, pfn_new))
    for t in moves:
        kind = "allocated" if t.old_pfn is None else "freed" if t.new_pfn is None else "moved"
        result.tables.append(TableChange(kind, t.level, t.vaddr, t.old_pfn, t.new_pfn))
    result.areas = _area_changes(areas_a, areas_b, result.ptes)
    # the buddy allocator
    counts_a, blocks_a, why_a = _free_blocks(a)
    counts_b, blocks_b, why_b = _free_blocks(b)
    part("free lists (old)", why_a)
    part("free lists (new)", why_b)
    for key in sorted(counts_a.keys() | counts_b.keys(), key=_zone_order(a)):
        before, after = counts_a.get(key, 0), counts_b.get(key, 0)
        if before != after:
            result.free_area.append(FreeAreaChange(key[0], key[1], before, after))
    zones_a, zones_b = _zones(a), _zones(b)
    for (name, _f, _s, pages_a), (_n, _fb, _sb, pages_b) in zip(zones_a, zones_b, strict=False):
        if pages_a != pages_b:
            result.zones.append(ZoneChange(name, pages_a, pages_b))
    free_a, free_b = _free_map(blocks_a, pages), _free_map(blocks_b, pages)
    allocated = np.flatnonzero(free_a & ~free_b)
    freed = np.flatnonzero(free_b & ~free_a)
    # struct page: what changed bytes hold, and every frame taken or given back
    indices = np.union1d(_page_indices(a, changed, pages), np.union1d(allocated, freed))
    fa = read_page_fields(a, indices, ("flags", "count"))
    fb = read_page_fields(b, indices, ("flags", "count"))
    moved = np.flatnonzero((fa["flags"] != fb["flags"]) | (fa["count"] != fb["count"]))
    result.pages = [
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
    uses_new = _uses(result, areas_b, new_side=True)
    uses_old = _uses(result, areas_a, new_side=False)
    for kind, pfns, side, uses in (
        ("allocated", allocated, fb, uses_new),
        ("freed", freed, fa, uses_old),
    ):
        at = np.searchsorted(indices, pfns)
        # a slab page says so in its flags, on the side where it is in use
        slab = dict.fromkeys(
            pfns[(side["flags"][at] & PG_slab) != 0].tolist(), ("slab", None, None)
        )
        for pfn, order in _blocks(pfns, side["count"][at], pages):
            use, vaddr, area = uses.get(pfn) or slab.get(pfn) or ("", None, None)
            result.frames.append(FrameChange(kind, pfn, order, zone_of(pfn), use, vaddr, area))
    # modules and swap
    mods_a, why_a = _modules(a)
    mods_b, why_b = _modules(b)
    part("module_list (old)", why_a)
    part("module_list (new)", why_b)
    for addr in sorted(mods_a.keys() | mods_b.keys()):
        ma, mb = mods_a.get(addr), mods_b.get(addr)
        if ma is None and mb is not None:
            result.modules.append(ModuleChange("added", addr, mb["name"], mb["size"]))
        elif mb is None and ma is not None:
            result.modules.append(ModuleChange("removed", addr, ma["name"], ma["size"]))
        elif ma is not None and mb is not None and ma != mb:
            result.modules.append(
                ModuleChange("changed", addr, mb["name"], mb["size"], _changes(ma, mb))
            )
    try:
        slots_a, counters_a = _swap(a)
        slots_b, counters_b = _swap(b)
    except (CorruptionError, FaultError) as e:
        part("swap_info", str(e))
    else:
        for i in sorted(slots_a.keys() | slots_b.keys()):
            sa, sb = slots_a.get(i, {}), slots_b.get(i, {})
            kind = "on" if not sa else "off" if not sb else "changed"
            if sa != sb:
                result.swap.append(SwapChange(kind, i, _changes(sa, sb)))
        if counters_a != counters_b:
            result.swap.append(SwapChange("changed", None, _changes(counters_a, counters_b)))
    return result


def _zone_order(prog: Program) -> Callable[[tuple[str, int]], tuple[int, int]]:
    order = {name: i for i, (name, _f, _s, _free) in enumerate(_zones(prog))}
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
    result: Diff, areas: dict[int, tuple[int, int, int]], new_side: bool
) -> dict[int, tuple[str, int | None, int | None]]:
    """pfn -> (use, vaddr, area) for frames a changed pte maps or a changed table is,
    on one side."""
    starts = sorted(areas)
    uses: dict[int, tuple[str, int | None, int | None]] = {}
    for pte in result.ptes:
        pfn = pte.pfn_new if new_side else pte.pfn_old
        if pfn is None or pte.level != "pte":
            continue
        i = bisect.bisect_right(starts, pte.vaddr) - 1
        area = starts[i] if i >= 0 and pte.vaddr < starts[i] + areas[starts[i]][1] else None
        kind = "ioremap" if area is not None and areas[area][2] & 1 else "vmalloc"
        uses[pfn] = (kind, pte.vaddr, area)
    for t in result.tables:
        pfn = t.pfn_new if new_side else t.pfn_old
        if pfn is not None:
            uses[pfn] = ("page table", t.vaddr, None)
    return uses


def _area_changes(
    old: dict[int, tuple[int, int, int]],
    new: dict[int, tuple[int, int, int]],
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
