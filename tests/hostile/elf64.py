"""An ELF32 core re-encoded as ELF64, as another writer (kexec-tools' ELF64 core
headers for an i386 machine) would describe the same segments: for the ELF64 reader's
tests and the fuzz's ELF64 mutations."""

from __future__ import annotations

import struct

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

__all__ = ["as_elf64"]

_PHDR = struct.Struct(ELF32_PHDR)
_PHDR64 = struct.Struct(ELF64_PHDR)
_EHDR64 = struct.Struct("<16s" + ELF64_EHDR_TAIL.removeprefix("<"))


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
