"""Real gdb reads the images exactly as vmintro does: ptype, p, x."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import vmintro
from vmintro.helpers import for_each_vm_area
from vmintro.ptype import ptype

HIGHMEM_START = 896 << 20  # the end of the direct map: frames above it are HighMem


def run_gdb(gdb: str, base: Path, commands: list[str]) -> list[str]:
    """Each command's standard output, in order (a marker line separates them)."""
    args = [gdb, "-batch", "-nx", f"{base}.vmlinux", f"{base}.vmcore"]
    for i, c in enumerate(commands):
        args += ["-ex", f"echo @@{i}\\n", "-ex", c]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    parts = re.split(r"^@@\d+\n", proc.stdout, flags=re.M)[1:]
    assert len(parts) == len(commands), proc.stdout + proc.stderr
    return [re.sub(r"^\$\d+ = ", "", p.strip()) for p in parts]


@pytest.mark.parametrize("name", ["demo", "highmem", "pae"])
def test_gdb_agrees_with_vmintro(gdb: str, image_set: dict[str, Path], name: str) -> None:
    base = image_set[name]
    prog = vmintro.open(f"{base}.vmcore")
    areas = list(for_each_vm_area(prog))
    first = areas[0]
    max_mapnr = prog["max_mapnr"].value_()
    # frames of vmalloc pages above 896 MiB: HighMem pages, which gdb reaches only
    # through mem_map (the core maps no virtual address to them)
    frames = {prog.translate(a.addr.value_()) >> 12 for a in areas}
    high = sorted(n for n in frames if HIGHMEM_START >> 12 <= n < max_mapnr)[:3]
    if name == "highmem":
        assert high, "the HIGHMEM image has no vmalloc page in HighMem"
    pfns = [5, 300, 4096, 8000, *high, max_mapnr - 1]
    assert all(0 <= n < max_mapnr for n in pfns)
    types = ["struct page", "struct vm_struct", "zone_t", "struct module", "pte_t", "pg_data_t"]
    commands = [f"ptype {t}" for t in types]
    commands += ["p *vmlist", "p vmlist->next->addr", "p vmlist->next->next->size"]
    commands += [f"p mem_map[{n}].flags" for n in pfns]
    commands += [f"p mem_map[{n}].count.counter" for n in pfns]
    commands += [f"x/4wx {first.value_():#x}", "p high_memory", "p max_mapnr"]
    commands += ["p contig_page_data.node_zones[1].free_pages"]
    commands += [
        "p contig_page_data.node_zones[2].size",
        "p contig_page_data.node_zones[2].free_pages",
    ]
    out = run_gdb(gdb, base, commands)

    expected = [ptype(prog.type(t)) for t in types]
    expected += [
        str(prog["vmlist"][0]),
        str(prog["vmlist"].next.addr),
        str(prog["vmlist"].next.next.size),
    ]
    mem_map = prog["mem_map"]
    expected += [str(mem_map[n].flags) for n in pfns]
    expected += [str(mem_map[n].count.counter) for n in pfns]
    words = [int.from_bytes(prog.read(first.value_() + 4 * i, 4), "little") for i in range(4)]
    expected.append(f"{first.value_():#x}:\t" + "\t".join(f"{w:#010x}" for w in words))
    expected += [str(prog["high_memory"]), str(prog["max_mapnr"])]
    expected += [str(prog["contig_page_data"].node_zones[1].free_pages)]
    highmem_zone = prog["contig_page_data"].node_zones[2]
    expected += [str(highmem_zone.size), str(highmem_zone.free_pages)]
    assert out == expected
    if name == "highmem":
        assert highmem_zone.size.value_() == max_mapnr - (HIGHMEM_START >> 12) > 0


def test_gdb_cannot_read_vmalloc_but_vmintro_can(gdb: str, image_set: dict[str, Path]) -> None:
    """gdb has no page-table walk for the core: vmalloc addresses fail there, not here."""
    base = image_set["demo"]
    prog = vmintro.open(f"{base}.vmcore")
    area = next(for_each_vm_area(prog))
    addr = area.addr.value_()
    proc = subprocess.run(
        [gdb, "-batch", "-nx", f"{base}.vmlinux", f"{base}.vmcore", "-ex", f"x/wx {addr:#x}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"Cannot access memory at address {addr:#x}" in proc.stderr
    assert len(prog.read(addr, 4)) == 4
