"""The vmlinux writer: gdb reads its types and, with a core, its variables; output is stable."""

from __future__ import annotations

import io
import os
import re
import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from oracles import run_gdb

from vmintro.arch.x86 import (
    EMPTY_ZERO_PAGE,
    PAGE_OFFSET,
    PG0,
    PG1,
    STEXT,
    SWAPPER_PG_DIR,
    TEXT_START,
    MachineConfig,
)
from vmintro.image.format.elf import (
    EHDR_SIZE,
    EM_386,
    ET_CORE,
    EV_CURRENT,
    PF_R,
    PF_W,
    PF_X,
    PHDR_SIZE,
    PT_LOAD,
    SHF_ALLOC,
)
from vmintro.image.writer.elf32 import Elf32_Ehdr, Elf32_Phdr
from vmintro.image.writer.spec import ImageSpec, Symbol
from vmintro.image.writer.vmlinux import build_vmlinux, write_vmlinux
from vmintro.sim.physmem import PhysMem
from vmintro.types.kernel import KernelTypes, kernel_types
from vmintro.types.model import CType, Struct, strip_typedefs

CONFIGS = [(False, False), (True, False), (True, True)]
CONFIG_IDS = ["nohighmem", "highmem", "pae"]
KERNEL_RANGE = (0x00100000, 0x00140000)
DATA_START = TEXT_START + 0x10000
STATIC = {"cache_cache", "cache_sizes"}  # `static` in mm/slab.c
# Two vm_structs chained from vmlist, in the image's free space.
AREA_A = TEXT_START + 0x30000
AREA_B = AREA_A + 0x40


def make_spec(highmem: bool, pae: bool, kt: KernelTypes | None = None) -> ImageSpec:
    """A small image: every kernel variable at a plausible address, a few of them set."""
    kt = kt or kernel_types(highmem, pae)
    fixed = {
        "swapper_pg_dir": SWAPPER_PG_DIR,
        "pg0": PG0,
        "pg1": PG1,
        "empty_zero_page": EMPTY_ZERO_PAGE,
    }
    symbols = [
        Symbol("_text", TEXT_START, 0, "notype"),
        Symbol("startup_32", TEXT_START, 0x100, "func"),
        Symbol("start_kernel", STEXT, 0x200, "func"),
        Symbol("_etext", DATA_START, 0, "notype"),
    ]
    addr = DATA_START
    for name, ctype in kt.variables.items():
        at = fixed.get(name)
        if at is None:
            at = addr = (addr + 31) & ~31
            addr += ctype.size
        symbols.append(Symbol(name, at, ctype.size, "object", name in STATIC, ctype))
    symbols.append(Symbol("_end", PAGE_OFFSET + KERNEL_RANGE[1], 0, "notype"))
    assert addr < AREA_A

    mem = PhysMem(64 << 20)
    spec = ImageSpec(MachineConfig(highmem=highmem, pae=pae), mem, kt, symbols, KERNEL_RANGE)
    vm_struct = kt.struct("struct vm_struct")
    assert [f.offset for f in vm_struct.fields] == [0, 4, 8, 12]
    mem.write(AREA_A - PAGE_OFFSET, struct.pack("<4I", 0x22, 0xC8800000, 0x5000, AREA_B))
    mem.write(AREA_B - PAGE_OFFSET, struct.pack("<4I", 0x01, 0xC8806000, 0x2000, 0))
    mem.write_u32(spec.symbol("vmlist").address - PAGE_OFFSET, AREA_A)
    mem.write_u32(spec.symbol("max_mapnr").address - PAGE_OFFSET, 16384)
    init_mm = spec.symbol("init_mm").address - PAGE_OFFSET
    # Bit 0 only: a bitfield placed at the wrong end of its unit reads 0.
    mem.write_u32(init_mm + kt.offsetof("struct mm_struct", "dumpable"), 1)
    objsize = kt.offsetof("kmem_cache_t", "objsize")
    mem.write_u32(spec.symbol("cache_cache").address - PAGE_OFFSET + objsize, 0xAC)
    return spec


def write_core(spec: ImageSpec, path: Path) -> None:
    """A minimal ELF32 core: one PT_LOAD holding the kernel image, mapped at PAGE_OFFSET."""
    lo, hi = spec.kernel_range
    data = spec.mem.read(lo, hi - lo)
    offset = 0x1000
    ehdr = Elf32_Ehdr.build(
        dict(
            e_type=ET_CORE,
            e_machine=EM_386,
            e_version=EV_CURRENT,
            e_entry=0,
            e_phoff=EHDR_SIZE,
            e_shoff=0,
            e_flags=0,
            e_ehsize=EHDR_SIZE,
            e_phentsize=PHDR_SIZE,
            e_phnum=1,
            e_shentsize=0,
            e_shnum=0,
            e_shstrndx=0,
        )
    )
    phdr = Elf32_Phdr.build(
        dict(
            p_type=PT_LOAD,
            p_offset=offset,
            p_vaddr=PAGE_OFFSET + lo,
            p_paddr=lo,
            p_filesz=len(data),
            p_memsz=len(data),
            p_flags=PF_R | PF_W | PF_X,
            p_align=0x1000,
        )
    )
    head = ehdr + phdr
    path.write_bytes(head + bytes(offset - len(head)) + data)


# -- gdb -------------------------------------------------------------------


def ptype_body(s: Struct, indent: str = "    ") -> list[str]:
    """The lines gdb's ``ptype`` prints inside a struct's braces, from the model."""
    if not s.fields:
        return [f"{indent}<no data fields>"]
    lines = []
    for f in s.fields:
        inner = f.type
        if isinstance(inner, Struct) and inner.tag is None:
            # gdb writes an anonymous struct or union out in place.
            lines.append(f"{indent}{inner.keyword} {{")
            lines += ptype_body(inner, indent + "    ")
            lines.append(f"{indent}}} {f.name};")
        else:
            bits = f" : {f.bit_size}" if f.bit_size else ""
            volatile = "volatile " if f.volatile else ""  # atomic_t's counter
            lines.append(f"{indent}{volatile}{f.type.spell(f.name)}{bits};")
    return lines


def expected_ptype(ctype: CType) -> str:
    s = strip_typedefs(ctype)
    assert isinstance(s, Struct)
    head = f"{s.keyword} {s.tag}" if s.tag else s.keyword
    return "\n".join([f"type = {head} {{", *ptype_body(s), "}"])


def complete_structs(kt: KernelTypes) -> list[tuple[str, Struct]]:
    """Every name of ``by_name`` that denotes a complete struct or union."""
    out = []
    for name, ctype in kt.by_name.items():
        s = strip_typedefs(ctype)
        if isinstance(s, Struct) and s.complete:
            out.append((name, s))
    return out


@pytest.mark.parametrize(("highmem", "pae"), CONFIGS, ids=CONFIG_IDS)
def test_gdb_reads_every_struct_as_the_model_lays_it_out(
    tmp_path: Path, highmem: bool, pae: bool
) -> None:
    kt = kernel_types(highmem, pae)
    vmlinux = tmp_path / "k.vmlinux"
    write_vmlinux(make_spec(highmem, pae), vmlinux)

    checks: list[tuple[str, str]] = []  # (gdb command, expected output)
    for name in ("struct page", "struct vm_struct", "zone_t", "pg_data_t", "struct module"):
        checks.append((f"ptype {name}", expected_ptype(kt[name])))
    checks.append(("print sizeof(struct page)", f"$ = {kt.sizeof('struct page')}"))
    free3 = kt.offsetof("struct zone_struct", "free_area[3]")
    checks.append(
        ("print &((struct zone_struct *)0)->free_area[3]", f"$ = (free_area_t *) {free3:#x}")
    )
    for name, s in complete_structs(kt):
        checks.append((f"ptype {name}", expected_ptype(s)))
        checks.append((f"print sizeof({name})", f"$ = {s.size}"))
        for f in s.fields:
            member = f"(({name} *)0)->{f.name}"
            volatile = "volatile " if f.volatile else ""
            checks.append((f"whatis {member}", f"type = {volatile}{f.type.c_name}"))
            if not f.bit_size:  # gdb cannot take a bitfield's address
                checks.append((f"print (int)&{member}", f"$ = {f.offset}"))
    mm = kt.struct("struct mm_struct")
    dumpable = mm.member("dumpable")
    checks.append(("ptype/o struct mm_struct", ""))

    outputs = run_gdb([vmlinux], [cmd for cmd, _ in checks])
    for (cmd, want), got in zip(checks[:-1], outputs[:-1], strict=True):
        assert re.sub(r"^\$\d+ = ", "$ = ", got) == want, cmd
    # The bitfield: its unit's offset, its first bit and its width, as gdb sees them.
    pattern = (
        rf"/\*\s+{dumpable.offset}:\s*{dumpable.bit_offset}\s+\|\s+4 \*/"
        rf"\s+unsigned int dumpable : {dumpable.bit_size};"
    )
    assert re.search(pattern, outputs[-1]), outputs[-1]


@pytest.mark.parametrize(("highmem", "pae"), CONFIGS, ids=CONFIG_IDS)
def test_gdb_reads_variables_from_the_core(tmp_path: Path, highmem: bool, pae: bool) -> None:
    spec = make_spec(highmem, pae)
    vmlinux, vmcore = tmp_path / "k.vmlinux", tmp_path / "k.vmcore"
    write_vmlinux(spec, vmlinux)
    write_core(spec, vmcore)
    checks = [
        ("p vmlist", f"(struct vm_struct *) {AREA_A:#x}"),
        ("p *vmlist", f"{{flags = 34, addr = 0xc8800000, size = 20480, next = {AREA_B:#x}}}"),
        ("x/4wx vmlist", f"{AREA_A:#x}:\t0x00000022\t0xc8800000\t0x00005000\t{AREA_B:#010x}"),
        ("p vmlist->next->size", "8192"),
        ("p max_mapnr", "16384"),
        ("p init_mm.dumpable", "1"),
        ("p cache_cache.objsize", "172"),
        (
            "p &swapper_pg_dir",
            f"({spec.types.variables['swapper_pg_dir'].spell('(*)')}) "
            f"{SWAPPER_PG_DIR:#x} <swapper_pg_dir>",
        ),
        ("p sizeof(contig_page_data)", str(spec.types.sizeof("pg_data_t"))),
    ]
    outputs = run_gdb([vmlinux, vmcore], [cmd for cmd, _ in checks])
    for (cmd, want), got in zip(checks, outputs, strict=True):
        assert re.sub(r"^\$\d+ = ", "", got) == want, cmd


def test_vmlinux_holds_no_bytes_of_kernel_memory(tmp_path: Path) -> None:
    """Allocated sections are NOBITS: the core alone supplies kernel memory."""
    spec = make_spec(False, False)
    elf = ELFFile(io.BytesIO(build_vmlinux(spec)))
    alloc = [s for s in elf.iter_sections() if s["sh_flags"] & SHF_ALLOC]
    assert [s.name for s in alloc] == [".text", ".data", ".bss"]
    assert all(s["sh_type"] == "SHT_NOBITS" for s in alloc)
    # They tile the kernel image's virtual range, split at _etext.
    lo, hi = (PAGE_OFFSET + a for a in spec.kernel_range)
    assert alloc[0]["sh_addr"] == lo
    assert alloc[1]["sh_addr"] == alloc[0]["sh_addr"] + alloc[0]["sh_size"] == DATA_START
    assert alloc[2]["sh_addr"] + alloc[2]["sh_size"] == hi
    assert elf["e_phnum"] == 0 and elf["e_type"] == "ET_EXEC" and elf["e_machine"] == "EM_386"


def test_symtab_lists_locals_first(tmp_path: Path) -> None:
    spec = make_spec(False, False)
    elf = ELFFile(io.BytesIO(build_vmlinux(spec)))
    symtab = elf.get_section_by_name(".symtab")
    syms = list(symtab.iter_symbols())[1:]
    binds = [s["st_info"]["bind"] for s in syms]
    first_global = symtab["sh_info"]
    assert binds == ["STB_LOCAL"] * (first_global - 1) + ["STB_GLOBAL"] * (
        len(syms) - first_global + 1
    )
    assert {s.name for s in syms[: first_global - 1]} == STATIC
    by_name = {s.name: s for s in syms}
    sections = [sec.name for sec in elf.iter_sections()]
    for want in spec.symbols:
        got = by_name[want.name]
        assert (got["st_value"], got["st_size"]) == (want.address, want.size), want.name
        kind = {"object": "STT_OBJECT", "func": "STT_FUNC", "notype": "STT_NOTYPE"}[want.kind]
        assert got["st_info"]["type"] == kind
        section = sections[got["st_shndx"]]
        if want.address < DATA_START:
            assert section == ".text", want.name
        elif want.name != "_end":
            assert section == ".data", want.name


# -- determinism and atomicity ---------------------------------------------


@pytest.mark.parametrize(("highmem", "pae"), CONFIGS, ids=CONFIG_IDS)
def test_same_input_same_bytes(tmp_path: Path, highmem: bool, pae: bool) -> None:
    first, second = tmp_path / "a.vmlinux", tmp_path / "b.vmlinux"
    write_vmlinux(make_spec(highmem, pae), first)
    write_vmlinux(make_spec(highmem, pae), second)
    assert first.read_bytes() == second.read_bytes()
    # Freshly built type objects (other ids, other hash order) change nothing.
    fresh = kernel_types.__wrapped__(highmem, pae)
    assert build_vmlinux(make_spec(highmem, pae, fresh)) == first.read_bytes()


def test_configs_differ() -> None:
    assert build_vmlinux(make_spec(False, False)) != build_vmlinux(make_spec(True, False))


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "k.vmlinux"

    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_vmlinux(make_spec(False, False), target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "k.vmlinux"
    target.write_bytes(b"old")
    spec = make_spec(False, False)
    spec.symbols.append(Symbol("weird", 0, 0, kind="section"))
    with pytest.raises(ValueError, match="unknown kind"):
        write_vmlinux(spec, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["k.vmlinux"]
