"""A small image whose slab state the test knows: objects kmalloc'ed (and some
kfree'd) through the simulator, which records each address it returned. The
simulator shares no walk code with the reader, so its record is the oracle for
the slab and address helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from unittest.mock import patch

import vmintro
from vmintro.arch.x86 import MachineConfig
from vmintro.image.writer.install import write_image
from vmintro.image.writer.snapshot import snapshot
from vmintro.program import Program
from vmintro.sim.boot import Kernel, boot
from vmintro.sim.slab import Slab

SIZES = (20, 64, 64, 100, 200, 5000, 30)


@dataclass
class SlabImage:
    prog: Program
    allocated: dict[int, int]  # object address -> size asked of kmalloc
    freed: list[int]  # addresses kfree'd
    caches: dict[str, tuple[int, int]]  # cache name -> (objects in use, objsize; 0: not checked)
    kernel: Kernel  # the simulated machine the image was written from


def build_slab_image(directory: Path) -> SlabImage:
    # every object the simulator hands out or takes back, per cache, from boot on
    in_use: dict[int, int] = {}
    # kfree and kmem_cache_free both end in kmem_cache_free_one (__kmem_cache_free)
    alloc, free = Slab.kmem_cache_alloc, Slab.kmem_cache_free_one

    def counting_alloc(self: Slab, cachep: int, flags: int) -> int | None:
        objp = alloc(self, cachep, flags)
        if objp is not None:
            in_use[cachep] = in_use.get(cachep, 0) + 1
        return objp

    def counting_free(self: Slab, cachep: int, objp: int) -> None:
        free(self, cachep, objp)
        in_use[cachep] -= 1

    with (
        patch.object(Slab, "kmem_cache_alloc", counting_alloc),
        patch.object(Slab, "kmem_cache_free_one", counting_free),
    ):
        return _build(directory, in_use)


def _build(directory: Path, in_use: dict[int, int]) -> SlabImage:
    k = boot(MachineConfig(ram=16 << 20))
    assert k.vmalloc.vmalloc(3 * 4096, owner="buf") is not None
    allocated: dict[int, int] = {}
    for size in SIZES * 3:
        addr = k.slab.kmalloc(size)
        assert addr is not None
        allocated[addr] = size
    freed = [a for i, a in enumerate(list(allocated)) if i % 4 == 1]
    for a in freed:
        k.slab.kfree(a)
        del allocated[a]
    caches = {"kmem_cache": (in_use.get(k.slab.cache_cache, 0), 0)}
    for size, cache, dma in k.slab.sizes:
        caches[f"size-{size}"] = (in_use.get(cache, 0), size)
        caches[f"size-{size}(DMA)"] = (in_use.get(dma, 0), size)
    write_image(snapshot(k, {"scenario": "slab test"}), directory / "slab")
    return SlabImage(vmintro.open(directory / "slab"), allocated, freed, caches, k)
