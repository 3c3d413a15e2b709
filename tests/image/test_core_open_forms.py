"""Opening a core in C (``vmintro._speedups.core_tables``) and in Python gives the same.

The C form checks a core's program header table and builds the reader's segment
tables; the Python forms (``CoreFile._check_segments`` and ``_index``) define both
the checks and their errors. Every core here opens both ways, and the segment tables,
the notes, reads of RAM, or the one-line error must be identical; on a good file the
C form must have built the tables (a spy records what it returned), and on a bad one
it must have handed the file to the Python forms. Segments are also checked against
pyelftools' reading of the same file, an independent ELF reader.
"""

from __future__ import annotations

import gc
import mmap
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from core_samples import craft_core
from elftools.elf.elffile import ELFFile
from hostile.elf64 import as_elf64
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmintro.image.format.elf import PT_NOTE, PT_NULL
from vmintro.image.reader import core as core_module
from vmintro.image.reader.core import CoreFile, ImageError

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo.vmcore"
C_FORM = core_module._core_tables
PURE_PYTHON = bool(os.environ.get("VMINTRO_PURE_PYTHON"))
REQUIRED = bool(os.environ.get("VMINTRO_REQUIRE_SPEEDUPS")) and not PURE_PYTHON
needs_c = pytest.mark.skipif(
    C_FORM is None and not REQUIRED,
    reason="VMINTRO_PURE_PYTHON is set" if PURE_PYTHON else "vmintro._speedups was not built",
)
MiB = 1 << 20
PT_DYNAMIC = 2

# Where each field of a program header is, per ELF class (the ELF specification's layout).
_FIELDS = {
    32: {"p_type": (0, "<I"), "p_offset": (4, "<I"), "p_paddr": (12, "<I"),
         "p_filesz": (16, "<I"), "p_memsz": (20, "<I")},
    64: {"p_type": (0, "<I"), "p_offset": (8, "<Q"), "p_paddr": (24, "<Q"),
         "p_filesz": (32, "<Q"), "p_memsz": (40, "<Q")},
}  # fmt: skip


def _field(core: Any, index: int, field: str) -> tuple[str, int]:
    """The format and file offset of ``field`` of program header ``index`` of the ELF32
    or ELF64 ``core``."""
    elf64 = core[4] == 2
    phoff = struct.unpack_from("<Q" if elf64 else "<I", core, 32 if elf64 else 28)[0]
    at, fmt = _FIELDS[64 if elf64 else 32][field]
    return fmt, phoff + index * (56 if elf64 else 32) + at


def _get(core: Any, index: int, field: str) -> int:
    fmt, at = _field(core, index, field)
    return int(struct.unpack_from(fmt, core, at)[0])


def _set(core: bytearray, index: int, field: str, value: int) -> None:
    fmt, at = _field(core, index, field)
    struct.pack_into(fmt, core, at, value)


def _phnum(core: bytes | bytearray) -> int:
    return struct.unpack_from("<H", core, 56 if core[4] == 2 else 44)[0]


def _pages(*starts: int) -> list[tuple[int, bytes, int]]:
    """One stored page of its own pattern at each physical address."""
    return [(paddr, bytes([i + 1]) * 4096, 4096) for i, paddr in enumerate(starts)]


def _sample() -> bytearray:
    """A core of four PT_LOADs in a 16 MiB machine (header 1 holds the lowest frame)."""
    return bytearray(craft_core(_pages(0x1000, 0x3000, 0x200000, 0xFFF000)))


def _open(path: Path, use_c: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[Any]]:
    """What opening ``path`` gives (its tables and reads, or its error), and what the
    C form returned each time it was called."""
    returned: list[Any] = []

    def spy(*args: Any) -> Any:
        returned.append(C_FORM(*args))
        return returned[-1]

    monkeypatch.setattr(core_module, "_core_tables", spy if use_c else None)
    try:
        with CoreFile(path) as core:
            # a segment's first bytes, and its last two with the two after it
            ends = [min(paddr + size - 2, core.ram_size - 4) for paddr, size, _ in core.segments]
            probes = [*core._starts[:3], *ends[:3], 0, core.ram_size - 4]
            reads = [core.read_phys(p, 4) for p in probes]
            opened = (
                core.segments,
                core._starts,
                core._ends,
                core._deltas,
                core.ram_size,
                core.vmcoreinfo,
                core.generator,
                reads,
            )
    except ImageError as e:
        opened = str(e)
    finally:
        monkeypatch.setattr(core_module, "_core_tables", C_FORM)
    return opened, returned


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """What opening ``path`` gives, the same in C and in Python; and what C returned."""
    python, _ = _open(path, False, monkeypatch)
    if C_FORM is None:
        return python, None
    in_c, returned = _open(path, True, monkeypatch)
    assert in_c == python
    assert len(returned) == 1
    return python, returned[0]


def _write(tmp_path: Path, data: bytes | bytearray, name: str = "core.vmcore") -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


def _elftools_segments(path: Path) -> list[tuple[int, int, int]]:
    """(paddr, filesz, offset) of the stored PT_LOADs as pyelftools reads them, sorted."""
    with path.open("rb") as f:
        return sorted(
            (s["p_paddr"], s["p_filesz"], s["p_offset"])
            for s in ELFFile(f).iter_segments()
            if s["p_type"] == "PT_LOAD" and s["p_filesz"]
        )


@pytest.fixture(params=[32, 64], ids=["ELF32", "ELF64"])
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The bundled demo core, and the same segments described by ELF64 headers."""
    if request.param == 32:
        return Path(shutil.copy(DEMO, tmp_path / "demo.vmcore"))
    return _write(tmp_path, as_elf64(DEMO.read_bytes()), "demo.vmcore")


def test_the_c_form_is_there_unless_turned_off() -> None:
    if PURE_PYTHON:
        assert C_FORM is None
    elif REQUIRED:
        assert C_FORM is not None


# -- good files: C builds the tables ----------------------------------------------------


@needs_c
def test_demo_opens_the_same_in_c(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened, returned = _both(demo, monkeypatch)
    assert returned is not None, "the C form refused a good core"
    segments = opened[0]
    assert segments == _elftools_segments(demo) and len(segments) > 10
    assert returned[1] == segments and any(b != bytes(4) for b in opened[-1])


def test_demo_segments_are_what_pyelftools_reads(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python form too (the only one under VMINTRO_PURE_PYTHON)."""
    opened, _ = _both(demo, monkeypatch)
    assert opened[0] == _elftools_segments(demo)


@pytest.mark.parametrize("elf_class", [32, 64])
def test_unusual_but_good_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elf_class: int
) -> None:
    """Headers out of physical order, PT_NULLs of garbage fields, a PT_LOAD of no
    memory (twice at one address), one of memory but no data, and one whose memory runs
    past its data (which reads as zeros)."""
    core = bytearray(
        craft_core(
            [
                (0x800000, b"\x11" * 0x2000, 0x5000),
                (0x400000, b"", 0),
                (0x3000, b"\x22" * 0x1000, 0x1000),
                (0x400000, b"", 0),
                (0x600000, b"", 0x1000),
                (0x1000, b"\x33" * 0x800, 0x1000),
                (0x4000, b"\x44" * 0x1000, 0x1000),  # adjacent to 0x3000-0x4000
                (0, b"", 0),
                (0, b"", 0),
            ]
        )
    )
    for index in (8, 9):
        _set(core, index, "p_type", PT_NULL)
        for field in ("p_offset", "p_filesz", "p_paddr"):
            _set(core, index, field, 0xFFFFFFFF)  # a PT_NULL's fields mean nothing
    if elf_class == 64:
        core = as_elf64(core)
    path = _write(tmp_path, core)
    opened, returned = _both(path, monkeypatch)
    segments = opened[0]
    assert [(p, n) for p, n, _ in segments] == [
        (0x1000, 0x800),
        (0x3000, 0x1000),
        (0x4000, 0x1000),
        (0x800000, 0x2000),
    ]
    assert segments == _elftools_segments(path)
    with CoreFile(path) as opened_core:
        assert opened_core.read_phys(0x801FFE, 4) == b"\x11\x11\0\0"
    if C_FORM is not None:
        note = (0, _get(core, 0, "p_offset"), _get(core, 0, "p_filesz"))
        assert returned is not None and returned[0] == [note]


@needs_c
@pytest.mark.parametrize("elf_class", [32, 64])
def test_the_most_program_headers_an_elf_file_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elf_class: int
) -> None:
    """e_phnum 0xFFFE (0xFFFF is PN_XNUM): a page stored at every 8th frame, the rest
    PT_NULL, in reverse physical order, every one checked in C."""
    phnum = 0xFFFE
    ram = "OSRELEASE=2.4.20\nPAGESIZE=4096\nE820(0)=usable 0x0-0x10000000\n"
    core = bytearray(craft_core(_pages(0x1000), ram))
    note_header = bytes(core[52:84])
    load_header = bytes(core[84:116])
    notes_and_data = core[116:]
    start = 52 + phnum * 32
    table = bytearray(note_header + load_header * (phnum - 1))
    core = bytearray(core[:52] + table + notes_and_data)
    struct.pack_into("<H", core, 44, phnum)
    _set(core, 0, "p_offset", start)
    data = start + len(notes_and_data) - 4096
    loads = 0
    for index in range(1, phnum):
        if index % 8:
            _set(core, index, "p_type", PT_NULL)
        else:
            _set(core, index, "p_offset", data)
            _set(core, index, "p_paddr", (phnum - index) << 12)
            loads += 1
    if elf_class == 64:
        core = as_elf64(core)
    assert _phnum(core) == phnum
    opened, returned = _both(_write(tmp_path, core), monkeypatch)
    assert returned is not None and len(opened[0]) == loads == phnum // 8
    assert opened[0][0] == (6 << 12, 4096, data) and opened[1] == sorted(opened[1])


# -- bad files: the Python forms refuse them with their message -------------------------


def _truncated(core: bytearray) -> bytearray:
    _set(core, 4, "p_filesz", len(core))
    return core


def _past_the_end(core: bytearray) -> bytearray:
    _set(core, 4, "p_offset", len(core) + 0x1000)
    return core


def _other_type_past_the_end(core: bytearray) -> bytearray:
    _set(core, 4, "p_type", PT_DYNAMIC)
    _set(core, 4, "p_filesz", len(core))
    return core


def _filesz_over_memsz(core: bytearray) -> bytearray:
    _set(core, 2, "p_memsz", 0xFFF)
    return core


def _overlap(core: bytearray) -> bytearray:
    _set(core, 3, "p_paddr", 0x3800)  # inside header 2's 0x3000-0x4000
    return core


def _zero_memsz_inside_another(core: bytearray) -> bytearray:
    """Allowed: a PT_LOAD of no memory overlaps nothing, wherever it is."""
    _set(core, 3, "p_filesz", 0)
    _set(core, 3, "p_memsz", 0)
    _set(core, 3, "p_paddr", 0x1800)
    return core


def _beyond_ram(core: bytearray) -> bytearray:
    _set(core, 4, "p_paddr", 16 * MiB - 0x800)
    return core


def _zero_memsz_beyond_ram(core: bytearray) -> bytearray:
    _set(core, 3, "p_filesz", 0)
    _set(core, 3, "p_memsz", 0)
    _set(core, 3, "p_paddr", 16 * MiB + 1)
    return core


def _bad_note_then_truncated(core: bytearray) -> bytearray:
    """A note error (header 0) comes before a later header's bounds error."""
    _set(core, 0, "p_filesz", 13)
    return _truncated(core)


def _overlap_and_no_vmcoreinfo(core: bytearray) -> bytearray:
    """The notes are read before PT_LOADs' overlaps are checked."""
    at = core.index(b"VMCOREINFO")
    core[at : at + 10] = b"VMCOREINFX"
    return _overlap(core)


def _note_past_the_end(core: bytearray) -> bytearray:
    _set(core, 0, "p_offset", len(core) - 8)
    return core


def _second_note_segment(core: bytearray) -> bytearray:
    """Two PT_NOTEs of one VMCOREINFO note each: read in header order, and refused."""
    _set(core, 4, "p_type", PT_NOTE)
    for field in ("p_offset", "p_filesz"):
        _set(core, 4, field, _get(core, 0, field))
    return core


def _no_loads(core: bytearray) -> bytearray:
    for index in range(1, _phnum(core)):
        _set(core, index, "p_type", PT_NULL)
    return core


BAD = {
    "truncated data": (_truncated, "truncated: program header 4 (PT_LOAD"),
    "offset past the end": (_past_the_end, "program header 4 (PT_LOAD, physical 0xfff000"),
    "other type past the end": (_other_type_past_the_end, "program header 4 (PT_DYNAMIC)"),
    "filesz over memsz": (_filesz_over_memsz, "p_filesz 0x1000 is larger than p_memsz 0xfff"),
    "overlap": (_overlap, "program headers 2 and 3 overlap in physical memory at 0x3800"),
    "beyond RAM": (_beyond_ram, "goes beyond the end of RAM (0x1000000)"),
    "zero memsz beyond RAM": (_zero_memsz_beyond_ram, "program header 3 (PT_LOAD, physical"),
    "note error first": (_bad_note_then_truncated, "malformed note 0 at"),
    "notes before overlaps": (_overlap_and_no_vmcoreinfo, "no VMCOREINFO note"),
    "note past the end": (_note_past_the_end, "program header 0 (PT_NOTE): data"),
    "two PT_NOTEs": (_second_note_segment, "2 VMCOREINFO notes, expected one"),
}
# The ones whose headers pass every check of the C form: their notes or the end of RAM
# (which the notes give) fail, in Python, after it built the tables.
AFTER_C = {"beyond RAM", "zero memsz beyond RAM", "two PT_NOTEs"}


@pytest.fixture(params=[32, 64], ids=["ELF32", "ELF64"])
def elf_class(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_headers_are_refused_with_the_python_forms_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, elf_class: int
) -> None:
    damage, words = BAD[kind]
    core = _sample()
    if elf_class == 64:
        core = as_elf64(core)
    opened, returned = _both(_write(tmp_path, damage(core)), monkeypatch)
    assert isinstance(opened, str) and opened.startswith("core.vmcore: "), opened
    assert words in opened
    if C_FORM is not None:
        assert (returned is not None) == (kind in AFTER_C), returned


@pytest.mark.parametrize("elf_class", [32, 64])
def test_good_edits_of_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elf_class: int
) -> None:
    """The sample, and a PT_LOAD of no memory inside another's and one with no loads."""
    for name, edit in [
        ("sample", lambda core: core),
        ("zero", _zero_memsz_inside_another),
        ("none", _no_loads),
    ]:
        core = edit(_sample())
        if elf_class == 64:
            core = as_elf64(core)
        opened, returned = _both(_write(tmp_path, core, f"{name}.vmcore"), monkeypatch)
        assert not isinstance(opened, str), opened
        assert C_FORM is None or returned is not None
        assert len(opened[0]) == {"sample": 4, "zero": 3, "none": 0}[name]


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("p_offset", (1 << 64) - 0x800, "data 0xfffffffffffff800-0x10000000000000800 goes"),
        ("p_paddr", (1 << 64) - 0x800, "goes beyond the end of RAM"),
        ("p_paddr", 1 << 63, "goes beyond the end of RAM"),
        ("p_memsz", (1 << 64) - 0x1000, "physical 0x3000-0x10000000000002000) goes beyond"),
    ],
)
def test_elf64_sums_past_64_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: int, words: str
) -> None:
    """An ELF64 offset + filesz or paddr + memsz past 2**64 (C's sums wrap; Python's don't)."""
    core = as_elf64(_sample())
    _set(core, 2, field, value)
    opened, returned = _both(_write(tmp_path, core), monkeypatch)
    assert isinstance(opened, str) and words in opened, opened
    assert returned is None


_VALUES = [0, 1, 0xFFF, 0x1000, 0xFFF000, 0x1000000, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 63]


@needs_c
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    elf_class=st.sampled_from([32, 64]),
    edits=st.lists(
        st.tuples(
            st.integers(0, 4),
            st.sampled_from(sorted(_FIELDS[32])),
            st.one_of(st.sampled_from(_VALUES), st.integers(0, 0x1002000)),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_damaged_headers_open_the_same_both_ways(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    elf_class: int,
    edits: list[tuple[int, str, int]],
) -> None:
    """Any fields of the sample's headers set to values at and around the bounds."""
    core = _sample()
    if elf_class == 64:
        core = as_elf64(core)
    for index, field, value in edits:
        fmt = _field(core, index, field)[0]
        _set(core, index, field, value & (0xFFFFFFFF if fmt == "<I" else (1 << 64) - 1))
    _both(_write(tmp_path, core), monkeypatch)


# -- the C function itself, called with what no CoreFile passes -------------------------


@pytest.fixture
def mapped(tmp_path: Path) -> Iterator[tuple[mmap.mmap, int, int]]:
    path = _write(tmp_path, _sample())
    with path.open("rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield m, 52, _phnum(m)
    finally:
        m.close()  # raises BufferError if the C form kept the buffer


@needs_c
@pytest.mark.parametrize(
    "phoff, phnum, elf_class, size_change",
    [
        (52, None, 32, 0),  # good
        (52, None, 32, 1),  # the file size is not the buffer's
        (52, None, 32, -1),
        (52, None, 16, 0),  # not an ELF class
        (52, 0, 32, 0),
        (52, 0x10000, 32, 0),  # more than e_phnum holds
        (1 << 40, None, 32, 0),
        (1 << 64, None, 32, 0),  # no 64-bit number
        (-52, None, 32, 0),
        (52, -1, 32, 0),
        (52, 1 << 70, 32, 0),
    ],
)
def test_arguments_out_of_bounds_give_none(
    mapped: tuple[mmap.mmap, int, int],
    phoff: int,
    phnum: int | None,
    elf_class: int,
    size_change: int,
) -> None:
    m, _, good_phnum = mapped
    if phnum is None:
        phnum = good_phnum
    got = C_FORM(m, phoff, phnum, elf_class, len(m) + size_change)
    good = (phoff, phnum, elf_class, size_change) == (52, good_phnum, 32, 0)
    assert (got is not None) == good
    assert gc.isenabled()  # the C form turns the collector off while it builds the tables


@needs_c
def test_the_buffer_is_released_and_a_table_past_the_end_is_not_read(
    mapped: tuple[mmap.mmap, int, int],
) -> None:
    m, phoff, phnum = mapped
    for n in range(1, 40):
        C_FORM(m, len(m) - n, 1, 32, len(m))
        C_FORM(m, len(m) - n, 1, 64, len(m))
    assert C_FORM(m[: phoff + phnum * 32 - 1], phoff, phnum, 32, phoff + phnum * 32 - 1) is None
    with pytest.raises(TypeError):
        C_FORM(m, "52", phnum, 32, len(m))
    with pytest.raises(TypeError):
        C_FORM("not bytes", phoff, phnum, 32, len(m))
    notes = C_FORM(m, phoff, phnum, 32, len(m))[0]
    assert notes == [(0, _get(m, 0, "p_offset"), _get(m, 0, "p_filesz"))]
