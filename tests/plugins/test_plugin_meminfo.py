"""``meminfo`` against the ground truth: 2.4.20's lines, the boot log's totals, swap."""

from __future__ import annotations

from pluginkit import Image, WideShorts, plugin_module


def fields(image: Image) -> dict[str, int]:
    return {r["field"]: r["kb"] for r in image.json("meminfo")["meminfo"]["rows"]}


def test_lines_as_2_4_20_prints_them(demo: Image) -> None:
    """fs/proc/proc_misc.c's meminfo_read_proc: the byte table, then the tagged lines;
    nothing of 2.6's (no Vmalloc lines)."""
    lines = demo.text("meminfo").splitlines()
    assert lines[0] == "        total:    used:    free:  shared: buffers:  cached:"
    assert lines[1].startswith("Mem:  ") and lines[2].startswith("Swap: ")
    assert [line.split(":")[0] for line in lines[3:]] == [
        "MemTotal", "MemFree", "MemShared", "Buffers", "Cached", "SwapCached", "Active",
        "Inactive", "HighTotal", "HighFree", "LowTotal", "LowFree", "SwapTotal", "SwapFree",
    ]  # fmt: skip
    # "MemTotal:     %8lu kB\n", totalram_pages: mem_init's count and free_initmem's
    [total] = demo.log_kb(r"Memory: (\d+)k/")
    total += sum(demo.log_kb(r"Freeing unused kernel memory: (\d+)k freed"))
    assert f"MemTotal:     {total:8d} kB" in lines
    # "Mem:  %8Lu ...": B(totalram) and the columns after it, in bytes
    mem = [int(x) for x in lines[1].split()[1:]]
    got = fields(demo)
    assert mem[0] == total << 10 and mem[2] == got["MemFree"] << 10 == mem[0] - mem[1]
    swap = [int(x) for x in lines[2].split()[1:]]
    total_kb, free_kb = got["SwapTotal"], got["SwapFree"]
    assert swap == [total_kb << 10, (total_kb - free_kb) << 10, free_kb << 10]


def test_page_cache_lines(image: Image) -> None:
    """Cached is page_cache_size less buffers and the swap cache, Active/Inactive the LRU
    counts: in pages, times 4 kB."""
    got = fields(image)
    prog = image.prog

    def pages(name: str, member: str = "") -> int:
        try:  # an image from before the simulator kept the counter has none: 0
            obj = prog[name]
        except LookupError:
            return 0
        return (getattr(obj, member) if member else obj).value_()

    cache, buffers = pages("page_cache_size", "counter"), pages("buffermem_pages", "counter")
    assert got["Buffers"] == buffers * 4 and got["MemShared"] == 0
    assert got["Cached"] == (cache - buffers - pages("swapper_space", "nrpages")) * 4
    assert got["Active"] == pages("nr_active_pages") * 4
    assert got["Inactive"] == pages("nr_inactive_pages") * 4
    if image.path.name != "demo":  # a fresh image: its page cache, as the truth counts it
        assert got["Cached"] > 0


def test_memory_totals_match_the_boot_log(image: Image) -> None:
    # mem_init: "Memory: <free>k/<max_mapnr>k available (... <highmem>k highmem)"; the
    # pages it counts free then are totalram_pages.
    # free_initmem then adds the init pages it frees to totalram_pages
    [total] = image.log_kb(r"Memory: (\d+)k/")
    total += sum(image.log_kb(r"Freeing unused kernel memory: (\d+)k freed"))
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


def test_swap_map_entry_size_comes_from_the_types(demo: Image) -> None:
    info = demo.prog["swap_info"][0]
    wide = WideShorts(demo.prog)
    plugin_module("meminfo").swap_map_in_use(wide, info)
    assert wide.reads == [4 * info.max.value_()]
