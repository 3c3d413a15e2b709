"""A process's memory areas: ``struct vm_area_struct`` as ``mm/mmap.c`` of 2.4.20
keeps them.

Each area is on ``mm->mmap``, sorted by address through ``vm_next``, and in the
red-black tree ``mm->mm_rb`` by its ``vm_rb`` (2.4.20 has no AVL tree and no
``AVL_MIN_MAP_COUNT``: the tree holds every area from the first on).
``map_count`` counts them, ``mmap_cache`` is the area ``find_vma`` found last,
``total_vm`` the pages they span.

Only anonymous memory is mapped: ``do_mmap_pgoff`` with no file, ``do_brk``,
and the stack of ``setup_arg_pages``. A program's text and data, which
``load_elf_binary`` maps from its file, are anonymous stand-ins here (no
``vm_file``; see :mod:`vmintro.sim.process`). ``do_munmap`` unmaps part of an
address space (splitting an area it cuts in two, ``unmap_fixup``), zaps its
pages and frees the page tables a whole ``PGDIR_SIZE`` span of which is left
unmapped (``free_pgtables``); ``exit_mmap`` takes it all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.errors import KernelBug, SimulationError, kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.rbtree import RbTree
from vmintro.types.flags import GFP_KERNEL, VM_FLAGS

if TYPE_CHECKING:
    from vmintro.sim.memory import UserMemory
    from vmintro.sim.slab import Slab

__all__ = [
    "MAP_FIXED",
    "MAP_PRIVATE",
    "PROT_EXEC",
    "PROT_READ",
    "PROT_WRITE",
    "STACK_TOP",
    "TASK_SIZE",
    "TASK_UNMAPPED_BASE",
    "VM_DATA_DEFAULT_FLAGS",
    "VM_STACK_FLAGS",
    "Mmap",
    "protection",
]

VMA = "struct vm_area_struct"
MM = "struct mm_struct"
TASK_SIZE = PAGE_OFFSET
STACK_TOP = TASK_SIZE  # include/asm-i386/a.out.h
TASK_UNMAPPED_BASE = TASK_SIZE // 3
PAGE_MASK = ~(PAGE_SIZE - 1) & 0xFFFFFFFF
# include/asm-i386/mman.h
PROT_READ, PROT_WRITE, PROT_EXEC = 0x1, 0x2, 0x4
MAP_SHARED, MAP_PRIVATE, MAP_TYPE, MAP_FIXED = 0x01, 0x02, 0x0F, 0x10
MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_LOCKED = 0x100, 0x800, 0x1000, 0x2000
MAP_NORESERVE = 0x4000
VM_READ, VM_WRITE, VM_EXEC = VM_FLAGS["VM_READ"], VM_FLAGS["VM_WRITE"], VM_FLAGS["VM_EXEC"]
VM_SHARED, VM_MAYSHARE = VM_FLAGS["VM_SHARED"], VM_FLAGS["VM_MAYSHARE"]
VM_MAYREAD, VM_MAYWRITE, VM_MAYEXEC = (VM_FLAGS[f"VM_MAY{x}"] for x in ("READ", "WRITE", "EXEC"))
VM_GROWSDOWN, VM_LOCKED = VM_FLAGS["VM_GROWSDOWN"], VM_FLAGS["VM_LOCKED"]
VM_DATA_DEFAULT_FLAGS = VM_READ | VM_WRITE | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
VM_STACK_FLAGS = 0x177  # include/linux/mm.h
DEFAULT_MAX_MAP_COUNT = 65536  # max_map_count, a sysctl left at its default
RLIMIT_DATA, RLIMIT_AS = 2, 9
RLIM_INFINITY = 0xFFFFFFFF
ENOMEM, EINVAL = 12, 22

# include/asm-i386/pgtable.h: protection_map's PAGE_NONE, PAGE_READONLY, PAGE_COPY,
# PAGE_SHARED (_PAGE_PRESENT 0x1, _PAGE_RW 0x2, _PAGE_USER 0x4, _PAGE_ACCESSED 0x20,
# _PAGE_PROTNONE 0x80)
_NONE, _RO, _COPY, _SHARED = 0xA0, 0x25, 0x25, 0x27
PROTECTION_MAP = (
    (_NONE, _RO, _COPY, _COPY, _RO, _RO, _COPY, _COPY)  # __P000 .. __P111
    + (_NONE, _RO, _SHARED, _SHARED, _RO, _RO, _SHARED, _SHARED)  # __S000 .. __S111
)
PAGE_COPY = _COPY


def protection(vm_flags: int) -> int:
    """``protection_map[vm_flags & 0x0f]``: a mapping's ``vm_page_prot``."""
    return PROTECTION_MAP[vm_flags & 0x0F]


def calc_vm_flags(prot: int, flags: int) -> int:
    """``calc_vm_flags`` of include/linux/mman.h (``_calc_vm_trans`` of each bit)."""
    out = prot & (PROT_READ | PROT_WRITE | PROT_EXEC)  # VM_READ, VM_WRITE, VM_EXEC
    for bit in (MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_LOCKED):
        if flags & bit:
            out |= bit  # VM_GROWSDOWN, VM_DENYWRITE, VM_EXECUTABLE, VM_LOCKED: same bits
    return out


def page_align(n: int) -> int:
    return (n + PAGE_SIZE - 1) & PAGE_MASK


class Mmap:
    """The VMA operations of ``mm/mmap.c`` over ``k``'s memory."""

    def __init__(self, k: KernelMemory, slab: Slab) -> None:
        self.k, self.slab = k, slab
        self.rb = RbTree(k)
        t = k.types
        self.o_rb = t.offsetof(VMA, "vm_rb")
        self.o_root = t.offsetof(MM, "mm_rb")
        # the page tables' side (mm/memory.c), which do_munmap calls into:
        # UserMemory sets itself here when it is made over this Mmap
        self.pages: UserMemory | None = None

    # -- fields ---------------------------------------------------------------------

    def get(self, vma: int, field: str) -> int:
        return self.k.get(vma, VMA, field)

    def set(self, vma: int, field: str, value: int) -> None:
        self.k.set(vma, VMA, field, value & 0xFFFFFFFF)

    def mm_get(self, mm: int, field: str) -> int:
        return self.k.get(mm, MM, field)

    def mm_set(self, mm: int, field: str, value: int) -> None:
        self.k.set(mm, MM, field, value & 0xFFFFFFFF)

    def _entry(self, node: int) -> int:
        """``rb_entry(node, struct vm_area_struct, vm_rb)``."""
        return node - self.o_rb

    def vmas(self, mm: int) -> list[int]:
        """The areas on ``mm->mmap``, in order (at most ``map_count`` + 1: a list
        that does not end is cut there)."""
        out: list[int] = []
        vma = self.mm_get(mm, "mmap")
        limit = max(self.mm_get(mm, "map_count"), 0) + 1
        while vma and len(out) < limit:
            out.append(vma)
            vma = self.get(vma, "vm_next")
        return out

    def _cachep(self) -> int:
        return self.k.r32(self.k.sym("vm_area_cachep"))

    # -- lookup ---------------------------------------------------------------------

    @kernel_function("find_vma")
    def find_vma(self, mm: int, addr: int) -> int:
        """``find_vma``: the first area with ``addr < vm_end`` (0: none), through
        ``mmap_cache`` first, which it updates."""
        vma = self.mm_get(mm, "mmap_cache")
        if vma and self.get(vma, "vm_end") > addr >= self.get(vma, "vm_start"):
            return vma
        node = self.k.r32(mm + self.o_root)
        vma = 0
        while node:
            tmp = self._entry(node)
            if self.get(tmp, "vm_end") > addr:
                vma = tmp
                if self.get(tmp, "vm_start") <= addr:
                    break
                node = self.rb.left(node)
            else:
                node = self.rb.right(node)
        if vma:
            self.mm_set(mm, "mmap_cache", vma)
        return vma

    def find_vma_prepare(self, mm: int, addr: int) -> tuple[int, int, int, int]:
        """``find_vma_prepare``: (the area holding or after ``addr``, the one before,
        the link to hang a new node on, that link's parent node)."""
        link = mm + self.o_root
        parent = prev = vma = 0
        while node := self.k.r32(link):
            parent = node
            tmp = self._entry(node)
            if self.get(tmp, "vm_end") > addr:
                vma = tmp
                if self.get(tmp, "vm_start") <= addr:
                    return vma, 0, link, parent  # the caller unmaps or fails first
                link = node + self.rb.o_left
            else:
                prev = node
                link = node + self.rb.o_right
        return vma, self._entry(prev) if prev else 0, link, parent

    @kernel_function("find_vma_prev")
    def find_vma_prev(self, mm: int, addr: int) -> tuple[int, int]:
        """``find_vma_prev``: (the first area with ``addr < vm_end``, the area before
        it on the list), both 0 for none; through the tree, as 2.4.20 does."""
        node = self.k.r32(mm + self.o_root)
        last_right = rb_prev = 0
        vma = 0
        while node:
            tmp = self._entry(node)
            if self.get(tmp, "vm_end") > addr:
                vma, rb_prev = tmp, last_right
                if self.get(tmp, "vm_start") <= addr:
                    break
                node = self.rb.left(node)
            else:
                last_right = node
                node = self.rb.right(node)
        if not vma:
            return 0, 0
        if left := self.rb.left(vma + self.o_rb):
            rb_prev = left
            while right := self.rb.right(rb_prev):
                rb_prev = right
        prev = self._entry(rb_prev) if rb_prev else 0
        if (self.get(prev, "vm_next") if prev else self.mm_get(mm, "mmap")) != vma:
            raise KernelBug("find_vma_prev", "(rb_prev ? (*pprev)->vm_next : mm->mmap) != vma")
        return vma, prev

    # -- linking --------------------------------------------------------------------

    @kernel_function("vma_link")
    def vma_link(self, mm: int, vma: int, prev: int, link: int, parent: int) -> None:
        """``vma_link``: on the list after ``prev``, in the tree, ``map_count`` + 1."""
        if prev:  # __vma_link_list
            self.set(vma, "vm_next", self.get(prev, "vm_next"))
            self.set(prev, "vm_next", vma)
        else:
            self.mm_set(mm, "mmap", vma)
            self.set(vma, "vm_next", self._entry(parent) if parent else 0)
        self.rb.link_node(vma + self.o_rb, parent, link)  # __vma_link_rb
        self.rb.insert_color(vma + self.o_rb, mm + self.o_root)
        self.mm_set(mm, "map_count", self.mm_get(mm, "map_count") + 1)

    @kernel_function("insert_vm_struct")
    def insert_vm_struct(self, mm: int, vma: int) -> None:
        """``insert_vm_struct``: BUG() on an overlap."""
        old, prev, link, parent = self.find_vma_prepare(mm, self.get(vma, "vm_start"))
        if old and self.get(old, "vm_start") < self.get(vma, "vm_end"):
            raise KernelBug("insert_vm_struct", "__vma && __vma->vm_start < vma->vm_end")
        self.vma_link(mm, vma, prev, link, parent)

    def _can_merge(self, vma: int, vm_flags: int) -> bool:
        """``can_vma_merge``: no file, the same flags."""
        return not self.get(vma, "vm_file") and self.get(vma, "vm_flags") == vm_flags

    @kernel_function("vma_merge")
    def vma_merge(
        self, mm: int, prev: int, parent: int, addr: int, end: int, vm_flags: int
    ) -> bool:
        """``vma_merge``: grow ``prev`` up to ``end`` (and join the next area when the
        gap closes) or the next area down to ``addr``."""
        if prev:
            if self.get(prev, "vm_end") == addr and self._can_merge(prev, vm_flags):
                self.set(prev, "vm_end", end)
                nxt = self.get(prev, "vm_next")
                if nxt and end == self.get(nxt, "vm_start") and self._can_merge(nxt, vm_flags):
                    self.set(prev, "vm_end", self.get(nxt, "vm_end"))
                    self._vma_unlink(mm, nxt, prev)
                    self.mm_set(mm, "map_count", self.mm_get(mm, "map_count") - 1)
                    self.slab.kmem_cache_free(self._cachep(), nxt)
                return True
            nxt = self.get(prev, "vm_next")
        else:
            nxt = self._entry(parent)
        if nxt and self._can_merge(nxt, vm_flags) and end == self.get(nxt, "vm_start"):
            self.set(nxt, "vm_start", addr)
            return True
        return False

    def _vma_unlink(self, mm: int, vma: int, prev: int) -> None:
        """``__vma_unlink``."""
        self.set(prev, "vm_next", self.get(vma, "vm_next"))
        self.rb.erase(vma + self.o_rb, mm + self.o_root)
        if self.mm_get(mm, "mmap_cache") == vma:
            self.mm_set(mm, "mmap_cache", prev)

    def build_mmap_rb(self, mm: int) -> None:
        """``build_mmap_rb``: the tree of a list just copied, each area hung to the
        right of the one before, then rebalanced."""
        root = mm + self.o_root
        self.k.w32(root, 0)
        link, parent = root, 0
        for vma in self.vmas(mm):
            self.rb.link_node(vma + self.o_rb, parent, link)
            self.rb.insert_color(vma + self.o_rb, root)
            parent = vma + self.o_rb
            link = parent + self.rb.o_right

    # -- making areas ---------------------------------------------------------------

    def _new_vma(self, mm: int, start: int, end: int, vm_flags: int, prot: int) -> int | None:
        """An area from ``vm_area_cachep`` (``SLAB_KERNEL``) as do_mmap_pgoff, do_brk
        and setup_arg_pages fill it: no file, no operations."""
        vma = self.slab.kmem_cache_alloc(self._cachep(), GFP_KERNEL)
        if vma is None:
            return None
        k = self.k
        k.set_many(
            vma,
            VMA,
            vm_mm=mm,
            vm_start=start,
            vm_end=end,
            vm_flags=vm_flags,
            vm_ops=0,
            vm_pgoff=0,
            vm_file=0,
            vm_private_data=0,
            vm_raend=0,
        )
        k.set(vma, VMA, "vm_page_prot.pgprot", prot)
        return vma

    def arch_get_unmapped_area(self, mm: int, addr: int, length: int) -> int:
        """``arch_get_unmapped_area``: ``addr`` if it is free, else the first hole
        from ``TASK_UNMAPPED_BASE`` up (-ENOMEM as an error value)."""
        if length > TASK_SIZE:
            return -ENOMEM & 0xFFFFFFFF
        if addr:
            addr = page_align(addr)
            vma = self.find_vma(mm, addr)
            if TASK_SIZE - length >= addr and (
                not vma or addr + length <= self.get(vma, "vm_start")
            ):
                return addr
        addr = page_align(TASK_UNMAPPED_BASE)
        vma = self.find_vma(mm, addr)
        while True:
            if TASK_SIZE - length < addr:
                return -ENOMEM & 0xFFFFFFFF
            if not vma or addr + length <= self.get(vma, "vm_start"):
                return addr
            addr = self.get(vma, "vm_end")
            vma = self.get(vma, "vm_next")

    def vm_enough_memory(self, pages: int) -> bool:
        """``vm_enough_memory`` with ``sysctl_overcommit_memory`` 0: the page cache,
        free pages, free swap, the swap cache and the unused dentries and inodes."""
        k = self.k
        free = k.r32(k.sym("page_cache_size"))
        free += sum(k.get(z, "zone_t", "free_pages") for z in _zones(k))
        swap = k.r32(k.sym("nr_swap_pages"))
        free += swap - (1 << 32) if swap & 0x80000000 else swap
        free += k.get(k.sym("swapper_space"), "struct address_space", "nrpages")
        for stat, typename, obj in (
            ("dentry_stat", "struct dentry_stat_t", "struct dentry"),
            ("inodes_stat", "struct inodes_stat_t", "struct inode"),
        ):
            if stat in k.layout.symbols:
                unused = k.get(k.sym(stat), typename, "nr_unused")
                free += (unused * k.types.sizeof(obj)) >> 12
        return free > pages

    @kernel_function("do_mmap_pgoff", entry=("addr", "len=length", "prot", "flags"))
    def do_mmap_pgoff(
        self, mm: int, rlim: int, addr: int, length: int, prot: int, flags: int
    ) -> int:
        """``do_mmap_pgoff`` of an anonymous mapping (``file`` NULL, ``pgoff`` 0) into
        ``mm``; ``rlim`` is the caller's ``rlim`` array. Returns the address or a
        negative errno as an unsigned long."""
        length = page_align(length)
        if not length:
            return addr
        if length > TASK_SIZE:
            return -EINVAL & 0xFFFFFFFF
        if self.mm_get(mm, "map_count") > DEFAULT_MAX_MAP_COUNT:
            return -ENOMEM & 0xFFFFFFFF
        if flags & MAP_FIXED:  # get_unmapped_area
            if addr > TASK_SIZE - length:
                return -ENOMEM & 0xFFFFFFFF
            if addr & ~PAGE_MASK:
                return -EINVAL & 0xFFFFFFFF
        else:
            addr = self.arch_get_unmapped_area(mm, addr, length)
            if addr & ~PAGE_MASK:
                return addr
        vm_flags = calc_vm_flags(prot, flags) | self.mm_get(mm, "def_flags")
        vm_flags |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
        if vm_flags & VM_LOCKED:
            raise SimulationError("do_mmap_pgoff: MAP_LOCKED (make_pages_present) is not modelled")
        vm_flags |= VM_SHARED | VM_MAYSHARE
        if flags & MAP_TYPE == MAP_PRIVATE:
            vm_flags &= ~(VM_SHARED | VM_MAYSHARE)
        elif flags & MAP_TYPE == MAP_SHARED:
            raise SimulationError(
                "do_mmap_pgoff: MAP_SHARED anonymous memory (shmem) is not modelled"
            )
        else:
            return -EINVAL & 0xFFFFFFFF
        vma, prev, link, parent = self.find_vma_prepare(mm, addr)
        if vma and self.get(vma, "vm_start") < addr + length:
            raise SimulationError(
                "do_mmap_pgoff: over an existing mapping (do_munmap is not modelled)"
            )
        if (self.mm_get(mm, "total_vm") << 12) + length > self.k.r32(rlim + 8 * RLIMIT_AS):
            return -ENOMEM & 0xFFFFFFFF
        private_writable = vm_flags & (VM_SHARED | VM_WRITE) == VM_WRITE
        if private_writable and not flags & MAP_NORESERVE:
            if not self.vm_enough_memory(length >> 12):
                return -ENOMEM & 0xFFFFFFFF
        merged = bool(parent) and self.vma_merge(mm, prev, parent, addr, addr + length, vm_flags)
        if not merged:
            new = self._new_vma(mm, addr, addr + length, vm_flags, protection(vm_flags))
            if new is None:
                return -ENOMEM & 0xFFFFFFFF
            self.vma_link(mm, new, prev, link, parent)
        self.mm_set(mm, "total_vm", self.mm_get(mm, "total_vm") + (length >> 12))
        return addr

    # -- unmapping ------------------------------------------------------------------

    @kernel_function("do_munmap", entry=("addr", "len=length"))
    def do_munmap(self, mm: int, addr: int, length: int) -> int:
        """``do_munmap``: every area overlapping ``[addr, addr + len)`` taken off the
        list and the tree, its pages in the range zapped, what is left of it put
        back (``unmap_fixup``), then ``free_pgtables``. 0, or -EINVAL / -ENOMEM as
        a negative int."""
        if addr & ~PAGE_MASK or addr > TASK_SIZE or length > TASK_SIZE - addr:
            return -EINVAL
        length = page_align(length)
        if not length:
            return -EINVAL
        mpnt, prev = self.find_vma_prev(mm, addr)
        end = addr + length
        if not mpnt or self.get(mpnt, "vm_start") >= end:
            return 0
        hole = self.get(mpnt, "vm_start") < addr and self.get(mpnt, "vm_end") > end
        if hole and self.mm_get(mm, "map_count") >= DEFAULT_MAX_MAP_COUNT:
            return -ENOMEM
        extra = self.slab.kmem_cache_alloc(self._cachep(), GFP_KERNEL)
        if extra is None:
            return -ENOMEM
        free: list[int] = []  # the kernel's 'free' list: newest first
        while mpnt and self.get(mpnt, "vm_start") < end:
            nxt = self.get(mpnt, "vm_next")
            if prev:  # *npp = mpnt->vm_next
                self.set(prev, "vm_next", nxt)
            else:
                self.mm_set(mm, "mmap", nxt)
            self.set(mpnt, "vm_next", free[0] if free else 0)
            free.insert(0, mpnt)
            self.rb.erase(mpnt + self.o_rb, mm + self.o_root)
            mpnt = nxt
        self.mm_set(mm, "mmap_cache", 0)  # kill the cache
        assert self.pages is not None
        for area in free:
            st = max(addr, self.get(area, "vm_start"))
            stop = min(end, self.get(area, "vm_end"))
            self.mm_set(mm, "map_count", self.mm_get(mm, "map_count") - 1)
            self.pages.zap_page_range(mm, st, stop - st)
            extra = self.unmap_fixup(mm, area, st, stop - st, extra)
        if extra:
            self.slab.kmem_cache_free(self._cachep(), extra)
        self.free_pgtables(mm, prev, addr, end)
        return 0

    @kernel_function("unmap_fixup")
    def unmap_fixup(self, mm: int, area: int, addr: int, length: int, extra: int) -> int:
        """``unmap_fixup``: ``total_vm`` less the pages; the area freed when all of
        it went, cut at one end, or cut in two with ``extra`` as its upper part;
        what is left put back (``__insert_vm_struct``). Returns ``extra`` when it
        was not used, else 0."""
        end = addr + length
        self.mm_set(mm, "total_vm", self.mm_get(mm, "total_vm") - (length >> 12))
        if self.get(area, "vm_flags") & VM_LOCKED:
            self.mm_set(mm, "locked_vm", self.mm_get(mm, "locked_vm") - (length >> 12))
        start, vm_end = self.get(area, "vm_start"), self.get(area, "vm_end")
        if addr == start and end == vm_end:
            self.free_vma(area)
            return extra
        if end == vm_end:
            self.set(area, "vm_end", addr)
        elif addr == start:
            self.set(area, "vm_pgoff", self.get(area, "vm_pgoff") + ((end - start) >> 12))
            self.set(area, "vm_start", end)
        else:  # a hole: extra becomes the part above it
            k = self.k
            k.set_many(
                extra,
                VMA,
                vm_mm=self.get(area, "vm_mm"),
                vm_start=end,
                vm_end=vm_end,
                vm_flags=self.get(area, "vm_flags"),
                vm_raend=0,
                vm_ops=self.get(area, "vm_ops"),
                vm_pgoff=self.get(area, "vm_pgoff") + ((end - start) >> 12),
                vm_file=self.get(area, "vm_file"),
                vm_private_data=self.get(area, "vm_private_data"),
            )
            prot = self.get(area, "vm_page_prot.pgprot")
            k.set(extra, VMA, "vm_page_prot.pgprot", prot)
            self.set(area, "vm_end", addr)
            self.insert_vm_struct(mm, extra)
            extra = 0
        self.insert_vm_struct(mm, area)
        return extra

    @kernel_function("free_pgtables")
    def free_pgtables(self, mm: int, prev: int, start: int, end: int) -> None:
        """``free_pgtables``: the page tables of the whole ``PGDIR_SIZE`` spans
        between the area before ``start`` and the one after ``end`` freed."""
        g = self.k.paging
        size = g.pgdir_size
        first = start & ~(size - 1)
        last = end + size - 1
        if not prev:
            prev = self.mm_get(mm, "mmap")
            if prev and self.get(prev, "vm_end") > start:
                last = min(last, self.get(prev, "vm_start"))
                prev = 0  # goto no_mmaps
        if prev:
            nxt = self.get(prev, "vm_next")
            while nxt and self.get(nxt, "vm_start") < start:
                prev, nxt = nxt, self.get(nxt, "vm_next")
            if nxt:
                last = min(last, self.get(nxt, "vm_start"))
            if self.get(prev, "vm_end") > first:
                first = self.get(prev, "vm_end") + size - 1
        start_index, end_index = g.pgd_index(first), g.pgd_index(last)
        if end_index > start_index:
            assert self.pages is not None
            self.pages.clear_page_tables(mm, start_index, end_index - start_index)

    @kernel_function("do_brk", entry=("addr", "len=length"))
    def do_brk(self, mm: int, rlim: int, addr: int, length: int) -> int:
        """``do_brk``: an anonymous ``VM_DATA_DEFAULT_FLAGS`` area at ``addr``, merged
        with the one before when it can be."""
        length = page_align(length)
        if not length:
            return addr
        while True:  # munmap_back: clear old maps (do_munmap also checks the range)
            vma, prev, link, parent = self.find_vma_prepare(mm, addr)
            if not (vma and self.get(vma, "vm_start") < addr + length):
                break
            if self.do_munmap(mm, addr, length):
                return -ENOMEM & 0xFFFFFFFF
        if (self.mm_get(mm, "total_vm") << 12) + length > self.k.r32(rlim + 8 * RLIMIT_AS):
            return -ENOMEM & 0xFFFFFFFF
        if self.mm_get(mm, "map_count") > DEFAULT_MAX_MAP_COUNT:
            return -ENOMEM & 0xFFFFFFFF
        if not self.vm_enough_memory(length >> 12):
            return -ENOMEM & 0xFFFFFFFF
        flags = VM_DATA_DEFAULT_FLAGS | self.mm_get(mm, "def_flags")
        if not (parent and self.vma_merge(mm, prev, parent, addr, addr + length, flags)):
            new = self._new_vma(mm, addr, addr + length, flags, protection(flags))
            if new is None:
                return -ENOMEM & 0xFFFFFFFF
            self.vma_link(mm, new, prev, link, parent)
        self.mm_set(mm, "total_vm", self.mm_get(mm, "total_vm") + (length >> 12))
        return addr

    @kernel_function("sys_brk", entry=("brk",))
    def sys_brk(self, mm: int, rlim: int, brk: int) -> int:
        """``sys_brk``: move the break up (through ``do_brk``); the new break, or the
        old one when it cannot move."""
        old = self.mm_get(mm, "brk")
        if brk < self.mm_get(mm, "end_code"):
            return old
        newbrk, oldbrk = page_align(brk), page_align(old)
        if oldbrk != newbrk:
            if brk <= old:  # always allow shrinking brk
                if self.do_munmap(mm, newbrk, oldbrk - newbrk):
                    return old
                self.mm_set(mm, "brk", brk)
                return brk
            limit = self.k.r32(rlim + 8 * RLIMIT_DATA)
            if limit < RLIM_INFINITY and brk - self.mm_get(mm, "start_data") > limit:
                return old
            vma = self.find_vma(mm, oldbrk)  # find_vma_intersection
            if vma and self.get(vma, "vm_start") < newbrk + PAGE_SIZE:
                return old
            grow = (newbrk - oldbrk) & 0xFFFFFFFF  # unsigned long: a break near 4 GiB wraps
            if not self.vm_enough_memory(grow >> 12):
                return old
            if self.do_brk(mm, rlim, oldbrk, grow) != oldbrk:
                return old
        self.mm_set(mm, "brk", brk)
        return brk

    def stack_vma(self, mm: int, start: int) -> int | None:
        """``setup_arg_pages``' area: from ``start`` to ``STACK_TOP``, ``PAGE_COPY``,
        ``VM_STACK_FLAGS``; ``total_vm`` is set to its size."""
        vma = self._new_vma(mm, start, STACK_TOP, VM_STACK_FLAGS, PAGE_COPY)
        if vma is None:
            return None
        self.insert_vm_struct(mm, vma)
        self.mm_set(mm, "total_vm", (STACK_TOP - start) >> 12)
        return vma

    def expand_stack(self, vma: int, address: int, rlim: int) -> bool:
        """``expand_stack``: the area grows down to ``address``'s page, within
        RLIMIT_STACK and RLIMIT_AS."""
        address &= PAGE_MASK
        mm = self.get(vma, "vm_mm")
        grow = (self.get(vma, "vm_start") - address) >> 12
        total = self.mm_get(mm, "total_vm")
        if self.get(vma, "vm_end") - address > self.k.r32(rlim + 8 * 3) or (
            (total + grow) << 12 > self.k.r32(rlim + 8 * RLIMIT_AS)
        ):
            return False
        self.set(vma, "vm_start", address)
        self.set(vma, "vm_pgoff", self.get(vma, "vm_pgoff") - grow)
        self.mm_set(mm, "total_vm", total + grow)
        return True

    def free_vma(self, vma: int) -> None:
        self.slab.kmem_cache_free(self._cachep(), vma)


def _zones(k: KernelMemory) -> list[int]:
    pgdat = k.sym("contig_page_data")
    return [pgdat + k.types.offsetof("pg_data_t", f"node_zones[{j}]") for j in range(3)]
