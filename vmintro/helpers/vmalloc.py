"""vmalloc helpers (``mm/vmalloc.c``): ``vmlist`` walks and vmalloc address translation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from vmintro.arch.x86 import PAGE_SIZE
from vmintro.errors import FaultError
from vmintro.helpers.list import singly_linked
from vmintro.helpers.mm import pfn_to_page

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = [
    "VM_ALLOC",
    "VM_IOREMAP",
    "find_vm_area",
    "for_each_vm_area",
    "is_vmalloc_addr",
    "vm_area_pages",
    "vmalloc_area_pages",
    "vmalloc_area_pfns",
    "vmalloc_to_page",
    "vmalloc_to_pfn",
    "vmalloc_to_pfn_many",
]

VM_IOREMAP = 0x1
VM_ALLOC = 0x2
# Each area takes at least two pages (one mapped, one guard) of the vmalloc range.
_MAX_AREAS = (1 << 32) // (2 * PAGE_SIZE)


def for_each_vm_area(prog: Program) -> Iterator[Object]:
    """Every ``struct vm_struct *`` on ``vmlist``, in list (address) order.

    The walk stops with :class:`~vmintro.errors.CorruptionError` on a cycle or a
    ``next`` that cannot be read, naming the ``vm_struct`` that holds the link.
    """
    vm_type = prog.type("struct vm_struct")
    next_offset = vm_type.offsetof("next")  # type: ignore[attr-defined]
    ptr_type = prog.type("struct vm_struct *")
    first = prog["vmlist"].value_()
    # each node a 32-bit pointer read from memory: a value of the pointer type
    yield from singly_linked(prog, first, next_offset, "vmlist", _MAX_AREAS, ptr_type)


def is_vmalloc_addr(prog: Program, addr: int) -> bool:
    """``VMALLOC_START <= addr < VMALLOC_END``."""
    return prog.vmalloc_start <= addr < prog.vmalloc_end


def find_vm_area(prog: Program, addr: int) -> Object | None:
    """The ``struct vm_struct *`` whose range ``[addr, addr + size)`` holds ``addr``.

    The range includes the guard page, as ``vm_struct.size`` does. 2.4.20 has no
    ``find_vm_area``; this is the lookup ``vfree`` does, widened from an exact
    start address to any address inside the area (as later kernels do).
    """
    for area in for_each_vm_area(prog):
        start = area.addr.value_()
        if start <= addr < start + area.size.value_():
            return area
        if start > addr:  # vmlist is sorted by address
            break
    return None


def vmalloc_to_pfn(prog: Program, addr: int) -> int:
    """``vmalloc_to_pfn``: the frame behind a vmalloc (or ioremap) address.

    :raises FaultError: when the address is not mapped.
    """
    return prog.translate(addr) >> 12


def vmalloc_to_page(prog: Program, addr: int) -> Object:
    """``vmalloc_to_page``: ``pfn_to_page(vmalloc_to_pfn(addr))``.

    :return: ``struct page *``
    :raises FaultError: when the address is not mapped, or maps a frame beyond
        ``max_mapnr`` (an ioremap of device memory has no ``struct page``).
    """
    pfn = vmalloc_to_pfn(prog, addr)
    if pfn >= prog["max_mapnr"].value_():
        raise FaultError(addr, f"{addr:#x} maps pfn {pfn:#x}, beyond max_mapnr: no struct page")
    return pfn_to_page(prog, pfn)


def vm_area_pages(area: Object) -> Iterator[tuple[int, int | None]]:
    """(virtual address, pfn or None) for every page of an area but its guard page."""
    prog = area.prog_
    start = area.addr.value_()
    end = start + area.size.value_() - PAGE_SIZE
    for addr in range(start, end, PAGE_SIZE):
        try:
            yield addr, prog.translate(addr) >> 12
        except FaultError:
            yield addr, None


def vmalloc_area_pages(area: Object) -> list[int | None]:
    """The frames behind ``area`` (a ``struct vm_struct *``), page by page in address order.

    2.4.20's ``vmalloc_area_pages`` gives every page of a new area a frame of its
    own (``alloc_page``) and maps it; this reads those frames back from the page
    tables: the pfn of each page but the guard page, None where a page is not
    mapped. An ioremap area gives the device's frames.
    """
    prog = area.prog_
    start = area.addr.value_()
    count = max(area.size.value_() // PAGE_SIZE - 1, 0)
    count = min(count, max((1 << 32) - start, 0) // PAGE_SIZE)  # a corrupt size: stop at 4 GiB
    pfns = vmalloc_to_pfn_many(prog, start + PAGE_SIZE * np.arange(count, dtype=np.int64))
    return [None if pfn < 0 else pfn for pfn in pfns.tolist()]


def vmalloc_area_pfns(prog: Program, areas: list[Object] | None = None) -> np.ndarray:
    """Frames of every mapped page of ``areas`` (all of vmlist by default), in order.

    The bulk form of :func:`vmalloc_to_pfn`; unmapped pages give -1.
    """
    if areas is None:
        areas = list(for_each_vm_area(prog))
    starts = np.array([a.addr.value_() for a in areas], dtype=np.int64)
    sizes = np.array([a.size.value_() for a in areas], dtype=np.int64)
    counts = np.maximum(sizes // PAGE_SIZE - 1, 0)  # every page but the guard page
    # area i's pages: starts[i] + PAGE_SIZE * (0 .. counts[i] - 1), all at once
    first = np.repeat(np.cumsum(counts) - counts, counts)
    index = np.arange(int(counts.sum()), dtype=np.int64) - first
    return vmalloc_to_pfn_many(prog, np.repeat(starts, counts) + index * PAGE_SIZE)


def vmalloc_to_pfn_many(prog: Program, addrs: np.ndarray) -> np.ndarray:
    """:func:`vmalloc_to_pfn` for many addresses at once (-1 where not mapped)."""
    phys = prog.translate_many(np.asarray(addrs, dtype=np.int64))
    return np.where(phys < 0, -1, phys >> 12)
