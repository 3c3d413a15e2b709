"""do_munmap of 2.4.20 (mm/mmap.c: find_vma_prev, unmap_fixup, free_pgtables) and
sys_brk's shrinking through it, as the scenario ops ``munmap`` and ``brk`` with
``shrink``.

The oracles: the areas and page-table entries as the simulator's RAM holds them,
tests/sim/rawmem's reader of physical memory for the buddy free lists, and the
kernel's own rules (the list and the red-black tree agree, map_count counts them)."""

from __future__ import annotations

import pytest
from rawmem import Raw, check_buddy

from vmintro.scenario.loader import ScenarioError, parse_scenario
from vmintro.scenario.runner import machine_config, run_scenario, run_truth

PAGE = 4096
SPAN = 4 << 20  # PGDIR_SIZE without PAE
BIG = 0x50000000  # a 4 MiB-aligned hint above TASK_UNMAPPED_BASE's areas
SPAWN = 'op = "spawn"\nname = "hog"\nlabel = "hog"'


def _run(steps: list[str], machine: str = 'ram = "32M"\nseed = 5\n'):  # type: ignore[no-untyped-def]
    text = f'name = "m"\n[machine]\n{machine}' + "".join(f"[[step]]\n{s}\n" for s in steps)
    scen = parse_scenario(text, "m.toml")
    cfg, seed = machine_config(scen, {})
    return run_scenario(scen, cfg, seed)


def _state(k, pid: int) -> tuple[list[tuple[int, int]], dict[str, int]]:  # type: ignore[no-untyped-def]
    """(the areas on mm->mmap, the mm's counters), each area checked against the
    tree: find_vma of its start finds it."""
    vm = k.processes.vm
    mm = k.get(k.processes.task_of(pid), "struct task_struct", "mm")
    areas = []
    for vma in vm.mmap.vmas(mm):
        start, end = vm.mmap.get(vma, "vm_start"), vm.mmap.get(vma, "vm_end")
        k.set(mm, "struct mm_struct", "mmap_cache", 0)
        assert vm.mmap.find_vma(mm, start) == vma  # the rb tree holds it
        areas.append((start, end))
    counts = {f: k.get(mm, "struct mm_struct", f) for f in ("map_count", "total_vm", "rss")}
    return areas, counts


def _mapped(k, pid: int, addr: int) -> int | None:  # type: ignore[no-untyped-def]
    """The frame ``addr`` maps in ``pid``'s page tables, or None."""
    vm = k.processes.vm
    mm = k.get(k.processes.task_of(pid), "struct task_struct", "mm")
    pte = vm.mem.walk(mm, addr)
    if pte is None or not vm.mem.pt.get(pte) & 1:
        return None
    return vm.mem.pt.get(pte) >> 12


def test_a_hole_splits_the_area_and_frees_its_pages() -> None:
    before = [
        SPAWN,
        'op = "mmap"\ntask = "hog"\nsize = "16K"\nlabel = "buf"',
        'op = "touch"\ntask = "hog"\nlabel = "buf"\nsize = "16K"',
    ]
    r0 = _run(before)
    k0 = r0.kernel
    areas0, counts0 = _state(k0, 12)
    buf = run_truth(r0)["labels"]["buf"][1]
    frames = [_mapped(k0, 12, buf + i * PAGE) for i in range(4)]
    assert None not in frames
    hole = 'op = "munmap"\ntask = "hog"\nlabel = "buf"\noffset = "4K"\nsize = "8K"'
    result = _run([*before, hole])
    k = result.kernel
    areas, counts = _state(k, 12)
    assert (buf, buf + PAGE) in areas and (buf + 3 * PAGE, buf + 4 * PAGE) in areas
    assert (buf, buf + 4 * PAGE) in areas0 and len(areas) == len(areas0) + 1
    assert counts["map_count"] == counts0["map_count"] + 1 == len(areas)
    assert counts["total_vm"] == counts0["total_vm"] - 2
    assert counts["rss"] == counts0["rss"] - 2
    assert [_mapped(k, 12, buf + i * PAGE) for i in range(4)] == [
        frames[0],
        None,
        None,
        frames[3],
    ]
    free = set(check_buddy(Raw(k)))
    assert {frames[1], frames[2]} <= free and not {frames[0], frames[3]} & free
    event = run_truth(result)["events"][-1]
    assert event["op"] == "munmap" and event["result"] == 0 and not event["failed"]


def test_a_whole_span_unmapped_frees_its_page_tables() -> None:
    """free_pgtables: the page tables of the 4 MiB spans no area touches any more go
    back (clear_page_tables), the pgd entries with them."""
    steps = [
        SPAWN,
        f'op = "mmap"\ntask = "hog"\naddr = {BIG:#x}\nsize = "8M"\nlabel = "big"',
        'op = "touch"\ntask = "hog"\nlabel = "big"\nsize = "8M"\nwrite = false',
        'op = "touch"\ntask = "hog"\nlabel = "big"\noffset = "4M"\nsize = "4K"',
    ]
    k0 = _run(steps).kernel
    vm = k0.processes.vm
    mm = k0.get(k0.processes.task_of(12), "struct task_struct", "mm")
    tables = {k0.pa(vm.mem.walk(mm, BIG + i * SPAN)) // PAGE for i in range(2)}
    data = _mapped(k0, 12, BIG + SPAN)
    assert data is not None and len(tables) == 2
    result = _run([*steps, 'op = "munmap"\ntask = "hog"\nlabel = "big"\nsize = "8M"'])
    k = result.kernel
    free = set(check_buddy(Raw(k)))
    assert tables | {data} <= free
    vm = k.processes.vm
    pgd = k.get(mm, "struct mm_struct", "pgd")
    for i in range(2):  # pgd_clear: no page table covers the span any more
        assert vm.mem.walk(mm, BIG + i * SPAN) is None
        assert vm.mem.pt.get(pgd + ((BIG + i * SPAN) >> 22) * 4) == 0
    areas, counts = _state(k, 12)
    assert all(end <= BIG or start >= BIG + 2 * SPAN for start, end in areas)
    assert counts["map_count"] == len(areas)


@pytest.mark.parametrize("pae", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_span_an_area_still_touches_keeps_its_page_table(pae: bool) -> None:
    """Unmapping the first 4 MiB of 8: without PAE that span's page table goes and the
    next span's, which the rest of the area is in, stays; under PAE one pgd entry
    covers 1 GiB, which the rest of the area still touches, so neither goes."""
    machine = 'ram = "32M"\nseed = 5\n' + ("pae = true\n" if pae else "")
    steps = [
        SPAWN,
        f'op = "mmap"\ntask = "hog"\naddr = {BIG:#x}\nsize = "8M"\nlabel = "big"',
        'op = "touch"\ntask = "hog"\nlabel = "big"\nsize = "4K"',
        'op = "touch"\ntask = "hog"\nlabel = "big"\noffset = "4M"\nsize = "4K"',
    ]
    k0 = _run(steps, machine).kernel
    vm = k0.processes.vm
    mm = k0.get(k0.processes.task_of(12), "struct task_struct", "mm")
    first, second = (k0.pa(vm.mem.walk(mm, BIG + i * SPAN)) // PAGE for i in range(2))
    kept = _mapped(k0, 12, BIG + SPAN)
    k = _run([*steps, 'op = "munmap"\ntask = "hog"\nlabel = "big"\nsize = "4M"'], machine).kernel
    free = set(check_buddy(Raw(k)))
    assert (first in free) is not pae and second not in free
    assert _mapped(k, 12, BIG) is None and _mapped(k, 12, BIG + SPAN) == kept
    assert (k.processes.vm.mem.walk(mm, BIG) is None) is not pae


@pytest.mark.parametrize(
    ("addr", "size"),
    [("0x40000001", '"4K"'), ("0xbffff000", '"8K"'), ("0x40000000", "0")],
    ids=["unaligned", "past TASK_SIZE", "empty"],
)
def test_bad_arguments_are_einval_events_and_the_run_goes_on(addr: str, size: str) -> None:
    steps = [
        SPAWN,
        f'op = "munmap"\ntask = "hog"\naddr = {addr}\nsize = {size}',
        'op = "mmap"\ntask = "hog"\nsize = "4K"',
    ]
    events = run_truth(_run(steps))["events"]
    bad = next(e for e in events if e["op"] == "munmap")
    assert bad["result"] == -22 and bad["failed"]
    assert events[-1]["op"] == "mmap" and not events[-1]["failed"]


def test_brk_shrinks_through_do_munmap() -> None:
    steps = [
        SPAWN,
        'op = "brk"\ntask = "hog"\nsize = "64K"',
        'op = "touch"\ntask = "hog"\naddr = 0x805a000\nsize = "64K"',
    ]
    r0 = _run(steps)
    k0 = r0.kernel
    old_brk = run_truth(r0)["events"][-2]["brk"]
    areas0, counts0 = _state(k0, 12)
    result = _run([*steps, 'op = "brk"\ntask = "hog"\nsize = "60K"\nshrink = true'])
    event = run_truth(result)["events"][-1]
    assert event["old"] == old_brk and event["brk"] == old_brk - 60 * 1024
    areas, counts = _state(result.kernel, 12)

    def align(n: int) -> int:
        return (n + PAGE - 1) & ~(PAGE - 1)

    heap0 = next(a for a in areas0 if a[1] == align(old_brk))
    assert (heap0[0], align(old_brk - 60 * 1024)) in areas
    assert counts["total_vm"] == counts0["total_vm"] - 15
    assert counts["rss"] == counts0["rss"] - 15


def test_munmap_takes_one_of_addr_or_label() -> None:
    with pytest.raises(ScenarioError, match="exactly one of 'addr' or 'label'"):
        parse_scenario(
            f'name = "m"\n[[step]]\n{SPAWN}\n[[step]]\nop = "munmap"\npid = 12\nsize = 1',
            "m.toml",
        )
