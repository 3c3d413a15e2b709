"""The address-space limits for the machine sizes of the simulator's brief, and page conservation.

Expected values are the kernel's formulas (reference notes, section 4.3) written out
here as numbers, read back from the booted machine's RAM.
"""

from __future__ import annotations

import random

import pytest
from rawmem import Raw, check_buddy, check_vmlist, machine

MIB = 1 << 20
# (RAM, HIGHMEM, PAE) -> (high_memory, VMALLOC_START, VMALLOC_END, num_physpages)
SIZES = [
    ((16 * MIB, False, False), (0xC1000000, 0xC1800000, 0xFFFFC000, 0x1000)),
    ((64 * MIB, False, False), (0xC4000000, 0xC4800000, 0xFFFFC000, 0x4000)),
    ((128 * MIB, False, False), (0xC8000000, 0xC8800000, 0xFFFFC000, 0x8000)),
    ((512 * MIB, False, False), (0xE0000000, 0xE0800000, 0xFFFFC000, 0x20000)),
    ((896 * MIB, False, False), (0xF8000000, 0xF8800000, 0xFFFFC000, 0x38000)),
    ((1024 * MIB, False, False), (0xF8000000, 0xF8800000, 0xFFFFC000, 0x38000)),
    ((1024 * MIB, True, False), (0xF8000000, 0xF8800000, 0xFDFFE000, 0x40000)),
    ((2048 * MIB, True, False), (0xF8000000, 0xF8800000, 0xFDFFE000, 0x80000)),
    ((4096 * MIB, True, False), (0xF8000000, 0xF8800000, 0xFDFFE000, 0x100000)),
    ((4096 * MIB, False, False), (0xF8000000, 0xF8800000, 0xFFFFC000, 0x38000)),
    ((8192 * MIB, True, True), (0xF8000000, 0xF8800000, 0xFDFFE000, 0x200000)),
]


@pytest.mark.parametrize(
    ("machine_args", "expected"),
    # machines of 4 GiB and more boot for seconds each: under -m slow (.ci/run runs them)
    [
        pytest.param(m, e, marks=pytest.mark.slow) if m[0] >= 4096 * MIB else (m, e)
        for m, e in SIZES
    ],
    ids=[f"{r // MIB}M{'-hm' if h else ''}{'-pae' if p else ''}" for (r, h, p), _ in SIZES],
)
def test_limits(machine_args: tuple[int, bool, bool], expected: tuple[int, int, int, int]) -> None:
    ram, highmem, pae = machine_args
    high_memory, vstart, vend, physpages = expected
    k = machine(0, highmem=highmem, pae=pae, ram=ram)
    r = Raw(k)
    assert r.u32(r.sym("high_memory")) == high_memory
    assert r.u32(r.sym("num_physpages")) == physpages
    assert r.u32(r.sym("max_mapnr")) == physpages
    assert k.config.vmalloc_end == vend
    assert k.vmalloc.vmalloc(4096) == vstart  # the first area starts at VMALLOC_START
    ((node, flags, addr, size),) = check_vmlist(r)
    assert (addr, size) == (vstart, 2 * 4096)


@pytest.mark.parametrize("cfg", [{}, {"pse": False}, {"highmem": True}, {"pae": True}])
def test_free_pages_are_conserved(cfg: dict) -> None:
    """After every area is freed, the free frames are the post-boot ones, less exactly the
    page-table pages and slab pages the kernel keeps (2.4.20 never frees either)."""
    k = machine(24, **cfg)
    r = Raw(k)
    boot_free = check_buddy(r)
    boot_slab = {p for p in range(k.config.max_pfn) if r.flags(p) & 0x100}
    rng = random.Random(7)
    live: list[int] = []
    for _ in range(300):
        if live and rng.random() < 0.4:
            k.vmalloc.vfree(live.pop(rng.randrange(len(live))))
        else:
            addr = k.vmalloc.vmalloc(rng.randint(1, 12) * 4096)
            if addr is not None:
                live.append(addr)
    for addr in live:
        k.vmalloc.vfree(addr)
    assert check_vmlist(r) == []
    after_free = check_buddy(r)
    kept = boot_free - after_free
    assert after_free <= boot_free  # nothing became free that was not free at boot
    slab = {p for p in range(k.config.max_pfn) if r.flags(p) & 0x100} - boot_slab
    vmalloc_range = range(k.config.vmalloc_start, k.config.vmalloc_end, 1 << 21)
    pte_pages = {r.pmd(v) >> 12 for v in vmalloc_range if r.pmd(v) & 1} & kept
    assert kept == slab | pte_pages
    assert pte_pages and slab
