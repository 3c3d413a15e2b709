"""Address translation: the page-table walk in all three paging modes.

The expected physical addresses come from what :mod:`fake_kernel` wrote
(``FakeKernel.mapped`` and the large-page layout), never from the walker.
"""

from __future__ import annotations

import numpy as np
import pytest
from fake_kernel import (
    DEVICE_PHYS,
    HIGH_FRAME,
    PAGE,
    PAGE_OFFSET,
    RAM_FOR_MODE,
    SWAPPER_PHYS,
    FakeKernel,
    standard,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import import_oracle

from vmintro.arch.x86 import paging_mode
from vmintro.errors import FaultError

MODES = ["pse", "4k", "pae"]


@pytest.fixture(scope="module", params=MODES)
def kernel(request: pytest.FixtureRequest):
    k, areas = standard(request.param)
    return k, areas, k.program()


def span_of(k: FakeKernel) -> int:
    return (2 << 20) if k.pae else (4 << 20)


def oracle(k: FakeKernel, va: int) -> int | None:
    """What the construction says ``va`` maps to (None: not mapped)."""
    if k.pae and va < 1 << 30:
        va += 0xC0000000  # pgd[0] is pgd[3]: the boot-time identity alias
    if PAGE_OFFSET <= va < k.high_memory:
        return va - PAGE_OFFSET
    page = va & ~(PAGE - 1)
    if page in k.mapped:
        return k.mapped[page] | (va & (PAGE - 1))
    if k.mode != "4k":
        # Large pages are not trimmed at high_memory: the last one maps past it.
        span = span_of(k)
        lowmem_mapped = -(-k.lowmem // span) * span
        if PAGE_OFFSET <= va < PAGE_OFFSET + lowmem_mapped:
            return va - PAGE_OFFSET
    return None


@pytest.mark.parametrize(
    "pae,pse,levels",
    [
        # (name, shift, entries, large page size): pgtable-2level.h and pgtable-3level.h
        (False, True, [("pgd", 22, 1024, 4 << 20), ("pte", 12, 1024, None)]),
        (False, False, [("pgd", 22, 1024, None), ("pte", 12, 1024, None)]),
        (True, True, [("pgd", 30, 4, None), ("pmd", 21, 512, 2 << 20), ("pte", 12, 512, None)]),
    ],
)
def test_each_mode_is_its_table_of_levels(pae, pse, levels):
    mode = paging_mode(pae, pse)
    got = [(lv.name, lv.shift, lv.entries, lv.page_size) for lv in mode.levels]
    assert got == levels
    assert mode.entry_size == (8 if pae else 4)
    assert mode.phys_limit == (64 << 30 if pae else 4 << 30)
    assert paging_mode(pae) is paging_mode(pae, pse=True)  # what the reader walks


def test_vmalloc_pages_translate_to_the_frames_written(kernel):
    k, _areas, prog = kernel
    assert len(k.mapped) == 10
    for vpage, ppage in k.mapped.items():
        for offset in (0, 1, 0x7FF, PAGE - 1):
            assert prog.translate(vpage + offset) == ppage + offset


def test_frames_come_out_in_the_order_mapped(kernel):
    k, (a, b, c), prog = kernel
    for area in (a, c):
        got = [prog.translate(area.addr + i * PAGE) >> 12 for i in range(len(area.frames))]
        assert got == area.frames
    assert prog.translate(b.addr + 0x10) == DEVICE_PHYS + 0x10


def test_guard_page_faults_naming_its_pte(kernel):
    k, (a, _b, _c), prog = kernel
    with pytest.raises(FaultError) as info:
        prog.translate(a.guard + 8)
    err = info.value
    assert err.address == a.guard + 8
    pte_table = k.pte_table_for(a.addr)
    index = (a.guard >> 12) & (511 if k.pae else 1023)
    entry_vaddr = PAGE_OFFSET + pte_table + index * k.esize
    zero = "0x" + "0" * (2 * k.esize)
    assert str(err) == (
        f"read of {a.guard + 8:#x}: page not present (pte {zero} at {entry_vaddr:#x})"
    )


def test_unmapped_top_of_vmalloc_faults_at_the_upper_level(kernel):
    k, _areas, prog = kernel
    va = prog.vmalloc_end - PAGE
    with pytest.raises(FaultError) as info:
        prog.translate(va)
    level = "pmd" if k.pae else "pgd"
    assert f"page not present ({level} 0x" in str(info.value)
    assert info.value.address == va


def test_user_addresses_fault_in_2level_and_alias_in_pae(kernel):
    k, _areas, prog = kernel
    if k.pae:
        # pgd[0] = pgd[3] (SMP boot alias): a 2 MiB PSE page of the kernel pmd
        assert prog.translate(0x00200005) == 0x200005
    else:
        with pytest.raises(FaultError, match=r"pgd 0x00000000 at 0xc0101000\)"):
            prog.translate(0x00000005)


def test_lowmem_is_the_direct_map(kernel):
    k, _areas, prog = kernel
    for x in (0, 0x123456, k.lowmem - 1):
        assert prog.translate(PAGE_OFFSET + x) == x


@pytest.mark.parametrize("mode", ["pse", "pae"])
def test_large_page_boundaries(mode):
    k, _ = standard(mode)
    prog = k.program()
    span = span_of(k)
    for va in (PAGE_OFFSET + span - 1, PAGE_OFFSET + span, PAGE_OFFSET + 3 * span + 0x1234):
        walk = prog.follow_pte(va)
        assert walk.large and walk.page_size == span
        assert walk.paddr == va - PAGE_OFFSET
        assert walk.steps[-1].level == ("pmd" if k.pae else "pgd")
        assert "PSE" in walk.steps[-1].bits
        assert prog.walker.translate(va) == va - PAGE_OFFSET


@pytest.mark.parametrize("mode", ["pse", "pae"])
def test_large_page_ignores_the_pat_bit(mode):
    k = FakeKernel(mode, RAM_FOR_MODE[mode])
    span = span_of(k)
    table, index = (k.pmd_phys, 5) if k.pae else (SWAPPER_PHYS, 768 + 5)
    k.entry(table, index, (5 * span) | 0x1000 | 0x1E3)  # bit 12 is PAT in a large entry
    prog = k.program()
    va = PAGE_OFFSET + 5 * span + 0x4321
    assert prog.walker.translate(va) == 5 * span + 0x4321
    assert prog.follow_pte(va).paddr == 5 * span + 0x4321
    assert prog.walker.translate_many(np.array([va])).tolist() == [5 * span + 0x4321]


def test_4k_lowmem_walks_through_pte_pages():
    k, _ = standard("4k")
    walk = k.program().follow_pte(PAGE_OFFSET + (4 << 20))
    assert [s.level for s in walk.steps] == ["pgd", "pte"]
    assert not walk.large and walk.paddr == 4 << 20
    assert walk.steps[1].value == (4 << 20) | 0x163


def test_last_large_page_maps_past_high_memory_and_ram():
    k, _ = standard("pse")  # 62 MiB: the last 4 MiB page covers 60..64 MiB
    prog = k.program()
    va = k.high_memory + 0x1234
    assert prog.translate(va) == k.lowmem + 0x1234
    with pytest.raises(FaultError) as info:
        prog.read(va, 4)
    assert info.value.address == va
    assert "outside RAM" in str(info.value)


def test_pae_frames_above_4gib():
    k, (a, _b, _c) = standard("pae")
    prog = k.program()
    va = a.addr + PAGE + 8
    assert prog.translate(va) == (HIGH_FRAME << 12) + 8
    assert prog.read_u32(a.addr + PAGE) == HIGH_FRAME
    walk = prog.follow_pte(va)
    assert walk.steps[-1].value >> 32 == HIGH_FRAME >> 20  # the pfn's high bits
    assert walk.paddr == (HIGH_FRAME << 12) + 8


def test_area_straddling_two_pte_pages(kernel):
    k, (_a, _b, c), prog = kernel
    walks = [prog.follow_pte(c.addr + i * PAGE) for i in range(4)]
    tables = {w.steps[-1].entry_paddr & ~(PAGE - 1) for w in walks}
    assert len(tables) == 2
    assert [w.paddr >> 12 for w in walks] == c.frames


def test_follow_pte_reports_every_level(kernel):
    k, (a, _b, _c), prog = kernel
    va = a.addr + 3 * PAGE + 0x10
    walk = prog.follow_pte(va)
    assert walk.fault is None
    assert walk.paddr == (a.frames[3] << 12) + 0x10
    names = [s.level for s in walk.steps]
    assert names == (["pgd", "pmd", "pte"] if k.pae else ["pgd", "pte"])
    pgd = walk.steps[0]
    pgd_index = va >> (30 if k.pae else 22)
    assert pgd.index == pgd_index
    assert pgd.entry_paddr == SWAPPER_PHYS + pgd_index * k.esize
    assert pgd.entry_vaddr == PAGE_OFFSET + pgd.entry_paddr
    for step in walk.steps:
        written = int.from_bytes(k.mem.read(step.entry_paddr, k.esize), "little")
        assert step.value == written
        assert "PRESENT" in step.bits and not step.large
    if k.pae:
        assert pgd.value == k.pmd_phys | 1 and pgd.bits == ["PRESENT"]
    assert walk.steps[-1].bits == ["PRESENT", "RW", "ACCESSED", "DIRTY", "GLOBAL"]
    assert walk.steps[-2].value & 0xFFF == 0x067  # pmd_populate: _PAGE_TABLE
    assert "PHYSICAL" in str(walk)


def test_follow_pte_of_a_fault_keeps_the_levels(kernel):
    k, (a, _b, _c), prog = kernel
    walk = prog.follow_pte(a.guard)
    assert walk.paddr is None and walk.fault is not None
    assert walk.steps[-1].level == "pte" and walk.steps[-1].value == 0
    assert walk.steps[-1].bits == []
    assert "FAULT" in str(walk)


def test_ioremap_pte_has_pcd(kernel):
    _k, (_a, b, _c), prog = kernel
    step = prog.follow_pte(b.addr).steps[-1]
    assert step.bits == ["PRESENT", "RW", "PCD", "ACCESSED", "DIRTY"]


def test_translate_many_matches_the_construction(kernel):
    k, areas, prog = kernel
    rng = np.random.default_rng(7)
    near = [a.addr + o for a in areas for o in range(-PAGE, a.size + PAGE, 0x800)]
    fixed = [0, 0x00200005, PAGE_OFFSET, k.high_memory - 1, k.high_memory, prog.vmalloc_end]
    addrs = np.array(
        near + fixed + list(rng.integers(0, 1 << 32, 3000)) + [-1, 1 << 32], dtype=np.int64
    )
    got = prog.translate_many(addrs)
    expected = [
        -1 if (e := oracle(k, int(va)) if 0 <= va < 1 << 32 else None) is None else e
        for va in addrs
    ]
    assert got.tolist() == expected
    # the scalar path agrees element by element
    for va, phys in zip(addrs[:400].tolist(), got[:400].tolist(), strict=True):
        if phys < 0:
            with pytest.raises(FaultError):
                prog.translate(va)
        else:
            assert prog.translate(va) == phys


def test_translate_many_keeps_the_shape(kernel):
    _k, (a, _b, _c), prog = kernel
    grid = np.array([[a.addr, a.guard], [PAGE_OFFSET, PAGE_OFFSET + 1]], dtype=np.uint32)
    out = prog.translate_many(grid)
    assert out.shape == (2, 2) and out.dtype == np.int64
    assert out.tolist() == [[a.frames[0] << 12, -1], [0, 1]]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MODES), st.integers(0, (1 << 32) - 1))
def test_translate_agrees_with_the_construction(mode, va):
    k, prog = _built(mode)
    expected = oracle(k, va)
    if expected is None:
        with pytest.raises(FaultError):
            prog.translate(va)
    else:
        assert prog.translate(va) == expected


_BUILT: dict[str, tuple[FakeKernel, object]] = {}


def _built(mode: str):
    if mode not in _BUILT:
        k, _ = standard(mode)
        _BUILT[mode] = (k, k.program())
    return _BUILT[mode]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(MODES), st.data())
def test_vmalloc_neighbourhood(mode, data):
    k, prog = _built(mode)
    va = data.draw(st.integers(k.vmalloc_start - 2 * PAGE, k.vmalloc_start + (6 << 20)))
    expected = oracle(k, va)
    assert int(prog.translate_many(np.array([va]))[0]) == (-1 if expected is None else expected)


def test_table_cache_is_bounded_and_clearable():
    k = FakeKernel("4k", 64 << 20)
    for i in range(40):  # 40 pte pages, one page in each 4 MiB slot
        k.map_page(k.vmalloc_start + i * (4 << 20) // 4, (0x1000 + i) << 12)
    prog = k.program()
    prog.walker._cache_max = 8
    for va in list(k.mapped):
        prog.translate(va)
    assert len(prog.walker._cache) <= 8
    # a dump never changes, but memory built in a test may: stale until cleared
    some = next(iter(k.mapped))
    k.map_page(some, 0x3000000)
    prog.clear_caches()
    assert prog.translate(some) == 0x3000000


def test_table_outside_ram_is_a_fault():
    k = FakeKernel("pse", 62 << 20)
    va = k.vmalloc_start
    k.entry(SWAPPER_PHYS, va >> 22, 0x7F000000 | 0x067)  # a pte page beyond RAM
    prog = k.program()
    with pytest.raises(FaultError, match="pte table at physical 0x7f000000 is outside RAM"):
        prog.translate(va)
    assert prog.translate_many(np.array([va])).tolist() == [-1]
    assert prog.follow_pte(va).fault is not None


# -- cross-check with volatility3's Intel / IntelPAE layers ------------------------------


def _volatility_layer(k: FakeKernel):
    import_oracle("volatility3")
    from volatility3.framework import contexts, exceptions
    from volatility3.framework.layers import intel, physical

    class PhysMemLayer(physical.BufferDataLayer):
        """volatility's buffer layer, reading the sparse simulated RAM instead."""

        def __init__(self, context, config_path, name, mem):
            super().__init__(context, config_path, name, b"")
            self._mem = mem

        @property
        def maximum_address(self) -> int:
            return self._mem.size - 1

        def read(self, address: int, length: int, pad: bool = False) -> bytes:
            if not self.is_valid(address, length):
                if pad:
                    return bytes(length)
                raise exceptions.InvalidAddressException(self.name, address, "outside RAM")
            return self._mem.read(address, length)

    ctx = contexts.Context()
    ctx.layers.add_layer(PhysMemLayer(ctx, "phys", "phys", k.mem))
    ctx.config["virt.memory_layer"] = "phys"
    ctx.config["virt.page_map_offset"] = SWAPPER_PHYS
    cls = intel.IntelPAE if k.pae else intel.Intel
    return cls(ctx, "virt", "virt"), exceptions.InvalidAddressException


def test_walk_agrees_with_volatility(kernel):
    k, areas, prog = kernel
    layer, invalid = _volatility_layer(k)
    span = span_of(k)
    addrs = [a.addr + o for a in areas for o in range(-PAGE, a.size + PAGE, PAGE // 2)]
    addrs += [PAGE_OFFSET + i * span + o for i in range(0, 40, 3) for o in (0, span - 1)]
    addrs += [0, 0x00200005, k.high_memory + 5, prog.vmalloc_end - PAGE, 0xFFFFF000]
    addrs += list(np.random.default_rng(3).integers(0, 1 << 32, 500).tolist())
    for va in addrs:
        try:
            # _translate is the walk alone: translate() also rejects results
            # outside the physical layer, such as ioremapped device memory.
            theirs = layer._translate(va)[0]
        except invalid:
            theirs = None
        try:
            ours = prog.walker.translate(va)  # the walk itself, lowmem included
        except FaultError:
            ours = None
        assert ours == theirs, hex(va)
