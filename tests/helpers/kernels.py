"""One test image as the helper tests see it: its program and its ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmintro.program import Program

IMAGES = ("demo", "highmem", "pae")
PAGE_SIZE = 4096
MAX_DMA_PFN = (16 << 20) // PAGE_SIZE  # ZONE_DMA ends at MAX_DMA_ADDRESS, 16 MiB


@dataclass(frozen=True)
class Kernel:
    """One image: its name, files, program and ground truth."""

    name: str
    base: Path
    prog: Program
    truth: dict[str, Any]

    @property
    def lowmem_pfns(self) -> int:
        """Frames of the direct map: ``max_low_pfn`` (the machine's RAM up to 896 MiB)."""
        return int(self.truth["max_low_pfn"])

    @property
    def pages(self) -> int:
        """Frames with a ``struct page``: ``num_physpages``, which ``max_mapnr`` is set to."""
        return int(self.truth["num_physpages"])

    def page_address_of(self, pfn: int) -> int:
        """Where ``mem_map[pfn]`` is, from the truth's ``mem_map`` and ``sizeof(struct page)``."""
        return int(self.truth["mem_map"]) + pfn * int(self.truth["sizeof_page"])

    def zone_of(self, pfn: int) -> int:
        """The zone ``free_area_init`` puts frame ``pfn`` in: DMA below 16 MiB, Normal
        up to ``max_low_pfn``, HighMem above."""
        if pfn < MAX_DMA_PFN:
            return 0
        return 1 if pfn < self.lowmem_pfns else 2

    def area_frames(self, flags: int | None = None) -> list[int]:
        """Every frame the truth gives an area's pages (of areas with ``flags``, if given)."""
        return [
            pfn
            for area in self.truth["areas"]
            if flags is None or area["flags"] & flags
            for pfn in area["pages"]
            if pfn is not None
        ]

    def sample_pfns(self) -> list[int]:
        """Frames to check page by page: each zone's edges, a stride across RAM and
        every frame behind a vmalloc area, in order."""
        n = self.pages
        edges = {0, 1, MAX_DMA_PFN - 1, MAX_DMA_PFN, self.lowmem_pfns - 1, self.lowmem_pfns, n - 1}
        frames = {pfn for pfn in self.area_frames() if pfn < n}
        return sorted({p for p in edges if 0 <= p < n} | set(range(0, n, 251)) | frames)
