"""Corrupted kernel data: precise errors, and no walk that hangs.

Every image here is a booted simulator kernel with a few vmalloc areas, frozen
with :func:`snapshot` and then damaged in its simulated RAM before
:func:`write_image` writes it, as a stray kernel write would leave a dump. (The
damage goes in after ``snapshot`` because the snapshot's ground truth walks
vmlist itself, and a cyclic vmlist would stop it.) The library only ever reads
the written files.

Each walk runs under a deadline: a helper that loops on bad data fails the test
instead of hanging it.

The last part checks translation against volatility3's Intel / IntelPAE layers
over the core's PT_LOAD segments, on generated images (the demo scenario in all
three paging modes) and on a damaged one: every page of the vmalloc region,
mapped or not, and samples of lowmem, pkmap and fixmap addresses must give the
same physical address, or the same fault at the same level and entry.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from oracles import import_oracle

import vmintro
from vmintro.arch.x86 import PAGE_KERNEL, PAGE_OFFSET, PKMAP_BASE, MachineConfig
from vmintro.errors import CorruptionError, FaultError
from vmintro.helpers import (
    find_vm_area,
    for_each_free_area,
    for_each_free_page,
    for_each_vm_area,
    for_each_zone,
    list_for_each,
    page_to_pfn,
    vm_area_pages,
    vmalloc_area_pages,
    vmalloc_area_pfns,
    vmalloc_to_page,
    vmalloc_to_pfn,
    zone_name,
)
from vmintro.image.writer.install import write_image
from vmintro.image.writer.snapshot import snapshot
from vmintro.program import Program
from vmintro.sim.boot import Kernel, boot
from vmintro.sim.paging import KernelPageTables

PAGE = 4096
RAM = 62 << 20  # not a multiple of 4 MiB: the last PSE page maps past the end of RAM
DEADLINE = 20.0  # seconds; a healthy walk of these small images takes milliseconds
NORMAL = 1  # zone index of ZONE_NORMAL


class Hung(BaseException):
    """A walk outlived its deadline (a BaseException: no ``except Exception`` eats it)."""


@contextmanager
def deadline(seconds: float = DEADLINE) -> Iterator[None]:
    """Fail with :class:`Hung` if the body runs longer than ``seconds``."""

    def expired(signum: int, frame: Any) -> None:
        raise Hung(f"still walking after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Damaged:
    """A damaged image, opened, and what the kernel had before the damage."""

    prog: Program
    kernel: Kernel
    areas: list[tuple[int, int, int]]  # (vm_struct, addr, size) in vmlist order
    notes: dict[str, Any] = field(default_factory=dict)


def build(
    tmp_path: Path,
    damage: Callable[[Kernel, list[tuple[int, int, int]], dict[str, Any]], None],
    config: MachineConfig | None = None,
    sizes: tuple[int, ...] = (2, 3, 1, 4),
) -> Damaged:
    """Boot, vmalloc areas of ``sizes`` pages, snapshot, ``damage`` RAM, write, open."""
    k = boot(config or MachineConfig(ram=RAM))
    vm = k.vmalloc
    assert vm is not None
    for i, pages in enumerate(sizes):
        assert vm.vmalloc(pages * PAGE, owner=f"victim{i}") is not None
    areas = [(s, a, size) for s, a, size, _flags in vm.areas()]
    spec = snapshot(k, {"scenario": "corruption test"})
    notes: dict[str, Any] = {}
    damage(k, areas, notes)  # spec.mem is k.mem: the damage is what gets written
    base = tmp_path / "damaged"
    write_image(spec, base)
    return Damaged(vmintro.open(f"{base}.vmcore"), k, areas, notes)


def next_of(k: Kernel, vm_struct: int) -> int:
    """Address of ``vm_struct->next``."""
    return vm_struct + k.types.offsetof("struct vm_struct", "next")


def pte_of(k: Kernel, vaddr: int) -> int:
    """Kernel virtual address of the PTE that maps ``vaddr``."""
    pt = KernelPageTables(k)
    return pt.pte_offset(pt.pmd_offset(pt.pgd_offset_k(vaddr), vaddr), vaddr)


def walk_areas(prog: Program) -> tuple[list[int], CorruptionError | None]:
    """vm_structs of vmlist up to the error, and the error (None if the walk ends)."""
    seen: list[int] = []
    with deadline():
        try:
            for area in for_each_vm_area(prog):
                seen.append(area.value_())
        except CorruptionError as e:
            return seen, e
    return seen, None


# -- vmlist --------------------------------------------------------------------------------


@pytest.mark.parametrize("back_to", [0, 1, 3], ids=["to-first", "to-second", "to-itself"])
def test_vmlist_cycle_names_the_vm_struct_holding_the_link(tmp_path: Path, back_to: int) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        k.w32(next_of(k, areas[-1][0]), areas[back_to][0])  # last -> an earlier one

    d = build(tmp_path, damage)
    structs = [s for s, _a, _n in d.areas]
    seen, err = walk_areas(d.prog)
    assert seen == structs  # every area once, then the link back is refused
    assert err is not None
    holder, target = structs[-1], structs[back_to]
    assert err.address == holder
    assert str(err) == (
        f"vmlist: cycle: node at {holder:#x} links back to {target:#x} (at {holder:#x})"
    )
    # every helper that walks vmlist stops the same way
    beyond = d.areas[-1][1] + d.areas[-1][2] + 16 * PAGE  # past every area: walks it all
    for call in (
        lambda: find_vm_area(d.prog, beyond),
        lambda: vmalloc_area_pfns(d.prog),
        lambda: list(for_each_vm_area(d.prog)),
    ):
        with deadline(), pytest.raises(CorruptionError) as info:
            call()
        assert info.value.address == holder
    # areas ahead of the cycle are still found
    with deadline():
        area = find_vm_area(d.prog, d.areas[0][1] + 5)
    assert area is not None and area.value_() == structs[0]


BAD_NEXT = {
    # a lowmem address past RAM: the last 4 MiB PSE page maps it, RAM is not there
    "beyond-ram": PAGE_OFFSET + RAM + (1 << 20),
    # inside VMALLOC, where nothing is mapped
    "unmapped-vmalloc": 0xDEAD0000,
    # below PAGE_OFFSET: swapper_pg_dir maps no user addresses
    "user": 0x00001000,
}


@pytest.mark.parametrize("bad", BAD_NEXT.values(), ids=BAD_NEXT.keys())
def test_vmlist_next_that_cannot_be_read(tmp_path: Path, bad: int) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        k.w32(next_of(k, areas[1][0]), bad)

    d = build(tmp_path, damage)
    with pytest.raises(FaultError):
        d.prog.read(bad, 4)  # the pointer itself is unreadable, for whichever reason
    seen, err = walk_areas(d.prog)
    holder = d.areas[1][0]
    assert seen == [d.areas[0][0], holder]
    assert err is not None and err.address == holder
    assert str(err) == (
        f"vmlist: node at {holder:#x} links to {bad:#x}, which cannot be read (at {holder:#x})"
    )


def test_vmlist_head_that_cannot_be_read(tmp_path: Path) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        k.w32(k.sym("vmlist"), 0xDEAD0000)

    d = build(tmp_path, damage)
    seen, err = walk_areas(d.prog)
    assert seen == []
    assert err is not None and err.address is None
    assert str(err) == "vmlist: the list head links to 0xdead0000, which cannot be read"


# -- page tables -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        MachineConfig(ram=RAM),
        pytest.param(MachineConfig(ram=64 << 20, highmem=True, pae=True), marks=pytest.mark.slow),
    ],
    ids=["2level", "pae"],
)
def test_pte_to_a_frame_beyond_max_mapnr(tmp_path: Path, config: MachineConfig) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        va = areas[1][1] + PAGE  # the second page of the second area
        # a frame past RAM: above 4 GiB where PAE can say so, else just past the end
        pfn = 0x123456 if k.paging.pae else k.config.num_physpages + 0x100
        KernelPageTables(k).set(pte_of(k, va), k.paging.mk_pte(pfn, PAGE_KERNEL))
        notes.update(va=va, pfn=pfn, max_mapnr=k.config.num_physpages)

    d = build(tmp_path, damage, config)
    prog, va, pfn = d.prog, d.notes["va"], d.notes["pfn"]
    assert prog["max_mapnr"].value_() == d.notes["max_mapnr"] < pfn
    # translation does not care what the frame is
    assert prog.translate(va + 0x10) == (pfn << 12) + 0x10
    assert vmalloc_to_pfn(prog, va) == pfn
    with pytest.raises(FaultError) as info:
        vmalloc_to_page(prog, va + 0x10)
    assert info.value.address == va + 0x10
    assert str(info.value) == (
        f"{va + 0x10:#x} maps pfn {pfn:#x}, beyond max_mapnr: no struct page"
    )
    # reading it faults cleanly, at the virtual address asked for
    with pytest.raises(FaultError) as info:
        prog.read(va + 0x10, 8)
    assert info.value.address == va + 0x10
    assert f"physical {pfn << 12 | 0x10:#x} is outside RAM" in str(info.value)
    # the page's neighbours are untouched, and bulk and per-page forms agree
    good = va - PAGE
    assert vmalloc_to_page(prog, good).value_() > 0
    assert len(prog.read(good, 8)) == 8
    area = find_vm_area(prog, va)
    assert area is not None
    pages = list(vm_area_pages(area))
    assert pages[1] == (va, pfn)
    assert vmalloc_area_pfns(prog, [area]).tolist() == [p for _va, p in pages]
    assert vmalloc_area_pages(area) == [p for _va, p in pages]


def test_area_with_a_wild_size(tmp_path: Path) -> None:
    """A size larger than the vmalloc range: every walk of the area's pages refuses it
    at once, in one line naming the vm_struct and the area; the other areas still work.
    """

    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        vm_struct = areas[-1][0]
        k.mem.write_u32(
            vm_struct - PAGE_OFFSET + k.types.offsetof("struct vm_struct", "size"), 0xFFFFF000
        )

    d = build(tmp_path, damage)
    *others, last = list(for_each_vm_area(d.prog))
    vm_struct, addr = last.value_(), last.addr.value_()
    start, end = d.prog.vmalloc_start, d.prog.vmalloc_end
    expected = (
        f"vm_struct {vm_struct:#x} (area {addr:#x}) has an impossible size 0xfffff000: more "
        f"than the vmalloc range {start:#x}-{end:#x} holds ({end - start:#x} bytes)"
    )
    for call in (
        lambda: vmalloc_area_pages(last),
        lambda: vm_area_pages(last),  # a generator, but it refuses before the first page
        lambda: vmalloc_area_pfns(d.prog, [last]),
        lambda: vmalloc_area_pfns(d.prog),
    ):
        with deadline(), pytest.raises(CorruptionError) as info:
            call()
        assert info.value.message == expected
        assert info.value.address == vm_struct
    assert vmalloc_area_pfns(d.prog, others).tolist() == [
        pfn for area in others for pfn in vmalloc_area_pages(area)
    ]


def test_pte_table_outside_ram(tmp_path: Path) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        va = areas[0][1]
        pt = KernelPageTables(k)
        pt.set(pt.pgd_offset_k(va), 0x7F000000 | 0x067)  # a pte page at 2 GiB, in 62 MiB
        notes["va"] = va

    d = build(tmp_path, damage)
    va = d.notes["va"]
    with pytest.raises(FaultError) as info:
        d.prog.translate(va)
    assert info.value.address == va
    assert "pte table at physical 0x7f000000 is outside RAM" in str(info.value)
    # the vm_structs live in lowmem: the list itself is intact
    seen, err = walk_areas(d.prog)
    assert err is None and seen == [s for s, _a, _n in d.areas]
    assert (vmalloc_area_pfns(d.prog) == -1).all()  # every area is in that 4 MiB span
    assert d.prog.follow_pte(va).fault is not None
    # vmalloc_to_page follows the entry as 2.4.20's does (it is not pmd_none), and the
    # table it reaches cannot be read: an error, not a NULL
    with pytest.raises(FaultError, match="pte table at physical 0x7f000000 is outside RAM"):
        vmalloc_to_page(d.prog, va)


@pytest.mark.parametrize(
    "config",
    [
        MachineConfig(ram=RAM),
        pytest.param(MachineConfig(ram=64 << 20, highmem=True, pae=True), marks=pytest.mark.slow),
    ],
    ids=["2level", "pae"],
)
def test_vmalloc_to_page_is_null_where_the_kernels_is(
    tmp_path: Path, config: MachineConfig
) -> None:
    """2.4.20's vmalloc_to_page (mm/memory.c) walks as the kernel does, not as the MMU:
    NULL (None) for an empty pmd entry (pmd_none) or a pte that is not pte_present
    (neither PRESENT nor PROTNONE); a pmd entry that is not present but not empty is
    followed, and a PROTNONE pte gives its page, where translation faults on both."""

    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        pt = KernelPageTables(k)
        protnone, cleared, intact = areas[0][1], areas[1][1] + PAGE, areas[2][1]
        notes.update(protnone=protnone, cleared=cleared, intact=intact)
        notes["pfn"] = {va: pt.get(pte_of(k, va)) >> 12 for va in (protnone, intact)}
        entry = pt.get(pte_of(k, protnone))
        pt.set(pte_of(k, protnone), entry & ~0x001 | 0x080)  # PROTNONE, not PRESENT
        pt.set(pte_of(k, cleared), 0)
        pmd = pt.pmd_offset(pt.pgd_offset_k(intact), intact)
        pt.set(pmd, pt.get(pmd) & ~0x001)  # not present, not empty: all four areas
        # a pmd entry of the vmalloc range that no area ever filled: pmd_none
        far = k.config.vmalloc_start + (64 << 20)
        assert pt.get(pt.pmd_offset(pt.pgd_offset_k(far), far)) == 0
        notes["far"] = far

    d = build(tmp_path, damage, config)
    prog, n = d.prog, d.notes
    for va in (n["protnone"], n["intact"], n["cleared"], n["far"]):
        with pytest.raises(FaultError):
            prog.translate(va)  # the MMU reaches none of them
    for va in (n["protnone"], n["intact"]):
        pfn = n["pfn"][va]
        assert vmalloc_to_pfn(prog, va + 0x10) == pfn
        page = vmalloc_to_page(prog, va + 0x10)
        assert page is not None and page_to_pfn(page) == pfn
    for va in (n["cleared"], n["far"]):
        assert vmalloc_to_pfn(prog, va) is None
        assert vmalloc_to_page(prog, va) is None


# -- buddy free lists ------------------------------------------------------------------------


def free_list(k: Kernel, order: int) -> tuple[int, list[int]]:
    """(head, list_head of each entry) of ZONE_NORMAL's ``free_area[order]``, as booted."""
    buddy = k.buddy
    assert buddy is not None
    head = buddy.free_list(buddy.zones[NORMAL], order)
    entries = []
    pos = k.r32(head)
    while pos != head:
        entries.append(pos)
        pos = k.r32(pos)
    return head, entries


def long_list(k: Kernel) -> tuple[int, int, list[int]]:
    """(order, head, entries) of a Normal free list with at least four blocks."""
    for order in range(10):
        head, entries = free_list(k, order)
        if len(entries) >= 4:
            return order, head, entries
    raise AssertionError("no free list of ZONE_NORMAL has four blocks")


def walk_free(prog: Program) -> CorruptionError | None:
    """Walk every free block of ZONE_NORMAL; the error it stops with, if any."""
    zone = next(z for z in for_each_zone(prog) if zone_name(z) == "Normal")
    with deadline():
        try:
            for _order, _page in for_each_free_area(prog, zone):
                pass
        except CorruptionError as e:
            return e
    return None


@pytest.mark.parametrize("bad", BAD_NEXT.values(), ids=BAD_NEXT.keys())
def test_free_list_next_that_cannot_be_read(tmp_path: Path, bad: int) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        order, _head, entries = long_list(k)
        k.w32(entries[1], bad)  # the second block's list.next
        notes.update(order=order, holder=entries[1])

    d = build(tmp_path, damage)
    holder, order = d.notes["holder"], d.notes["order"]
    err = walk_free(d.prog)
    assert err is not None and err.address == holder
    assert str(err) == (
        f"zone Normal free_area[{order}]: entry at {holder:#x} has next {bad:#x}, "
        f"which cannot be read (at {holder:#x})"
    )
    with deadline(), pytest.raises(CorruptionError):
        list(for_each_free_page(d.prog))


def test_free_list_next_to_readable_garbage(tmp_path: Path) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        order, _head, entries = long_list(k)
        garbage = k.sym("swapper_pg_dir") + 0x40  # readable, but no list_head
        k.w32(entries[1], garbage)
        notes.update(order=order, holder=entries[1], garbage=garbage)

    d = build(tmp_path, damage)
    holder, garbage = d.notes["holder"], d.notes["garbage"]
    err = walk_free(d.prog)
    # its back link does not lead to the block that links to it: both are named
    assert err is not None and err.address == garbage
    back = d.prog.read_u32(garbage + 4)
    assert str(err) == (
        f"zone Normal free_area[{d.notes['order']}]: entry at {garbage:#x} has prev "
        f"{back:#x}, expected {holder:#x} (at {garbage:#x})"
    )


@pytest.mark.parametrize("rewrite_prev", [False, True], ids=["next", "next-and-prev"])
def test_free_list_cycle(tmp_path: Path, rewrite_prev: bool) -> None:
    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        order, _head, entries = long_list(k)
        last, earlier = entries[-1], entries[1]
        k.w32(last, earlier)  # the last block's next goes back to the second
        if rewrite_prev:
            k.w32(earlier + 4, last)  # and the second's prev is made to match
        notes.update(order=order, holder=last, target=earlier, first=entries[0])

    d = build(tmp_path, damage)
    holder, target = d.notes["holder"], d.notes["target"]
    err = walk_free(d.prog)
    assert err is not None
    what = f"zone Normal free_area[{d.notes['order']}]"
    if not rewrite_prev:
        # every back link checks out until the walk comes round to the second block
        assert err.address == holder
        assert str(err) == (
            f"{what}: cycle: entry at {holder:#x} points back to {target:#x} (at {holder:#x})"
        )
    else:
        # the second block's prev no longer names the first: caught on the way in
        first = d.notes["first"]
        assert err.address == target
        assert str(err) == (
            f"{what}: entry at {target:#x} has prev {holder:#x}, expected {first:#x} "
            f"(at {target:#x})"
        )


def test_list_walk_is_bounded(tmp_path: Path) -> None:
    d = build(tmp_path, lambda k, areas, notes: None)
    _order, head, entries = long_list(d.kernel)
    with deadline(), pytest.raises(CorruptionError) as info:
        list(list_for_each(d.prog, head, "short", bound=2))
    assert str(info.value) == f"short: more than 2 entries (at {head:#x})"
    with deadline():
        assert list(list_for_each(d.prog, head, "whole")) == entries


# -- translation against volatility3 ---------------------------------------------------------


def volatility_layer(base: Path, prog: Program) -> tuple[Any, type[Exception], type[Exception]]:
    """volatility3's Intel (or IntelPAE) layer over the PT_LOAD segments of ``base``.vmcore."""
    import_oracle("volatility3")
    from vmintro.interop.volatility import volatility_layer as layer

    return layer(f"{base}.vmcore", prog.swapper_pg_dir, prog.pae)


def addresses_to_check(prog: Program) -> list[int]:
    """Every page of VMALLOC; lowmem, pkmap and fixmap samples; each at a page offset."""
    rng = np.random.default_rng(20)
    vmalloc = list(range(prog.vmalloc_start, prog.vmalloc_end, PAGE))
    low_end = prog.high_memory
    lowmem = list(range(PAGE_OFFSET, low_end, 1 << 20))  # every MiB
    lowmem += rng.integers(PAGE_OFFSET, low_end, 1000).tolist()
    lowmem += [low_end - 1, low_end, low_end + PAGE, low_end + (4 << 20)]
    pkmap = list(range(PKMAP_BASE, PKMAP_BASE + (4 << 20), PAGE))  # the pkmap span
    fixmap = list(range(0xFFC00000, 1 << 32, PAGE))  # the top 4 MiB: fixmap and below
    offsets = rng.integers(0, PAGE, 1 << 20)
    everything = vmalloc + lowmem + pkmap + fixmap
    return [(va & ~(PAGE - 1)) | int(offsets[i]) for i, va in enumerate(everything)]


def assert_agrees_with_volatility(base: Path) -> int:
    """Compare every address of :func:`addresses_to_check`; returns how many faulted."""
    prog = vmintro.open(f"{base}.vmcore")
    layer, paged_fault, invalid = volatility_layer(base, prog)
    shift_of = {lv.name: lv.shift for lv in prog.walker.levels}
    addrs = addresses_to_check(prog)
    bulk = prog.walker.translate_many(np.array(addrs, dtype=np.int64)).tolist()
    faults = 0
    for va, many in zip(addrs, bulk, strict=True):
        try:
            theirs = layer._translate(va)[0]  # the walk alone, as vmintro's walker
        except paged_fault as e:
            walk = prog.follow_pte(va)
            assert walk.fault is not None, f"{va:#x}: volatility3 faults, vmintro maps it"
            assert many == -1, hex(va)
            faults += 1
            # volatility3 counts the address bits left: a level's shift
            steps = {shift_of[s.level]: s for s in walk.steps}
            step = steps[e.invalid_bits]
            assert step.value == e.entry, hex(va)
            if step is walk.steps[-1]:
                # the same entry at the same level: not present, or pointing at a
                # table outside RAM (volatility3 then has no table to read either)
                assert not e.entry & 1 or "outside RAM" in str(walk.fault), hex(va)
                continue
            # volatility3 refuses a table whose entries are all the same (an empty
            # pte table, say) at the entry pointing to it; the MMU, and vmintro,
            # read on and fault one level down, on an entry of that table
            assert e.entry & 1, hex(va)
            table = prog.read(step.value & prog.paging.phys_mask, PAGE, True)
            assert table == table[: walk.entry_size] * (PAGE // walk.entry_size), hex(va)
            assert walk.steps[-1].value == int.from_bytes(table[: walk.entry_size], "little")
            continue
        except invalid:
            # volatility3's physical layer refused a read the walk needed
            walk = prog.follow_pte(va)
            assert walk.fault is not None and "outside RAM" in str(walk.fault), hex(va)
            assert many == -1, hex(va)
            faults += 1
            continue
        assert prog.walker.translate(va) == theirs == many, hex(va)
        if not PAGE_OFFSET <= va < prog.high_memory:
            # outside the direct map Program.translate is the walk itself
            assert prog.translate(va) == theirs, hex(va)
    return faults


@pytest.mark.parametrize(
    "name",
    # volatility3 over the demo's core of 163 segments takes seconds: with the slow tests
    [
        pytest.param("demo", marks=pytest.mark.slow),
        "highmem",
        pytest.param("pae", marks=pytest.mark.slow),
    ],
)
def test_translation_agrees_with_volatility(image_set: dict[str, Path], name: str) -> None:
    faults = assert_agrees_with_volatility(image_set[name])
    assert faults > 1000  # most of VMALLOC is unmapped: the fault path is exercised


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(MachineConfig(ram=RAM), marks=pytest.mark.slow),
        MachineConfig(ram=64 << 20, highmem=True, pae=True),
    ],
    ids=["2level", "pae"],
)
def test_damaged_translation_agrees_with_volatility(tmp_path: Path, config: MachineConfig) -> None:
    """A PTE to a frame past RAM, a not-present PTE with its other bits set and
    a pte table outside RAM: vmintro and volatility3 still walk the same way."""

    def damage(k: Kernel, areas: list[tuple[int, int, int]], notes: dict[str, Any]) -> None:
        pt = KernelPageTables(k)
        pt.set(pte_of(k, areas[1][1]), k.paging.mk_pte(0xFFFFF, PAGE_KERNEL))
        # a not-present PTE whose other bits are set: still a fault, entry and all
        pt.set(pte_of(k, areas[2][1]), 0xABCDE000)
        # the 4 MiB (2 MiB under PAE) span after the areas gets a pte table outside RAM
        span = 1 << (21 if k.paging.pae else 22)
        far = (areas[-1][1] + 2 * span) & ~(span - 1)
        pmd = pt.pmd_offset(pt.pgd_offset_k(far), far)
        pt.set(pmd, 0x7F000000 | 0x067)

    d = build(tmp_path, damage, config)
    assert assert_agrees_with_volatility(tmp_path / "damaged") > 1000
    assert d.prog.translate(d.areas[1][1]) == 0xFFFFF << 12
