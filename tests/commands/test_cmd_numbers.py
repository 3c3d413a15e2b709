"""One rule for numbers: what a command prints, pasted into another, means the same.

Addresses and page frame numbers are hex with or without ``0x``; counts and
sizes decimal unless ``0x``. The text each command prints on the demo image is
taken apart, each number given to the commands that take that kind of value,
and the object they show compared with the first command's and with
``images/demo.truth.json`` (the simulator's own record).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from vmintro.commands import UsageError, run

PAGE_HEADER = ["PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS"]


def _mapped_areas(truth: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in truth["areas"] if a["flags"] == 2 and a["pages"]]


def _page_rows(text: str) -> list[list[str]]:
    """The rows under a ``PAGE PHYSICAL ...`` heading (the page table of page, kmem -p, vtop)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == PAGE_HEADER)
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def _struct_page(truth: dict[str, Any], pfn: int) -> int:
    return truth["mem_map"] + pfn * truth["sizeof_page"]


def _page_row_of(show, line: str) -> list[str]:
    [row] = _page_rows(show(line))
    return row


# -- the rule, on the examples that used to disagree --------------------------------------


def test_page_and_kmem_p_read_numbers_alike(show, truth) -> None:
    """page ADDR is crash's kmem -p ADDR: hex, with or without 0x; page -n takes a pfn."""
    by_address = {  # the address given -> the frame holding it
        "10b4": 0x10B4 >> 12,
        "0x10b4": 0x10B4 >> 12,
        "4276": 0x4276 >> 12,
        "10b4000": 0x10B4,
    }
    for text, pfn in by_address.items():
        row = _page_row_of(show, f"page {text}")
        assert row == _page_row_of(show, f"kmem -p {text}"), text
        assert int(row[0], 16) == _struct_page(truth, pfn), text
        assert int(row[1], 16) == pfn << 12, text
    # a pfn is hex too, with or without 0x: the first vmalloc page's frame
    area = _mapped_areas(truth)[0]
    pfn = area["pages"][0]
    for text in (f"{pfn:x}", f"{pfn:#x}"):
        assert int(_page_row_of(show, f"page -n {text}")[0], 16) == _struct_page(truth, pfn)
    assert _page_row_of(show, f"page -n {pfn:x}") == _page_row_of(show, f"page {pfn << 12:x}")


def test_help_states_the_rule_once(show) -> None:
    listing = show("help")
    assert listing.count("Numbers:") == 1
    assert "hex, with or" in listing and "decimal unless written with 0x" in listing
    for cmd in ("page", "kmem", "vtop", "ptov"):
        assert "hex" in show(f"help {cmd}"), cmd


# -- round trips: what one command prints, another reads back ---------------------------


def test_vmlist_round_trips(show, truth) -> None:
    lines = show("vmlist").splitlines()[1:]
    assert len(lines) == len(truth["areas"])
    for line, area in zip(lines, truth["areas"], strict=True):
        vm_struct, start, _dash, end, size = line.split()
        assert (int(vm_struct, 16), int(start, 16), int(size)) == (
            area["vm_struct"],
            area["addr"],
            area["size"],
        )
        # the start, pasted, names the same area; the vm_struct is that area's structure
        assert show(f"vmlist {start}").splitlines()[1] == line
        assert show(f"kmem -v {start}").splitlines()[1] == line
        assert f"addr = {int(start, 16):#x}" in show(f"struct vm_struct {vm_struct}")
        assert int(end, 16) - int(start, 16) == int(size)  # the size is decimal
        if area["pages"] and area["pages"][0] is not None:  # an ioremap maps no RAM frame
            physical = show(f"vtop {start}").splitlines()[1].split()[1]
            assert int(physical, 16) == area["pages"][0] << 12


def test_vtop_round_trips(show, prog, truth) -> None:
    area = _mapped_areas(truth)[1]
    vaddr = area["addr"] + 0x1000 + 0x123  # an offset inside the second page
    pfn = area["pages"][1]
    text = show(f"vtop {vaddr:x}")
    virtual, physical = text.splitlines()[1].split()
    assert (int(virtual, 16), int(physical, 16)) == (vaddr, pfn << 12 | 0x123)
    # each entry's address, read with rd, holds the value vtop shows
    for entry, value in re.findall(r"^  (?:PGD|PTE): ([0-9a-f]+) => ([0-9a-f]+)$", text, re.M):
        word = show(f"rd {entry}").split()[1]
        assert int(word, 16) == int(value, 16), entry
    assert re.search(rf"^ PAGE: {pfn << 12:x}$", text, re.M)
    # its frame, by physical address or by struct page, is the row vtop shows
    [row] = _page_rows(text)
    assert int(row[0], 16) == _struct_page(truth, pfn)
    assert _page_row_of(show, f"page {physical}") == row
    assert _page_row_of(show, f"kmem -p {row[0]}") == row
    assert _page_row_of(show, f"page {row[1]}") == row
    # the physical address reads the same bytes as the virtual one
    words = show(f"rd {virtual} 4").split(":")[1].split()
    assert show(f"rd -p {physical} 4").split(":")[1].split() == words
    # ptov of it is its lowmem alias, which vtop takes back to the same physical address
    alias = show(f"ptov {physical}").splitlines()[1].split()[0]
    assert int(alias, 16) == truth["page_offset"] + (pfn << 12 | 0x123)
    assert show(f"vtop {alias}").splitlines()[1].split()[1] == physical


def test_ptov_and_vtop_are_inverse_in_lowmem(show, truth) -> None:
    physical = f"{0x123456:x}"
    virtual = show(f"ptov {physical}").splitlines()[1].split()[0]
    assert int(virtual, 16) == truth["page_offset"] + 0x123456
    assert show(f"vtop {virtual}").splitlines()[1].split() == [virtual, physical]


def test_kmem_f_round_trips(show, truth) -> None:
    text = show("kmem -f")
    zones = re.findall(
        r"^ +(\d) +(\w+) +(\d+) +(\d+) +([0-9a-f]+) +([0-9a-f]+) +([0-9a-f]+)$", text, re.M
    )
    assert [z[1] for z in zones] == ["DMA", "Normal", "HighMem"]
    for _index, name, size, _free, mem_map, start_paddr, start_mapnr in zones:
        if int(size) == 0:
            continue
        # MEM_MAP, START_PADDR and START_MAPNR (a pfn) name the zone's first frame
        first = int(start_paddr, 16) >> 12
        assert int(mem_map, 16) == _struct_page(truth, first), name
        row = _page_row_of(show, f"page {mem_map}")
        assert _page_row_of(show, f"page -n {start_mapnr}") == row, name
        assert _page_row_of(show, f"page -P {start_paddr}") == row, name
        assert int(row[1], 16) == int(start_paddr, 16), name
    # each FREE_AREA_STRUCT is the free_area_t of its zone and order
    heading = re.findall(r"^ +\d +(\w+) +\d+ +\d+ +[0-9a-f]+", text, re.M)
    tables = re.split(r"^AREA .*$", text, flags=re.M)[1:]
    for zone_index, table in enumerate(tables):
        for order, address in re.findall(r"^ +(\d) +\d+k +([0-9a-f]+) ", table, re.M):
            expected = show(
                f"p/x &contig_page_data.node_zones[{zone_index}].free_area[{order}]"
            ).split()[-1]
            assert int(address, 16) == int(expected, 16), (heading[zone_index], order)


def test_map_area_round_trips(show, truth) -> None:
    area = _mapped_areas(truth)[2]
    text = show(f"map --area {area['addr']:x}")
    lines = text.splitlines()
    start = lines.index("VIRTUAL   PFN       PHYSICAL  ZONE")
    rows = [line.split() for line in lines[start + 1 : -1]]
    assert [int(r[1], 16) for r in rows] == area["pages"]
    for virtual, pfn, physical, _zone in rows:
        row = _page_row_of(show, f"page -n {pfn}")
        assert int(row[0], 16) == _struct_page(truth, int(pfn, 16))
        assert _page_row_of(show, f"page {physical}") == row
        assert _page_row_of(show, f"kmem -p {physical}") == row
        assert _page_row_of(show, f"vtop {virtual}") == row
        assert show(f"vtop {virtual}").splitlines()[1].split()[1] == physical


def test_page_round_trips(show, truth) -> None:
    pfn = _mapped_areas(truth)[0]["pages"][3]
    rows = _page_rows(show(f"page -n {pfn:x} -c 3"))
    assert [int(r[0], 16) for r in rows] == [_struct_page(truth, pfn + i) for i in range(3)]
    for row in rows:
        page, physical = row[0], row[1]
        assert _page_row_of(show, f"page {page}") == row
        assert _page_row_of(show, f"page {physical}") == row
        assert _page_row_of(show, f"page -P {physical}") == row
        lowmem = show(f"ptov {physical}").splitlines()[1].split()[0]
        assert _page_row_of(show, f"kmem -p {lowmem}") == row


# -- several values where crash takes several -----------------------------------------


@pytest.mark.parametrize(
    ("command", "values"),
    [
        ("vtop", ["c4800000", "0xc4811000", "PAGE_OFFSET + 0x100000", "vmlist"]),
        ("ptov", ["{area_frame}", "0x8000000", "(1 << 20) + 4"]),
        ("sym", ["vmlist", "{vmlist+2}", "mem_map+4"]),
        ("kmem -p", ["{area_page}", "{area_frame}", "{area+4096}"]),
        ("kmem -v", ["c4800000", "c4811000"]),
        ("vmlist", ["c4800000", "0xc4811000"]),
        ("page", ["{area_frame}", "{area}"]),
        ("page -n", ["{area_pfn}", "0x{area_pfn+1}"]),
    ],
)
def test_several_values_are_each_one_value(
    at_symbols, results, command: str, values: list[str]
) -> None:
    values = [at_symbols(v) for v in values]
    each = [item for v in values for item in results(f"{command} {v}")]
    assert results(f"{command} {' '.join(values)}") == each


def test_vtop_of_several_addresses_is_each_walk_in_turn(show) -> None:
    both = show("vtop c4800000 c4811000")
    assert both == show("vtop c4800000") + "\n\n" + show("vtop c4811000")


def test_words_that_read_two_ways_are_refused(prog) -> None:
    with pytest.raises(UsageError) as info:
        run(prog, "vtop c4800000 *vmlist")
    message = str(info.value)
    assert "'c4800000 * vmlist'" in message and "'(*vmlist)'" in message


def test_ptov_not_mapped_fits_its_column(show, at_symbols) -> None:
    frame = at_symbols("{area_frame}")
    text = show(f"ptov {frame} 8000000")
    heading, mapped, unmapped = text.splitlines()
    column = heading.index("PHYSICAL")
    assert mapped[column:] == frame and unmapped[column:] == "8000000"
    assert unmapped.startswith("(not mapped)  ")
