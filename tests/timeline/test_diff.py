"""diff(prog_a, prog_b) against the generator: two images of one scenario stopped at
different steps, each with its .truth.json, and the simulator's own buddy lists.

The oracles are independent of the reader: the areas and the frames behind them
are what the simulator recorded (``truth["areas"]``); the free blocks per zone and
order, and each zone's ``free_pages``, are counted in the simulator's RAM
(:mod:`diff_cuts`). diff's answer must be exactly the difference of the two.
"""

from __future__ import annotations

import json
import shutil

import pytest

import vmintro
from vmintro.generate import generate
from vmintro.timeline.diff import (
    Diff,
    DifferentMachinesError,
    DiffError,
    check_same_machine,
    diff,
)

from .diff_cuts import CUTS, MACHINES, VM_ALLOC, VM_IOREMAP, Cut, make_cuts, scenario_steps


@pytest.fixture(scope="session")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Cut]:
    TMP[:] = [tmp_path_factory]
    return make_cuts(tmp_path_factory)


TMP: list[pytest.TempPathFactory] = []


PAIRS = [
    ("2level", 0, 5),
    ("2level", 5, 11),
    ("pae", 5, 11),
    pytest.param("highmem", 5, 11, marks=pytest.mark.slow),
    pytest.param("nopse", 5, 11, marks=pytest.mark.slow),
]
SOURCES = ("images", "moments")


def _moment(prog: vmintro.Program, steps: int) -> vmintro.Program:
    """The moment just after the last entry of scenario step ``steps`` (0: boot)."""
    timeline = prog.timeline
    assert timeline is not None, "the generator writes a timeline"
    return prog.at(max(e.number for e in timeline.entries if e.step <= steps))


def _diff(
    cuts: dict[tuple[str, int], Cut], machine: str, x: int, y: int, source: str = "images"
) -> tuple[Diff, Cut, Cut]:
    """diff of the images cut after steps x and y, or of the moments of the last image
    just after those steps; and the two cuts (their truths are the oracle of both)."""
    if (machine, y) not in cuts:  # a machine of the slow tests: made on first use
        make_cuts(TMP[0], (machine,))
    a, b = cuts[(machine, x)], cuts[(machine, y)]
    key = (machine, x, y, source)
    if key not in _DIFFS:  # each diff made once, looked at by several tests
        if source == "images":
            _DIFFS[key] = diff(vmintro.open(a.image), vmintro.open(b.image))
        else:
            full = vmintro.open(cuts[(machine, CUTS[-1])].image)
            _DIFFS[key] = diff(_moment(full, x), _moment(full, y))
    return _DIFFS[key], a, b


_DIFFS: dict[tuple[str, int, int, str], Diff] = {}


def _truth_area_changes(a: Cut, b: Cut) -> set[tuple[str, int, int | None, int | None]]:
    old = {t["addr"]: t for t in a.truth["areas"]}
    new = {t["addr"]: t for t in b.truth["areas"]}
    out = set()
    for addr in old.keys() | new.keys():
        x, y = old.get(addr), new.get(addr)
        if x is None:
            assert y is not None
            out.add(("added", addr, None, y["vm_struct"]))
        elif y is None:
            out.add(("removed", addr, x["vm_struct"], None))
        elif x["size"] != y["size"]:
            out.add(("resized", addr, x["vm_struct"], y["vm_struct"]))
        elif (x["vm_struct"], x["flags"], x["pages"]) != (y["vm_struct"], y["flags"], y["pages"]):
            out.add(("remapped", addr, x["vm_struct"], y["vm_struct"]))
    return out


def _vmalloc_frames(cut: Cut) -> set[int]:
    return {
        p
        for area in cut.truth["areas"]
        if area["flags"] & VM_ALLOC and not area["flags"] & VM_IOREMAP
        for p in area["pages"]
        if p is not None
    }


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_areas_are_the_difference_of_the_truths(
    cuts, machine: str, x: int, y: int, source: str
) -> None:
    d, a, b = _diff(cuts, machine, x, y, source)
    got = {(c.kind, c.addr, c.vm_struct_old, c.vm_struct_new) for c in d.areas}
    expected = _truth_area_changes(a, b)
    assert expected, "the cut should change some areas"
    assert got == expected
    assert not d.errors


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_vmalloc_frames_taken_and_released_are_the_truths(
    cuts, machine: str, x: int, y: int, source: str
) -> None:
    d, a, b = _diff(cuts, machine, x, y, source)
    before, after = _vmalloc_frames(a), _vmalloc_frames(b)
    taken = {f.pfn for f in d.frames if f.kind == "allocated" and f.use == "vmalloc"}
    released = {f.pfn for f in d.frames if f.kind == "freed" and f.use == "vmalloc"}
    assert taken == after - before
    assert released == before - after
    # every frame of an area is a block of order 0 (vmalloc_area_pages: alloc_page)
    assert all(f.order == 0 for f in d.frames if f.use == "vmalloc")
    # a page table allocated is a frame allocated, with that use
    tables = {t.pfn_new for t in d.tables if t.kind == "allocated"}
    assert tables == {f.pfn for f in d.frames if f.kind == "allocated" and f.use == "page table"}


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_free_counts_are_the_simulators(cuts, machine: str, x: int, y: int, source: str) -> None:
    d, a, b = _diff(cuts, machine, x, y, source)
    expected = {
        key: (a.blocks.get(key, 0), b.blocks.get(key, 0))
        for key in a.blocks.keys() | b.blocks.keys()
        if a.blocks.get(key, 0) != b.blocks.get(key, 0)
    }
    assert {(c.zone, c.order): (c.old, c.new) for c in d.free_area} == expected
    zones = {
        z: (a.free_pages[z], b.free_pages[z])
        for z in a.free_pages
        if a.free_pages[z] != b.free_pages[z]
    }
    assert {z.zone: (z.old, z.new) for z in d.zones} == zones
    # the frames diff says were taken and given back account for free_pages, zone by zone
    for zone, (old, new) in zones.items():
        taken = sum(1 << f.order for f in d.frames if f.zone == zone and f.kind == "allocated")
        released = sum(1 << f.order for f in d.frames if f.zone == zone and f.kind == "freed")
        assert new - old == released - taken


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_ptes_follow_the_areas(cuts, machine: str, x: int, y: int, source: str) -> None:
    """Every page of an area added or gone is a pte set to, or cleared from, the frame
    the truth names; a page mapped at both moments to another frame, a pte changed."""
    d, a, b = _diff(cuts, machine, x, y, source)
    ptes = {p.vaddr: p for p in d.ptes}
    before = _mapped(a)
    after = _mapped(b)
    expected = {}
    for va in before.keys() | after.keys():
        old, new = before.get(va), after.get(va)
        if old != new:
            kind = "set" if old is None else "cleared" if new is None else "changed"
            expected[va] = (kind, old, new)
    assert expected
    got = {va: (p.kind, p.pfn_old, p.pfn_new) for va, p in ptes.items() if va in expected}
    assert got == expected
    assert all(p.level == "pte" for p in ptes.values())


def _mapped(cut: Cut) -> dict[int, int]:
    """Virtual page -> frame of every page of an area, as the truth has them: a vmalloc
    area's frames, an ioremap's the device's from the physical address it was given."""
    phys = {e["addr"]: e["phys"] for e in cut.truth["events"] if e["op"] == "ioremap"}
    out = {}
    for area in cut.truth["areas"]:
        for i, pfn in enumerate(area["pages"]):
            if area["flags"] & VM_IOREMAP:
                pfn = (phys[area["addr"]] >> 12) + i
            if pfn is not None:
                out[area["addr"] + 4096 * i] = pfn
    return out


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_page_counts_of_vmalloc_frames(cuts, machine: str, x: int, y: int, source: str) -> None:
    """alloc_page sets a frame's count to 1, __free_pages takes it back to 0: so does
    diff's struct page part, for every frame vmalloc took or gave back."""
    d, a, b = _diff(cuts, machine, x, y, source)
    pages = {p.pfn: (p.count_old, p.count_new) for p in d.pages}
    before, after = _vmalloc_frames(a), _vmalloc_frames(b)
    assert after - before
    assert {p: pages.get(p) for p in after - before} == dict.fromkeys(after - before, (0, 1))
    assert {p: pages.get(p) for p in before - after} == dict.fromkeys(before - after, (1, 0))


def test_modules_and_swap(cuts) -> None:
    d, _, _ = _diff(cuts, "2level", 5, 11)
    assert {(m.kind, m.name) for m in d.modules} == {("added", "jbd"), ("removed", "ext3")}
    off = [s for s in d.swap if s.index == 0]
    assert [s.kind for s in off] == ["off"]
    d, _, _ = _diff(cuts, "2level", 0, 5)
    assert [(s.kind, s.index) for s in d.swap if s.index is not None] == [("on", 0)]
    assert {(m.kind, m.name) for m in d.modules} == {("added", "ext3")}


def test_same_image_no_difference(cuts) -> None:
    image = cuts[("2level", 5)].image
    d = diff(vmintro.open(image), vmintro.open(image))
    assert not d
    assert d.frames_changed == 0
    assert "no difference" in d.text()


def test_text_and_json_agree(cuts) -> None:
    d, _, _ = _diff(cuts, "2level", 5, 11)
    data = json.loads(json.dumps(d.to_json()))
    assert len(data["areas"]) == len(d.areas)
    assert data["counts"]["areas"] == {k: d.count("areas", k) for k in {c.kind for c in d.areas}}
    text = d.text()
    for change in d.areas:
        assert f"{change.addr:08x}" in text
    summary = d.text(summary=True)
    assert summary.count("\n") < 12 and "vm areas:" in summary
    assert "areas" not in d.to_json(summary=True) or not d.to_json(summary=True).get("areas")


def test_different_machines_refused_naming_what_differs(cuts) -> None:
    a = vmintro.open(cuts[("2level", 5)].image)
    b = vmintro.open(cuts[("pae", 5)].image)
    with pytest.raises(DifferentMachinesError) as e:
        check_same_machine(a, b)
    pae, two_level = cuts[("pae", 5)].image, cuts[("2level", 5)].image
    assert str(e.value) == f"different machines: paging 2-level ({two_level}) vs PAE ({pae})"
    bigger = two_level.parent / "bigger"
    generate(bigger, scenario_steps(0), {"ram": 128 << 20})
    with pytest.raises(DifferentMachinesError) as e:
        diff(a, vmintro.open(bigger))
    assert str(e.value) == f"different machines: RAM 64 MiB ({two_level}) vs 128 MiB ({bigger})"
    # another build of the kernel: a vmlinux with one symbol more
    with pytest.raises(DifferentMachinesError, match="symbol"):
        check_same_machine(a, _with_symbol(a, "extra_symbol"))
    # without types there is nothing to compare with, and diff says which image lacks them
    bare = two_level.parent / "bare"
    shutil.copyfile(f"{two_level}.vmcore", f"{bare}.vmcore")
    with pytest.raises(DiffError, match=f"^{bare} has no vmlinux"):
        diff(vmintro.open(bare), a)


@pytest.mark.parametrize("machine", MACHINES)
def test_an_image_cut_earlier_is_a_moment_of_the_later(cuts, machine: str) -> None:
    """The image of the first steps and the moment of the whole run just after them
    hold the same RAM: diff (comparing every frame either stores) finds nothing."""
    full = vmintro.open(cuts[(machine, CUTS[-1])].image)
    compared = 0
    for steps in CUTS[:-1]:
        if (machine, steps) in cuts:
            d = diff(vmintro.open(cuts[(machine, steps)].image), _moment(full, steps))
            assert not d, d.text(summary=True)
            assert d.new.endswith(f"@{_moment(full, steps).moment}")
            compared += 1
    assert compared


def test_a_moment_diffs_as_the_image_of_the_same_ram(cuts) -> None:
    """From the boot image, the moment just after step 5 and the image of 5 steps give
    the same answer: a moment's frames are compared wherever they may differ."""
    boot = vmintro.open(cuts[("2level", 0)].image)
    full = vmintro.open(cuts[("2level", CUTS[-1])].image)
    by_image = diff(boot, vmintro.open(cuts[("2level", 5)].image)).to_json()
    by_moment = diff(boot, _moment(full, 5)).to_json()
    for d in (by_image, by_moment):
        del d["old"], d["new"]
    assert by_image["frames_changed"] > 0
    assert by_moment == by_image


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_every_frame_taken_is_explained(cuts, machine: str, x: int, y: int, source: str) -> None:
    """This workload takes frames only for vmalloc'ed pages, page tables and the slab
    pages of kmalloc (each vm_struct is one): diff says which for every one."""
    d, _, _ = _diff(cuts, machine, x, y, source)
    uses = {f.use for f in d.frames}
    assert uses <= {"vmalloc", "page table", "slab"}, uses


def _with_symbol(prog: vmintro.Program, name: str) -> vmintro.Program:
    """``prog`` as if its vmlinux had one symbol more (another build of the kernel)."""
    from vmintro.program import Program

    class Extra:
        def __getattr__(self, attr: str) -> object:
            return getattr(prog.backend, attr)

        def symbols(self) -> dict:
            return {**prog.backend.symbols(), name: (0xC0400000, 4, "object")}

    return Program(Extra())  # type: ignore[arg-type]
