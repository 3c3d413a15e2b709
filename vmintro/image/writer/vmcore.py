"""Writing a simulated kernel's RAM as an i386 core file (``NAME.vmcore``).

The layout is what kdump's ``/proc/vmcore`` looks like, so gdb, drgn (through
libkdumpfile) and crash-style tools can open it:

* the ELF header, then every program header;
* one ``PT_NOTE`` holding a ``VMCOREINFO`` note (type 0, as the kernel writes
  it) and a ``VMINTRO`` note (type 1) whose descriptor is the JSON of
  :attr:`ImageSpec.generator` (version, scenario, seed, arguments);
* page-aligned ``PT_LOAD`` segments, one per maximal run of non-zero frames
  (the kernel image is always kept whole). ``p_paddr`` is the physical address;
  ``p_vaddr`` is ``PAGE_OFFSET + p_paddr`` for lowmem, 0 for highmem, which has
  no permanent kernel mapping. A run crossing ``max_low_pfn`` is split there.

The core is ELF32, or ELF64 (``e_machine`` still ``EM_386``) when a stored
frame lies at or above 4 GiB, as on a PAE machine with more RAM:
:func:`~vmintro.image.format.elf.core_elf_class` decides, as kexec-tools does
for such a machine's core headers.

RAM is streamed frame by frame, so a 4 GiB machine costs host memory and file
space in proportion to the frames it uses, not to its size. Nothing in the file
depends on time or host, so the same spec always gives the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import BinaryIO

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from vmintro.files import atomic_output
from vmintro.image.format.elf import (
    EHDR64_SIZE,
    EHDR_SIZE,
    ELF32_ADDRESS_LIMIT,
    ELFCLASS64,
    EM_386,
    ET_CORE,
    EV_CURRENT,
    NOTE_VMCOREINFO,
    NOTE_VMINTRO,
    NT_VMCOREINFO,
    NT_VMINTRO,
    PF_R,
    PF_W,
    PF_X,
    PHDR64_SIZE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHDR64_SIZE,
    SHDR_SIZE,
    core_elf_class,
)
from vmintro.image.writer.elf32 import Elf32_Ehdr, Elf32_Phdr, build_note, struct_layout
from vmintro.image.writer.elf64 import Elf64_Ehdr, Elf64_Phdr
from vmintro.image.writer.spec import ImageSpec
from vmintro.image.writer.vmcoreinfo import build_vmcoreinfo
from vmintro.sim.physmem import PhysMem

__all__ = [
    "LoadSegment",
    "build_notes",
    "plan_segments",
    "vmcore_writer",
    "write_vmcore",
]

# e_phnum is 16 bits and 0xffff means "look in section 0" (PN_XNUM), which
# many readers do not implement: stay below it, with room for the PT_NOTE and
# for the few extra splits made after merging.
_MAX_LOADS = 0xFFFE - 1 - 8
# p_filesz is 32 bits in ELF32; 2 GiB pieces keep every size well inside it
# (ELF64 cores are cut the same way, so a segment never depends on the class).
_MAX_SEGMENT_PAGES = (1 << 31) >> PAGE_SHIFT
# Frames written per write() call: big enough to amortise the call, small
# enough to keep the host buffer at 8 to 16 MiB.
_BATCH_PAGES = 2048
# Each class's program header as a struct and its field names, read off the
# writer's construct definitions; key True for ELF64.
_PHDR_LAYOUT = {False: struct_layout(Elf32_Phdr), True: struct_layout(Elf64_Phdr)}


@dataclass(frozen=True)
class LoadSegment:
    """One ``PT_LOAD``: ``pages`` frames from frame ``pfn``, mapped at ``vaddr`` (0: none)."""

    pfn: int
    pages: int
    vaddr: int

    @property
    def paddr(self) -> int:
        return self.pfn << PAGE_SHIFT

    @property
    def size(self) -> int:
        return self.pages << PAGE_SHIFT


def _merge_close_runs(runs: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Join runs across the smallest zero gaps until at most ``limit`` remain.

    Storing a few zero frames is the price of staying under ELF's program
    header count; the gap threshold is the same for every gap, so the result
    does not depend on anything but the runs.
    """
    if len(runs) <= limit:
        return runs
    gaps = sorted(b[0] - (a[0] + a[1]) for a, b in zip(runs, runs[1:], strict=False))
    threshold = gaps[len(runs) - limit - 1]
    merged = [runs[0]]
    for pfn, count in runs[1:]:
        last_pfn, last_count = merged[-1]
        if pfn - (last_pfn + last_count) <= threshold:
            merged[-1] = (last_pfn, pfn + count - last_pfn)
        else:
            merged.append((pfn, count))
    return merged


def plan_segments(spec: ImageSpec) -> list[LoadSegment]:
    """The ``PT_LOAD`` segments of ``spec``'s core, in physical order."""
    start, end = spec.kernel_range
    # The data of the kernel image is kept whole so that gdb finds every global
    # in the core; the text before _etext holds no state and may be dropped.
    etext = next((s.address for s in spec.symbols if s.name == "_etext"), None)
    if etext is not None and PAGE_OFFSET + start <= etext < PAGE_OFFSET + end:
        start = etext - PAGE_OFFSET
    keep = set(range(start >> PAGE_SHIFT, (end + PAGE_SIZE - 1) >> PAGE_SHIFT))
    keep.update(spec.keep_frames)
    runs = _merge_close_runs(list(spec.mem.runs(keep=keep)), _MAX_LOADS)
    low_end = spec.config.max_low_pfn
    segments = []
    for pfn, count in runs:
        stop = pfn + count
        while pfn < stop:
            # Lowmem and highmem differ in p_vaddr, so a run never spans both.
            limit = low_end if pfn < low_end else stop
            pages = min(stop, limit, pfn + _MAX_SEGMENT_PAGES) - pfn
            vaddr = PAGE_OFFSET + (pfn << PAGE_SHIFT) if pfn < low_end else 0
            segments.append(LoadSegment(pfn, pages, vaddr))
            pfn += pages
    return segments


def build_notes(spec: ImageSpec) -> bytes:
    """The contents of the ``PT_NOTE`` segment: VMCOREINFO then VMINTRO."""
    info = build_vmcoreinfo(spec).encode("ascii")
    generator = json.dumps(spec.generator, sort_keys=True, separators=(",", ":"))
    return build_note(NOTE_VMCOREINFO, NT_VMCOREINFO, info) + build_note(
        NOTE_VMINTRO, NT_VMINTRO, generator.encode()
    )


def _headers(notes_size: int, segments: list[LoadSegment]) -> tuple[bytes, int]:
    """The ELF header and every program header, and the file offset where RAM data starts.

    The notes follow the headers directly; RAM data starts on the next page
    boundary, so every ``PT_LOAD`` is page-aligned in the file as in memory.
    The class is ELF64 exactly when a segment ends above 4 GiB.
    """
    elf64 = core_elf_class(segments[-1].paddr + segments[-1].size if segments else 0) == ELFCLASS64
    ehdr_struct = Elf64_Ehdr if elf64 else Elf32_Ehdr
    ehdr_size, phdr_size, shdr_size = (
        (EHDR64_SIZE, PHDR64_SIZE, SHDR64_SIZE) if elf64 else (EHDR_SIZE, PHDR_SIZE, SHDR_SIZE)
    )
    phnum = 1 + len(segments)
    notes_offset = ehdr_size + phnum * phdr_size
    offset = -(-(notes_offset + notes_size) // PAGE_SIZE) * PAGE_SIZE
    data_offset = offset
    ehdr = ehdr_struct.build(
        {
            "e_type": ET_CORE,
            "e_machine": EM_386,
            "e_version": EV_CURRENT,
            "e_entry": 0,
            "e_phoff": ehdr_size,
            "e_shoff": 0,
            "e_flags": 0,
            "e_ehsize": ehdr_size,
            "e_phentsize": phdr_size,
            "e_phnum": phnum,
            "e_shentsize": shdr_size,
            "e_shnum": 0,
            "e_shstrndx": 0,
        }
    )
    # Thousands of program headers: packed in place, in the layout of the
    # construct definition (struct_layout), not built one by one through it.
    layout, names = _PHDR_LAYOUT[elf64]
    pack_into, order = layout.pack_into, itemgetter(*names)
    table = bytearray(phnum * phdr_size)
    fields = {
        "p_type": PT_NOTE,
        "p_offset": notes_offset,
        "p_vaddr": 0,
        "p_paddr": 0,
        "p_filesz": notes_size,
        "p_memsz": notes_size,
        "p_flags": 0,
        "p_align": 4,
    }
    pack_into(table, 0, *order(fields))
    fields.update(p_type=PT_LOAD, p_flags=PF_R | PF_W | PF_X, p_align=PAGE_SIZE)
    at = phdr_size
    for seg in segments:
        size = seg.size
        fields.update(
            p_offset=offset, p_vaddr=seg.vaddr, p_paddr=seg.paddr, p_filesz=size, p_memsz=size
        )
        pack_into(table, at, *order(fields))
        at += phdr_size
        offset += size
    if not elf64 and offset > ELF32_ADDRESS_LIMIT:
        raise ValueError(f"the core would be {offset:#x} bytes: ELF32 file offsets stop at 4 GiB")
    return ehdr + table, data_offset


def _write_frames(out: BinaryIO, mem: PhysMem, segments: list[LoadSegment]) -> None:
    """Write the frames of ``segments`` one after the other, zero frames as zeros.

    The stored frames are joined straight into writes of about ``_BATCH_PAGES``
    frames, across segments (which follow each other in the file): no frame is
    copied on its own first, and thousands of small segments cost few writes.
    """
    stored, zero = mem.stored.get, bytes(PAGE_SIZE)
    batch: list[bytes | bytearray] = []
    for seg in segments:
        stop = seg.pfn + seg.pages
        for start in range(seg.pfn, stop, _BATCH_PAGES):
            batch += [stored(pfn, zero) for pfn in range(start, min(start + _BATCH_PAGES, stop))]
            if len(batch) >= _BATCH_PAGES:
                out.write(b"".join(batch))
                batch.clear()
    if batch:
        out.write(b"".join(batch))


def vmcore_writer(spec: ImageSpec) -> Callable[[BinaryIO], None]:
    """What writes ``spec``'s RAM and VMCOREINFO as a core to a file, once checked.

    Everything that can be checked is checked here, before any file exists.

    :raises ValueError: if the memory does not match the machine, or an ELF32
        core would be more than 4 GiB long.
    """
    if spec.mem.size != spec.config.ram:
        raise ValueError(
            f"physical memory is {spec.mem.size:#x} bytes but the machine has "
            f"{spec.config.ram:#x} bytes of RAM"
        )
    segments = plan_segments(spec)
    notes = build_notes(spec)
    headers, data_offset = _headers(len(notes), segments)

    def write(out: BinaryIO) -> None:
        out.write(headers)
        out.write(notes)
        out.write(bytes(data_offset - len(headers) - len(notes)))
        _write_frames(out, spec.mem, segments)

    return write


def write_vmcore(spec: ImageSpec, path: str | os.PathLike[str]) -> None:
    """Write ``spec``'s RAM and VMCOREINFO to ``path`` atomically.

    A failure while writing leaves any previous ``path`` untouched.

    :raises ValueError: as :func:`vmcore_writer`, before the file is created.
    """
    write = vmcore_writer(spec)
    with atomic_output(path) as out:
        write(out)
