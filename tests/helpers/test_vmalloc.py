"""``vmintro.helpers.vmalloc``: ``vmlist`` and vmalloc translation against the truth,
which records each area the simulator made and the frame it gave each page."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from helpers.kernels import PAGE_SIZE, Kernel
from vmintro.errors import FaultError
from vmintro.helpers import (
    VM_ALLOC,
    VM_IOREMAP,
    find_vm_area,
    for_each_vm_area,
    get_vm_area_size,
    is_vmalloc_addr,
    max_vm_areas,
    vm_area_nr_pages,
    vm_area_pages,
    vmalloc_area_pages,
    vmalloc_area_pfns,
    vmalloc_to_page,
    vmalloc_to_pfn,
    vmalloc_to_pfn_many,
)


def _areas(kernel: Kernel) -> list[dict[str, Any]]:
    """The truth's areas in address order, as ``vmlist`` keeps them, each with the
    frames behind its pages (``frames``: None for a page not mapped).

    The truth records the frame ``vmalloc`` gave each page; an ioremap area maps the
    device memory its scenario step named, page after page (the truth records no
    frames for it).
    """
    ioremaps = {e["addr"]: e["phys"] for e in kernel.truth["events"] if e["op"] == "ioremap"}
    areas = []
    for t in sorted(kernel.truth["areas"], key=lambda a: a["addr"]):
        frames = t["pages"]
        if t["flags"] == VM_IOREMAP:
            assert set(frames) == {None}
            first = ioremaps[t["addr"]] // PAGE_SIZE
            frames = [first + i for i in range(len(frames))]
        areas.append({**t, "frames": frames})
    assert len(areas) > 10
    return areas


def _pages(area: dict[str, Any]) -> list[tuple[int, int | None]]:
    """(virtual address, frame or None) of every page of an area but its guard page."""
    return [(area["addr"] + i * PAGE_SIZE, pfn) for i, pfn in enumerate(area["frames"])]


def test_vm_flags_are_the_kernels() -> None:
    # include/linux/vmalloc.h
    assert (VM_IOREMAP, VM_ALLOC) == (0x1, 0x2)


def test_for_each_vm_area(kernel: Kernel) -> None:
    got = list(for_each_vm_area(kernel.prog))
    assert {a.type_.c_name for a in got} == {"struct vm_struct *"}
    assert [(a.value_(), a.addr.value_(), a.size.value_(), a.flags.value_()) for a in got] == [
        (t["vm_struct"], t["addr"], t["size"], t["flags"]) for t in _areas(kernel)
    ]
    kinds = {t["flags"] for t in _areas(kernel)}
    assert kinds == {VM_ALLOC, VM_IOREMAP}  # the demo scenario has both
    ioremapped = {e["addr"] for e in kernel.truth["events"] if e["op"] == "ioremap"}
    for t in _areas(kernel):
        assert (t["flags"] == VM_IOREMAP) == (t["addr"] in ioremapped)


def test_max_vm_areas_bounds_the_vmalloc_range(kernel: Kernel) -> None:
    span = kernel.truth["vmalloc_end"] - kernel.truth["vmalloc_start"]
    # the smallest area is one page and its guard page
    assert max_vm_areas(kernel.prog) == span // (2 * PAGE_SIZE) + 1
    assert max_vm_areas(kernel.prog) > len(_areas(kernel))


def test_is_vmalloc_addr(kernel: Kernel) -> None:
    start, end = kernel.truth["vmalloc_start"], kernel.truth["vmalloc_end"]
    prog = kernel.prog
    assert is_vmalloc_addr(prog, start) and is_vmalloc_addr(prog, end - 1)
    assert not is_vmalloc_addr(prog, start - 1) and not is_vmalloc_addr(prog, end)
    assert not is_vmalloc_addr(prog, kernel.truth["page_offset"])
    assert all(is_vmalloc_addr(prog, t["addr"]) for t in _areas(kernel))


def test_find_vm_area(kernel: Kernel) -> None:
    prog = kernel.prog
    areas = _areas(kernel)
    for t in areas:
        first, last = t["addr"], t["addr"] + t["size"] - 1  # the guard page included
        for addr in (first, first + PAGE_SIZE // 2, last):
            found = find_vm_area(prog, addr)
            assert found is not None and found.value_() == t["vm_struct"], hex(addr)
    assert find_vm_area(prog, areas[0]["addr"] - 1) is None
    assert find_vm_area(prog, areas[-1]["addr"] + areas[-1]["size"]) is None
    gaps = [
        (a["addr"] + a["size"], b["addr"])
        for a, b in zip(areas, areas[1:], strict=False)
        if a["addr"] + a["size"] < b["addr"]
    ]
    assert gaps  # vfree'd areas leave holes
    for start, end in gaps:
        assert find_vm_area(prog, start) is None and find_vm_area(prog, end - 1) is None


def test_vmalloc_to_pfn_and_vmalloc_to_page(kernel: Kernel) -> None:
    prog = kernel.prog
    checked = 0
    for t in _areas(kernel):
        for va, pfn in _pages(t):
            if pfn is None:  # 2.4.20's vmalloc_to_page returns NULL: pte not present
                assert vmalloc_to_pfn(prog, va) is None and vmalloc_to_page(prog, va) is None
                continue
            assert vmalloc_to_pfn(prog, va + 0x7FF) == pfn, hex(va)
            checked += 1
            if t["flags"] == VM_ALLOC:
                page = vmalloc_to_page(prog, va)
                assert page.type_.c_name == "struct page *"
                assert page.value_() == kernel.page_address_of(pfn)
            else:  # device memory past the end of RAM: no struct page
                assert pfn >= kernel.pages
                with pytest.raises(FaultError, match="beyond max_mapnr: no struct page"):
                    vmalloc_to_page(prog, va)
        guard = t["addr"] + t["size"] - PAGE_SIZE  # never mapped: NULL, not an error
        assert vmalloc_to_pfn(prog, guard) is None and vmalloc_to_page(prog, guard) is None
        with pytest.raises(FaultError, match="page not present"):
            prog.translate(guard)  # the form that says why
    assert checked == sum(len(t["frames"]) for t in _areas(kernel))


def test_vmalloc_to_pfn_many(kernel: Kernel) -> None:
    addrs, expected = [], []
    for t in _areas(kernel):
        for va, pfn in _pages(t):
            addrs.append(va + 12)
            expected.append(-1 if pfn is None else pfn)
        addrs.append(t["addr"] + t["size"] - PAGE_SIZE)  # the guard page
        expected.append(-1)
    addrs.append(kernel.truth["vmalloc_end"] - 1)
    expected.append(-1)
    got = vmalloc_to_pfn_many(kernel.prog, np.array(addrs, dtype=np.int64))
    assert got.tolist() == expected


def test_area_sizes_and_page_counts(kernel: Kernel) -> None:
    prog = kernel.prog
    for area, t in zip(for_each_vm_area(prog), _areas(kernel), strict=True):
        assert get_vm_area_size(area) == t["size"] - PAGE_SIZE
        assert vm_area_nr_pages(prog, t["vm_struct"], t["addr"], t["size"]) == len(t["pages"])


def test_vm_area_pages_and_vmalloc_area_pages(kernel: Kernel) -> None:
    for area, t in zip(for_each_vm_area(kernel.prog), _areas(kernel), strict=True):
        assert list(vm_area_pages(area)) == _pages(t)
        assert vmalloc_area_pages(area) == t["frames"]


def test_vmalloc_area_pfns(kernel: Kernel) -> None:
    prog = kernel.prog
    areas = list(for_each_vm_area(prog))
    truth = _areas(kernel)

    def frames(ts: list[dict[str, Any]]) -> list[int]:
        return [-1 if pfn is None else pfn for t in ts for pfn in t["frames"]]

    assert vmalloc_area_pfns(prog).tolist() == frames(truth)
    assert vmalloc_area_pfns(prog, areas).tolist() == frames(truth)
    assert vmalloc_area_pfns(prog, [areas[3], areas[1]]).tolist() == frames([truth[3], truth[1]])
    assert vmalloc_area_pfns(prog, []).tolist() == []
    with pytest.raises(TypeError, match=r"not one struct vm_struct \*: for one area, pass"):
        vmalloc_area_pfns(prog, areas[0])
