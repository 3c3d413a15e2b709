"""A :class:`~vmintro.backends.base.Backend` for a gdb session: the image gdb has open.

Runs inside gdb's Python (``import gdb``). gdb knows the two files --
``file NAME.vmlinux`` and ``core-file NAME.vmcore`` -- and this backend reads
the same two files, with vmintro's readers:

* **memory from the core file itself** (:class:`~vmintro.image.reader.core.CoreFile`),
  not from ``gdb.selected_inferior().read_memory``. gdb reads a core by
  *virtual* address through the ``PT_LOAD`` segments' ``p_vaddr``: lowmem sits
  at ``PAGE_OFFSET + paddr``, but every highmem segment has ``p_vaddr`` 0, so
  gdb cannot tell them apart, and RAM the core does not store (runs of zero
  pages) is "Cannot access memory" for gdb although it reads as zeros. Reading
  the file gdb has open gives every frame of RAM, highmem included, and costs
  one slice of a mapping instead of a call into gdb per read.
* **symbols and types from the same vmlinux** (:mod:`vmintro.backends.vmlinux`),
  not from ``gdb.lookup_type``: that is the type model every vmintro command is
  written against, so ``vm ptype`` or ``vm struct`` print inside gdb exactly
  what they print in vmintro's REPL; converting gdb's types would be a second
  reader of the same DWARF, with its own mistakes.
* **build facts from the core's VMCOREINFO**, as for an image.

The files are found from gdb (:func:`session_files`); a test can pass them.
Without a core file -- a live target -- :class:`GdbMemoryBackend` reads
through ``gdb.selected_inferior().read_memory`` instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vmintro.arch.x86 import PAGE_OFFSET, PAGE_SHIFT, paging_mode
from vmintro.backends.base import MachineFacts, TableBackend
from vmintro.backends.image import ImageBackend, ImageError
from vmintro.backends.vmlinux import load_vmlinux
from vmintro.errors import FaultError, UnreachableMemoryError, VmintroError
from vmintro.types.model import Struct, Void, strip_typedefs

__all__ = [
    "GdbBackend",
    "GdbMemoryBackend",
    "NoCoreError",
    "core_file_from_info_target",
    "session_files",
]

# `info target` of gdb 9 to 15: "Local core dump file:\n\t`/path/x.vmcore', file type elf32-i386."
_CORE_LINE = re.compile(r"^Local core dump file:\s*\n\s*`(.+)', file type ", re.M)


class NoCoreError(VmintroError):
    """gdb has no core file open; ``str()`` tells how to open one."""


def core_file_from_info_target(text: str) -> str | None:
    """The core file named in the output of gdb's ``info target``, or None."""
    m = _CORE_LINE.search(text)
    return m.group(1) if m else None


def session_files() -> tuple[Path, Path | None]:
    """(core, vmlinux) of the current gdb session; vmlinux None when gdb has no exec file.

    :raises NoCoreError: when gdb has no core file.
    """
    import gdb

    core = core_file_from_info_target(gdb.execute("info target", to_string=True))
    if core is None:
        raise NoCoreError("no core file: open the image with 'core-file NAME.vmcore'")
    exe = gdb.current_progspace().filename
    return Path(core), Path(exe) if exe else None


class GdbBackend(ImageBackend):
    """The image of a gdb session: its core file and its exec file (the vmlinux).

    Without an exec file the vmlinux beside the core is used, and without that
    only the core's VMCOREINFO symbols, as for any image.

    :raises NoCoreError: when gdb has no core file (and none is given).
    :raises vmintro.backends.image.ImageError: a missing or malformed file.
    """

    def __init__(
        self,
        vmcore: str | os.PathLike[str] | None = None,
        vmlinux: str | os.PathLike[str] | None = None,
    ) -> None:
        if vmcore is None:
            core, exe = session_files()
            vmcore = core
            if vmlinux is None and exe is not None:
                vmlinux = exe
        super().__init__(vmcore, vmlinux)

    def __repr__(self) -> str:
        return f"<GdbBackend {self.vmcore_path} + {self.vmlinux_path.name}>"


class GdbMemoryBackend(TableBackend):
    """A gdb target without a core file (a live kernel behind a gdb stub, say).

    Memory comes from ``gdb.selected_inferior().read_memory``, which reads
    *virtual* addresses: physical RAM is reachable only where the kernel maps
    it directly, below ``high_memory`` (``PAGE_OFFSET + paddr``). Highmem
    frames are not, and reading one is a :class:`~vmintro.errors.FaultError`
    that says so. Symbols and types come from the vmlinux gdb has loaded, as in
    :class:`GdbBackend`; the build facts from those types.
    """

    def __init__(self, vmlinux: str | os.PathLike[str]) -> None:
        import gdb

        self.vmlinux_path = Path(vmlinux)
        self._inferior = gdb.selected_inferior()
        tables = load_vmlinux(self.vmlinux_path, ImageError)
        page = strip_typedefs(tables.types.get("struct page", Void()))
        pte = tables.types.get("pte_t")
        max_low_pfn = tables.variables.get("max_low_pfn")
        max_pfn = tables.variables.get("max_pfn")
        self._lowmem = 0
        if max_low_pfn is not None:
            self._lowmem = self._read_virtual(max_low_pfn[0], 4, "max_low_pfn") << PAGE_SHIFT
        ram_size = 0
        if max_pfn is not None:
            ram_size = self._read_virtual(max_pfn[0], 4, "max_pfn") << PAGE_SHIFT
        facts = MachineFacts(
            highmem=isinstance(page, Struct) and page.has_member("virtual"),
            pae=pte is not None and pte.size == paging_mode(pae=True).entry_size,
            ram_size=ram_size,
        )
        super().__init__(tables, facts)

    def _read_virtual(self, vaddr: int, size: int, what: str) -> int:
        return int.from_bytes(self._read(vaddr, size, what), "little")

    def _read(self, vaddr: int, size: int, what: str) -> bytes:
        import gdb

        try:
            return bytes(self._inferior.read_memory(vaddr, size))
        except gdb.MemoryError as e:
            raise FaultError(vaddr, f"could not read {what}: {e}") from None

    def read_phys(self, paddr: int, size: int) -> bytes:
        if paddr < 0 or paddr + size > self._lowmem:
            raise UnreachableMemoryError(
                paddr,
                f"could not read physical {paddr:#x}: without a core file only RAM "
                f"below high_memory ({self._lowmem:#x}) is reachable, through the direct map",
            )
        return self._read(PAGE_OFFSET + paddr, size, f"physical {paddr:#x}")

    def __repr__(self) -> str:
        return f"<GdbMemoryBackend {self.vmlinux_path.name}>"
