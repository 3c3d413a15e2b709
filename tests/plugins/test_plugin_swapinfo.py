"""``swapinfo`` against the ground truth: the areas swapon made, and their vmalloc'ed maps."""

from __future__ import annotations

from typing import Any

from pluginkit import Image, WideShorts, plugin_module

PAGE = 4096


def area_owned_by(truth: dict[str, Any], owner: str) -> dict[str, Any]:
    [area] = [a for a in truth["areas"] if a["owner"] == owner]
    return area


# (index, device, prio, size in bytes) of the areas still on, from the scenarios
EXPECTED = {
    "demo": [(0, "3:2", -1, 128 << 20)],
    "highmem": [(0, "3:2", -1, 128 << 20), (2, "8:5", -2, 32 << 20)],
}


def test_areas_and_their_swap_maps(image: Image) -> None:
    rows = image.rows("swapinfo")
    assert [(r["index"], r["device"], r["prio"]) for r in rows] == [
        e[:3] for e in EXPECTED[image.path.name]
    ]
    on = {e["index"] for e in image.truth["events"] if e["op"] == "swapon"}
    for row, (_, _, _, size) in zip(rows, EXPECTED[image.path.name], strict=True):
        assert row["index"] in on
        pages = size // PAGE
        assert row["flag_names"] == ["SWP_USED", "SWP_WRITEOK"] and row["flags"] == 3
        # mkswap's last_page is pages - 1; slot 0 (the header) is marked bad
        assert (row["max"], row["pages"]) == (pages - 1, pages - 2)
        assert (row["lowest_bit"], row["highest_bit"]) == (1, pages - 2)
        assert (row["used"], row["bad"]) == (0, 1)
        area = area_owned_by(image.truth, f"swap_map of swap_info[{row['index']}]")
        assert row["swap_map"] == row["area"] == area["addr"]
        assert row["area_size"] == area["size"]
        assert row["map_size"] == 2 * row["max"]
        assert area["size"] == -(-row["map_size"] // PAGE) * PAGE + PAGE  # pages + guard


def test_pages_match_the_adding_swap_lines(image: Image) -> None:
    added = image.log_kb(r"Adding Swap: (\d+)k")
    for row in image.rows("swapinfo"):
        assert row["pages"] * 4 in added


def test_swap_list_and_counters(image: Image) -> None:
    data = image.json("swapinfo")["swap_list"]["data"]
    pages = sum(r["pages"] for r in image.rows("swapinfo"))
    assert data["total_swap_pages"] == data["nr_swap_pages"] == pages
    assert data["head"] == 0  # the highest priority left: -1
    assert data["nr_swapfiles"] == (1 if image.path.name == "demo" else 3)


def test_text_layout(demo: Image) -> None:
    lines = demo.text("swapinfo").splitlines()
    assert lines[0].split() == [
        "IDX", "DEVICE", "FLAGS", "PRIO", "PAGES", "MAX", "LOWEST", "HIGHEST", "USED", "BAD",
        "SWAP_MAP", "MAP_SIZE", "VM_AREA", "AREA_SIZE",
    ]  # fmt: skip
    assert lines[1].split() == [
        "0", "3:2", "used|writeok", "-1", "32766", "32767", "1", "32766", "0", "1",
        "c4800000", "65534", "c4800000", "69632",
    ]  # fmt: skip
    assert lines[-1].startswith("swap_list: head 0, next 0")


def test_swap_map_entry_size_comes_from_the_types(demo: Image) -> None:
    wide = WideShorts(demo.prog)
    [row] = plugin_module("swapinfo").swap_rows(wide)
    assert row["map_size"] == 4 * row["max"]
    assert wide.reads == [4 * row["max"]]
