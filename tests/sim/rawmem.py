"""Independent readers of the simulator's RAM.

Everything here starts from physical memory, the symbol table and struct
offsets transcribed from the 2.4.20 reference notes (UP build, gcc >= 2.96,
0-byte locks). Nothing reuses the simulator's own page-table walk, list
code or type model, so the tests that use these readers are a second
opinion on what the simulator wrote.
"""

from __future__ import annotations

import copy
from functools import cache

import numpy as np

from vmintro.arch.x86 import MachineConfig
from vmintro.sim.boot import Kernel, boot

PAGE_OFFSET = 0xC0000000
PAGE_SIZE = 4096
SWAPPER_PG_DIR_PHYS = 0x00101000

# struct page (vm notes section 1)
PAGE_LIST, PAGE_MAPPING, PAGE_INDEX, PAGE_COUNT, PAGE_FLAGS, PAGE_VIRTUAL = 0, 8, 12, 20, 24, 44
PG_REFERENCED, PG_DIRTY, PG_SLAB, PG_HIGHMEM, PG_RESERVED = 0x4, 0x10, 0x100, 0x800, 0x4000

# zone_t and pg_data_t, UP (vm notes section 5.5)
ZONE_SIZEOF = 176
Z_FREE_PAGES, Z_PAGES_MIN, Z_PAGES_LOW, Z_PAGES_HIGH, Z_NEED_BALANCE = 0, 4, 8, 12, 16
Z_FREE_AREA, FREE_AREA_SIZEOF, FA_MAP = 20, 12, 8
Z_WAIT_TABLE, Z_WAIT_TABLE_SIZE, Z_WAIT_TABLE_SHIFT = 140, 144, 148
Z_PGDAT, Z_MEM_MAP, Z_START_PADDR, Z_START_MAPNR, Z_NAME, Z_SIZE = 152, 156, 160, 164, 168, 172
PGDAT_ZONELISTS, PGDAT_NR_ZONES, PGDAT_MEM_MAP, PGDAT_BDATA = 528, 784, 788, 796
PGDAT_START_PADDR, PGDAT_START_MAPNR, PGDAT_SIZE, PGDAT_NODE_ID, PGDAT_NEXT = (
    800,
    804,
    808,
    812,
    816,
)
MAX_ORDER = 10

# struct vm_struct (vm notes section 2)
VM_FLAGS, VM_ADDR, VM_SIZE, VM_NEXT = 0, 4, 8, 12
VM_IOREMAP, VM_ALLOC = 0x1, 0x2

# kmem_cache_t (UP) and slab_t (structs notes 4.1, 4.2)
KC_FULL, KC_PARTIAL, KC_FREE, KC_OBJSIZE, KC_FLAGS, KC_NUM = 0, 8, 16, 24, 28, 32
KC_GFPORDER, KC_GFPFLAGS, KC_COLOUR, KC_COLOUR_OFF, KC_COLOUR_NEXT = 36, 40, 44, 48, 52
KC_SLABP_CACHE, KC_GROWING, KC_DFLAGS, KC_CTOR, KC_DTOR, KC_FAILURES = 56, 60, 64, 68, 72, 76
KC_NAME, KC_NEXT, KC_SIZEOF = 80, 100, 108
SLAB_LIST, SLAB_COLOUROFF, SLAB_S_MEM, SLAB_INUSE, SLAB_FREE, SLAB_SIZEOF = 0, 8, 12, 16, 20, 24
BUFCTL_END = 0xFFFFFFFF

# Page-table entry bits
P_PRESENT, P_PSE, P_PROTNONE, P_GLOBAL = 0x001, 0x080, 0x080, 0x100


class Raw:
    """Reads kernel objects of one simulated machine straight out of its RAM."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.mem = k.mem
        self.pae = k.config.pae
        self.highmem = k.config.highmem
        self.page_sizeof = 48 if self.highmem else 44
        self.esize = 8 if self.pae else 4

    # -- scalars ------------------------------------------------------------------------
    def sym(self, name: str) -> int:
        return self.k.sym(name)

    @staticmethod
    def pa(vaddr: int) -> int:
        assert vaddr >= PAGE_OFFSET, f"{vaddr:#x} is not a kernel direct-mapped address"
        return vaddr - PAGE_OFFSET

    def u8(self, vaddr: int) -> int:
        return self.mem.read_u8(self.pa(vaddr))

    def u16(self, vaddr: int) -> int:
        return self.mem.read_u16(self.pa(vaddr))

    def u32(self, vaddr: int) -> int:
        return self.mem.read_u32(self.pa(vaddr))

    def s32(self, vaddr: int) -> int:
        v = self.u32(vaddr)
        return v - (1 << 32) if v & 0x80000000 else v

    def raw(self, vaddr: int, n: int) -> bytes:
        return self.mem.read(self.pa(vaddr), n)

    def cstr(self, vaddr: int, limit: int = 64) -> str:
        return self.raw(vaddr, limit).split(b"\0")[0].decode()

    # -- struct page ----------------------------------------------------------------------
    @property
    def mem_map(self) -> int:
        return self.u32(self.sym("mem_map"))

    def page(self, pfn: int) -> int:
        return self.mem_map + pfn * self.page_sizeof

    def pfn_of_page(self, page: int) -> int:
        off = page - self.mem_map
        assert off % self.page_sizeof == 0, f"{page:#x} is not a struct page"
        return off // self.page_sizeof

    def flags(self, pfn: int) -> int:
        return self.u32(self.page(pfn) + PAGE_FLAGS)

    def count(self, pfn: int) -> int:
        return self.s32(self.page(pfn) + PAGE_COUNT)

    @staticmethod
    def lowmem_pfn(vaddr: int) -> int:
        return (vaddr - PAGE_OFFSET) >> 12

    # -- lists --------------------------------------------------------------------------
    def list_nodes(self, head: int, limit: int = 1 << 22) -> list[int]:
        """Nodes of a circular list_head chain, checking next->prev == self at every link."""
        nodes = []
        prev, cur = head, self.u32(head)
        while cur != head:
            assert cur, f"NULL next pointer in the list at {head:#x}"
            assert self.u32(cur + 4) == prev, f"{cur:#x}->prev != {prev:#x}"
            nodes.append(cur)
            assert len(nodes) <= limit, f"list at {head:#x} does not close"
            prev, cur = cur, self.u32(cur)
        assert self.u32(head + 4) == prev, f"head {head:#x}->prev != last node {prev:#x}"
        return nodes

    # -- page tables (swapper_pg_dir at phys 0x101000) -----------------------------------
    def _entry(self, paddr: int) -> int:
        return self.mem.read_u64(paddr) if self.pae else self.mem.read_u32(paddr)

    def _phys(self, entry: int) -> int:
        return entry & (0xFFFFFF000 if self.pae else 0xFFFFF000)

    def pgd(self, index: int) -> int:
        return self._entry(SWAPPER_PG_DIR_PHYS + index * self.esize)

    def pmd_slot(self, vaddr: int) -> int:
        """Physical address of the pmd entry covering vaddr (the pgd entry in 2-level)."""
        if not self.pae:
            return SWAPPER_PG_DIR_PHYS + (vaddr >> 22) * 4
        pgd = self.pgd(vaddr >> 30)
        assert pgd & P_PRESENT, f"PAE pgd entry for {vaddr:#x} not present"
        return self._phys(pgd) + ((vaddr >> 21) & 511) * 8

    def pmd(self, vaddr: int) -> int:
        return self._entry(self.pmd_slot(vaddr))

    def pte_slot(self, vaddr: int) -> int | None:
        """Physical address of the PTE for vaddr, or None without a pte page."""
        pmd = self.pmd(vaddr)
        if not pmd & P_PRESENT or pmd & P_PSE:
            return None
        if self.pae:
            return self._phys(pmd) + ((vaddr >> 12) & 511) * 8
        return self._phys(pmd) + ((vaddr >> 12) & 1023) * 4

    def pte(self, vaddr: int) -> int | None:
        slot = self.pte_slot(vaddr)
        return None if slot is None else self._entry(slot)

    def translate(self, vaddr: int) -> int | None:
        pmd = self.pmd(vaddr)
        if not pmd & P_PRESENT:
            return None
        if pmd & P_PSE:
            span = (1 << 21) if self.pae else (1 << 22)
            return (self._phys(pmd) & ~(span - 1)) | (vaddr & (span - 1))
        pte = self.pte(vaddr)
        if pte is None or not pte & P_PRESENT:
            return None
        return self._phys(pte) | (vaddr & 0xFFF)

    def pte_pfn(self, entry: int) -> int:
        return self._phys(entry) >> 12

    def vread(self, vaddr: int, n: int) -> bytes:
        out = bytearray()
        while n:
            chunk = min(n, PAGE_SIZE - (vaddr & 0xFFF))
            pa = self.translate(vaddr)
            assert pa is not None, f"{vaddr:#x} is not mapped"
            out += self.mem.read(pa, chunk)
            vaddr += chunk
            n -= chunk
        return bytes(out)

    # -- zones and vmlist -------------------------------------------------------------------
    def zone(self, j: int) -> int:
        return self.sym("contig_page_data") + j * ZONE_SIZEOF

    def free_area_head(self, zone: int, order: int) -> int:
        return zone + Z_FREE_AREA + order * FREE_AREA_SIZEOF

    def free_list(self, zone: int, order: int) -> list[int]:
        """pfns of the blocks on free_area[order], list order (head first)."""
        nodes = self.list_nodes(self.free_area_head(zone, order))
        return [self.pfn_of_page(n - PAGE_LIST) for n in nodes]

    def vmlist(self) -> list[tuple[int, int, int, int]]:
        """(vm_struct, flags, addr, size) along vmlist."""
        out = []
        node = self.u32(self.sym("vmlist"))
        while node:
            out.append(
                (
                    node,
                    self.u32(node + VM_FLAGS),
                    self.u32(node + VM_ADDR),
                    self.u32(node + VM_SIZE),
                )
            )
            node = self.u32(node + VM_NEXT)
            assert len(out) < 1 << 20
        return out

    def cache_by_name(self, name: str) -> int:
        head = self.sym("cache_cache") + KC_NEXT
        for node in self.list_nodes(head):
            if self.cstr(node - KC_NEXT + KC_NAME, 20) == name:
                return node - KC_NEXT
        raise KeyError(name)


# -- machines ---------------------------------------------------------------------------------
@cache
def _booted(cfg: MachineConfig) -> Kernel:
    return boot(cfg)


def machine(
    ram_mib: int, highmem: bool = False, pae: bool = False, pse: bool = True, ram: int | None = None
) -> Kernel:
    """A freshly booted machine; each configuration boots once per session, then is copied."""
    cfg = MachineConfig(
        ram=ram if ram is not None else ram_mib << 20, highmem=highmem or pae, pae=pae, pse=pse
    )
    k = _booted(cfg)
    return copy.deepcopy(k, memo={id(k.types): k.types, id(k.config): k.config})


def ram_snapshot(k: Kernel) -> dict[int, bytes]:
    return {pfn: k.mem.page(pfn) for pfn in k.mem.stored_pfns()}


# kernel/printk.c's ring and its four indices, next to each other in .bss
LOG_VARIABLES = ("log_buf", "log_start", "con_start", "log_end", "logged_chars")


def ram_but_log(k: Kernel) -> dict[int, bytes]:
    """RAM with printk's ring and indices zeroed: what a call changed besides its message."""
    ram = {pfn: bytearray(page) for pfn, page in ram_snapshot(k).items()}
    for name in LOG_VARIABLES:
        addr, size, _ = k.layout.symbols[name]
        paddr = addr - PAGE_OFFSET
        while size:
            pfn, off = divmod(paddr, PAGE_SIZE)
            n = min(size, PAGE_SIZE - off)
            if pfn in ram:
                ram[pfn][off : off + n] = bytes(n)
            paddr, size = paddr + n, size - n
    return {pfn: bytes(page) for pfn, page in ram.items() if any(page)}


# -- invariants ---------------------------------------------------------------------------------
def check_buddy(r: Raw) -> set[int]:
    """Every buddy invariant of every zone, read from RAM; returns the set of free pfns."""
    free_all: set[int] = set()
    psize = r.page_sizeof
    for j in range(3):
        zone = r.zone(j)
        size = r.u32(zone + Z_SIZE)
        if not size:
            assert r.u32(zone + Z_FREE_PAGES) == 0
            for order in range(MAX_ORDER):
                assert r.u32(r.free_area_head(zone, order)) == 0, "empty zone has free lists"
            continue
        base = r.u32(zone + Z_MEM_MAP)
        start = r.u32(zone + Z_START_MAPNR)
        assert base == r.mem_map + start * psize
        words = np.frombuffer(r.raw(base, size * psize), dtype="<u4").reshape(size, psize // 4)
        counts = words[:, PAGE_COUNT // 4]
        flags = words[:, PAGE_FLAGS // 4]
        occupied = np.zeros(size, dtype=bool)
        heads = []  # per order: which order-sized blocks are free blocks
        total = 0
        for order in range(MAX_ORDER):
            blocks = np.zeros((size >> order) + 2, dtype=bool)
            for pfn in r.free_list(zone, order):
                idx = pfn - start
                assert 0 <= idx and idx + (1 << order) <= size, (
                    f"zone {j} order {order}: block at pfn {pfn:#x} outside the zone"
                )
                assert idx % (1 << order) == 0, (
                    f"zone {j}: pfn {pfn:#x} misaligned for order {order}"
                )
                span = slice(idx, idx + (1 << order))
                assert not occupied[span].any(), f"zone {j}: free block at pfn {pfn:#x} overlaps"
                occupied[span] = True
                blocks[idx >> order] = True
                total += 1 << order
            heads.append(blocks)
        assert total == r.u32(zone + Z_FREE_PAGES), (
            f"zone {j}: free lists hold {total} pages, free_pages = {r.u32(zone + Z_FREE_PAGES)}"
        )
        bad = np.nonzero(occupied & (counts != 0))[0]
        assert bad.size == 0, f"free pfn {int(bad[0]) + start:#x} has count {counts[bad[0]]}"
        bad = np.nonzero(occupied & ((flags & PG_RESERVED) != 0))[0]
        assert bad.size == 0, f"free pfn {int(bad[0]) + start:#x} is PG_reserved"
        bad = np.nonzero(occupied & ((flags >> 24) != j))[0]
        assert bad.size == 0, f"free pfn {int(bad[0]) + start:#x} has the wrong zone byte"
        for order in range(MAX_ORDER - 1):
            npairs = ((size - 1) >> (order + 1)) + 1
            bitmap = r.u32(r.free_area_head(zone, order) + FA_MAP)
            assert bitmap, f"zone {j}: free_area[{order}].map is NULL"
            raw = np.frombuffer(r.raw(bitmap, (npairs + 7) // 8), dtype=np.uint8)
            bits = np.unpackbits(raw, bitorder="little")[:npairs].astype(bool)
            blocks = heads[order]
            if blocks.size < 2 * npairs:
                blocks = np.concatenate([blocks, np.zeros(2 * npairs - blocks.size, dtype=bool)])
            lo, hi = blocks[0 : 2 * npairs : 2], blocks[1 : 2 * npairs : 2]
            assert not (lo & hi).any(), f"zone {j} order {order}: both buddies free, not merged"
            bad = np.nonzero(bits != (lo ^ hi))[0]
            assert bad.size == 0, (
                f"zone {j} order {order}: bitmap bit of pair {int(bad[0])} is "
                f"{int(bits[bad[0]])}, buddies free: {bool(lo[bad[0]])}/{bool(hi[bad[0]])}"
            )
        assert r.u32(r.free_area_head(zone, MAX_ORDER - 1) + FA_MAP) == 0
        free_all.update((np.nonzero(occupied)[0] + start).tolist())
    return free_all


def check_vmlist(r: Raw) -> list[tuple[int, int, int, int]]:
    """vmlist sorted ascending, areas disjoint and page aligned, inside the vmalloc range."""
    cfg = r.k.config
    areas = r.vmlist()
    prev_end = cfg.vmalloc_start
    for node, flags, addr, size in areas:
        assert flags in (VM_ALLOC, VM_IOREMAP)
        assert addr % PAGE_SIZE == 0 and size % PAGE_SIZE == 0 and size >= 2 * PAGE_SIZE
        assert addr >= prev_end, f"vmlist not sorted/disjoint at {addr:#x}"
        assert addr + size <= cfg.vmalloc_end or len(areas) == 1
        # the descriptor lives in a size-32 slab page
        pfn = r.lowmem_pfn(node)
        assert r.flags(pfn) & PG_SLAB
        assert r.cstr(r.u32(r.page(pfn) + PAGE_LIST) + KC_NAME, 20) == "size-32"
        assert r.pte(addr + size - PAGE_SIZE) in (None, 0), f"guard page of {addr:#x} mapped"
        prev_end = addr + size
    return areas
