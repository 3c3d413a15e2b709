"""kmem ADDR, kmem -s and kmem -i through the command runner, in crash's layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers.slab_image import SlabImage, build_slab_image

from vmintro.commands import UsageError, run
from vmintro.commands.render import render_text

PAGE = 4096


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> SlabImage:
    return build_slab_image(Path(tmp_path_factory.mktemp("kmem")))


def text_of(prog, line: str) -> str:
    return "\n".join(render_text(run(prog, line)))


def _data(prog, line: str) -> list[dict]:
    return [p.data for p in run(prog, line) if p.name == "kmem"]


def test_kmem_addr_of_a_vmalloc_page_shows_area_and_frame(prog, truth, show) -> None:
    area = truth["areas"][0]
    addr = area["addr"] + PAGE + 0x10
    text = show(f"kmem {addr:x}")
    lines = text.splitlines()
    assert lines[0].startswith(
        f"{addr:x}: vmap: {area['addr']:#x}-{area['addr'] + area['size']:#x}; mapped at 0xc"
    )
    assert lines[1].split() == ["VM_STRUCT", "ADDRESS", "RANGE", "SIZE"]
    assert lines[2].split()[0] == f"{area['vm_struct']:x}"
    assert lines[4].split() == ["PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS"]
    assert int(lines[5].split()[1], 16) == area["pages"][1] * PAGE
    [data] = _data(prog, f"kmem {addr:x}")
    assert data["pfn"] == area["pages"][1] and data["vm_struct"] == area["vm_struct"]


def test_kmem_guard_page_and_several_addresses(prog, truth) -> None:
    a, b = truth["areas"][:2]
    guard = a["addr"] + a["size"] - PAGE
    data = _data(prog, f"kmem {guard:x} {b['addr']:x}")
    assert [d["guard_page"] for d in data] == [True, False]
    assert data[0]["pfn"] is None and data[1]["pfn"] == b["pages"][0]


def test_kmem_of_a_slab_object_shows_cache_slab_and_object(image: SlabImage) -> None:
    prog = image.prog
    addr = next(iter(image.allocated))
    text = text_of(prog, f"kmem {addr + 4:x}")
    lines = text.splitlines()
    assert lines[0].startswith(f"{addr + 4:x}: slab object: size-")
    assert lines[1].split() == ["CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME"]
    assert lines[3].split() == ["SLAB", "MEMORY", "TOTAL", "ALLOCATED", "FREE"]
    assert lines[5:7] == ["FREE / [ALLOCATED]", f"  [{addr:x}]"]
    freed = image.freed[0]
    free_text = text_of(prog, f"kmem {freed:x}")
    assert f"\n  {freed:x}\n" in free_text  # a free object: no brackets
    # the physical address of the same object: kmem -P
    assert text_of(prog, f"kmem -P {addr + 4 - 0xC0000000:x}").splitlines()[1:] == lines[1:]


def test_kmem_of_a_free_page_names_zone_order_and_position(prog) -> None:
    [data] = _data(prog, "kmem c3000010")  # the demo's Normal zone is free up there
    block = data["free_block"]
    assert block is not None and block["zone"] == "Normal"
    text = text_of(prog, "kmem c3000010")
    pages = 1 << block["order"]
    assert f"is 1st of {pages} pages)" in text
    assert "AREA    SIZE  FREE_AREA_STRUCT" in text


def test_kmem_s_counts_match_the_simulator(image: SlabImage) -> None:
    rows = [r for p in run(image.prog, "kmem -s") for r in p.rows]
    by_name = {r["name"]: r for r in rows}
    assert rows[0]["name"] == "kmem_cache"
    for name, (in_use, _size) in image.caches.items():
        assert by_name[name]["allocated"] == in_use, name
    text = text_of(image.prog, "kmem -s size-64")
    head, line = text.splitlines()
    assert head.split() == ["CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS", "SSIZE", "NAME"]
    assert line.split()[-1] == "size-64" and line.split()[1] == "64"
    cache = by_name["size-64"]["cache"]
    assert text_of(image.prog, f"kmem -s {cache:x}") == text


def test_kmem_i_in_crash_layout(prog, truth) -> None:
    text = text_of(prog, "kmem -i")
    lines = text.splitlines()
    assert lines[0].split() == ["PAGES", "TOTAL", "PERCENTAGE"]
    fields = {line[:13].strip(): line[13:].split() for line in lines[1:] if line.strip()}
    total = int(fields["TOTAL MEM"][0])
    assert fields["TOTAL MEM"][-1] == "----"
    # 2.4.20's totalram_pages: mem_init prints it in "Memory: 63180k/65536k available", and
    # free_initmem (and free_initrd_mem) then add each page they free ("Freeing unused kernel
    # memory: 120k freed"), after that line was printed
    available = int(truth["log"][0].split()[1].split("k/")[0])
    freed = sum(
        int(line.split(": ")[1].split("k freed")[0])
        for line in truth["log"]
        if line.startswith("Freeing ") and line.endswith("k freed")
    )
    assert total * 4 == available + freed
    used = int(fields["USED"][0])
    free_pages = int(fields["FREE"][0])
    assert used + free_pages == total
    assert " ".join(fields["FREE"][-4:]).endswith("% of TOTAL MEM")


@pytest.mark.parametrize(
    "line",
    ["kmem", "kmem -f 1000", "kmem -i c4800000", "kmem -P", "kmem -v -s", "kmem -s -P 10"],
)
def test_kmem_usage_errors(prog, line: str) -> None:
    with pytest.raises(UsageError):
        run(prog, line)


def test_kmem_s_unknown_cache_is_one_line(prog) -> None:
    from vmintro.commands import CommandError

    with pytest.raises(CommandError, match="no slab cache of that name"):
        run(prog, "kmem -s size-7")


def test_kmem_addr_json(prog, capfd) -> None:
    from vmintro.cli import main
    from vmintro.commands.discovery import unload_plugins

    try:
        assert main(["--json", "-c", "kmem c4800010", "images/demo"]) == 0
    finally:
        unload_plugins()  # the session loaded the shipped plugins: leave the registry as it was
    doc = json.loads(capfd.readouterr().out.splitlines()[0])
    assert doc["status"] == "ok" and doc["results"][0]["name"] == "kmem"
    assert doc["results"][0]["data"]["region"] == "vmalloc"


def test_kmem_says_a_guard_page_that_is_mapped(tmp_path) -> None:
    import vmintro
    from vmintro.arch.x86 import MachineConfig
    from vmintro.image.writer.install import write_image
    from vmintro.image.writer.snapshot import snapshot
    from vmintro.sim.boot import boot
    from vmintro.sim.paging import KernelPageTables

    k = boot(MachineConfig(ram=16 << 20))
    addr = k.vmalloc.vmalloc(2 * PAGE, owner="victim")
    assert addr is not None
    guard = addr + 2 * PAGE
    pt = KernelPageTables(k)
    pte = pt.pte_offset(pt.pmd_offset(pt.pgd_offset_k(guard), guard), guard)
    k.w32(pte, 0x8F163)  # the guard page given a frame, as a missing_guard fault does
    write_image(snapshot(k, {"scenario": "mapped guard"}), tmp_path / "g")
    prog = vmintro.open(tmp_path / "g")
    first = text_of(prog, f"kmem {guard:x}").splitlines()[0]
    assert "guard page of vmap" in first and "the guard page is mapped" in first
    assert "mapped at 0xc008f000" in first  # the frame's own direct-map address
    assert "the guard page is mapped" not in text_of(prog, f"kmem {addr:x}")


def test_kmem_S_lists_every_object_allocated_or_free(image: SlabImage) -> None:  # noqa: N802
    prog = image.prog
    text = text_of(prog, "kmem -S")
    allocated = {int(a, 16) for a in re.findall(r"^  \[([0-9a-f]+)\]$", text, re.M)}
    free = {int(a, 16) for a in re.findall(r"^   ([0-9a-f]+)$", text, re.M)}
    assert set(image.allocated) <= allocated and not set(image.allocated) & free
    assert set(image.freed) <= free
    # one cache: its line, then each slab's line and objects
    lines = text_of(prog, "kmem -S size-64").splitlines()
    assert lines[1].split()[-1] == "size-64"
    assert lines[2].split() == ["SLAB", "MEMORY", "TOTAL", "ALLOCATED", "FREE"]
    assert lines[4] == "FREE / [ALLOCATED]"
