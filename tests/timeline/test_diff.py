"""diff(prog_a, prog_b) against the generator: two images of one scenario stopped at
different steps, each with its .truth.json, and the simulator's own buddy lists.

The oracles are independent of the reader: the areas and the frames behind them
are what the simulator recorded (``truth["areas"]``); the free blocks per zone and
order, and each zone's ``free_pages``, are counted in the simulator's RAM by a walk
written here, after running the same steps again. diff's answer must be exactly
the difference of the two.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import vmintro
from vmintro.arch.x86 import PAGE_OFFSET
from vmintro.generate import generate
from vmintro.scenario.loader import Scenario, parse_scenario
from vmintro.scenario.runner import machine_config, run_scenario
from vmintro.timeline.diff import Diff, DifferentMachinesError, check_same_machine, diff
from vmintro.types.flags import MAX_ORDER, ZONE_NAMES

SCENARIO = """
[machine]
ram = "64M"
seed = 7

[[step]]
op = "swapon"
size = "8M"
label = "s0"

[[step]]
op = "insmod"
name = "ext3"
size = 71424

[[step]]
op = "vmalloc"
size = "40K"
label = "a"

[[step]]
op = "ioremap"
phys = 0xe0000000
size = "64K"
label = "io"

[[step]]
op = "random"
count = 40
max_size = "32K"
free_ratio = 0.4

[[step]]
op = "vfree"
label = "a"

[[step]]
op = "insmod"
name = "jbd"
size = 49952

[[step]]
op = "rmmod"
name = "ext3"

[[step]]
op = "swapoff"
label = "s0"

[[step]]
op = "iounmap"
label = "io"

[[step]]
op = "random"
count = 60
max_size = "64K"
free_ratio = 0.5
"""
# Where the scenario is cut: before anything, after the first random step, at its end
CUTS = (0, 5, 11)
MACHINES = {"2level": {}, "pae": {"pae": True}}
VM_ALLOC, VM_IOREMAP = 0x2, 0x1


@dataclasses.dataclass
class Cut:
    image: Path
    truth: dict[str, Any]
    # (zone name, order) -> free blocks; zone name -> free_pages: from the simulator
    blocks: dict[tuple[str, int], int]
    free_pages: dict[str, int]


def _scenario(steps: int) -> Scenario:
    scen = parse_scenario(SCENARIO, "diff.toml")
    return dataclasses.replace(scen, steps=scen.steps[:steps])


def _buddy_counts(scen: Scenario, overrides: dict[str, Any]) -> tuple[dict, dict]:
    """The simulator's free lists after the same steps, counted in its RAM here."""
    cfg, seed = machine_config(scen, overrides)
    k = run_scenario(scen, cfg, seed).kernel
    b = k.buddy

    def r32(vaddr: int) -> int:
        return k.mem.read_u32(vaddr - PAGE_OFFSET)

    o_size = k.types.offsetof("zone_t", "size")
    blocks: dict[tuple[str, int], int] = {}
    free_pages: dict[str, int] = {}
    for j, zone in enumerate(b.zones):
        free_pages[ZONE_NAMES[j]] = r32(zone + b.o_free_pages)
        if not r32(zone + o_size):
            continue
        for order in range(MAX_ORDER):
            head = b.free_list(zone, order)
            count, node = 0, r32(head)
            while node != head:
                count += 1
                node = r32(node)
            blocks[(ZONE_NAMES[j], order)] = count
    return blocks, free_pages


@pytest.fixture(scope="session")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Cut]:
    out = tmp_path_factory.mktemp("diff")
    made = {}
    for machine, overrides in MACHINES.items():
        for steps in CUTS:
            if machine != "2level" and steps == 0:
                continue
            scen = _scenario(steps)
            base = out / f"{machine}{steps}"
            generate(base, scen, overrides)
            truth = json.loads(base.with_suffix(".truth.json").read_text())
            blocks, free_pages = _buddy_counts(scen, overrides)
            made[(machine, steps)] = Cut(base, truth, blocks, free_pages)
    return made


PAIRS = [("2level", 0, 5), ("2level", 5, 11), ("2level", 0, 11), ("pae", 5, 11)]


def _diff(cuts: dict[tuple[str, int], Cut], machine: str, x: int, y: int) -> tuple[Diff, Cut, Cut]:
    a, b = cuts[(machine, x)], cuts[(machine, y)]
    return diff(vmintro.open(a.image), vmintro.open(b.image)), a, b


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


@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_areas_are_the_difference_of_the_truths(cuts, machine: str, x: int, y: int) -> None:
    d, a, b = _diff(cuts, machine, x, y)
    got = {(c.kind, c.addr, c.vm_struct_old, c.vm_struct_new) for c in d.areas}
    expected = _truth_area_changes(a, b)
    assert expected, "the cut should change some areas"
    assert got == expected
    assert not d.errors


@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_vmalloc_frames_taken_and_released_are_the_truths(
    cuts, machine: str, x: int, y: int
) -> None:
    d, a, b = _diff(cuts, machine, x, y)
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


@pytest.mark.parametrize(("machine", "x", "y"), PAIRS)
def test_free_counts_are_the_simulators(cuts, machine: str, x: int, y: int) -> None:
    d, a, b = _diff(cuts, machine, x, y)
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


def test_ptes_follow_the_areas(cuts) -> None:
    """Every page of an added area is a pte set to the frame the truth names."""
    d, a, b = _diff(cuts, "2level", 0, 5)
    ptes = {p.vaddr: p for p in d.ptes}
    checked = 0
    for area in b.truth["areas"]:
        if area["flags"] & VM_IOREMAP:
            continue
        for i, pfn in enumerate(area["pages"]):
            pte = ptes[area["addr"] + 4096 * i]
            assert (pte.kind, pte.pfn_new, pte.level) == ("set", pfn, "pte")
            checked += 1
    assert checked
    assert all(p.kind == "set" for p in d.ptes)  # from boot nothing is cleared


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
    assert str(e.value) == "different machines: paging 2-level vs PAE"
    bigger = cuts[("2level", 5)].image.parent / "bigger"
    generate(bigger, _scenario(0), {"ram": 128 << 20})
    with pytest.raises(DifferentMachinesError, match="^different machines: RAM 64 MiB vs 128 MiB$"):
        diff(a, vmintro.open(bigger))
