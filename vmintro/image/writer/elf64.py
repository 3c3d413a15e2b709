"""ELF64 little-endian structures (:mod:`vmintro.image.format.elf`) for a core whose
frames reach above 4 GiB: the ELF header and the program header.

The notes are built by :func:`vmintro.image.writer.elf32.build_note` in both
classes, since ``Elf64_Nhdr`` is ``Elf32_Nhdr``; a core has no sections.
"""

from __future__ import annotations

import construct as cs

from vmintro.image.format.elf import ELFCLASS64
from vmintro.image.writer.elf32 import elf_ehdr

__all__ = ["Elf64_Ehdr", "Elf64_Phdr"]

Elf64_Ehdr = elf_ehdr(ELFCLASS64, cs.Int64ul)

Elf64_Phdr = cs.Struct(
    "p_type" / cs.Int32ul,
    "p_flags" / cs.Int32ul,
    "p_offset" / cs.Int64ul,
    "p_vaddr" / cs.Int64ul,
    "p_paddr" / cs.Int64ul,
    "p_filesz" / cs.Int64ul,
    "p_memsz" / cs.Int64ul,
    "p_align" / cs.Int64ul,
)
