"""The simulated CPU's view of kernel virtual memory outside the direct map.

The simulator writes into vmalloc areas the way kernel code does: through
``swapper_pg_dir``. This is the writer's own walk, deliberately independent of
the reader's (they share only the architecture constants).
"""

from __future__ import annotations

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE, SWAPPER_PG_DIR
from vmintro.sim.errors import PageFault
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.paging import KernelPageTables

__all__ = ["virt_to_phys_walk", "vread", "vwrite"]


def virt_to_phys_walk(k: KernelMemory, vaddr: int, pgd_base: int = SWAPPER_PG_DIR) -> int:
    """Physical address of ``vaddr``: direct map for lowmem, else the page tables of
    ``pgd_base`` (the kernel's, ``swapper_pg_dir``, unless a process's is given:
    each copied the kernel's lowmem entries when it was made).

    :raises PageFault: no page table, or no present page, maps ``vaddr``.
    """
    if PAGE_OFFSET <= vaddr < k.config.high_memory:
        return vaddr - PAGE_OFFSET
    pt = KernelPageTables(k)
    g = k.paging
    pgd = pgd_base + g.pgd_index(vaddr) * g.entry_size
    pmd = pt.pmd_offset(pgd, vaddr)
    entry = pt.get(pmd)
    if not entry & 1:
        raise PageFault(vaddr)
    if entry & 0x80:
        return (entry & g.phys_mask & ~(g.pmd_size - 1)) | (vaddr & (g.pmd_size - 1))
    pte = pt.get(pt.pte_offset(pmd, vaddr))
    if not pte & 1:
        raise PageFault(vaddr)
    return (pte & g.phys_mask) | (vaddr & (PAGE_SIZE - 1))


def vwrite(k: KernelMemory, vaddr: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        chunk = min(len(view), PAGE_SIZE - (vaddr & (PAGE_SIZE - 1)))
        k.mem.write(virt_to_phys_walk(k, vaddr), view[:chunk])
        vaddr += chunk
        view = view[chunk:]


def vread(k: KernelMemory, vaddr: int, n: int) -> bytes:
    out = bytearray()
    while n:
        chunk = min(n, PAGE_SIZE - (vaddr & (PAGE_SIZE - 1)))
        out += k.mem.read(virt_to_phys_walk(k, vaddr), chunk)
        vaddr += chunk
        n -= chunk
    return bytes(out)
