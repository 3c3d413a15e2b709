"""Kernel page tables: the boot-time ``pagetable_init`` and the run-time ``pte_alloc``.

All entries are written into ``swapper_pg_dir`` (``init_mm.pgd``), the only
page directory the vmalloc code ever touches.
"""

from __future__ import annotations

from vmintro.arch.x86 import (
    _KERNPG_TABLE,
    _PAGE_TABLE,
    EMPTY_ZERO_PAGE,
    PAGE_KERNEL,
    PAGE_OFFSET,
    PAGE_SIZE,
    PG0,
    PG1,
    PSE_KERNEL,
    SWAPPER_PG_DIR,
)
from vmintro.sim.bootmem import Bootmem
from vmintro.sim.buddy import Buddy
from vmintro.sim.errors import kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.types.flags import GFP_KERNEL

__all__ = ["KernelPageTables"]

MASK32 = 0xFFFFFFFF


class KernelPageTables:
    """Reading and writing entries of the kernel page tables in simulated RAM."""

    def __init__(self, k: KernelMemory) -> None:
        self.k = k
        self.g = k.paging
        self.esize = self.g.entry_size
        wide = self.esize == 8
        mem = k.mem
        self._load = mem.read_u64 if wide else mem.read_u32
        self._store = mem.write_u64 if wide else mem.write_u32

    # Entries are addressed by kernel virtual address of the entry itself.
    def get(self, entry_vaddr: int) -> int:
        return self._load(entry_vaddr - PAGE_OFFSET)

    def set(self, entry_vaddr: int, value: int) -> None:
        self._store(entry_vaddr - PAGE_OFFSET, value)

    # The setters of pgtable-2level.h / pgtable-3level.h, one per level, so a
    # write's call path names the level it wrote.
    @kernel_function("set_pte", inline=True)
    def set_pte(self, pte: int, value: int) -> None:
        """``set_pte``."""
        self.set(pte, value)

    @kernel_function("set_pmd", inline=True)
    def set_pmd(self, pmd: int, value: int) -> None:
        """``set_pmd`` (``set_64bit`` in PAE; ``pmd_populate`` and ``pmd_clear`` use it)."""
        self.set(pmd, value)

    @kernel_function("set_pgd", inline=True)
    def set_pgd(self, pgd: int, value: int) -> None:
        """``set_pgd``."""
        self.set(pgd, value)

    @kernel_function("ptep_get_and_clear", inline=True)
    def ptep_get_and_clear(self, pte: int) -> int:
        """``ptep_get_and_clear``: the entry's old value; the entry is cleared."""
        old = self.get(pte)
        self.set(pte, 0)
        return old

    def pgd_offset_k(self, addr: int) -> int:
        """``pgd_offset_k``: the entry of ``swapper_pg_dir`` covering ``addr``."""
        return SWAPPER_PG_DIR + self.g.pgd_index(addr) * self.esize

    def pmd_offset(self, pgd_entry: int, addr: int) -> int:
        """``pmd_offset``: folded into the pgd entry in 2-level mode."""
        if self.g.pmd_folded:
            return pgd_entry
        pmd_page = self.k.va(self.get(pgd_entry) & self.g.phys_mask)
        return pmd_page + self.g.pmd_index(addr) * self.esize

    def pte_offset(self, pmd_entry: int, addr: int) -> int:
        pte_page = self.k.va(self.get(pmd_entry) & self.g.phys_mask)
        return pte_page + self.g.pte_index(addr) * self.esize

    @kernel_function("pte_alloc")
    def pte_alloc(self, buddy: Buddy, pmd_entry: int, addr: int) -> int | None:
        """``pte_alloc(&init_mm, pmd, addr)``: a zeroed page from ``pte_alloc_one``,
        which takes it from the page allocator ``buddy``.

        The per-CPU ``pte_quicklist`` is always empty here: kernel page tables are
        never freed, so nothing ever goes back to it.
        """
        if self.get(pmd_entry) == 0:
            new = self.pte_alloc_one(buddy)
            if new is None:
                return None
            self.set_pmd(pmd_entry, self.k.pa(new) | _PAGE_TABLE)  # pmd_populate
        return self.pte_offset(pmd_entry, addr)

    @kernel_function("pte_alloc_one", inline=True)
    def pte_alloc_one(self, buddy: Buddy) -> int | None:
        """``pte_alloc_one``: a page from ``__get_free_page``, cleared."""
        new = buddy.get_free_pages(GFP_KERNEL, 0)
        if new is not None:
            self.k.zero(new, PAGE_SIZE)  # clear_page
        return new

    # -- boot -----------------------------------------------------------------------

    def head_s(self) -> None:
        """The static boot tables of head.S: pg0/pg1 identity-map 0-8 MiB.

        swapper_pg_dir's initialiser is 2-level even in a PAE build
        (BOOT_USER_PGD_PTRS uses TWOLEVEL_PGDIR_SHIFT); PAE setup later
        rewrites only its first 32 bytes.
        """
        k = self.k
        for i in range(1024):
            k.w32(PG0 + 4 * i, (i * PAGE_SIZE) | 0x007)
            k.w32(PG1 + 4 * i, ((1024 + i) * PAGE_SIZE) | 0x007)
        for idx, table in ((0, PG0), (1, PG1), (768, PG0), (769, PG1)):
            k.w32(SWAPPER_PG_DIR + 4 * idx, k.pa(table) | 0x007)

    def pagetable_init(self, bm: Bootmem) -> int | None:
        """``pagetable_init``: map lowmem (4 MiB/2 MiB PSE pages or 4 KiB tables), fixmap,
        pkmap, the tables from the boot-time allocator ``bm``.

        Returns ``pkmap_page_table`` on HIGHMEM kernels.
        """
        k, g, cfg = self.k, self.g, self.k.config
        layout = cfg.layout
        end = k.va(cfg.max_low_pfn * PAGE_SIZE)
        if g.pae:
            for i in range(g.ptrs_per_pgd):
                self.set(SWAPPER_PG_DIR + i * self.esize, k.pa(EMPTY_ZERO_PAGE) + 1)
        for i in range(g.pgd_index(PAGE_OFFSET), g.ptrs_per_pgd):
            vaddr = i * g.pgdir_size
            if vaddr >= end:
                break
            pgd = SWAPPER_PG_DIR + i * self.esize
            if g.pae:
                pmd_page = bm.alloc_low_pages(PAGE_SIZE)
                self.set(pgd, k.pa(pmd_page) + 1)
            else:
                pmd_page = pgd
            for j in range(g.ptrs_per_pmd):
                vaddr = i * g.pgdir_size + j * g.pmd_size
                if vaddr >= end:
                    break
                pmd = pmd_page + j * self.esize
                if cfg.pse:
                    self.set(pmd, (vaddr - PAGE_OFFSET) | PSE_KERNEL)
                    continue
                pte_base = bm.alloc_low_pages(PAGE_SIZE)
                for n in range(g.ptrs_per_pte):
                    va = vaddr + n * PAGE_SIZE
                    if va >= end:
                        break
                    self.set(pte_base + n * self.esize, (va - PAGE_OFFSET) | PAGE_KERNEL)
                self.set(pmd, _KERNPG_TABLE + k.pa(pte_base))
        self.fixrange_init(bm, layout.fixmap_lowest & ~(g.pmd_size - 1), 0)
        pkmap = None
        if layout.highmem:
            base = layout.pkmap_base
            self.fixrange_init(bm, base, layout.pkmap_end)
            pkmap = self.pte_offset(self.pmd_offset(self.pgd_offset_k(base), base), base)
        if g.pae:
            self.set(SWAPPER_PG_DIR, self.get(SWAPPER_PG_DIR + 3 * self.esize))
        return pkmap

    def fixrange_init(self, bm: Bootmem, start: int, end: int) -> None:
        """``fixrange_init``: an empty pte page from ``bm`` for every pmd slot of [start, end)."""
        k, g = self.k, self.g
        vaddr = start
        i = g.pgd_index(vaddr)
        j = g.pmd_index(vaddr)
        while i < g.ptrs_per_pgd and vaddr != end:
            pgd = SWAPPER_PG_DIR + i * self.esize
            # pgd_none() is always false on i386, so PAE reuses the pmd page it has.
            pmd_page = pgd if g.pmd_folded else self.k.va(self.get(pgd) & g.phys_mask)
            while j < g.ptrs_per_pmd and vaddr != end:
                pmd = pmd_page + j * self.esize
                if self.get(pmd) == 0:
                    pte = bm.alloc_low_pages(PAGE_SIZE)
                    self.set(pmd, _KERNPG_TABLE + k.pa(pte))
                vaddr = (vaddr + g.pmd_size) & MASK32
                j += 1
            j = 0
            i += 1

    def zap_low_mappings(self) -> None:
        """``zap_low_mappings``: drop the identity mapping of low memory (UP: end of mem_init)."""
        g = self.g
        for i in range(g.pgd_index(PAGE_OFFSET)):
            pgd = SWAPPER_PG_DIR + i * self.esize
            self.set(pgd, self.k.pa(EMPTY_ZERO_PAGE) + 1 if g.pae else 0)
