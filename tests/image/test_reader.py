"""CoreFile: reads, and refusal of every kind of broken file."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from core_samples import (
    SWAPPER_PG_DIR_PHYS,
    craft_core,
    mapped_spec,
    phdr_field,
    scattered_spec,
)
from hostile_files import copy_demo, replace_notes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import need_oracle

from vmintro.image.reader.core import MAX_NOTES, CoreFile, ImageError, MemoryFault, PhysicalFault
from vmintro.image.writer.elf32 import build_note
from vmintro.image.writer.spec import ImageSpec
from vmintro.image.writer.vmcore import write_vmcore


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageSpec, Path, bytes]:
    spec = scattered_spec(ram=16 << 20, pages=40, seed=2)
    path = tmp_path_factory.mktemp("reader") / "demo.vmcore"
    write_vmcore(spec, path)
    return spec, path, path.read_bytes()


def _open_bytes(tmp_path: Path, data: bytes | bytearray, name: str = "demo.vmcore") -> CoreFile:
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return CoreFile(path)


def _error_of(tmp_path: Path, data: bytes | bytearray) -> str:
    with pytest.raises(ImageError) as info:
        _open_bytes(tmp_path, data)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("demo.vmcore: ")
    assert info.value.__cause__ is None and info.value.__suppress_context__ in (True, False)
    return message.removeprefix("demo.vmcore: ")


# -- reading ----------------------------------------------------------------------


def test_metadata(written: tuple[ImageSpec, Path, bytes]) -> None:
    spec, path, _ = written
    with CoreFile(path) as core:
        assert core.ram_size == 16 << 20
        assert core.generator == spec.generator
        assert core.vmcoreinfo["OSRELEASE"] == "2.4.20"
        assert core.segments == sorted(core.segments)
        for paddr, size, offset in core.segments:
            assert size > 0 and offset % 4096 == 0 and paddr % 4096 == 0
        assert "demo.vmcore" in repr(core)


def test_reads_cross_segments_and_holes(written: tuple[ImageSpec, Path, bytes]) -> None:
    spec, path, _ = written
    with CoreFile(path) as core:
        for paddr, size, _ in core.segments:
            for start in (paddr - 4096 - 3, paddr - 5, paddr + size - 7, paddr + 100):
                if start >= 0:
                    assert core.read_phys(start, 9000) == spec.mem.read(start, 9000)
            assert core.read_phys_u32(paddr + size - 2) == spec.mem.read_u32(paddr + size - 2)
            assert core.read_phys_u64(paddr + size - 4) == spec.mem.read_u64(paddr + size - 4)
            assert core.read_phys_u32(paddr + 8) == spec.mem.read_u32(paddr + 8)
            assert core.read_phys_u64(paddr + 8) == spec.mem.read_u64(paddr + 8)
        assert core.read_phys(0, 0) == b""
        assert core.read_phys(core.ram_size - 4, 4) == spec.mem.read(core.ram_size - 4, 4)


def test_reads_outside_ram_fault(written: tuple[ImageSpec, Path, bytes]) -> None:
    _, path, _ = written
    with CoreFile(path) as core:
        end = core.ram_size
        for paddr, size, first_bad in ((end, 4, end), (end - 2, 4, end), (-4, 4, -4)):
            with pytest.raises(PhysicalFault) as info:
                core.read_phys(paddr, size)
            assert isinstance(info.value, MemoryFault)
            assert info.value.address == first_bad
        with pytest.raises(PhysicalFault):
            core.read_phys_u32(end - 1)
        with pytest.raises(PhysicalFault):
            core.read_phys_u64(end)
        with pytest.raises(ValueError):
            core.read_phys(0, -1)


def test_bulk_translation_matches_single_reads(written: tuple[ImageSpec, Path, bytes]) -> None:
    _, path, data = written
    rng = np.random.default_rng(0)
    with CoreFile(path) as core:
        addrs = rng.integers(-8192, core.ram_size + 8192, 20000)
        addrs = np.concatenate([addrs, [p for p, _, _ in core.segments]])
        offsets = core.phys_to_file_offset_array(addrs)
        assert offsets.dtype == np.int64 and offsets.shape == addrs.shape
        for addr, offset in zip(addrs.tolist(), offsets.tolist(), strict=True):
            hit = [o + addr - p for p, s, o in core.segments if p <= addr < p + s]
            assert offset == (hit[0] if hit else -1)
            if hit:
                assert data[offset : offset + 4] == core.read_phys(addr, 4)
        grid = core.phys_to_file_offset_array(np.arange(16, dtype=np.uint32).reshape(4, 4))
        assert grid.shape == (4, 4)


def test_unaligned_segments_and_memsz_beyond_filesz(tmp_path: Path) -> None:
    # A foreign core: odd addresses, and a segment whose tail is implicit zeros.
    core_bytes = craft_core([(0x1003, b"abcdef", 6), (0x2000, b"xyz", 0x1000)])
    with _open_bytes(tmp_path, core_bytes) as core:
        assert core.read_phys(0x1000, 12) == b"\0\0\0abcdef\0\0\0"
        assert core.read_phys(0x2000, 5) == b"xyz\0\0"
        offsets = core.phys_to_file_offset_array(np.array([0x1002, 0x1003, 0x1008, 0x1009, 0x2002]))
        assert offsets[0] == -1 and offsets[3] == -1
        assert core_bytes[offsets[1]] == ord("a") and core_bytes[offsets[2]] == ord("f")
        assert core_bytes[offsets[4]] == ord("z")


def test_close_and_context_manager(written: tuple[ImageSpec, Path, bytes]) -> None:
    _, path, _ = written
    core = CoreFile(path)
    with core:
        core.read_phys(0, 4)
    with pytest.raises(ValueError):
        core.read_phys(core.segments[0][0], 4)
    core.close()  # twice is harmless


# -- refusal ----------------------------------------------------------------------


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytearray:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return out


def test_empty_file(tmp_path: Path) -> None:
    assert _error_of(tmp_path, b"") == "empty file"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^nothing.vmcore: cannot open: No such file"):
        CoreFile(tmp_path / "nothing.vmcore")
    (tmp_path / "dir.vmcore").mkdir()
    with pytest.raises(ImageError, match=r"^dir.vmcore: is a directory, not a regular file$"):
        CoreFile(tmp_path / "dir.vmcore")


def test_text_file(tmp_path: Path) -> None:
    assert _error_of(tmp_path, b"OSRELEASE=2.4.20\n").startswith("not an ELF file")


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (3, "truncated: ELF identification needs 16 bytes, file has 3"),
        (10, "truncated: ELF identification needs 16 bytes, file has 10"),
        (30, "truncated: ELF32 header needs 52 bytes, file has 30"),
        (52, "truncated: program header 0 ends at 0x54 beyond end of file (0x34)"),
        (52 + 32 * 3 + 5, "truncated: program header 3 ends at 0xb4 beyond end of file (0x99)"),
    ],
)
def test_truncated_headers(
    tmp_path: Path, written: tuple[ImageSpec, Path, bytes], cut: int, message: str
) -> None:
    assert _error_of(tmp_path, written[2][:cut]) == message


def test_truncated_in_a_segment(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    cut = len(data) - 4096 - 100
    message = _error_of(tmp_path, data[:cut])
    assert message.startswith("truncated: program header ")
    assert "(PT_LOAD, physical 0x" in message
    assert message.endswith(f"goes beyond end of file ({cut:#x})")


def test_truncated_in_the_notes(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    notes_at = struct.unpack_from("<I", data, phdr_field(data, 0, "p_offset"))[0]
    message = _error_of(tmp_path, data[: notes_at + 40])
    assert message.startswith(f"truncated: program header 0 (PT_NOTE): data {notes_at:#x}-0x")


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (4, "<B", 2, "program header table at 0x0 overlaps the ELF64 header (64 bytes)"),
        (4, "<B", 7, "bad ELF class 7 (expected ELFCLASS32 or ELFCLASS64)"),
        (5, "<B", 2, "big-endian ELF: an i386 core is little-endian (ELFDATA2LSB)"),
        (6, "<B", 0, "unknown ELF version 0"),
        (16, "<H", 2, "not a core file: e_type is ET_EXEC (2), expected ET_CORE (4)"),
        (18, "<H", 62, "wrong machine: e_machine is EM_X86_64 (62), expected EM_386 (3)"),
        (18, "<H", 999, "wrong machine: e_machine is 999, expected EM_386 (3)"),
        (42, "<H", 56, "e_phentsize is 56, expected 32"),
        (44, "<H", 0, "no program headers"),
        (44, "<H", 0xFFFF, "extended program header numbering (PN_XNUM) is not supported"),
        (48, "<H", 3, "truncated: section header table"),
    ],
)
def test_bad_elf_header(
    tmp_path: Path,
    written: tuple[ImageSpec, Path, bytes],
    offset: int,
    fmt: str,
    value: int,
    message: str,
) -> None:
    data = _patch(written[2], offset, fmt, value)
    if offset == 48:  # e_shnum: also point the table near the end of the file
        struct.pack_into("<I", data, 32, len(data) - 50)
    assert _error_of(tmp_path, data).startswith(message)


def test_overlapping_segments(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    first = struct.unpack_from("<I", data, phdr_field(data, 1, "p_paddr"))[0]
    bad = _patch(data, phdr_field(data, 2, "p_paddr"), "<I", first)
    assert _error_of(tmp_path, bad) == (
        f"program headers 1 and 2 overlap in physical memory at {first:#x}"
    )


def test_segment_beyond_end_of_file(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    bad = _patch(data, phdr_field(data, 3, "p_offset"), "<I", 0x7FFFF000)
    message = _error_of(tmp_path, bad)
    assert message.startswith("program header 3 (PT_LOAD, physical 0x")
    assert f"data 0x7ffff000-0x80001000 goes beyond end of file ({len(data):#x})" in message


def test_segment_beyond_ram(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    bad = _patch(data, phdr_field(data, 3, "p_paddr"), "<I", (16 << 20) - 4096)
    assert "goes beyond the end of RAM (0x1000000)" in _error_of(tmp_path, bad)


def test_filesz_larger_than_memsz(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    bad = _patch(data, phdr_field(data, 2, "p_memsz"), "<I", 16)
    assert "p_filesz 0x" in _error_of(tmp_path, bad)


def _note_offset(data: bytes) -> int:
    return struct.unpack_from("<I", data, phdr_field(data, 0, "p_offset"))[0]


def test_note_name_beyond_segment(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    bad = _patch(data, _note_offset(data), "<I", 0x10000)
    message = _error_of(tmp_path, bad)
    assert message.startswith(f"malformed note 0 at {_note_offset(data):#x} in program header 0")
    assert "name size 0x10000 runs past the segment end" in message


def test_note_descriptor_beyond_segment(
    tmp_path: Path, written: tuple[ImageSpec, Path, bytes]
) -> None:
    data = written[2]
    bad = _patch(data, _note_offset(data) + 4, "<I", 0x100000)
    assert "descriptor size 0x100000 runs past the segment end" in _error_of(tmp_path, bad)


def test_note_count_is_bounded(tmp_path: Path) -> None:
    """Each note costs the reader memory: a segment of empty notes is refused, not held."""
    base = copy_demo(tmp_path, "notes")
    extra = build_note("CORE", 1, b"") * (MAX_NOTES + 1)
    replace_notes(Path(f"{base}.vmcore"), lambda _name, desc: desc, extra)
    with pytest.raises(ImageError, match=rf"^notes\.vmcore: more than {MAX_NOTES} notes in "):
        CoreFile(f"{base}.vmcore")


def test_vmcoreinfo_that_is_not_ascii_says_where(tmp_path: Path) -> None:
    base = copy_demo(tmp_path, "text")
    replace_notes(
        Path(f"{base}.vmcore"),
        lambda name, desc: (
            desc.replace(b"PAGESIZE", b"PAGE\xffSIZE") if name == "VMCOREINFO" else desc
        ),
    )
    with pytest.raises(
        ImageError, match=r"^text\.vmcore: VMCOREINFO is not ASCII text \(byte 0xff on line 2\)$"
    ):
        CoreFile(f"{base}.vmcore")


def test_missing_vmcoreinfo(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    name_at = _note_offset(data) + 12
    assert data[name_at : name_at + 10] == b"VMCOREINFO"
    bad = bytearray(data)
    bad[name_at + 9] = ord("X")
    assert _error_of(tmp_path, bad) == "no VMCOREINFO note"


def test_malformed_vmcoreinfo_line(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    at = data.index(b"PAGESIZE=4096")
    bad = bytearray(data)
    bad[at + 8] = ord(" ")
    assert _error_of(tmp_path, bad) == "malformed VMCOREINFO: line 2: no '=' in 'PAGESIZE 4096'"


def test_vmcoreinfo_without_ram_map(tmp_path: Path) -> None:
    data = craft_core([], "OSRELEASE=2.4.20\nPAGESIZE=4096\n")
    assert _error_of(tmp_path, data) == ("VMCOREINFO has no E820 lines: the size of RAM is unknown")


def test_bad_vmintro_note(tmp_path: Path, written: tuple[ImageSpec, Path, bytes]) -> None:
    data = written[2]
    at = data.index(b'{"arguments"')
    bad = bytearray(data)
    bad[at] = ord("[")
    assert _error_of(tmp_path, bad).startswith("VMINTRO note: not valid JSON (")


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzzed_cores_open_or_raise_image_error(
    tmp_path: Path, written: tuple[ImageSpec, Path, bytes], data: st.DataObject
) -> None:
    original = written[2]
    core = bytearray(original)
    header_end = _note_offset(original) + 2048
    for _ in range(data.draw(st.integers(0, 8))):
        # Most flips land in the headers and notes, where they matter.
        limit = data.draw(st.sampled_from([header_end, len(core)]))
        at = data.draw(st.integers(0, min(limit, len(core)) - 1))
        core[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del core[data.draw(st.integers(0, len(core))) :]
    try:
        opened = _open_bytes(tmp_path, core, "fuzz.vmcore")
    except ImageError as e:
        assert str(e).startswith("fuzz.vmcore: ") and "\n" not in str(e)
    else:
        with opened:
            for paddr in (0, 0x100000, opened.ram_size // 2, opened.ram_size - 8):
                if 0 <= paddr <= opened.ram_size - 8:
                    opened.read_phys(paddr, 8)
            opened.phys_to_file_offset_array(np.arange(0, 1 << 20, 4096))


# -- drgn / libkdumpfile ------------------------------------------------------------

_DRGN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import drgn

    path, checks = sys.argv[1], json.loads(sys.argv[2])
    prog = drgn.Program()
    prog.set_core_dump(path)
    out = {"arch": str(prog.platform.arch)}
    for name, address, size, physical in checks:
        try:
            out[name] = prog.read(address, size, physical).hex()
        except drgn.FaultError as e:
            out[name] = "fault: " + str(e)
    print(json.dumps(out))
    """
)


def test_drgn_reads_the_core_through_libkdumpfile(tmp_path: Path) -> None:
    need_oracle("drgn", importlib.util.find_spec("drgn") is not None)
    spec, vmalloc_addr = mapped_spec()
    path = tmp_path / "mapped.vmcore"
    write_vmcore(spec, path)
    core = CoreFile(path)
    stored = [p for p, _, _ in core.segments]
    checks = [(f"phys {p:#x}", p, 64, True) for p in stored[:: max(1, len(stored) // 20)]]
    checks += [
        ("pgd entry 768", SWAPPER_PG_DIR_PHYS + 768 * 4, 4, True),
        ("virt lowmem", 0xC0000000 + stored[-1] + 8, 32, False),
        ("virt swapper_pg_dir", 0xC0000000 + SWAPPER_PG_DIR_PHYS + 768 * 4, 4, False),
        ("virt vmalloc page 0", vmalloc_addr + 100, 16, False),
        ("virt vmalloc page 1", vmalloc_addr + 4096 + 100, 16, False),
        ("virt vmalloc guard", vmalloc_addr + 2 * 4096, 4, False),
    ]
    # libkdumpfile's i386 set-up reads vmlist->addr to find VMALLOC_START and can
    # crash the process when that fails (vmlist NULL): keep it out of pytest's.
    env = dict(os.environ, DRGN_USE_LIBKDUMPFILE_FOR_ELF="1")
    run = subprocess.run(
        [sys.executable, "-c", _DRGN_SCRIPT, str(path), json.dumps(checks)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["arch"] == "Architecture.I386"
    for name, address, size, physical in checks:
        if name == "virt vmalloc guard":
            assert got[name].startswith("fault: ") and "not present" in got[name]
            continue
        paddr = address if physical else None
        if name.startswith("virt vmalloc"):
            pfn = 0x2100 if "page 0" in name else 0x2345
            paddr = (pfn << 12) + 100
        elif not physical:
            paddr = address - 0xC0000000
        assert bytes.fromhex(got[name]) == core.read_phys(paddr, size), name
    core.close()
