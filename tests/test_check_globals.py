"""check: globals every walk trusts, damaged in the core, are findings, not a crashed check.

Each image is the demo image with one word changed (``hostile_image``). The
expected findings come from 2.4.20's own layout (``free_area_init_core``,
``sys_swapon``), written out here, not from the checker; the addresses they name
come from the demo's symbol table and truth file.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from hostile_image import DEMO, HostileImage, run_bounded

import vmintro
from vmintro.check import check_program


def _damaged(tmp_path: Path, changes: dict[str, int | str]) -> HostileImage:
    """A copy of the demo image with each 32-bit word at ``path`` set to its value
    (a value given as a path: that object's address).
    """
    h = HostileImage(tmp_path / "img")
    for path, value in changes.items():
        h.set(path, value if isinstance(value, int) else h.address(value))
    h.save()
    return h


@functools.cache
def _demo_addresses() -> dict[str, int]:
    """Where the undamaged demo has what the findings name: from its symbol table and
    its truth file, so that a regenerated demo moves them with it.
    """
    truth = json.loads(Path(f"{DEMO}.truth.json").read_text())
    (swap_map,) = (a for a in truth["areas"] if a["owner"] == "swap_map of swap_info[0]")
    prog = vmintro.open(DEMO)
    return {
        "contig_page_data": prog.symbol("contig_page_data").address,
        "dma_zone": prog["contig_page_data"].node_zones[0].address_,
        "swap_map_vm_struct": swap_map["vm_struct"],
        "swap_map": swap_map["addr"],
        "swap_map_size": swap_map["size"],
        # free_area_init_core: the Normal zone's map starts 16 MiB (0x1000 pages) in
        "normal_zone_mem_map": truth["mem_map"] + 0x1000 * truth["sizeof_page"],
    }


@pytest.mark.parametrize(
    ("symbol", "value", "skipped"),
    [
        # the buddy lists and every mapped frame are found through mem_map
        ("mem_map", 0, ["buddy", "mappings"]),
        # the direct map and the vmalloc range (VMALLOC_START) end and start at
        # high_memory: the mappings, and the processes' entries for that range
        ("high_memory", 0, ["mappings", "processes"]),
        ("max_mapnr", 0xFFFFFFFF, []),
    ],
)
def test_damaged_global_is_named(tmp_path: Path, symbol: str, value: int, skipped: list) -> None:
    findings = check_program(vmintro.open(_damaged(tmp_path, {symbol: value}).base))
    assert [(f.kind, f.message) for f in findings[1:]] == [
        ("check_incomplete", f"the {part} check needs {symbol}, which is not sound")
        for part in skipped
    ]
    assert findings[0].kind == "global_inconsistent"
    assert f"{symbol} is {value:#x}" in findings[0].message


NORMAL = "contig_page_data.node_zones[1]"
BLIND_SPOTS = {
    # what was changed: (kind, the finding's message)
    "zone_mem_map": (
        {f"{NORMAL}.zone_mem_map": 0xDEADBEEF},
        "zone_corrupt",
        f"{NORMAL} (Normal): zone_mem_map is 0xdeadbeef, not mem_map + 0x1000 "
        "({normal_zone_mem_map:#x})",
    ),
    "nr_zones": (
        {"contig_page_data.nr_zones": 0xFFFFFFFF},
        "zone_corrupt",
        "contig_page_data.nr_zones is -1, outside 1..MAX_NR_ZONES (3); "
        "the last zone with pages is node_zones[1]",
    ),
    "node_next": (
        {"contig_page_data.node_next": "contig_page_data"},
        "pgdat_list_corrupt",
        "contig_page_data.node_next is {contig_page_data:#x}, but the only node has none; "
        "it points at itself: for_each_pgdat never ends",
    ),
    "pgdat_list": (
        {"pgdat_list": 0xDEADBEEF},
        "pgdat_list_corrupt",
        "pgdat_list is 0xdeadbeef, not contig_page_data ({contig_page_data:#x}), "
        "the only node of a kernel without DISCONTIGMEM",
    ),
    "swap_map": (
        {"swap_info[0].swap_map": 0xDEADBEEF},
        "swap_info_corrupt",
        "swap_info[0].swap_map is 0xdeadbeef, not the start of a vmalloc area "
        "(0xc4800000-0xffffc000)",
    ),
    "nr_swapfiles": (
        {"nr_swapfiles": 0x7FFFFFFF},
        "swap_info_corrupt",
        "nr_swapfiles is 0x7fffffff, more than MAX_SWAPFILES (32)",
    ),
    "zone_start_paddr": (
        {f"{NORMAL}.zone_start_paddr": 0x2000000},
        "zone_corrupt",
        f"{NORMAL} (Normal): zone_start_paddr is 0x2000000, not 0x1000000",
    ),
    "zone_size": (
        {f"{NORMAL}.size": 0xFFFFFFFF},
        "zone_corrupt",
        f"{NORMAL} (Normal): its 0xffffffff pages from 0x1000 run past max_mapnr 0x4000",
    ),
    "zone_table": (
        {"zone_table[0]": 0xDEADBEEF},
        "zone_corrupt",
        "zone_table[0] is 0xdeadbeef, not contig_page_data.node_zones[0] ({dma_zone:#x})",
    ),
    "swap_max": (
        {"swap_info[0].max": 0x10000},
        "swap_info_corrupt",
        "swap_info[0].max is 0x10000, so its swap_map = vmalloc(0x20000) has size 0x21000, "
        "but vm_struct {swap_map_vm_struct:#x} at {swap_map:#x} has size {swap_map_size:#x}",
    ),
}


@pytest.mark.parametrize("case", BLIND_SPOTS.values(), ids=BLIND_SPOTS.keys())
def test_globals_the_checks_trust_are_checked(tmp_path: Path, case: tuple) -> None:
    changes, kind, message = case
    findings = check_program(vmintro.open(_damaged(tmp_path, changes).base))
    assert findings, "the damage went unnoticed: the image was called clean"
    expected = (kind, message.format(**_demo_addresses()))
    assert (findings[0].kind, findings[0].message) == expected, [str(f) for f in findings]
    assert all("\n" not in str(f) for f in findings)


def test_unreadable_zone_name_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """The buddy part used to stop at the name and the mapping part then indexed an
    empty free map (an IndexError traceback): now the name is a finding, the zone's
    free lists are skipped with the reason, and every other part runs.
    """
    h = _damaged(tmp_path, {f"{NORMAL}.name": 0xDEAD0000})
    result = run_bounded("check", str(h.base))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"zone_corrupt: {NORMAL}.name is 0xdead0000, which cannot be read",
        "check_incomplete: the buddy check of zone Normal needs its zone_t, which is not "
        "sound: its name cannot be read",
    ]


def test_demo_image_is_still_clean() -> None:
    assert check_program(vmintro.open(Path(__file__).resolve().parent.parent / "images/demo")) == []
