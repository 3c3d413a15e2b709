"""What ``map --diff N M`` marks on the address-space picture: areas added, removed,
resized or remapped between two moments, and the frames taken and released.

It is :func:`vmintro.timeline.diff.diff` seen as a picture: the map of the later
moment, with each area that changed marked, the areas that went away drawn where
they were, and the frames the buddy allocator handed out or took back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.helpers import max_mapnr
from vmintro.mapview.layout import AddressSpace, Area, address_space, zone_extents
from vmintro.timeline.diff import Diff, diff

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["MapChanges", "map_changes", "render_changes_text"]

# The mark of each kind of change, in the text bar and the SVG's classes
MARKS = {"added": "+", "removed": "-", "resized": "~", "remapped": "~"}


@dataclass
class MapChanges:
    """The later moment's address space, and what changed since the earlier one."""

    space: AddressSpace
    diff: Diff
    # addr -> kind of change, for the areas of the later moment
    marks: dict[int, str] = field(default_factory=dict)
    # areas of the earlier moment that are gone
    removed: list[Area] = field(default_factory=list)
    # (first pfn, pages) of each block taken and released
    taken: list[tuple[int, int]] = field(default_factory=list)
    released: list[tuple[int, int]] = field(default_factory=list)
    max_pfn: int = 0
    zones: list[tuple[str, int, int]] = field(default_factory=list)  # name, first pfn, end


def map_changes(old: Program, new: Program) -> MapChanges:
    """The picture's data: ``new``'s address space, marked with the changes since ``old``.

    :raises vmintro.timeline.diff.DifferentMachinesError: for two machines.
    """
    d = diff(old, new)
    space = address_space(new)
    marks = {a.addr: a.kind for a in d.areas if a.kind != "removed"}
    removed = [
        Area(a.vm_struct_old or 0, a.addr, a.size_old or 0, a.flags_old or 0)
        for a in d.areas
        if a.kind == "removed"
    ]
    taken = [(f.pfn, 1 << f.order) for f in d.frames if f.kind == "allocated"]
    released = [(f.pfn, 1 << f.order) for f in d.frames if f.kind == "freed"]
    zones = zone_extents(new)
    return MapChanges(space, d, marks, removed, taken, released, max_mapnr(new), zones)


def _bar(changes: MapChanges, start: int, end: int, width: int) -> str:
    """The vmalloc range in ``width`` cells: + added, - removed, ~ resized or remapped,
    = unchanged area, . free."""
    cells = []
    step = (end - start) / width
    spans = [
        (a.addr, a.addr + a.size, MARKS.get(changes.marks.get(a.addr, ""), "="))
        for a in changes.space.areas
    ]
    spans += [(a.addr, a.addr + a.size, "-") for a in changes.removed]
    rank = {"=": 0, "~": 1, "-": 2, "+": 3}
    for i in range(width):
        lo, hi = start + i * step, start + (i + 1) * step
        mark = "."
        for s, e, m in spans:
            if s < hi and lo < e and rank[m] >= rank.get(mark, -1):
                mark = m
        cells.append(mark)
    return "".join(cells)


def render_changes_text(changes: MapChanges, width: int = 48) -> str:
    """The text form: the vmalloc range with each changed area marked, one line per
    changed area, and the frames taken and released per zone."""
    space = changes.space
    d = changes.diff
    vm = next(r for r in space.regions if r.kind == "vmalloc")
    ends = [a.addr + a.size for a in [*space.areas, *changes.removed]] + [vm.start]
    used = max(ends)
    end = min(vm.end, used + max((used - vm.start) // 10, PAGE_SIZE))
    lines = [
        f"map --diff {d.old} -> {d.new}",
        f"vmalloc  {vm.start:08x}-{end - 1:08x}  [{_bar(changes, vm.start, end, width)}]",
        "bar: + added, - removed, ~ resized or remapped, = unchanged area, . free",
    ]
    for a in d.areas:
        size = a.size_new if a.size_new is not None else a.size_old
        was = f" (was {a.size_old})" if a.kind == "resized" else ""
        lines.append(f"  {MARKS[a.kind]} {a.kind:<8} {a.addr:08x}  {size}{was}")
    for what, blocks in (("taken", changes.taken), ("released", changes.released)):
        per_zone: dict[str, int] = {}
        for pfn, pages in blocks:
            zone = next((n for n, first, e in changes.zones if first <= pfn < e), "-")
            per_zone[zone] = per_zone.get(zone, 0) + pages
        counts = ", ".join(f"{n} {z}" for z, n in per_zone.items()) or "none"
        lines.append(f"frames {what}: {sum(p for _, p in blocks)} ({counts})")
    return "\n".join(lines)
