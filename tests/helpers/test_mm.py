"""``vmintro.helpers.mm`` (``struct page``): each helper against the truth, gdb and 2.4.20."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hostile_image import HostileImage
from rbtree_walk import rb_inorder

import vmintro
from helpers.kernels import PAGE_SIZE, Kernel
from vmintro.arch.x86 import PAGE_OFFSET
from vmintro.errors import CorruptionError
from vmintro.helpers import (
    PFN_PHYS,
    decode_page_flags,
    find_task,
    follow_pte,
    for_each_vma,
    init_task,
    max_mapnr,
    page_address,
    page_count,
    page_flag_names,
    page_to_pfn,
    page_zone,
    page_zone_index,
    pfn_to_page,
    pfn_valid,
    task_pgd,
    virt_to_page,
    virt_to_pfn,
    zone_name,
)

# include/linux/mm.h of 2.4.20: the bit of each page flag (bit 9 is unused)
PG_BITS = {
    0: "PG_locked",
    1: "PG_error",
    2: "PG_referenced",
    3: "PG_uptodate",
    4: "PG_dirty",
    5: "PG_unused",
    6: "PG_lru",
    7: "PG_active",
    8: "PG_slab",
    10: "PG_skip",
    11: "PG_highmem",
    12: "PG_checked",
    13: "PG_arch_1",
    14: "PG_reserved",
    15: "PG_launder",
}
ZONE_SHIFT = 24  # BITS_PER_LONG - 8: the zone sits in the top byte of page->flags
ZONES = ("DMA", "Normal", "HighMem")
VM_ALLOC = 0x2


def test_PFN_PHYS_is_the_frame_times_the_page_size(kernel: Kernel) -> None:  # noqa: N802
    prog = kernel.prog
    for pfn in kernel.area_frames():
        assert PFN_PHYS(prog, pfn) == pfn * PAGE_SIZE
    # PAE frames lie above 4 GiB too: no 32-bit wrap
    assert PFN_PHYS(prog, 0x123456) == 0x123456000


def test_pfn_to_page_and_page_to_pfn(kernel: Kernel) -> None:
    prog = kernel.prog
    for pfn in kernel.sample_pfns():
        page = pfn_to_page(prog, pfn)
        assert page.type_.c_name == "struct page *"
        assert page.value_() == kernel.page_address_of(pfn), pfn
        assert page_to_pfn(page) == pfn
        assert page_to_pfn(kernel.page_address_of(pfn), prog) == pfn


def test_max_mapnr_and_pfn_valid(kernel: Kernel, facts: dict[str, Any]) -> None:
    prog = kernel.prog
    # setup_arch: max_mapnr = num_physpages, every frame up to the top of RAM
    assert max_mapnr(prog) == kernel.pages == facts["max_mapnr"]
    assert pfn_valid(prog, 0) and pfn_valid(prog, kernel.pages - 1)
    assert not pfn_valid(prog, kernel.pages)
    assert not pfn_valid(prog, -1)


def test_virt_to_pfn_and_virt_to_page_in_the_direct_map(kernel: Kernel) -> None:
    prog = kernel.prog
    page_offset = kernel.truth["page_offset"]
    lowmem = [pfn for pfn in kernel.sample_pfns() if pfn < kernel.lowmem_pfns]
    assert len(lowmem) > 50
    for pfn in lowmem:
        for addr in (page_offset + pfn * PAGE_SIZE, page_offset + pfn * PAGE_SIZE + 0xFFF):
            assert virt_to_pfn(prog, addr) == pfn
            assert virt_to_page(prog, addr).value_() == kernel.page_address_of(pfn)
    # drgn's helpers take a pointer Object as well as an integer
    pointer = prog["mem_map"]
    assert virt_to_pfn(prog, pointer) == virt_to_pfn(prog, pointer.value_())
    assert int(virt_to_page(prog, pointer)) == int(virt_to_page(prog, pointer.value_()))
    assert int(pfn_to_page(prog, prog["max_mapnr"])) == int(
        pfn_to_page(prog, prog["max_mapnr"].value_())
    )


@pytest.mark.parametrize("where", ["high_memory", "vmalloc_start", "below PAGE_OFFSET"])
def test_virt_to_page_refuses_addresses_outside_the_direct_map(kernel: Kernel, where) -> None:
    truth = kernel.truth
    addr = truth["page_offset"] - 1 if where == "below PAGE_OFFSET" else truth[where]
    with pytest.raises(ValueError, match=f"virt_to_page\\({addr:#x}\\): not a direct-mapped"):
        virt_to_page(kernel.prog, addr)


def test_page_zone_index_and_page_zone(kernel: Kernel, facts: dict[str, Any]) -> None:
    prog = kernel.prog
    zones = [z["address"] for z in facts["zones"]]
    assert facts["zone_table"] == zones  # one node: zone_table[i] is &node_zones[i]
    seen = set()
    for pfn in kernel.sample_pfns():
        page = pfn_to_page(prog, pfn)
        index = kernel.zone_of(pfn)
        seen.add(index)
        assert page_zone_index(page) == index, pfn
        zone = page_zone(page)
        assert zone.type_.c_name == "zone_t *"
        assert zone.value_() == zones[index], pfn
        assert zone_name(zone) == ZONES[index]
    assert seen == ({0, 1, 2} if kernel.pages > kernel.lowmem_pfns else {0, 1})


def test_page_count_against_gdb_and_the_allocations(kernel: Kernel, facts: dict[str, Any]) -> None:
    prog = kernel.prog
    counts = facts["pages"]["count"]
    for pfn in kernel.sample_pfns():
        assert page_count(pfn_to_page(prog, pfn)) == counts[pfn], pfn
    # vmalloc_area_pages gave each page of an area a frame of its own (alloc_page: count 1)
    frames = kernel.area_frames(VM_ALLOC)
    assert frames
    assert {page_count(pfn_to_page(prog, pfn)) for pfn in frames} == {1}


def test_page_flag_names_by_the_kernels_bits() -> None:
    for bit, name in PG_BITS.items():
        assert page_flag_names(1 << bit) == [name]
    assert page_flag_names(0) == []
    assert page_flag_names(1 << 9) == ["bit9"]  # unused in 2.4.20: named by its number
    assert page_flag_names(1 << 16 | 1 << 23) == ["bit16", "bit23"]
    # the zone byte is no flag
    assert page_flag_names(2 << ZONE_SHIFT | 1 << 14 | 1 << 0) == ["PG_locked", "PG_reserved"]
    # as drgn's decode_page_flags: the known flags by bit, then the unknown bits
    assert page_flag_names(0xFFFFFFFF) == list(PG_BITS.values()) + [
        f"bit{bit}" for bit in [9, *range(16, ZONE_SHIFT)]
    ]


def _decoded(flags: int) -> str:
    """``flags`` as drgn's decode_page_flags spells it, from the kernel's bit table."""
    bits = [bit for bit in range(ZONE_SHIFT) if flags >> bit & 1]
    names = [PG_BITS[b] for b in bits if b in PG_BITS] + [
        f"bit{b}" for b in bits if b not in PG_BITS
    ]
    return f"{'|'.join(names) or '0'} zone={ZONES[flags >> ZONE_SHIFT]}"


def test_decode_page_flags_of_what_gdb_reads(kernel: Kernel, facts: dict[str, Any]) -> None:
    prog = kernel.prog
    flags = facts["pages"]["flags"]
    spelled = set()
    for pfn in kernel.sample_pfns():
        page = pfn_to_page(prog, pfn)
        expected = _decoded(flags[pfn])
        assert decode_page_flags(page) == expected, pfn
        assert decode_page_flags(page[0]) == expected
        assert decode_page_flags(flags[pfn]) == expected
        spelled.add(expected.split()[0])
    assert "PG_reserved" in spelled and "0" in spelled  # the kernel image, free frames
    # one_highpage_init: every HighMem frame is PG_highmem
    for pfn in kernel.area_frames(VM_ALLOC):
        if kernel.zone_of(pfn) == 2:
            assert decode_page_flags(pfn_to_page(prog, pfn)) == "PG_highmem zone=HighMem"


def test_decode_page_flags_of_a_value() -> None:
    assert decode_page_flags(0x01004000) == "PG_reserved zone=Normal"
    assert decode_page_flags(0x00004109) == "PG_locked|PG_uptodate|PG_slab|PG_reserved zone=DMA"
    assert decode_page_flags(0) == "0 zone=DMA"
    assert decode_page_flags(0x02000800) == "PG_highmem zone=HighMem"
    assert decode_page_flags(0x07000000) == "0 zone=7"  # no such zone: its number


def test_page_address(kernel: Kernel, facts: dict[str, Any]) -> None:
    prog = kernel.prog
    page_offset = kernel.truth["page_offset"]
    virtual = facts["pages"].get("virtual")
    assert (virtual is not None) == kernel.truth["config"]["highmem"]
    high = 0
    for pfn in kernel.sample_pfns():
        got = page_address(pfn_to_page(prog, pfn))
        if pfn < kernel.lowmem_pfns:  # __va of the frame, set at boot for DMA and Normal
            assert got == page_offset + pfn * PAGE_SIZE, pfn
        else:  # HighMem: page->virtual, NULL unless kmapped
            high += 1
            assert got == virtual[pfn] == 0, pfn  # type: ignore[index]
        if virtual is not None:
            assert got == virtual[pfn], pfn
    assert (high > 0) == (kernel.name == "highmem")


@pytest.mark.parametrize("name", ["2level", "pae"])
def test_task_pgd_is_mm_pgd_or_active_mm_pgd(process_images, name: str) -> None:
    image = process_images[name]
    prog = vmintro.open(image.base)
    for pid, facts in image.tasks.items():
        task = find_task(prog, pid) if pid else init_task(prog)
        pgd = task_pgd(task)
        if facts["mm"]:  # a process: its own page directory, from pgd_alloc
            assert pgd is not None and int(pgd) == facts["pgd"]
        elif facts["active_mm"]:  # the idle task runs on init_mm: swapper_pg_dir
            assert pid == 0 and pgd is not None and int(pgd) == image.swapper
        else:  # a sleeping kernel thread: schedule() dropped its active_mm
            assert pgd is None
    assert image.tasks[image.bash]["pgd"] != image.tasks[image.cron]["pgd"]


@pytest.mark.parametrize("name", ["2level", "pae"])
def test_follow_pte_walks_any_page_directory(process_images, name: str) -> None:
    image = process_images[name]
    prog = vmintro.open(image.base)
    probe = image.probe
    bash, cron = (image.tasks[pid]["pgd"] for pid in (image.bash, image.cron))
    # swapper_pg_dir's own walk is prog.follow_pte's, and it maps the probe
    assert follow_pte(prog, image.swapper, probe).paddr == prog.translate(probe)
    # each process's pgd entry for the probe is what the simulator's RAM held after
    # bash's touch: copied into bash's, still missing from cron's (2-level); under
    # PAE both had the entry from pgd_alloc and share init_mm's kernel pmd page
    for pgd, who in ((bash, "bash"), (cron, "cron")):
        task = find_task(prog, image.bash if who == "bash" else image.cron)
        walk = follow_pte(prog, task_pgd(task), probe)
        assert walk.pgd == pgd - PAGE_OFFSET
        assert walk.steps[0].value == image.entries[who][1]
    assert follow_pte(prog, bash, probe).paddr == prog.translate(probe)
    cron_walk = follow_pte(prog, cron, probe)
    if name == "pae":
        assert cron_walk.paddr == prog.translate(probe)
    else:
        assert image.entries["cron"] == (0, 0) and image.entries["bash"][0] == 0
        assert cron_walk.paddr is None and len(cron_walk.steps) == 1
    with pytest.raises(ValueError, match="direct-mapped"):
        follow_pte(prog, 0x1000, probe)  # not a kernel address
    with pytest.raises(ValueError):
        follow_pte(prog, bash + 4, probe)  # not a page directory's alignment


@pytest.mark.parametrize("name", ["2level", "pae"])
def test_for_each_vma_walks_mmap_in_the_trees_order(process_images, name: str) -> None:
    """mm->mmap by vm_next holds the areas mm->mm_rb holds, in the same (address)
    order: the tree, which the walk never reads, is the oracle; map_count counts them."""
    image = process_images[name]
    prog = vmintro.open(image.base)
    o_rb = prog.type("struct vm_area_struct").offsetof("vm_rb")
    for pid in (1, image.bash, image.cron):
        mm = find_task(prog, pid).mm
        vmas = list(for_each_vma(mm))
        assert vmas and all(str(v.type_) == "struct vm_area_struct *" for v in vmas)
        assert [v.value_() for v in vmas] == [n - o_rb for n in rb_inorder(mm.mm_rb.rb_node)]
        assert len(vmas) == mm.map_count.value_()
        starts = [(v.vm_start.value_(), v.vm_end.value_()) for v in vmas]
        assert all(s < e <= n for (s, e), (n, _) in zip(starts, starts[1:], strict=False))
        assert all(v.vm_mm.value_() == mm.value_() for v in vmas)


def test_for_each_vma_stops_on_a_cycle(process_images, tmp_path: Path) -> None:
    image = process_images["2level"]
    mm = image.tasks[image.bash]["mm"]
    src = vmintro.open(image.base)
    first = src.read_u32(mm + src.type("struct mm_struct").offsetof("mmap"))
    o_next = src.type("struct vm_area_struct").offsetof("vm_next")
    second = src.read_u32(first + o_next)
    img = HostileImage(tmp_path / "damaged", image.base)
    img.write_u32(second + o_next, first)  # the second area links back to the first
    img.save()
    prog = vmintro.open(img.base)
    with pytest.raises(CorruptionError, match=f"cycle: node at {second:#x}"):
        list(for_each_vma(find_task(prog, image.bash).mm))
