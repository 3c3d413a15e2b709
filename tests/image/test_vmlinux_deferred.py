"""Opening an image with its DWARF put off (the REPL's): ``.symtab`` read without
pyelftools, the DWARF parsed and checked against the core on first use, with the
answers and the errors of an image opened at once."""

from __future__ import annotations

import io
import random
import shutil
import struct
from pathlib import Path

import pytest
from hostile_files import DEMO

from vmintro.backends.image import ImageBackend, ImageError
from vmintro.image.reader.debuginfo import DebugInfoError, load_symbols
from vmintro.image.reader.symtab import quick_symbols
from vmintro.program import Program


def full_symbols(data: bytes) -> dict[str, tuple[int, int, str]]:
    """pyelftools' reading of the same bytes (the oracle)."""
    return {k: (s.address, s.size, s.kind) for k, s in load_symbols(io.BytesIO(data)).items()}


def test_the_quick_symtab_is_pyelftools_one() -> None:
    data = Path(f"{DEMO}.vmlinux").read_bytes()
    quick = quick_symbols(data)
    assert quick is not None and "vmlist" in quick
    assert quick == full_symbols(data)


def _symtab_end(data: bytes) -> int:
    """Where the header, the section table, .symtab and .strtab end (what the quick reader
    reads; the DWARF after them is not)."""
    shoff, shnum = struct.unpack_from("<I", data, 32)[0], struct.unpack_from("<H", data, 48)[0]
    ends = [shoff + shnum * 40]
    for i in range(shnum):
        _n, kind, _f, _a, offset, size = struct.unpack_from("<IIIIII", data, shoff + i * 40)
        if kind in (2, 3):  # SHT_SYMTAB, SHT_STRTAB
            ends.append(offset + size)
    return max(ends)


def test_a_damaged_vmlinux_reads_the_same_or_goes_to_pyelftools() -> None:
    """Whatever a byte of the header, the sections, .symtab or .strtab becomes, the quick
    reader gives pyelftools' symbols, or None (and pyelftools then says what is wrong)."""
    data = Path(f"{DEMO}.vmlinux").read_bytes()
    rng = random.Random(20)
    end = _symtab_end(data)
    fell_back = 0
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.choice((1, 1, 2))):
            damaged[rng.randrange(end)] = rng.randrange(256)
        quick = quick_symbols(bytes(damaged))
        if quick is None:
            fell_back += 1
            continue
        assert quick == full_symbols(bytes(damaged))
    assert 0 < fell_back < 150


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: b"garbage",
        lambda d: d[:40],
        lambda d: d[:18] + b"\x3e\x00" + d[20:],  # EM_X86_64
    ],
    ids=["not ELF", "truncated", "not i386"],
)
def test_what_the_quick_reader_refuses_pyelftools_refuses(damage) -> None:
    data = damage(Path(f"{DEMO}.vmlinux").read_bytes())
    assert quick_symbols(data) is None
    with pytest.raises(DebugInfoError):
        full_symbols(data)


def _other_layout(tmp_path: Path) -> Path:
    """The demo with a core that says vm_struct is 24 bytes (its DWARF says 16)."""
    core = Path(f"{DEMO}.vmcore").read_bytes()
    assert core.count(b"SIZE(vm_struct)=16") == 1
    (tmp_path / "x.vmcore").write_bytes(core.replace(b"SIZE(vm_struct)=16", b"SIZE(vm_struct)=24"))
    shutil.copy(f"{DEMO}.vmlinux", tmp_path / "x.vmlinux")
    return tmp_path / "x"


def test_a_vmlinux_of_another_layout_is_refused_on_first_use_as_at_once(tmp_path: Path) -> None:
    base = _other_layout(tmp_path)
    with pytest.raises(ImageError) as at_once:
        ImageBackend(base)
    backend = ImageBackend(base, defer_types=True)
    prog = Program(backend)
    assert not backend.types_loaded()
    for _ in range(2):  # and again: the error stays
        with pytest.raises(ImageError) as later:
            prog.type("struct vm_struct")
        assert str(later.value) == str(at_once.value)
    assert "does not belong to x.vmcore: sizeof(struct vm_struct)" in str(later.value)


def test_a_deferred_image_reads_as_one_opened_at_once() -> None:
    eager = Program(ImageBackend(DEMO))
    backend = ImageBackend(DEMO, defer_types=True)
    prog = Program(backend)
    # the layout (high_memory read at its .symtab address) before any DWARF is read
    assert (prog.high_memory, prog.vmalloc_start, prog.vmalloc_end) == (
        eager.high_memory,
        eager.vmalloc_start,
        eager.vmalloc_end,
    )
    assert [str(s) for s in prog.symbols()] == [str(s) for s in eager.symbols()]
    assert not backend.types_loaded()
    assert prog["vmlist"].value_() == eager["vmlist"].value_()
    assert backend.types_loaded()
    assert sorted(prog.types()) == sorted(eager.types())
    assert prog.type("struct vm_struct").size == eager.type("struct vm_struct").size


def test_a_vmlinux_too_big_to_hold_is_read_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Putting the DWARF off holds the file's bytes until it is read: a file above the
    bound is read at open, from the file, as without ``defer_types``."""
    import vmintro.backends.vmlinux as vmlinux

    size = Path(f"{DEMO}.vmlinux").stat().st_size
    monkeypatch.setattr(vmlinux, "DEFERRED_VMLINUX_BYTES", size)
    assert not ImageBackend(DEMO, defer_types=True).types_loaded()
    monkeypatch.setattr(vmlinux, "DEFERRED_VMLINUX_BYTES", size - 1)
    assert ImageBackend(DEMO, defer_types=True).types_loaded()


def _with_section_copy(data: bytes, name: str) -> bytes:
    """``data`` with one more section header: a copy of section ``name``'s, half its size
    (the table moved to the end of the file)."""
    shoff, shnum = struct.unpack_from("<I", data, 32)[0], struct.unpack_from("<H", data, 48)[0]
    shstrndx = struct.unpack_from("<H", data, 50)[0]
    table = [data[shoff + i * 40 : shoff + (i + 1) * 40] for i in range(shnum)]
    names_at = struct.unpack_from("<I", table[shstrndx], 16)[0]

    def name_of(header: bytes) -> bytes:
        start = names_at + struct.unpack_from("<I", header, 0)[0]
        return data[start : data.index(b"\0", start)]

    (copy,) = [bytearray(h) for h in table if name_of(h) == name.encode()]
    struct.pack_into("<I", copy, 20, struct.unpack_from("<I", copy, 20)[0] // 32 * 16)
    out = bytearray(data) + b"".join(table) + bytes(copy)
    struct.pack_into("<I", out, 32, len(data))
    struct.pack_into("<H", out, 48, shnum + 1)
    return bytes(out)


def test_two_symtabs_go_to_pyelftools() -> None:
    """pyelftools takes the last section of a name: the quick reader, which would take
    one of them, leaves such a file to it, so the REPL and ``-c`` read the same symbols."""
    original = Path(f"{DEMO}.vmlinux").read_bytes()
    data = _with_section_copy(original, ".symtab")
    assert quick_symbols(data) is None
    # pyelftools reads the copy (half the symbols), not the first .symtab
    assert len(full_symbols(data)) < len(full_symbols(original))


def test_more_sections_than_a_kernel_has_are_refused_at_once() -> None:
    """Each section's name is looked up in the name table: a table of 60,000 sections named
    in 16 MiB without a NUL took hours before it was refused by its count."""
    from vmintro.image.format.elf import MAX_VMLINUX_SECTIONS

    data = bytearray(Path(f"{DEMO}.vmlinux").read_bytes())
    count = MAX_VMLINUX_SECTIONS + 1
    struct.pack_into("<I", data, 32, len(data))
    struct.pack_into("<H", data, 48, count)
    struct.pack_into("<H", data, 50, 1)
    data += bytes(40 * count)
    assert quick_symbols(bytes(data)) is None
    with pytest.raises(DebugInfoError, match=f"{count} sections, more than a kernel has"):
        full_symbols(bytes(data))
