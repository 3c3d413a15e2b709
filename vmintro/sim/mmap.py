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
``vm_file``; see :mod:`vmintro.sim.process`). ``do_munmap`` is not modelled:
nothing unmaps part of an address space, and ``exit_mmap`` takes it all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.errors import KernelBug, SimulationError, kernel_function
from vmintro.sim.kernel import KernelMemory
from vmintro.sim.rbtree import RbTree
from vmintro.types.flags import GFP_KERNEL, VM_FLAGS

if TYPE_CHECKING:
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

    @kernel_function("do_brk", entry=("addr", "len=length"))
    def do_brk(self, mm: int, rlim: int, addr: int, length: int) -> int:
        """``do_brk``: an anonymous ``VM_DATA_DEFAULT_FLAGS`` area at ``addr``, merged
        with the one before when it can be."""
        length = page_align(length)
        if not length:
            return addr
        vma, prev, link, parent = self.find_vma_prepare(mm, addr)
        if vma and self.get(vma, "vm_start") < addr + length:
            raise SimulationError("do_brk: over an existing mapping (do_munmap is not modelled)")
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
            if brk <= old:
                raise SimulationError("sys_brk: shrinking the heap needs do_munmap, not modelled")
            limit = self.k.r32(rlim + 8 * RLIMIT_DATA)
            if limit < RLIM_INFINITY and brk - self.mm_get(mm, "start_data") > limit:
                return old
            vma = self.find_vma(mm, oldbrk)  # find_vma_intersection
            if vma and self.get(vma, "vm_start") < newbrk + PAGE_SIZE:
                return old
            if not self.vm_enough_memory((newbrk - oldbrk) >> 12):
                return old
            if self.do_brk(mm, rlim, oldbrk, newbrk - oldbrk) != oldbrk:
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
