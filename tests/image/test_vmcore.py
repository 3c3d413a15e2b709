"""The vmcore writer and the VMCOREINFO note."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from core_samples import KERNEL_RANGE, scattered_spec
from elftools.elf.elffile import ELFFile

from vmintro.arch.x86 import PAGE_OFFSET, MachineConfig
from vmintro.image.reader.core import CoreFile
from vmintro.image.reader.vmcoreinfo import VmcoreinfoError, parse_e820, parse_vmcoreinfo
from vmintro.image.writer.spec import ImageSpec, Symbol
from vmintro.image.writer.vmcore import _merge_close_runs, plan_segments, write_vmcore
from vmintro.image.writer.vmcoreinfo import build_vmcoreinfo
from vmintro.sim.physmem import PhysMem
from vmintro.types.flags import PAGE_FLAGS
from vmintro.types.kernel import kernel_types


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageSpec, Path]:
    spec = scattered_spec()
    path = tmp_path_factory.mktemp("core") / "small.vmcore"
    write_vmcore(spec, path)
    return spec, path


# -- round trip ---------------------------------------------------------------


def test_every_frame_reads_back(small: tuple[ImageSpec, Path]) -> None:
    spec, path = small
    with CoreFile(path) as core:
        assert core.ram_size == spec.mem.size
        for pfn in range(spec.mem.size >> 12):
            assert core.read_phys(pfn << 12, 4096) == spec.mem.page(pfn), f"frame {pfn:#x}"


def test_only_nonzero_frames_and_the_kernel_are_stored(small: tuple[ImageSpec, Path]) -> None:
    spec, path = small
    with CoreFile(path) as core:
        segments = core.segments
    stored = {p >> 12 for paddr, size, _ in segments for p in range(paddr, paddr + size, 4096)}
    kernel = set(range(KERNEL_RANGE[0] >> 12, KERNEL_RANGE[1] >> 12))
    assert stored == set(spec.mem.stored_pfns()) | kernel
    # data, then headers and notes padded to a page
    headers = 52 + 32 * (len(segments) + 1) + 4096
    assert os.path.getsize(path) <= len(stored) * 4096 + headers + 4095


def test_unstored_frames_read_as_zeros(small: tuple[ImageSpec, Path]) -> None:
    spec, path = small
    stored = set(spec.mem.stored_pfns())
    holes = [p for p in range(spec.mem.size >> 12) if p not in stored][::97]
    with CoreFile(path) as core:
        for pfn in holes:
            if not KERNEL_RANGE[0] <= pfn << 12 < KERNEL_RANGE[1]:
                assert core.phys_to_file_offset_array([pfn << 12])[0] == -1
            assert core.read_phys(pfn << 12, 4096) == bytes(4096)


def test_headers_as_pyelftools_sees_them(small: tuple[ImageSpec, Path]) -> None:
    spec, path = small
    with open(path, "rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 32 and elf.little_endian
        assert elf["e_type"] == "ET_CORE" and elf["e_machine"] == "EM_386"
        segments = list(elf.iter_segments())
        assert segments[0]["p_type"] == "PT_NOTE"
        notes = {n["n_name"]: n for n in segments[0].iter_notes()}
        loads = [s for s in segments if s["p_type"] == "PT_LOAD"]
        assert notes["VMCOREINFO"]["n_type"] == 0
        assert json.loads(notes["VMINTRO"]["n_desc"]) == spec.generator
        for seg in loads:
            assert seg["p_offset"] % 4096 == 0 and seg["p_align"] == 4096
            assert seg["p_filesz"] == seg["p_memsz"] and seg["p_filesz"] % 4096 == 0
            assert seg["p_vaddr"] == PAGE_OFFSET + seg["p_paddr"]  # all lowmem here
            assert seg["p_flags"] == 7
            assert seg.data() == spec.mem.read(seg["p_paddr"], seg["p_filesz"])


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils readelf not installed")
def test_readelf_parses_without_warnings(small: tuple[ImageSpec, Path]) -> None:
    _, path = small
    out = subprocess.run(["readelf", "-lnW", str(path)], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stderr == ""
    assert "warning" not in out.stdout.lower()
    assert "VMCOREINFO" in out.stdout and "VMINTRO" in out.stdout
    assert "CORE (Core file)" in out.stdout and "LOAD" in out.stdout


def test_lowmem_highmem_split() -> None:
    config = MachineConfig(ram=1 << 30, highmem=True)
    mem = PhysMem(config.ram)
    boundary = config.max_low_pfn << 12
    for paddr in range(boundary - 3 * 4096, boundary + 2 * 4096, 4096):
        mem.write(paddr, b"x")
    spec = ImageSpec(config, mem, kernel_types(True, False), [], KERNEL_RANGE)
    segs = [(s.paddr, s.size, s.vaddr) for s in plan_segments(spec)]
    assert segs == [
        (KERNEL_RANGE[0], KERNEL_RANGE[1] - KERNEL_RANGE[0], PAGE_OFFSET + KERNEL_RANGE[0]),
        (boundary - 3 * 4096, 3 * 4096, PAGE_OFFSET + boundary - 3 * 4096),
        (boundary, 2 * 4096, 0),
    ]


def test_frames_above_4_gib_get_segments_of_their_own() -> None:
    """Highmem above 4 GiB is planned as any highmem: p_paddr as is, no p_vaddr."""
    config = MachineConfig(ram=6 << 30, highmem=True, pae=True)
    mem = PhysMem(config.ram)
    mem.write(0x107E53000, b"\x00\x80")  # a swap_map's SWAP_MAP_BAD, vmalloc'ed from HighMem
    mem.write(0x1_2000_0000, b"x")
    spec = ImageSpec(config, mem, kernel_types(True, True), [], KERNEL_RANGE)
    high = [(s.paddr, s.size, s.vaddr) for s in plan_segments(spec) if s.paddr >= 1 << 32]
    assert high == [(0x107E53000, 4096, 0), (0x1_2000_0000, 4096, 0)]


def test_merging_keeps_program_header_count_bounded() -> None:
    runs = [(0, 1), (3, 2), (6, 1), (20, 1), (22, 4), (100, 1)]
    merged = _merge_close_runs(runs, 3)
    assert len(merged) <= 3
    covered = {p for start, n in merged for p in range(start, start + n)}
    assert covered >= {p for start, n in runs for p in range(start, start + n)}
    assert _merge_close_runs(runs, 10) == runs


# -- size, determinism, atomicity -----------------------------------------------


def test_4gib_machine_writes_a_small_file(tmp_path: Path) -> None:
    config = MachineConfig(ram=4 << 30, highmem=True)
    mem = PhysMem(config.ram)
    rng = random.Random(3)
    pfns = rng.sample(range(config.ram >> 12), (40 << 20) >> 12)
    for pfn in pfns:
        mem.write((pfn << 12) + rng.randrange(4000), rng.randbytes(32))
    spec = ImageSpec(config, mem, kernel_types(True, False), [], KERNEL_RANGE)
    path = tmp_path / "big.vmcore"
    write_vmcore(spec, path)
    assert os.path.getsize(path) < 60 << 20
    with CoreFile(path) as core:
        assert core.ram_size == 4 << 30
        for pfn in pfns[:500]:
            assert core.read_phys(pfn << 12, 4096) == mem.page(pfn)
        high = [s for s in core.segments if s[0] >= config.max_low_pfn << 12]
        assert high, "expected highmem segments"


def test_same_spec_same_bytes(tmp_path: Path) -> None:
    write_vmcore(scattered_spec(seed=9), tmp_path / "a.vmcore")
    write_vmcore(scattered_spec(seed=9), tmp_path / "b.vmcore")
    assert (tmp_path / "a.vmcore").read_bytes() == (tmp_path / "b.vmcore").read_bytes()


class _FailingMem(PhysMem):
    """RAM that breaks after a number of frames have been read, one by one or
    straight from the stored frames (as the core writer reads them)."""

    def __init__(self, size: int, fail_after: int) -> None:
        super().__init__(size)
        self.left = fail_after

    def _count(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("simulated failure")

    def page(self, pfn: int) -> bytes:
        self._count()
        return super().page(pfn)

    @property
    def stored(self) -> Mapping[int, bytearray]:
        return _FailingFrames(self, super().stored)


class _FailingFrames(dict[int, bytearray]):
    """The stored frames of a :class:`_FailingMem`, counting every read."""

    def __init__(self, mem: _FailingMem, frames: Mapping[int, bytearray]) -> None:
        super().__init__(frames)
        self.mem = mem

    def __getitem__(self, pfn: int) -> bytearray:
        self.mem._count()
        return super().__getitem__(pfn)

    def get(self, pfn: int, default: Any = None) -> Any:
        self.mem._count()
        return super().get(pfn, default)


def test_failure_while_writing_leaves_old_file(tmp_path: Path) -> None:
    good = scattered_spec()
    bad = scattered_spec()
    failing = _FailingMem(bad.mem.size, fail_after=50)
    for pfn in bad.mem.stored_pfns():
        failing.write(pfn << 12, bad.mem.page(pfn))
    bad.mem = failing
    path = tmp_path / "x.vmcore"
    with pytest.raises(RuntimeError):
        write_vmcore(bad, path)
    assert list(tmp_path.iterdir()) == []
    write_vmcore(good, path)
    before = path.read_bytes()
    failing.left = 50
    with pytest.raises(RuntimeError):
        write_vmcore(bad, path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_frames_above_4gib_make_an_elf64_core(tmp_path: Path) -> None:
    config = MachineConfig(ram=8 << 30, highmem=True, pae=True)
    mem = PhysMem(config.ram)
    mem.write(5 << 30, b"high")
    spec = ImageSpec(config, mem, kernel_types(True, True), [], KERNEL_RANGE)
    write_vmcore(spec, tmp_path / "pae.vmcore")
    with CoreFile(tmp_path / "pae.vmcore") as core:
        assert core.elf_class == 64
        assert core.read_phys(5 << 30, 4) == b"high"


def test_memory_size_must_match_machine(tmp_path: Path) -> None:
    spec = scattered_spec()
    spec.mem = PhysMem(16 << 20)
    with pytest.raises(ValueError, match="RAM"):
        write_vmcore(spec, tmp_path / "x.vmcore")


# -- VMCOREINFO -------------------------------------------------------------------


@pytest.mark.parametrize(("highmem", "pae"), [(False, False), (True, False), (True, True)])
def test_vmcoreinfo_follows_the_type_model(highmem: bool, pae: bool) -> None:
    spec = scattered_spec(ram=64 << 20, pages=1, highmem=highmem, pae=pae)
    info = parse_vmcoreinfo(build_vmcoreinfo(spec))
    kt = spec.types
    assert info["OSRELEASE"] == "2.4.20"
    assert info["PAGESIZE"] == "4096"
    assert info["KERNELOFFSET"] == "0"
    assert info["SYMBOL(swapper_pg_dir)"] == "c0101000"
    assert info["SYMBOL(_text)"] == "c0100000"
    assert int(info["SIZE(page)"]) == kt.sizeof("struct page") == (48 if highmem else 44)
    assert int(info["SIZE(zone)"]) == kt.sizeof("zone_t")
    assert int(info["SIZE(pglist_data)"]) == kt.sizeof("pg_data_t")
    assert int(info["SIZE(free_area)"]) == kt.sizeof("free_area_t")
    assert int(info["SIZE(pte_t)"]) == (8 if pae else 4)
    assert int(info["OFFSET(page.count)"]) == 20
    assert int(info["OFFSET(page.flags)"]) == 24
    assert int(info["OFFSET(vm_struct.next)"]) == 12
    assert int(info["OFFSET(zone.free_area)"]) == kt.offsetof("zone_t", "free_area")
    assert int(info["OFFSET(pglist_data.node_mem_map)"]) == kt.offsetof("pg_data_t", "node_mem_map")
    assert ("OFFSET(page.virtual)" in info) == highmem
    assert "OFFSET(page._count)" not in info
    assert info["LENGTH(zone_table)"] == "3"
    assert info["NUMBER(MAX_ORDER)"] == "10"
    assert int(info["NUMBER(PG_slab)"]) == PAGE_FLAGS["PG_slab"] == 8
    assert int(info["NUMBER(PG_reserved)"]) == 14
    assert int(info["NUMBER(PG_highmem)"]) == 11
    assert info.get("CONFIG_HIGHMEM") == ("y" if highmem else None)
    assert info.get("CONFIG_X86_PAE") == ("y" if pae else None)
    assert parse_e820(info) == spec.config.e820
    assert info["E820(0)"] == "usable 0x0-0x9fc00"


def test_vmcoreinfo_symbols_once_each() -> None:
    spec = scattered_spec(pages=1)
    spec.symbols += [
        Symbol("counter", 0xC0200000, 4, local=True),
        Symbol("counter", 0xC0200010, 4),
        Symbol("counter", 0xC0200020, 4, local=True),
    ]
    info = parse_vmcoreinfo(build_vmcoreinfo(spec))
    assert info["SYMBOL(counter)"] == "c0200010"
    spec.symbols.append(Symbol("counter", 0xC0200030, 4))
    with pytest.raises(ValueError, match="two global"):
        build_vmcoreinfo(spec)
    spec.symbols[-1] = Symbol("bad=name", 0, 0)
    with pytest.raises(ValueError, match="cannot be written"):
        build_vmcoreinfo(spec)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("OSRELEASE=2.4.20\n\nPAGESIZE=4096\n", "line 2: empty line"),
        ("OSRELEASE 2.4.20\n", "line 1: no '='"),
        ("SYMBOL(a b)=c0000000\n", "line 1: bad key"),
        ("=x\n", "line 1: bad key"),
        ("A=1\nA=2\n", "line 2: A given twice"),
        ("A=1\x07\n", "line 1: control character"),
    ],
)
def test_parse_vmcoreinfo_rejects(text: str, message: str) -> None:
    with pytest.raises(VmcoreinfoError, match=message):
        parse_vmcoreinfo(text)


def test_parse_vmcoreinfo_accepts_kernel_style() -> None:
    text = "OSRELEASE=6.1.0\nBUILD-ID=abc\nSYMBOL(init_uts_ns)=ffffffff82\nCRASHTIME=\n"
    assert parse_vmcoreinfo(text) == {
        "OSRELEASE": "6.1.0",
        "BUILD-ID": "abc",
        "SYMBOL(init_uts_ns)": "ffffffff82",
        "CRASHTIME": "",
    }
    assert parse_vmcoreinfo("A=1") == {"A": "1"}


@pytest.mark.parametrize(
    "lines",
    [
        {"E820(0)": "usable 0-0x1000"},
        {"E820(0)": "usable 0x2000-0x1000"},
        {"E820(1)": "usable 0x0-0x1000"},
        {"E820(0)": "usable 0x0-0x1000", "E820(00)": "usable 0x0-0x1000"},
    ],
)
def test_parse_e820_rejects(lines: dict[str, str]) -> None:
    with pytest.raises(VmcoreinfoError):
        parse_e820(lines)
