"""Reading an i386 core file (ELF32, or ELF64 when it stores frames above 4 GiB):
validated headers, memory through ``mmap``.

:class:`CoreFile` trusts nothing in the file. Every header field is checked
against the file size before it is used, and every failure becomes one
:class:`ImageError` whose message names the file and the fault on one line;
no exception of pyelftools, ``struct`` or ``mmap`` gets out. Once open, physical
reads are a binary search over the segment starts and a slice of the mapping.
"""

from __future__ import annotations

import mmap
import os
import struct
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from vmintro.accel import speedups
from vmintro.arch.x86 import PAGE_SHIFT, PAGE_SIZE
from vmintro.files import NotRegularFileError, open_regular
from vmintro.image.format.elf import (
    EHDR64_SIZE,
    EHDR_SIZE,
    ELF32_EHDR_TAIL,
    ELF32_PHDR,
    ELF64_EHDR_TAIL,
    ELF64_PHDR,
    ELFCLASS32,
    ELFCLASS64,
    ELFDATA2LSB,
    EM_386,
    ET_CORE,
    EV_CURRENT,
    NOTE_VMCOREINFO,
    NOTE_VMINTRO,
    PHDR64_SIZE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    PT_NULL,
)
from vmintro.image.format.vmcoreinfo import VMCOREINFO_MAX
from vmintro.image.reader.generator_note import parse_generator_note
from vmintro.image.reader.vmcoreinfo import (
    VmcoreinfoError,
    check_vmcoreinfo,
    parse_vmcoreinfo,
    ram_end,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CoreFile",
    "ImageError",
    "MemoryFault",
    "PhysicalFault",
    "read_sparse",
]

_ELFDATA2MSB = 2
_PN_XNUM = 0xFFFF
_NOTE_HEADER = struct.Struct("<III")  # Elf32_Nhdr, and Elf64_Nhdr: three 32-bit words
# Per class: the ELF header's size, the fields after e_ident, and the program header.
_CLASSES = {
    ELFCLASS32: (EHDR_SIZE, struct.Struct(ELF32_EHDR_TAIL), PHDR_SIZE, struct.Struct(ELF32_PHDR)),
    ELFCLASS64: (
        EHDR64_SIZE,
        struct.Struct(ELF64_EHDR_TAIL),
        PHDR64_SIZE,
        struct.Struct(ELF64_PHDR),
    ),
}
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from

# A kdump core has a note per CPU and a few more: a bound on what the reader holds.
MAX_NOTES = 1024

# The C form of CoreFile._check_segments and _index for a core whose program headers pass
# every check: a 4 GiB HIGHMEM core has thousands (opening one of 9,366 took 15 ms on the
# Python forms, 5 ms with this). None where the extension is off: the Python forms, which
# define the checks and their errors, then do it all, as they do for any file it refuses.
_core_tables = getattr(speedups, "core_tables", None)

_ET_NAMES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
_EM_NAMES = {
    0: "EM_NONE",
    3: "EM_386",
    8: "EM_MIPS",
    40: "EM_ARM",
    62: "EM_X86_64",
    183: "EM_AARCH64",
}


class ImageError(Exception):
    """A file that is not a usable image; ``str()`` is ``"<file name>: <what is wrong>"``."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = Path(path)
        self.message = " ".join(message.splitlines())
        super().__init__(f"{self.path.name or self.path}: {self.message}")


class MemoryFault(Exception):
    """A read of memory that does not exist; ``address`` is the first missing byte."""

    def __init__(self, address: int, message: str) -> None:
        super().__init__(message)
        self.address = address


class PhysicalFault(MemoryFault):
    """A physical address outside the machine's RAM."""

    def __init__(self, address: int, ram_size: int | None = None) -> None:
        where = f" (RAM ends at {ram_size:#x})" if ram_size is not None else ""
        super().__init__(address, f"physical address {address:#x} is not in RAM{where}")


def read_sparse(
    paddr: int,
    size: int,
    ram_size: int,
    starts: list[int],
    ends: list[int],
    read_stored: Callable[[int, int, int], bytes],
) -> bytes:
    """``size`` bytes of RAM from ``paddr``, of which only ranges ``starts[i]..ends[i]``
    (sorted, disjoint) are stored: ``read_stored(i, paddr, size)`` reads inside range
    ``i``, and RAM that no range stores reads as zeros, as in a dump that drops
    zero pages.

    :raises ValueError: for a negative ``size``.
    :raises PhysicalFault: if any byte lies outside RAM (``0..ram_size``).
    """
    if size < 0:
        raise ValueError(f"negative read size {size}")
    if paddr < 0:
        raise PhysicalFault(paddr, ram_size)
    if paddr + size > ram_size:
        raise PhysicalFault(max(paddr, ram_size), ram_size)
    out = bytearray(size)
    end = paddr + size
    i = max(0, bisect_right(starts, paddr) - 1)
    while i < len(starts) and starts[i] < end:
        lo, hi = max(paddr, starts[i]), min(end, ends[i])
        if lo < hi:
            out[lo - paddr : hi - paddr] = read_stored(i, lo, hi - lo)
        i += 1
    return bytes(out)


# (type, offset, vaddr, paddr, filesz, memsz) of a program header of each class:
# ELF32_PHDR and ELF64_PHDR with the flags and align fields read as pad bytes.
_PHDR_FIELDS = {
    32: struct.Struct("<IIIIII8x"),  # ..., flags, align
    64: struct.Struct("<I4xQQQQQ8x"),  # type, flags, ..., align
}


def _name(table: dict[int, str], value: int) -> str:
    return f"{table[value]} ({value})" if value in table else str(value)


def _segment_name(index: int, p_type: int, paddr: int, memsz: int) -> str:
    """How an error names program header ``index``; built only when one is raised (a
    4 GiB core has some 20,000 headers, and opening it checks every one)."""
    # Segment types' names from pyelftools' table (EM_386 uses the base table only),
    # imported only here: opening a good core needs no pyelftools (some 40 ms)
    from elftools.elf.enums import ENUM_P_TYPE_BASE

    names = {value: name for name, value in ENUM_P_TYPE_BASE.items() if isinstance(value, int)}
    what = f"program header {index} ({names.get(p_type, f'type {p_type:#x}')}"
    if p_type == PT_LOAD:
        what += f", physical {paddr:#x}-{paddr + memsz:#x}"
    return what + ")"


class CoreFile:
    """An i386 core (``NAME.vmcore``), open for physical reads.

    ``elf_class`` is 32 or 64: a core storing frames at or above 4 GiB is
    ELF64 (``e_machine`` still ``EM_386``), as kexec-tools writes it.

    :raises ImageError: if the file cannot be opened or fails any check.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._map: mmap.mmap | None = None
        try:
            with open_regular(self.path) as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    raise self._error("empty file")
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ImageError:
            raise
        except NotRegularFileError as e:
            raise self._error(str(e.strerror)) from None
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else e
            raise self._error(f"cannot open: {reason}") from None
        self.file_size = size
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # -- validation ---------------------------------------------------------

    def _error(self, message: str) -> ImageError:
        return ImageError(self.path, message)

    def _check_ident(self) -> tuple[Any, ...]:
        m, size = self._map, self.file_size
        assert m is not None
        head = bytes(m[:16])
        if head[:4] != b"\x7fELF"[: len(head[:4])]:
            raise self._error(f"not an ELF file (starts with {head[:8]!r})")
        if size < 16:
            raise self._error(f"truncated: ELF identification needs 16 bytes, file has {size}")
        if head[4] not in _CLASSES:
            raise self._error(f"bad ELF class {head[4]} (expected ELFCLASS32 or ELFCLASS64)")
        ehdr_size, ehdr_tail, self._phdr_size, self._phdr = _CLASSES[head[4]]
        self.elf_class = 64 if head[4] == ELFCLASS64 else 32
        if head[5] == _ELFDATA2MSB:
            raise self._error("big-endian ELF: an i386 core is little-endian (ELFDATA2LSB)")
        if head[5] != ELFDATA2LSB:
            raise self._error(f"bad ELF data encoding {head[5]} (expected ELFDATA2LSB)")
        if size < ehdr_size:
            raise self._error(
                f"truncated: ELF{self.elf_class} header needs {ehdr_size} bytes, file has {size}"
            )
        if head[6] != EV_CURRENT:
            raise self._error(f"unknown ELF version {head[6]}")
        fields = ehdr_tail.unpack_from(m, 16)
        e_type, e_machine = fields[0], fields[1]
        if e_type != ET_CORE:
            raise self._error(
                f"not a core file: e_type is {_name(_ET_NAMES, e_type)}, expected ET_CORE (4)"
            )
        if e_machine != EM_386:
            raise self._error(
                f"wrong machine: e_machine is {_name(_EM_NAMES, e_machine)}, expected EM_386 (3)"
            )
        return fields

    def _check_tables(self, fields: tuple[Any, ...]) -> None:
        size = self.file_size
        phoff, shoff = fields[4], fields[5]
        phentsize, phnum, shentsize, shnum = fields[8], fields[9], fields[10], fields[11]
        if phnum == 0:
            raise self._error("no program headers")
        if phnum == _PN_XNUM:
            raise self._error("extended program header numbering (PN_XNUM) is not supported")
        ehdr_size = _CLASSES[ELFCLASS64 if self.elf_class == 64 else ELFCLASS32][0]
        if phoff < ehdr_size:
            raise self._error(
                f"program header table at {phoff:#x} overlaps the ELF{self.elf_class} header "
                f"({ehdr_size} bytes)"
            )
        entry = self._phdr_size
        if phentsize != entry:
            raise self._error(
                f"e_phentsize is {phentsize}, expected {entry} (sizeof(Elf{self.elf_class}_Phdr))"
            )
        if phoff + phnum * entry > size:
            first_bad = max(0, (size - phoff) // entry)
            end = phoff + (first_bad + 1) * entry
            raise self._error(
                f"truncated: program header {first_bad} ends at {end:#x} "
                f"beyond end of file ({size:#x})"
            )
        if shnum and shoff + shnum * shentsize > size:
            raise self._error(
                f"truncated: section header table ({shnum} x {shentsize} bytes at "
                f"{shoff:#x}) ends beyond end of file ({size:#x})"
            )

    def _program_headers(self, phoff: int, phnum: int) -> list[tuple[int, int, int, int, int, int]]:
        """(type, offset, vaddr, paddr, filesz, memsz) of every program header.

        :meth:`_check_tables` has checked that the table lies inside the file.
        """
        assert self._map is not None
        table = self._map[phoff : phoff + phnum * self._phdr_size]
        # Unpacked straight into the six fields (flags and align skipped as pad bytes):
        # a 4 GiB core has some 20,000 headers, and no tuple is sliced per header.
        return list(_PHDR_FIELDS[self.elf_class].iter_unpack(table))

    def _notes(self, index: int, offset: int, size: int) -> list[tuple[str, int, bytes]]:
        """The notes of the ``PT_NOTE`` at program header ``index``, as (name, type, desc)."""
        assert self._map is not None
        m, pos, end = self._map, offset, offset + size
        notes: list[tuple[str, int, bytes]] = []
        while end - pos >= _NOTE_HEADER.size:
            namesz, descsz, n_type = _NOTE_HEADER.unpack_from(m, pos)
            if namesz == descsz == n_type == 0:
                break  # a zeroed header ends the list, as in /proc/vmcore
            where = f"note {len(notes)} at {pos:#x} in program header {index}"
            name_at = pos + _NOTE_HEADER.size
            desc_at = name_at + (namesz + 3) // 4 * 4
            next_at = desc_at + (descsz + 3) // 4 * 4
            if desc_at > end:
                raise self._error(
                    f"malformed {where}: name size {namesz:#x} runs past the segment end ({end:#x})"
                )
            if next_at > end:
                raise self._error(
                    f"malformed {where}: descriptor size {descsz:#x} runs past the "
                    f"segment end ({end:#x})"
                )
            raw_name = bytes(m[name_at : name_at + namesz])
            if namesz and raw_name[-1] != 0:
                raise self._error(f"malformed {where}: name is not NUL-terminated")
            try:
                name = raw_name[:-1].decode("ascii")
            except UnicodeDecodeError:
                raise self._error(f"malformed {where}: name is not ASCII") from None
            notes.append((name, n_type, bytes(m[desc_at : desc_at + descsz])))
            if len(notes) > MAX_NOTES:
                raise self._error(f"more than {MAX_NOTES} notes in program header {index}")
            pos = next_at
        if end - pos < _NOTE_HEADER.size and any(m[pos:end]):
            raise self._error(
                f"malformed notes in program header {index}: {end - pos} stray bytes at the end"
            )
        return notes

    def _parse_vmcoreinfo(self, desc: bytes) -> dict[str, str]:
        try:
            text = desc.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError as e:
            line = desc.count(b"\n", 0, e.start) + 1
            raise self._error(
                f"VMCOREINFO is not ASCII text (byte {desc[e.start]:#04x} on line {line})"
            ) from None
        try:
            return parse_vmcoreinfo(text)
        except VmcoreinfoError as e:
            raise self._error(f"malformed VMCOREINFO: {e}") from None

    def _load(self) -> None:
        fields = self._check_ident()
        self._check_tables(fields)
        phoff, phnum = fields[4], fields[9]
        tables = None
        if _core_tables is not None:
            tables = _core_tables(self._map, phoff, phnum, self.elf_class, self.file_size)
        if tables is None or not self._load_checked(*tables):
            loads, notes = self._check_segments(phoff, phnum)
            self._read_notes(notes)
            self._index(loads)

    def _load_checked(
        self,
        note_headers: list[tuple[int, int, int]],
        segments: list[tuple[int, int, int]],
        starts: list[int],
        ends: list[int],
        deltas: list[int],
        loads_end: int,
    ) -> bool:
        """The notes, and the tables :meth:`_index` would build, of a core whose program
        headers pass every check of :meth:`_check_segments` and :meth:`_index` but the
        end of RAM (the C form checked them, and returned its arguments); False if a
        PT_LOAD goes beyond it, for :meth:`_index` to refuse the file with its message.

        The checks' order is theirs: every header's bounds before the notes, the
        notes before the PT_LOADs' overlaps and the end of RAM.
        """
        # Every other check of _check_segments passed: its notes, read as it reads them.
        self._read_notes([note for header in note_headers for note in self._notes(*header)])
        if loads_end > self.ram_size:
            return False  # a PT_LOAD beyond the end of RAM, which _index names
        self._set_tables(segments, starts, ends, deltas)
        return True

    def _check_segments(
        self, phoff: int, phnum: int
    ) -> tuple[list[tuple[int, int, int, int, int]], list[tuple[str, int, bytes]]]:
        """Bounds of every segment; returns the PT_LOADs and the notes of every PT_NOTE.

        A PT_LOAD is ``(paddr, memsz, filesz, offset, index)``.
        """
        size = self.file_size
        loads: list[tuple[int, int, int, int, int]] = []
        notes: list[tuple[str, int, bytes]] = []
        headers = self._program_headers(phoff, phnum)
        for i, (p_type, offset, _vaddr, paddr, filesz, memsz) in enumerate(headers):
            if p_type == PT_NULL:
                continue
            if offset + filesz > size:
                # Data that starts inside the file was cut; data that starts
                # past its end comes from a bad offset.
                problem = "truncated: " if offset < size else ""
                raise self._error(
                    f"{problem}{_segment_name(i, p_type, paddr, memsz)}: data "
                    f"{offset:#x}-{offset + filesz:#x} goes beyond end of file ({size:#x})"
                )
            if p_type == PT_LOAD:
                if filesz > memsz:
                    raise self._error(
                        f"{_segment_name(i, p_type, paddr, memsz)}: p_filesz {filesz:#x} "
                        f"is larger than p_memsz {memsz:#x}"
                    )
                loads.append((paddr, memsz, filesz, offset, i))
            elif p_type == PT_NOTE:
                notes += self._notes(i, offset, filesz)
        return loads, notes

    def _read_notes(self, notes: list[tuple[str, int, bytes]]) -> None:
        """VMCOREINFO (required, and with a RAM map) and the VMINTRO generator note."""
        info_notes = [desc for name, _t, desc in notes if name == NOTE_VMCOREINFO]
        if not info_notes:
            raise self._error("no VMCOREINFO note")
        if len(info_notes) > 1:
            raise self._error(f"{len(info_notes)} VMCOREINFO notes, expected one")
        if len(info_notes[0]) > VMCOREINFO_MAX:
            raise self._error(
                f"VMCOREINFO note of {len(info_notes[0])} bytes, more than {VMCOREINFO_MAX}"
            )
        self.vmcoreinfo = self._parse_vmcoreinfo(info_notes[0])
        try:
            self.e820 = check_vmcoreinfo(self.vmcoreinfo)
        except VmcoreinfoError as e:
            raise self._error(f"VMCOREINFO {e}") from None
        self.ram_size = ram_end(self.e820)

        self.generator: dict[str, Any] = {}
        generators = [desc for name, _t, desc in notes if name == NOTE_VMINTRO]
        if len(generators) > 1:
            raise self._error(f"{len(generators)} VMINTRO notes, expected one")
        if generators:
            try:
                self.generator = parse_generator_note(generators[0])
            except ValueError as e:
                raise self._error(f"VMINTRO note: {e}") from None

    def _index(self, loads: list[tuple[int, int, int, int, int]]) -> None:
        """Check that PT_LOADs are disjoint and inside RAM; build the lookup tables."""
        loads.sort()
        prev_end, prev_index, ram_size = 0, -1, self.ram_size
        for paddr, memsz, _filesz, _offset, i in loads:
            end = paddr + memsz
            if memsz and paddr < prev_end:
                raise self._error(
                    f"program headers {prev_index} and {i} overlap in physical memory at {paddr:#x}"
                )
            if end > ram_size:
                raise self._error(
                    f"program header {i} (PT_LOAD, physical {paddr:#x}-{end:#x}) "
                    f"goes beyond the end of RAM ({ram_size:#x})"
                )
            if memsz:
                prev_end, prev_index = end, i
        # Bytes between p_filesz and p_memsz read as zeros, like RAM no segment stores.
        stored = [(paddr, filesz, offset) for paddr, _m, filesz, offset, _i in loads if filesz]
        self._set_tables(
            stored,
            [paddr for paddr, _s, _o in stored],
            [paddr + filesz for paddr, filesz, _o in stored],
            # file offset = paddr + delta: one addition on the hot path
            [offset - paddr for paddr, _s, offset in stored],
        )

    def _set_tables(
        self,
        segments: list[tuple[int, int, int]],
        starts: list[int],
        ends: list[int],
        deltas: list[int],
    ) -> None:
        """The stored segments, (paddr, size, file offset) sorted by paddr, and their
        starts, ends and deltas (file offset - paddr) for :meth:`read_phys`."""
        self.segments = segments
        self._starts, self._ends, self._deltas = starts, ends, deltas
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._frame_offsets: np.ndarray | Literal[False] | None = None

    # -- reading ------------------------------------------------------------

    def read_phys(self, paddr: int, size: int) -> bytes:
        """``size`` bytes of physical memory from ``paddr``; RAM not stored reads as zeros.

        :raises PhysicalFault: if any byte lies outside RAM.
        """
        i = bisect_right(self._starts, paddr) - 1
        if i >= 0 and paddr + size <= self._ends[i] and size >= 0:
            base = paddr + self._deltas[i]
            return self._map[base : base + size]  # type: ignore[index]
        return self._read_slow(paddr, size)

    def _read_slow(self, paddr: int, size: int) -> bytes:
        return read_sparse(paddr, size, self.ram_size, self._starts, self._ends, self._read_stored)

    def _read_stored(self, segment: int, paddr: int, size: int) -> bytes:
        base = paddr + self._deltas[segment]
        return self._map[base : base + size]  # type: ignore[index]

    def read_phys_u32(self, paddr: int) -> int:
        """The little-endian 32-bit word at ``paddr``."""
        i = bisect_right(self._starts, paddr) - 1
        if i >= 0 and paddr + 4 <= self._ends[i]:
            return _U32(self._map, paddr + self._deltas[i])[0]  # type: ignore[arg-type]
        return _U32(self._read_slow(paddr, 4))[0]

    def read_phys_u64(self, paddr: int) -> int:
        """The little-endian 64-bit word at ``paddr`` (a PAE page-table entry)."""
        i = bisect_right(self._starts, paddr) - 1
        if i >= 0 and paddr + 8 <= self._ends[i]:
            return _U64(self._map, paddr + self._deltas[i])[0]  # type: ignore[arg-type]
        return _U64(self._read_slow(paddr, 8))[0]

    def phys_to_file_offset_array(self, paddrs: np.ndarray) -> np.ndarray:
        """File offsets of many physical addresses at once; -1 where nothing is stored.

        A per-frame table (8 bytes per frame of RAM, built on first use) makes
        this one gather, whatever the order of the addresses; cores whose
        segments are not page-aligned fall back to a binary search.

        :param paddrs: integer array of physical addresses (any shape).
        :return: ``int64`` array of the same shape.
        """
        import numpy as np  # numpy only for batches: opening a core needs none

        addrs = np.asarray(paddrs).astype(np.int64, copy=False)
        if self._frame_offsets is None:
            self._frame_offsets = self._build_frame_offsets()
        table = self._frame_offsets
        if table is not False:
            pfns = addrs >> PAGE_SHIFT
            out = np.take(table, pfns, mode="clip")
            out += addrs & (PAGE_SIZE - 1)
            out[(out < 0) | (pfns >= len(table)) | (addrs < 0)] = -1
            return out
        starts, ends, deltas = self._segment_arrays()
        idx = np.searchsorted(starts, addrs, side="right") - 1
        np.maximum(idx, 0, out=idx)
        inside = (addrs >= starts[idx]) & (addrs < ends[idx])
        return np.where(inside, addrs + deltas[idx], -1)

    def _segment_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stored segments' starts, ends and deltas as arrays, made on first use."""
        if self._arrays is None:
            import numpy as np

            starts, ends, deltas = (
                np.array(x, dtype=np.int64) for x in (self._starts, self._ends, self._deltas)
            )
            self._arrays = starts, ends, deltas
        return self._arrays

    def _build_frame_offsets(self) -> np.ndarray | Literal[False]:
        """File offset of every frame of RAM (negative: not stored); False if unaligned."""
        import numpy as np

        starts, ends, deltas = self._segment_arrays()
        if ((starts | ends) & (PAGE_SIZE - 1)).any():
            return False
        # Unstored frames hold -PAGE_SIZE: adding an in-page offset keeps them negative.
        table = np.full(-(-self.ram_size // PAGE_SIZE), -PAGE_SIZE, dtype=np.int64)
        counts = (ends - starts) >> PAGE_SHIFT
        if counts.sum():
            first = np.repeat(np.cumsum(counts) - counts, counts)
            nth = np.arange(counts.sum(), dtype=np.int64) - first
            pfns = np.repeat(starts >> PAGE_SHIFT, counts) + nth
            table[pfns] = np.repeat(starts + deltas, counts) + (nth << PAGE_SHIFT)
        return table

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Unmap the file; further reads raise ``ValueError``."""
        if self._map is not None:
            self._map.close()

    def __enter__(self) -> CoreFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CoreFile {self.path.name}: {len(self.segments)} segments, RAM {self.ram_size:#x}>"
