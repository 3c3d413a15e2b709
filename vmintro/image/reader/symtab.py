"""A vmlinux's ``.symtab`` read with :mod:`struct` alone, for opening an image quickly.

:func:`quick_symbols` gives the same symbols as
:func:`vmintro.image.reader.debuginfo.load_symbols` for a plain, well-formed
vmlinux, without importing pyelftools (some 70 ms) or touching the DWARF. It
vouches for nothing it is unsure of: anything unusual (a section past the end
of the file, a compressed section, extended section numbering, a name that is
not printable ASCII, any check of ``load_symbols`` that would fail) makes it
answer None, and the caller reads the file with pyelftools, whose message
then says what is wrong.
"""

from __future__ import annotations

import struct

from vmintro.image.format.elf import (
    EHDR_SIZE,
    EM_386,
    MAX_VMLINUX_SECTIONS,
    SHDR_SIZE,
    SHT_NOBITS,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_LOCAL,
    STT_FUNC,
    STT_OBJECT,
    STT_SECTION,
    SYM_SIZE,
)

__all__ = ["quick_symbols"]

STT_FILE = 4
SHF_COMPRESSED = 0x800
# e_machine; e_shoff; e_shentsize, e_shnum, e_shstrndx
_EHDR = struct.Struct("<18xH12xI10xHHH")
# sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
# sh_addralign, sh_entsize
_SHDR = struct.Struct("<IIIIIIIIII")
_SYM = struct.Struct("<IIIBBH")  # st_name, st_value, st_size, st_info, st_other, st_shndx
_KINDS = {STT_OBJECT: "object", STT_FUNC: "func"}
# As debuginfo.MAX_SYMBOLS: more than a kernel has
_MAX_SYMBOLS = 1 << 17


def _cstring(data: bytes, start: int, end: int) -> str | None:
    """The NUL-ended printable ASCII name at ``data[start:]`` within ``end``; else None."""
    stop = data.find(b"\0", start, end)
    if stop < 0:
        return None
    raw = data[start:stop]
    if not raw.isascii():
        return None
    name = raw.decode("ascii")
    return name if name.isprintable() else None


def quick_symbols(data: bytes) -> dict[str, tuple[int, int, str]] | None:
    """The named objects, functions and labels of the ``.symtab`` of the vmlinux
    ``data``: name -> (address, size, kind), a global winning over a local of the
    same name, as :func:`~vmintro.image.reader.debuginfo.load_symbols` has them;
    None when the file is anything but plain (that reader then says what is wrong).
    """
    if len(data) < EHDR_SIZE or data[:6] != b"\x7fELF\x01\x01":
        return None
    machine, shoff, shentsize, shnum, shstrndx = _EHDR.unpack_from(data)
    if machine != EM_386 or shentsize != SHDR_SIZE or not 0 < shnum <= MAX_VMLINUX_SECTIONS:
        return None
    if shoff + shnum * SHDR_SIZE > len(data) or not 0 < shstrndx < shnum:
        return None
    sections = [_SHDR.unpack_from(data, shoff + i * SHDR_SIZE) for i in range(shnum)]
    for _name, kind, flags, _addr, offset, size, *_rest in sections:
        if flags & SHF_COMPRESSED or (kind != SHT_NOBITS and offset + size > len(data)):
            return None
    names = sections[shstrndx]
    if names[1] != SHT_STRTAB:
        return None
    names_end = names[4] + names[5]
    symtabs = [
        section
        for section in sections
        if section[0] < names[5] and _cstring(data, names[4] + section[0], names_end) == ".symtab"
    ]
    # pyelftools finds the last section of a name; two of them is no plain file
    if len(symtabs) != 1 or symtabs[0][1] != SHT_SYMTAB:
        return None
    symtab = symtabs[0]
    _name, _kind, _flags, _addr, offset, size, link, first_global, _align, entsize = symtab
    count = size // SYM_SIZE
    if entsize != SYM_SIZE or size % SYM_SIZE or count > _MAX_SYMBOLS or first_global > count:
        return None
    if not 0 < link < shnum or sections[link][1] != SHT_STRTAB:
        return None
    str_start, str_size = sections[link][4], sections[link][5]
    out: dict[str, tuple[int, int, str]] = {}
    local: set[str] = set()
    for st_name, value, sym_size, info, _other, _shndx in _SYM.iter_unpack(
        data[offset : offset + size]
    ):
        if st_name >= max(str_size, 1):
            return None
        kind = info & 0xF
        if kind in (STT_SECTION, STT_FILE):
            continue
        name = _cstring(data, str_start + st_name, str_start + str_size)
        if name is None:
            return None
        if not name:
            continue
        is_local = info >> 4 == STB_LOCAL
        if name in out and (is_local or name not in local):
            continue
        (local.add if is_local else local.discard)(name)
        out[name] = (value, sym_size, _KINDS.get(kind, "notype"))
    return out
