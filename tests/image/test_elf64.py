"""ELF64 cores: a PAE machine whose stored frames reach above 4 GiB.

The writer makes the core ELF64 (``e_machine`` still ``EM_386``, as kexec-tools
writes an i386 machine's core headers when its memory ends above 4 GiB) exactly
when a stored frame lies at or above 4 GiB; the reader reads both classes and
refuses every damaged ELF64 header in one line. The big generated machine and
the gdb, drgn and volatility3 oracles are in tests/test_elf64_oracles.py.
"""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from core_samples import scattered_spec
from elftools.elf.elffile import ELFFile
from hostile.elf64 import as_elf64

from vmintro.arch.x86 import MachineConfig
from vmintro.image.format.elf import EM_386, ET_CORE, PT_LOAD
from vmintro.image.reader.core import CoreFile, ImageError, PhysicalFault
from vmintro.image.writer.spec import ImageSpec
from vmintro.image.writer.vmcore import write_vmcore
from vmintro.sim.physmem import PhysMem

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"
RAM = 5 << 30
FOUR_G = 1 << 32


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageSpec, Path]:
    """A 5 GiB PAE machine with random frames all over its RAM, written as a core."""
    spec = scattered_spec(ram=RAM, pages=80, seed=3, highmem=True, pae=True)
    assert any(pfn << 12 >= FOUR_G for pfn in spec.mem.stored_pfns())
    path = tmp_path_factory.mktemp("elf64") / "big.vmcore"
    write_vmcore(spec, path)
    return spec, path


def _with_frames(spec: ImageSpec, pfns: list[int]) -> ImageSpec:
    """``spec`` with only the kernel image's frames and ``pfns`` (each a distinct pattern)."""
    mem = PhysMem(spec.mem.size)
    for pfn in spec.mem.stored_pfns():
        if pfn << 12 < spec.kernel_range[1]:
            mem.write(pfn << 12, spec.mem.page(pfn))
    for i, pfn in enumerate(pfns):
        mem.write(pfn << 12, bytes([i + 1]) * 4096)
    return dataclasses.replace(spec, mem=mem)


def test_the_core_is_elf64_with_em_386(big: tuple[ImageSpec, Path]) -> None:
    """pyelftools, an independent ELF reader, sees an ELF64 i386 core of every frame."""
    spec, path = big
    with path.open("rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 64 and elf.little_endian
        assert (elf["e_type"], elf["e_machine"]) == ("ET_CORE", "EM_386")
        assert (elf["e_ehsize"], elf["e_phentsize"]) == (64, 56)
        loads = [
            (s["p_paddr"], s["p_filesz"], s["p_offset"])
            for s in elf.iter_segments()
            if s["p_type"] == "PT_LOAD"
        ]
    with CoreFile(path) as core:
        assert core.elf_class == 64
        assert core.segments == loads
    assert max(p + n for p, n, _ in loads) > FOUR_G
    assert ET_CORE == 4 and EM_386 == 3 and PT_LOAD == 1


def test_every_frame_reads_back_above_and_below_4g(big: tuple[ImageSpec, Path]) -> None:
    spec, path = big
    with CoreFile(path) as core:
        pfns = spec.mem.stored_pfns()
        high = [p for p in pfns if p << 12 >= FOUR_G]
        assert len(high) > 5
        for pfn in pfns:
            assert core.read_phys(pfn << 12, 4096) == spec.mem.page(pfn), hex(pfn)
        top = high[-1] << 12
        assert core.read_phys_u64(top + 8) == int.from_bytes(
            spec.mem.page(high[-1])[8:16], "little"
        )
        offsets = core.phys_to_file_offset_array(np.array([p << 12 for p in high], dtype=np.int64))
        assert (offsets >= 0).all()
        # RAM the core does not store reads as zeros; past RAM faults
        unstored = next(p for p in range(FOUR_G >> 12, RAM >> 12) if p not in set(pfns))
        assert core.read_phys(unstored << 12, 16) == bytes(16)
        with pytest.raises(PhysicalFault):
            core.read_phys(RAM - 8, 16)


@pytest.mark.parametrize(
    ("pfns", "elf_class"),
    [
        ([0x3000, 0xFFFFF], 32),  # the last frame below 4 GiB: ELF32 still names it
        ([0x3000, 0x100000], 64),  # the first frame at 4 GiB
        ([0x13FFFF], 64),
    ],
)
def test_elf64_exactly_when_a_stored_frame_is_at_or_above_4g(
    big: tuple[ImageSpec, Path], tmp_path: Path, pfns: list[int], elf_class: int
) -> None:
    spec = _with_frames(big[0], pfns)
    path = tmp_path / "edge.vmcore"
    write_vmcore(spec, path)
    assert path.read_bytes()[4] == {32: 1, 64: 2}[elf_class]
    with CoreFile(path) as core:
        assert core.elf_class == elf_class
        for i, pfn in enumerate(pfns):
            assert core.read_phys(pfn << 12, 4096) == bytes([i + 1]) * 4096


def test_a_big_machine_with_nothing_above_4g_stays_elf32(tmp_path: Path) -> None:
    """RAM above 4 GiB alone does not make an ELF64 core: its stored frames decide."""
    spec = scattered_spec(ram=RAM, pages=40, seed=4, highmem=True, pae=True)
    spec = _with_frames(spec, [p for p in spec.mem.stored_pfns() if p << 12 < FOUR_G][:20])
    assert spec.config == MachineConfig(ram=RAM, highmem=True, pae=True)
    path = tmp_path / "low.vmcore"
    write_vmcore(spec, path)
    with CoreFile(path) as core:
        assert core.elf_class == 32 and core.ram_size == RAM


@pytest.mark.slow  # two vmintro processes on the demo: ~4 s
def test_the_demo_reencoded_as_elf64_reads_as_the_demo(tmp_path: Path) -> None:
    """Another writer's ELF64 layout (program headers at the end of the file) of the demo's
    segments: every command a user types prints what it prints on the demo."""
    (tmp_path / "d64.vmcore").write_bytes(as_elf64(Path(f"{DEMO}.vmcore").read_bytes()))
    (tmp_path / "d64.vmlinux").write_bytes(Path(f"{DEMO}.vmlinux").read_bytes())
    with CoreFile(f"{DEMO}.vmcore") as a, CoreFile(tmp_path / "d64.vmcore") as b:
        assert (a.elf_class, b.elf_class) == (32, 64)
        assert a.segments == b.segments and a.vmcoreinfo == b.vmcoreinfo
    lines = "vmlist; kmem -f; vtop c4800000; check"

    def run(base: Path) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "vmintro.cli", "-q", str(base), "-c", lines],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.stderr == ""
        return proc.stdout

    assert run(tmp_path / "d64") == run(DEMO)


# -- hostile ELF64 headers ------------------------------------------------------------

_EHDR = {"e_phoff": (32, "<Q"), "e_phentsize": (54, "<H"), "e_phnum": (56, "<H")}
_PHDR = {"p_offset": 8, "p_vaddr": 16, "p_paddr": 24, "p_filesz": 32, "p_memsz": 40}


def _phdr_at(data: bytes | bytearray, index: int, field: str) -> int:
    (phoff,) = struct.unpack_from("<Q", data, 32)
    return phoff + 56 * index + _PHDR[field]


def _error(tmp_path: Path, data: bytes | bytearray) -> str:
    path = tmp_path / "bad.vmcore"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError) as info:
        CoreFile(path)
    message = str(info.value)
    assert "\n" not in message and info.value.__cause__ is None
    return message.removeprefix("bad.vmcore: ")


@pytest.fixture(scope="module")
def core64(big: tuple[ImageSpec, Path]) -> bytes:
    return big[1].read_bytes()


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (40, "truncated: ELF64 header needs 64 bytes, file has 40"),
        (64, "truncated: program header 0 ends at 0x78 beyond end of file (0x40)"),
        (64 + 56 * 2 + 7, "truncated: program header 2 ends at 0xe8 beyond end of file (0xb7)"),
    ],
)
def test_truncated_elf64_headers(tmp_path: Path, core64: bytes, cut: int, message: str) -> None:
    assert _error(tmp_path, core64[:cut]) == message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("e_phentsize", 32, "e_phentsize is 32, expected 56 (sizeof(Elf64_Phdr))"),
        ("e_phoff", 8, "program header table at 0x8 overlaps the ELF64 header (64 bytes)"),
        ("e_phoff", 1 << 63, "truncated: program header 0 ends at 0x8000000000000038 beyond"),
        ("e_phoff", (1 << 64) - 1, "truncated: program header 0 ends at 0x10000000000000037"),
        ("e_phnum", 0, "no program headers"),
        ("e_phnum", 0xFFFF, "extended program header numbering (PN_XNUM) is not supported"),
        ("e_phnum", 0xFFFE, "truncated: program header "),
    ],
)
def test_bad_elf64_header(
    tmp_path: Path, core64: bytes, field: str, value: int, message: str
) -> None:
    data = bytearray(core64)
    offset, fmt = _EHDR[field]
    struct.pack_into(fmt, data, offset, value)
    assert _error(tmp_path, data).startswith(message)


@pytest.mark.parametrize(
    ("index", "field", "value", "message"),
    [
        (2, "p_offset", 1 << 63, "program header 2 (PT_LOAD, physical 0x"),
        (2, "p_offset", (1 << 64) - 1, "program header 2 (PT_LOAD, physical 0x"),
        (2, "p_filesz", (1 << 64) - 1, "truncated: program header 2 (PT_LOAD, physical 0x"),
        (0, "p_filesz", 1 << 40, "truncated: program header 0 (PT_NOTE): data 0x"),
        (2, "p_paddr", (1 << 64) - 4096, "program header 2 (PT_LOAD, physical 0xfffffffffffff000"),
        (2, "p_paddr", RAM, "program header 2 (PT_LOAD, physical 0x140000000-"),
        (2, "p_memsz", (1 << 64) - 1, "program header 2 (PT_LOAD, physical 0x"),
    ],
)
def test_bad_elf64_program_header(
    tmp_path: Path, core64: bytes, index: int, field: str, value: int, message: str
) -> None:
    data = bytearray(core64)
    struct.pack_into("<Q", data, _phdr_at(data, index, field), value)
    assert _error(tmp_path, data).startswith(message)


def test_overlapping_elf64_segments(tmp_path: Path, core64: bytes) -> None:
    """Two segments over one frame above 4 GiB: refused, naming both."""
    data = bytearray(core64)
    (phnum,) = struct.unpack_from("<H", data, 56)
    last = struct.unpack_from("<Q", data, _phdr_at(data, phnum - 1, "p_paddr"))[0]
    assert last >= FOUR_G
    struct.pack_into("<Q", data, _phdr_at(data, phnum - 2, "p_paddr"), last)
    assert _error(tmp_path, data) in (
        f"program headers {a} and {b} overlap in physical memory at {last:#x}"
        for a, b in ((phnum - 2, phnum - 1), (phnum - 1, phnum - 2))
    )


def test_a_segment_wrapping_past_2_64_is_refused(tmp_path: Path, core64: bytes) -> None:
    """p_paddr + p_memsz beyond 2**64 wraps in C; the reader's arithmetic does not."""
    data = bytearray(core64)
    struct.pack_into("<Q", data, _phdr_at(data, 2, "p_paddr"), 1 << 32)
    struct.pack_into("<Q", data, _phdr_at(data, 2, "p_memsz"), (1 << 64) - 0x1000)
    assert "goes beyond the end of RAM (0x140000000)" in _error(tmp_path, data)
