"""What a picture of the kernel address space shows, read from an image.

The regions follow Figure 8.1 of Gorman's chapter 8: the direct-mapped
lowmem from ``PAGE_OFFSET`` to ``high_memory``, the ``VMALLOC_OFFSET`` gap,
the vmalloc range with each area and its guard page, then pkmap (HIGHMEM) and
the fixmap up to ``FIXADDR_TOP``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.errors import CorruptionError, FaultError, VmintroError
from vmintro.helpers.buddy import for_each_zone, zone_name
from vmintro.helpers.mm import page_zone_index, pfn_to_page
from vmintro.helpers.vmalloc import (
    VM_ALLOC,
    VM_IOREMAP,
    find_vm_area,
    for_each_vm_area,
    vm_area_nr_pages,
    vmalloc_to_pfn_many,
)

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = [
    "AddressSpace",
    "Area",
    "AreaFrames",
    "Region",
    "address_space",
    "area_frames",
    "frames_of",
    "zone_extents",
]


@dataclass(frozen=True)
class Region:
    name: str
    start: int
    end: int
    kind: str  # lowmem, gap, vmalloc, pkmap, fixmap

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Area:
    vm_struct: int
    addr: int
    size: int  # guard page included, as vm_struct.size
    flags: int

    @property
    def kind(self) -> str:
        if self.flags & VM_IOREMAP:
            return "ioremap"
        return "vmalloc" if self.flags & VM_ALLOC else "other"

    @property
    def guard(self) -> int:
        return self.addr + self.size - PAGE_SIZE


@dataclass
class AddressSpace:
    regions: list[Region]
    areas: list[Area]
    highmem: bool
    pae: bool
    # Why the walk of vmlist stopped early (a cycle, a link that cannot be read):
    # ``areas`` then holds the ones before it, for a partial picture.
    error: VmintroError | None = None

    def area_at(self, addr: int) -> Area | None:
        """The area whose range ``[addr, addr + size)`` (guard page included) holds ``addr``."""
        return next((a for a in self.areas if a.addr <= addr < a.addr + a.size), None)


@dataclass
class AreaFrames:
    area: Area
    # (virtual address, pfn or None, zone index or None) per page, guard excluded
    pages: list[tuple[int, int | None, int | None]]
    zones: list[tuple[str, int, int]] = field(default_factory=list)  # name, first pfn, end pfn


def address_space(prog: Program) -> AddressSpace:
    """The regions of the kernel virtual address space and every vm area.

    A corrupt ``vmlist`` does not cost the picture: the areas read before the
    walk broke are kept and the reason is in :attr:`AddressSpace.error`.
    """
    layout = prog.layout
    high, vstart, vend = layout.high_memory, layout.vmalloc_start, layout.vmalloc_end
    regions = [
        Region("lowmem (direct map)", PAGE_OFFSET, high, "lowmem"),
        Region("VMALLOC_OFFSET gap", high, vstart, "gap"),
        Region("vmalloc", vstart, vend, "vmalloc"),
    ]
    if layout.highmem:
        regions.append(Region("gap", vend, layout.pkmap_base, "gap"))
        regions.append(Region("pkmap", layout.pkmap_base, layout.pkmap_end, "pkmap"))
        regions.append(Region("gap", layout.pkmap_end, layout.fixaddr_start, "gap"))
    else:
        regions.append(Region("gap", vend, layout.fixaddr_start, "gap"))
    if layout.fixaddr_start < layout.fixaddr_top:
        regions.append(Region("fixmap", layout.fixaddr_start, layout.fixaddr_top, "fixmap"))
    regions.append(Region("top", layout.fixaddr_top, 1 << 32, "gap"))
    areas: list[Area] = []
    error: VmintroError | None = None
    try:
        for a in for_each_vm_area(prog):
            areas.append(_area(a))
    except (CorruptionError, FaultError) as e:
        error = e
    return AddressSpace(regions, areas, prog.highmem, prog.pae, error)


def _area(obj: Object) -> Area:
    return Area(obj.value_(), obj.addr.value_(), obj.size.value_(), obj.flags.value_())


def area_frames(prog: Program, addr: int) -> AreaFrames:
    """The frames behind each page of the area holding ``addr``, with their zones."""
    obj = find_vm_area(prog, addr)
    if obj is None:
        raise FaultError(addr, f"{addr:#x} is in no vm area")
    return frames_of(prog, _area(obj))


def frames_of(prog: Program, area: Area) -> AreaFrames:
    """The frames behind each page of ``area`` (guard excluded), with the zones.

    :raises CorruptionError: for an area whose size no area could have (larger
        than the vmalloc range): one line naming it, before anything is read.
    """
    count = vm_area_nr_pages(prog, area.vm_struct, area.addr, area.size)
    vaddrs = area.addr + PAGE_SIZE * np.arange(count, dtype=np.int64)
    pfns = vmalloc_to_pfn_many(prog, vaddrs).tolist()
    # a frame has a struct page below max_mapnr, itself no more than RAM holds
    has_page = min(prog["max_mapnr"].value_(), prog.ram_pages)
    pages: list[tuple[int, int | None, int | None]] = []
    for va, pfn in zip(vaddrs.tolist(), pfns, strict=True):
        if pfn < 0:
            pages.append((va, None, None))
            continue
        zone = page_zone_index(pfn_to_page(prog, pfn)) if pfn < has_page else None
        pages.append((va, pfn, zone))
    return AreaFrames(area, pages, zone_extents(prog))


def zone_extents(prog: Program) -> list[tuple[str, int, int]]:
    """(name, first pfn, end pfn) of every zone with pages: what the pictures draw of
    physical memory (every zone of node_zones, however many nr_zones says)."""
    zones = []
    for z in for_each_zone(prog):
        if z.size.value_():
            first = z.zone_start_mapnr.value_()
            zones.append((zone_name(z), first, first + z.size.value_()))
    return zones
