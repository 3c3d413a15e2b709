"""User page tables and anonymous pages: ``mm/memory.c`` of 2.4.20.

A write to an anonymous area goes through ``handle_mm_fault``: ``pmd_alloc``
(the pgd entry itself in 2-level mode; under PAE the pmd page ``get_pgd_slow``
gave), ``pte_alloc`` (a page from ``__get_free_page(GFP_KERNEL)``, so page
tables are always in lowmem), and ``do_anonymous_page``: a page from
``alloc_page(GFP_HIGHUSER)`` (HighMem first where there is one), cleared,
``mm->rss`` + 1, ``lru_cache_add`` and ``mark_page_accessed``, mapped writable
and dirty with the area's ``vm_page_prot``. A read of a page never written maps
``empty_zero_page`` read-only and takes nothing. A write to a page ``fork``
shared goes through ``do_wp_page``: reused when the process holds the only
reference, else copied.

``fork`` copies the page tables (``copy_page_range``: both sides write-protected,
one reference more per page, the child's ``rss`` counted); ``exit_mmap`` takes
them down (``zap_page_range``, each page's reference dropped through
``__free_pte``, then ``clear_page_tables``).

Deviation: ``pte_free`` is ``pte_free_fast`` in 2.4.20, which keeps a freed
page-table page on the per-CPU ``pte_quicklist`` (``check_pgt_cache`` trims it
to between 25 and 50 pages). The simulated kernel has no ``cpuinfo_x86``, so a
freed page table goes straight back to the page allocator (``pte_free_slow``),
and ``pte_alloc_one_fast`` always finds the quicklist empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.arch.x86 import EMPTY_ZERO_PAGE, PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.errors import kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.lru import lru_cache_add, mark_page_accessed
from vmintro.sim.mmap import VM_SHARED, Mmap
from vmintro.sim.paging import KernelPageTables
from vmintro.types.flags import GFP_HIGHMEM, GFP_USER, PAGE_FLAGS, VM_FLAGS

if TYPE_CHECKING:
    from vmintro.sim.buddy import Buddy

__all__ = ["GFP_HIGHUSER", "UserMemory"]

GFP_HIGHUSER = GFP_USER | GFP_HIGHMEM
MM = "struct mm_struct"
_PRESENT, _RW, _ACCESSED, _DIRTY, _PROTNONE = 0x1, 0x2, 0x20, 0x40, 0x80
PG_RESERVED = 1 << PAGE_FLAGS["PG_reserved"]
PG_DIRTY = 1 << PAGE_FLAGS["PG_dirty"]
VM_MAYWRITE = VM_FLAGS["VM_MAYWRITE"]


class UserMemory:
    """A process's page tables and the pages they map, over ``k``'s memory."""

    def __init__(self, k: KernelMemory, buddy: Buddy, mmap: Mmap) -> None:
        self.k, self.buddy, self.mmap = k, buddy, mmap
        mmap.pages = self  # do_munmap's zap_page_range and free_pgtables
        self.pt = KernelPageTables(k)
        self.g = k.paging
        self.esize = self.g.entry_size
        self.o_count = k.types.offsetof("struct page", "count")
        self.o_flags = k.types.offsetof("struct page", "flags")
        self.o_prot = k.types.offsetof("struct vm_area_struct", "vm_page_prot")

    # -- entries --------------------------------------------------------------------

    def pgd_offset(self, mm: int, addr: int) -> int:
        """``pgd_offset(mm, addr)``."""
        return self.k.get(mm, MM, "pgd") + self.g.pgd_index(addr) * self.esize

    def pmd_alloc(self, pgd: int, addr: int) -> int:
        """``pmd_alloc``: the pgd entry itself in 2-level mode; under PAE every user
        pgd entry holds a pmd page from ``get_pgd_slow``, so ``__pmd_alloc`` (which
        would BUG()) is never reached."""
        return self.pt.pmd_offset(pgd, addr)

    def walk(self, mm: int, addr: int) -> int | None:
        """The pte entry for ``addr`` in ``mm`` (its address), or None when no page
        table covers it."""
        pmd = self.pt.pmd_offset(self.pgd_offset(mm, addr), addr)
        if not self.pt.get(pmd) & _PRESENT:
            return None
        return self.pt.pte_offset(pmd, addr)

    def _page(self, entry: int) -> int | None:
        """``pte_page``, or None for a frame outside ``mem_map`` (``!VALID_PAGE``)."""
        pfn = self.g.pte_pfn(entry)
        if pfn >= self.k.config.num_physpages:
            return None
        return self.k.page_addr(pfn)

    def _get_page(self, page: int) -> None:
        self.k.w32(page + self.o_count, self.k.r32(page + self.o_count) + 1)

    def _rss(self, mm: int, delta: int) -> None:
        self.k.set(mm, MM, "rss", (self.k.get(mm, MM, "rss") + delta) & 0xFFFFFFFF)

    # -- faults ---------------------------------------------------------------------

    @kernel_function("handle_mm_fault")
    def handle_mm_fault(self, mm: int, vma: int, address: int, write: bool) -> int:
        """``handle_mm_fault``: 1 (a minor fault) or -1 (out of memory)."""
        pmd = self.pmd_alloc(self.pgd_offset(mm, address), address)
        pte = self.pt.pte_alloc(self.buddy, pmd, address)
        if pte is None:
            return -1
        entry = self.pt.get(pte)
        if not entry & (_PRESENT | _PROTNONE):  # !pte_present
            if entry:
                raise NotImplementedError("do_swap_page: no page is ever swapped out here")
            return self.do_anonymous_page(mm, vma, pte, write, address)  # do_no_page
        if write:
            if not entry & _RW:
                return self.do_wp_page(mm, vma, address, pte, entry)
            entry |= _DIRTY
        self.pt.set_pte(pte, entry | _ACCESSED)  # establish_pte(pte_mkyoung(entry))
        return 1

    @kernel_function("do_anonymous_page")
    def do_anonymous_page(self, mm: int, vma: int, pte: int, write: bool, addr: int) -> int:
        """``do_anonymous_page``: the zero page read-only, or for a write a page of
        its own."""
        prot = self.k.r32(vma + self.o_prot)
        if not write:
            zero = self.g.mk_pte(self.k.pa(EMPTY_ZERO_PAGE) >> 12, prot) & ~_RW
            self.pt.set_pte(pte, zero)
            return 1
        page = self.buddy.alloc_pages(GFP_HIGHUSER, 0)
        if page is None:
            return -1
        self.k.mem.write(self.k.page_pfn(page) * PAGE_SIZE, bytes(PAGE_SIZE))  # clear_user_highpage
        self._rss(mm, 1)
        entry = self.g.mk_pte(self.k.page_pfn(page), prot) | _RW | _DIRTY
        lru_cache_add(self.k, page)
        mark_page_accessed(self.k, page)
        self.pt.set_pte(pte, entry)
        return 1

    @kernel_function("do_wp_page")
    def do_wp_page(self, mm: int, vma: int, address: int, pte: int, entry: int) -> int:
        """``do_wp_page``: the only user keeps the page (``can_share_swap_page``),
        else a copy (``break_cow``) and the old page's reference dropped."""
        old = self._page(entry)
        if old is None:
            return -1  # bogus page
        count = self.k.r32(old + self.o_count)
        if count == 1 and not self.k.r32(old + self.o_flags) & PG_RESERVED:
            self.pt.set_pte(pte, entry | _RW | _DIRTY | _ACCESSED)
            return 1
        self._get_page(old)  # page_cache_get
        new = self.buddy.alloc_pages(GFP_HIGHUSER, 0)
        if new is None:
            self.buddy.free_pages(old)
            return -1
        src = self.g.pte_pfn(entry) * PAGE_SIZE
        self.k.mem.write(self.k.page_pfn(new) * PAGE_SIZE, self.k.mem.read(src, PAGE_SIZE))
        if self.pt.get(pte) == entry:  # pte_same
            if self.k.r32(old + self.o_flags) & PG_RESERVED:
                self._rss(mm, 1)
            prot = self.mmap.get(vma, "vm_page_prot.pgprot")
            self.pt.set_pte(pte, self.g.mk_pte(self.k.page_pfn(new), prot) | _RW | _DIRTY)
            lru_cache_add(self.k, new)
            new = old
        self.buddy.free_pages(new)  # page_cache_release
        self.buddy.free_pages(old)
        return 1

    # -- fork -----------------------------------------------------------------------

    @kernel_function("copy_page_range")
    def copy_page_range(self, dst: int, src: int, vma: int) -> bool:
        """``copy_page_range``: the child's entries for ``vma``, a private writable
        mapping write-protected on both sides, one reference more on each page.
        False for -ENOMEM."""
        start, end = self.mmap.get(vma, "vm_start"), self.mmap.get(vma, "vm_end")
        flags = self.mmap.get(vma, "vm_flags")
        cow = flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE
        addr = start
        while addr < end:
            src_pte = self.walk(src, addr)
            if src_pte is None:  # skip_copy_pte_range
                addr = (addr + self.g.pmd_size) & ~(self.g.pmd_size - 1)
                continue
            dst_pmd = self.pmd_alloc(self.pgd_offset(dst, addr), addr)
            dst_pte = self.pt.pte_alloc(self.buddy, dst_pmd, addr)
            if dst_pte is None:
                return False
            stop = min(end, (addr + self.g.pmd_size) & ~(self.g.pmd_size - 1) or 1 << 32)
            while addr < stop:
                entry = self.pt.get(src_pte)
                if entry:
                    page = self._page(entry) if entry & (_PRESENT | _PROTNONE) else None
                    if page is not None and not self.k.r32(page + self.o_flags) & PG_RESERVED:
                        if cow and entry & _RW:
                            entry &= ~_RW
                            self.pt.set_pte(src_pte, entry)  # ptep_set_wrprotect
                        if flags & VM_SHARED:
                            entry &= ~_DIRTY
                        entry &= ~_ACCESSED  # pte_mkold
                        self._get_page(page)
                        self._rss(dst, 1)
                    self.pt.set_pte(dst_pte, entry)
                addr += PAGE_SIZE
                src_pte += self.esize
                dst_pte += self.esize
        return True

    # -- exit -----------------------------------------------------------------------

    @kernel_function("zap_page_range")
    def zap_page_range(self, mm: int, address: int, size: int) -> None:
        """``zap_page_range``: every entry cleared, each page's reference dropped
        (``__free_pte``: a dirty entry makes the page ``PG_dirty`` first), ``rss``
        less the pages freed."""
        end = address + size
        freed = 0
        pmd_size = self.g.pmd_size
        while address < end:
            pte = self.walk(mm, address)
            nxt = ((address + pmd_size) & ~(pmd_size - 1)) or 1 << 32
            if pte is None:
                address = nxt
                continue
            while address < min(end, nxt):
                entry = self.pt.get(pte)
                if entry & (_PRESENT | _PROTNONE):
                    page = self._page(entry)
                    if page is not None and not self.k.r32(page + self.o_flags) & PG_RESERVED:
                        freed += 1
                    self.pt.set_pte(pte, 0)  # pte_clear
                    if page is not None and not self.k.r32(page + self.o_flags) & PG_RESERVED:
                        if entry & _DIRTY:  # set_page_dirty
                            fl = page + self.o_flags
                            self.k.w32(fl, self.k.r32(fl) | PG_DIRTY)
                        self.buddy.free_pages(page)  # free_page_and_swap_cache
                elif entry:
                    raise NotImplementedError(
                        "free_swap_and_cache: no page is ever swapped out here"
                    )
                address += PAGE_SIZE
                pte += self.esize
        rss = self.k.get(mm, MM, "rss")
        self.k.set(mm, MM, "rss", rss - freed if rss > freed else 0)

    @kernel_function("clear_page_tables")
    def clear_page_tables(self, mm: int, first: int = 0, nr: int | None = None) -> None:
        """``clear_page_tables(mm, first, nr)``: the page tables under ``nr`` pgd
        entries from ``first`` freed (``pte_free``) and their entries cleared; by
        default every user one (``FIRST_USER_PGD_NR``, ``USER_PTRS_PER_PGD``, as
        ``exit_mmap`` asks). PAE's pmd pages stay (``pmd_free`` is empty:
        ``pgd_free`` gives them back)."""
        pgd = self.k.get(mm, MM, "pgd")
        user = self.g.pgd_index(PAGE_OFFSET)
        for i in range(first, user if nr is None else first + nr):
            entry = pgd + i * self.esize
            if not self.pt.get(entry):
                continue
            if self.g.pmd_folded:
                self._free_one_pmd(entry)
                continue
            base = self.k.va(self.pt.get(entry) & self.g.phys_mask)
            for j in range(self.g.ptrs_per_pmd):
                self._free_one_pmd(base + j * self.esize)

    def _free_one_pmd(self, pmd: int) -> None:
        """``free_one_pmd``: the pte page freed, the entry cleared."""
        value = self.pt.get(pmd)
        if not value:
            return
        self.pt.set_pmd(pmd, 0)  # pmd_clear
        self.buddy.free_page_vaddr(self.k.va(value & self.g.phys_mask))  # pte_free
