"""Bytes of a core's stored RAM overwritten in place, the way a damaged file would hold them."""

from __future__ import annotations

import struct
from pathlib import Path

from vmintro.image.format.elf import PHDR_SIZE

_PHDR = struct.Struct("<IIIIIIII")
_PT_LOAD = 1


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
