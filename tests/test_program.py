"""Program: address-space facts, symbols, types, variables and reads."""

from __future__ import annotations

import pytest
from fake_kernel import PAGE, PAGE_OFFSET, FakeKernel, standard
from memory_backend import MemoryBackend, variables_from

from vmintro.backends.base import Backend
from vmintro.errors import FaultError, ObjectNotFoundError
from vmintro.program import Program
from vmintro.types.model import Array, Pointer, Struct, Void, strip_typedefs


@pytest.fixture(scope="module", params=["pse", "4k", "pae"])
def kernel(request: pytest.FixtureRequest):
    k, areas = standard(request.param)
    return k, areas, k.program()


@pytest.fixture(scope="module")
def pse():
    k, areas = standard("pse")
    return k, areas, k.program()


@pytest.mark.parametrize(
    "mode, ram, highmem, high_memory, vmalloc_start, vmalloc_end",
    [
        ("pse", 62 << 20, False, 0xC3E00000, 0xC4800000, 0xFFFFC000),
        ("4k", 128 << 20, False, 0xC8000000, 0xC8800000, 0xFFFFC000),
        ("pse", 1 << 30, True, 0xF8000000, 0xF8800000, 0xFDFFE000),
        ("pae", 5 << 30, True, 0xF8000000, 0xF8800000, 0xFDFFE000),
    ],
)
def test_address_space_facts(mode, ram, highmem, high_memory, vmalloc_start, vmalloc_end):
    prog = FakeKernel(mode, ram, highmem=highmem).program()
    assert prog.pae == (mode == "pae")
    assert prog.highmem == highmem
    assert prog.page_offset == PAGE_OFFSET
    assert prog.high_memory == high_memory
    assert prog.vmalloc_start == vmalloc_start
    assert prog.vmalloc_end == vmalloc_end
    assert prog.swapper_pg_dir == 0x00101000
    assert prog.osrelease == "2.4.20" and prog.ram_size == ram


def test_high_memory_comes_from_the_variable():
    k = FakeKernel("pse", 62 << 20)
    k.set_var("high_memory", 0xC2000000)  # as if booted with mem=32M
    prog = k.program()
    assert prog.high_memory == 0xC2000000
    assert prog.vmalloc_start == 0xC2800000
    # past high_memory the walk is used: the PSE page still maps it
    assert prog.translate(0xC2000010) == 0x2000010


def test_high_memory_without_the_variable_follows_ram():
    k = FakeKernel("pse", 62 << 20)
    symbols = {n: s for n, s in k.symbols.items() if n != "high_memory"}
    backend = MemoryBackend(k.mem, symbols, k.kt.by_name, variables_from(symbols, k.kt.variables))
    assert Program(backend).high_memory == PAGE_OFFSET + (62 << 20)


def test_memory_backend_is_a_backend(pse):
    k, _areas, _prog = pse
    assert isinstance(k.backend(), Backend)
    with pytest.raises(FaultError, match="could not read physical 0x3e00000"):
        k.backend().read_phys(62 << 20, 4)


def test_symbol_by_name_and_address(pse):
    _k, _areas, prog = pse
    sym = prog.symbol("swapper_pg_dir")
    assert (sym.name, sym.address, sym.size, sym.kind) == (
        "swapper_pg_dir",
        0xC0101000,
        4096,
        "object",
    )
    assert prog.symbol(0xC0101000 + 4095) == sym
    assert prog.symbol(0xC0110000 + 0x1FF).name == "do_page_fault"
    assert prog.symbol(0xC0100000).name == "_text"  # size 0: only its own address
    with pytest.raises(ObjectNotFoundError):
        prog.symbol(0xC0100004)
    with pytest.raises(ObjectNotFoundError, match="could not find symbol 'nosuch'"):
        prog.symbol("nosuch")
    vmlist = prog.symbol("vmlist")
    assert prog.symbol(vmlist.address + 3).name == "vmlist"
    assert prog.symbol_at(vmlist.address + 4) != vmlist
    assert [s.address for s in prog.symbols()] == sorted(s.address for s in prog.symbols())


def test_type_names(pse):
    k, _areas, prog = pse
    assert prog.type("struct vm_struct") is k.kt["struct vm_struct"]
    ptr = prog.type("struct page *")
    assert isinstance(ptr, Pointer) and ptr.target is k.kt["struct page"]
    assert prog.type("struct page*").c_name == "struct page *"
    pp = prog.type("struct page **")
    assert isinstance(pp, Pointer) and isinstance(pp.target, Pointer)
    assert prog.type("unsigned long").size == 4
    assert isinstance(prog.type("void *").target, Void)
    arr = prog.type("char [16]")
    assert isinstance(arr, Array) and arr.count == 16 and arr.size == 16
    assert prog.type("pte_t").size == 4
    # qualifiers kept, as drgn's prog.type keeps them; the layout is the type's own
    const_char = prog.type("const char *")
    assert const_char.c_name == "const char *" and strip_typedefs(const_char.target).size == 1
    assert isinstance(prog.type("zone_t").target, Struct)
    with pytest.raises(ObjectNotFoundError, match="could not find type 'struct nosuch'"):
        prog.type("struct nosuch *")
    with pytest.raises(LookupError):
        prog.type("int * long")


def test_array_dimensions_read_as_c_declares_them(pse):
    """``int [2][3]`` is two arrays of three ints, as C (and gdb, drgn) read it; a name
    with more pointer levels and dimensions than any declaration is refused in one line."""
    _k, _areas, prog = pse
    two = prog.type("unsigned long [2][3]")
    assert isinstance(two, Array) and two.count == 2 and two.size == 24
    assert isinstance(two.element, Array) and two.element.count == 3
    assert two.c_name == "unsigned long [2][3]"
    rows = prog.type("struct page *[4][8]")
    assert rows.count == 4 and rows.element.count == 8  # type: ignore[attr-defined]
    assert isinstance(rows.element.element, Pointer)  # type: ignore[attr-defined]
    assert prog.type("char" + "*" * 32 + "[1]" * 32).size == 4
    for spelled in ("char" + "[1]" * 65, "char" + " *" * 65, "char" + "*" * 40 + "[1]" * 25):
        with pytest.raises(ObjectNotFoundError, match="^cannot parse type: more than 64 "):
            prog.type(spelled)


def test_pae_pte_type(kernel):
    k, _areas, prog = kernel
    assert prog.type("pte_t").size == (8 if k.pae else 4)


def test_variables(pse):
    _k, _areas, prog = pse
    vmlist = prog["vmlist"]
    assert vmlist.type_.c_name == "struct vm_struct *"
    assert vmlist.address_ == prog.symbol("vmlist").address
    assert prog.object("vmlist").address_ == vmlist.address_
    assert "vmlist" in prog and "nosuch" not in prog
    with pytest.raises(KeyError):
        prog["nosuch"]
    with pytest.raises(ObjectNotFoundError, match="'do_page_fault' is a symbol without a type"):
        prog["do_page_fault"]


def test_read_virtual_and_physical(kernel):
    k, (a, _b, _c), prog = kernel
    assert prog.read_u32(a.addr) == a.frames[0]
    assert prog.read_u32(a.addr + PAGE - 4) == a.frames[0]
    # across a page boundary: the frames are not contiguous
    data = prog.read(a.addr + PAGE - 4, 8)
    assert data[:4] == a.frames[0].to_bytes(4, "little")
    assert data[4:] == a.frames[1].to_bytes(4, "little")
    assert prog.read_u64(a.addr + PAGE - 4) == int.from_bytes(data, "little")
    assert prog.read_u16(a.addr) == a.frames[0] & 0xFFFF
    assert prog.read_u8(a.addr) == a.frames[0] & 0xFF
    assert prog.read_u32(a.frames[2] << 12, physical=True) == a.frames[2]
    assert prog.read(0x101000, 8, physical=True) == k.mem.read(0x101000, 8)
    assert prog.read_u32(prog.symbol("high_memory").address) == k.high_memory


def test_read_into_the_guard_page_faults_at_the_guard(kernel):
    _k, (a, _b, _c), prog = kernel
    with pytest.raises(FaultError) as info:
        prog.read(a.guard - 8, 16)
    assert info.value.address == a.guard
    assert "page not present" in str(info.value)


def test_read_physical_outside_ram(pse):
    k, _areas, prog = pse
    with pytest.raises(FaultError) as info:
        prog.read(k.ram - 2, 4, physical=True)
    assert info.value.address == k.ram - 2
    assert str(info.value) == f"could not read physical {k.ram - 2:#x}"


def test_ioremap_of_device_memory_translates_but_does_not_read(pse):
    _k, (_a, b, _c), prog = pse
    assert prog.translate(b.addr) == 0xFEC00000
    with pytest.raises(FaultError) as info:
        prog.read_u32(b.addr + 4)
    assert info.value.address == b.addr + 4
    assert "physical 0xfec00004 is outside RAM" in str(info.value)


def test_repr(kernel):
    k, _areas, prog = kernel
    assert repr(prog).startswith("<Program 2.4.20 i386 ")
