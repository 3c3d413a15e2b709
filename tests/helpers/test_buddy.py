"""``vmintro.helpers.buddy``: zones and the buddy allocator's free lists against gdb's
own walk of them, and against what the truth says is allocated."""

from __future__ import annotations

from typing import Any

from helpers.kernels import Kernel
from vmintro.helpers import (
    MAX_ORDER,
    for_each_free_area,
    for_each_free_page,
    for_each_zone,
    page_count,
    pfn_to_page,
    zone_name,
)


def _gdb_blocks(facts: dict[str, Any], zone: dict[str, Any]) -> list[tuple[int, int]]:
    """(order, struct page address) of each free block gdb found in ``zone``, in list order."""
    return [
        (order, page)
        for order, free_list in enumerate(zone["free_lists"])
        for page in free_list["pages"]
    ]


def test_MAX_ORDER_is_the_kernels(facts: dict[str, Any]) -> None:  # noqa: N802
    # include/linux/mmzone.h: orders 0 to 9, the length of free_area[] as gdb reads it
    assert MAX_ORDER == 10
    assert all(len(z["free_lists"]) == MAX_ORDER for z in facts["zones"] if z["free_lists"])


def test_for_each_zone_and_zone_name(kernel: Kernel, facts: dict[str, Any]) -> None:
    zones = list(for_each_zone(kernel.prog))
    assert {z.type_.c_name for z in zones} == {"zone_t *"}
    assert [z.value_() for z in zones] == [z["address"] for z in facts["zones"]]
    assert [zone_name(z) for z in zones] == [z["name"] for z in facts["zones"]]
    assert [zone_name(z) for z in zones] == ["DMA", "Normal", "HighMem"]  # zone_names[]
    # empty zones are there too: HighMem has frames only on a machine of more than 896 MiB
    highmem = kernel.pages - kernel.lowmem_pfns
    assert [z.size.value_() for z in zones][2] == highmem == facts["zones"][2]["size"]


def test_for_each_free_area_walks_the_lists_gdb_walks(
    kernel: Kernel, facts: dict[str, Any]
) -> None:
    walked = 0
    for zone, theirs in zip(for_each_zone(kernel.prog), facts["zones"], strict=True):
        if theirs["free_lists"] is None:  # empty: its lists were never set up
            assert list(for_each_free_area(kernel.prog, zone)) == []
            continue
        ours = [(order, page.value_()) for order, page in for_each_free_area(kernel.prog, zone)]
        assert ours == _gdb_blocks(facts, theirs)
        assert {page.type_.c_name for _, page in for_each_free_area(kernel.prog, zone)} == {
            "struct page *"
        }
        walked += len(ours)
    assert walked > 20


def test_for_each_free_page(kernel: Kernel, facts: dict[str, Any]) -> None:
    expected = [
        (zone["address"], order, (page - facts["mem_map"]) // facts["sizeof_page"])
        for zone in facts["zones"]
        if zone["free_lists"] is not None
        for order, page in _gdb_blocks(facts, zone)
    ]
    ours = [(z.value_(), order, pfn) for z, order, pfn in for_each_free_page(kernel.prog)]
    assert ours == expected


def test_free_blocks_are_what_the_kernel_says_is_free(
    kernel: Kernel, facts: dict[str, Any]
) -> None:
    """Each zone's blocks add up to its ``free_pages``, lie inside it, aligned to their
    order, apart from each other and from every frame the truth gave an area."""
    prog = kernel.prog
    free: dict[int, int] = {}
    owner = {}
    addresses = [z["address"] for z in facts["zones"]]
    for zone, order, pfn in for_each_free_page(prog):
        free[zone.value_()] = free.get(zone.value_(), 0) + (1 << order)
        index = addresses.index(zone.value_())
        assert pfn % (1 << order) == 0
        assert kernel.zone_of(pfn) == kernel.zone_of(pfn + (1 << order) - 1) == index
        assert page_count(pfn_to_page(prog, pfn)) == 0  # __free_pages_ok: count fell to 0
        for frame in range(pfn, pfn + (1 << order)):
            assert frame not in owner, f"pfn {frame:#x} in two free blocks"
            owner[frame] = pfn
    assert free == {z["address"]: z["free_pages"] for z in facts["zones"] if z["size"]}
    for frame in kernel.area_frames():
        assert frame not in owner, f"pfn {frame:#x} backs an area but is free"
