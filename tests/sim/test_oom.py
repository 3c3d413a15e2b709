"""``__alloc_pages`` out of memory as 2.4.20 runs it: reclaim (``kmem_cache_reap`` of
free slabs), the OOM killer (``out_of_memory``/``select_bad_process``/``badness``),
the loop for order <= 3, NULL above; with nothing to kill, ``panic``."""

from __future__ import annotations

import pytest
from rawmem import PG_SLAB, Z_FREE_PAGES, Raw, check_buddy, machine

from vmintro.arch.x86 import MachineConfig
from vmintro.sim.boot import boot
from vmintro.sim.errors import KernelHang, KernelPanic
from vmintro.sim.oom import NO_KILLABLE, badness, int_sqrt
from vmintro.sim.swap import swapon

GFP_KERNEL = 0x1F0
GFP_ATOMIC = 0x20
Z_PAGES_MIN = 0x4


def _drain(k, r) -> list[int]:
    """GFP_KERNEL pages taken until neither watermark pass gives one more."""
    dma = r.zone(0)
    taken = []
    while r.u32(dma + Z_FREE_PAGES) > 1 + r.u32(dma + Z_PAGES_MIN):
        taken.append(k.buddy.alloc_pages(GFP_KERNEL, 0))
    return taken


def test_int_sqrt():
    # oom_kill.c's rough root: x >> 2 per halving, then 3/4 of it; never 0
    assert [int_sqrt(x) for x in (0, 1, 3, 4, 16, 100, 1 << 20)] == [1, 1, 1, 2, 3, 9, 768]


def test_atomic_allocation_gets_null_without_reclaim():
    k = machine(16)
    r = Raw(k)
    _drain(k, r)
    slabs = {p for p in range(4096) if r.flags(p) & PG_SLAB}
    fp = r.u32(r.zone(0) + Z_FREE_PAGES)
    while r.u32(r.zone(0) + Z_FREE_PAGES) > 1 + r.u32(r.zone(0) + Z_PAGES_MIN) // 4:
        assert k.buddy.alloc_pages(GFP_ATOMIC, 0) is not None  # min/4 without __GFP_WAIT
    assert k.buddy.alloc_pages(GFP_ATOMIC, 0) is None
    assert {p for p in range(4096) if r.flags(p) & PG_SLAB} == slabs  # nothing reaped
    assert r.u32(r.zone(0) + Z_FREE_PAGES) < fp


def test_reclaim_reaps_free_slabs_before_the_killer():
    """kmem_cache_reap frees half the free slabs of the best cache per call; the pages
    go back to the free lists, where the third pass finds them."""
    k = machine(16)
    r = Raw(k)
    objs = [k.slab.kmalloc(2048) for _ in range(40)]  # size-2048: 2 per page, 20 slabs
    for obj in objs:
        k.slab.kfree(obj)  # all 20 slabs free, left on slabs_free
    _drain(k, r)
    slabs = {p for p in range(4096) if r.flags(p) & PG_SLAB}
    page = k.buddy.alloc_pages(GFP_KERNEL, 0)
    assert page is not None  # from a reaped slab: no OOM
    reaped = slabs - {p for p in range(4096) if r.flags(p) & PG_SLAB}
    assert reaped and r.pfn_of_page(page) in reaped
    check_buddy(r)


def test_out_of_memory_with_nothing_to_kill_panics():
    """No swap, no process but the idle task (pid 0, never chosen): oom_kill panics.
    The vmalloc in progress leaves its area on vmlist and the pages it had mapped."""
    k = machine(16)
    r = Raw(k)
    with pytest.raises(KernelPanic, match="Out of memory and no killable processes"):
        k.vmalloc.vmalloc(4000 * 4096)  # <= num_physpages: no BUG, more than is free
    assert k.log[-3:] == [
        "Kernel panic: " + NO_KILLABLE,
        "",  # panic's "%s\n" after the message's own "\n"
        "In idle task - not syncing",
    ]
    [(_, _, addr, size)] = r.vmlist()
    assert size == 4001 * 4096 and len(k.vmalloc.frames) > 3000
    assert all(a - addr < size for a in k.vmalloc.frames)
    check_buddy(r)


def test_out_of_memory_with_swap_left_hangs():
    """nr_swap_pages > 0: out_of_memory() is not OOM and kills nothing; with nothing
    to swap out either, __alloc_pages loops at rebalance for ever."""
    k = machine(16)
    r = Raw(k)
    assert swapon(k, 0x0302, 100) == 0
    _drain(k, r)
    with pytest.raises(KernelHang, match="loop at rebalance"):
        while True:
            k.buddy.alloc_pages(GFP_KERNEL, 0)
    assert not any(line.startswith("Kernel panic") for line in k.log)


def test_big_orders_get_null():
    """order > 3: one round of reclaim, then NULL: no loop, no kill."""
    k = machine(16)
    r = Raw(k)
    _drain(k, r)
    log = list(k.log)
    assert k.buddy.alloc_pages(GFP_KERNEL, 4) is None
    assert k.log == log


def test_badness_of_the_idle_task_is_zero():
    k = machine(16)
    assert badness(k, k.sym("init_task_union")) == 0  # no mm


def test_clean_page_cache_is_reclaimed_before_the_killer():
    """shrink_cache takes clean page-cache pages off the inactive list (rotating the
    ones it cannot take), out of the page cache, and frees them: allocations past
    pages_min go on while the cache shrinks, and nobody is killed."""
    k = boot(MachineConfig(ram=16 << 20), page_cache=0.5, seed=1)
    r = Raw(k)
    cache = k.sym("page_cache_size")
    before, inactive = r.u32(cache), r.u32(k.sym("nr_inactive_pages"))
    assert before > 1000 and inactive
    taken = _drain(k, r)
    for _ in range(200):
        taken.append(k.buddy.alloc_pages(GFP_KERNEL, 0))
    assert all(taken)
    after = r.u32(cache)
    assert after <= before - 200
    assert r.u32(k.sym("nr_inactive_pages")) == len(r.list_nodes(k.sym("inactive_list")))
    assert not any("Out of Memory" in line or "panic" in line for line in k.log)
    check_buddy(r)


def test_the_killer_takes_the_process_of_most_badness():
    """Two processes with memory mapped: badness is total_vm, divided by 4 for root and
    by 4 again for CAP_SYS_RAWIO (both hold for these); the bigger one gets the
    kernel's message, PF_MEMDIE and its signal, exits in the loop's yield(), and the
    allocation goes on with what it gave back."""
    k = machine(16)
    r = Raw(k)
    procs = k.processes
    big, small = procs.spawn("bigapp"), procs.spawn("small")
    for pid, pages in ((big, 500), (small, 100)):
        mm = k.get(procs.task_of(pid), "struct task_struct", "mm")
        k.set(mm, "struct mm_struct", "total_vm", pages)  # as if it had mapped that much
    assert [badness(k, procs.task_of(p)) for p in (big, small)] == [500 // 16, 100 // 16]
    _drain(k, r)
    page = k.buddy.alloc_pages(GFP_KERNEL, 0)
    assert page is not None
    assert f"Out of Memory: Killed process {big} (bigapp)." in k.log
    alive = [t.pid for t in procs.tasks()]
    assert small in alive and big not in alive
    check_buddy(r)
