"""An image's physical memory in containers other tools open: a flat raw file,
LiME (the Linux Memory Extractor's format) and a 64-bit ELF core (volatility3
reads only ELF64 cores).

Each RAM range of the image's E820 map is written whole; RAM the core does not
store reads as zeros, as everywhere in vmintro. LiME and ELF64 keep the ranges
apart (a hole stays a hole); the raw file is RAM from physical 0 to its end,
holes as zeros.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from vmintro.image.format.elf import (
    ELF64_EHDR_TAIL,
    ELF64_PHDR,
    ELFCLASS64,
    ELFDATA2LSB,
    EM_386,
    ET_CORE,
    EV_CURRENT,
    PF_R,
    PF_W,
    PF_X,
    PT_LOAD,
)

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["CONTAINERS", "ram_ranges", "write_container"]

CHUNK = 1 << 20
LIME_MAGIC = 0x4C694D45  # "EMiL" on disk: lime.h's LIME_MAGIC
LIME_VERSION = 1
_LIME_HEADER = struct.Struct("<IIQQ8x")  # magic, version, s_addr, e_addr (inclusive), reserved
# ELF64, as an image's own core is when it stores frames above 4 GiB
_EHDR = struct.Struct("<16s" + ELF64_EHDR_TAIL.removeprefix("<"))
_PHDR = struct.Struct(ELF64_PHDR)  # type, flags, offset, vaddr, paddr, filesz, memsz, align
PF_RWX = PF_R | PF_W | PF_X
PAGE_OFFSET = 0xC0000000


def ram_ranges(prog: Program) -> list[tuple[int, int]]:
    """(start, end) of each RAM range: the core's E820 map where the image has one."""
    core = getattr(prog.backend, "core", None)
    e820 = getattr(core, "e820", None)
    if e820:
        return [(start, end) for start, end, _kind in e820 if end > start]
    return [(0, prog.ram_size)]


def _chunks(prog: Program, start: int, end: int) -> Iterator[bytes]:
    for at in range(start, end, CHUNK):
        yield prog.read(at, min(CHUNK, end - at), physical=True)


def _raw(prog: Program, out: BinaryIO) -> None:
    at = 0
    for start, end in ram_ranges(prog):
        out.write(bytes(start - at))  # a hole below RAM: zeros, as a raw dump has it
        for data in _chunks(prog, start, end):
            out.write(data)
        at = end


def _lime(prog: Program, out: BinaryIO) -> None:
    for start, end in ram_ranges(prog):
        out.write(_LIME_HEADER.pack(LIME_MAGIC, LIME_VERSION, start, end - 1))
        for data in _chunks(prog, start, end):
            out.write(data)


def _elf64(prog: Program, out: BinaryIO) -> None:
    ranges = ram_ranges(prog)
    ident = b"\x7fELF" + bytes([ELFCLASS64, ELFDATA2LSB, EV_CURRENT]) + bytes(9)
    offset = _EHDR.size + _PHDR.size * len(ranges)
    out.write(
        _EHDR.pack(ident, ET_CORE, EM_386, 1, 0, _EHDR.size, 0, 0, _EHDR.size, _PHDR.size,
                   len(ranges), 0, 0, 0)
    )  # fmt: skip
    lowmem = prog.layout.lowmem_end - PAGE_OFFSET
    for start, end in ranges:
        # p_vaddr as in the image's own core: PAGE_OFFSET + paddr for lowmem, else 0
        vaddr = PAGE_OFFSET + start if start < lowmem else 0
        size = end - start
        out.write(_PHDR.pack(PT_LOAD, PF_RWX, offset, vaddr, start, size, size, 0x1000))
        offset += size
    for start, end in ranges:
        for data in _chunks(prog, start, end):
            out.write(data)


CONTAINERS = {"raw": _raw, "lime": _lime, "elf64": _elf64}


def write_container(prog: Program, kind: str, out: BinaryIO) -> None:
    """Write ``prog``'s physical memory to ``out`` as ``kind`` (raw, lime or elf64)."""
    CONTAINERS[kind](prog, out)
