"""Faults for post-mortem exercises, injected the way a real kernel bug would leave memory.

Each injector runs kernel code paths where the bug would (a module unload that
forgets ``vfree``, a ``vfree`` that frees frames but leaves their PTEs) or
scribbles over a kernel structure as a stray write would. Each returns what it
did and where, for the ground truth; the simulator never reads that back.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.sim.boot import Kernel
from vmintro.sim.errors import KernelOops, LoopGuard, SimulationError, kernel_function
from vmintro.sim.module import (
    _get_mod_name,
    find_module,
    insmod,
    module_cleanup,
    sys_create_module,
    sys_init_module,
    unlink_module,
)
from vmintro.sim.paging import KernelPageTables
from vmintro.sim.vmalloc import VMLIST_LOCK
from vmintro.types.flags import GFP_HIGHMEM, GFP_KERNEL, PG_reserved

__all__ = ["FAULTS", "FAULT_CALLS", "inject_fault", "run_fault"]

VM = "struct vm_struct"
MOD = "struct module"
Fault = dict[str, Any]


def _pte_of(k: Kernel, vaddr: int) -> int:
    """Kernel virtual address of the PTE for ``vaddr``, allocating its pte page if needed."""
    pt = KernelPageTables(k)
    pmd = pt.pmd_offset(pt.pgd_offset_k(vaddr), vaddr)
    pte = pt.pte_alloc(k.buddy, pmd, vaddr)
    if pte is None:
        raise SimulationError("out of memory while injecting a fault")
    return pte


def _new_area(k: Kernel, pages: int, owner: str) -> tuple[int, int]:
    """A fresh vmalloc area of ``pages`` pages: (vm_struct, addr)."""
    vm = k.vmalloc
    addr = vm.vmalloc(pages * PAGE_SIZE, owner=owner)
    if addr is None:
        raise SimulationError("out of memory while injecting a fault")
    return int(vm.records[addr]["vm_struct"]), addr


def _alloc_areas(k: Kernel, rng: random.Random, count: int) -> list[tuple[int, int]]:
    return [_new_area(k, rng.randint(1, 4), "fault victim") for _ in range(count)]


def vmalloc_leak(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A module unload that unlinks the module but never calls ``module_unmap``; with
    ``buffer`` (an address), its cleanup runs first, as ``free_module``'s does, and
    frees the buffer its driver held with ``vfree``."""
    name = args.get("target") or f"leaky{rng.randint(0, 99)}"
    mod = find_module(k, name) or insmod(k, name, rng.randint(4000, 30000), rng)
    if "buffer" in args:
        module_cleanup(k, mod, args["buffer"])
        unlink_module(k, mod)
    else:  # nothing between: the flags after the unlink, as the images of it were made
        unlink_module(k, mod)
        module_cleanup(k, mod)
    return {"module": name, "addr": mod, "size": k.get(mod, MOD, "size")}


def use_after_vfree(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A ``vfree`` that unlinks the area and frees its frames but leaves the PTEs."""
    vm = k.vmalloc
    struct_addr, addr = _new_area(k, rng.randint(1, 4), "use-after-vfree victim")
    size = k.get(struct_addr, VM, "size")
    ptes = []
    for va in range(addr, addr + size - PAGE_SIZE, PAGE_SIZE):
        pte = _pte_of(k, va)
        pfn = vm.frames.pop(va)
        ptes.append({"vaddr": va, "pte": pte, "pfn": pfn})
        k.buddy.free_pages(k.page_addr(pfn), 0)
    walk = vm.links(LoopGuard("vfree", "vmlist", VMLIST_LOCK))
    link = next(p for p, tmp in walk if tmp == struct_addr)  # it was just linked: it is there
    k.w32(link, k.get(struct_addr, VM, "next"))
    k.slab.kfree(struct_addr)
    vm.records.pop(addr, None)
    return {"addr": addr, "size": size, "vm_struct": struct_addr, "ptes": ptes}


def double_free(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A frame of a live area freed a second time: on a free list while still mapped."""
    _, addr = _new_area(k, rng.randint(2, 4), "double-free victim")
    va = addr + PAGE_SIZE * rng.randint(0, 1)
    pfn = k.vmalloc.frames[va]
    k.buddy.free_pages(k.page_addr(pfn), 0)
    return {"addr": va, "pfn": pfn, "pte": _pte_of(k, va)}


def _areas(k: Kernel, need: int, rng: random.Random) -> list[tuple[int, int, int, int]]:
    areas = k.vmalloc.areas()
    if len(areas) < need:
        _alloc_areas(k, rng, need - len(areas))
        areas = k.vmalloc.areas()
    return areas


def vmlist_cycle(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """The last ``vm_struct``'s ``next`` points back at an earlier one."""
    areas = _areas(k, 3, rng)
    holder = areas[-1][0]
    target = areas[rng.randrange(len(areas) - 1)][0]
    k.set(holder, VM, "next", target)
    return {"vm_struct": holder, "next": target}


def wild_next(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A ``vm_struct`` whose ``next`` points outside RAM (a stray write)."""
    areas = _areas(k, 2, rng)
    holder = areas[rng.randrange(len(areas))][0]
    wild = PAGE_OFFSET + k.config.max_low_pfn * PAGE_SIZE + rng.randrange(1, 1 << 20) * 16
    wild &= 0xFFFFFFF0
    k.set(holder, VM, "next", wild)
    return {"vm_struct": holder, "next": wild}


def overlap(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """Two areas overlap: a ``vm_struct``'s ``addr`` moved back into its predecessor's range."""
    _new_area(k, 2, "overlap second")
    areas = k.vmalloc.areas()
    i = rng.randrange(1, len(areas)) if len(areas) > 1 else None
    if i is None:
        raise SimulationError("overlap needs two areas")
    prev_struct, prev_addr, prev_size, _ = areas[i - 1]
    second, second_addr, _, _ = areas[i]
    new_addr = prev_addr + max(PAGE_SIZE, prev_size - 2 * PAGE_SIZE)
    k.set(second, VM, "addr", new_addr)
    k.vmalloc.records[new_addr] = k.vmalloc.records.pop(second_addr)
    # the truth's pages of an area are read at its (now wrong) addr: its own are here
    size = k.get(second, VM, "size")
    frames = k.vmalloc.frames
    pages = [frames.get(va) for va in range(second_addr, second_addr + size - PAGE_SIZE, PAGE_SIZE)]
    return {
        "vm_struct": second,
        "addr": new_addr,
        "overlaps": prev_struct,
        "was": second_addr,
        "pages": pages,
    }


def missing_guard(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """An area whose guard page got a PTE, as if ``size`` had been mapped guard included."""
    struct_addr, addr = _new_area(k, rng.randint(1, 3), "missing-guard victim")
    guard = addr + k.get(struct_addr, VM, "size") - PAGE_SIZE
    page = k.buddy.alloc_pages(GFP_KERNEL | GFP_HIGHMEM, 0)
    if page is None:
        raise SimulationError("out of memory while injecting a fault")
    pte = _pte_of(k, guard)
    KernelPageTables(k).set(pte, k.paging.mk_pte(k.page_pfn(page), 0x163))
    return {"vm_struct": struct_addr, "guard": guard, "pte": pte, "pfn": k.page_pfn(page)}


def size_mismatch(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A ``vm_struct.size`` larger than the pages mapped for it: a new area, or where
    first fit put it in a hole it fills exactly, the last vmalloc area with room after it."""
    new, _ = _new_area(k, rng.randint(1, 3), "size-mismatch victim")
    vmalloced = [(s, a) for s, a, _, _ in k.vmalloc.areas() if a in k.vmalloc.records]
    others = [v for v in reversed(vmalloced) if v[0] != new]
    victims = [v for v in vmalloced if v[0] == new] + others
    for struct_addr, addr in victims:
        size = k.get(struct_addr, VM, "size")
        nxt = k.get(struct_addr, VM, "next")
        room = (k.get(nxt, VM, "addr") if nxt else k.config.vmalloc_end) - (addr + size)
        if room >= PAGE_SIZE:
            break
    else:
        raise SimulationError("no room after any vmalloc area to grow it")
    grown = size + min(PAGE_SIZE * rng.randint(1, 3), room // PAGE_SIZE * PAGE_SIZE)
    k.set(struct_addr, VM, "size", grown)
    k.vmalloc.records[addr]["size"] = grown
    return {"vm_struct": struct_addr, "addr": addr, "size": grown, "mapped_size": size}


def bad_pte_frame(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A vmalloc PTE pointing at a reserved frame, or at one beyond ``max_mapnr``."""
    _, addr = _new_area(k, 2, "bad-pte victim")
    va = addr + PAGE_SIZE
    pte = _pte_of(k, va)
    if args.get("target") == "nonexistent" or (not args.get("target") and rng.random() < 0.5):
        pfn = k.config.num_physpages + rng.randrange(1, 4096)
        kind = "nonexistent"
    else:
        pfn = (k.kernel_phys_range[0] >> 12) + rng.randrange(0, 64)  # the kernel image
        assert k.r32(k.page_addr(pfn) + k.member("struct page", "flags")[0]) & PG_reserved
        kind = "reserved"
    old = k.vmalloc.frames.pop(va)
    KernelPageTables(k).set(pte, k.paging.mk_pte(pfn, 0x163))
    return {"addr": va, "pte": pte, "pfn": pfn, "frame": kind, "orphaned_pfn": old}


def zero_count(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A mapped frame whose ``page->count`` dropped to 0 without being freed."""
    _, addr = _new_area(k, 2, "zero-count victim")
    pfn = k.vmalloc.frames[addr]
    page = k.page_addr(pfn)
    k.set(page, "struct page", "count.counter", 0)
    return {"addr": addr, "pfn": pfn, "page": page}


def buddy_corrupt(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A free block's ``page->list.next`` overwritten with a stray value."""
    buddy = k.buddy
    zone = buddy.zones[1] if k.get(buddy.zones[1], "zone_t", "size") else buddy.zones[0]
    for order in range(10):
        head = buddy.free_list(zone, order)
        first = k.r32(head)
        if first != head:
            break
    else:
        raise SimulationError("no free block to corrupt")
    garbage = 0x6B6B6B6B if rng.random() < 0.5 else first  # poison, or a self-loop
    k.w32(first, garbage)
    return {"zone": zone, "order": order, "entry": first, "next": garbage}


def kfree_non_slab(k: Kernel, rng: random.Random, args: dict[str, Any]) -> Fault:
    """``kfree`` of memory that is no slab object: a driver frees its buffer with
    ``free_page`` and then with ``kfree`` too (target ``free_page``, the default), or
    kfrees a vmalloc'd buffer (target ``vmalloc``). A 2.4.20 kfree without DEBUG
    checks nothing: the page's ``list.next`` and ``list.prev`` are taken for the
    cache and the slab and written through; it may oops on the way, its writes
    before that staying."""
    target = args.get("target") or "free_page"
    if target == "vmalloc":
        _, addr = _new_area(k, 1, "kfree'd by mistake")
    elif target == "free_page":
        # the driver has two pages and frees the first: the second is its buddy or
        # the first's buddy was in use already, so the first stays an order-0 block
        # with its list links (one that merged would have none)
        got = k.buddy.get_free_pages(GFP_KERNEL, 0)
        if got is None or k.buddy.get_free_pages(GFP_KERNEL, 0) is None:
            raise SimulationError("out of memory while injecting a fault")
        addr = got
        k.buddy.free_page_vaddr(addr)
    else:
        raise SimulationError(f"kfree_non_slab: target is free_page or vmalloc, not {target!r}")
    page = k.slab.virt_to_page(addr)
    o_list = k.types.offsetof("struct page", "list")
    record: Fault = {"target": target, "addr": addr, "page": page}
    try:
        record.update(cache=k.r32(page + o_list), slab=k.r32(page + o_list + 4))
        k.slab.kfree(addr)
        record["outcome"] = "returned"
    except KernelOops as e:
        for line in e.printk_lines():  # die(): the report goes to the log
            k.printk(line)
        record.update(outcome="oops", oops=str(e))
    return record


FAULTS: dict[str, Callable[[Kernel, random.Random, dict[str, Any]], Fault]] = {
    "vmalloc_leak": vmalloc_leak,
    "use_after_vfree": use_after_vfree,
    "double_free": double_free,
    "vmlist_cycle": vmlist_cycle,
    "wild_next": wild_next,
    "overlap": overlap,
    "missing_guard": missing_guard,
    "size_mismatch": size_mismatch,
    "bad_pte_frame": bad_pte_frame,
    "zero_count": zero_count,
    "buddy_corrupt": buddy_corrupt,
    "kfree_non_slab": kfree_non_slab,
}


@kernel_function("fault", entry=("kind",), inline=True)
def inject_fault(k: Kernel, kind: str, rng: random.Random, args: dict[str, Any]) -> Fault:
    """Inject fault ``kind``; returns the ground-truth record of what changed where.

    On a timeline the injection is one entry, call ``fault``: the writes of the
    stray code (paths starting at ``fault``) and the kernel calls it made."""
    return _inject(k, kind, rng, args)


def _inject(k: Kernel, kind: str, rng: random.Random, args: dict[str, Any]) -> Fault:
    if kind not in FAULTS:
        raise SimulationError(f"unknown fault '{kind}' (known: {', '.join(FAULTS)})")
    record = FAULTS[kind](k, rng, args)
    return {"kind": kind, **record}


@kernel_function("sys_init_module", entry=("name_user=name",), returns="zero")
def _init_module_with_fault(
    k: Kernel, name: str, mod: int, rng: random.Random, kind: str, args: dict[str, Any]
) -> Fault:
    """``sys_init_module`` of a module whose init function makes the fault's writes."""
    sys_init_module.__wrapped__(k, name, mod, rng, 4)  # type: ignore[attr-defined]
    return _inject(k, kind, rng, args)


def _fault_in_init_module(k: Kernel, kind: str, rng: random.Random, args: dict[str, Any]) -> Fault:
    """``insmod`` of module ``target``: ``sys_create_module``, then a ``sys_init_module``
    whose init makes the stray writes, each entry recorded as any insmod's."""
    name = args.get("target") or f"drv{rng.randint(0, 99)}"
    mod = sys_create_module(k, name, rng.randint(4000, 30000))
    return _init_module_with_fault(k, name, mod, rng, kind, args)


@kernel_function("sys_delete_module", entry=("name_user=name",), returns="zero")
def _fault_in_delete_module(
    k: Kernel, name: str, kind: str, rng: random.Random, args: dict[str, Any]
) -> Fault:
    """``sys_delete_module`` of module ``name`` whose unload path is the fault."""
    name_page = _get_mod_name(k, name)
    k.buddy.free_page_vaddr(name_page)  # put_mod_name, as delete_module does
    return _inject(k, kind, rng, args)


# The kernel calls a fault may be recorded under (the scenario fault's ``call``): on a
# timeline its entry is that call's, as any other of its kind is recorded, the stray
# writes inside it.
FAULT_CALLS: dict[str, Callable[[Kernel, str, random.Random, dict[str, Any]], Fault]] = {
    "sys_init_module": _fault_in_init_module,
    "sys_delete_module": lambda k, kind, rng, args: _fault_in_delete_module(
        k, args.get("target") or "", kind, rng, args
    ),
}


def run_fault(k: Kernel, kind: str, rng: random.Random, args: dict[str, Any]) -> Fault:
    """A scenario's fault step: an entry ``fault`` of its own, or with ``call`` the
    kernel call it is recorded under (a module's init or unload); the truth's record
    says which."""
    call = args.get("call")
    if call is None:
        return inject_fault(k, kind, rng, args)
    if call not in FAULT_CALLS:
        raise SimulationError(f"unknown fault call '{call}' (known: {', '.join(FAULT_CALLS)})")
    return {**FAULT_CALLS[call](k, kind, rng, args), "call": call}
