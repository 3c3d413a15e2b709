"""Determinism of whole scenarios, and invariants under random vmalloc/ioremap/kmalloc traffic."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawmem import (
    KC_NAME,
    KC_OBJSIZE,
    PAGE_LIST,
    PG_SLAB,
    VM_ALLOC,
    VM_IOREMAP,
    Raw,
    check_buddy,
    check_vmlist,
    machine,
    ram_but_log,
    ram_snapshot,
)

from vmintro.scenario.loader import load_scenario
from vmintro.scenario.runner import machine_config, run_scenario
from vmintro.sim.errors import KernelBug, KernelPanic
from vmintro.sim.oom import NO_KILLABLE

# -- determinism --------------------------------------------------------------------------------


def _run(name, **overrides):
    scen = load_scenario(name)
    cfg, seed = machine_config(scen, overrides)
    return run_scenario(scen, cfg, seed).kernel


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("demo", {}),
        ("busy", {"ram": 32 << 20, "seed": 5}),
        ("minimal", {"ram": 48 << 20, "highmem": True, "pae": True}),
    ],
)
def test_same_scenario_same_ram(name, overrides):
    a, b = _run(name, **overrides), _run(name, **overrides)
    assert a.mem.stored_pfns() == b.mem.stored_pfns()
    assert ram_snapshot(a) == ram_snapshot(b)
    assert a.log == b.log
    r = Raw(a)
    check_buddy(r)
    check_vmlist(r)
    _check_frames(r)


def test_seed_matters():
    a, b = _run("busy", ram=32 << 20, seed=1), _run("busy", ram=32 << 20, seed=2)
    assert ram_snapshot(a) != ram_snapshot(b)


# -- property test ------------------------------------------------------------------------------


def _check_frames(r):
    """Every recorded vmalloc frame is what the page tables say; every VM_ALLOC page is mapped."""
    frames = r.k.vmalloc.frames
    mapped = {}
    for _, flags, addr, size in r.vmlist():
        if flags != VM_ALLOC:
            continue
        for va in range(addr, addr + size - 4096, 4096):
            pte = r.pte(va)
            assert pte is not None and pte & 0xFFF == 0x163, f"{va:#x}: PTE {pte}"
            mapped[va] = r.pte_pfn(pte)
    assert frames == mapped
    pfns = list(frames.values())
    assert len(set(pfns)) == len(pfns), "a frame is mapped twice"
    for pfn in pfns:
        assert r.count(pfn) == 1
        assert not r.flags(pfn) & 0x4100  # neither reserved nor slab


MACHINES = [
    dict(ram_mib=16),
    dict(ram_mib=24, pse=False),
    dict(ram_mib=32, highmem=True),
    dict(ram_mib=48, pae=True),
]

op = st.one_of(
    st.tuples(
        st.just("vmalloc"),
        st.sampled_from(["vmalloc", "vmalloc_32", "vmalloc_dma"]),
        st.one_of(st.integers(1, 40), st.sampled_from([1024, 1500, 5000])),
    ),
    st.tuples(st.just("vfree"), st.integers(0, 1 << 16)),
    st.tuples(st.just("ioremap"), st.integers(0, 255), st.integers(1, 2 << 12), st.booleans()),
    st.tuples(st.just("iounmap"), st.integers(0, 1 << 16)),
    st.tuples(st.just("kmalloc"), st.sampled_from([1, 16, 32, 33, 100, 200, 700, 3000, 9000])),
    st.tuples(st.just("kfree"), st.integers(0, 1 << 16)),
    st.tuples(st.just("bogus_vfree"), st.integers(1, 1 << 20)),
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(which=st.integers(0, len(MACHINES) - 1), ops=st.lists(op, min_size=8, max_size=40))
def test_random_traffic_keeps_invariants(which, ops):
    k = machine(**MACHINES[which])
    r = Raw(k)
    vm = k.vmalloc
    areas: list[int] = []
    ios: list[tuple[int, int, int, int]] = []  # (returned addr, phys, bytes, prot)
    objs: list[tuple[int, int]] = []
    for step in ops:
        kind = step[0]
        if kind == "vmalloc":
            fn = getattr(vm, step[1])
            npages = step[2]
            if npages > k.config.num_physpages:
                continue  # 2.4.20 would BUG(); covered elsewhere
            try:
                addr = fn(npages * 4096)
            except KernelPanic:  # out of memory, no swap, no process to kill: it stops
                assert "Kernel panic: " + NO_KILLABLE in k.log
                check_buddy(r)
                return
            if addr is not None:
                areas.append(addr)
                pfns = [vm.frames[addr + 4096 * i] for i in range(npages)]
                zones = {r.flags(p) >> 24 for p in pfns}
                if step[1] == "vmalloc_dma":
                    assert zones == {0}
                elif step[1] == "vmalloc_32":
                    assert 2 not in zones
        elif kind == "vfree" and areas:
            assert vm.vfree(areas.pop(step[1] % len(areas)))
        elif kind == "ioremap":
            phys = 0xE0000000 + step[1] * 0x10000 + (step[2] & 0xFFF)
            prot = 0x073 if step[3] else 0x063
            try:
                remap = vm.ioremap_nocache if prot & 0x10 else vm.ioremap
                addr = remap(phys, step[2])
            except KernelBug:  # remap_area_pages: size rounds to 0
                assert (phys + step[2] - 1) & 0xFFF == 0
                continue
            if addr is not None:
                ios.append((addr, phys, step[2], prot))
        elif kind == "iounmap" and ios:
            addr = ios.pop(step[1] % len(ios))[0]
            vm.iounmap(addr)
        elif kind == "kmalloc":
            obj = k.slab.kmalloc(step[1])
            if obj is not None:
                objs.append((obj, step[1]))
        elif kind == "kfree" and objs:
            k.slab.kfree(objs.pop(step[1] % len(objs))[0])
        elif kind == "bogus_vfree":
            base = areas[0] if areas else k.config.vmalloc_start
            target = base + step[1]
            if target in areas or any(target == a & ~0xFFF for a, *_ in ios):
                continue
            before = ram_but_log(k)
            assert not vm.vfree(target)
            assert ram_but_log(k) == before
    check_buddy(r)
    listed = check_vmlist(r)
    assert sorted(a for _, f, a, _ in listed if f == VM_ALLOC) == sorted(areas)
    assert sorted(a for _, f, a, _ in listed if f == VM_IOREMAP) == sorted(
        a & ~0xFFF for a, *_ in ios
    )
    _check_frames(r)
    for addr, phys, size, prot in ios:
        first = addr & ~0xFFF
        last = phys + size - 1  # 2.4.20 maps PAGE_ALIGN(last_addr) - (phys & PAGE_MASK)
        npages = (((last + 0xFFF) & ~0xFFF) - (phys & ~0xFFF)) >> 12
        for i in range(npages):
            assert r.pte(first + 4096 * i) == (((phys >> 12) + i) << 12) | prot
        assert r.translate(addr) == (phys if npages else None)
    for obj, size in objs:
        pfn = r.lowmem_pfn(obj)
        assert r.flags(pfn) & PG_SLAB
        cache = r.u32(r.page(pfn) + PAGE_LIST)
        assert r.u32(cache + KC_OBJSIZE) >= size
        assert r.cstr(cache + KC_NAME, 20).startswith("size-")
