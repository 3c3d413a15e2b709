"""The 2.4.20 helpers for drgn users: vmalloc areas and page tables on a drgn ``Program``.

drgn opens a vmintro image as an i386 kernel (``DRGN_USE_LIBKDUMPFILE_FOR_ELF=1``),
but its own page-table helpers stop there: ``drgn.helpers.linux.mm.vmalloc_to_page``
raises ``NotImplementedError: virtual address translation is not implemented for
i386 architecture``, and its ``vmalloc`` helpers expect the 2.6+ ``vmap_area``
tree. These do it the 2.4 way, through vmintro's own walk of ``swapper_pg_dir``
over a :class:`~vmintro.backends.drgn.DrgnBackend`, and hand back drgn objects::

    >>> from vmintro.hosts.drgn_helpers import *
    >>> area = next(for_each_vm_area(prog))       # struct vm_struct *
    >>> hex(area.value_()), hex(area.addr.value_())
    ('0xc10b61e0', '0xc4800000')
    >>> page = vmalloc_to_page(prog, area.addr)   # struct page *
    >>> hex(page.value_()), vmalloc_to_pfn(prog, area.addr)
    ('0xc102df0c', 4276)
    >>> decode_page_flags(page)
    '0 zone=Normal'

:func:`vmintro_program` gives the vmintro :class:`~vmintro.program.Program` behind
them (kept in ``prog.cache``), for everything else vmintro has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import drgn

from vmintro.helpers import memory as _memory
from vmintro.helpers import mm as _mm
from vmintro.helpers import pid as _pid
from vmintro.helpers import slab as _slab
from vmintro.helpers import vmalloc as _vmalloc

if TYPE_CHECKING:
    from vmintro.pagewalk import Walk
    from vmintro.program import Program

__all__ = [
    "decode_page_flags",
    "find_task",
    "follow_pte",
    "for_each_slab_cache",
    "for_each_task",
    "for_each_vm_area",
    "for_each_vma",
    "identify_address",
    "search_memory",
    "slab_object_info",
    "task_pgd",
    "vmalloc_to_page",
    "vmalloc_to_pfn",
    "vmintro_program",
]

# prog.cache key of the vmintro Program over a drgn Program
CACHE_KEY = "vmintro.program"


def vmintro_program(prog: drgn.Program) -> Program:
    """The vmintro :class:`~vmintro.program.Program` reading through ``prog``, made once.

    A core's memory never changes, so its pages are cached; a live kernel's are not.

    :raises vmintro.backends.drgn.DrgnBackendError: ``prog`` is not a vmintro-readable kernel.
    """
    cached = prog.cache.get(CACHE_KEY)
    if cached is None:
        from vmintro.backends.drgn import DrgnBackend
        from vmintro.program import Program

        backend = DrgnBackend(prog)
        cached = prog.cache[CACHE_KEY] = Program(backend, cache_pages=not backend.is_live)
    return cached


def _address(value: drgn.Object | int) -> int:
    return value.value_() if isinstance(value, drgn.Object) else int(value)


def for_each_vm_area(prog: drgn.Program) -> Iterator[drgn.Object]:
    """``for (tmp = vmlist; tmp; tmp = tmp->next)``: every area on ``vmlist``, in order.

    :return: iterator of ``struct vm_struct *``
    :raises vmintro.errors.CorruptionError: a cycle or a link that cannot be read.
    """
    for area in _vmalloc.for_each_vm_area(vmintro_program(prog)):
        yield drgn.Object(prog, "struct vm_struct *", area.value_())


def vmalloc_to_pfn(prog: drgn.Program, addr: drgn.Object | int) -> int | None:
    """``vmalloc_to_pfn``: the frame behind vmalloc (or any kernel) address ``addr``,
    or None where 2.4.20's ``vmalloc_to_page`` returns NULL (no page mapped:
    :func:`follow_pte` names the entry).

    :param addr: ``void *`` or an integer.
    :raises vmintro.errors.FaultError: a page table the walk reaches outside RAM.
    """
    return _vmalloc.vmalloc_to_pfn(vmintro_program(prog), _address(addr))


def vmalloc_to_page(prog: drgn.Program, addr: drgn.Object | int) -> drgn.Object:
    """``vmalloc_to_page``: ``mem_map + vmalloc_to_pfn(addr)``, and a NULL
    ``struct page *`` where 2.4.20's returns NULL (no page mapped).

    :param addr: ``void *`` or an integer.
    :return: ``struct page *``
    :raises vmintro.errors.FaultError: a page table the walk reaches outside RAM,
        or a frame beyond ``max_mapnr``.
    """
    page = _vmalloc.vmalloc_to_page(vmintro_program(prog), _address(addr))
    return drgn.Object(prog, "struct page *", 0 if page is None else page.value_())


def follow_pte(
    prog: drgn.Program, pgd: drgn.Object | int, addr: drgn.Object | int | None = None
) -> Walk:
    """vmintro's ``follow_pte(prog, pgd, addr)``: every level of the MMU's walk of
    ``addr`` from page directory ``pgd`` (a ``pgd_t *`` such as ``task_pgd(task)``
    or ``mm.pgd``), as ``vtop -c`` shows it. ``follow_pte(prog, addr)`` walks
    ``swapper_pg_dir`` (``init_mm``'s), as ``vtop`` does.

    :return: a :class:`~vmintro.pagewalk.Walk`: each step's entry, address and
        flags, then the physical address (or the fault that stopped the walk).
    """
    if addr is None:
        return vmintro_program(prog).follow_pte(_address(pgd))
    return _mm.follow_pte(vmintro_program(prog), _address(pgd), _address(addr))


def for_each_task(prog: drgn.Program, idle: bool = False) -> Iterator[drgn.Object]:
    """2.4.20's ``for_each_task``: the ``next_task`` ring from ``init_task``
    (``init_task_union.task``), bounded and checked; with ``idle``, ``init_task``
    first, as drgn's ``idle=True`` (drgn's own walks 2.6's pid namespaces).

    :return: iterator of ``struct task_struct *``
    """
    for task in _pid.for_each_task(vmintro_program(prog), idle):
        yield drgn.Object(prog, "struct task_struct *", int(task))


def for_each_vma(mm: drgn.Object) -> Iterator[drgn.Object]:
    """2.4.20's walk of a process's areas, ``mm->mmap`` by ``vm_next`` (drgn's helper
    of this name walks a later kernel's maple tree), bounded and checked as vmintro's
    ``for_each_vma``.

    :return: iterator of ``struct vm_area_struct *``
    :raises vmintro.errors.CorruptionError: a cycle, an unreadable link, too many areas.
    """
    from vmintro.object import Object

    prog = mm.prog_
    ours = vmintro_program(prog)
    for vma in _mm.for_each_vma(Object(ours, ours.type("struct mm_struct *"), _address(mm))):
        yield drgn.Object(prog, "struct vm_area_struct *", vma.value_())


def find_task(prog: drgn.Program, pid: int) -> drgn.Object:
    """2.4.20's ``find_task_by_pid``: the task of ``pid`` on its ``pidhash`` chain, or
    a NULL ``struct task_struct *`` as drgn's ``find_task`` gives for none.
    """
    task = _pid.find_task(vmintro_program(prog), int(pid))
    return drgn.Object(prog, "struct task_struct *", int(task) if task is not None else 0)


def task_pgd(task: drgn.Object) -> drgn.Object | None:
    """``task->mm->pgd``, or a kernel thread's ``task->active_mm->pgd``; None for a
    kernel thread that is not running (``active_mm`` NULL), as vmintro's ``task_pgd``.

    :return: ``pgd_t *``, or None
    """
    mm = task.mm if task.mm.value_() else task.active_mm
    return mm.pgd if mm.value_() else None


def decode_page_flags(page: drgn.Object | int) -> str:
    """``page->flags`` with the 2.4.20 ``PG_*`` bits and the zone in its top byte.

    >>> decode_page_flags(prog["mem_map"][0])
    'PG_reserved zone=DMA'

    :param page: ``struct page``, ``struct page *`` or a ``flags`` value.
    """
    if isinstance(page, drgn.Object):
        flags = page.flags.value_()  # drgn follows a pointer for member access
    else:
        flags = int(page)
    return _mm.decode_page_flags(flags)


def for_each_slab_cache(prog: drgn.Program) -> Iterator[drgn.Object]:
    """Every cache on 2.4.20's ``cache_chain``, ``&cache_cache`` first (drgn's
    ``for_each_slab_cache`` walks 2.6's ``slab_caches``, which 2.4 has not).

    :return: iterator of ``kmem_cache_t *``
    """
    for cache in _slab.for_each_slab_cache(vmintro_program(prog)):
        yield drgn.Object(prog, "kmem_cache_t *", int(cache))


def slab_object_info(prog: drgn.Program, addr: drgn.Object | int) -> _slab.SlabObjectInfo | None:
    """drgn's ``slab_object_info(prog, addr)`` for 2.4.20's slab allocator: the cache
    (``kmem_cache_t *``), the slab (``slab_t *``), the object's address and whether
    it is allocated; None outside slab pages.
    """
    info = _slab.slab_object_info(vmintro_program(prog), _address(addr))
    if info is None:
        return None
    return _slab.SlabObjectInfo(
        drgn.Object(prog, "kmem_cache_t *", int(info.slab_cache)),
        drgn.Object(prog, "slab_t *", int(info.slab)),
        info.address,
        info.allocated,
    )


def identify_address(prog: drgn.Program, addr: drgn.Object | int) -> str | None:
    """drgn's ``identify_address(prog, addr)``, which on a 2.4 kernel knows neither its
    slab nor its vmalloc: ``"slab object: size-32+0x4"``, ``"vmap: 0xc4800000-
    0xc4811000"``, ``"page: pfn 0x1 +0x14"``, and free blocks, guard pages,
    modules and page-table pages; None for an address it cannot place.
    """
    return _memory.identify_address(vmintro_program(prog), _address(addr))


def search_memory(
    prog: drgn.Program, value: drgn.Object | int | bytes | str, **options: object
) -> Iterator[int]:
    """Addresses holding ``value`` in the kernel's virtual memory (vmalloc areas
    through vmintro's page-table walk, which drgn's ``prog.search_memory`` lacks on
    i386), or with ``physical=True`` in RAM; options as
    :func:`vmintro.helpers.search_memory`.
    """
    if isinstance(value, drgn.Object):
        value = value.value_()
    return _memory.search_memory(vmintro_program(prog), value, **options)  # type: ignore[arg-type]
