"""What an address is, and searching memory: against the simulator's own record
(the machine the image was written from) and the generator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.kernels import Kernel
from helpers.slab_image import SlabImage, build_slab_image
from vmintro.arch.x86 import PAGE_OFFSET
from vmintro.helpers import (
    AddressInfo,
    FreeBlock,
    classify_address,
    find_free_block,
    frame_mappings,
    identify_address,
    page_count,
    page_table_frames,
    pfn_to_page,
    search_memory,
)
from vmintro.sim.paging import KernelPageTables

PAGE = 4096


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> SlabImage:
    return build_slab_image(Path(tmp_path_factory.mktemp("memory")))


def test_vmalloc_addresses_name_their_area_frame_and_guard(kernel: Kernel) -> None:
    prog = kernel.prog
    for area in kernel.truth["areas"][:6]:
        start, size = area["addr"], area["size"]
        for i, pfn in enumerate(area["pages"]):
            info = classify_address(prog, start + i * PAGE + 8)
            assert isinstance(info, AddressInfo)
            assert info.region == "vmalloc" and info.vm_area is not None
            assert info.vm_area[:3] == (area["vm_struct"], start, size)
            assert info.pfn == pfn and not info.guard
        guard = classify_address(prog, start + size - PAGE)
        assert guard.guard and guard.pfn is None and guard.fault
        assert identify_address(prog, start + size - 1) == (
            f"guard page of vmap: {start:#x}-{start + size:#x}"
        )
        said = identify_address(prog, start)
        assert f"vmap: {start:#x}-{start + size:#x}" in said
        owner = area["owner"]
        assert said.startswith(f"{owner} at ") == owner.startswith("module "), (said, owner)


def test_regions_of_the_address_space(kernel: Kernel) -> None:
    prog, truth = kernel.prog, kernel.truth
    assert classify_address(prog, 0x1000).region == "user"
    assert identify_address(prog, 0x1000) is None
    assert classify_address(prog, truth["high_memory"] - 1).region == "lowmem"
    assert classify_address(prog, truth["high_memory"]).region == "gap"
    assert classify_address(prog, truth["vmalloc_start"]).region == "vmalloc"
    assert classify_address(prog, truth["vmalloc_end"] - 1).region == "vmalloc"
    if prog.highmem:  # PKMAP_BASE, two pages above VMALLOC_END
        assert classify_address(prog, truth["vmalloc_end"] + 2 * PAGE).region == "pkmap"
    # fix_to_virt(0) is FIXADDR_TOP (0xffffe000), the boot-time slots below it
    assert classify_address(prog, 0xFFFFE000).region == "fixmap"
    assert classify_address(prog, 0xFFFFE000 - PAGE).region == "fixmap"
    assert classify_address(prog, 0xFFFFF000).region == "top"
    # a struct page inside mem_map: its pfn and the offset into it
    page = truth["mem_map"] + 300 * truth["sizeof_page"] + 4
    assert classify_address(prog, page).mem_map_page == (300, 4)
    assert identify_address(prog, page).startswith("page: pfn 0x12c +0x4")
    vmlist = prog.symbol("vmlist").address
    assert identify_address(prog, vmlist) == "object symbol: vmlist+0x0"  # drgn's words
    assert identify_address(prog, vmlist + 2) == "object symbol: vmlist+0x2"


def test_slab_objects_are_identified(image: SlabImage) -> None:
    prog = image.prog
    for addr in list(image.allocated)[:5]:
        info = classify_address(prog, addr + 1)
        assert info.slab is not None and info.slab.address == addr and info.slab.allocated
        assert identify_address(prog, addr + 1).startswith("slab object: size-")
        assert identify_address(prog, addr + 1).split(";")[0].endswith("+0x1")
        # the same frame named by its physical address
        assert classify_address(prog, addr - PAGE_OFFSET, physical=True).slab is not None
    for addr in image.freed[:3]:
        assert identify_address(prog, addr).startswith("free slab object: size-")


def test_free_blocks_hold_only_free_pages(image: SlabImage) -> None:
    prog = image.prog
    blocks = 0
    for pfn in range(0, prog["max_mapnr"].value_(), 37):
        block = find_free_block(prog, pfn)
        if block is None:
            continue
        blocks += 1
        assert isinstance(block, FreeBlock)
        assert block.pfn <= pfn < block.pfn + block.pages
        assert block.pfn % block.pages == 0  # buddy blocks are aligned to their size
        assert page_count(pfn_to_page(prog, pfn)) == 0
    assert blocks > 10
    for addr in image.allocated:  # kmalloc'ed: never on a free list
        assert find_free_block(prog, (addr - PAGE_OFFSET) // PAGE) is None


def test_page_table_frames_are_the_simulators(image: SlabImage) -> None:
    k = image.kernel
    pt = KernelPageTables(k)
    frames = page_table_frames(image.prog)
    assert frames[image.prog.swapper_pg_dir // PAGE] == "pgd"
    for _vs, addr, size, _flags in k.vmalloc.areas():
        for vaddr in range(addr, addr + size - PAGE, PAGE):
            pte = pt.pte_offset(pt.pmd_offset(pt.pgd_offset_k(vaddr), vaddr), vaddr)
            assert frames[(pte - PAGE_OFFSET) // PAGE] == "pte"
            info = classify_address(image.prog, pte)
            assert info.page_table == "pte"


def test_search_memory_finds_what_ram_holds(image: SlabImage) -> None:
    prog, k = image.prog, image.kernel
    value = prog["vmlist"].value_()  # the first vm_struct's address
    raw = k.mem.read(0, k.mem.size)
    needle = value.to_bytes(4, "little")
    words = np.frombuffer(raw, dtype="<u4")
    expected = [4 * int(i) for i in np.nonzero(words == value)[0]]
    assert needle in raw
    assert list(search_memory(prog, value, physical=True)) == expected
    virtual = list(search_memory(prog, value))
    assert [v - PAGE_OFFSET for v in virtual if v < prog.layout.lowmem_end] == expected
    # bytes at any alignment, and a masked search (the low 12 bits ignored)
    name = b"size-4096(DMA)"
    found = list(search_memory(prog, name, physical=True))
    at, offsets = raw.find(name), []
    while at >= 0:
        offsets.append(at)
        at = raw.find(name, at + 1)
    assert found == offsets
    masked = list(search_memory(prog, value, physical=True, mask=0xFFFFF000))
    assert set(expected) <= set(masked)
    assert all(int.from_bytes(raw[a : a + 4], "little") >> 12 == value >> 12 for a in masked)
    # limits: start and end bound what is reported
    if expected:
        first = expected[0]
        assert list(search_memory(prog, value, first + 1, physical=True)) == expected[1:]


def test_a_frame_is_found_at_every_address_that_maps_it(kernel: Kernel) -> None:
    prog = kernel.prog
    by_frame: dict[int, list[int]] = {}
    for area in kernel.truth["areas"]:
        for i, pfn in enumerate(area["pages"]):
            if pfn is not None:
                by_frame.setdefault(pfn, []).append(area["addr"] + i * PAGE)
    for pfn, vaddrs in list(by_frame.items())[:20]:
        lowmem = [PAGE_OFFSET + pfn * PAGE] if pfn < kernel.lowmem_pfns else []
        assert frame_mappings(prog, pfn) == sorted(lowmem + vaddrs)
        info = classify_address(prog, pfn * PAGE + 4, physical=True)
        assert info.mapped_at == sorted(lowmem + vaddrs)
        assert f"{vaddrs[0]:#x}" in info.describe()


def test_frame_mappings_translates_no_more_than_the_vmalloc_range(
    kernel: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged vmlist of 200 areas of 4 GiB each made it build arrays of hundreds of MiB
    (the hostile-input fuzz, seed 20261206): the areas' pages are now merged and clipped."""
    import types

    import vmintro.helpers.vmalloc as vmalloc_helpers

    prog = kernel.prog
    real = list(vmalloc_helpers.for_each_vm_area(prog))

    def value(v: int) -> types.SimpleNamespace:
        return types.SimpleNamespace(value_=lambda: v)

    forged = [
        types.SimpleNamespace(addr=value(prog.vmalloc_start + i * PAGE), size=value(0xFFFFF000))
        for i in range(200)
    ]
    monkeypatch.setattr(vmalloc_helpers, "for_each_vm_area", lambda p: iter(real + forged))
    asked = []
    many = vmalloc_helpers.vmalloc_to_pfn_many

    def counting(p, vaddrs):  # type: ignore[no-untyped-def]
        asked.append(len(vaddrs))
        return many(p, vaddrs)

    monkeypatch.setattr(vmalloc_helpers, "vmalloc_to_pfn_many", counting)
    area = kernel.truth["areas"][0]
    pfn = next(p for p in area["pages"] if p is not None)
    assert area["addr"] in frame_mappings(prog, pfn)
    assert sum(asked) <= (prog.vmalloc_end - prog.vmalloc_start) // PAGE
