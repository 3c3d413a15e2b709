"""Reading a vmlinux back: the same types, variables and symbols, or one clear error."""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hostile_files import DEMO, struct_die

from vmintro.arch.x86 import PAGE_OFFSET, TEXT_START, MachineConfig
from vmintro.image.reader.debuginfo import DebugInfoError, load_debuginfo, load_symbols
from vmintro.image.writer.spec import ImageSpec, Symbol
from vmintro.image.writer.vmlinux import build_vmlinux
from vmintro.sim.physmem import PhysMem
from vmintro.types.kernel import KernelTypes, kernel_types
from vmintro.types.model import (
    Array,
    Base,
    CType,
    Enum,
    Field,
    Function,
    Pointer,
    Struct,
    Typedef,
    Void,
    strip_typedefs,
)

CONFIGS = [(False, False), (True, False), (True, True)]
CONFIG_IDS = ["nohighmem", "highmem", "pae"]
KERNEL_RANGE = (0x00100000, 0x00140000)


def make_spec(kt: KernelTypes) -> ImageSpec:
    """Every variable of ``kt`` as an object symbol, one after the other; one static."""
    symbols = [
        Symbol("_text", TEXT_START, 0, "notype"),
        Symbol("start_kernel", TEXT_START, 64, "func"),
    ]
    addr = TEXT_START + 0x1000
    for i, (name, ctype) in enumerate(kt.variables.items()):
        symbols.append(Symbol(name, addr, ctype.size, "object", local=i == 1, ctype=ctype))
        addr = (addr + ctype.size + 31) & ~31
    assert addr <= PAGE_OFFSET + KERNEL_RANGE[1]
    config = MachineConfig(highmem=kt.highmem, pae=kt.pae)
    return ImageSpec(config, PhysMem(64 << 20), kt, symbols, KERNEL_RANGE)


def vmlinux_bytes(highmem: bool = False, pae: bool = False) -> bytes:
    return build_vmlinux(make_spec(kernel_types(highmem, pae)))


def shape(ctype: CType) -> object:
    """What must survive the round trip: size, spelling, and a struct's full layout."""
    s = strip_typedefs(ctype)
    if isinstance(s, Struct):
        fields = [
            (f.name, f.offset, f.bit_size, f.bit_offset, f.type.spell(f.name), f.type.size)
            for f in s.fields
        ]
        return (ctype.c_name, s.union, s.complete, s.size, s.align, fields)
    return (ctype.c_name, ctype.size, ctype.align)


# -- round trip -------------------------------------------------------------


@pytest.mark.parametrize(("highmem", "pae"), CONFIGS, ids=CONFIG_IDS)
def test_every_kernel_type_reads_back_the_same(highmem: bool, pae: bool) -> None:
    kt = kernel_types(highmem, pae)
    info = load_debuginfo(io.BytesIO(vmlinux_bytes(highmem, pae)))
    for name, ctype in kt.by_name.items():
        assert shape(info.types[name]) == shape(ctype), name
    # Nothing but the anonymous rb_root_t's tagged struct is extra.
    assert set(info.types) - set(kt.by_name) == {"struct rb_root_s"}


@pytest.mark.parametrize(("highmem", "pae"), CONFIGS, ids=CONFIG_IDS)
def test_variables_and_symbols_read_back(highmem: bool, pae: bool) -> None:
    spec = make_spec(kernel_types(highmem, pae))
    data = build_vmlinux(spec)
    info = load_debuginfo(io.BytesIO(data))
    symbols = load_symbols(io.BytesIO(data))
    typed = [s for s in spec.symbols if s.ctype is not None]
    assert set(info.variables) == {s.name for s in typed}
    for s in typed:
        assert s.ctype is not None
        address, ctype = info.variables[s.name]
        assert (address, ctype.spell(s.name), ctype.size) == (
            s.address,
            s.ctype.spell(s.name),
            s.ctype.size,
        )
    assert symbols == {s.name: (s.address, s.size, s.kind) for s in spec.symbols}
    assert symbols["vmlist"].kind == "object"


def test_types_are_linked_like_the_model() -> None:
    info = load_debuginfo(io.BytesIO(vmlinux_bytes()))
    list_head = info.struct("struct list_head")
    nxt = list_head.member("next").type
    assert isinstance(nxt, Pointer) and nxt.target is list_head
    zone = info.struct("zone_t")
    pgdat = zone.member("zone_pgdat").type
    assert isinstance(pgdat, Pointer) and pgdat.target is info.struct("pg_data_t")
    assert info.types["struct address_space_operations"].complete is False  # type: ignore[attr-defined]
    assert info.struct("struct zone_struct").offsetof(
        "free_area[3].map"
    ) == kernel_types().offsetof("struct zone_struct", "free_area[3].map")
    with pytest.raises(KeyError):
        info.struct("unsigned long")


def test_layout_comes_from_the_image_not_from_the_kernel_types() -> None:
    """A layout the ABI rules would never produce is read back as written."""
    ulong = Base("unsigned long", 4, False)
    odd = Struct("vm_struct").define_at(
        [
            Field("flags", ulong, 4),
            Field("addr", Pointer(Void()), 12),
            Field("size", ulong, 20),
            Field("next", Pointer(ulong), 28),
        ],
        36,
    )
    kt = KernelTypes(False, False, by_name={"struct vm_struct": odd, "unsigned long": ulong})
    kt.variables["vmlist"] = Pointer(odd)
    info = load_debuginfo(io.BytesIO(build_vmlinux(make_spec(kt))))
    got = info.struct("struct vm_struct")
    assert [(f.name, f.offset) for f in got.fields] == [
        ("flags", 4),
        ("addr", 12),
        ("size", 20),
        ("next", 28),
    ]
    assert got.size == 36


def test_every_model_feature_reads_back() -> None:
    """Enums, unions, bitfields, function pointers, char arrays and void round-trip."""
    char = Base("char", 1, True, char=True)
    uchar = Base("unsigned char", 1, False, char=True)
    uint = Base("unsigned int", 4, False)
    llong = Base("long long", 8, True)
    state = Enum("state", [("IDLE", 0), ("BUSY", 1), ("GONE", -1)])
    opaque = Struct("opaque")
    node = Struct("node")
    callback = Pointer(Function(Void(), [Pointer(node), uint, Pointer(Void())]))
    flags = Struct(None).define_at(
        [Field("a", uint, 0, bit_size=3), Field("b", uint, 0, bit_size=5, bit_offset=3)], 4
    )
    node.define(
        [
            ("next", Pointer(node)),
            ("name", Array(char, 16)),
            ("raw", Array(Array(uchar, 4), 2)),
            ("st", state),
            ("cb", callback),
            ("u", Struct(None, union=True).define([("i", uint), ("ll", llong)])),
            ("bits", flags),
            ("priv", Pointer(opaque)),
            ("vp", Pointer(Pointer(Void()))),
        ]
    )
    by_name: dict[str, CType] = {
        t.c_name: t for t in (char, uchar, uint, llong, state, opaque, node)
    }
    by_name["node_t"] = Typedef("node_t", node)
    by_name["handler_t"] = Typedef("handler_t", callback)
    by_name["nothing_t"] = Typedef("nothing_t", Void())
    kt = KernelTypes(False, False, by_name=by_name)
    kt.variables["head"] = Array(Pointer(by_name["node_t"]), 3)
    info = load_debuginfo(io.BytesIO(build_vmlinux(make_spec(kt))))
    for name, ctype in by_name.items():
        assert shape(info.types[name]) == shape(ctype), name
    got = info.types["enum state"]
    assert isinstance(got, Enum) and got.enumerators == state.enumerators
    bits = strip_typedefs(info.struct("struct node").member("bits").type)
    assert isinstance(bits, Struct)
    assert [(f.offset, f.bit_offset, f.bit_size) for f in bits.fields] == [(0, 0, 3), (0, 3, 5)]
    cb = info.struct("struct node").member("cb").type
    assert cb.spell("cb") == "void (*cb)(struct node *, unsigned int, void *)"
    assert info.variables["head"][1].spell("head") == "node_t *head[3]"
    assert isinstance(strip_typedefs(info.types["nothing_t"]), Void)


GCC_SOURCE = r"""
struct list_head { struct list_head *next, *prev; };
struct vm_struct { unsigned long flags; void *addr; unsigned long size; struct vm_struct *next; };
typedef struct { volatile int counter; } atomic_t;
typedef struct { } spinlock_t;
struct rw_semaphore { long count; spinlock_t wait_lock; struct list_head wait_list; };
struct module;
struct tail {
    unsigned long swap_address;
    unsigned dumpable:1, other:3;
    struct { void *segments; unsigned long cpuvalid; } context;
};
union uc { atomic_t usecount; long pad; };
struct ops {
    int (*init)(void);
    void (*ctor)(void *, struct module *, unsigned long);
    const char name[20];
    unsigned short map[2][3];
};
struct vm_struct *vmlist;
struct tail tail;
struct ops ops;
union uc uc;
struct rw_semaphore sem;
"""


@pytest.mark.parametrize("flags", ["-gdwarf-2 -gstrict-dwarf", "-gdwarf-4", "-gdwarf-5"])
def test_reads_what_gcc_writes(tmp_path: Path, flags: str) -> None:
    """DWARF from a real compiler (older bitfield and location forms included) reads right."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed")
    src = tmp_path / "k.c"
    src.write_text(GCC_SOURCE)
    obj = tmp_path / "k.o"
    proc = subprocess.run(
        [gcc, "-m32", "-g", *flags.split(), "-c", str(src), "-o", str(obj)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        pytest.skip(f"gcc cannot compile for i386 here: {proc.stderr.strip()[:200]}")
    info = load_debuginfo(obj)
    kt = kernel_types()
    for name in ("struct list_head", "struct vm_struct", "struct rw_semaphore"):
        want, got = kt.struct(name), info.struct(name)
        assert [(f.name, f.offset, f.type.size) for f in got.fields] == [
            (f.name, f.offset, f.type.size) for f in want.fields
        ], name
        assert got.size == want.size
    tail = info.struct("struct tail")
    assert [(f.name, f.offset, f.bit_offset, f.bit_size) for f in tail.fields] == [
        ("swap_address", 0, 0, 0),
        ("dumpable", 4, 0, 1),
        ("other", 4, 1, 3),
        ("context", 8, 0, 0),
    ]
    assert info.types["union uc"].size == 4
    ops = info.struct("struct ops")
    assert [f.offset for f in ops.fields] == [0, 4, 8, 28]
    assert ops.member("init").type.spell("init") == "int (*init)(void)"
    assert ops.member("ctor").type.spell("ctor") == (
        "void (*ctor)(void *, struct module *, long unsigned int)"
    )
    name, grid = ops.member("name").type, ops.member("map").type
    assert isinstance(name, Array) and name.count == 20
    assert isinstance(grid, Array) and grid.count == 2
    assert isinstance(grid.element, Array) and grid.element.count == 3
    assert ops.size == 40
    assert isinstance(info.variables["vmlist"][1], Pointer)


# -- errors -----------------------------------------------------------------


def _section(data: bytes, name: str) -> tuple[int, int]:
    sec = ELFFile(io.BytesIO(data)).get_section_by_name(name)
    return sec["sh_offset"], sec["sh_size"]


def _compress_flag(data: bytearray, name: str, ch_type: int, ch_size: int) -> None:
    """Mark section ``name`` SHF_COMPRESSED with an Elf32_Chdr of ``ch_type``, ``ch_size``."""
    elf = ELFFile(io.BytesIO(bytes(data)))
    index = next(i for i, sec in enumerate(elf.iter_sections()) if sec.name == name)
    flags_at = elf["e_shoff"] + index * elf["e_shentsize"] + 8  # sh_name, sh_type, sh_flags
    struct.pack_into("<I", data, flags_at, struct.unpack_from("<I", data, flags_at)[0] | 0x800)
    struct.pack_into("<III", data, _section(bytes(data), name)[0], ch_type, ch_size, 1)


def _patch_type_ref(data: bytes, die_name: str, target: int) -> bytes:
    """Point the DW_AT_type of the DIE named ``die_name`` at CU offset ``target``."""
    dwarf = ELFFile(io.BytesIO(data)).get_dwarf_info()
    cu = next(dwarf.iter_CUs())
    for die in cu.iter_DIEs():
        name = die.attributes.get("DW_AT_name")
        if name is not None and name.value == die_name.encode():
            ref = die.attributes["DW_AT_type"]
            base, _ = _section(data, ".debug_info")
            out = bytearray(data)
            struct.pack_into("<I", out, base + ref.offset, target if target >= 0 else die.offset)
            return bytes(out)
    raise AssertionError(die_name)


def _rename_section(data: bytes, old: bytes, new: bytes) -> bytes:
    base, size = _section(data, ".shstrtab")
    i = data.index(old + b"\0", base, base + size)
    return data[:i] + new + data[i + len(new) :]


def _corruptions() -> dict[str, bytes]:
    data = vmlinux_bytes()
    info_off, info_size = _section(data, ".debug_info")
    abbrev_off, abbrev_size = _section(data, ".debug_abbrev")
    symtab_off, symtab_size = _section(data, ".symtab")
    bad_abbrev = bytearray(data)
    bad_abbrev[abbrev_off : abbrev_off + abbrev_size] = b"\xff" * abbrev_size
    bad_length = bytearray(data)
    struct.pack_into("<I", bad_length, info_off, 0x7FFFFFF0)
    bad_name = bytearray(data)
    struct.pack_into("<I", bad_name, symtab_off + 16, 0xFFFFFF)  # first symbol's st_name
    return {
        "empty": b"",
        "garbage": bytes(random.Random(7).randrange(256) for _ in range(4096)),
        "not ELF": b"#!/bin/sh\n" + bytes(100),
        "header only": data[:52],
        "half": data[: len(data) // 2],
        "one byte short": data[:-1],
        "abbrev table garbage": bytes(bad_abbrev),
        "CU length past section": bytes(bad_length),
        "dangling type reference": _patch_type_ref(data, "size_t", info_size + 100),
        "typedef of itself": _patch_type_ref(data, "size_t", -1),
        "no DWARF": _rename_section(data, b".debug_info", b".xebug_info"),
        "no symtab": _rename_section(data, b".symtab", b".xymtab"),
        "symbol name outside strtab": bytes(bad_name),
    }


CORRUPTIONS = _corruptions()


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_malformed_vmlinux_raises_debuginfoerror(case: str) -> None:
    data = CORRUPTIONS[case]
    outcomes = []
    for load in (load_debuginfo, load_symbols):
        try:
            load(io.BytesIO(data))
            outcomes.append("ok")
        except DebugInfoError as exc:
            assert str(exc) and "\n" not in str(exc)
            outcomes.append("error")
    # Damage confined to the DWARF leaves the symbol table usable, and vice versa.
    expected = {
        "abbrev table garbage": ["error", "ok"],
        "CU length past section": ["error", "ok"],
        "dangling type reference": ["error", "ok"],
        "typedef of itself": ["error", "ok"],
        "no DWARF": ["error", "ok"],
        "no symtab": ["ok", "error"],
        "symbol name outside strtab": ["ok", "error"],
    }.get(case, ["error", "error"])
    assert outcomes == expected


def test_missing_file_raises_debuginfoerror(tmp_path: Path) -> None:
    with pytest.raises(DebugInfoError, match="cannot read"):
        load_debuginfo(tmp_path / "absent.vmlinux")


def test_paths_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "k.vmlinux"
    path.write_bytes(vmlinux_bytes())
    assert "vmlist" in load_debuginfo(path).variables
    assert "vmlist" in load_symbols(str(path))
    with pytest.raises(DebugInfoError, match="past the end"):
        load_symbols(io.BytesIO(path.read_bytes()[:-100]))


@pytest.mark.slow  # 300 loads of the whole vmlinux: seconds, with the slow tests
def test_random_damage_never_escapes_as_another_exception() -> None:
    data = vmlinux_bytes()
    rng = random.Random(2024)
    regions = [_section(data, n) for n in (".debug_info", ".debug_abbrev", ".symtab")]
    for _ in range(150):
        damaged = bytearray(data)
        offset, size = rng.choice(regions)
        for _ in range(rng.randint(1, 4)):
            damaged[offset + rng.randrange(size)] = rng.randrange(256)
        for load in (load_debuginfo, load_symbols):
            try:
                load(io.BytesIO(bytes(damaged)))
            except DebugInfoError as exc:
                assert "\n" not in str(exc)


# -- where a refusal says the fault is -------------------------------------------------


def _first_abbrev_code(data: bytes) -> int:
    """File offset of the first DIE's abbreviation code (DIE 0xb, after the unit header)."""
    return _section(data, ".debug_info")[0] + 11


def _name_offset(data: bytes, name: bytes) -> int:
    offset, size = _section(data, ".debug_str")
    return data.index(b"\0" + name + b"\0", offset, offset + size) + 1


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            lambda d: d.__setitem__(_first_abbrev_code(d), 125),
            r"^bad DWARF in \.debug_info: DIE 0xb: abbreviation code 125 is not in "
            r"\.debug_abbrev \(the table at 0x0\)$",
        ),
        (
            lambda d: d.__setitem__(_name_offset(d, b"vm_struct") + 2, 0xFF),
            r"^bad DWARF in \.debug_info: DW_TAG_structure_type at 0x[0-9a-f]+: DW_AT_name "
            r"b'vm\\xffstruct' is not UTF-8$",
        ),
        (
            lambda d: d.__setitem__(_name_offset(d, b"vm_struct") + 2, 0x1B),
            r"DW_AT_name b'vm\\x1bstruct' holds a control character$",
        ),
        (
            # unit header: unit_length (4), version (2), debug_abbrev_offset (4), address_size
            lambda d: d.__setitem__(_section(d, ".debug_info")[0] + 10, 1),
            r"^bad DWARF in \.debug_info at the compile unit header at 0x0: address size 1 "
            r"is neither 4 nor 8$",
        ),
        (
            # found by the hostile-input fuzz: pyelftools said "Unknown compression type"
            lambda d: _compress_flag(d, ".debug_str", ch_type=0x6E696D76, ch_size=16),
            r"^section \.debug_str: compression type 0x6e696d76 is not zlib \(1\)$",
        ),
        (
            lambda d: _compress_flag(d, ".debug_str", ch_type=1, ch_size=0xFFFFFFF0),
            r"^section \.debug_str: uncompressed size 0xfffffff0 is more than zlib can make",
        ),
    ],
    ids=["abbreviation", "utf-8", "control", "address-size", "compression", "inflation"],
)
def test_refusals_say_where(patch: object, message: str) -> None:
    """Before: 'bad DWARF: 125' and a codec error, naming neither DIE nor section."""
    data = bytearray(vmlinux_bytes())
    patch(data)  # type: ignore[operator]
    with pytest.raises(DebugInfoError, match=message):
        load_debuginfo(io.BytesIO(bytes(data)))


def test_dangling_reference_names_the_referring_die() -> None:
    data = bytearray(Path(f"{DEMO}.vmlinux").read_bytes())
    die, members = struct_die(Path(f"{DEMO}.vmlinux"), "vm_struct")
    struct.pack_into("<I", data, members["next"][0], 0xA818)
    with pytest.raises(
        DebugInfoError,
        match=r"^bad DWARF in \.debug_info: DW_TAG_member at 0x[0-9a-f]+: DW_AT_type refers to "
        r"0xa818, where no DIE starts$",
    ):
        load_debuginfo(io.BytesIO(bytes(data)))


def test_symbol_names_with_control_characters_are_refused() -> None:
    data = bytearray(vmlinux_bytes())
    offset, size = _section(data, ".strtab")
    at = data.index(b"\0vmlist\0", offset, offset + size) + 1
    data[at + 2] = 0x1B
    with pytest.raises(DebugInfoError, match=r"^\.symtab: symbol \d+ \(name at \.strtab offset "):
        load_symbols(io.BytesIO(bytes(data)))


def test_die_and_symbol_counts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a vmlinux may make the reader hold is bounded (about 2 KiB per DIE)."""
    import vmintro.image.reader.debuginfo as debuginfo

    monkeypatch.setattr(debuginfo, "MAX_DIES", 100)
    with pytest.raises(DebugInfoError, match=r"DIE 0x[0-9a-f]+: more than 100 DIEs"):
        load_debuginfo(io.BytesIO(vmlinux_bytes()))
    monkeypatch.setattr(debuginfo, "MAX_SYMBOLS", 10)
    with pytest.raises(DebugInfoError, match=r"^\.symtab: \d+ symbols, more than a kernel has"):
        load_symbols(io.BytesIO(vmlinux_bytes()))
