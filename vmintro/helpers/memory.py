"""What an address is, and where a value lies in memory: crash's ``kmem ADDR`` and
``search``, drgn's ``identify_address`` and ``search_memory``.

An address is placed in the kernel's virtual address space as 2.4.20 lays it
out (``include/asm-i386/page.h``, ``pgtable.h``, ``fixmap.h``, ``highmem.h``):
the direct map from ``PAGE_OFFSET`` to ``high_memory``, the ``VMALLOC_OFFSET``
gap, the vmalloc range (each ``vm_struct``'s pages and its guard page), pkmap
and the fixmap. A frame is then what ``mem_map`` and the allocators say of it:
free in a buddy block, a slab's, a page-table page of ``swapper_pg_dir``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import FaultError
from vmintro.helpers.buddy import for_each_free_area, for_each_zone, zone_name
from vmintro.helpers.mm import page_to_pfn, pfn_valid
from vmintro.helpers.module import for_each_module, module_name
from vmintro.helpers.slab import SlabObjectInfo, slab_cache_name, slab_object_info
from vmintro.helpers.vmalloc import find_vm_area

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = [
    "AddressInfo",
    "FreeBlock",
    "classify_address",
    "find_free_block",
    "frame_mappings",
    "identify_address",
    "page_table_frames",
    "search_memory",
]

# entry bits of every i386 paging level
_PRESENT = 0x001
_PSE = 0x080


@dataclass(frozen=True)
class FreeBlock:
    """A block on a buddy free list: ``zone->free_area[order]``, from ``pfn``."""

    zone_index: int
    zone: str
    order: int
    pfn: int
    page: int  # its first struct page
    free_area: int  # &zone->free_area[order]

    @property
    def pages(self) -> int:
        return 1 << self.order


@dataclass
class AddressInfo:
    """Everything :func:`classify_address` found about one address; fields that do
    not apply are None (see :meth:`describe` for the one-line summary).
    """

    address: int
    physical_request: bool
    region: str  # user, lowmem, gap, vmalloc, pkmap, fixmap, top, ram
    physical: int | None = None  # the physical address, when it is mapped
    symbol: tuple[str, int] | None = None  # (name, offset) of a kernel symbol
    symbol_kind: str = "symbol"  # drgn's words: "object symbol", "function symbol"
    vm_area: tuple[int, int, int, int] | None = None  # vm_struct, addr, size, flags
    guard: bool = False  # in the guard page of vm_area
    module: tuple[int, str] | None = None  # struct module address and name
    mem_map_page: tuple[int, int] | None = None  # (pfn, offset) of a struct page in mem_map
    pfn: int | None = None
    page: int | None = None  # the struct page of the frame
    free: FreeBlock | None = None
    slab: SlabObjectInfo | None = None
    page_table: str | None = None  # the level of a swapper_pg_dir table in this frame
    mapped_at: list[int] = field(default_factory=list)  # every kernel virtual page of the frame
    fault: str | None = None  # why a virtual address has no frame
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line: what the address is, most specific first."""
        parts: list[str] = []
        if self.slab is not None:
            name = slab_cache_name(self.slab.slab_cache)
            if self.slab.allocated is None:
                parts.append(f"slab management of {name} (slab {int(self.slab.slab):#x})")
            else:
                state = "slab object" if self.slab.allocated else "free slab object"
                offset = self.address_in_frame() - self.slab.address
                parts.append(f"{state}: {name}+{offset:#x}")
        if self.mem_map_page is not None:
            pfn, off = self.mem_map_page
            parts.append(f"page: pfn {pfn:#x} +{off:#x}" if off else f"page: pfn {pfn:#x}")
        if self.symbol is not None:
            parts.append(f"{self.symbol_kind}: {self.symbol[0]}+{self.symbol[1]:#x}")
        if self.module is not None:
            parts.append(f"module {self.module[1]} at {self.module[0]:#x}")
        if self.vm_area is not None:
            _vs, start, size, _flags = self.vm_area
            what = "guard page of vmap" if self.guard else "vmap"
            parts.append(f"{what}: {start:#x}-{start + size:#x}")
            if self.guard and self.physical is not None:
                parts.append("the guard page is mapped: it should have no PTE")
        if self.free is not None:
            f = self.free
            parts.append(
                f"free: {f.zone} order {f.order} block at pfn {f.pfn:#x} ({f.pages} pages)"
            )
        if self.page_table is not None:
            parts.append(f"page table: a {self.page_table} table of swapper_pg_dir")
        if not parts:
            parts.append(_REGION_WORDS.get(self.region, self.region))
        others = [a for a in self.mapped_at if a != self.address & ~(PAGE_SIZE - 1)]
        if others:
            parts.append("mapped at " + ", ".join(f"{a:#x}" for a in others))
        if self.fault is not None and not self.guard:
            parts.append(f"not mapped: {self.fault}")
        return "; ".join(parts)

    def address_in_frame(self) -> int:
        """The address as lowmem virtual (what slab objects are addressed by)."""
        if self.physical_request:
            return PAGE_OFFSET + self.address
        if self.region == "lowmem":
            return self.address
        assert self.physical is not None
        return PAGE_OFFSET + self.physical


# drgn's identify_address words for the ELF symbol types
_SYMBOL_KINDS = {"object": "object symbol", "func": "function symbol"}

_REGION_WORDS = {
    "user": "user space: below PAGE_OFFSET",
    "lowmem": "lowmem: the direct map",
    "gap": "unmapped gap",
    "vmalloc": "vmalloc range, in no area",
    "pkmap": "pkmap: persistent kmap window",
    "fixmap": "fixmap",
    "top": "above the fixmap",
    "ram": "RAM",
    "no_ram": "no RAM: beyond the RAM the machine has",
}


def _region(prog: Program, address: int) -> str:
    layout = prog.layout
    if address < PAGE_OFFSET:
        return "user"
    if address < layout.lowmem_end:
        return "lowmem"
    if layout.vmalloc_start <= address < layout.vmalloc_end:
        return "vmalloc"
    if layout.highmem and layout.pkmap_base <= address < layout.pkmap_end:
        return "pkmap"
    # __fix_to_virt(i) is FIXADDR_TOP - i pages: slot 0 is the page at FIXADDR_TOP,
    # the boot-time slots (FIX_BTMAP_*) the lowest ones
    if layout.fixmap_lowest <= address < layout.fixaddr_top + PAGE_SIZE:
        return "fixmap"
    if address >= layout.fixaddr_top:
        return "top"
    return "gap"


def page_table_frames(prog: Program) -> dict[int, str]:
    """pfn -> level name (``pgd``, ``pmd``, ``pte``) of every table reachable from
    ``swapper_pg_dir``, the directory itself included; large pages end a branch.
    """
    levels = prog.paging.levels
    mask = prog.paging.phys_mask & ~(PAGE_SIZE - 1)
    found: dict[int, str] = {prog.swapper_pg_dir >> PAGE_SHIFT: levels[0].name}
    todo = [(prog.swapper_pg_dir, 0)]
    while todo:
        base, level = todo.pop()
        if level + 1 >= len(levels):
            continue
        try:
            entries = prog.walker.table(base, level)
        except FaultError:
            continue
        lv = levels[level]
        for entry in entries:
            if not entry & _PRESENT or (lv.large and entry & _PSE):
                continue
            child = entry & mask
            pfn = child >> PAGE_SHIFT
            if pfn in found:
                continue
            found[pfn] = levels[level + 1].name
            todo.append((child, level + 1))
    return found


def find_free_block(prog: Program, pfn: int) -> FreeBlock | None:
    """The buddy block on a free list that holds frame ``pfn``, or None."""
    for index, zone in enumerate(for_each_zone(prog)):
        start = zone.zone_start_mapnr.value_()
        if not start <= pfn < start + zone.size.value_():
            continue
        name = zone_name(zone)
        for order, page in for_each_free_area(prog, zone):
            first = page_to_pfn(page)
            if first <= pfn < first + (1 << order):
                area = zone.free_area[order].address_
                assert area is not None  # a member of a zone in memory is in memory
                return FreeBlock(index, name, order, first, int(page), area)
    return None


def frame_mappings(prog: Program, pfn: int) -> list[int]:
    """Every kernel virtual page that maps frame ``pfn``: its direct-map address (a
    lowmem frame) and each vmalloc page whose PTE points at it, in address order.
    """
    import numpy as np  # imported when a helper needs it: the plugins import this module

    from vmintro.helpers.vmalloc import for_each_vm_area, vmalloc_to_pfn_many

    found = []
    if PAGE_OFFSET + (pfn << PAGE_SHIFT) < prog.layout.lowmem_end:
        found.append(PAGE_OFFSET + (pfn << PAGE_SHIFT))
    # The pages of every area but its guard, clipped to the vmalloc range and merged:
    # however many areas a damaged vmlist claims, and however large, no more pages
    # are translated than the range holds.
    low, high = prog.vmalloc_start, prog.vmalloc_end
    ranges = []
    for area in for_each_vm_area(prog):
        start = area.addr.value_()
        end = min(start + max(area.size.value_() - PAGE_SIZE, 0), high)
        if max(start, low) < end:
            ranges.append((max(start, low), end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if merged:
        vaddrs = np.concatenate([np.arange(a, b, PAGE_SIZE, dtype=np.int64) for a, b in merged])
        pfns = vmalloc_to_pfn_many(prog, vaddrs)
        found += [int(v) for v in vaddrs[pfns == pfn]]
    return found


def _mem_map_page(prog: Program, address: int) -> tuple[int, int] | None:
    mem_map = prog["mem_map"].value_()
    size = prog.type("struct page").size
    count = min(prog["max_mapnr"].value_(), prog.ram_pages)
    if mem_map <= address < mem_map + count * size:
        return divmod(address - mem_map, size)
    return None


def _module_at(prog: Program, address: int) -> tuple[int, str] | None:
    for mod in for_each_module(prog):
        start = int(mod)
        if start <= address < start + mod.size.value_():
            return start, module_name(mod)
    return None


def classify_address(prog: Program, addr: int | Object, physical: bool = False) -> AddressInfo:
    """What ``addr`` is, as crash's ``kmem ADDR`` finds out: its region of the
    kernel address space, symbol, vm area (or guard page) and module, then for
    the frame behind it the ``struct page``, a free buddy block holding it, the
    slab object, or a page-table page. ``physical`` reads ``addr`` as physical.
    """
    address = operator.index(addr)
    if physical:
        info = AddressInfo(address, True, "ram" if address < prog.ram_size else "no_ram")
        info.physical = address
    else:
        info = AddressInfo(address, False, _region(prog, address))
        found = prog.symbol_at(address)
        if found is not None and address < found.address + max(found.size, 1):
            info.symbol = (found.name, address - found.address)
            info.symbol_kind = _SYMBOL_KINDS.get(found.kind, "symbol")
        if info.region == "lowmem":
            info.physical = address - PAGE_OFFSET
            info.mem_map_page = _mem_map_page(prog, address)
        elif info.region == "user":
            return info
        else:
            if info.region == "vmalloc":
                area = find_vm_area(prog, address)
                if area is not None:
                    value = area.deref().read_()
                    start, size = value.addr.value_(), value.size.value_()
                    info.vm_area = (int(area), start, size, value.flags.value_())
                    info.guard = address >= start + size - PAGE_SIZE
                    info.module = _module_at(prog, address)
            try:
                info.physical = prog.translate(address)
            except FaultError as e:
                info.fault = str(e)
    if info.physical is None or info.physical >= prog.ram_size:
        return info
    pfn = info.physical >> PAGE_SHIFT
    if not pfn_valid(prog, pfn):
        return info
    info.pfn = pfn
    from vmintro.helpers.mm import pfn_to_page

    info.page = int(pfn_to_page(prog, pfn))
    info.free = find_free_block(prog, pfn)
    if pfn << PAGE_SHIFT < prog.layout.lowmem_end - PAGE_OFFSET:
        info.slab = slab_object_info(prog, PAGE_OFFSET + info.physical)
    info.page_table = page_table_frames(prog).get(pfn)
    info.mapped_at = frame_mappings(prog, pfn)
    return info


def identify_address(prog: Program, addr: int | Object) -> str | None:
    """drgn's ``identify_address(prog, addr)``: ``"slab object: size-64+0x10"``,
    ``"free slab object: ..."``, ``"page: pfn 0x10b4 +0x8"``, ``"vmap:
    0xc4800000-0xc4811000"``, ``"object symbol: vmlist+0x0"``; and for 2.4.20 also a free
    buddy block, a guard page, a module or a page-table page. None for an
    address it cannot place (user space, an unmapped gap).
    """
    info = classify_address(prog, addr)
    if info.region in ("user", "gap", "top") and info.symbol is None:
        return None
    return info.describe()


def _pattern(value: Any, size: int) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    number = operator.index(value)
    return (number & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def search_memory(
    prog: Program,
    value: Any,
    start: int | None = None,
    end: int | None = None,
    *,
    physical: bool = False,
    size: int = 4,
    alignment: int | None = None,
    mask: int | None = None,
) -> Iterator[int]:
    """Addresses from ``start`` to ``end`` where memory holds ``value`` (drgn's
    ``prog.search_memory``, crash's ``search``): an integer of ``size`` bytes (at
    ``size`` alignment unless ``alignment`` says otherwise; ``mask`` ignores the
    bits it clears), or bytes / a string at any alignment. Pages that are not
    mapped (virtual) or beyond RAM (physical) are skipped. Virtual searches
    default to ``PAGE_OFFSET``..``VMALLOC_END``, physical ones to all of RAM.
    """
    import numpy as np

    if start is None:
        start = 0 if physical else PAGE_OFFSET
    if end is None:
        end = prog.ram_size if physical else prog.vmalloc_end
    pattern = _pattern(value, size)
    numeric = not isinstance(value, (bytes, bytearray, str))
    step = alignment or (size if numeric else 1)
    keep = mask if numeric and mask is not None else None
    want = operator.index(value) & keep if keep is not None else 0
    width = len(pattern)
    for lo, hi in _search_ranges(prog, start, end, physical):
        carry = b""
        page = lo & ~(PAGE_SIZE - 1)
        while page < hi:
            try:
                data = prog.read(page, PAGE_SIZE, physical=physical)
            except FaultError:
                carry = b""
                page += PAGE_SIZE
                continue
            if keep is not None and step == width and width in (2, 4, 8):
                # aligned values never straddle a page: compare the page's words at once
                words = np.frombuffer(data, dtype=f"<u{width}")
                for index in np.nonzero((words & keep) == want)[0]:
                    addr = page + int(index) * width
                    if lo <= addr and addr + width <= hi:
                        yield addr
                page += PAGE_SIZE
                continue
            window = carry + data
            base = page - len(carry)
            # a match must end in this page: one held in the carry alone was found before
            first = max(0, len(carry) - width + 1)
            if keep is not None:
                offsets: Iterator[int] = (
                    off
                    for off in range(
                        first + (-(base + first)) % step, len(window) - width + 1, step
                    )
                    if int.from_bytes(window[off : off + width], "little") & keep == want
                )
            else:
                offsets = _find_all(window, pattern, first)
            for off in offsets:
                addr = base + off
                if addr % step == 0 and lo <= addr and addr + width <= hi:
                    yield addr
            carry = data[len(data) - width + 1 :] if width > 1 else b""
            page += PAGE_SIZE


def _find_all(data: bytes, pattern: bytes, start: int) -> Iterator[int]:
    """Every offset of ``pattern`` in ``data`` from ``start``, overlapping ones too."""
    at = data.find(pattern, start)
    while at >= 0:
        yield at
        at = data.find(pattern, at + 1)


def _search_ranges(
    prog: Program, start: int, end: int, physical: bool
) -> Iterator[tuple[int, int]]:
    """The parts of ``start``..``end`` that can hold data: RAM for a physical
    search; the direct map, each vm area but its guard page, pkmap and the fixmap
    for a virtual one (the rest is never mapped, and needs no walk to say so).
    """
    if physical:
        spans = [(0, prog.ram_size)]
    else:
        layout = prog.layout
        spans = [(PAGE_OFFSET, layout.lowmem_end)]
        from vmintro.helpers.vmalloc import for_each_vm_area

        for area in for_each_vm_area(prog):
            a = area.addr.value_()
            spans.append((a, a + max(area.size.value_() - PAGE_SIZE, 0)))
        if layout.highmem:
            spans.append((layout.pkmap_base, layout.pkmap_end))
        spans.append((layout.fixmap_lowest, layout.fixaddr_top + PAGE_SIZE))
    for lo, hi in sorted(spans):
        lo, hi = max(lo, start), min(hi, end)
        if lo < hi:
            yield lo, hi
