"""The image format is one definition the writer and the reader share, owned by neither.

:mod:`vmintro.image.format` imports neither side; the reader's packages import
nothing of the writer or the simulator; the writer's ELF structures have the
sizes the format (and pyelftools) give them.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.structs import ELFStructs

import vmintro.backends
import vmintro.image.format
import vmintro.image.reader
from vmintro.image.format import elf
from vmintro.image.writer import elf32

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
    "ours, size, theirs",
    [
        (elf32.Elf32_Ehdr, elf.EHDR_SIZE, "Elf_Ehdr"),
        (elf32.Elf32_Phdr, elf.PHDR_SIZE, "Elf_Phdr"),
        (elf32.Elf32_Shdr, elf.SHDR_SIZE, "Elf_Shdr"),
        (elf32.Elf32_Sym, elf.SYM_SIZE, "Elf_Sym"),
        (elf32.Elf32_Nhdr, elf.NHDR_SIZE, "Elf_Nhdr"),
    ],
)
def test_the_writers_structures_have_the_formats_sizes(ours, size, theirs) -> None:
    structs = ELFStructs(little_endian=True, elfclass=32)
    structs.create_basic_structs()
    structs.create_advanced_structs(e_type="ET_CORE", e_machine="EM_386", e_ident_osabi="")
    assert ours.sizeof() == size == getattr(structs, theirs).sizeof()
