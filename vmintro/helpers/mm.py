"""``struct page`` helpers (``include/linux/mm.h``, ``include/asm-i386/page.h``)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from vmintro.accel import speedups as _speedups
from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.errors import CorruptionError, FaultError
from vmintro.types.flags import PAGE_FLAGS, ZONE_NAMES, ZONE_SHIFT

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.pagewalk import Walk
    from vmintro.program import Program

__all__ = [
    "PFN_PHYS",
    "decode_page_flags",
    "follow_pte",
    "for_each_vma",
    "max_mapnr",
    "page_address",
    "page_count",
    "page_flag_names",
    "page_to_pfn",
    "page_zone",
    "page_zone_index",
    "pfn_to_page",
    "pfn_valid",
    "task_pgd",
    "virt_to_page",
    "virt_to_pfn",
]

_FLAG_NAMES = sorted(((bit, name) for name, bit in PAGE_FLAGS.items()))
_new = object.__new__
_F = TypeVar("_F", bound=Callable[..., Any])


def _text_signature(python: Callable[..., Any]) -> str:
    """``(prog, addr)``: the parameters of ``python`` (positional ones, with their
    defaults), as a built-in function's docstring gives them to ``inspect.signature``."""
    code = python.__code__
    names = code.co_varnames[: code.co_argcount]
    defaults = python.__defaults__ or ()
    first = len(names) - len(defaults)
    params = [n if i < first else f"{n}={defaults[i - first]!r}" for i, n in enumerate(names)]
    return f"({', '.join(params)})"


def _helper(kind: str, python: _F) -> _F:
    """The helper whose Python form is ``python`` (defined as ``_NAME``, named ``NAME``
    here): where the C forms were built, its C form, a built-in function of that name
    (``vmintro._speedups.helper`` of ``kind``) with the Python form's docstring and
    signature and its module, which hands every call it does not take to ``python``
    (its ``__self__.__wrapped__``); else ``python`` itself.
    """
    name = python.__name__ = python.__qualname__ = python.__name__.lstrip("_")
    if _speedups is None:
        return python
    doc = f"{name}{_text_signature(python)}\n--\n\n{python.__doc__ or ''}"
    return _speedups.helper(getattr(_speedups, kind), python, name, doc, python.__module__)


def _page_facts(prog: Program) -> tuple[Any, ...]:
    """What the ``struct page`` helpers need, read once per program and kept on it
    (``prog._page_facts``, where the C forms of the helpers find it too): ``mem_map``,
    ``sizeof(struct page)``, ``max_mapnr`` (None where it cannot be read: the helper
    that needs it reads it again, and says why), ``high_memory``, the type
    ``struct page *`` and its Object class, whether the program is on the C forms,
    and ``PAGE_OFFSET``. All are fixed once the kernel has booted.
    """
    facts = prog._page_facts
    if facts is None:
        mem_map = prog["mem_map"].value_()
        size = prog.type("struct page").size
        ctype = prog.type("struct page *")
        try:
            limit = prog["max_mapnr"].value_()
        except FaultError:
            limit = None
        cls = prog.object_class(ctype)
        accelerated = prog._speedups is not None
        facts = (mem_map, size, limit, prog.high_memory, ctype, cls, accelerated, PAGE_OFFSET)
        prog._page_facts = facts
    return facts


def _page_object(prog: Program, facts: tuple[Any, ...], pfn: int) -> Object:
    """``mem_map + pfn``: a ``struct page *`` value, as ``Object(prog, "struct page *",
    value)`` makes it (the address wraps at 32 bits, as a pointer does)."""
    page = _new(facts[5])
    page.prog_ = prog
    page.type_ = facts[4]
    page.address_ = None
    page._value = (facts[0] + pfn * facts[1]) & 0xFFFFFFFF
    return page


def PFN_PHYS(prog: Program, pfn: int | Object) -> int:  # noqa: N802 - the kernel's macro name
    """``PFN_PHYS``: the physical address of frame ``pfn`` (drgn's signature)."""
    return operator.index(pfn) << PAGE_SHIFT


def pfn_to_page(prog: Program, pfn: int | Object) -> Object:
    """``pfn_to_page``: ``mem_map + pfn``.

    :return: ``struct page *``
    """
    return _page_object(prog, _page_facts(prog), operator.index(pfn))


def _page_to_pfn(page: Object | int, prog: Program | None = None) -> int:
    """``page_to_pfn``: ``page - mem_map`` (i386 has one ``mem_map`` from pfn 0).

    :param page: ``struct page *``, or its address with ``prog`` given.
    """
    if prog is None:
        prog = page.prog_  # type: ignore[union-attr]
    facts = _page_facts(prog)
    return (int(page) - facts[0]) // facts[1]


def max_mapnr(prog: Program) -> int:
    """``max_mapnr``: how many ``struct page`` entries ``mem_map`` has, checked
    against the RAM the image describes (``prog.ram_pages``), which bounds it.

    :raises CorruptionError: for a ``max_mapnr`` larger than that: a value no
        kernel could have set, and one that must not size a walk of ``mem_map``.
    """
    value = prog["max_mapnr"].value_()
    pages = prog.ram_pages
    if value > pages:
        what = "of RAM the image describes" if prog.ram_size else "i386 can address"
        raise CorruptionError(
            f"max_mapnr is {value:#x}, more than the {pages:#x} pages {what}",
            prog["max_mapnr"].address_,
        )
    return value


def pfn_valid(prog: Program, pfn: int) -> bool:
    """``VALID_PAGE``: ``pfn < max_mapnr``."""
    return 0 <= pfn < prog["max_mapnr"].value_()


def virt_to_pfn(prog: Program, addr: int | Object) -> int:
    """``__pa(addr) >> PAGE_SHIFT`` for a direct-mapped (lowmem) address (drgn's
    signature: the program, then an integer or a pointer Object)."""
    return (operator.index(addr) - PAGE_OFFSET) >> PAGE_SHIFT


def _virt_to_page(prog: Program, addr: int | Object) -> Object:
    """``virt_to_page``: ``mem_map + (__pa(addr) >> PAGE_SHIFT)``; lowmem addresses only.

    :raises ValueError: for an address outside the direct map.
    """
    addr = operator.index(addr)
    if not PAGE_OFFSET <= addr < prog.high_memory:
        raise ValueError(f"virt_to_page({addr:#x}): not a direct-mapped address")
    return _page_object(prog, _page_facts(prog), (addr - PAGE_OFFSET) >> PAGE_SHIFT)


# The helpers called once per address: their C forms where vmintro._speedups was
# built (the Python forms above for every call the C form does not take).
page_to_pfn = _helper("PAGE_TO_PFN", _page_to_pfn)
virt_to_page = _helper("VIRT_TO_PAGE", _virt_to_page)


def page_zone_index(page: Object) -> int:
    """The zone number kept in the top byte of ``page->flags`` (``ZONE_SHIFT``)."""
    return page.flags.value_() >> ZONE_SHIFT


def page_zone(page: Object) -> Object:
    """``page_zone``: ``zone_table[page->flags >> ZONE_SHIFT]``.

    :return: ``zone_t *``
    """
    return page.prog_["zone_table"][page_zone_index(page)]


def page_count(page: Object) -> int:
    """``page_count``: ``atomic_read(&page->count)``."""
    return page.count.counter.value_()


def page_flag_names(flags: int) -> list[str]:
    """The ``PG_*`` names of the set bits of a ``page->flags`` value (zone byte excluded)."""
    names = [name for bit, name in _FLAG_NAMES if flags >> bit & 1]
    known = sum(1 << bit for bit, _ in _FLAG_NAMES)
    unknown = flags & ((1 << ZONE_SHIFT) - 1) & ~known
    names += [f"bit{bit}" for bit in range(ZONE_SHIFT) if unknown >> bit & 1]
    return names


def decode_page_flags(page: Object | int) -> str:
    """``page->flags`` decoded as drgn does: ``"PG_reserved|PG_slab"``, with the zone.

    >>> decode_page_flags(0x01004000)
    'PG_reserved zone=Normal'
    """
    flags = page if isinstance(page, int) else page.flags.value_()
    zone = flags >> ZONE_SHIFT
    zone_name = ZONE_NAMES[zone] if zone < len(ZONE_NAMES) else str(zone)
    return f"{'|'.join(page_flag_names(flags)) or '0'} zone={zone_name}"


def page_address(page: Object) -> int:
    """``page_address``: the page's kernel virtual address, or 0 for an unmapped highmem page.

    HIGHMEM kernels keep it in ``page->virtual``; others compute ``__va`` of the frame.
    """
    prog = page.prog_
    if prog.type("struct page").has_member("virtual"):  # type: ignore[attr-defined]
        return page.virtual.value_()
    pfn = page_to_pfn(page)
    addr = PAGE_OFFSET + pfn * PAGE_SIZE
    return addr if addr < prog.high_memory else 0


def task_pgd(task: Object) -> Object | None:
    """The page directory a task runs on, as ``switch_mm`` loads it into CR3:
    ``task->mm->pgd``, or for a kernel thread (``mm`` NULL) ``task->active_mm->pgd``,
    the mm it borrowed from the task that ran before it (``schedule``'s lazy TLB;
    ``init_task``'s is ``&init_mm``: ``swapper_pg_dir``). None for a kernel thread
    that is not running: ``schedule`` set its ``active_mm`` to NULL when it
    switched away, and it will borrow the mm of whichever task runs before it.
    Which one it is: ``task.mm`` is NULL for the last two.

    :return: ``pgd_t *``, or None
    """
    mm = task.mm
    if not mm.value_():
        mm = task.active_mm
        if not mm.value_():
            return None
    return mm.pgd


# include/linux/sched.h: DEFAULT_MAX_MAP_COUNT, the most areas do_mmap_pgoff lets a
# process have (max_map_count, a sysctl left at its default)
DEFAULT_MAX_MAP_COUNT = 65536


def for_each_vma(mm: Object) -> Iterator[Object]:
    """Every area of ``mm`` (a ``struct mm_struct *``), as 2.4.20 walks them:
    ``for (vma = mm->mmap; vma; vma = vma->vm_next)``, in address order (drgn's
    helper of this name walks a later kernel's maple tree; 2.4.20 has the sorted
    list, with the red-black tree ``mm_rb`` beside it for ``find_vma``).

    The walk is bounded: more areas than ``DEFAULT_MAX_MAP_COUNT`` + 1 or than
    the machine's RAM could hold, a cycle or an unreadable ``vm_next`` raise
    :class:`~vmintro.errors.CorruptionError` naming the area holding the link.

    :return: iterator of ``struct vm_area_struct *``
    """
    from vmintro.helpers.list import singly_linked

    prog = mm.prog_
    vma = prog.type("struct vm_area_struct")
    bound = min(DEFAULT_MAX_MAP_COUNT, max(prog.ram_size, 1 << 20) // vma.size) + 1
    next_offset = vma.offsetof("vm_next")  # type: ignore[attr-defined]
    ptr = prog.type("struct vm_area_struct *")
    first = mm.mmap.value_()
    yield from singly_linked(prog, first, next_offset, f"mm {mm.value_():#x} mmap", bound, ptr)


def _follow_pte(prog: Program, pgd: Object | int, addr: Object | int) -> Walk:
    """The MMU's walk of ``addr`` from page directory ``pgd`` (a ``pgd_t *``, as
    ``mm->pgd`` or :func:`task_pgd` gives it: a kernel virtual address; CR3 holds
    its ``__pa``), entry by entry as ``pgd_offset``, ``pmd_offset`` and
    ``pte_offset`` take them in ``follow_page`` (``mm/memory.c``) and the
    ``vmalloc_fault`` path of ``do_page_fault`` (``arch/i386/mm/fault.c``): every
    entry read, then the physical address or the fault. ``prog.follow_pte(addr)``
    is the same walk from ``swapper_pg_dir``.

    :return: a :class:`~vmintro.pagewalk.Walk`
    :raises ValueError: for a ``pgd`` outside the direct map (``pgd_alloc``'s
        tables are lowmem), or not aligned as a page directory must be.
    """
    where = operator.index(pgd)
    align = 32 if prog.pae else PAGE_SIZE  # PAE's pgd is 32 bytes from pae_pgd_cachep
    if not PAGE_OFFSET <= where < prog.high_memory or where % align:
        raise ValueError(f"follow_pte: pgd {where:#x} is not a direct-mapped page directory")
    return prog.follow_pte(operator.index(addr), where - PAGE_OFFSET)


# called once per address too: its C form where vmintro._speedups was built
follow_pte = _helper("FOLLOW_PTE", _follow_pte)
