"""Golden outputs of every command on the demo image, checked against the ground truth.

``golden/demo.txt`` holds what each command printed (``vmintro> CMD`` then its
output). Two things are checked: the commands print exactly that today, and
what that text says agrees with ``images/demo.truth.json``, the simulator's
own record -- so the golden file cannot simply enshrine a wrong answer.
After a deliberate change of output or of the demo image, rewrite the file
with ``VMINTRO_UPDATE_GOLDEN=1 python -m pytest tests/commands``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from vmintro.commands import run
from vmintro.commands.render import render_text
from vmintro.commands.settings import settings

GOLDEN = Path(__file__).with_name("golden") / "demo.txt"
PROMPT = "vmintro> "


def text_of(prog, line: str) -> str:
    """The command's text, with an empty value history (so ``p`` prints ``$1``)."""
    settings(prog).values.clear()
    return "\n".join(render_text(run(prog, line)))


def _first_mapped(truth: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in truth["areas"] if a["flags"] == 2 and a["pages"])


def _ioremap(truth: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in truth["areas"] if a["flags"] == 1)


def golden_commands(truth: dict[str, Any]) -> dict[str, str]:
    """Each command of the golden file under a short key; arguments come from the truth."""
    area = _first_mapped(truth)
    pfn = area["pages"][0]
    page = truth["mem_map"] + pfn * truth["sizeof_page"]
    guard = area["addr"] + area["size"] - 4096
    return {
        "vmlist": "vmlist",
        "kmem_v": "kmem -v",
        "vtop": f"vtop {area['addr']:x}",
        "vtop_guard": f"vtop {guard:x}",
        "vtop_ioremap": f"vtop {_ioremap(truth)['addr']:#x}",
        "vtop_lowmem": "vtop PAGE_OFFSET + 0x100000",
        "ptov": f"ptov {pfn << 12:x}",
        "page": f"page -n {pfn:x}",
        "kmem_p": f"kmem -p {page:x}",
        "kmem_f": "kmem -f",
        "rd": f"rd {area['addr']:x} 8",
        "rd_p": f"rd -p {pfn << 12:#x} 8",
        "rd_8": f"rd -8 {area['addr']:x} 20",
        "rd_a": "rd -a contig_page_data.node_zones[1].name",
        "sym": "sym vmlist",
        "sym_addr": "sym vmlist+2",
        "struct": f"struct vm_struct {area['vm_struct']:x}",
        "struct_members": "struct vm_struct.addr,size *vmlist",
        "p": "p vmlist",
        "p_deref": "p *vmlist",
        "p_scaled": "p mem_map + 0x100",
        "p_macro": "p -x VMALLOC_START + 4096",
        "p_sizeof": "p sizeof(struct page)",
        "ptype": "ptype struct vm_struct",
        "ptype_o": "ptype -o struct page",
        "whatis": "whatis vmlist",
        "whatis_type": "whatis page",
        "list": "list -o vm_struct.next *vmlist",
        "list_s": "list -o vm_struct.next -s vm_struct.size *vmlist",
        "modules": "list -o module.next -s module.name *module_list",
        "swap_map": "struct swap_info_struct.swap_map swap_info",
    }


def _read_golden() -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in GOLDEN.read_text().splitlines():
        if line.startswith(PROMPT):
            current = sections.setdefault(line[len(PROMPT) :], [])
        else:
            current.append(line)
    return {cmd: "\n".join(lines).rstrip("\n") for cmd, lines in sections.items()}


@pytest.fixture(scope="module")
def golden(prog, truth) -> dict[str, str]:
    """Golden text by key; rewritten first when VMINTRO_UPDATE_GOLDEN is set."""
    commands = golden_commands(truth)
    if os.environ.get("VMINTRO_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(
            "".join(f"{PROMPT}{c}\n{text_of(prog, c)}\n\n" for c in commands.values())
        )
    by_command = _read_golden()
    return {key: by_command.get(cmd, "<missing from golden file>") for key, cmd in commands.items()}


def test_commands_print_the_golden_text(prog, truth, golden) -> None:
    for key, command in golden_commands(truth).items():
        assert text_of(prog, command) == golden[key], command


def test_vmlist_is_the_truths_list(truth, golden) -> None:
    expected = ["VM_STRUCT  ADDRESS RANGE             SIZE"] + [
        f"{a['vm_struct']:<8x}   {a['addr']:x} - {a['addr'] + a['size']:x}  {a['size']:>9}"
        for a in truth["areas"]
    ]
    assert golden["vmlist"].splitlines() == expected
    assert golden["kmem_v"] == golden["vmlist"]


def _page_line(truth: dict[str, Any], pfn: int) -> re.Pattern[str]:
    page = truth["mem_map"] + pfn * truth["sizeof_page"]
    return re.compile(rf"^{page:8x}\s+{pfn << 12:x}\s+\w+\s+\w+\s+\d+\s+[0-9a-f]+", re.M)


def test_vtop_walks_to_the_truths_frame(truth, golden) -> None:
    area = _first_mapped(truth)
    pfn = area["pages"][0]
    text = golden["vtop"]
    assert f"{area['addr']:x}  {pfn << 12:x}" in text.splitlines()[1]
    assert re.search(r"^  PGD: [0-9a-f]+ => [0-9a-f]+$", text, re.M)
    assert re.search(rf"^  PTE: [0-9a-f]+ => {pfn << 12 | 0x163:x}$", text, re.M)
    assert f" PAGE: {pfn << 12:x}" in text
    assert "(PRESENT|RW|ACCESSED|DIRTY|GLOBAL)" in text
    assert _page_line(truth, pfn).search(text)


def test_vtop_of_the_guard_page_is_not_mapped(truth, golden) -> None:
    text = golden["vtop_guard"]
    assert text.splitlines()[1].endswith("(not mapped)")
    assert re.search(r"^  PTE: [0-9a-f]+ => 0$", text, re.M)
    assert "PAGE:" not in text


def test_vtop_of_an_ioremap_reaches_device_memory(truth, golden) -> None:
    text = golden["vtop_ioremap"]
    area = _ioremap(truth)
    assert all(p is None for p in area["pages"])  # the truth: no RAM frame behind it
    physical = int(text.splitlines()[1].split()[1], 16)
    assert physical >= truth["config"]["ram"]
    assert "PCD" in text and "no struct page" in text


def test_vtop_of_lowmem_is_pa(truth, golden) -> None:
    assert golden["vtop_lowmem"].splitlines()[1].split() == [
        f"{truth['page_offset'] + 0x100000:x}",
        "100000",
    ]
    assert "(4MB)" in golden["vtop_lowmem"]  # the direct map uses PSE pages in this build


def test_ptov_is_page_offset_plus(truth, golden) -> None:
    pfn = _first_mapped(truth)["pages"][0]
    assert golden["ptov"].splitlines()[1].split() == [
        f"{truth['page_offset'] + (pfn << 12):x}",
        f"{pfn << 12:x}",
    ]


def test_page_and_kmem_p_show_mem_map_entries(truth, golden) -> None:
    pfn = _first_mapped(truth)["pages"][0]
    assert golden["page"].splitlines()[0].split() == [
        "PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS"
    ]  # fmt: skip
    assert _page_line(truth, pfn).search(golden["page"])
    assert golden["kmem_p"] == golden["page"]


def test_kmem_f_counts_agree(truth, golden) -> None:
    text = golden["kmem_f"]
    assert text.rstrip().endswith("(verified)")
    zones = re.findall(r"^ +(\d) +(\w+) +(\d+) +(\d+) +([0-9a-f]+)", text, re.M)
    assert [z[1] for z in zones] == ["DMA", "Normal", "HighMem"]
    assert int(zones[0][4], 16) == truth["mem_map"]
    assert sum(int(z[2]) for z in zones) == truth["num_physpages"]
    areas = re.findall(r"^ +(\d) +(\d+)k +[0-9a-f]+ +(\d+) +(\d+)$", text, re.M)
    for order, size_k, blocks, pages in areas:
        assert int(size_k) == 4 << int(order)
        assert int(pages) == int(blocks) << int(order)
    total = int(re.search(r"nr_free_pages: (\d+)", text).group(1))  # type: ignore[union-attr]
    assert total == sum(int(a[3]) for a in areas) == sum(int(z[3]) for z in zones)


def test_rd_virtual_reads_the_truths_frame(prog, truth, golden) -> None:
    """rd of a vmalloc address shows the bytes of the frame the truth says backs it."""
    area = _first_mapped(truth)
    frame = prog.read(area["pages"][0] << 12, 32, physical=True)
    words = [f"{int.from_bytes(frame[i : i + 4], 'little'):08x}" for i in range(0, 32, 4)]
    virt = [line.split(":", 1)[1].strip() for line in golden["rd"].splitlines()]
    phys = [line.split(":", 1)[1].strip() for line in golden["rd_p"].splitlines()]
    assert virt == phys
    assert [v.split()[:4] for v in virt] == [words[:4], words[4:]]
    assert golden["rd"].startswith(f"{area['addr']:x}:")
    assert golden["rd_8"].splitlines()[1].startswith(f"{area['addr'] + 16:x}:")
    assert golden["rd_8"].split()[1:3] == [f"{frame[0]:02x}", f"{frame[1]:02x}"]
    name = prog["contig_page_data"].node_zones[1].name.value_()
    assert golden["rd_a"] == f"{name:x}:  Normal"


def test_sym(prog, golden) -> None:
    vmlist = prog.symbol("vmlist").address
    assert golden["sym"] == f"{vmlist:x} (B) vmlist"
    assert golden["sym_addr"] == f"{vmlist + 2:x} (B) vmlist+2"


def test_struct_shows_the_truths_vm_struct(truth, golden) -> None:
    area = _first_mapped(truth)
    following = truth["areas"][truth["areas"].index(area) + 1]
    assert golden["struct"].splitlines() == [
        "struct vm_struct {",
        f"  flags = {area['flags']},",
        f"  addr = {area['addr']:#x},",
        f"  size = {area['size']},",
        f"  next = {following['vm_struct']:#x}",
        "}",
    ]
    first = truth["areas"][0]
    assert golden["struct_members"].splitlines() == [
        f"  addr = {first['addr']:#x}",
        f"  size = {first['size']}",
    ]


def test_p_values_are_the_truths(truth, golden) -> None:
    first = truth["areas"][0]
    assert golden["p"] == f"vmlist = $1 = (struct vm_struct *) {first['vm_struct']:#x}"
    assert f"  addr = {first['addr']:#x}," in golden["p_deref"]
    scaled = truth["mem_map"] + 0x100 * truth["sizeof_page"]
    assert golden["p_scaled"].endswith(f"= (struct page *) {scaled:#x}")
    assert golden["p_macro"].endswith(f"= {truth['vmalloc_start'] + 4096:#x}")
    assert golden["p_sizeof"].endswith(f"= {truth['sizeof_page']}")


def test_types(truth, golden) -> None:
    assert golden["ptype"].startswith("type = struct vm_struct {")
    assert f"total size (bytes): {truth['sizeof_page']:4d}" in golden["ptype_o"]
    assert golden["whatis"] == "struct vm_struct *vmlist;"
    assert golden["whatis_type"].endswith(f"SIZE: {truth['sizeof_page']}")


def test_list_walks_the_truths_vmlist(truth, golden) -> None:
    assert golden["list"].splitlines() == [f"{a['vm_struct']:x}" for a in truth["areas"]]
    expected = []
    for a in truth["areas"]:
        expected += [f"{a['vm_struct']:x}", f"  size = {a['size']}"]
    assert golden["list_s"].splitlines() == expected


def test_owners_modules_and_swap_map_sit_in_their_areas(truth, golden) -> None:
    """The truth's owners: each module's struct at the start of its area, swap_map too."""
    by_owner = {a["owner"]: a for a in truth["areas"]}
    entries = re.findall(r'^([0-9a-f]+)\n  name = 0x[0-9a-f]+ "(\w*)"$', golden["modules"], re.M)
    modules = {name: int(address, 16) for address, name in entries if name}
    assert modules  # the demo loads modules
    assert modules == {
        owner.removeprefix("module "): area["addr"]
        for owner, area in by_owner.items()
        if owner.startswith("module ")
    }
    swap_map = int(golden["swap_map"].split("=")[1], 16)
    assert swap_map == by_owner["swap_map of swap_info[0]"]["addr"]


def test_vtop_of_every_page_of_every_area(prog, truth) -> None:
    """Not golden text: every page the truth lists, through the command layer."""
    for area in truth["areas"]:
        for i, pfn in enumerate(area["pages"]):
            [head, *_] = run(prog, f"vtop {area['addr'] + i * 4096:x}")
            physical = head.rows[0]["physical"]
            if pfn is None:
                assert area["flags"] == 1 and physical >= truth["config"]["ram"]
            else:
                assert physical == pfn << 12, (area["owner"], i)
        [head, *_] = run(prog, f"vtop {area['addr'] + area['size'] - 4096:x}")
        assert head.rows[0]["physical"] is None  # the guard page
