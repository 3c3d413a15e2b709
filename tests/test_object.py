"""Object: members, pointers, arrays, values, arithmetic and gdb-style printing."""

from __future__ import annotations

import struct

import pytest
from fake_kernel import EMPTY_ZERO_PHYS, PAGE, PAGE_OFFSET, FakeKernel, standard

from vmintro import Object, cast, container_of
from vmintro.cprint import format_char_array
from vmintro.errors import FaultError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.fixture(scope="module", params=["pse", "4k", "pae"])
def kernel(request: pytest.FixtureRequest):
    k, areas = standard(request.param)
    return k, areas, k.program()


@pytest.fixture()
def pse():
    k, areas = standard("pse")
    return k, areas, k.program()


def test_vmlist_walk_by_members(kernel):
    _k, areas, prog = kernel
    seen = []
    area = prog["vmlist"]
    while area:
        seen.append((area.value_(), area.addr.value_(), area.size.value_(), area.flags.value_()))
        area = area.next
    assert seen == [(a.vm_struct, a.addr, a.size, a.flags) for a in areas]


def test_pointer_chain_dereferences_like_arrow(kernel):
    _k, (a, b, c), prog = kernel
    vmlist = prog["vmlist"]
    assert vmlist.next.addr.value_() == b.addr
    assert vmlist.next.next.addr.value_() == c.addr
    assert vmlist.next.next.next.value_() == 0
    assert vmlist.member_("next").address_ == a.vm_struct + 12
    assert vmlist.deref().address_ == a.vm_struct
    assert vmlist.next.next.address_ == b.vm_struct + 12  # the link itself, not read yet


def test_struct_value_and_printing(kernel):
    _k, (a, b, _c), prog = kernel
    area = prog["vmlist"].deref()
    assert area.value_() == {"flags": 2, "addr": a.addr, "size": 5 * PAGE, "next": b.vm_struct}
    assert str(area) == (
        f"{{flags = 2, addr = {a.addr:#x}, size = 20480, next = {b.vm_struct:#x}}}"
    )
    assert repr(area) == f"Object(prog, 'struct vm_struct', address={a.vm_struct:#x})"


def test_pointer_printing_and_repr(kernel):
    _k, (a, _b, _c), prog = kernel
    vmlist = prog["vmlist"]
    assert str(vmlist) == f"(struct vm_struct *) {a.vm_struct:#x}"
    address = prog.symbol("vmlist").address
    assert repr(vmlist) == f"Object(prog, 'struct vm_struct *', address={address:#x})"
    value = vmlist.read_()
    assert repr(value) == f"Object(prog, 'struct vm_struct *', value={a.vm_struct:#x})"
    assert str(prog["high_memory"]) == f"(void *) {prog.high_memory:#x}"
    assert str(prog["max_mapnr"]) == str(prog.ram_size // PAGE)
    # a pointer into a symbol is annotated as gdb does
    inside = Object(prog, "unsigned long *", prog.symbol("swapper_pg_dir").address + 8)
    assert str(inside) == "(unsigned long *) 0xc0101008 <swapper_pg_dir+8>"
    assert str(Object(prog, "struct page *", 0)) == "(struct page *) 0x0"


def test_nested_struct_printing(kernel):
    k, _areas, prog = kernel
    page = prog["mem_map"][5]
    virtual = ", virtual = 0x0" if k.highmem else ""
    assert str(page) == (
        "{list = {next = 0x0, prev = 0x0}, mapping = 0x0, index = 0, next_hash = 0x0, "
        "count = {counter = 0}, flags = 16384, lru = {next = 0x0, prev = 0x0}, "
        f"pprev_hash = 0x0, buffers = 0x0{virtual}}}"
    )


def test_empty_struct_prints_as_gdb_does(kernel):
    _k, _areas, prog = kernel
    assert "spinlock = {<No data fields>}" in str(prog["cache_cache"])
    assert prog["cache_cache"].spinlock.value_() == {}


def test_mem_map_indexing_through_a_pointer(kernel):
    k, _areas, prog = kernel
    mem_map = prog["mem_map"]
    size = prog.type("struct page").size
    assert size == (48 if k.highmem else 44)
    page = mem_map[0x2F01]
    assert page.address_ == mem_map.value_() + 0x2F01 * size
    assert page.flags.value_() == 0x01000000
    assert page.count.counter.value_() == 1
    assert page.index.value_() == 7
    assert (mem_map + 0x2F01).value_() == page.address_
    assert (mem_map + 0x2F01).deref().index.value_() == 7
    assert (page.address_of_() - mem_map).value_() == 0x2F01
    assert ((mem_map + 10) - 3 - mem_map).value_() == 7
    assert mem_map[-1].address_ == mem_map.value_() - size


def test_container_of_and_cast(kernel):
    _k, _areas, prog = kernel
    page = prog["mem_map"][0x2F00]
    lru = page.lru.address_of_()
    assert lru.type_.c_name == "struct list_head *"
    owner = container_of(lru, "struct page", "lru")
    assert owner.type_.c_name == "struct page *"
    assert owner.value_() == page.address_
    assert owner.flags.value_() == 0x01000000
    assert container_of(lru, prog.type("struct page"), "lru") == page.address_
    with pytest.raises(LookupError):
        container_of(lru, "struct page", "nosuch")
    ulong = cast("unsigned long", prog["vmlist"])
    assert ulong.type_.c_name == "unsigned long" and ulong == prog["vmlist"].value_()
    assert cast("unsigned char", Object(prog, "int", 0x1FF)).value_() == 0xFF
    assert cast("char", Object(prog, "int", 0x1FF)).value_() == -1
    arr = prog["swapper_pg_dir"]
    assert cast("void *", arr).value_() == arr.address_  # an array decays
    with pytest.raises(TypeError):
        cast("struct page", prog["vmlist"])


def test_arrays(kernel):
    k, _areas, prog = kernel
    pgd = prog["swapper_pg_dir"]
    # pgtable.h declares pgd_t swapper_pg_dir[1024] in every build; the MMU and the
    # walks use its first PTRS_PER_PGD entries: all 1024, or under PAE four
    entries = 1024
    assert pgd.type_.c_name == f"pgd_t [{entries}]"
    assert prog.paging.ptrs_per_pgd == (4 if k.pae else 1024)
    values = pgd.value_()
    assert len(values) == entries
    if k.pae:
        # pagetable_init: each of the four at empty_zero_page, then the kernel's pmd
        # page in pgd[3]; pgd[0] is the boot-time alias of low memory
        kernel_pmd, zero = k.pmd_phys | 1, EMPTY_ZERO_PHYS | 1
        assert values[:4] == [{"pgd": e} for e in (kernel_pmd, zero, zero, kernel_pmd)]
        assert pgd[3].pgd.value_() == kernel_pmd
        assert pgd[1].pgd.type_.size == 8  # unsigned long long: an entry is 8 bytes
    else:
        first = 0x1E3 if k.mode == "pse" else 0x400063
        assert pgd[768].pgd.value_() == first
        assert values[768] == {"pgd": first}
    assert pgd[1].address_ == pgd.address_ + k.esize
    assert pgd.deref().address_ == pgd.address_
    value = pgd.read_()
    with pytest.raises(IndexError):
        value[entries]
    assert value[3].value_() == pgd[3].value_()


def test_array_printing_with_repeats_and_limit(pse):
    _k, _areas, prog = pse
    text = str(prog["swapper_pg_dir"])
    assert text.startswith("{{pgd = 0} <repeats 768 times>, {pgd = 483}, {pgd = 4194787}, ")
    assert text.endswith(", {pgd = 4194407}, {pgd = 4198503}, {pgd = 0} <repeats 236 times>}")
    small = Object(prog, "unsigned long [3]", struct.pack("<3I", 1, 2, 3))
    assert str(small) == "{1, 2, 3}"
    assert small.value_() == [1, 2, 3]
    many = Object(prog, "unsigned long [300]", struct.pack("<300I", *range(300)))
    assert str(many) == "{" + ", ".join(map(str, range(200))) + "...}"
    zeros = Object(prog, "int [11]", bytes(44))
    assert str(zeros) == "{0 <repeats 11 times>}"
    ten = Object(prog, "int [10]", bytes(40))
    assert str(ten) == "{" + ", ".join(["0"] * 10) + "}"


def test_char_arrays(kernel):
    _k, _areas, prog = kernel
    name = prog["cache_cache"].name
    assert name.type_.c_name == "char [20]"
    assert name.value_() == "size-32"
    assert name.string_() == b"size-32"
    assert str(name) == "\"size-32\", '\\000' <repeats 12 times>"
    assert prog["cache_cache"].objsize.value_() == 32


@pytest.mark.parametrize(
    "data, text",
    [
        (b"", '""'),
        (b"\0", '""'),
        (b"abc\0\0\0", '"abc\\000\\000"'),
        (b"kmem_cache" + bytes(10), '"kmem_cache' + "\\000" * 9 + '"'),
        (bytes(16), "'\\000' <repeats 15 times>"),
        (b"a" * 20 + b"\0", "'a' <repeats 20 times>"),
        (b'say "hi"\n\t\\\x1b\x7f\0', '"say \\"hi\\"\\n\\t\\\\\\033\\177"'),
        (b"x" * 250, "'x' <repeats 250 times>"),
        # at most 200 characters, then an ellipsis after the closing quote
        (ALPHABET.encode() * 10, '"' + (ALPHABET * 8)[:200] + '"...'),
    ],
)
def test_char_array_formatting(data, text):
    assert format_char_array(data) == text


def test_char_pointer_prints_the_string(pse):
    k, _areas, prog = pse
    k.mem.write(0x00600000, b"Normal\0")
    name = Object(prog, "char *", PAGE_OFFSET + 0x00600000)
    assert str(name) == '0xc0600000 "Normal"'
    assert name.string_() == b"Normal"
    bad = Object(prog, "char *", 0x00001000)
    assert str(bad) == "0x1000 <error: Cannot access memory at address 0x1000>"
    assert str(Object(prog, "char", 65)) == "65 'A'"


def test_pointer_outside_ram_faults_with_its_address(pse):
    k, (a, _b, _c), prog = pse
    beyond = k.high_memory + 0x100000  # mapped by the last PSE page, past the end of RAM
    wild = Object(prog, "struct vm_struct *", beyond)
    with pytest.raises(FaultError) as info:
        wild.flags.value_()
    assert info.value.address == beyond
    with pytest.raises(FaultError) as info:
        str(wild.deref())
    assert info.value.address == beyond
    guard = Object(prog, "struct vm_struct *", a.guard)
    with pytest.raises(FaultError) as info:
        guard.size.value_()
    assert info.value.address == a.guard + 8
    assert "page not present" in str(info.value)


def test_null_pointer_member_faults(pse):
    k, _areas, prog = pse
    k.set_var("vmlist", 0)
    vmlist = prog["vmlist"]
    assert not vmlist and vmlist == 0
    with pytest.raises(FaultError) as info:
        vmlist.next.value_()
    assert info.value.address == 12


def test_python_protocols(kernel):
    _k, (a, _b, _c), prog = kernel
    vmlist = prog["vmlist"]
    assert bool(vmlist) and int(vmlist) == a.vm_struct
    assert hex(vmlist) == hex(a.vm_struct)
    assert f"{vmlist:#x}" == f"{a.vm_struct:#x}"
    assert f"{vmlist}" == str(vmlist)
    assert vmlist == a.vm_struct and vmlist != 0 and vmlist > 0 and vmlist <= a.vm_struct
    assert vmlist == vmlist.read_()
    assert [1, 2, 3][Object(prog, "int", 1)] == 2
    with pytest.raises(TypeError):
        hash(vmlist)
    with pytest.raises(TypeError):
        int(vmlist.deref())
    with pytest.raises(TypeError):
        bool(vmlist.deref())
    assert "next" in dir(vmlist) and "addr" in dir(vmlist.deref())
    assert not hasattr(vmlist, "nosuch")
    with pytest.raises(AttributeError, match="has no member 'nosuch'"):
        _ = vmlist.deref().nosuch
    with pytest.raises(LookupError):
        vmlist.member_("nosuch")
    with pytest.raises(TypeError):
        prog["max_mapnr"].member_("x")
    with pytest.raises(TypeError):
        prog["max_mapnr"][0]


def test_integer_arithmetic_follows_c(pse):
    _k, _areas, prog = pse
    five = Object(prog, "unsigned long", 5)
    assert (five + 3).value_() == 8 and (five + 3).type_.c_name == "unsigned long"
    assert (3 + five).value_() == 8
    assert (Object(prog, "unsigned long", 0) - 1).value_() == 0xFFFFFFFF
    assert (Object(prog, "int", 0) - 1).value_() == -1
    assert (Object(prog, "unsigned char", 255) + 1).value_() == 256  # promoted to int
    assert (Object(prog, "int", -7) // 2).value_() == -3  # C division truncates
    assert (Object(prog, "int", -7) % 2).value_() == -1
    assert (five * 2 | 1).value_() == 11
    assert (five << 30).value_() == 0x40000000 and (five >> 1).value_() == 2
    assert (five & 4).value_() == 4 and (five ^ 1).value_() == 4
    assert (~Object(prog, "unsigned long", 0)).value_() == 0xFFFFFFFF
    assert (-five).value_() == 0xFFFFFFFB
    mixed = Object(prog, "int", -1) + Object(prog, "unsigned long", 0)
    assert mixed.type_.c_name == "unsigned long" and mixed.value_() == 0xFFFFFFFF
    ptr = Object(prog, "struct vm_struct *", 0xC0500000)
    assert (ptr + 2).value_() == 0xC0500020 and (2 + ptr).value_() == 0xC0500020
    assert (ptr - 1).value_() == 0xC04FFFF0
    with pytest.raises(TypeError):
        ptr * 2
    with pytest.raises(TypeError):
        Object(prog, "void *", 0xC0000000) + 1
    with pytest.raises(TypeError):
        ptr + ptr


def test_value_objects_are_snapshots(pse):
    k, (a, _b, _c), prog = pse
    flags = prog["vmlist"].flags
    snapshot = flags.read_()
    k.put(a.vm_struct - PAGE_OFFSET, 0x7, 4)
    assert flags.value_() == 0x7
    assert snapshot.value_() == 2
    area = prog["vmlist"].deref().read_()
    assert area.address_ is None
    assert area.addr.value_() == a.addr and area.addr.address_ is None
    assert str(area).startswith("{flags = 7, ")


def test_object_constructor_checks(pse):
    _k, _areas, prog = pse
    with pytest.raises(ValueError):
        Object(prog, "int")
    with pytest.raises(ValueError):
        Object(prog, "int", 1, address=0xC0000000)
    with pytest.raises(ValueError):
        Object(prog, "unsigned long [2]", b"\0" * 4)
    assert Object(prog, "unsigned char", 0x1FF).value_() == 0xFF
    assert Object(prog, "struct vm_struct", address=0xC0500000).addr.value_() != 0


def test_bitfield_and_union_members():
    k = FakeKernel("pse", 62 << 20)
    init_mm = k.place("init_mm")
    kt = k.kt
    dumpable = kt.offsetof("struct mm_struct", "dumpable")
    k.put(init_mm - PAGE_OFFSET + dumpable, 0xFFFFFFFF, 4)
    module = k.place("kernel_module")
    k.put(module - PAGE_OFFSET + kt.offsetof("struct module", "uc"), 7, 4)
    prog = k.program()
    assert prog["init_mm"].dumpable.value_() == 1
    assert prog["init_mm"].value_()["dumpable"] == 1
    uc = prog["kernel_module"].uc
    assert uc.value_() == {"usecount": {"counter": 7}, "pad": 7}
    assert uc.pad.value_() == 7
    assert str(uc) == "{usecount = {counter = 7}, pad = 7}"


def test_member_paths(kernel):
    _k, _areas, prog = kernel
    cache = prog["cache_cache"]
    assert cache.member_("next.prev").address_ == cache.address_ + prog.type(
        "kmem_cache_t"
    ).target.offsetof("next.prev")
