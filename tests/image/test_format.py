"""The image format is one definition the writer and the reader share, owned by neither.

:mod:`vmintro.image.format` imports neither side; the reader's packages import
nothing of the writer or the simulator; the writer's ELF structures have the
sizes the format (and pyelftools) give them.
"""

from __future__ import annotations

import json
import pkgutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.structs import ELFStructs

import vmintro.backends
import vmintro.image.format
import vmintro.image.reader
from vmintro.image.format import elf
from vmintro.image.writer import elf32, elf64

ROOT = Path(__file__).resolve().parents[2]


def _modules(package) -> list[str]:
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


def _imported_by(modules: list[str]) -> list[str]:
    """Every vmintro module a fresh interpreter holds after importing ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('vmintro'))))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return json.loads(child.stdout)


def _within(modules: list[str], *packages: str) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


def test_the_format_imports_neither_side() -> None:
    modules = _modules(vmintro.image.format)
    assert len(modules) >= 3
    loaded = _imported_by(modules)
    assert set(modules) <= set(loaded)
    assert _within(loaded, "vmintro.image.reader", "vmintro.image.writer", "vmintro.sim") == []


def test_the_reader_and_the_backends_import_no_writer() -> None:
    modules = _modules(vmintro.image.reader) + _modules(vmintro.backends)
    loaded = _imported_by(modules)
    assert set(modules) <= set(loaded)
    forbidden = ("vmintro.image.writer", "vmintro.sim", "vmintro.scenario", "vmintro.types.kernel")
    assert _within(loaded, *forbidden) == []


@pytest.mark.parametrize(
    "ours, size, theirs, elfclass",
    [
        (elf32.Elf32_Ehdr, elf.EHDR_SIZE, "Elf_Ehdr", 32),
        (elf32.Elf32_Phdr, elf.PHDR_SIZE, "Elf_Phdr", 32),
        (elf32.Elf32_Shdr, elf.SHDR_SIZE, "Elf_Shdr", 32),
        (elf32.Elf32_Sym, elf.SYM_SIZE, "Elf_Sym", 32),
        (elf32.Elf32_Nhdr, elf.NHDR_SIZE, "Elf_Nhdr", 32),
        (elf64.Elf64_Ehdr, elf.EHDR64_SIZE, "Elf_Ehdr", 64),
        (elf64.Elf64_Phdr, elf.PHDR64_SIZE, "Elf_Phdr", 64),
        (None, elf.SHDR64_SIZE, "Elf_Shdr", 64),
        (elf32.Elf32_Nhdr, elf.NHDR_SIZE, "Elf_Nhdr", 64),  # notes are alike in both classes
    ],
)
def test_the_writers_structures_have_the_formats_sizes(ours, size, theirs, elfclass) -> None:
    structs = ELFStructs(little_endian=True, elfclass=elfclass)
    structs.create_basic_structs()
    structs.create_advanced_structs(e_type="ET_CORE", e_machine="EM_386", e_ident_osabi="")
    assert size == getattr(structs, theirs).sizeof()
    if ours is not None:
        assert ours.sizeof() == size


@pytest.mark.parametrize("elfclass", [32, 64])
def test_the_readers_struct_formats_parse_as_pyelftools(elfclass: int) -> None:
    """The format's ``struct`` layouts of each class's ELF header and program header."""
    structs = ELFStructs(little_endian=True, elfclass=elfclass)
    structs.create_basic_structs()
    structs.create_advanced_structs(e_type="ET_CORE", e_machine="EM_386", e_ident_osabi="")
    tail, phdr = {
        32: (elf.ELF32_EHDR_TAIL, elf.ELF32_PHDR),
        64: (elf.ELF64_EHDR_TAIL, elf.ELF64_PHDR),
    }[elfclass]
    ident = b"\x7fELF" + bytes([elfclass // 32, 1, 1]) + bytes(9)
    raw = ident + bytes(range(16, 64))
    ehdr = structs.Elf_Ehdr.parse(raw)
    names = ["e_type", "e_machine", "e_version", "e_entry", "e_phoff", "e_shoff", "e_flags"]
    names += ["e_ehsize", "e_phentsize", "e_phnum", "e_shentsize", "e_shnum", "e_shstrndx"]
    assert struct.unpack_from(tail, raw, 16) == tuple(ehdr[n] for n in names)
    raw = bytes(range(9, 73))  # p_type 0x0c0b0a09: no type pyelftools names
    ph = structs.Elf_Phdr.parse(raw)
    order = {
        32: ["p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags"],
        64: ["p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz"],
    }[elfclass]
    assert struct.unpack_from(phdr, raw)[:7] == tuple(ph[n] for n in order)


@pytest.mark.parametrize(
    "definition, fmt",
    [(elf32.Elf32_Phdr, elf.ELF32_PHDR), (elf64.Elf64_Phdr, elf.ELF64_PHDR)],
)
def test_the_writers_packed_program_headers_are_its_construct_definitions(definition, fmt) -> None:
    """The core's program headers are packed with ``struct_layout`` of the construct
    definition: the same bytes as building them, in the reader's format."""
    layout, names = elf32.struct_layout(definition)
    values = {name: (i + 1) * 0x01010101 for i, name in enumerate(names)}  # one per field
    raw = layout.pack(*(values[n] for n in names))
    assert raw == definition.build(values)
    assert struct.unpack(fmt, raw) == tuple(values[n] for n in names)


def test_struct_layout_refuses_a_field_that_is_no_integer() -> None:
    with pytest.raises(TypeError, match="e_ident"):
        elf32.struct_layout(elf32.Elf32_Ehdr)
