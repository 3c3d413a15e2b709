"""Hostile images: a bundled image copied and patched word by word, and a bounded runner.

:class:`HostileImage` copies ``images/demo.*`` (or another bundled image) and
writes into the copy's core where the kernel keeps a global: a lowmem address
is ``PAGE_OFFSET`` above its physical one, and the ``PT_LOAD`` segment that
stores that physical address gives the file offset. Runs of zero pages are not
stored in a core, so only stored bytes can be patched; :meth:`HostileImage.scratch`
finds stored, all-zero pages no symbol covers, where fake kernel objects can go.

:func:`run_bounded` runs an entry point as a user types it, in a child process
under an address-space limit and a generous timeout (a hang guard, not a timed
assertion).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

from generate_cli import vmintro_cli

import vmintro
from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SIZE
from vmintro.image.reader.core import CoreFile

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "images" / "demo"


class HostileImage:
    """A copy of ``source`` (a bundled image's base name) at ``dest`` with a patchable core."""

    def __init__(self, dest: Path, source: Path = DEMO) -> None:
        self.base = dest
        shutil.copy(f"{source}.vmlinux", f"{dest}.vmlinux")
        self.prog = vmintro.open(source)  # the undamaged image: symbols, types, values
        with CoreFile(f"{source}.vmcore") as core:
            self.segments = list(core.segments)  # (paddr, stored bytes, file offset)
        self.core = bytearray(Path(f"{source}.vmcore").read_bytes())
        self._scratch_used: set[int] = set()
        self.save()

    @property
    def vmcore(self) -> Path:
        return Path(f"{self.base}.vmcore")

    def offset(self, vaddr: int, size: int) -> int:
        """The file offset of ``size`` stored bytes at lowmem address ``vaddr``."""
        paddr = vaddr - PAGE_OFFSET
        for start, stored, offset in self.segments:
            if start <= paddr and paddr + size <= start + stored:
                return offset + paddr - start
        raise ValueError(f"{vaddr:#x}+{size}: not stored in the core (a zero run?)")

    def write(self, vaddr: int, data: bytes) -> None:
        off = self.offset(vaddr, len(data))
        self.core[off : off + len(data)] = data

    def write_u32(self, vaddr: int, value: int) -> None:
        self.write(vaddr, struct.pack("<I", value & 0xFFFFFFFF))

    def read_u32(self, vaddr: int) -> int:
        off = self.offset(vaddr, 4)
        return int(struct.unpack_from("<I", self.core, off)[0])

    def address(self, path: str) -> int:
        """The address of a global or a member of one: ``"contig_page_data.nr_zones"``,
        ``"swap_info[0].swap_map"``, ``"contig_page_data.node_zones[1].name"``.
        """
        name, *steps = re.findall(r"\w+|\[\d+\]", path)
        obj = self.prog[name]
        for step in steps:
            obj = obj[int(step[1:-1])] if step.startswith("[") else obj.member_(step)
        return int(obj.address_)

    def set(self, path: str, value: int) -> int:
        """Set the 32-bit word at ``path`` to ``value``; returns the word's address."""
        addr = self.address(path)
        self.write_u32(addr, value)
        return addr

    def scratch(self, size: int) -> int:
        """The lowmem address of ``size`` stored, all-zero bytes that no symbol covers
        and that no earlier call handed out (whole pages).
        """
        pages = -(-size // PAGE_SIZE)
        mem_map = self.prog["mem_map"].value_()
        mem_map_end = mem_map + self.prog["max_mapnr"].value_() * self.prog.type("struct page").size
        for start, stored, offset in self.segments:
            run: list[int] = []
            for page in range(start, start + stored, PAGE_SIZE):
                vaddr = PAGE_OFFSET + page
                data = self.core[offset + page - start : offset + page - start + PAGE_SIZE]
                usable = (
                    len(data) == PAGE_SIZE
                    and not any(data)
                    and vaddr not in self._scratch_used
                    and self.prog.symbol_at(vaddr) is None
                    and not (mem_map - PAGE_SIZE < vaddr < mem_map_end)
                )
                run = [*run, vaddr] if usable else []
                if len(run) == pages:
                    self._scratch_used.update(run)
                    return run[0]
        raise ValueError(f"no {pages} stored zero pages in {self.vmcore.name}")

    def replace_note_text(self, old: bytes, new: bytes) -> None:
        """Replace ``old`` by ``new`` (of the same length) in the core's notes: a
        VMCOREINFO line changed in place, so that no size in the file moves.
        """
        assert len(old) == len(new), (old, new)
        at = self.core.find(old)
        assert at >= 0 and self.core.find(old, at + 1) < 0, f"{old!r} is not in the core once"
        self.core[at : at + len(old)] = new

    def save(self) -> Path:
        """Write the patched core; returns the image's base name."""
        self.vmcore.write_bytes(bytes(self.core))
        return self.base


def run_bounded(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``vmintro ARGS`` from the checkout's root, uncoloured, under the limits of
    :func:`generate_cli.vmintro_cli`."""
    return vmintro_cli(*args, cwd=ROOT, stdin=stdin, env={"NO_COLOR": "1", "TERM": "dumb"})
