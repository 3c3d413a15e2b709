"""``meminfo`` against the ground truth: the boot log's totals, swap, the vmalloc range."""

from __future__ import annotations

from typing import Any

from pluginkit import Image, WideShorts, plugin_module


def fields(image: Image) -> dict[str, int]:
    return {r["field"]: r["kb"] for r in image.rows("meminfo")}


def vmalloc_expected(truth: dict[str, Any]) -> tuple[int, int, int]:
    """(VmallocTotal, VmallocUsed, VmallocChunk) in kB, from the truth's areas."""
    areas = sorted(truth["areas"], key=lambda a: a["addr"])
    edges = [truth["vmalloc_start"]]
    for a in areas:
        edges += [a["addr"], a["addr"] + a["size"]]
    edges.append(truth["vmalloc_end"])
    gaps = [edges[i + 1] - edges[i] for i in range(0, len(edges), 2)]
    total = truth["vmalloc_end"] - truth["vmalloc_start"]
    return total >> 10, sum(a["size"] for a in areas) >> 10, max(gaps) >> 10


def test_fields_in_proc_meminfo_order(demo: Image) -> None:
    names = [line.split(":")[0] for line in demo.text("meminfo").splitlines()]
    assert names == [
        "MemTotal", "MemFree", "HighTotal", "HighFree", "LowTotal", "LowFree",
        "SwapTotal", "SwapFree", "VmallocTotal", "VmallocUsed", "VmallocChunk",
    ]  # fmt: skip
    # fs/proc/proc_misc.c: "MemTotal:     %8lu kB\n", totalram_pages as mem_init logged it
    [total] = demo.log_kb(r"Memory: (\d+)k/")
    assert f"MemTotal:     {total:8d} kB" in demo.text("meminfo").splitlines()


def test_memory_totals_match_the_boot_log(image: Image) -> None:
    # mem_init: "Memory: <free>k/<max_mapnr>k available (... <highmem>k highmem)"; the
    # pages it counts free then are totalram_pages.
    [total] = image.log_kb(r"Memory: (\d+)k/")
    [high] = image.log_kb(r"[( ](\d+)k highmem\)")
    got = fields(image)
    assert got["MemTotal"] == total
    assert got["HighTotal"] == high
    assert got["LowTotal"] == total - high
    config = image.truth["config"]
    assert (high > 0) == (config["highmem"] and config["ram"] > 896 << 20)


def test_free_memory_is_what_the_buddy_lists_hold(image: Image) -> None:
    got = fields(image)
    [summary] = [p for p in image.json("kmem -f").values() if p["name"] == "nr_free_pages"]
    assert summary["data"]["verified"]
    assert got["MemFree"] == summary["data"]["nr_free_pages"] * 4
    zones = {r["zone"]: r["pages"] for r in image.rows("buddyinfo")}
    assert got["HighFree"] == zones.get("HighMem", 0) * 4
    assert got["LowFree"] + got["HighFree"] == got["MemFree"] < got["MemTotal"]


def test_swap_totals_are_the_areas_still_on(image: Image) -> None:
    added = image.log_kb(r"Adding Swap: (\d+)k")
    swapped_off = [  # swapon events name the index; a later swapoff removes one
        e for e in image.truth["events"] if e["op"] == "swapoff"
    ]
    got = fields(image)
    if image.path.name == "demo":
        assert not swapped_off
        assert got["SwapTotal"] == got["SwapFree"] == sum(added) == 131064
    else:  # 128M, 64M (swapped off), 32M; each loses its header page
        assert len(swapped_off) == 1
        assert added == [131064, 65528, 32760]
        assert got["SwapTotal"] == got["SwapFree"] == 131064 + 32760


def test_vmalloc_lines_follow_2_6(image: Image) -> None:
    total, used, chunk = vmalloc_expected(image.truth)
    got = fields(image)
    assert (got["VmallocTotal"], got["VmallocUsed"], got["VmallocChunk"]) == (total, used, chunk)


def test_swap_map_entry_size_comes_from_the_types(demo: Image) -> None:
    info = demo.prog["swap_info"][0]
    wide = WideShorts(demo.prog)
    plugin_module("meminfo").swap_map_in_use(wide, info)
    assert wide.reads == [4 * info.max.value_()]
