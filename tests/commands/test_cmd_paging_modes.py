"""The commands on a PAE kernel with a HighMem zone, against that image's truth."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import vmintro
from vmintro.commands import run
from vmintro.commands.render import render_text


@pytest.fixture(scope="module")
def pae(demo_on: Callable[..., Path]) -> tuple[Any, dict[str, Any]]:
    base = demo_on("pae1g", ram=1 << 30, highmem=True, pae=True)  # once per session
    truth = json.loads(Path(f"{base}.truth.json").read_text())
    return vmintro.open(base), truth


def show(prog: Any, line: str) -> str:
    return "\n".join(render_text(run(prog, line)))


def test_vtop_walks_three_levels_to_the_truths_frames(pae) -> None:
    prog, truth = pae
    for area in truth["areas"]:
        for i, pfn in enumerate(area["pages"][:3]):
            address = area["addr"] + i * 4096
            text = show(prog, f"vtop {address:x}")
            levels = re.findall(r"^  (PGD|PMD|PTE): [0-9a-f]+ => [0-9a-f]+$", text, re.M)
            assert levels == ["PGD", "PMD", "PTE"]
            if pfn is None:  # an ioremap of device memory
                assert "no struct page" in text
                continue
            assert text.splitlines()[1].split() == [f"{address:x}", f"{pfn << 12:x}"]
            page = truth["mem_map"] + pfn * truth["sizeof_page"]
            assert re.search(rf"^{page:x}\s+{pfn << 12:x}\s", text, re.M)
            if pfn >= truth["max_low_pfn"]:
                assert text.rstrip().endswith("highmem")  # the frame is in ZONE_HIGHMEM


def test_kmem_f_has_a_highmem_zone_and_verifies(pae) -> None:
    prog, truth = pae
    text = show(prog, "kmem -f")
    zones = re.findall(r"^ +(\d) +(\w+) +(\d+) +(\d+) ", text, re.M)
    assert [z[1] for z in zones] == ["DMA", "Normal", "HighMem"]
    assert sum(int(z[2]) for z in zones) == truth["num_physpages"]
    assert int(zones[2][2]) == truth["num_physpages"] - truth["max_low_pfn"]
    assert text.endswith("(verified)")


def test_ptov_of_highmem_has_no_direct_mapping(pae) -> None:
    prog, truth = pae
    low = (truth["max_low_pfn"] - 1) << 12
    high = truth["max_low_pfn"] << 12
    assert show(prog, f"ptov {low:x}").splitlines()[1].split()[0] == f"{0xC0000000 + low:x}"
    assert show(prog, f"ptov {high:x}").splitlines()[1].startswith("(not mapped)")


def test_p_and_struct_read_vmlist(pae) -> None:
    prog, truth = pae
    first = truth["areas"][0]
    assert show(prog, "p vmlist") == f"vmlist = $1 = (struct vm_struct *) {first['vm_struct']:#x}"
    assert f"size = {first['size']}" in show(prog, "struct vm_struct *vmlist")
