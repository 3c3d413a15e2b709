"""Sizes read from an image never size memory or time beyond what the machine could hold.

Each hostile image is the demo image with a few words changed (``hostile_image``):
a ``vm_struct`` size of ``0xfffff000``, two hundred such areas, ``max_mapnr`` of
``0xffffffff``, a RAM map ending at 256 TiB. Every entry point runs as a user types
it, in a child under an address-space limit and a hang guard; each must end with
a status of 0, 1 or 2, no traceback, and the impossible value reported in one line.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_kernel import FakeKernel
from hostile_image import DEMO, HostileImage, run_bounded

import vmintro
from vmintro.errors import CorruptionError
from vmintro.helpers import for_each_vm_area, max_mapnr, vmalloc_area_pfns
from vmintro.program import Program

IMPOSSIBLE = 0xFFFFF000  # a vm_struct size larger than any vmalloc range
FAKE_AREAS = 200


def _areas200(h: HostileImage) -> None:
    """vmlist replaced by 200 fake vm_structs, each claiming 0xfffff000 bytes."""
    p = h.prog
    vm = p.type("struct vm_struct")
    offset = {m: vm.offsetof(m) for m in ("next", "flags", "addr", "size")}  # type: ignore[attr-defined]
    base = h.scratch(FAKE_AREAS * vm.size)
    for i in range(FAKE_AREAS):
        node = base + i * vm.size
        h.write_u32(node + offset["flags"], 2)  # VM_ALLOC
        h.write_u32(node + offset["addr"], p.vmalloc_start + i * 0x2000)
        h.write_u32(node + offset["size"], IMPOSSIBLE)
        h.write_u32(node + offset["next"], node + vm.size if i < FAKE_AREAS - 1 else 0)
    h.set("vmlist", base)


def _one_size(h: HostileImage) -> None:
    """One word: the first area's size."""
    first = h.prog["vmlist"].value_()
    h.write_u32(first + h.prog.type("struct vm_struct").offsetof("size"), IMPOSSIBLE)  # type: ignore[attr-defined]


def _last_size(h: HostileImage) -> None:
    """One word: the last area's size."""
    *_, last = for_each_vm_area(h.prog)
    h.write_u32(last.size.address_, IMPOSSIBLE)


def _full_range(h: HostileImage) -> None:
    """The first area as large as the whole vmalloc range: possible, and some 244,000 pages."""
    first = h.prog["vmlist"]
    h.write_u32(first.size.address_, h.prog.vmalloc_end - h.prog.vmalloc_start)


def _max_mapnr(h: HostileImage) -> None:
    h.set("max_mapnr", 0xFFFFFFFF)


def _max_mapnr_and_ram(h: HostileImage) -> None:
    """max_mapnr and num_physpages of 4 billion, and a RAM map to 256 TiB."""
    h.set("max_mapnr", 0xFFFFFFFF)
    h.set("num_physpages", 0xFFFFFFFF)
    h.replace_note_text(b"usable 0x100000-0x4000000", b"usable 0x0-0xfffffffff000")


BUILDERS: dict[str, Callable[[HostileImage], None]] = {
    "areas200": _areas200,
    "one_size": _one_size,
    "last_size": _last_size,
    "full_range": _full_range,
    "max_mapnr": _max_mapnr,
    "max_mapnr_and_ram": _max_mapnr_and_ram,
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HostileImage]:
    out = tmp_path_factory.mktemp("hostile")
    images = {}
    for name, build in BUILDERS.items():
        h = HostileImage(out / name)
        build(h)
        h.save()
        images[name] = h
    return images


def _one_error_line(result: object, status: int = 1) -> str:
    """The single line on stderr of a run that must end with ``status``."""
    out, err, code = result.stdout, result.stderr, result.returncode  # type: ignore[attr-defined]
    assert "Traceback" not in out + err, err
    assert code == status, (code, out[-2000:], err[-2000:])
    (line,) = err.splitlines()
    return line


def _impossible_area(h: HostileImage, vm_struct: int) -> str:
    """What every entry point says of the area ``vm_struct`` (an impossible size)."""
    prog = vmintro.open(h.base)
    start, end = prog.vmalloc_start, prog.vmalloc_end
    addr = prog.read_u32(vm_struct + prog.type("struct vm_struct").offsetof("addr"))  # type: ignore[attr-defined]
    return (
        f"vm_struct {vm_struct:#x} (area {addr:#x}) has an impossible size {IMPOSSIBLE:#x}: "
        f"more than the vmalloc range {start:#x}-{end:#x} holds ({end - start:#x} bytes)"
    )


# -- vmalloc areas -----------------------------------------------------------------------


def test_vmallocinfo_reports_an_impossible_area_in_one_line(hostile: dict) -> None:
    h = hostile["areas200"]
    first = vmintro.open(h.base)["vmlist"].value_()
    line = _one_error_line(run_bounded("-c", "vmallocinfo", str(h.base)))
    assert line.startswith("vmallocinfo: ")
    assert _impossible_area(h, first) in line


def test_check_finds_every_impossible_area(hostile: dict) -> None:
    h = hostile["areas200"]
    result = run_bounded("check", str(h.base))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    impossible = [x for x in lines if x.startswith("area_impossible_size: ")]
    assert len(impossible) == FAKE_AREAS
    first = vmintro.open(h.base)["vmlist"].value_()
    assert impossible[0] == f"area_impossible_size: {_impossible_area(h, first)}"


@pytest.mark.parametrize("argv", [["map", "-o", "{out}"], ["-c", "map"]], ids=["svg", "text"])
def test_map_area_of_an_impossible_size_is_one_line(
    hostile: dict, tmp_path: Path, argv: list[str]
) -> None:
    h = hostile["one_size"]
    prog = vmintro.open(h.base)
    first = prog["vmlist"].value_()
    addr = prog["vmlist"].addr.value_()
    svg = tmp_path / "out.svg"
    args = [a.format(out=svg) for a in argv]
    if args[0] == "-c":
        args = ["-c", f"map --area {addr:x}", str(h.base)]
    else:
        args = [*args, "--area", f"{addr:x}", str(h.base)]
    line = _one_error_line(run_bounded(*args))
    assert _impossible_area(h, first) in line
    assert not svg.exists()  # no picture of a million pages, and no partial file


def test_vmallocinfo_shows_the_areas_before_an_impossible_one(hostile: dict) -> None:
    h = hostile["last_size"]
    *others, last = for_each_vm_area(vmintro.open(h.base))
    result = run_bounded("-c", "vmallocinfo", str(h.base))
    line = _one_error_line(result)
    assert _impossible_area(h, last.value_()) in line
    later, *rows = result.stdout.splitlines()
    assert later.startswith("(/proc/vmallocinfo is 2.6.28's")  # the note, then the areas
    starts = [int(row.split("-")[0], 16) for row in rows]
    assert starts == [a.addr.value_() for a in others]


def test_svg_of_a_huge_area_grows_with_what_it_shows(hostile: dict, tmp_path: Path) -> None:
    """Hundreds of thousands of virtual pages, a few hundred mapped: the strip of
    virtual pages is drawn as runs (a page is far narrower than a pixel), each run
    saying how many pages it stands for.
    """
    h = hostile["full_range"]
    prog = vmintro.open(h.base)
    addr = prog["vmlist"].addr.value_()
    svg = tmp_path / "out.svg"
    result = run_bounded("map", "-o", str(svg), "--area", f"{addr:x}", str(h.base))
    assert result.returncode == 0, result.stderr
    root = ET.parse(svg).getroot()
    vpages = [e for e in root.iter() if e.get("class") == "vpage"]
    pages = (prog.vmalloc_end - prog.vmalloc_start) // 4096 - 1
    assert sum(int(e.get("data-pages", 1)) for e in vpages) == pages
    assert len(vpages) < 1000
    assert [int(e.get("data-addr"), 16) for e in vpages][:1] == [addr]


def test_the_other_areas_still_show(hostile: dict) -> None:
    """Only the impossible area is refused: vmlist and map list every area."""
    h = hostile["one_size"]
    result = run_bounded("-c", "vmlist", str(h.base))
    assert result.returncode == 0, result.stderr
    count = len(list(for_each_vm_area(vmintro.open(h.base))))
    assert len(result.stdout.splitlines()) == count + 1  # the heading, then each area


# -- buddy free lists ----------------------------------------------------------------------


def test_free_list_longer_than_its_zone_holds_is_refused(tmp_path: Path) -> None:
    """A DMA zone said to have half as many pages as its order-0 list has blocks (the
    truth file's count) holds at most that many order-0 blocks, and one more: its list
    is cut at that bound, not walked as far as the zone's real size would allow.
    """
    truth = json.loads(Path(f"{DEMO}.truth.json").read_text())
    (dma,) = (f for f in truth["free_lists"] if f["zone"] == 0)
    blocks = dma["counts"][0]
    pages = blocks // 2
    assert pages + 1 < blocks
    h = HostileImage(tmp_path / "img")
    h.set("contig_page_data.node_zones[0].size", pages)
    h.save()
    head = h.prog["contig_page_data"].node_zones[0].free_area[0].free_list.address_
    line = _one_error_line(run_bounded("-c", "kmem -f", str(h.base)))
    assert line == f"kmem: zone DMA free_area[0]: more than {pages + 1} entries (at {head:#x})"


# -- max_mapnr and RAM ---------------------------------------------------------------------


def test_kmem_p_refuses_a_max_mapnr_beyond_ram(hostile: dict) -> None:
    h = hostile["max_mapnr"]
    prog = vmintro.open(h.base)
    result = run_bounded("-c", "kmem -p", str(h.base))
    line = _one_error_line(result)
    assert line == (
        f"kmem: max_mapnr is 0xffffffff, more than the {prog.ram_size >> 12:#x} pages of RAM "
        f"the image describes (at {prog.symbol('max_mapnr').address:#x})"
    )
    assert result.stdout == ""


def test_check_of_max_mapnr_and_a_ram_map_beyond_i386(hostile: dict) -> None:
    """The RAM map ends at 256 TiB: i386 addresses 4 GiB, so max_mapnr is bounded by
    that (or the image is refused outright as one no i386 kernel could have written).
    """
    result = run_bounded("check", str(hostile["max_mapnr_and_ram"].base))
    assert "Traceback" not in result.stdout + result.stderr
    if result.returncode == 2:  # refused as unreadable: one line naming the file
        (line,) = (result.stdout + result.stderr).splitlines()
        assert "max_mapnr_and_ram.vmcore" in line
        return
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == (
        "global_inconsistent: max_mapnr is 0xffffffff, num_physpages 0xffffffff, "
        "and RAM holds 0x100000 pages"
    )


def test_program_bounds_ram_by_what_i386_addresses() -> None:
    for mode, limit in (("pse", 4 << 30), ("pae", 64 << 30)):
        k = FakeKernel(mode, 62 << 20)
        backend = k.backend()
        # a RAM map no i386 could have
        backend._facts = dataclasses.replace(backend.facts(), ram_size=1 << 48)
        prog = Program(backend)
        assert prog.ram_size == limit
        assert prog.ram_pages == limit >> 12
        k.set_var("max_mapnr", (limit >> 12) + 1)
        with pytest.raises(CorruptionError) as info:
            max_mapnr(prog)
        assert info.value.message == (
            f"max_mapnr is {(limit >> 12) + 1:#x}, more than the {limit >> 12:#x} pages of "
            "RAM the image describes"
        )


@pytest.mark.parametrize("high_memory", [0, 0xFFFFF000])
def test_vmalloc_range_keeps_to_the_direct_maps_bounds(high_memory: int) -> None:
    """A corrupt high_memory cannot stretch the vmalloc range (which bounds every area)
    below PAGE_OFFSET + 8 MiB nor squeeze it past PAGE_OFFSET + MAXMEM + 16 MiB.
    """
    k = FakeKernel("pse", 62 << 20)
    k.set_var("high_memory", high_memory)
    prog = k.program()
    assert prog.high_memory == high_memory  # what the kernel stored, as it stored it
    assert prog.vmalloc_start == (0xC0800000 if high_memory == 0 else 0xF8800000)


# -- the bulk helper's arguments -----------------------------------------------------------


def test_vmalloc_area_pfns_of_one_area_is_a_type_error_at_once() -> None:
    prog = vmintro.open(DEMO)
    area = next(for_each_vm_area(prog))
    with pytest.raises(TypeError) as info:
        vmalloc_area_pfns(prog, area)  # type: ignore[arg-type]
    assert str(info.value) == (
        "vmalloc_area_pfns() takes a list of struct vm_struct *, not one "
        "struct vm_struct *: for one area, pass [area]"
    )
    with pytest.raises(TypeError, match="but the list holds a value of type int"):
        vmalloc_area_pfns(prog, [area.value_()])  # type: ignore[list-item]
    # a list, a tuple or a generator of areas: the same frames
    pfns = vmalloc_area_pfns(prog, [area]).tolist()
    assert vmalloc_area_pfns(prog, (area,)).tolist() == pfns
    assert vmalloc_area_pfns(prog, (a for a in [area])).tolist() == pfns
    assert len(pfns) == area.size.value_() // 4096 - 1
