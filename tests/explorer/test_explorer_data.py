"""What the explorer draws, against the ground truth and the commands' own output."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from explorer_support import DEMO, json_documents

import vmintro
from vmintro.explorer.data import AddressError, parse_address, snapshot, vtop
from vmintro.explorer.owners import OWNERS
from vmintro.explorer.page import embed_json, self_contained


@pytest.fixture(scope="module")
def prog() -> vmintro.Program:
    return vmintro.open(DEMO)


@pytest.fixture(scope="module")
def snap(prog: vmintro.Program) -> dict[str, Any]:
    return snapshot(prog, "demo")


WALKED = [0xC4811000, 0xC4824ABC, 0xC0100000, 0xFFFFF000, 0xC4836000]


@pytest.fixture(scope="module")
def cli(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What ``vmintro --json -c`` prints for each line the tests compare with:
    one process for all of them."""
    lines = ["kmem -f", *(f"vtop {a:#x}" for a in WALKED)]
    lines += [f"vtop {t['addr']:#x}" for t in truth["areas"][:4]]
    return json_documents(lines)


def _owner_of(snap: dict[str, Any]) -> list[str]:
    """Each frame's owner name, expanded from the runs."""
    owners = snap["frames"]["owners"]
    out: list[str] = []
    for first, count, code, _order in snap["frames"]["runs"]:
        assert first == len(out)
        out += [owners[code]] * count
    return out


def test_areas_are_the_truths(snap: dict[str, Any], truth: dict[str, Any]) -> None:
    got = [(a["vm_struct"], a["addr"], a["size"], a["flags"]) for a in snap["areas"]]
    want = [(a["vm_struct"], a["addr"], a["size"], a["flags"]) for a in truth["areas"]]
    assert got == want
    # the image knows modules and swap maps by name; the scenario's other labels it cannot
    for area, t in zip(snap["areas"], truth["areas"], strict=True):
        if t["owner"].startswith(("module ", "swap_map ")):
            assert area["owner"] == t["owner"]
        else:
            assert area["owner"] == ("ioremap" if t["flags"] & 1 else "vmalloc")
    ioremaps = {e["addr"]: e["phys"] for e in truth["events"] if e["op"] == "ioremap"}
    for area, t in zip(snap["areas"], truth["areas"], strict=True):
        pfns = [p[1] for p in area["pages"]]
        if t["flags"] & 1:  # the device's frames, which the truth does not list
            first = ioremaps[t["addr"]] >> 12
            assert pfns == list(range(first, first + len(t["pages"])))
        else:
            assert pfns == t["pages"]
        assert area["guard"] == t["addr"] + t["size"] - 4096


def test_frames_behind_areas_are_owned_by_them(snap: dict[str, Any], truth: dict[str, Any]) -> None:
    owner = _owner_of(snap)
    for t in truth["areas"]:
        if t["flags"] & 1:
            continue  # device memory: no frame of RAM
        want = "module" if t["owner"].startswith("module ") else "vmalloc"
        assert {owner[p] for p in t["pages"]} == {want}, t["owner"]


def test_free_frames_per_zone_are_the_zones_free_counts(
    snap: dict[str, Any], cli: dict[str, dict[str, Any]]
) -> None:
    # zone->free_pages is a counter the kernel keeps apart from the lists it checks here
    owner = _owner_of(snap)
    document = cli["kmem -f"]
    zones = [r for res in document["results"] if res["name"] == "zone" for r in res["rows"]]
    assert len(zones) == len([z for z in snap["zones"]])
    for z in zones:
        frames = owner[z["start_mapnr"] : z["start_mapnr"] + z["size"]]
        assert frames.count("free") == z["free"], z["name"]


def test_free_runs_carry_their_order(snap: dict[str, Any]) -> None:
    blocks: Counter[int] = Counter()
    for _first, count, code, order in snap["frames"]["runs"]:
        if OWNERS[code] == "free":
            blocks[order] += count
        else:
            assert order == -1
    for z in snap["zones"]:
        for f in z["free_area"]:
            blocks[f["order"]] -= f["pages"]
    assert set(blocks.values()) == {0}


def test_the_walks_tables_are_page_tables(
    snap: dict[str, Any], truth: dict[str, Any], cli: dict[str, dict[str, Any]]
) -> None:
    owner = _owner_of(snap)
    for t in truth["areas"][:4]:
        results = cli[f"vtop {t['addr']:#x}"]["results"]
        walk = next(r for r in results if r["name"] == "walk")["data"]
        assert owner[walk["page_directory"] >> 12] in ("pagetable", "reserved")
        for step in walk["steps"][:-1]:
            assert owner[step["value"] >> 12] == "pagetable"


@pytest.mark.parametrize("addr", WALKED)
def test_walk_is_vtop_json(
    prog: vmintro.Program, cli: dict[str, dict[str, Any]], addr: int
) -> None:
    assert vtop(prog, addr) == cli[f"vtop {addr:#x}"]


@pytest.mark.parametrize(
    "text", ["", "0x", "c48g", "123456789", "vmlist", "c4800000 | sh", "$(ls)", "-1"]
)
def test_only_hex_addresses_are_taken(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text)


def test_hex_address_forms() -> None:
    assert parse_address("c4811000") == parse_address("0xC4811000") == 0xC4811000


def test_image_text_cannot_end_the_data_element() -> None:
    hostile = {"owner": "</script><script>alert(1)</script>&amp;"}
    text = embed_json(hostile)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == hostile
    page = self_contained({"snapshot": hostile})
    assert page.count("</script>") == 2  # the data element's and the module's


def test_owners_agree_with_what_kmem_finds_at_each_frame(
    prog: vmintro.Program, snap: dict[str, Any]
) -> None:
    """``kmem ADDR``'s classification (classify_address), frame by frame on a sample:
    a free buddy block, a page table of swapper_pg_dir and a slab page where it finds one."""
    from vmintro.helpers.memory import classify_address

    owner = _owner_of(snap)
    orders = {}
    for first, count, code, order in snap["frames"]["runs"]:
        if OWNERS[code] == "free":
            orders.update(dict.fromkeys(range(first, first + count), order))
    sample = set(range(0, len(owner), 61))
    sample |= {p[1] for a in snap["areas"] for p in a["pages"] if p[1] is not None}
    sample |= {pfn for pfn, o in enumerate(owner) if o == "pagetable"}
    seen = Counter()
    for pfn in sorted(p for p in sample if p < len(owner)):
        info = classify_address(prog, pfn << 12, physical=True)
        found = "free" if info.free else "pagetable" if info.page_table else None
        found = found or ("slab" if info.slab is not None else None)
        if found is not None or owner[pfn] in ("free", "pagetable"):
            assert owner[pfn] == found, f"pfn {pfn:#x}: {info.describe()}"
        if info.free:
            assert orders[pfn] == info.free.order
        seen[owner[pfn]] += 1
    assert {"free", "pagetable", "module", "vmalloc", "reserved"} <= seen.keys()
