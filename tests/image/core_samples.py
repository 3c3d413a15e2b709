"""Synthetic machines for the core-file tests, built without the simulator."""

from __future__ import annotations

import random
import struct

from vmintro.arch.x86 import PAGE_OFFSET, MachineConfig
from vmintro.image.format.elf import (
    EHDR_SIZE,
    EM_386,
    ET_CORE,
    PHDR_SIZE,
    PT_LOAD,
    PT_NOTE,
    SHDR_SIZE,
)
from vmintro.image.writer.elf32 import Elf32_Ehdr, Elf32_Phdr, build_note
from vmintro.image.writer.spec import ImageSpec, Symbol
from vmintro.sim.physmem import PhysMem
from vmintro.types.kernel import kernel_types

KERNEL_RANGE = (0x100000, 0x180000)
SWAPPER_PG_DIR_PHYS = 0x101000
VMLIST_PHYS = 0x140000
VM_STRUCT_PHYS = 0x141000
PTE_PAGE_PHYS = 0x142000


def scattered_spec(
    ram: int = 32 << 20,
    pages: int = 300,
    seed: int = 1,
    highmem: bool = False,
    pae: bool = False,
    generator: dict | None = None,
) -> ImageSpec:
    """A machine whose RAM holds ``pages`` scattered frames of random bytes, some in runs."""
    config = MachineConfig(ram=ram, highmem=highmem, pae=pae)
    mem = PhysMem(ram)
    rng = random.Random(seed)
    for _ in range(pages):
        pfn = rng.randrange(ram >> 12)
        run = rng.choice((1, 1, 1, 2, 5))
        for p in range(pfn, min(pfn + run, ram >> 12)):
            offset = rng.randrange(4096 - 64)
            mem.write((p << 12) + offset, rng.randbytes(64))
    # Something inside the kernel image, whose other pages stay zero.
    mem.write(KERNEL_RANGE[0] + 0x10, b"Linux version 2.4.20")
    symbols = [
        Symbol("_text", PAGE_OFFSET + KERNEL_RANGE[0], 0, kind="notype"),
        Symbol("swapper_pg_dir", PAGE_OFFSET + SWAPPER_PG_DIR_PHYS, 4096),
        Symbol("vmlist", PAGE_OFFSET + VMLIST_PHYS, 4),
        Symbol("mem_map", PAGE_OFFSET + VMLIST_PHYS + 4, 4),
        Symbol("_end", PAGE_OFFSET + KERNEL_RANGE[1], 0, kind="notype"),
    ]
    if generator is None:
        generator = {"version": "0.1.0", "scenario": "synthetic", "seed": seed, "arguments": []}
    return ImageSpec(
        config=config,
        mem=mem,
        types=kernel_types(highmem, pae),
        symbols=symbols,
        kernel_range=KERNEL_RANGE,
        generator=generator,
    )


def mapped_spec() -> tuple[ImageSpec, int]:
    """A 64 MiB machine with real page tables; returns it and the address of a vmalloc area.

    ``swapper_pg_dir`` maps lowmem with 4 MiB PSE entries (``phys | 0x1E3`` from
    index 768). ``vmlist`` holds one ``vm_struct`` for a two-page area mapped
    through a page table at VMALLOC_START, followed by an unmapped guard page.
    """
    spec = scattered_spec(ram=64 << 20, pages=100, seed=5)
    mem, config = spec.mem, spec.config
    for i in range((config.max_low_pfn << 12) >> 22):
        mem.write_u32(SWAPPER_PG_DIR_PHYS + (768 + i) * 4, (i << 22) | 0x1E3)
    start = config.vmalloc_start
    vm = spec.types.struct("struct vm_struct")
    mem.write_u32(VMLIST_PHYS, PAGE_OFFSET + VM_STRUCT_PHYS)
    mem.write_u32(VM_STRUCT_PHYS + vm.offsetof("flags"), 2)
    mem.write_u32(VM_STRUCT_PHYS + vm.offsetof("addr"), start)
    mem.write_u32(VM_STRUCT_PHYS + vm.offsetof("size"), 3 * 4096)
    mem.write_u32(VM_STRUCT_PHYS + vm.offsetof("next"), 0)
    mem.write_u32(SWAPPER_PG_DIR_PHYS + (start >> 22) * 4, PTE_PAGE_PHYS | 0x067)
    for j, pfn in enumerate((0x2100, 0x2345)):
        mem.write_u32(PTE_PAGE_PHYS + (((start >> 12) & 1023) + j) * 4, (pfn << 12) | 0x163)
        mem.write(pfn << 12, bytes([0xA0 + j]) * 4096)
    return spec, start


def craft_core(
    loads: list[tuple[int, bytes, int]],
    vmcoreinfo: str = "OSRELEASE=2.4.20\nPAGESIZE=4096\nE820(0)=usable 0x0-0x1000000\n",
) -> bytes:
    """A hand-made core: ``loads`` are (paddr, data, memsz); data is placed unaligned."""
    notes = build_note("VMCOREINFO", 0, vmcoreinfo.encode())
    phnum = 1 + len(loads)
    offset = EHDR_SIZE + phnum * PHDR_SIZE
    ehdr = Elf32_Ehdr.build(
        dict(
            e_type=ET_CORE, e_machine=EM_386, e_version=1, e_entry=0, e_phoff=EHDR_SIZE,
            e_shoff=0, e_flags=0, e_ehsize=EHDR_SIZE, e_phentsize=PHDR_SIZE, e_phnum=phnum,
            e_shentsize=SHDR_SIZE, e_shnum=0, e_shstrndx=0,
        )
    )  # fmt: skip
    phdrs = [_phdr(PT_NOTE, offset, 0, len(notes), len(notes))]
    body = notes
    offset += len(notes)
    for paddr, data, memsz in loads:
        phdrs.append(_phdr(PT_LOAD, offset, paddr, len(data), memsz))
        body += data
        offset += len(data)
    return ehdr + b"".join(phdrs) + body


def _phdr(p_type: int, offset: int, paddr: int, filesz: int, memsz: int) -> bytes:
    return Elf32_Phdr.build(
        dict(
            p_type=p_type, p_offset=offset, p_vaddr=0, p_paddr=paddr, p_filesz=filesz,
            p_memsz=memsz, p_flags=7, p_align=0,
        )
    )  # fmt: skip


def phdr_field(core: bytes | bytearray, index: int, field: str) -> int:
    """Byte offset of ``field`` of program header ``index`` (for patching tests)."""
    names = ["p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags"]
    phoff = struct.unpack_from("<I", core, 28)[0]
    return phoff + index * PHDR_SIZE + 4 * names.index(field)
