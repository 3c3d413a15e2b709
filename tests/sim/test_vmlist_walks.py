"""get_vm_area's first fit and vfree's search follow vmlist as 2.4.20 does, node by node,
however corrupt the list in memory: the simulator's walks (their C form where it was
built, and their Python form) end as the kernel's loop written out plainly here does,
with a LoopGuard remembering every state, on lists of nodes anywhere (in one page of
the direct map, across a page boundary, in a page never written, past high_memory,
mapped or not), with any addr, size and next, cycles included.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmintro.sim.vmalloc as vmalloc_mod
from vmintro.accel import simspeedups
from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE, MachineConfig
from vmintro.sim.boot import Kernel, boot
from vmintro.sim.errors import LoopGuard, PageFault, SimulationError
from vmintro.sim.vmalloc import VMLIST_LOCK, Vmalloc

VM = "struct vm_struct"
MASK32 = 0xFFFFFFFF
FORMS = ["python", "c"]
# CI builds the C forms (VMINTRO_REQUIRE_SPEEDUPS): there their absence is a failure.
REQUIRED = bool(os.environ.get("VMINTRO_REQUIRE_SPEEDUPS")) and not os.environ.get(
    "VMINTRO_PURE_PYTHON"
)


def use_form(form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walks in their Python form, or in C (skipped where it was not built)."""
    if form == "c" and simspeedups is None:
        if REQUIRED:
            pytest.fail("VMINTRO_REQUIRE_SPEEDUPS is set but vmintro._simspeedups is not there")
        pytest.skip("vmintro._simspeedups was not built")
    monkeypatch.setattr(vmalloc_mod, "simspeedups", simspeedups if form == "c" else None)


def kernels_first_fit(vm: Vmalloc, size: int) -> tuple[int, int, int] | None:
    """mm/vmalloc.c's get_vm_area loop: (link, node, addr) of the fit, None for NULL."""
    k, cfg = vm.k, vm.k.config
    guard = LoopGuard("get_vm_area", "vmlist", VMLIST_LOCK, nodes=vm._nodes)
    addr = cfg.vmalloc_start
    p = vm.vmlist
    tmp = k.r32(p)
    while tmp:
        guard.visit(tmp, (tmp, addr))
        if size + addr > MASK32:
            return None
        tmp_addr, tmp_size = k.get(tmp, VM, "addr"), k.get(tmp, VM, "size")
        if size + addr <= tmp_addr:
            break
        addr = (tmp_size + tmp_addr) & MASK32
        if addr > cfg.vmalloc_end - size:
            return None
        p = tmp + vm.o_next
        tmp = k.r32(p)
    return p, tmp, addr


def kernels_find(vm: Vmalloc, addr: int) -> tuple[int, int]:
    """vfree's search: (link, node) of the node whose addr is ``addr``; node 0 if none."""
    for link, tmp in vm.links(LoopGuard("vfree", "vmlist", VMLIST_LOCK)):
        if not tmp or vm.k.get(tmp, VM, "addr") == addr:
            return link, tmp
    raise AssertionError("links ends with a NULL node")


def outcome(walk: Callable[..., object], *args: object) -> tuple[str, object]:
    """What a walk gave: its result, or the failure the kernel would report."""
    try:
        return ("returned", walk(*args))
    except SimulationError as e:  # a hang, or a fault on a pointer into nothing
        return (type(e).__name__, str(e))


def _places(k: Kernel, mapped: int) -> list[int]:
    """Where a node may lie: slab-like slots of one page, across a page boundary, a page
    never written, the direct map's last bytes, pages 256 and 512 frames on (where
    the C walk's cache of pages read puts the first page and the one never written
    too), a vmalloc page (mapped) and unmapped vmalloc space."""
    scratch = PAGE_OFFSET + (8 << 20)
    end = k.config.high_memory
    return [
        *(scratch + 32 * i for i in range(6)),
        scratch + 2 * PAGE_SIZE - 8,
        scratch + 4 * PAGE_SIZE,  # never written: reads as zeros
        end - 8,
        scratch + 256 * PAGE_SIZE + 64,
        scratch + 260 * PAGE_SIZE,
        scratch + 512 * PAGE_SIZE + 32,
        mapped + 64,
        mapped + 64 * PAGE_SIZE,
    ]


_WORDS = st.one_of(
    st.integers(0, MASK32),
    st.integers(0xC4800000, 0xC4900000),
    st.integers(MASK32 - 0x10000, MASK32),
    st.sampled_from([0, PAGE_SIZE, 2 * PAGE_SIZE]),
)


@pytest.mark.parametrize("form", FORMS)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_walks_follow_memory_as_the_kernel_does(
    form: str, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_form(form, monkeypatch)
    k = boot(MachineConfig(ram=16 << 20))
    vm = k.vmalloc
    mapped = vm.vmalloc(2 * PAGE_SIZE)
    assert mapped is not None
    places = _places(k, mapped)
    chosen = data.draw(st.lists(st.sampled_from(places[:-1]), min_size=1, max_size=8, unique=True))
    targets = [*chosen, places[-1], 0]
    for node in chosen:
        if node == places[7]:  # the page never written stays so
            continue
        fields = {"addr": data.draw(_WORDS), "size": data.draw(_WORDS)}
        fields["next"] = data.draw(st.sampled_from(targets))
        for name, value in fields.items():
            with contextlib.suppress(PageFault):  # the direct map's last node ends past it
                k.set(node, VM, name, value)
    k.w32(vm.vmlist, data.draw(st.sampled_from(chosen)))
    size = data.draw(st.one_of(st.integers(1, 64).map(lambda n: n * PAGE_SIZE), _WORDS))
    wanted = data.draw(st.one_of(_WORDS, st.sampled_from([k.get(n, VM, "addr") for n in chosen])))
    assert outcome(vm._first_fit, size) == outcome(kernels_first_fit, vm, size)
    assert outcome(vm._find, wanted) == outcome(kernels_find, vm, wanted)


@pytest.mark.parametrize("form", FORMS)
def test_a_node_met_again_with_another_candidate_is_no_loop(
    form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node whose next is itself and whose end wraps past 4 GiB to 0: the second
    time at it the candidate is 0, below the node, so the kernel's first fit takes
    it (only the pair of node and candidate coming back is a loop)."""
    use_form(form, monkeypatch)
    k = boot(MachineConfig(ram=16 << 20))
    vm = k.vmalloc
    node = _places(k, 0)[0]
    start = k.config.vmalloc_start
    k.set_many(node, VM, addr=start, size=(1 << 32) - start, next=node)
    k.w32(vm.vmlist, node)
    assert kernels_first_fit(vm, 2 * PAGE_SIZE) == (node + vm.o_next, node, 0)
    assert vm._first_fit(2 * PAGE_SIZE) == (node + vm.o_next, node, 0)
