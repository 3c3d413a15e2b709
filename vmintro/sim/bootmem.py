"""The boot-time allocator (``mm/bootmem.c``), its bitmap kept in simulated RAM."""

from __future__ import annotations

import numpy as np

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.errors import KernelBug, SimulationError
from vmintro.sim.kernel import KernelMemory

__all__ = ["Bootmem"]

BDATA = "bootmem_data_t"


class Bootmem:
    """``bootmem_data_t contig_bootmem_data`` and the bitmap it points to (1 = reserved)."""

    def __init__(self, k: KernelMemory, start_pfn: int, low_pfn: int) -> None:
        """``init_bootmem(start, pages)``: the bitmap at ``start_pfn``, all pages reserved."""
        self.k = k
        self.bdata = k.sym("contig_bootmem_data")
        self.map_vaddr = k.va(start_pfn * PAGE_SIZE)
        self.low_pfn = low_pfn
        mapsize = ((low_pfn + 7) // 8 + 3) & ~3
        self.mapsize = mapsize
        k.set_many(
            self.bdata,
            BDATA,
            node_boot_start=0,
            node_low_pfn=low_pfn,
            node_bootmem_map=self.map_vaddr,
        )
        k.write(self.map_vaddr, b"\xff" * mapsize)
        k.set(k.sym("contig_page_data"), "pg_data_t", "bdata", self.bdata)

    @classmethod
    def attach(cls, k: KernelMemory) -> Bootmem:
        """``contig_bootmem_data`` of a kernel past ``mem_init``, read from ``k``'s RAM:
        the bitmap was at ``min_low_pfn`` (``init_bootmem``'s start) and is gone."""
        bm = cls.__new__(cls)
        bm.k, bm.bdata = k, k.sym("contig_bootmem_data")
        bm.map_vaddr = k.va(k.r32(k.sym("min_low_pfn")) * PAGE_SIZE)
        bm.low_pfn = k.get(bm.bdata, BDATA, "node_low_pfn")
        bm.mapsize = ((bm.low_pfn + 7) // 8 + 3) & ~3
        return bm

    # The bitmap lives in RAM; these read and write its bits.
    def _test(self, i: int) -> bool:
        return bool(self.k.mem.read_u8(self.map_vaddr - PAGE_OFFSET + (i >> 3)) >> (i & 7) & 1)

    def _assign(self, first: int, end: int, bit: int) -> None:
        """Bits ``[first, end)`` set to ``bit``: the bitmap's bytes they lie in,
        read, changed and written back (bootmem's loops of test_and_set_bit)."""
        if first >= end:
            return
        a = self.map_vaddr - PAGE_OFFSET + (first >> 3)
        n = ((end - 1) >> 3) - (first >> 3) + 1
        bits = np.unpackbits(np.frombuffer(self.k.mem.read(a, n), np.uint8), bitorder="little")
        bits[(first & 7) : (first & 7) + end - first] = bit
        self.k.mem.write(a, np.packbits(bits, bitorder="little").tobytes())

    def free_bootmem(self, addr: int, size: int) -> None:
        """``free_bootmem_core``: the start is rounded up, the end down."""
        eidx = (addr + size) // PAGE_SIZE
        if eidx > self.low_pfn:
            raise KernelBug("free_bootmem_core", "end > bdata->node_low_pfn")
        self._assign((addr + PAGE_SIZE - 1) // PAGE_SIZE, eidx, 0)

    def reserve_bootmem(self, addr: int, size: int) -> None:
        """``reserve_bootmem_core``: the start is rounded down, the end up."""
        self._assign(addr // PAGE_SIZE, (addr + size + PAGE_SIZE - 1) // PAGE_SIZE, 1)

    def alloc(self, size: int, align: int, goal: int) -> int:
        """``__alloc_bootmem_core``: first fit from ``goal``, packing small requests."""
        k = self.k
        eidx = self.low_pfn
        bitmap = k.mem.read(self.map_vaddr - PAGE_OFFSET, self.mapsize)

        def reserved(i: int) -> bool:
            return bool(bitmap[i >> 3] >> (i & 7) & 1)

        preferred = goal if goal and (goal >> 12) < self.low_pfn else 0
        preferred = ((preferred + align - 1) & ~(align - 1)) >> 12
        areasize = (size + PAGE_SIZE - 1) // PAGE_SIZE
        incr = max(align >> 12, 1)
        start = None
        while start is None:
            i = preferred
            while i < eidx:
                while i < eidx and reserved(i):
                    # a byte of eight reserved pages at once: the kernel's test_bit loop
                    # would only step over them (past eidx, the round-up below breaks)
                    i += 8 if not i & 7 and bitmap[i >> 3] == 0xFF else 1
                i = (i + incr - 1) // incr * incr
                if i >= eidx:
                    break
                if reserved(i):
                    i += incr
                    continue
                if all(j < eidx and not reserved(j) for j in range(i + 1, i + areasize)):
                    start = i
                    break
                i += incr
            if start is None:
                if not preferred:
                    raise SimulationError(f"bootmem: cannot allocate {size} bytes")
                preferred = 0

        last_pos = k.get(self.bdata, BDATA, "last_pos")
        last_offset = k.get(self.bdata, BDATA, "last_offset")
        if align <= PAGE_SIZE and last_offset and last_pos + 1 == start:
            offset = (last_offset + align - 1) & ~(align - 1)
            remaining = PAGE_SIZE - offset
            ret = k.va(last_pos * PAGE_SIZE + offset)
            if size < remaining:
                areasize = 0
                last_offset = offset + size
            else:
                remaining = size - remaining
                areasize = (remaining + PAGE_SIZE - 1) // PAGE_SIZE
                last_pos = start + areasize - 1
                last_offset = remaining
            last_offset &= PAGE_SIZE - 1
        else:
            last_pos = start + areasize - 1
            last_offset = size & (PAGE_SIZE - 1)
            ret = k.va(start * PAGE_SIZE)
        k.set_many(self.bdata, BDATA, last_pos=last_pos, last_offset=last_offset)
        self._assign(start, start + areasize, 1)
        k.zero(ret, size)
        return ret

    def alloc_low_pages(self, size: int) -> int:
        """``alloc_bootmem_low_pages``: goal 0, page aligned."""
        return self.alloc(size, PAGE_SIZE, 0)

    def alloc_node(self, size: int, align: int = 32) -> int:
        """``alloc_bootmem_node``: goal ``MAX_DMA_ADDRESS`` (16 MiB), SMP_CACHE_BYTES aligned."""
        return self.alloc(size, align, 16 << 20)

    def free_pfns(self) -> np.ndarray:
        """Pages whose bit is clear, ascending: what ``free_all_bootmem`` hands over."""
        raw = self.k.mem.read(self.map_vaddr - PAGE_OFFSET, self.mapsize)
        bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[: self.low_pfn]
        return np.flatnonzero(bits == 0)
