"""``mm/vmalloc.c`` and ``arch/i386/mm/ioremap.c`` of 2.4.20, over simulated RAM.

``vmlist`` is a NULL-terminated list of ``vm_struct``s (from size-32) sorted
by address; each area is followed by a one-page guard that never gets a PTE.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator

from vmintro.accel import simspeedups
from vmintro.arch.x86 import PAGE_KERNEL, PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.buddy import Buddy
from vmintro.sim.errors import KernelBug, LoopGuard, PageFault, SimulationError, kernel_function
from vmintro.sim.kernel import KERN_CRIT, KERN_ERR, KernelMemory
from vmintro.sim.paging import KernelPageTables
from vmintro.sim.slab import Slab
from vmintro.types.flags import GFP_DMA, GFP_HIGHMEM, GFP_KERNEL, VM_ALLOC, VM_IOREMAP, PG_reserved

__all__ = ["Vmalloc"]

VM = "struct vm_struct"
MASK32 = 0xFFFFFFFF
_PAGE_PRESENT, _PAGE_RW, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PCD = 0x1, 0x2, 0x20, 0x40, 0x10
VMLIST_LOCK = "vmlist_lock held for writing"  # get_vm_area and vfree: write_lock(&vmlist_lock)
_U32 = struct.Struct("<I")


@functools.cache
def _words(size: int) -> struct.Struct:
    """The layout of ``size`` bytes as little-endian 32-bit words."""
    return struct.Struct(f"<{size // 4}I")


def page_align(size: int) -> int:
    return (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & MASK32


def pmd_error(pae: bool, pmd: int, entry: int) -> str:
    """``pmd_ERROR(*pmd)`` as ``free_area_pte`` (mm/vmalloc.c line 30) prints it: the
    2-level macro prints the entry, the PAE one (pgtable-3level.h) its address too."""
    if pae:
        return f"vmalloc.c:30: bad pmd {pmd:08x}({entry:016x})."
    return f"vmalloc.c:30: bad pmd {entry:08x}."


class Vmalloc:
    """The vmalloc allocator of one simulated kernel."""

    def __init__(self, k: KernelMemory, buddy: Buddy, slab: Slab) -> None:
        """Over ``k``'s memory: vm_structs from ``slab``, pages and page tables from ``buddy``."""
        self.k = k
        self.buddy = buddy
        self.slab = slab
        self.pt = KernelPageTables(k)
        self.g = k.paging
        self.vmlist = k.sym("vmlist")
        self.o_next = k.types.offsetof(VM, "next")
        self.o_addr = k.types.offsetof(VM, "addr")
        self.o_size = k.types.offsetof(VM, "size")
        self.vm_size = k.types.sizeof(VM)
        # The walks read a whole vm_struct (32-bit words) in one unpack: word indexes
        self._i_addr, self._i_size, self._i_next = (
            self.o_addr // 4,
            self.o_size // 4,
            self.o_next // 4,
        )
        # Ground truth only, never read back by the simulator: who asked for each
        # live area, and the frame each mapped page was given.
        self.records: dict[int, dict[str, int | str]] = {}
        self.frames: dict[int, int] = {}
        self.freed: list[dict[str, int | str]] = []

    # -- vmlist ---------------------------------------------------------------------

    def links(self, guard: LoopGuard | None) -> Iterator[tuple[int, int]]:
        """(link address, node) pairs along vmlist, as ``for (p = &vmlist; ...)`` walks it.

        The walk follows memory; ``guard`` sees each node and stops a walk that
        would go round forever.
        """
        k = self.k
        p = self.vmlist
        tmp = k.r32(p)
        while tmp:
            if guard is not None:
                guard.visit(tmp)
            yield p, tmp
            p = tmp + self.o_next
            tmp = k.r32(p)
        yield p, 0

    def _nodes(self) -> Iterator[int]:
        """The nodes of vmlist from its head, for as long as the list goes on."""
        return (tmp for _, tmp in self.links(None) if tmp)

    @kernel_function("get_vm_area", entry=("size", "flags"), returns="pointer")
    def get_vm_area(self, size: int, flags: int, owner: str = "") -> int | None:
        """``get_vm_area``: address-ordered first fit from VMALLOC_START, guard page added.

        :raises KernelHang: vmlist loops and the fit is never found.
        """
        k = self.k
        area = self.slab.kmalloc(self.vm_size, GFP_KERNEL)
        if area is None:
            return None
        size = (size + PAGE_SIZE) & MASK32
        if not size:
            self.slab.kfree(area)
            return None
        fit = self._first_fit(size)
        if fit is None:
            self.slab.kfree(area)
            return None
        p, tmp, addr = fit
        k.set_many(area, VM, flags=flags, addr=addr, size=size, next=tmp)
        k.w32(p, area)
        self.records[addr] = {"vm_struct": area, "size": size, "flags": flags, "owner": owner}
        return area

    def _first_fit(self, size: int) -> tuple[int, int, int] | None:
        """get_vm_area's walk: ``(p, tmp, addr)``, the new area of ``size`` bytes (guard
        included) going at ``addr`` between the node holding link ``p`` and node
        ``tmp``; None where the kernel's loop gives up.

        :raises KernelHang: the walk would go round forever.
        """
        k, cfg = self.k, self.k.config
        # The loop's next step depends on the node and the candidate address only:
        # when that pair comes back, the walk goes round forever. Brent's method finds
        # the pair again within a few rounds of the loop at the cost of a comparison
        # per node (a loop only rereads memory, so finding it later changes nothing);
        # the guard then names the link that closes it.
        guard = LoopGuard("get_vm_area", "vmlist", VMLIST_LOCK, nodes=self._nodes)
        vm_end, o_next = cfg.vmalloc_end, self.o_next
        # A node inside one page of the direct map is read in one unpack, this loop
        # being the hottest of all; any other goes through the page tables as k.get does.
        stored, node_at = k.mem.stored, _words(self.vm_size).unpack_from
        i_addr, i_size, i_next = self._i_addr, self._i_size, self._i_next
        last_node, in_page = cfg.high_memory - self.vm_size, PAGE_SIZE - self.vm_size
        p = self.vmlist
        tmp = k.r32(p)
        addr = cfg.vmalloc_start
        mark, mark_addr, steps, power = tmp, addr, 0, 1
        if simspeedups is not None and tmp:
            # the C form runs this loop while nodes lie in one page of the direct map
            how, p, tmp, addr, mark, mark_addr, steps, power = simspeedups.walk_vmlist(
                stored, True, last_node, in_page, i_addr, i_size, i_next, o_next,
                size, vm_end, p, tmp, addr, mark, mark_addr, steps, power,
            )  # fmt: skip
            if how == simspeedups.FOUND:
                return p, tmp, addr
            if how == simspeedups.REFUSED:
                return None
            if how == simspeedups.LOOPED:
                guard.looped()
        while tmp:  # from the head, or where the C form handed the walk back
            if (size + addr) > MASK32:
                return None
            nxt = None
            if PAGE_OFFSET <= tmp <= last_node and tmp & 0xFFF <= in_page:
                page = stored.get((tmp - PAGE_OFFSET) >> 12)
                if page is None:
                    tmp_addr = tmp_size = nxt = 0
                else:
                    node = node_at(page, tmp & 0xFFF)
                    tmp_addr, tmp_size, nxt = node[i_addr], node[i_size], node[i_next]
            else:
                tmp_addr, tmp_size = k.get(tmp, VM, "addr"), k.get(tmp, VM, "size")
            if size + addr <= tmp_addr:
                break
            addr = (tmp_size + tmp_addr) & MASK32
            if addr > vm_end - size:
                return None
            p = tmp + o_next
            tmp = k.r32(p) if nxt is None else nxt
            steps += 1
            if tmp == mark and addr == mark_addr:
                guard.looped()
            if steps == power:
                mark, mark_addr, steps, power = tmp, addr, 0, power * 2
        return p, tmp, addr

    def _find(self, addr: int) -> tuple[int, int]:
        """vfree's search: ``(link, tmp)``, the node whose ``addr`` is ``addr`` and the
        link that points at it; ``tmp`` is 0 when the list ends first.

        :raises KernelHang: the search would go round forever.
        """
        k = self.k
        # The search's next step depends on the node alone: a node met again means it
        # goes round forever. As in get_vm_area, Brent's method finds that and the
        # guard names the link that closes the loop, as it would have node by node.
        guard = LoopGuard("vfree", "vmlist", VMLIST_LOCK, nodes=self._nodes)
        stored, node_at = k.mem.stored, _words(self.vm_size).unpack_from
        i_addr, i_next, o_next = self._i_addr, self._i_next, self.o_next
        last_node, in_page = k.config.high_memory - self.vm_size, PAGE_SIZE - self.vm_size
        link = self.vmlist
        tmp = k.r32(link)
        mark, steps, power = tmp, 0, 1
        if simspeedups is not None and tmp:
            # the same C loop as get_vm_area's, searching (fit False) for addr
            how, link, tmp, _, mark, _, steps, power = simspeedups.walk_vmlist(
                stored, False, last_node, in_page, i_addr, 0, i_next, o_next,
                0, 0, link, tmp, addr, mark, addr, steps, power,
            )  # fmt: skip
            if how == simspeedups.FOUND:
                return link, tmp
            if how == simspeedups.LOOPED:
                guard.looped()
        while tmp:
            nxt = None
            if PAGE_OFFSET <= tmp <= last_node and tmp & 0xFFF <= in_page:
                page = stored.get((tmp - PAGE_OFFSET) >> 12)
                if page is None:
                    tmp_addr = nxt = 0
                else:
                    node = node_at(page, tmp & 0xFFF)
                    tmp_addr, nxt = node[i_addr], node[i_next]
            else:
                tmp_addr = k.get(tmp, VM, "addr")
            if tmp_addr == addr:
                return link, tmp
            link = tmp + o_next
            tmp = k.r32(link) if nxt is None else nxt
            steps += 1
            if tmp == mark:
                guard.looped()
            if steps == power:
                mark, steps, power = tmp, 0, power * 2
        return link, 0

    def areas(self) -> list[tuple[int, int, int, int]]:
        """(vm_struct, addr, size, flags) of every area, list order.

        The simulator's own look at vmlist (fault injection picks its victims
        here), not a kernel walk: it ends where the list goes round again or
        points at memory nothing maps.
        """
        k = self.k
        found: list[tuple[int, int, int, int]] = []
        seen: set[int] = set()
        try:
            for _, tmp in self.links(None):
                if not tmp or tmp in seen:
                    break
                seen.add(tmp)
                get = k.get
                found.append(
                    (tmp, get(tmp, VM, "addr"), get(tmp, VM, "size"), get(tmp, VM, "flags"))
                )
        except PageFault:
            pass
        return found

    # -- vmalloc --------------------------------------------------------------------

    @kernel_function("vmalloc", entry=("size",), returns="pointer", inline=True)
    def vmalloc(self, size: int, owner: str = "") -> int | None:
        """``vmalloc``: GFP_KERNEL | __GFP_HIGHMEM, PAGE_KERNEL."""
        return self.__vmalloc(size, GFP_KERNEL | GFP_HIGHMEM, PAGE_KERNEL, owner)

    @kernel_function("vmalloc_dma", entry=("size",), returns="pointer", inline=True)
    def vmalloc_dma(self, size: int, owner: str = "") -> int | None:
        """``vmalloc_dma``: GFP_KERNEL | GFP_DMA."""
        return self.__vmalloc(size, GFP_KERNEL | GFP_DMA, PAGE_KERNEL, owner)

    @kernel_function("vmalloc_32", entry=("size",), returns="pointer", inline=True)
    def vmalloc_32(self, size: int, owner: str = "") -> int | None:
        """``vmalloc_32``: GFP_KERNEL (lowmem only)."""
        return self.__vmalloc(size, GFP_KERNEL, PAGE_KERNEL, owner)

    @kernel_function("__vmalloc")
    def __vmalloc(self, size: int, gfp_mask: int, prot: int, owner: str = "") -> int | None:
        """``__vmalloc``: 2.4.20 calls BUG() for a zero or oversized request."""
        size = page_align(size)
        if not size or (size >> 12) > self.k.config.num_physpages:
            raise KernelBug("__vmalloc", "!size || (size >> PAGE_SHIFT) > num_physpages")
        area = self.get_vm_area(size, VM_ALLOC, owner)
        if area is None:
            return None
        addr = self.k.get(area, VM, "addr")
        if not self.vmalloc_area_pages(addr, size, gfp_mask, prot):
            self.vfree(addr)
            return None
        return addr

    @kernel_function("vmalloc_area_pages")
    def vmalloc_area_pages(self, address: int, size: int, gfp_mask: int, prot: int) -> bool:
        """``vmalloc_area_pages`` -> ``alloc_area_pmd`` -> ``alloc_area_pte``."""
        g = self.g
        end = address + size
        while True:
            pgd = self.pt.pgd_offset_k(address)
            pmd = self.pt.pmd_offset(pgd, address)
            span = address & ~(g.pgdir_size - 1)
            if not self._alloc_area_pmd(pmd, span, address, end - address, gfp_mask, prot):
                return False
            address = (address + g.pgdir_size) & ~(g.pgdir_size - 1) & MASK32
            if not (address and address < end):
                return True

    @kernel_function("alloc_area_pmd", inline=True)
    def _alloc_area_pmd(
        self, pmd: int, span: int, address: int, size: int, gfp: int, prot: int
    ) -> bool:
        g = self.g
        address &= g.pgdir_size - 1
        end = min(address + size, g.pgdir_size)
        while True:
            pte = self.pt.pte_alloc(self.buddy, pmd, address)
            if pte is None:
                return False
            base = span + (address & ~(g.pmd_size - 1))
            if not self._alloc_area_pte(pte, base, address, end - address, gfp, prot):
                return False
            address = (address + g.pmd_size) & ~(g.pmd_size - 1)
            pmd += g.entry_size
            if address >= end:
                return True

    @kernel_function("alloc_area_pte", inline=True)
    def _alloc_area_pte(
        self, pte: int, base: int, address: int, size: int, gfp: int, prot: int
    ) -> bool:
        k, g = self.k, self.g
        address &= g.pmd_size - 1
        end = min(address + size, g.pmd_size)
        while True:
            page = self.buddy.alloc_pages(gfp, 0)
            if self.pt.get(pte) != 0:
                k.printk(KERN_ERR + "alloc_area_pte: page already exists")
            if page is None:
                return False
            pfn = k.page_pfn(page)
            self.pt.set_pte(pte, g.mk_pte(pfn, prot))
            self.frames[base + address] = pfn
            address += PAGE_SIZE
            pte += g.entry_size
            if address >= end:
                return True

    # -- vfree ----------------------------------------------------------------------

    @kernel_function("vfree", entry=("addr",))
    def vfree(self, addr: int) -> bool:
        """``vfree``: unlink the area whose address matches exactly, unmap, free pages.

        Returns False (after the kernel's complaint) when ``addr`` is no area.

        :raises KernelHang: vmlist loops without reaching the area.
        """
        k = self.k
        if not addr:
            return False
        if addr & (PAGE_SIZE - 1):
            k.printk(KERN_ERR + f"Trying to vfree() bad address ({addr:08x})")
            return False
        link, tmp = self._find(addr)
        if tmp:
            size = k.get(tmp, VM, "size")
            k.w32(link, k.get(tmp, VM, "next"))
            self.vmfree_area_pages(addr, size)
            self.slab.kfree(tmp)
            owner = self.records.pop(addr, {}).get("owner", "")
            self.freed.append({"addr": addr, "size": size, "owner": owner})
            return True
        k.printk(KERN_ERR + f"Trying to vfree() nonexistent vm area ({addr:08x})")
        return False

    @kernel_function("vmfree_area_pages")
    def vmfree_area_pages(self, address: int, size: int) -> None:
        """``vmfree_area_pages``: clear every PTE of the range, guard included."""
        g = self.g
        end = address + size
        while True:
            pgd = self.pt.pgd_offset_k(address)
            self._free_area_pmd(pgd, address, end - address)
            address = (address + g.pgdir_size) & ~(g.pgdir_size - 1) & MASK32
            if not (address and address < end):
                return

    @kernel_function("free_area_pmd", inline=True)
    def _free_area_pmd(self, pgd: int, address: int, size: int) -> None:
        g = self.g
        pmd = self.pt.pmd_offset(pgd, address)
        span = address & ~(g.pgdir_size - 1)
        address &= g.pgdir_size - 1
        end = min(address + size, g.pgdir_size)
        while True:
            self._free_area_pte(pmd, span + (address & ~(g.pmd_size - 1)), address, end - address)
            address = (address + g.pmd_size) & ~(g.pmd_size - 1)
            pmd += g.entry_size
            if address >= end:
                return

    @kernel_function("free_area_pte", inline=True)
    def _free_area_pte(self, pmd: int, span: int, address: int, size: int) -> None:
        k, g, pt = self.k, self.g, self.pt
        entry = pt.get(pmd)
        if entry == 0:
            return
        if (entry & 0xFFF & ~0x004) != 0x063:  # pmd_bad
            k.printk(pmd_error(k.config.pae, pmd, entry))
            pt.set_pmd(pmd, 0)  # pmd_clear
            return
        pte = pt.pte_offset(pmd, address)
        address &= g.pmd_size - 1
        end = min(address + size, g.pmd_size)
        o_flags = self.buddy.o_flags
        while True:
            page = pt.get(pte)
            pt.ptep_get_and_clear(pte)
            self.frames.pop(span + address, None)
            address += PAGE_SIZE
            pte += g.entry_size
            if page:
                if page & 0x081:  # pte_present: PRESENT | PROTNONE
                    pfn = g.pte_pfn(page)
                    if pfn < k.config.num_physpages:  # VALID_PAGE
                        p = k.page_addr(pfn)
                        if not k.r32(p + o_flags) & PG_reserved:
                            self.buddy.free_pages(p, 0)
                else:
                    k.printk(KERN_CRIT + "Whee.. Swapped out page in kernel page table")
            if address >= end:
                return

    # -- ioremap --------------------------------------------------------------------

    @kernel_function("ioremap", entry=("offset=phys_addr", "size"), returns="pointer")
    def ioremap(self, phys_addr: int, size: int, owner: str = "") -> int | None:
        """``ioremap``: ``__ioremap(offset, size, 0)``."""
        return self.__ioremap(phys_addr, size, 0, owner)

    @kernel_function("__ioremap")
    def __ioremap(self, phys_addr: int, size: int, flags: int, owner: str = "") -> int | None:
        """``__ioremap``: map device memory (or reserved RAM) uncached-or-not, no GLOBAL bit.

        ``phys_addr`` and ``size`` are unsigned longs, 32 bits even under PAE (2.4.20's
        ioremap cannot reach memory above 4 GiB); anything wider is refused as a
        request no caller could make.
        """
        if not (0 <= phys_addr <= MASK32 and 0 <= size <= MASK32):
            raise SimulationError(
                f"ioremap: phys_addr {phys_addr:#x}, size {size:#x}: each is an unsigned long "
                "(32 bits, also under PAE)"
            )
        k = self.k
        last_addr = (phys_addr + size - 1) & MASK32
        if not size or last_addr < phys_addr:  # zero size or wraparound
            return None
        if phys_addr >= 0xA0000 and last_addr < 0x100000:
            return k.va(phys_addr)
        o_flags = self.buddy.o_flags
        if phys_addr < k.config.max_low_pfn * PAGE_SIZE:
            for pfn in range(phys_addr >> 12, (last_addr >> 12) + 1):
                if not k.r32(k.page_addr(pfn) + o_flags) & PG_reserved:
                    return None
        offset = phys_addr & (PAGE_SIZE - 1)
        phys_addr &= ~(PAGE_SIZE - 1)
        # 2.4.20 aligns last_addr, not last_addr + 1: a range ending just past a
        # page boundary loses its last page, and a 1-byte page-aligned request
        # gets an area (its guard page only) and reaches remap_area_pages with
        # size 0, whose BUG() leaves that area on vmlist.
        size = page_align(last_addr) - phys_addr
        area = self.get_vm_area(size, VM_IOREMAP, owner)
        if area is None:
            return None
        addr = k.get(area, VM, "addr")
        if not self.remap_area_pages(addr, phys_addr, size, flags):
            self.vfree(addr)
            return None
        return addr + offset

    @kernel_function("ioremap_nocache", entry=("offset=phys_addr", "size"), returns="pointer")
    def ioremap_nocache(self, phys_addr: int, size: int, owner: str = "") -> int | None:
        """``ioremap_nocache``: ``__ioremap(phys, size, _PAGE_PCD)``."""
        return self.__ioremap(phys_addr, size, _PAGE_PCD, owner)

    @kernel_function("remap_area_pages")
    def remap_area_pages(self, address: int, phys_addr: int, size: int, flags: int) -> bool:
        """``remap_area_pages``: PTEs ``PRESENT|RW|DIRTY|ACCESSED|flags`` over [address, +size).

        A BUG() on the way leaves memory as 2.4.20 leaves it there: the PTEs
        written before it stay, and so does the area on vmlist."""
        g, pt = self.g, self.pt
        start, end = address, address + size
        prot = _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED | flags
        if address >= end:
            raise KernelBug("remap_area_pages", "address >= end")
        while address < end:
            pgd = pt.pgd_offset_k(address)
            pmd = pt.pmd_offset(pgd, address)
            pte = pt.pte_alloc(self.buddy, pmd, address)
            if pte is None:
                return False
            span_end = min(end, (address + g.pmd_size) & ~(g.pmd_size - 1))
            while address < span_end:
                self._remap_area_pte(pte, g.mk_pte((phys_addr + address - start) >> 12, prot))
                address += PAGE_SIZE
                pte += g.entry_size
        return True

    @kernel_function("remap_area_pte", inline=True)
    def _remap_area_pte(self, pte: int, entry: int) -> None:
        if self.pt.get(pte):  # !pte_none(*pte)
            self.k.printk("remap_area_pte: page already exists")
            raise KernelBug("remap_area_pte", "!pte_none(*pte)")
        self.pt.set_pte(pte, entry)

    @kernel_function("iounmap", entry=("addr",))
    def iounmap(self, addr: int) -> None:
        """``iounmap``: ``vfree`` of the page-aligned address when above high_memory."""
        if addr > self.k.config.high_memory:
            self.vfree(addr & ~(PAGE_SIZE - 1))
