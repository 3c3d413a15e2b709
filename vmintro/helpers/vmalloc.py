"""vmalloc helpers (``mm/vmalloc.c``): ``vmlist`` walks and vmalloc address translation."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

from vmintro.arch.x86 import _PAGE_PRESENT, _PAGE_PROTNONE, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import CorruptionError, FaultError
from vmintro.helpers.list import singly_linked
from vmintro.helpers.mm import _helper, _page_facts, _page_object
from vmintro.object import Object
from vmintro.types.model import CType, Pointer, Struct, strip_typedefs

if TYPE_CHECKING:
    import numpy as np

    from vmintro.program import Program

__all__ = [
    "VM_ALLOC",
    "VM_IOREMAP",
    "find_vm_area",
    "for_each_vm_area",
    "get_vm_area_size",
    "is_vmalloc_addr",
    "max_vm_areas",
    "vm_area_nr_pages",
    "vm_area_pages",
    "vmalloc_area_pages",
    "vmalloc_area_pfns",
    "vmalloc_to_page",
    "vmalloc_to_pfn",
    "vmalloc_to_pfn_many",
]

VM_IOREMAP = 0x1
VM_ALLOC = 0x2
# pte_present() of include/asm-i386/pgtable.h
_PTE_PRESENT = _PAGE_PRESENT | _PAGE_PROTNONE


def max_vm_areas(prog: Program) -> int:
    """The most areas ``vmlist`` can hold: each takes two pages (one mapped, one
    guard) of the vmalloc range, and no two share one.
    """
    return max(prog.vmalloc_end - prog.vmalloc_start, 0) // (2 * PAGE_SIZE) + 1


def for_each_vm_area(prog: Program) -> Iterator[Object]:
    """Every ``struct vm_struct *`` on ``vmlist``, in list (address) order.

    The walk stops with :class:`~vmintro.errors.CorruptionError` on a cycle or a
    ``next`` that cannot be read, naming the ``vm_struct`` that holds the link.
    """
    # chain takes the walk's nodes with no generator of ours between it and the caller
    # (a frame resumed per node); the walk is set up, as a generator's body, on first next()
    return chain.from_iterable(_vmlist_walk(prog))


def _vmlist_walk(prog: Program) -> Iterator[Iterator[Object]]:
    """The one walk :func:`for_each_vm_area` gives, made when its first node is asked for."""
    vm_type = prog.type("struct vm_struct")
    next_offset = vm_type.offsetof("next")  # type: ignore[attr-defined]
    ptr_type = prog.type("struct vm_struct *")
    first = prog["vmlist"].value_()
    # each node a 32-bit pointer read from memory: a value of the pointer type
    yield singly_linked(prog, first, next_offset, "vmlist", max_vm_areas(prog), ptr_type)


def is_vmalloc_addr(prog: Program, addr: int | Object) -> bool:
    """``VMALLOC_START <= addr < VMALLOC_END``; ``addr`` an integer or a pointer Object."""
    return prog.vmalloc_start <= operator.index(addr) < prog.vmalloc_end


def find_vm_area(prog: Program, addr: int | Object) -> Object | None:
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


def _vmalloc_to_pfn(prog: Program, addr: int | Object) -> int | None:
    """``vmalloc_to_pfn``: the frame behind a vmalloc (or ioremap) address, or None
    where 2.4.20's ``vmalloc_to_page`` returns NULL (see :func:`vmalloc_to_page`).

    2.4.20 has no ``vmalloc_to_pfn`` (later kernels' is ``page_to_pfn(vmalloc_to_page(addr))``).
    ``prog.translate(addr) >> PAGE_SHIFT`` is the form that raises, naming the
    entry that is not present.

    :param addr: an integer or a pointer Object (``area.addr``), as drgn's takes.
    :raises FaultError: for an address that is not a 32-bit one, or a page table
        the walk reaches outside RAM.
    """
    address = operator.index(addr)
    try:
        return prog.translate(address) >> PAGE_SHIFT
    except FaultError:
        if not 0 <= address < 1 << 32:
            raise
    return _pte_page_pfn(prog, address)


def _pte_page_pfn(prog: Program, address: int) -> int | None:
    """The frame 2.4.20's ``vmalloc_to_page`` (mm/memory.c) finds where the MMU
    finds none: ``pgd_offset_k``, then ``pmd_none`` (the entry is 0) gives NULL,
    ``pmd_offset``/``pte_offset`` follow any other entry, present or not (on i386
    ``pgd_none`` is always false), and ``pte_present`` (``PRESENT | PROTNONE``)
    decides between ``pte_page`` and NULL.
    """
    walker = prog.walker
    levels = prog.paging.levels
    mask = prog.paging.phys_mask
    base = prog.swapper_pg_dir
    for n, level in enumerate(levels):
        try:
            entry = walker.table(base, n)[level.index(address)]
        except FaultError:
            raise FaultError(
                address,
                f"vmalloc_to_page({address:#x}): {level.name} table at physical "
                f"{base:#x} is outside RAM",
            ) from None
        if n == len(levels) - 1:
            return (entry & mask) >> PAGE_SHIFT if entry & _PTE_PRESENT else None
        if n == len(levels) - 2 and entry == 0:
            return None  # pmd_none
        base = entry & mask & ~(PAGE_SIZE - 1)
    return None  # unreachable: the last level returns


def _vmalloc_to_page(prog: Program, addr: int | Object) -> Object | None:
    """``vmalloc_to_page``: the ``struct page *`` of the frame behind a vmalloc (or
    ioremap) address, or None where 2.4.20's returns NULL: an empty pmd entry
    (``pmd_none``) or a pte that is not ``pte_present`` (neither PRESENT nor
    PROTNONE), as an unmapped page or a guard page has.

    :return: ``struct page *``, or None
    :raises FaultError: for an address that is not a 32-bit one, a page table the
        walk reaches outside RAM, or a frame beyond ``max_mapnr`` (an ioremap of
        device memory has no ``struct page``).
    """
    pfn = vmalloc_to_pfn(prog, addr)
    if pfn is None:
        return None
    facts = _page_facts(prog)
    limit = facts[2]
    if limit is None:
        limit = prog["max_mapnr"].value_()  # could not be read: says why
    if pfn >= limit:
        where = operator.index(addr)
        raise FaultError(where, f"{where:#x} maps pfn {pfn:#x}, beyond max_mapnr: no struct page")
    return _page_object(prog, facts, pfn)


# Called once per address: C forms where vmintro._speedups was built (vmintro.helpers.mm)
vmalloc_to_pfn = _helper("VMALLOC_TO_PFN", _vmalloc_to_pfn)
vmalloc_to_page = _helper("VMALLOC_TO_PAGE", _vmalloc_to_page)


def vm_area_nr_pages(prog: Program, vm_struct: int, addr: int, size: int) -> int:
    """The pages of the area ``[addr, addr + size)`` that ``vm_struct`` describes,
    its guard page not counted (later kernels keep it in ``vm_struct.nr_pages``),
    once its size is known to be possible.

    :raises CorruptionError: for a size larger than the whole vmalloc range, or one
        that runs past 4 GiB: one line naming the ``vm_struct`` and the area's address.
    """
    start, end = prog.vmalloc_start, prog.vmalloc_end
    why = None
    if size > end - start:
        why = f"more than the vmalloc range {start:#x}-{end:#x} holds ({end - start:#x} bytes)"
    elif addr + size > 1 << 32:
        why = "it runs past the end of the address space"
    if why is not None:
        raise CorruptionError(
            f"vm_struct {vm_struct:#x} (area {addr:#x}) has an impossible size {size:#x}: {why}",
            vm_struct,
        )
    return max(size // PAGE_SIZE - 1, 0)


def get_vm_area_size(area: Object) -> int:
    """``get_vm_area_size``: the bytes of ``area`` (``struct vm_struct *``) without
    its guard page, ``size - PAGE_SIZE`` in whole pages (0 for less than two pages).

    2.4.20 has no such function (2.6.28 added it); every walk of an area's pages
    sizes itself by it, so it refuses a size no area could have.

    :raises CorruptionError: for a size larger than the whole vmalloc range, or one
        that runs past 4 GiB.
    """
    count = vm_area_nr_pages(area.prog_, area.value_(), area.addr.value_(), area.size.value_())
    return count * PAGE_SIZE


def vm_area_pages(area: Object) -> Iterator[tuple[int, int | None]]:
    """(virtual address, pfn or None) for every page of an area but its guard page.

    :raises CorruptionError: at once, for an impossible size (:func:`get_vm_area_size`).
    """
    prog = area.prog_
    start = area.addr.value_()
    end = start + get_vm_area_size(area)
    return _vm_area_pages(prog, start, end)


def _vm_area_pages(prog: Program, start: int, end: int) -> Iterator[tuple[int, int | None]]:
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

    :raises CorruptionError: for an impossible size (:func:`get_vm_area_size`).
    """
    import numpy as np  # imported when a helper needs it: the plugins import this module

    prog = area.prog_
    start = area.addr.value_()
    count = get_vm_area_size(area) // PAGE_SIZE
    pfns = vmalloc_to_pfn_many(prog, start + PAGE_SIZE * np.arange(count, dtype=np.int64))
    return [None if pfn < 0 else pfn for pfn in pfns.tolist()]


def vmalloc_area_pfns(prog: Program, areas: Iterable[Object] | None = None) -> np.ndarray:
    """Frames of every mapped page of ``areas`` (all of vmlist by default), in order.

    The bulk form of :func:`vmalloc_to_pfn`; unmapped pages give -1. ``areas`` is
    a list (any iterable) of ``struct vm_struct *``: for one area, ``[area]``.

    :raises TypeError: for one area instead of a list, or a list holding anything
        but ``struct vm_struct *`` objects.
    :raises CorruptionError: before anything is read, for an area of impossible
        size (:func:`get_vm_area_size`), or areas adding up to more pages than the
        vmalloc range has: areas that overlap over and over.
    """
    import numpy as np

    if areas is None:
        areas = list(for_each_vm_area(prog))
    elif isinstance(areas, Object) or not isinstance(areas, Iterable):
        raise TypeError(
            f"vmalloc_area_pfns() takes a list of struct vm_struct *, not {_what(areas)}"
            + (": for one area, pass [area]" if isinstance(areas, Object) else "")
        )
    else:
        areas = list(areas)
        _check_vm_structs(areas)
    starts = np.array([a.addr.value_() for a in areas], dtype=np.int64)
    sizes = np.array([a.size.value_() for a in areas], dtype=np.int64)
    # every size checked at once; the first impossible one says why, in one line
    impossible = (sizes > prog.vmalloc_end - prog.vmalloc_start) | (starts + sizes > 1 << 32)
    if impossible.any():
        bad = areas[int(np.argmax(impossible))]
        vm_area_nr_pages(prog, bad.value_(), bad.addr.value_(), bad.size.value_())
    counts = np.maximum(sizes // PAGE_SIZE - 1, 0)  # every page but the guard page
    # Disjoint areas never add up to more pages than the range: a bound on the arrays.
    limit = (prog.vmalloc_end - prog.vmalloc_start) // PAGE_SIZE
    totals = np.cumsum(counts)
    if len(totals) and totals[-1] > limit:
        over = areas[int(np.argmax(totals > limit))]
        raise CorruptionError(
            f"vmlist: up to vm_struct {over.value_():#x} (area {over.addr.value_():#x}) "
            f"the areas add up to more than the {limit:#x} pages of the vmalloc range: "
            "they overlap",
            over.value_(),
        )
    # area i's pages: starts[i] + PAGE_SIZE * (0 .. counts[i] - 1), all at once
    first = np.repeat(totals - counts, counts)
    index = np.arange(int(counts.sum()), dtype=np.int64) - first
    return vmalloc_to_pfn_many(prog, np.repeat(starts, counts) + index * PAGE_SIZE)


def _check_vm_structs(areas: list[Any]) -> None:
    """Raise TypeError, naming one that is not, unless all are ``struct vm_struct *``.

    The objects of one type share a class made for it (:meth:`Program.object_class`):
    such a class is looked at once, through its first object; any other class (plain
    :class:`Object`, a caller's own) object by object.
    """
    for cls in set(map(type, areas)):
        of_cls = (a for a in areas if type(a) is cls)
        for a in [next(of_cls)] if getattr(cls, "_by_type", False) else of_cls:
            if not isinstance(a, Object) or not _is_vm_struct_pointer(a.type_):
                raise TypeError(
                    f"vmalloc_area_pfns() takes a list of struct vm_struct *, "
                    f"but the list holds {_what(a)}"
                )


def _is_vm_struct_pointer(ctype: CType) -> bool:
    ctype = strip_typedefs(ctype)
    if not isinstance(ctype, Pointer):
        return False
    target = strip_typedefs(ctype.target)
    return isinstance(target, Struct) and target.tag == "vm_struct"


def _what(value: object) -> str:
    if isinstance(value, Object):
        return f"one {value.type_.c_name}"
    return f"a value of type {type(value).__name__}"


def vmalloc_to_pfn_many(prog: Program, addrs: np.ndarray) -> np.ndarray:
    """:func:`vmalloc_to_pfn` for many addresses at once (-1 where not mapped)."""
    import numpy as np

    phys = prog.translate_many(np.asarray(addrs, dtype=np.int64))
    return np.where(phys < 0, -1, phys >> 12)
