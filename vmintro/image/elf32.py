"""ELF32 little-endian i386 structures for writing images, and atomic file output.

pyelftools reads ELF but does not write it; these construct definitions are the
writing side, checked against pyelftools by the tests.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import construct as cs

__all__ = [
    "Elf32_Ehdr",
    "Elf32_Nhdr",
    "Elf32_Phdr",
    "Elf32_Shdr",
    "Elf32_Sym",
    "atomic_output",
    "build_note",
]

EI_NIDENT = 16
ELFCLASS32 = 1
ELFDATA2LSB = 1
EV_CURRENT = 1
ET_EXEC = 2
ET_CORE = 4
EM_386 = 3

PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_NOBITS = 8
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
SHN_ABS = 0xFFF1

STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3

Elf32_Ehdr = cs.Struct(
    "e_ident" / cs.Const(b"\x7fELF" + bytes([ELFCLASS32, ELFDATA2LSB, EV_CURRENT]) + bytes(9)),
    "e_type" / cs.Int16ul,
    "e_machine" / cs.Int16ul,
    "e_version" / cs.Int32ul,
    "e_entry" / cs.Int32ul,
    "e_phoff" / cs.Int32ul,
    "e_shoff" / cs.Int32ul,
    "e_flags" / cs.Int32ul,
    "e_ehsize" / cs.Int16ul,
    "e_phentsize" / cs.Int16ul,
    "e_phnum" / cs.Int16ul,
    "e_shentsize" / cs.Int16ul,
    "e_shnum" / cs.Int16ul,
    "e_shstrndx" / cs.Int16ul,
)

Elf32_Phdr = cs.Struct(
    "p_type" / cs.Int32ul,
    "p_offset" / cs.Int32ul,
    "p_vaddr" / cs.Int32ul,
    "p_paddr" / cs.Int32ul,
    "p_filesz" / cs.Int32ul,
    "p_memsz" / cs.Int32ul,
    "p_flags" / cs.Int32ul,
    "p_align" / cs.Int32ul,
)

Elf32_Shdr = cs.Struct(
    "sh_name" / cs.Int32ul,
    "sh_type" / cs.Int32ul,
    "sh_flags" / cs.Int32ul,
    "sh_addr" / cs.Int32ul,
    "sh_offset" / cs.Int32ul,
    "sh_size" / cs.Int32ul,
    "sh_link" / cs.Int32ul,
    "sh_info" / cs.Int32ul,
    "sh_addralign" / cs.Int32ul,
    "sh_entsize" / cs.Int32ul,
)

Elf32_Sym = cs.Struct(
    "st_name" / cs.Int32ul,
    "st_value" / cs.Int32ul,
    "st_size" / cs.Int32ul,
    "st_info" / cs.Int8ul,
    "st_other" / cs.Int8ul,
    "st_shndx" / cs.Int16ul,
)

Elf32_Nhdr = cs.Struct(
    "n_namesz" / cs.Int32ul,
    "n_descsz" / cs.Int32ul,
    "n_type" / cs.Int32ul,
)

EHDR_SIZE = Elf32_Ehdr.sizeof()
PHDR_SIZE = Elf32_Phdr.sizeof()
SHDR_SIZE = Elf32_Shdr.sizeof()


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def build_note(name: str, n_type: int, desc: bytes) -> bytes:
    """One ELF note: header, NUL-terminated name and descriptor, each padded to 4 bytes."""
    raw_name = name.encode() + b"\0"
    header = Elf32_Nhdr.build({"n_namesz": len(raw_name), "n_descsz": len(desc), "n_type": n_type})
    return header + _pad4(raw_name) + _pad4(desc)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], temporary: str | os.PathLike[str] | None = None
) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file in the same directory, renamed on success.

    An exception (or an interrupt) leaves the old file, if any, untouched and
    no partial file behind. The temporary gets a fresh name unless the caller,
    who then owns that name, gives one.
    """
    target = Path(path)
    if temporary is None:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    else:
        tmp = os.fspath(temporary)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
