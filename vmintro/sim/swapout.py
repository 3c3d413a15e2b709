"""``swap_out`` of ``mm/vmscan.c``: when ``shrink_cache`` meets too many mapped
pages on the inactive list, it walks the processes' page tables from
``swap_mm`` on ``init_mm.mmlist`` and unmaps what it can (``try_to_swap_out``).

An anonymous page's entry that was accessed since the last walk loses its
young bit and the page is marked accessed; an active page is left alone; any
other is unmapped and, dirty, needs a swap entry (``get_swap_page``). With no
swap space there is none, so the entry is put back (``preserve:``) and nothing
is freed: anonymous memory cannot be reclaimed without swap, which is why the
OOM killer then runs.

Deviation: with swap space, 2.4.20 would add the page to the swap cache
(``add_to_swap_cache``), set a swap entry in the pte and later write the page
out. This simulation writes nothing to swap: such a page is preserved as if
there were no swap left, and :data:`SwapOut.deferred` counts them. The reclaim
loop then reports a hang that says so (:mod:`vmintro.sim.buddy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.errors import kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.lru import mark_page_accessed
from vmintro.types.flags import PAGE_FLAGS, VM_FLAGS

if TYPE_CHECKING:
    from vmintro.sim.buddy import Buddy

__all__ = ["SwapOut", "swap_out"]

MM = "struct mm_struct"
VMA = "struct vm_area_struct"
TASK_SIZE = PAGE_OFFSET
SWAP_CLUSTER_MAX = 32
_PRESENT, _ACCESSED, _DIRTY, _PROTNONE = 0x1, 0x20, 0x40, 0x80
PG_ACTIVE = 1 << PAGE_FLAGS["PG_active"]
PG_LOCKED = 1 << PAGE_FLAGS["PG_locked"]
PG_RESERVED = 1 << PAGE_FLAGS["PG_reserved"]
PG_DIRTY = 1 << PAGE_FLAGS["PG_dirty"]
VM_LOCKED, VM_RESERVED = VM_FLAGS["VM_LOCKED"], VM_FLAGS["VM_RESERVED"]


class SwapOut:
    """What the walks did: pages whose young bit they cleared, and pages they would
    have written to swap (see the module)."""

    aged = 0
    deferred = 0


@kernel_function("try_to_swap_out", inline=True)
def try_to_swap_out(
    k: KernelMemory, buddy: Buddy, vma: int, pte: int, page: int, classzone: int
) -> int:
    """``try_to_swap_out``: 1 when the page became freeable, else 0."""
    from vmintro.sim.paging import KernelPageTables

    pt = KernelPageTables(k)
    entry = pt.get(pte)
    if k.get(vma, VMA, "vm_flags") & VM_LOCKED or entry & _ACCESSED:
        pt.set_pte(pte, entry & ~_ACCESSED)  # ptep_test_and_clear_young
        mark_page_accessed(k, page)
        SwapOut.aged += 1
        return 0
    o_flags = k.types.offsetof("struct page", "flags")
    flags = k.r32(page + o_flags)
    if flags & PG_ACTIVE or buddy.page_zone(page) > classzone or flags & PG_LOCKED:
        return 0
    old = pt.ptep_get_and_clear(pte)
    if old & _DIRTY:  # set_page_dirty
        flags |= PG_DIRTY
        k.w32(page + o_flags, flags)
    # not in the swap cache, no mapping, dirty: it needs swap (get_swap_page)
    if 0 < k.r32(k.sym("nr_swap_pages")) < 0x80000000:
        SwapOut.deferred += 1
    pt.set_pte(pte, old)  # preserve: set_pte(page_table, pte)
    return 0


@kernel_function("swap_out")
def swap_out(k: KernelMemory, buddy: Buddy, classzone: int) -> int:
    """``swap_out``: the mms of ``init_mm.mmlist`` from ``swap_mm`` on, each from
    its ``swap_address`` to the end of its address space, until SWAP_CLUSTER_MAX
    pages were freed or every mm had its turn. Returns 1 when they were."""
    from vmintro.sim.memory import UserMemory
    from vmintro.sim.mmap import Mmap

    mmap = Mmap(k, None)  # type: ignore[arg-type]  # lookups only: no VMA is made
    um = UserMemory(k, buddy, mmap)
    init_mm, swap_mm = k.sym("init_mm"), k.sym("swap_mm")
    o_mmlist = k.types.offsetof(MM, "mmlist")
    counter = k.r32(k.sym("mmlist_nr"))
    nr_pages = SWAP_CLUSTER_MAX
    while True:
        mm = k.r32(swap_mm)
        while k.get(mm, MM, "swap_address") == TASK_SIZE or mm == init_mm:
            k.set(mm, MM, "swap_address", 0)
            mm = k.r32(mm + o_mmlist) - o_mmlist
            if mm == k.r32(swap_mm):
                return 0  # empty
            k.w32(swap_mm, mm)
        nr_pages = _swap_out_mm(k, buddy, um, mm, nr_pages, classzone)
        if not nr_pages:
            return 1
        counter -= 1
        if counter < 0:
            return 0


def _swap_out_mm(
    k: KernelMemory, buddy: Buddy, um: object, mm: int, count: int, classzone: int
) -> int:
    """``swap_out_mm`` with ``swap_out_vma``, ``swap_out_pgd`` and ``swap_out_pmd``."""
    from vmintro.sim.memory import UserMemory

    assert isinstance(um, UserMemory)
    address = k.get(mm, MM, "swap_address")
    vma = um.mmap.find_vma(mm, address)
    while vma:
        address = max(address, k.get(vma, VMA, "vm_start"))
        end = k.get(vma, VMA, "vm_end")
        if not k.get(vma, VMA, "vm_flags") & VM_RESERVED:
            while address < end:
                pte = um.walk(mm, address)
                if pte is None:  # pmd_none: on to the next page table
                    pmd_size = k.paging.pmd_size
                    address = min(end, (address + pmd_size) & ~(pmd_size - 1))
                    continue
                entry = um.pt.get(pte)
                page = um._page(entry) if entry & (_PRESENT | _PROTNONE) else None
                if page is not None and not k.r32(page + um.o_flags) & PG_RESERVED:
                    count -= try_to_swap_out(k, buddy, vma, pte, page, classzone)
                    if not count:
                        k.set(mm, MM, "swap_address", address + PAGE_SIZE)
                        return 0
                address += PAGE_SIZE
            k.set(mm, MM, "swap_address", address)
        vma = k.get(vma, VMA, "vm_next")
        if vma:
            address = k.get(vma, VMA, "vm_start")
    k.set(mm, MM, "swap_address", TASK_SIZE)
    return count
