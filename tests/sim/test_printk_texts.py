"""The kernel's messages in the words of 2.4.20's source: mem_init's ``Memory:`` line
(arch/i386/mm/init.c) and ``pmd_ERROR`` from ``free_area_pte`` (mm/vmalloc.c line 30,
the macros of include/asm-i386/pgtable-2level.h and pgtable-3level.h)."""

from __future__ import annotations

import re

import pytest
from rawmem import machine


@pytest.mark.parametrize("args", [dict(ram_mib=16), dict(ram_mib=960, highmem=True)])
def test_memory_line(args):
    k = machine(**args)
    [line] = [m for m in k.log if m.startswith("Memory:")]
    m = re.fullmatch(
        r"Memory: (\d+)k/(\d+)k available \((\d+)k kernel code, (\d+)k reserved, "
        r"(\d+)k data, (\d+)k init, (\d+)k highmem\)",
        line,
    )
    assert m, line
    free, total, code, reserved, _data, _init, high = map(int, m.groups())
    assert total == k.config.num_physpages * 4
    high_pages = k.r32(k.sym("totalhigh_pages")) if k.config.highmem else 0
    assert high == high_pages * 4
    assert code == (k.sym("_etext") - k.sym("_text")) >> 10
    # every RAM frame is either handed to the page allocator or kept reserved
    ram_low = sum(k.config.page_is_ram(p) for p in range(k.config.max_low_pfn))
    assert free // 4 - high_pages + reserved // 4 == ram_low


@pytest.mark.parametrize("pae", [False, True], ids=["2level", "pae"])
def test_pmd_error(pae):
    k = machine(48, pae=pae)
    addr = k.vmalloc.vmalloc(8192)
    pt = k.vmalloc.pt
    pmd = pt.pmd_offset(pt.pgd_offset_k(addr), addr)
    bad = pt.get(pmd) | 0x080  # _PAGE_PSE where a page table belongs: pmd_bad
    pt.set_pmd(pmd, bad)
    k.vmalloc.vfree(addr)
    if pae:
        assert k.log[-1] == f"vmalloc.c:30: bad pmd {pmd:08x}({bad:016x})."
    else:
        assert k.log[-1] == f"vmalloc.c:30: bad pmd {bad:08x}."
    assert pt.get(pmd) == 0  # pmd_clear
