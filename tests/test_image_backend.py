"""Programs opened from generated images: the simulator's truth and gdb as oracles."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from oracles import need_oracle

import vmintro
from vmintro.backends.image import ImageBackend, ImageError
from vmintro.errors import FaultError
from vmintro.generate import generate
from vmintro.helpers import for_each_vm_area
from vmintro.image.format.names import vmlinux_beside
from vmintro.program import Program

CONFIGS = {
    "2level": {"ram": 64 << 20},
    "nopse": {"ram": 64 << 20, "pse": False},
    "highmem": {"ram": 1 << 30, "highmem": True},
    "pae": {"ram": 1 << 30, "highmem": True, "pae": True},
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def image(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("img") / request.param
    generate(base, "demo", {"seed": 1, **CONFIGS[request.param]})
    truth = json.loads(base.with_name(base.name + ".truth.json").read_text())
    return base, truth, vmintro.open(base)


def test_facts_match_the_simulator(image):
    _base, truth, prog = image
    assert prog.pae == truth["config"]["pae"]
    assert prog.highmem == truth["config"]["highmem"]
    assert prog.ram_size == truth["config"]["ram"]
    assert prog.high_memory == truth["high_memory"]
    assert prog.vmalloc_start == truth["vmalloc_start"]
    assert prog.vmalloc_end == truth["vmalloc_end"]
    assert prog["mem_map"].value_() == truth["mem_map"]
    assert prog.type("struct page").size == truth["sizeof_page"]


def test_vmlist_matches_the_simulator(image):
    _base, truth, prog = image
    areas = []
    area = prog["vmlist"]
    while area:
        areas.append((area.value_(), area.addr.value_(), area.size.value_(), area.flags.value_()))
        area = area.next
    expected = sorted((a["vm_struct"], a["addr"], a["size"], a["flags"]) for a in truth["areas"])
    assert sorted(areas) == expected
    assert [a[1] for a in areas] == sorted(a[1] for a in areas)  # vmlist is sorted by addr


def test_every_vmalloc_page_translates_to_its_frame(image):
    _base, truth, prog = image
    vaddrs, frames = [], []
    for area in truth["areas"]:
        for i, pfn in enumerate(area["pages"]):
            if pfn is not None:
                vaddrs.append(area["addr"] + i * 4096 + 0x123)
                frames.append((pfn << 12) + 0x123)
        guard = area["addr"] + area["size"] - 4096
        with pytest.raises(FaultError):
            prog.translate(guard)
    assert vaddrs
    assert [prog.translate(v) for v in vaddrs] == frames
    assert prog.translate_many(np.array(vaddrs)).tolist() == frames


def test_gdb_prints_the_same(image):
    base, truth, prog = image
    gdb = shutil.which("gdb")
    need_oracle("gdb", gdb is not None)
    zone = 1 if len(truth["areas"]) else 0
    cases = {
        "*vmlist": lambda: prog["vmlist"].deref(),
        "vmlist": lambda: prog["vmlist"],
        "vmlist->next->addr": lambda: prog["vmlist"].next.addr,
        f"contig_page_data.node_zones[{zone}]": lambda: prog["contig_page_data"].node_zones[zone],
        "mem_map[4096]": lambda: prog["mem_map"][4096],
        "zone_table": lambda: prog["zone_table"],
        "cache_sizes": lambda: prog["cache_sizes"],
        "cache_cache": lambda: prog["cache_cache"],
        "swapper_pg_dir": lambda: prog["swapper_pg_dir"],
        "high_memory": lambda: prog["high_memory"],
        "max_mapnr": lambda: prog["max_mapnr"],
        "init_mm": lambda: prog["init_mm"],
        "swap_info[0]": lambda: prog["swap_info"][0],
        "contig_page_data.node_zones[0].name": lambda: prog["contig_page_data"].node_zones[0].name,
    }
    args = [gdb, "-nx", "-batch"]
    for expr in cases:
        args += ["-ex", f"print {expr}"]
    args += [f"{base}.vmlinux", f"{base}.vmcore"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    printed = dict(re.findall(r"^\$(\d+) = (.*)$", out, re.MULTILINE))
    for number, (expr, make) in enumerate(cases.items(), start=1):
        assert str(make()) == printed.get(str(number)), expr


def test_open_by_base_name_or_core_path(image):
    base, _truth, prog = image
    by_core = vmintro.open(f"{base}.vmcore")
    assert by_core.high_memory == prog.high_memory
    backend = ImageBackend(base)
    assert backend.vmlinux_path == vmlinux_beside(f"{base}.vmcore")
    assert backend.vmlinux_path.name == f"{base.name}.vmlinux"
    assert backend.vmcoreinfo["OSRELEASE"] == "2.4.20"
    backend.close()


def test_program_from_files(image, tmp_path: Path):
    base, truth, prog = image
    # the two files anywhere, under any names: nothing is found by name
    core, kernel = tmp_path / "memory.core", tmp_path / "kernel-debug"
    core.write_bytes(Path(f"{base}.vmcore").read_bytes())
    kernel.write_bytes(Path(f"{base}.vmlinux").read_bytes())
    other = Program.from_files(core, kernel, cache_pages=False)
    assert other._pages is None  # options reach the constructor
    assert other.symbol("vmlist") == prog.symbol("vmlist")
    areas = [(a.value_(), a.addr.value_()) for a in for_each_vm_area(other)]
    assert areas == [(t["vm_struct"], t["addr"]) for t in truth["areas"]]
    beside = Program.from_files(f"{base}.vmcore")
    assert beside.type("struct vm_struct").size == 16
    with pytest.raises(ImageError, match="kernel-debug"):
        Program.from_files(f"{base}.vmcore", tmp_path / "kernel-debug-missing")


def test_physical_read_outside_ram_is_a_fault(image):
    _base, truth, prog = image
    ram = truth["config"]["ram"]
    with pytest.raises(FaultError) as info:
        prog.read(ram, 4, physical=True)
    assert info.value.address == ram


def test_bad_files_are_one_line_image_errors(tmp_path: Path):
    with pytest.raises(ImageError) as info:
        vmintro.open(tmp_path / "nothing")
    assert "\n" not in str(info.value)
    base = tmp_path / "img"
    generate(base, "demo", {"ram": 32 << 20, "seed": 1})
    core = Path(f"{base}.vmcore")
    vmlinux = Path(f"{base}.vmlinux")
    vmlinux.write_bytes(vmlinux.read_bytes()[:200])
    with pytest.raises(ImageError, match=r"img\.vmlinux: ") as info:
        vmintro.open(base)
    assert "\n" not in str(info.value)
    core.write_bytes(core.read_bytes()[:100])
    with pytest.raises(ImageError, match=r"img\.vmcore: "):
        vmintro.open(base)
