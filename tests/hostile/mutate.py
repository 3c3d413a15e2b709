"""Seeded mutations of the bundled images: each one derived from (seed, index) alone.

:func:`mutation` draws, from a generator seeded with ``seed`` and ``index`` only, a
base image, a kind and the change itself, so ``mutation(seed, index)`` is the same
image on every machine and every run; a failure names the two numbers and
``python3 -m tests.hostile.reproduce SEED INDEX`` writes that image back.

The kinds: blind ones (bit flips, byte runs, truncation), ELF-aware ones (ELF header,
program and section headers, symbols, note headers), note-aware ones (VMCOREINFO
lines, the VMINTRO note's JSON), DWARF-aware ones (attribute values, with the
section re-laid out when a value changes length; the abbreviations and the
strings), kernel-aware ones (a field of a vm_struct, struct page, zone, pgdat,
swap_info, module or page-table entry, found through the vmlinux's symbols and
types; a zone's or module's name; a vmlist of forged areas), and the kind of file
itself (a FIFO, a directory, a missing vmlinux, ...).
"""

from __future__ import annotations

import json
import os
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .bases import BaseImage, DwarfAttr, Field, base_images, struct_type
from .elf64 import as_elf64

__all__ = ["KINDS", "Mutation", "mutation"]

# What a mutator returns: its description, the core and the vmlinux (bytes, or a FILE_KINDS).
Result = tuple[str, bytes | str, bytes | str]

FILE_KINDS = ("fifo", "directory", "devzero", "empty", "missing", "symlink_loop", "dangling")

# Text meant for a terminal, an SVG and a browser: escape sequences (OSC retitles, CSI
# clears), C1 controls, bytes that are not UTF-8, markup, a NUL-less run.
HOSTILE_TEXT = (
    b"\x1b]0;retitled\x07",
    b"\x1b[2J\x1b[H",
    b"\x1b[31mred\x1b[0m",
    b"\x9b2J",
    b"\xc2\x9b2J",
    b"\xff\xfe\xfd",
    b"\x00\x01\x02\x7f",
    b"<svg onload='x'>&amp;\"",
    b"\x08\x08\x08\r\x0b\x0c",
    b"A" * 255,
)


@dataclass
class Mutation:
    """One mutated image: the two files' contents, or a special kind of file."""

    seed: int
    index: int
    base: BaseImage
    kind: str
    description: str
    core: bytes | str  # bytes, or one of FILE_KINDS
    vmlinux: bytes | str

    @property
    def name(self) -> str:
        return f"{self.base.name}-s{self.seed}-i{self.index}"

    @property
    def label(self) -> str:
        where = f"seed {self.seed} index {self.index}: {self.base.name}"
        return f"{where}: {self.kind}: {self.description}"

    def write(self, directory: Path) -> Path:
        """Write ``NAME.vmcore`` and ``NAME.vmlinux`` into ``directory``; the image's stem."""
        stem = directory / self.name
        _write(Path(f"{stem}.vmcore"), self.core)
        _write(Path(f"{stem}.vmlinux"), self.vmlinux)
        return stem


def _write(path: Path, content: bytes | str) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "fifo":
        os.mkfifo(path)
    elif content == "directory":
        path.mkdir()
    elif content == "devzero":
        path.symlink_to("/dev/zero")
    elif content == "empty":
        path.write_bytes(b"")
    elif content == "symlink_loop":
        path.symlink_to(path.name)
    elif content == "dangling":
        path.symlink_to(f"{path.name}.nowhere")
    elif content != "missing":
        raise ValueError(content)


# -- values --------------------------------------------------------------------------------


def _interesting(rng: random.Random, size: int, value: int) -> int:
    """A value of ``size`` bytes that tends to break whoever trusts it."""
    top = (1 << (8 * size)) - 1
    choices = [
        0,
        1,
        top,
        top >> 1,
        (top >> 1) + 1,
        value ^ (1 << rng.randrange(8 * size)),
        (value + rng.choice((1, -1, 2, -2, 0x1000, -0x1000))) & top,
        (value * rng.choice((2, 16, 0x1000))) & top,
        value >> rng.randrange(1, 8 * size),
        rng.getrandbits(8 * size),
    ]
    if size >= 4:
        choices += [0xFFFFF000, 0xDEADBEEF, 0xC0000000, 0x08048000, 0x7FFFF000, 0xFFFFFFF0]
    return rng.choice(choices) & top


def _pointer(rng: random.Random, f: Field, candidates: list[Field]) -> int:
    """A pointer that makes a cycle, leaves the kernel, or lands in the wrong object (one
    of ``candidates``: of its own kind, or of any)."""
    other = rng.choice(candidates)
    return (
        rng.choice(
            (
                f.vaddr,  # points at itself
                f.owner,  # at its own structure: a one-element cycle
                other.owner,  # at another structure of the group: a longer cycle, or overlap
                other.vaddr,
                f.value + 1,  # misaligned
                0xF0000000,  # vmalloc range, unmapped
                0xC0000000 + 0x3FFFFFF0,  # past lowmem
                0xFFFFFFFF,
                0xDEADBEEF,
                0,
                0x00001000,  # user space
            )
        )
        & 0xFFFFFFFF
    )


def _put(data: bytearray, offset: int, size: int, value: int) -> None:
    data[offset : offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def _pick_file(rng: random.Random, base: BaseImage) -> tuple[str, bytearray]:
    if rng.random() < 0.6:
        return "core", bytearray(base.core)
    return "vmlinux", bytearray(base.vmlinux)


def _result(base: BaseImage, which: str, data: bytes | bytearray | str, description: str) -> Result:
    """The mutation's description and both files, ``which`` of them replaced by ``data``."""
    new = bytes(data) if isinstance(data, bytearray) else data
    if which == "core":
        return description, new, base.vmlinux
    return description, base.core, new


def _region(rng: random.Random, base: BaseImage, which: str, length: int) -> int:
    """An offset: half the time among the headers and notes, where every byte matters."""
    size = length
    if which == "core" and rng.random() < 0.5:
        size = min(s[1] for s in base.segments)
    return rng.randrange(max(size, 1))


# -- blind mutations -----------------------------------------------------------------------


def bitflip(rng: random.Random, base: BaseImage) -> Result:
    which, data = _pick_file(rng, base)
    flips = []
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        offset, bit = _region(rng, base, which, len(data)), rng.randrange(8)
        data[offset] ^= 1 << bit
        flips.append(f"{offset:#x}.{bit}")
    return _result(base, which, data, f"{which}: bits flipped at {', '.join(flips)}")


def byterun(rng: random.Random, base: BaseImage) -> Result:
    which, data = _pick_file(rng, base)
    offset = _region(rng, base, which, len(data))
    length = min(rng.choice((1, 2, 4, 8, 16, 64, 256, 4096)), len(data) - offset)
    fill = rng.choice(("00", "ff", "random"))
    if fill == "random":
        run = bytes(rng.getrandbits(8) for _ in range(length))
    else:
        run = bytes.fromhex(fill) * length
    data[offset : offset + length] = run
    return _result(base, which, data, f"{which}: {length} bytes of {fill} at {offset:#x}")


def truncate(rng: random.Random, base: BaseImage) -> Result:
    which, data = _pick_file(rng, base)
    at = _region(rng, base, which, len(data))
    return _result(base, which, data[:at], f"{which}: cut at {at:#x} of {len(data):#x} bytes")


def file_kind(rng: random.Random, base: BaseImage) -> Result:
    which = rng.choice(("core", "vmlinux"))
    kind = rng.choice(FILE_KINDS)
    return _result(base, which, kind, f"{which}: replaced by {kind}")


# -- ELF-aware mutations -------------------------------------------------------------------

_EHDR_FIELDS = (  # name, offset, size
    ("EI_CLASS", 4, 1),
    ("EI_DATA", 5, 1),
    ("EI_VERSION", 6, 1),
    ("e_type", 16, 2),
    ("e_machine", 18, 2),
    ("e_version", 20, 4),
    ("e_phoff", 28, 4),
    ("e_shoff", 32, 4),
    ("e_ehsize", 40, 2),
    ("e_phentsize", 42, 2),
    ("e_phnum", 44, 2),
    ("e_shentsize", 46, 2),
    ("e_shnum", 48, 2),
    ("e_shstrndx", 50, 2),
)
_PHDR_FIELDS = (
    ("p_type", 0),
    ("p_offset", 4),
    ("p_vaddr", 8),
    ("p_paddr", 12),
    ("p_filesz", 16),
    ("p_memsz", 20),
    ("p_flags", 24),
    ("p_align", 28),
)
_SHDR_FIELDS = (
    ("sh_name", 0),
    ("sh_type", 4),
    ("sh_flags", 8),
    ("sh_offset", 16),
    ("sh_size", 20),
    ("sh_link", 24),
    ("sh_info", 28),
    ("sh_addralign", 32),
    ("sh_entsize", 36),
)
_SYM_FIELDS = (("st_name", 0, 4), ("st_value", 4, 4), ("st_size", 8, 4), ("st_info", 12, 1))


def _file_relative(rng: random.Random, size: int, value: int, length: int) -> int:
    """A value near the file's end half the time: just past it, just inside it."""
    if rng.random() < 0.5:
        return _interesting(rng, size, value)
    return rng.choice((length, length - 1, length + 1, length + 0x1000, length // 2))


def elf_header(rng: random.Random, base: BaseImage) -> Result:
    which, data = _pick_file(rng, base)
    name, offset, size = rng.choice(_EHDR_FIELDS)
    old = int.from_bytes(data[offset : offset + size], "little")
    new = _file_relative(rng, size, old, len(data))
    _put(data, offset, size, new)
    return _result(
        base, which, data, f"{which}: {name} {old:#x} -> {new & ((1 << 8 * size) - 1):#x}"
    )


def program_header(rng: random.Random, base: BaseImage) -> Result:
    data = bytearray(base.core)
    phoff, phnum = struct.unpack_from("<I", data, 28)[0], struct.unpack_from("<H", data, 44)[0]
    i = rng.randrange(phnum)
    name, field_offset = rng.choice(_PHDR_FIELDS)
    offset = phoff + 32 * i + field_offset
    old = struct.unpack_from("<I", data, offset)[0]
    if name in ("p_offset", "p_paddr", "p_vaddr") and rng.random() < 0.3:
        other = phoff + 32 * rng.randrange(phnum) + field_offset  # two segments over one
        new = struct.unpack_from("<I", data, other)[0]
    else:
        new = _file_relative(rng, 4, old, len(data))
    _put(data, offset, 4, new)
    return _result(base, "core", data, f"core: phdr[{i}].{name} {old:#x} -> {new:#x}")


# An ELF64 core (a PAE machine with frames above 4 GiB): name, offset, size
_EHDR64_FIELDS = (
    ("EI_CLASS", 4, 1),
    ("e_phoff", 32, 8),
    ("e_shoff", 40, 8),
    ("e_ehsize", 52, 2),
    ("e_phentsize", 54, 2),
    ("e_phnum", 56, 2),
    ("e_shnum", 60, 2),
)
_PHDR64_FIELDS = (
    ("p_type", 0, 4),
    ("p_offset", 8, 8),
    ("p_vaddr", 16, 8),
    ("p_paddr", 24, 8),
    ("p_filesz", 32, 8),
    ("p_memsz", 40, 8),
)


def elf64_core(rng: random.Random, base: BaseImage) -> Result:
    """The core re-encoded as ELF64 (program headers at the end of the file), then a
    field of its ELF header or of one program header made 64-bit hostile: past 4 GiB,
    past 2**63, the file's end, another segment's value. One time in eight the
    re-encoded core is left whole, which must read as the base image does."""
    data = as_elf64(base.core)
    if rng.random() < 0.125:
        return _result(base, "core", data, "core: re-encoded as ELF64, otherwise whole")
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
    i = rng.randrange(phnum)
    if rng.random() < 0.3:
        name, offset, size = rng.choice(_EHDR64_FIELDS)
        where = name
    else:
        name, field_offset, size = rng.choice(_PHDR64_FIELDS)
        offset, where = phoff + 56 * i + field_offset, f"phdr[{i}].{name}"
    old = int.from_bytes(data[offset : offset + size], "little")
    if size == 8 and rng.random() < 0.5:
        other = phoff + 56 * rng.randrange(phnum) + (offset - phoff) % 56
        new = rng.choice(
            (
                old + (1 << 32),  # the same place, above 4 GiB
                old | (1 << 63),
                (1 << 64) - 1,
                (1 << 64) - old,  # an end that wraps past 2**64
                int.from_bytes(data[other : other + 8], "little"),  # two over one
            )
        )
    else:
        new = _file_relative(rng, size, old, len(data))
    _put(data, offset, size, new)
    top = (1 << (8 * size)) - 1
    return _result(base, "core", data, f"core (ELF64): {where} {old:#x} -> {new & top:#x}")


def section_header(rng: random.Random, base: BaseImage) -> Result:
    data = bytearray(base.vmlinux)
    section = rng.choice(sorted(base.sections))
    name, field_offset = rng.choice(_SHDR_FIELDS)
    offset = base.sections[section][0] + field_offset
    old = struct.unpack_from("<I", data, offset)[0]
    new = _file_relative(rng, 4, old, len(data))
    _put(data, offset, 4, new)
    return _result(
        base, "vmlinux", data, f"vmlinux: {section or '(null)'} {name} {old:#x} -> {new:#x}"
    )


def symtab(rng: random.Random, base: BaseImage) -> Result:
    data = bytearray(base.vmlinux)
    sym, entry = rng.choice(base.symtab_entries)
    name, field_offset, size = rng.choice(_SYM_FIELDS)
    old = int.from_bytes(data[entry + field_offset : entry + field_offset + size], "little")
    new = _interesting(rng, size, old)
    _put(data, entry + field_offset, size, new)
    return _result(
        base, "vmlinux", data, f"vmlinux: symbol {sym or '(null)'} {name} {old:#x} -> {new:#x}"
    )


def note_header(rng: random.Random, base: BaseImage) -> Result:
    data = bytearray(base.core)
    note = rng.choice(base.note_segment[1])
    name, field_offset = rng.choice((("n_namesz", 0), ("n_descsz", 4), ("n_type", 8)))
    old = struct.unpack_from("<I", data, note.header_offset + field_offset)[0]
    new = _interesting(rng, 4, old)
    _put(data, note.header_offset + field_offset, 4, new)
    return _result(
        base, "core", data, f"core: note {note.name.decode()} {name} {old:#x} -> {new:#x}"
    )


# -- notes, rewritten whole ----------------------------------------------------------------


def _with_notes(base: BaseImage, notes: list[tuple[bytes, int, bytes]]) -> bytes:
    """The core with its PT_NOTE replaced by ``notes``, appended at the end of the file."""
    data = bytearray(base.core)
    data += bytes(-len(data) % 4)
    start = len(data)
    for name, ntype, desc in notes:
        name_z = name + b"\0"
        data += struct.pack("<III", len(name_z), len(desc), ntype)
        data += name_z + bytes(-len(name_z) % 4)
        data += desc + bytes(-len(desc) % 4)
    index = base.note_segment[0]
    phoff = struct.unpack_from("<I", data, 28)[0]
    header = phoff + 32 * index
    struct.pack_into("<II", data, header + 4, start, 0)  # p_offset, p_vaddr
    struct.pack_into("<II", data, header + 16, len(data) - start, len(data) - start)
    return bytes(data)


def _notes(base: BaseImage) -> list[tuple[bytes, int, bytes]]:
    return [(n.name, n.type, n.desc) for n in base.note_segment[1]]


_NUMBER_GARBAGE = (
    "0",
    "-1",
    "-4096",
    "1" + "0" * 5000,  # more digits than int() converts
    "f" * 5000,
    "ffffffffffffffff",
    "100000000",
    "0x",
    "0xzz",
    "zz",
    "",
    " 12 ",
    "1_000",
    "+5",
    "\u0663",  # a non-ASCII digit int() accepts
    "1e3",
    "0b101",
    "nan",
)


def _vmcoreinfo_line(rng: random.Random, lines: list[str]) -> tuple[str, list[str]]:
    """One change to the KEY=value lines; its description and the new lines."""
    i = rng.randrange(len(lines))
    key, _, value = lines[i].partition("=")
    op = rng.choice(
        ("number", "number", "number", "drop", "duplicate", "config", "garbage", "e820", "text")
    )
    out = list(lines)
    if op == "number":
        new = rng.choice(_NUMBER_GARBAGE)
        if key.startswith("E820("):
            kind, _, span = value.partition(" ")
            start, _, end = span.partition("-")
            new = f"{kind} {start}-{new}" if rng.random() < 0.5 else f"{kind} {new}-{end}"
        out[i] = f"{key}={new}"
        return f"{key}: {value!r} -> {new[:40]!r}{'...' if len(new) > 40 else ''}", out
    if op == "drop":
        del out[i]
        return f"line {lines[i]!r} dropped", out
    if op == "duplicate":
        other = rng.choice(_NUMBER_GARBAGE[:8])
        out.insert(rng.choice((i, i + 1)), f"{key}={other[:64]}")
        return f"{key} given twice ({value!r} and {other[:20]!r})", out
    if op == "config":
        new = rng.choice(
            ("CONFIG_X86_PAE=y", "CONFIG_HIGHMEM=y", "PAGESIZE=8192", "OSRELEASE=2.6.32")
        )
        out.append(new)
        return f"{new} added", out
    if op == "garbage":
        new = rng.choice(
            ("no equals sign", "=", "KEY=", "SYMBOL(=c0100000", "X" * 100000, "\udcff")
        )
        out.insert(i, new)
        return f"line {new[:30]!r} inserted", out
    if op == "e820":
        new = rng.choice(
            (
                "E820(9)=usable 0x0-0x" + "f" * 5000,
                "E820(4)=usable 0x0-0x10000000000000000",
                "E820(4)=usable 0x4000000-0x100000",
                "E820(4)=usable 0x0-0x4000000",
                "E820(99999999999)=usable 0x0-0x1000",
                "E820(4)=weird 0x100000-0x200000",
            )
        )
        out.append(new)
        if rng.random() < 0.5:
            out += [f"E820({k})=usable {k << 24:#x}-{(k + 1) << 24:#x}" for k in range(5, 3000)]
            new += " and 2995 more entries"
        return f"{new[:60]!r} added", out
    new = value + rng.choice(HOSTILE_TEXT[:5]).decode("latin-1")
    out[i] = f"{key}={new}"
    return f"{key}: control text appended", out


def vmcoreinfo(rng: random.Random, base: BaseImage) -> Result:
    notes = _notes(base)
    k = next(i for i, n in enumerate(notes) if n[0] == b"VMCOREINFO")
    name, ntype, desc = notes[k]
    lines = desc.decode().splitlines()
    descriptions = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        what, lines = _vmcoreinfo_line(rng, lines)
        descriptions.append(what)
    text = "\n".join(lines) + "\n"
    notes[k] = (name, ntype, text.encode("utf-8", "surrogateescape"))
    return _result(base, "core", _with_notes(base, notes), "VMCOREINFO: " + "; ".join(descriptions))


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def vmintro_note(rng: random.Random, base: BaseImage) -> Result:
    notes = _notes(base)
    k = next(i for i, n in enumerate(notes) if n[0] == b"VMINTRO")
    name, ntype, desc = notes[k]
    doc = json.loads(desc)
    op = rng.choice(("deep", "type", "number", "syntax", "drop", "text", "remove", "twice"))
    key = rng.choice(sorted(doc))
    if op == "deep":
        depth = rng.choice((1000, 100000))
        text = _deep(depth, rng.choice(("list", "dict")))
        if rng.random() < 0.5:
            text = json.dumps(doc)[:-1] + f',"nested":{text}}}'
        what = f"nested {depth} deep"
    elif op == "type":
        doc[key] = rng.choice(([], {}, None, "x", True, 1.5, [1, 2]))
        text, what = json.dumps(doc), f"{key} -> {doc[key]!r}"
    elif op == "number":
        new = rng.choice(("-1", "1e308", "1" + "0" * 5000, "NaN", "Infinity", str(1 << 64)))
        text = json.dumps({**doc, key: 0}).replace(f'"{key}": 0', f'"{key}": {new}')
        what = f"{key} -> {new[:20]}"
    elif op == "syntax":
        cut = rng.randrange(len(desc))
        text, what = desc[:cut].decode() + rng.choice(("", "}", "\x00", "\\u")), f"cut at {cut}"
    elif op == "drop":
        del doc[key]
        text, what = json.dumps(doc), f"{key} dropped"
    elif op == "text":
        doc[key] = rng.choice(HOSTILE_TEXT).decode("latin-1")
        text, what = json.dumps(doc, ensure_ascii=rng.random() < 0.5), f"{key} -> control text"
    elif op == "remove":
        del notes[k]
        return _result(base, "core", _with_notes(base, notes), "VMINTRO note removed")
    else:
        notes.insert(k, (name, ntype, b'{"version": "9.9"}'))
        return _result(base, "core", _with_notes(base, notes), "two VMINTRO notes")
    notes[k] = (name, ntype, text.encode("utf-8", "surrogatepass"))
    return _result(base, "core", _with_notes(base, notes), f"VMINTRO note: {what}")


# -- DWARF ---------------------------------------------------------------------------------


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _splice_vmlinux(base: BaseImage, edits: list[tuple[int, int, bytes]]) -> bytes:
    """The vmlinux with each (file offset, old length, new bytes) applied, laid out again.

    A value of another length moves every later byte: the compilation units'
    lengths, every ``DW_FORM_ref4`` pointing past the change, the later sections'
    offsets and the section header table follow, so the file stays well-formed
    except for what the mutation meant.
    """
    old = base.vmlinux
    data = bytearray(old)
    for offset, length, new in sorted(edits, reverse=True):  # from the end: offsets hold
        data[offset : offset + length] = new
    shifts = [(offset + length, len(new) - length) for offset, length, new in edits]
    if not any(delta for _, delta in shifts):
        return bytes(data)

    def moved(position: int) -> int:
        """Where the byte at ``position`` of the original file is now."""
        return position + sum(delta for end, delta in shifts if end <= position)

    edited = {offset for offset, _, _ in edits}
    attrs, units = base.dwarf
    for ref in attrs:
        if ref.form != "DW_FORM_ref4" or ref.offset in edited:
            continue
        unit = max(u for u in units if u <= ref.offset)
        target = unit + struct.unpack_from("<I", old, ref.offset)[0]
        struct.pack_into("<I", data, moved(ref.offset), moved(target) - moved(unit))
    for unit in units:
        if unit in edited:
            continue
        end = unit + 4 + struct.unpack_from("<I", old, unit)[0]
        struct.pack_into("<I", data, moved(unit), moved(end) - moved(unit) - 4)
    for header, sh_offset, sh_size in base.sections.values():
        if struct.unpack_from("<I", old, header + 4)[0] in (0, 8):  # SHT_NULL, SHT_NOBITS
            continue
        start, end = moved(sh_offset), moved(sh_offset + sh_size)
        struct.pack_into("<II", data, moved(header) + 16, start, end - start)
    struct.pack_into("<I", data, 32, moved(struct.unpack_from("<I", old, 32)[0]))
    return bytes(data)


_DWARF_TARGETS = (
    "DW_AT_type",
    "DW_AT_type",
    "DW_AT_byte_size",
    "DW_AT_data_member_location",
    "DW_AT_upper_bound",
    "DW_AT_name",
    "DW_AT_location",
    "DW_AT_encoding",
    "DW_AT_bit_size",
    "DW_AT_data_bit_offset",
)


def _dwarf_value(rng: random.Random, base: BaseImage, a: DwarfAttr) -> tuple[bytes, str]:
    """New bytes for attribute ``a`` and what they mean."""
    attrs, units = base.dwarf
    info_start = base.sections[".debug_info"][1]
    unit = max(u for u in units if u <= a.offset) - info_start
    if a.form == "DW_FORM_udata":
        new = rng.choice(
            (0, 1, max(a.raw - 1, 0), a.raw + 1, a.raw * 4096, 1 << 31, (1 << 32) - 1, 1 << 32,
             (1 << 64) - 1, 10**30)
        )  # fmt: skip
        return _uleb(new), f"{new:#x}"
    if a.form == "DW_FORM_ref4":
        dies = sorted({x.die for x in attrs})
        unit_length = struct.unpack_from("<I", base.vmlinux, info_start + unit)[0]
        choices = {
            "itself": a.die - unit,
            "0": 0,
            "past the unit": unit_length + 16,
            "0xffffffff": 0xFFFFFFFF,
            "mid-DIE": a.die - unit + 1,
            "another DIE": rng.choice(dies) - unit,
        }
        if a.parent is not None:
            choices["its parent"] = a.parent - unit  # a struct containing itself by value
        what = rng.choice(sorted(choices))
        return struct.pack("<I", choices[what] & 0xFFFFFFFF), f"{what} ({choices[what]:#x})"
    if a.form == "DW_FORM_strp":
        size = base.sections[".debug_str"][2]
        names = [x.raw for x in attrs if x.form == "DW_FORM_strp"]
        new = rng.choice((0, size - 1, size, size + 100, 0xFFFFFFFF, a.raw + 1, rng.choice(names)))
        return struct.pack("<I", new), f"string at {new:#x}"
    if a.form == "DW_FORM_exprloc":
        expr = bytearray(base.vmlinux[a.offset : a.offset + a.length])
        if rng.random() < 0.7 and len(expr) >= 6:
            address = _interesting(rng, 4, int.from_bytes(expr[2:6], "little"))
            expr[2:6] = address.to_bytes(4, "little")
            return bytes(expr), f"DW_OP_addr {address:#x}"
        position = rng.randrange(len(expr))
        expr[position] = rng.choice((0, 0xFF, rng.getrandbits(8)))
        return bytes(expr), f"expression byte {position} -> {expr[position]:#x}"
    old = int.from_bytes(base.vmlinux[a.offset : a.offset + a.length], "little")
    new = _interesting(rng, a.length, old)
    return new.to_bytes(a.length, "little"), f"{new:#x}"


def dwarf(rng: random.Random, base: BaseImage) -> Result:
    attrs, units = base.dwarf
    op = rng.choice(("attribute", "attribute", "attribute", "attribute", "typedef cycle", "unit"))
    if op == "attribute":
        name = rng.choice(_DWARF_TARGETS)
        a = rng.choice([x for x in attrs if x.name == name])
        new, what = _dwarf_value(rng, base, a)
        data = _splice_vmlinux(base, [(a.offset, a.length, new)])
        tag = (a.tag or "?").removeprefix("DW_TAG_")
        return _result(base, "vmlinux", data, f"vmlinux: DIE {a.die:#x} {tag} {name} -> {what}")
    if op == "typedef cycle":
        typedefs = [x for x in attrs if x.tag == "DW_TAG_typedef" and x.name == "DW_AT_type"]
        first, second = rng.choice(typedefs), rng.choice(typedefs)
        unit = units[0] - base.sections[".debug_info"][1]
        edits = [
            (first.offset, 4, struct.pack("<I", second.die - unit)),
            (second.offset, 4, struct.pack("<I", first.die - unit)),
        ]
        data = _splice_vmlinux(base, edits if first is not second else edits[:1])
        return _result(
            base,
            "vmlinux",
            data,
            f"vmlinux: typedefs {first.die:#x} and {second.die:#x} name each other",
        )
    unit = rng.choice(units)
    name, at, size = rng.choice(
        (
            ("unit_length", 0, 4),
            ("version", 4, 2),
            ("debug_abbrev_offset", 6, 4),
            ("address_size", 10, 1),
        )
    )
    header = bytearray(base.vmlinux)
    old = int.from_bytes(header[unit + at : unit + at + size], "little")
    value = _interesting(rng, size, old)
    _put(header, unit + at, size, value)
    return _result(base, "vmlinux", header, f"vmlinux: unit header {name} {old:#x} -> {value:#x}")


def dwarf_sections(rng: random.Random, base: BaseImage) -> Result:
    """Blind changes confined to one DWARF section; names in .debug_str made hostile."""
    data = bytearray(base.vmlinux)
    section = rng.choice((".debug_abbrev", ".debug_str", ".debug_str", ".debug_info"))
    _, start, size = base.sections[section]
    if section == ".debug_str" and rng.random() < 0.7:
        attrs, _ = base.dwarf
        a = rng.choice([x for x in attrs if x.form == "DW_FORM_strp"])
        text = rng.choice(HOSTILE_TEXT)[: size - a.raw - 1]
        data[start + a.raw : start + a.raw + len(text)] = text
        return _result(base, "vmlinux", data, f"vmlinux: name {a.value!r} -> {text[:24]!r}")
    offset = start + rng.randrange(size)
    length = min(rng.choice((1, 1, 2, 4, 16)), start + size - offset)
    fill = bytes(rng.getrandbits(8) for _ in range(length))
    data[offset : offset + length] = fill
    return _result(base, "vmlinux", data, f"vmlinux: {section} bytes {fill.hex()} at {offset:#x}")


# -- kernel memory -------------------------------------------------------------------------

_GROUP_WEIGHTS = {
    "vmlist": 5,
    "mm": 3,
    "pgdat": 4,
    "pagetables": 3,
    "pages": 2,
    "swap": 2,
    "modules": 2,
    "kernel": 1,
}


def _field_value(rng: random.Random, f: Field, base: BaseImage, group: list[Field]) -> int:
    if f.pointer and rng.random() < 0.6:
        if rng.random() < 0.3:  # at a structure of another type: a zone for a vm_struct
            group = rng.choice(list(base.fields.values()))
        return _pointer(rng, f, group)
    return _interesting(rng, f.size, f.value)


def kernel_field(rng: random.Random, base: BaseImage) -> Result:
    data = bytearray(base.core)
    groups = sorted(base.fields)
    what = []
    if rng.random() < 0.15:  # one member of every vm_struct at once (200 huge areas, say)
        member = rng.choice(("flags", "addr", "size", "next"))
        targets = [f for f in base.fields["vmlist"] if f.path.endswith(f".{member}")]
        new = _field_value(rng, targets[0], base, targets)
        for f in targets:
            _put(data, f.offset, f.size, new)
        return _result(base, "core", data, f"core: every vm_struct's {member} -> {new:#x}")
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        group = rng.choices(groups, [_GROUP_WEIGHTS.get(g, 1) for g in groups])[0]
        f = rng.choice(base.fields[group])
        new = _field_value(rng, f, base, base.fields[group])
        _put(data, f.offset, f.size, new)
        what.append(f"{f.path} {f.value:#x} -> {new:#x}")
    return _result(base, "core", data, "core: " + "; ".join(what))


def vmlist_forge(rng: random.Random, base: BaseImage) -> Result:
    """vmlist pointed at up to 256 forged vm_structs filling one stored lowmem page (the
    frame behind the first area): 200 areas of 0xfffff000 bytes each, say, or a loop."""
    prog = base.prog
    vm_struct = struct_type(prog, "struct vm_struct")
    at = {m: vm_struct.offsetof(m) for m in ("flags", "addr", "size", "next")}
    page = 0xC0000000 + (base.facts.paddr & ~0xFFF)
    offset = base.file_offset(page, 4096)
    assert offset is not None, f"{base.name}: the first area's frame is not stored"
    count = rng.choice((2, 16, 200, 4096 // vm_struct.size))
    size = rng.choice((0xFFFFF000, 0x7FFFF000, 0x1000, 0x2000, 0, rng.getrandbits(32)))
    placing = rng.choice(("same", "spaced", "random", "descending"))
    ending = rng.choice(("NULL", "a cycle", "the middle", "0xdeadbeef"))
    data = bytearray(base.core)
    start = prog.vmalloc_start
    for k in range(count):
        node = offset + k * vm_struct.size
        addr = {
            "same": start,
            "spaced": start + k * ((size + 0x1000) & 0xFFFFF000),
            "random": rng.getrandbits(32),
            "descending": 0xFFFF0000 - k * 0x2000,
        }[placing]
        follower = page + (k + 1) * vm_struct.size
        if k == count - 1:
            follower = {
                "NULL": 0,
                "a cycle": page,
                "the middle": page + count // 2 * vm_struct.size,
                "0xdeadbeef": 0xDEADBEEF,
            }[ending]
        _put(data, node + at["flags"], 4, rng.choice((1, 2, 2, 2, 0xFFFFFFFF)))
        _put(data, node + at["addr"], 4, addr)
        _put(data, node + at["size"], 4, size)
        _put(data, node + at["next"], 4, follower)
    head = next(f for f in base.fields["mm"] if f.path == "vmlist")
    _put(data, head.offset, 4, page)
    what = f"vmlist -> {count} forged vm_structs of size {size:#x}, {placing}, ending in {ending}"
    return _result(base, "core", data, f"core: {what}")


def kernel_text(rng: random.Random, base: BaseImage) -> Result:
    data = bytearray(base.core)
    t = rng.choice(base.texts)
    text = rng.choice(HOSTILE_TEXT)
    if rng.random() < 0.8:
        text += b"\0"
    text = text[: t.room]
    data[t.offset : t.offset + len(text)] = text
    return _result(base, "core", data, f"core: {t.path} -> {text[:24]!r}")


# -- choosing one --------------------------------------------------------------------------

Mutator = Callable[[random.Random, BaseImage], Result]

KINDS: dict[str, tuple[Mutator, int]] = {  # kind -> (mutator, weight)
    "bitflip": (bitflip, 3),
    "byterun": (byterun, 2),
    "truncate": (truncate, 1),
    "elf_header": (elf_header, 2),
    "program_header": (program_header, 2),
    "elf64_core": (elf64_core, 2),
    "section_header": (section_header, 1),
    "symtab": (symtab, 1),
    "note_header": (note_header, 1),
    "vmcoreinfo": (vmcoreinfo, 4),
    "vmintro_note": (vmintro_note, 2),
    "dwarf": (dwarf, 4),
    "dwarf_sections": (dwarf_sections, 2),
    "kernel_field": (kernel_field, 8),
    "kernel_text": (kernel_text, 2),
    "vmlist_forge": (vmlist_forge, 2),
    "file_kind": (file_kind, 1),
}


def mutation(seed: int, index: int) -> Mutation:
    """The mutation numbered ``index`` of ``seed``: the same everywhere, every time."""
    rng = random.Random(f"vmintro-hostile/{seed}/{index}")
    bases = base_images()
    base = rng.choices(bases, [3 if b.name == "demo" else 1 for b in bases])[0]
    names = sorted(KINDS)
    kind = rng.choices(names, [KINDS[k][1] for k in names])[0]
    description, core, vmlinux = KINDS[kind][0](rng, base)
    return Mutation(seed, index, base, kind, description, core, vmlinux)
