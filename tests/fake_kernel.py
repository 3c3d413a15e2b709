"""Small kernels built by hand in simulated RAM, for tests of the program layer.

Each :class:`FakeKernel` writes its own page tables (2-level with PSE, 2-level
with 4 KiB tables, or PAE), a few globals, a ``vmlist`` of ``vm_struct``\\ s in
a slab page and a ``mem_map``. What it mapped is recorded in
:attr:`FakeKernel.mapped` (virtual page -> physical page): that record, not
any walker, is the oracle tests compare translations against.
"""

from __future__ import annotations

import construct as cs
from memory_backend import MemoryBackend, variables_from

from vmintro.program import Program
from vmintro.sim.physmem import PhysMem
from vmintro.types.kernel import KernelTypes, kernel_types
from vmintro.types.model import to_construct

PAGE = 4096
PAGE_OFFSET = 0xC0000000
LOWMEM_PSE = 0x1E3  # PRESENT RW ACCESSED DIRTY PSE GLOBAL
KERNPG_TABLE = 0x063
PAGE_TABLE = 0x067
PAGE_KERNEL = 0x163
SWAPPER_PHYS = 0x00101000
EMPTY_ZERO_PHYS = 0x00104000
DATA_PHYS = 0x00300000  # globals
TABLES_PHYS = 0x00400000  # page-table pages, bump-allocated
SLAB_PHYS = 0x00500000  # vm_structs, 32 bytes apart (size-32)
MEM_MAP_PHYS = 0x01000000


class FakeKernel:
    """A hand-built kernel: ``mode`` is ``"pse"``, ``"4k"`` (2-level) or ``"pae"``."""

    def __init__(self, mode: str, ram: int, highmem: bool = False) -> None:
        self.mode = mode
        self.pae = mode == "pae"
        self.highmem = highmem or self.pae
        self.ram = ram
        self.mem = PhysMem(ram)
        self.kt: KernelTypes = kernel_types(self.highmem, self.pae)
        self.esize = 8 if self.pae else 4
        self.lowmem = min(ram, 896 << 20)
        self.high_memory = PAGE_OFFSET + self.lowmem
        self.vmalloc_start = (self.high_memory + (16 << 20) - 1) & ~((8 << 20) - 1)
        self.mapped: dict[int, int] = {}  # vpage -> ppage, pte-mapped pages only
        self.symbols: dict[str, tuple[int, int, str]] = {}
        self._next_table = TABLES_PHYS
        self._next_data = DATA_PHYS
        self._next_slab = SLAB_PHYS
        self.pmd_phys = 0
        self._setup_paging()
        self.place("swapper_pg_dir", SWAPPER_PHYS + PAGE_OFFSET)
        self.symbols["_text"] = (0xC0100000, 0, "notype")
        self.symbols["do_page_fault"] = (0xC0110000, 0x200, "func")
        self.set_var("high_memory", self.high_memory)
        self.set_var("vmlist", 0)
        self.set_var("max_mapnr", ram // PAGE)

    # -- memory helpers -----------------------------------------------------------------

    def put(self, paddr: int, value: int, size: int) -> None:
        self.mem.write(paddr, value.to_bytes(size, "little"))

    def entry(self, table_phys: int, index: int, value: int) -> None:
        self.put(table_phys + index * self.esize, value, self.esize)

    def alloc_table(self) -> int:
        phys = self._next_table
        self._next_table += PAGE
        return phys

    def build(self, type_name: str, value: dict) -> bytes:
        return to_construct(self.kt[type_name]).build(value)

    # -- page tables ----------------------------------------------------------------------

    def _setup_paging(self) -> None:
        if self.pae:
            for i in range(4):
                self.entry(SWAPPER_PHYS, i, EMPTY_ZERO_PHYS | 1)
            self.pmd_phys = self.alloc_table()
            self.entry(SWAPPER_PHYS, 3, self.pmd_phys | 1)
            self.entry(SWAPPER_PHYS, 0, self.pmd_phys | 1)  # pgd[0] = pgd[3]: boot alias
            span = 2 << 20
            for i in range(-(-self.lowmem // span)):
                self.entry(self.pmd_phys, i, (i * span) | LOWMEM_PSE)
            return
        span = 4 << 20
        for i in range(-(-self.lowmem // span)):
            if self.mode == "pse":
                self.entry(SWAPPER_PHYS, 768 + i, (i * span) | LOWMEM_PSE)
                continue
            pte = self.alloc_table()
            for j in range(1024):
                phys = i * span + j * PAGE
                if phys < self.lowmem:
                    self.entry(pte, j, phys | PAGE_KERNEL)
            self.entry(SWAPPER_PHYS, 768 + i, pte | KERNPG_TABLE)

    def pte_table_for(self, vaddr: int) -> int:
        """The pte page for ``vaddr`` in swapper_pg_dir, allocated (pte_alloc) when missing."""
        if self.pae:
            slot_table, index = self.pmd_phys, (vaddr >> 21) & 511
            assert vaddr >> 30 == 3, "only the kernel pmd page is modelled"
        else:
            slot_table, index = SWAPPER_PHYS, vaddr >> 22
        raw = self.mem.read(slot_table + index * self.esize, self.esize)
        entry = int.from_bytes(raw, "little")
        if entry & 1:
            assert not entry & 0x80, "cannot put ptes under a large page"
            return entry & 0xFFFFFF000
        pte = self.alloc_table()
        self.entry(slot_table, index, pte | PAGE_TABLE)
        return pte

    def map_page(self, vaddr: int, paddr: int, prot: int = PAGE_KERNEL) -> None:
        pte = self.pte_table_for(vaddr)
        index = (vaddr >> 12) & (511 if self.pae else 1023)
        self.entry(pte, index, paddr | prot)
        self.mapped[vaddr & ~0xFFF] = paddr & ~0xFFF

    # -- globals and kernel objects -------------------------------------------------------

    def place(self, name: str, vaddr: int | None = None) -> int:
        """Give variable ``name`` an address (in the data area unless ``vaddr``)."""
        ctype = self.kt.variables[name]
        if vaddr is None:
            align = 32 if ctype.size >= 32 else 4
            self._next_data = (self._next_data + align - 1) // align * align
            vaddr = PAGE_OFFSET + self._next_data
            self._next_data += max(ctype.size, 4)
        self.symbols[name] = (vaddr, ctype.size, "object")
        return vaddr

    def set_var(self, name: str, value: int) -> int:
        vaddr = self.symbols[name][0] if name in self.symbols else self.place(name)
        self.put(vaddr - PAGE_OFFSET, value, self.kt.variables[name].size)
        return vaddr

    def vm_struct(self, flags: int, addr: int, size: int, next_: int = 0) -> int:
        """Write a ``struct vm_struct`` in the next size-32 slot; return its address."""
        phys = self._next_slab
        self._next_slab += 32
        data = self.build(
            "struct vm_struct", {"flags": flags, "addr": addr, "size": size, "next": next_}
        )
        self.mem.write(phys, data)
        return PAGE_OFFSET + phys

    def vmalloc(self, addr: int, frames: list[int], flags: int = 2) -> int:
        """Map ``frames`` at ``addr`` (guard page left unmapped) and link an area."""
        for i, pfn in enumerate(frames):
            self.map_page(addr + i * PAGE, pfn * PAGE)
        return self.vm_struct(flags, addr, (len(frames) + 1) * PAGE)

    def link_vmlist(self, areas: list[int]) -> None:
        """Chain the areas in the order given and point ``vmlist`` at the first."""
        for here, nxt in zip(areas, areas[1:] + [0], strict=True):
            self.put(here - PAGE_OFFSET + 12, nxt, 4)
        self.set_var("vmlist", areas[0] if areas else 0)

    def mem_map(self, pages: dict[int, dict]) -> int:
        """``mem_map`` at 16 MiB (MAP_ALIGN'd), with the given pages filled in."""
        page_size = self.kt.sizeof("struct page")
        base = PAGE_OFFSET + MEM_MAP_PHYS
        base += -(base - PAGE_OFFSET) % page_size  # MAP_ALIGN
        con = to_construct(self.kt["struct page"])
        for pfn, fields in pages.items():
            value = {
                "list": {"next": 0, "prev": 0},
                "mapping": 0,
                "index": 0,
                "next_hash": 0,
                "count": {"counter": 0},
                "flags": 0,
                "lru": {"next": 0, "prev": 0},
                "pprev_hash": 0,
                "buffers": 0,
            }
            if self.highmem:
                value["virtual"] = 0
            value.update(fields)
            self.mem.write(base - PAGE_OFFSET + pfn * page_size, con.build(value))
        self.set_var("mem_map", base)
        return base

    def cache(self, name: bytes, objsize: int) -> int:
        """``cache_cache`` with a name and object size (for char-array printing)."""
        vaddr = self.place("cache_cache")
        con = to_construct(self.kt["kmem_cache_t"])
        zero = con.parse(bytes(self.kt.sizeof("kmem_cache_t")))
        value = _plain(zero)
        value["name"] = name.ljust(20, b"\0")
        value["objsize"] = objsize
        self.mem.write(vaddr - PAGE_OFFSET, con.build(value))
        return vaddr

    # -- the program ------------------------------------------------------------------

    def backend(self) -> MemoryBackend:
        return MemoryBackend(
            self.mem,
            self.symbols,
            self.kt.by_name,
            variables_from(self.symbols, self.kt.variables),
            highmem=self.highmem,
            pae=self.pae,
        )

    def program(self, accelerated: bool = True) -> Program:
        return Program(self.backend(), accelerated=accelerated)


def _plain(value: object) -> object:
    """construct's parse result as plain dicts and lists (so it can be edited and rebuilt)."""
    if isinstance(value, cs.Container):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


RAM_FOR_MODE = {"pse": 62 << 20, "4k": 64 << 20, "pae": 5 << 30}
HIGH_FRAME = 0x123456  # above 4 GiB: only PAE can map it
DEVICE_PHYS = 0xFEC00000  # an ioremapped device, outside a small machine's RAM


class Area:
    """One area written into the fake vmlist: where, which frames, its descriptor."""

    def __init__(self, addr: int, frames: list[int | None], vm_struct: int, flags: int):
        self.addr = addr
        self.frames = frames
        self.vm_struct = vm_struct
        self.flags = flags
        self.size = (len(frames) + 1) * PAGE

    @property
    def guard(self) -> int:
        return self.addr + len(self.frames) * PAGE


def standard(mode: str) -> tuple[FakeKernel, list[Area]]:
    """A kernel with three areas linked from ``vmlist``.

    * A: vmalloc of 4 pages at VMALLOC_START, frames in descending order (as
      the buddy allocator hands them out); in PAE the second is above 4 GiB;
    * B: ioremap_nocache of 2 device pages (PCD set);
    * C: vmalloc of 4 pages straddling the end of the first pte page's span,
      so it needs two pte pages.

    Each frame holds its own pfn in its first and last word.
    """
    k = FakeKernel(mode, RAM_FOR_MODE[mode])
    span = (2 << 20) if k.pae else (4 << 20)
    frames_a: list[int | None] = [0x2F03, HIGH_FRAME if k.pae else 0x2F02, 0x2F01, 0x2F00]
    a = Area(k.vmalloc_start, frames_a, k.vmalloc(k.vmalloc_start, frames_a), 2)
    b_addr = a.addr + a.size
    for i in range(2):
        k.map_page(b_addr + i * PAGE, DEVICE_PHYS + i * PAGE, prot=0x073)
    b = Area(b_addr, [None, None], k.vm_struct(1, b_addr, 3 * PAGE), 1)
    c_addr = ((k.vmalloc_start + span) & ~(span - 1)) - 2 * PAGE
    frames_c: list[int | None] = [0x2E10, 0x2E11, 0x2E12, 0x2E13]
    c = Area(c_addr, frames_c, k.vmalloc(c_addr, frames_c), 2)
    areas = [a, b, c]
    k.link_vmlist([x.vm_struct for x in areas])
    for area in (a, c):
        for pfn in area.frames:
            assert pfn is not None
            k.put(pfn * PAGE, pfn, 4)
            k.put(pfn * PAGE + PAGE - 4, pfn, 4)
    k.mem_map(
        {
            5: {"flags": 0x4000},
            0x2F00: {"flags": 0x01000000, "count": {"counter": 1}},
            0x2F01: {"flags": 0x01000000, "count": {"counter": 1}, "index": 7},
        }
    )
    k.cache(b"size-32", 32)
    return k, areas
