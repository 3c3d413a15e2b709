"""Hand-made hostile images: a bundled image copied and patched where the reader looks.

Each helper copies ``images/demo.*`` into a test directory and changes one
thing the way a damaged or malicious file would: the core's notes (rebuilt and
appended at the end of the file, the ``PT_NOTE`` header pointed at them, so the
note may grow), a DWARF reference of the vmlinux (found with pyelftools), or
bytes of RAM at a physical address. :func:`run_vmintro` runs an entry point as
a user types it, in a child process with a timeout that only guards against a
hang.
"""

from __future__ import annotations

import contextlib
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

from elftools.elf.elffile import ELFFile
from generate_cli import vmintro_cli

from vmintro.image.format.elf import PHDR_SIZE
from vmintro.image.writer.elf32 import build_note

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "images" / "demo"
HANG_GUARD = 120.0  # seconds: far beyond a healthy run; a hang guard, not a timed assertion
MEMORY_LIMIT = 2 << 30  # address space of a child: far above what a healthy run uses
_NOTE_HEADER = struct.Struct("<III")
_PHDR = struct.Struct("<IIIIIIII")


def copy_demo(dest: Path, name: str = "bad") -> Path:
    """Copies of the demo image as ``dest/NAME.vmcore`` and ``.vmlinux``; returns the base."""
    base = dest / name
    shutil.copy(f"{DEMO}.vmcore", f"{base}.vmcore")
    shutil.copy(f"{DEMO}.vmlinux", f"{base}.vmlinux")
    return base


def _note_phdr(core: bytes | bytearray) -> int:
    """File offset of the first ``PT_NOTE`` program header."""
    (phoff,) = struct.unpack_from("<I", core, 28)
    (phnum,) = struct.unpack_from("<H", core, 44)
    for i in range(phnum):
        at = phoff + i * PHDR_SIZE
        if _PHDR.unpack_from(core, at)[0] == 4:
            return at
    raise ValueError("no PT_NOTE")


def read_notes(core: bytes | bytearray) -> list[tuple[str, int, bytes]]:
    """The notes of the core's ``PT_NOTE``, as (name, type, descriptor)."""
    fields = _PHDR.unpack_from(core, _note_phdr(core))
    pos, end = fields[1], fields[1] + fields[4]
    notes = []
    while end - pos >= _NOTE_HEADER.size:
        namesz, descsz, n_type = _NOTE_HEADER.unpack_from(core, pos)
        name_at = pos + _NOTE_HEADER.size
        desc_at = name_at + (namesz + 3) // 4 * 4
        name = bytes(core[name_at : name_at + namesz - 1]).decode()
        notes.append((name, n_type, bytes(core[desc_at : desc_at + descsz])))
        pos = desc_at + (descsz + 3) // 4 * 4
    return notes


def replace_notes(vmcore: Path, edit: Callable[[str, bytes], bytes], extra: bytes = b"") -> None:
    """Rewrite every note's descriptor through ``edit(name, descriptor)``, then add ``extra``
    (notes already built).

    The new notes go at the end of the file and the ``PT_NOTE`` header points
    at them, so a descriptor may grow without moving any RAM.
    """
    core = bytearray(vmcore.read_bytes())
    notes = b"".join(build_note(n, t, edit(n, d)) for n, t, d in read_notes(core)) + extra
    core += bytes(-len(core) % 4)
    at = _note_phdr(core)
    struct.pack_into("<I", core, at + 4, len(core))  # p_offset
    struct.pack_into("<II", core, at + 16, len(notes), len(notes))  # p_filesz, p_memsz
    vmcore.write_bytes(bytes(core + notes))


def edit_vmcoreinfo(vmcore: Path, edit: Callable[[str], str]) -> None:
    """Rewrite the VMCOREINFO text through ``edit``."""

    def one(name: str, desc: bytes) -> bytes:
        if name != "VMCOREINFO":
            return desc
        return edit(desc.rstrip(b"\0").decode()).encode()

    replace_notes(vmcore, one)


def set_vmintro_note(vmcore: Path, desc: bytes) -> None:
    """Replace the VMINTRO note's descriptor (the generator's JSON) by ``desc``."""
    replace_notes(vmcore, lambda name, old: desc if name == "VMINTRO" else old)


def struct_die(vmlinux: Path, tag: str) -> tuple[int, dict[str, tuple[int, int]]]:
    """The DIE of ``struct TAG``: its offset in ``.debug_info`` and, for each member,
    the file offset of its ``DW_AT_type`` (a ``DW_FORM_ref4``) and of its
    ``DW_AT_data_member_location``.
    """
    with open(vmlinux, "rb") as f:
        elf = ELFFile(f)
        base = elf.get_section_by_name(".debug_info")["sh_offset"]
        for cu in elf.get_dwarf_info().iter_CUs():
            for die in cu.iter_DIEs():
                name = die.attributes.get("DW_AT_name")
                if die.tag == "DW_TAG_structure_type" and name and name.value == tag.encode():
                    members = {}
                    for m in die.iter_children():
                        t = m.attributes["DW_AT_type"]
                        loc = m.attributes.get("DW_AT_data_member_location")
                        members[m.attributes["DW_AT_name"].value.decode()] = (
                            base + t.offset,
                            base + loc.offset if loc is not None else -1,
                        )
                    return die.offset - cu.cu_offset, members
    raise ValueError(f"no struct {tag} in {vmlinux.name}")


def patch_bytes(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def hang_guard() -> contextlib.AbstractContextManager[None]:
    """Fail the test if the block outlives :data:`HANG_GUARD` (in the test process)."""
    from test_corruption import deadline

    return deadline(HANG_GUARD)


def run_vmintro(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``vmintro ARGS`` as a user types it (from the checkout's root unless ``cwd``),
    uncoloured, in a child process under :data:`MEMORY_LIMIT`."""
    env = {"NO_COLOR": "1", "TERM": "dumb", "PYTHONUTF8": "1"}
    return vmintro_cli(*args, cwd=cwd or ROOT, env=env, address_space=MEMORY_LIMIT)


def assert_refused(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """A clean refusal: exit 2, no traceback, one line of output holding every word
    (on stderr, or on stdout for ``check``, which reports every image there)."""
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == 2, (proc.returncode, output)
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]
