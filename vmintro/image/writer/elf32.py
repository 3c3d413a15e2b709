"""ELF32 little-endian i386 structures (:mod:`vmintro.image.format.elf`) for writing images.

pyelftools reads ELF but does not write it; these construct definitions are the
writing side, checked against pyelftools and the format's sizes by the tests.
"""

from __future__ import annotations

import struct

import construct as cs

from vmintro.image.format.elf import ELFCLASS32, ELFDATA2LSB, EV_CURRENT

__all__ = [
    "Elf32_Ehdr",
    "Elf32_Nhdr",
    "Elf32_Phdr",
    "Elf32_Shdr",
    "Elf32_Sym",
    "build_note",
    "elf_ehdr",
    "struct_layout",
]


def elf_ehdr(elfclass: int, word: cs.Construct) -> cs.Struct:
    """``Elf32_Ehdr`` or ``Elf64_Ehdr``: alike but for ``word``, the width of e_entry,
    e_phoff and e_shoff (``Elf32_Addr``/``Elf32_Off`` or their 64-bit forms)."""
    return cs.Struct(
        "e_ident" / cs.Const(b"\x7fELF" + bytes([elfclass, ELFDATA2LSB, EV_CURRENT]) + bytes(9)),
        "e_type" / cs.Int16ul,
        "e_machine" / cs.Int16ul,
        "e_version" / cs.Int32ul,
        "e_entry" / word,
        "e_phoff" / word,
        "e_shoff" / word,
        "e_flags" / cs.Int32ul,
        "e_ehsize" / cs.Int16ul,
        "e_phentsize" / cs.Int16ul,
        "e_phnum" / cs.Int16ul,
        "e_shentsize" / cs.Int16ul,
        "e_shnum" / cs.Int16ul,
        "e_shstrndx" / cs.Int16ul,
    )


def struct_layout(definition: cs.Struct) -> tuple[struct.Struct, tuple[str, ...]]:
    """``definition`` (a structure of little-endian integers) as a ``struct.Struct``
    and its field names in order, for packing many records at ``struct``'s speed.

    The layout is read off the construct definition, so the two cannot differ.

    :raises TypeError: a field is not a little-endian integer.
    """
    codes, names = [], []
    for field in definition.subcons:
        fmt = getattr(field.subcon, "fmtstr", "")
        if len(fmt) != 2 or fmt[0] != "<":
            raise TypeError(f"{field.name}: not a little-endian integer field")
        codes.append(fmt[1])
        names.append(field.name)
    return struct.Struct("<" + "".join(codes)), tuple(names)


Elf32_Ehdr = elf_ehdr(ELFCLASS32, cs.Int32ul)

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


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def build_note(name: str, n_type: int, desc: bytes) -> bytes:
    """One ELF note: header, NUL-terminated name and descriptor, each padded to 4 bytes."""
    raw_name = name.encode() + b"\0"
    header = Elf32_Nhdr.build({"n_namesz": len(raw_name), "n_descsz": len(desc), "n_type": n_type})
    return header + _pad4(raw_name) + _pad4(desc)
