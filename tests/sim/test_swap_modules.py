"""sys_swapon/sys_swapoff and create_module/init_module/delete_module, read back from RAM."""

from __future__ import annotations

import random
import struct

import pytest
from rawmem import PAGE_SIZE, VM_ALLOC, Raw, check_buddy, check_vmlist, machine

from vmintro.sim.errors import SimulationError
from vmintro.sim.module import delete_module, insmod
from vmintro.sim.swap import swapoff, swapon

SI = 52  # sizeof(struct swap_info_struct), UP
SI_FLAGS, SI_DEVICE, SI_FILE, SI_VFSMNT, SI_MAP = 0, 4, 8, 12, 16
SI_LOWEST, SI_HIGHEST, SI_CLUSTER_NEXT, SI_CLUSTER_NR = 20, 24, 28, 32
SI_PRIO, SI_PAGES, SI_MAX, SI_NEXT = 36, 40, 44, 48

M_SIZEOF = 96
M_SIZE_OF_STRUCT, M_NEXT, M_NAME, M_SIZE, M_UC, M_FLAGS = 0, 4, 8, 12, 16, 20
M_NSYMS, M_NDEPS, M_SYMS, M_DEPS, M_REFS, M_INIT, M_CLEANUP = 24, 28, 32, 36, 40, 44, 48


def _si(r, i, off):
    return r.s32(r.sym("swap_info") + i * SI + off)


def _swap_list(r):
    sl = r.sym("swap_list")
    return r.s32(sl), r.s32(sl + 4)


# -- swap -------------------------------------------------------------------------------------


def test_swapon_reference_example():
    k = machine(64)
    r = Raw(k)
    assert swapon(k, 0x0302, 32768) == 0
    assert _si(r, 0, SI_FLAGS) == 3  # SWP_WRITEOK
    assert r.u16(r.sym("swap_info") + SI_DEVICE) == 0x0302
    assert (_si(r, 0, SI_LOWEST), _si(r, 0, SI_HIGHEST)) == (1, 32766)
    assert _si(r, 0, SI_MAX) == 32767
    assert _si(r, 0, SI_PAGES) == 32766
    assert _si(r, 0, SI_PRIO) == -1
    assert _si(r, 0, SI_NEXT) == -1
    assert (_si(r, 0, SI_CLUSTER_NEXT), _si(r, 0, SI_CLUSTER_NR)) == (0, 0)
    # the path lookup allocates nothing: no dentry or vfsmount stand-ins from kmalloc
    assert _si(r, 0, SI_FILE) == _si(r, 0, SI_VFSMNT) == 0
    swap_map = _si(r, 0, SI_MAP) & 0xFFFFFFFF
    [(_, flags, addr, size)] = check_vmlist(r)
    assert (flags, addr, size) == (VM_ALLOC, swap_map, 0x11000)  # 65534 bytes: 16 pages + guard
    entries = struct.unpack("<32767H", r.vread(swap_map, 65534))
    assert entries[0] == 0x8000  # SWAP_MAP_BAD: the header page
    assert set(entries[1:]) == {0}
    assert _swap_list(r) == (0, 0)
    assert r.u32(r.sym("nr_swapfiles")) == 1
    assert r.s32(r.sym("nr_swap_pages")) == 32766
    assert r.s32(r.sym("total_swap_pages")) == 32766
    assert k.log[-1] == "Adding Swap: 131064k swap-space (priority -1)"
    free = check_buddy(r)
    # the header was read into a GFP_USER page that is free again, contents intact
    headers = [p for p in k.mem.stored_pfns() if r.mem.read((p << 12) + 4086, 10) == b"SWAPSPACE2"]
    assert len(headers) == 1 and headers[0] in free
    assert struct.unpack("<III", r.mem.read((headers[0] << 12) + 1024, 12)) == (1, 32767, 0)


def test_swapon_bad_pages():
    k = machine(16)
    r = Raw(k)
    assert swapon(k, 0x0302, 100, bad_pages=(5, 98)) == 0
    swap_map = _si(r, 0, SI_MAP) & 0xFFFFFFFF
    entries = struct.unpack("<99H", r.vread(swap_map, 198))
    assert [i for i, e in enumerate(entries) if e] == [0, 5, 98]
    assert _si(r, 0, SI_PAGES) == 99 - 2 - 1


@pytest.mark.parametrize("bad", [(3, 99), (0,), (0xFFFFFFFF,)], ids=["last_page", "zero", "-1"])
def test_swapon_bad_page_out_of_range_takes_bad_swap(bad):
    """mm/swapfile.c: a bad page <= 0 or >= last_page sets -EINVAL; after the list,
    ``goto bad_swap`` empties the slot, gives least_priority back, vfrees swap_map
    and frees the header page."""
    k = machine(16)
    r = Raw(k)
    check_buddy(r)
    with pytest.raises(SimulationError, match="-EINVAL"):
        swapon(k, 0x0302, 100, bad_pages=bad)
    free = check_buddy(r)
    # the header page and swap_map's page are free again (its vm_struct's slab page
    # and page table stay, as after any vfree)
    [header] = [p for p in k.mem.stored_pfns() if r.mem.read((p << 12) + 4086, 10) == b"SWAPSPACE2"]
    assert header in free
    assert not k.vmalloc.frames  # nothing left mapped in the vmalloc range
    assert check_vmlist(r) == []
    assert _si(r, 0, SI_FLAGS) == _si(r, 0, SI_MAP) == _si(r, 0, SI_DEVICE) == 0
    assert (_si(r, 0, SI_PRIO), _si(r, 0, SI_HIGHEST)) == (-1, 98)  # left as they were set
    assert r.s32(r.sym("least_priority")) == 0
    assert r.u32(r.sym("nr_swapfiles")) == 1
    assert r.s32(r.sym("nr_swap_pages")) == 0
    assert not any(line.startswith("Adding Swap") for line in k.log)
    assert swapon(k, 0x0302, 100) == 0  # the slot and the priority are used again
    assert _si(r, 0, SI_PRIO) == -1


def test_swapon_too_many_bad_pages():
    k = machine(16)
    r = Raw(k)
    with pytest.raises(SimulationError, match="-EINVAL"):
        swapon(k, 0x0302, 2000, bad_pages=tuple(range(1, 639)))
    assert check_vmlist(r) == []  # refused before swap_map was vmalloc'd


def test_swap_priority_list():
    k = machine(64)
    r = Raw(k)
    assert swapon(k, 0x0302, 32768) == 0  # prio -1
    assert swapon(k, 0x0303, 1024) == 1  # prio -2: after 0
    assert (_si(r, 0, SI_NEXT), _si(r, 1, SI_NEXT)) == (1, -1)
    assert _si(r, 1, SI_PRIO) == -2
    assert _swap_list(r) == (0, 0)
    assert r.vmlist()[1][3] == 0x2000  # 1023 entries: one page plus guard
    assert swapon(k, 0x0801, 2048, priority=5) == 2  # to the front: head and next
    assert _swap_list(r) == (2, 2)
    assert _si(r, 2, SI_NEXT) == 0
    assert swapon(k, 0x0802, 2048, priority=5) == 3  # equal priority goes first
    assert _swap_list(r) == (3, 3)
    assert _si(r, 3, SI_NEXT) == 2
    assert r.s32(r.sym("nr_swap_pages")) == 32766 + 1022 + 2046 + 2046
    swapoff(k, 1)
    assert _si(r, 0, SI_NEXT) == -1
    for off in (SI_FLAGS, SI_MAP, SI_MAX, SI_FILE, SI_VFSMNT):
        assert _si(r, 1, off) == 0
    assert r.u16(r.sym("swap_info") + SI + SI_DEVICE) == 0
    assert r.s32(r.sym("nr_swap_pages")) == 32766 + 2046 + 2046
    assert len(r.vmlist()) == 3
    assert swapon(k, 0x0303, 1024) == 1  # the free slot is reused
    assert r.u32(r.sym("nr_swapfiles")) == 4
    assert _si(r, 1, SI_PRIO) == -3
    check_vmlist(r)
    check_buddy(r)


# -- modules ------------------------------------------------------------------------------------


def _modules(r):
    out = []
    mod = r.u32(r.sym("module_list"))
    while mod:
        out.append(mod)
        mod = (
            r.u32(mod + M_NEXT)
            if mod == r.sym("kernel_module")
            else struct.unpack("<I", r.vread(mod + M_NEXT, 4))[0]
        )
    return out


def _mod_u32(r, mod, off):
    return struct.unpack("<I", r.vread(mod + off, 4))[0]


def test_module_list_and_layout():
    k = machine(64)
    r = Raw(k)
    rng = random.Random(1)
    ext3 = insmod(k, "ext3", 71424, rng)
    jbd = insmod(k, "jbd", 49952, rng)
    km = r.sym("kernel_module")
    assert _modules(r) == [jbd, ext3, km]  # newest first, kernel_module last
    assert (r.u32(km + M_UC), r.u32(km + M_FLAGS), r.u32(km + M_NEXT)) == (1, 1, 0)
    areas = {addr: (flags, size) for _, flags, addr, size in check_vmlist(r)}
    for mod, name, size in ((ext3, "ext3", 71424), (jbd, "jbd", 49952)):
        assert mod % PAGE_SIZE == 0
        assert areas[mod] == (VM_ALLOC, (size + 4095) // 4096 * 4096 + 4096)
        assert _mod_u32(r, mod, M_SIZE_OF_STRUCT) == M_SIZEOF
        assert _mod_u32(r, mod, M_SIZE) == size
        assert _mod_u32(r, mod, M_FLAGS) == 1  # MOD_RUNNING
        assert _mod_u32(r, mod, M_UC) == 0
        assert _mod_u32(r, mod, M_REFS) == 0
        name_ptr = _mod_u32(r, mod, M_NAME)
        assert mod + M_SIZEOF <= name_ptr < mod + size
        assert r.vread(name_ptr, len(name) + 1) == name.encode() + b"\0"
        for off in (M_INIT, M_CLEANUP):
            assert mod + M_SIZEOF <= _mod_u32(r, mod, off) < mod + size
        syms, nsyms = _mod_u32(r, mod, M_SYMS), _mod_u32(r, mod, M_NSYMS)
        for i in range(nsyms):
            value, sname = struct.unpack("<II", r.vread(syms + 8 * i, 8))
            assert mod + M_SIZEOF <= value < mod + size
            assert r.vread(sname, 64).split(b"\0")[0].decode().startswith(name)
    delete_module(k, "ext3")
    assert _modules(r) == [jbd, km]
    assert [a for _, _, a, _ in check_vmlist(r)] == [jbd]
    check_buddy(r)


def _order0_head(r):
    return r.free_list(r.zone(1), 0)


def test_init_module_copies_the_name_twice():
    """sys_init_module takes two name pages (the name, then the name the new header
    points at) and frees n_name before name: the second one keeps a copy of the name."""
    k = machine(64)
    r = Raw(k)
    insmod(k, "vmintro_probe", 30000, random.Random(3))
    # freed last, both are at the head of their lists: the order-0 list, or the
    # order-1 list when the two were buddies and merged
    pair = r.free_list(r.zone(1), 1)[:1]
    pages = [p for p in _order0_head(r)[:2] + pair + [p + 1 for p in pair]]
    pages = [p for p in pages if r.mem.read(p << 12, 14) == b"vmintro_probe\0"]
    assert len(pages) == 2
    for pfn in pages:
        assert r.mem.read(pfn << 12, 14) == b"vmintro_probe\0", f"pfn {pfn:#x}"
    check_buddy(r)


def test_delete_module_frees_the_name_page_first():
    """sys_delete_module puts the name page right after find_module, before free_module
    frees the module's pages; those pages therefore sit ahead of it on the free list."""
    k = machine(64)
    r = Raw(k)
    # one page taken first, so that a freed data page's buddy stays in use and the
    # page stays on the order-0 list (boot's own allocations fix the parity)
    k.buddy.get_free_pages(0x1F0, 0)
    insmod(k, "ext3", 71424, random.Random(1))
    name_page = _order0_head(r)[0]  # what get_mod_name will take
    data = set(k.vmalloc.frames.values())
    delete_module(k, "ext3")
    order0 = _order0_head(r)
    assert name_page in order0
    freed_data_on_list = [i for i, pfn in enumerate(order0) if pfn in data]
    assert freed_data_on_list, "scenario no longer exercises the ordering"
    assert order0.index(name_page) > max(freed_data_on_list)
    check_buddy(r)


def test_module_busy_and_missing():
    from vmintro.sim.errors import SimulationError

    k = machine(32)
    insmod(k, "e100", 22880, random.Random(2))
    with pytest.raises(SimulationError):
        delete_module(k, "nosuch")
    with pytest.raises(SimulationError):
        insmod(k, "e100", 22880, random.Random(2))
    with pytest.raises(SimulationError):
        insmod(k, "tiny", 96 + 3, random.Random(2))  # size < sizeof(struct module) + namelen
    check_buddy(Raw(k))


def test_a_modules_cleanup_frees_its_drivers_buffer():
    """free_module runs the module's cleanup before module_unmap: with a buffer its
    driver vmalloc'ed, an unload frees the buffer, then the module; vmalloc_leak's
    unload frees the buffer and leaves the module's memory, MOD_DELETED."""
    from vmintro.sim.faults import run_fault
    from vmintro.types.flags import MOD_FLAGS

    k = machine(64)
    r = Raw(k)
    rng = random.Random(1)
    ext3 = insmod(k, "ext3", 71424, rng)
    jbd = insmod(k, "jbd", 49952, rng)
    buffers = [k.vmalloc.vmalloc(5 * PAGE_SIZE, owner=f"buffer {i}") for i in range(2)]
    assert {a for _, _, a, _ in check_vmlist(r)} == {ext3, jbd, *buffers}
    delete_module(k, "ext3", buffer=buffers[0])
    assert {a for _, _, a, _ in check_vmlist(r)} == {jbd, buffers[1]}
    args = {"target": "jbd", "call": "sys_delete_module", "buffer": buffers[1]}
    assert run_fault(k, "vmalloc_leak", rng, args)["addr"] == jbd
    assert {a for _, _, a, _ in check_vmlist(r)} == {jbd}
    assert _modules(r) == [r.sym("kernel_module")]
    assert _mod_u32(r, jbd, M_FLAGS) == MOD_FLAGS["MOD_DELETED"]
    check_buddy(r)
    insmod(k, "ext3", 71424, rng)
    with pytest.raises(SimulationError, match="no vmalloc area"):
        delete_module(k, "ext3", buffer=buffers[0])  # freed already
