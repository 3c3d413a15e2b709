"""Cores edited the way a damaged or another writer's file would hold them: bytes of
stored RAM overwritten in place, and an ELF32 core re-encoded as ELF64."""

from __future__ import annotations

import struct
from pathlib import Path

from vmintro.image.format.elf import (
    EHDR64_SIZE,
    ELF32_PHDR,
    ELF64_EHDR_TAIL,
    ELF64_PHDR,
    ELFCLASS64,
    ELFDATA2LSB,
    EM_386,
    ET_CORE,
    EV_CURRENT,
    PHDR64_SIZE,
    PHDR_SIZE,
    SHDR64_SIZE,
)

_PHDR = struct.Struct(ELF32_PHDR)
_PHDR64 = struct.Struct(ELF64_PHDR)
_EHDR64 = struct.Struct("<16s" + ELF64_EHDR_TAIL.removeprefix("<"))
_PT_LOAD = 1


def as_elf64(core: bytes | bytearray) -> bytearray:
    """The ELF32 ``core`` as an ELF64 core of the same segments, as kexec-tools' ELF64
    headers describe an i386 machine: an ``Elf64_Ehdr`` over the start of the file and
    the program headers, widened, appended at its end (``e_phoff`` points there), so
    every segment's data stays at its offset.
    """
    (phoff,) = struct.unpack_from("<I", core, 28)
    (phnum,) = struct.unpack_from("<H", core, 44)
    table = b"".join(
        _PHDR64.pack(p_type, flags, offset, vaddr, paddr, filesz, memsz, align)
        for p_type, offset, vaddr, paddr, filesz, memsz, flags, align in (
            _PHDR.unpack_from(core, phoff + i * PHDR_SIZE) for i in range(phnum)
        )
    )
    at = -(-len(core) // 8) * 8
    ident = b"\x7fELF" + bytes([ELFCLASS64, ELFDATA2LSB, EV_CURRENT]) + bytes(9)
    ehdr = _EHDR64.pack(
        ident, ET_CORE, EM_386, EV_CURRENT, 0, at, 0, 0, EHDR64_SIZE, PHDR64_SIZE, phnum,
        SHDR64_SIZE, 0, 0,
    )  # fmt: skip
    return bytearray(ehdr + core[EHDR64_SIZE:] + bytes(at - len(core)) + table)


def write_phys(vmcore: Path, paddr: int, data: bytes) -> None:
    """Write ``data`` over the stored RAM at physical ``paddr`` (one segment must hold it)."""
    core = bytearray(vmcore.read_bytes())
    (phoff,) = struct.unpack_from("<I", core, 28)
    (phnum,) = struct.unpack_from("<H", core, 44)
    for i in range(phnum):
        p_type, offset, _v, start, filesz, *_ = _PHDR.unpack_from(core, phoff + i * PHDR_SIZE)
        if p_type == _PT_LOAD and start <= paddr and paddr + len(data) <= start + filesz:
            at = offset + paddr - start
            core[at : at + len(data)] = data
            vmcore.write_bytes(bytes(core))
            return
    raise ValueError(f"physical {paddr:#x} is not stored in {vmcore.name}")
