"""The ``NAME.vmlinux`` writer: an ELF32 i386 executable with symbols and DWARF.

The file carries no code or data. Its allocated sections (``.text``,
``.data``, ``.bss``) are ``SHT_NOBITS``: they give every symbol a section and
tell a debugger where the kernel image lies, but hold no bytes, so when gdb
opens ``NAME.vmlinux NAME.vmcore`` every read of a kernel global is served by
the core, which stores the whole kernel image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.files import atomic_output
from vmintro.image.format.elf import (
    EHDR_SIZE,
    EM_386,
    ET_EXEC,
    EV_CURRENT,
    SHDR_SIZE,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_ABS,
    SHT_NOBITS,
    SHT_NULL,
    SHT_PROGBITS,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STT_FUNC,
    STT_NOTYPE,
    STT_OBJECT,
    SYM_SIZE,
)
from vmintro.image.writer.dwarf import build_dwarf
from vmintro.image.writer.elf32 import Elf32_Ehdr, Elf32_Shdr, Elf32_Sym
from vmintro.image.writer.spec import ImageSpec, Symbol
from vmintro.types.flags import THREAD_SIZE

__all__ = ["build_vmlinux", "write_vmlinux"]

_SYMBOL_TYPES = {"object": STT_OBJECT, "func": STT_FUNC, "notype": STT_NOTYPE}


@dataclass
class _Section:
    name: str
    sh_type: int
    flags: int = 0
    addr: int = 0
    size: int = 0
    data: bytes = b""
    link: int = 0
    info: int = 0
    addralign: int = 1
    entsize: int = 0
    offset: int = 0


class _StringTable:
    """An ELF string table: a leading NUL, then each distinct string once."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self._index: dict[str, int] = {"": 0}

    def add(self, text: str) -> int:
        offset = self._index.get(text)
        if offset is None:
            offset = self._index[text] = len(self.data)
            self.data += text.encode() + b"\0"
        return offset


def _label(symbols: Sequence[Symbol], name: str, lo: int, hi: int) -> int | None:
    for s in symbols:
        if s.name == name and lo <= s.address <= hi:
            return s.address
    return None


def _image_sections(spec: ImageSpec) -> list[_Section]:
    """``.text``, ``.data`` and ``.bss`` tiling the kernel image's virtual range.

    The linker's labels (``_etext``, ``_edata``) place the boundaries when the
    simulator provides them; otherwise ``.text`` ends after the last function
    and the rest is ``.data``.
    """
    start = PAGE_OFFSET + spec.kernel_range[0]
    end = PAGE_OFFSET + spec.kernel_range[1]
    etext = _label(spec.symbols, "_etext", start, end)
    if etext is None:
        func_ends = [
            s.address + s.size
            for s in spec.symbols
            if s.kind == "func" and start <= s.address < end
        ]
        etext = min(end, -(-max(func_ends) // PAGE_SIZE) * PAGE_SIZE) if func_ends else start
    edata = _label(spec.symbols, "_edata", etext, end)
    if edata is None:
        edata = end
    # vmlinux.lds puts .data.init_task (init_task_union) between _edata and __bss_start
    bss = _label(spec.symbols, "__bss_start", edata, end)
    if bss is None:
        bss = edata
    alloc = SHF_ALLOC
    sections = [
        _Section(".text", SHT_NOBITS, alloc | SHF_EXECINSTR, start, etext - start, addralign=4),
        _Section(".data", SHT_NOBITS, alloc | SHF_WRITE, etext, edata - etext, addralign=4),
    ]
    init_task = -(-edata // THREAD_SIZE) * THREAD_SIZE  # `. = ALIGN(8192)`
    if bss > init_task:
        sections.append(
            _Section(
                ".data.init_task",
                SHT_NOBITS,
                alloc | SHF_WRITE,
                init_task,
                bss - init_task,
                addralign=THREAD_SIZE,
            )
        )
    sections.append(_Section(".bss", SHT_NOBITS, alloc | SHF_WRITE, bss, end - bss, addralign=4))
    return sections


def _section_index(sym: Symbol, image: list[_Section], first: int) -> int:
    for i, sec in enumerate(image):
        if sec.addr <= sym.address < sec.addr + sec.size:
            return first + i
    # A label just past a section (``_end``) belongs to the section it closes.
    for i, sec in reversed(list(enumerate(image))):
        if sec.size and sym.address == sec.addr + sec.size:
            return first + i
    return SHN_ABS


def _symtab(
    symbols: Sequence[Symbol], image: list[_Section], first_image_index: int
) -> tuple[bytes, bytes, int]:
    """``.symtab`` and ``.strtab`` contents and the index of the first global symbol."""
    strtab = _StringTable()
    # ELF wants every STB_LOCAL symbol before the first global one.
    ordered = [s for s in symbols if s.local] + [s for s in symbols if not s.local]
    entries = [
        Elf32_Sym.build(dict(st_name=0, st_value=0, st_size=0, st_info=0, st_other=0, st_shndx=0))
    ]
    for s in ordered:
        if s.kind not in _SYMBOL_TYPES:
            raise ValueError(f"symbol {s.name}: unknown kind {s.kind!r}")
        bind = STB_LOCAL if s.local else STB_GLOBAL
        entries.append(
            Elf32_Sym.build(
                dict(
                    st_name=strtab.add(s.name),
                    st_value=s.address & 0xFFFFFFFF,
                    st_size=s.size,
                    st_info=(bind << 4) | _SYMBOL_TYPES[s.kind],
                    st_other=0,
                    st_shndx=_section_index(s, image, first_image_index),
                )
            )
        )
    first_global = 1 + sum(1 for s in symbols if s.local)
    return b"".join(entries), bytes(strtab.data), first_global


def build_vmlinux(spec: ImageSpec) -> bytes:
    """The complete ``.vmlinux`` file for ``spec``, as bytes."""
    image = _image_sections(spec)
    first_image_index = 1
    sections: list[_Section] = [_Section("", SHT_NULL), *image]
    symtab_index = len(sections)
    strtab_index = symtab_index + 1
    symtab, strtab, first_global = _symtab(spec.symbols, image, first_image_index)
    sections.append(
        _Section(
            ".symtab",
            SHT_SYMTAB,
            data=symtab,
            link=strtab_index,
            info=first_global,
            addralign=4,
            entsize=SYM_SIZE,
        )
    )
    sections.append(_Section(".strtab", SHT_STRTAB, data=strtab))
    text = image[0]
    dwarf = build_dwarf(spec.types, spec.symbols, (text.addr, text.addr + text.size))
    for name, data in dwarf.items():
        sections.append(_Section(name, SHT_PROGBITS, data=data))
    shstrtab = _StringTable()
    names = [shstrtab.add(s.name) for s in sections]
    shstrndx = len(sections)
    sections.append(_Section(".shstrtab", SHT_STRTAB))
    names.append(shstrtab.add(".shstrtab"))
    sections[-1].data = bytes(shstrtab.data)

    body = bytearray()
    offset = EHDR_SIZE
    for sec in sections[1:]:
        # a NOBITS section occupies no file bytes: its offset needs no alignment
        pad = -offset % max(sec.addralign, 1) if sec.sh_type != SHT_NOBITS else 0
        body += bytes(pad)
        offset += pad
        sec.offset = offset
        if sec.sh_type != SHT_NOBITS:
            sec.size = len(sec.data)
            body += sec.data
            offset += len(sec.data)
    pad = -offset % 4
    body += bytes(pad)
    shoff = offset + pad

    ehdr = Elf32_Ehdr.build(
        dict(
            e_type=ET_EXEC,
            e_machine=EM_386,
            e_version=EV_CURRENT,
            e_entry=image[0].addr,
            e_phoff=0,
            e_shoff=shoff,
            e_flags=0,
            e_ehsize=EHDR_SIZE,
            e_phentsize=0,
            e_phnum=0,
            e_shentsize=SHDR_SIZE,
            e_shnum=len(sections),
            e_shstrndx=shstrndx,
        )
    )
    shdrs = b"".join(
        Elf32_Shdr.build(
            dict(
                sh_name=name,
                sh_type=sec.sh_type,
                sh_flags=sec.flags,
                sh_addr=sec.addr,
                sh_offset=sec.offset,
                sh_size=sec.size,
                sh_link=sec.link,
                sh_info=sec.info,
                sh_addralign=sec.addralign if sec.sh_type != SHT_NULL else 0,
                sh_entsize=sec.entsize,
            )
        )
        for name, sec in zip(names, sections, strict=True)
    )
    return ehdr + bytes(body) + shdrs


def write_vmlinux(spec: ImageSpec, path: str | os.PathLike[str]) -> None:
    """Write ``spec``'s kernel executable (symbols and DWARF) to ``path`` atomically."""
    data = build_vmlinux(spec)
    with atomic_output(path) as f:
        f.write(data)
