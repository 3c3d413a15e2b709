"""A :class:`~vmintro.backends.base.Backend` over a drgn ``Program``: vmintro's walk, drgn's memory.

drgn (with libkdumpfile, ``DRGN_USE_LIBKDUMPFILE_FOR_ELF=1``) opens a vmintro
core as an i386 Linux kernel but cannot translate i386 virtual addresses
itself beyond what libkdumpfile does, and its own ``vmalloc_to_page`` raises
``NotImplementedError`` there. This backend takes from drgn only what drgn
reads reliably -- physical memory and the VMCOREINFO note -- and lets
:class:`~vmintro.program.Program` walk ``swapper_pg_dir`` on top of it::

    >>> prog = vmintro.Program(DrgnBackend(drgn_prog))
    >>> hex(prog.translate(0xc4800000))

Symbols and types come from the main module's file (the vmlinux drgn loaded),
read by :mod:`vmintro.backends.vmlinux` into vmintro's own type model, so every
command prints exactly what it prints over the image files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vmintro.backends.base import MachineFacts, TableBackend
from vmintro.backends.vmlinux import load_kernel
from vmintro.errors import FaultError, VmintroError
from vmintro.image.format.names import vmlinux_beside
from vmintro.image.reader import core as reader
from vmintro.image.reader.vmcoreinfo import (
    VmcoreinfoError,
    check_vmcoreinfo,
    parse_vmcoreinfo,
    ram_end,
)

if TYPE_CHECKING:
    import drgn

__all__ = ["DrgnBackend", "DrgnBackendError", "drgn_vmlinux_path"]


class DrgnBackendError(VmintroError):
    """A drgn program vmintro cannot work on (no VMCOREINFO, a bad vmlinux); one line."""


def drgn_vmlinux_path(drgn_prog: drgn.Program) -> Path | None:
    """The vmlinux drgn uses for the kernel, or ``NAME.vmlinux`` beside ``NAME.vmcore``.

    The main module's debug file first (what ``try_file`` or a debug-info
    finder gave drgn), then its loaded file, then the file beside the core.
    """
    try:
        module = drgn_prog.main_module()
    except LookupError:
        module = None
    if module is not None:
        for path in (module.debug_file_path, module.loaded_file_path):
            if path:
                return Path(path)
    core = drgn_prog.core_dump_path
    if core:
        beside = vmlinux_beside(core)
        if beside.exists():
            return beside
    return None


def _core_name(drgn_prog: drgn.Program) -> str:
    """The core's file name, to begin a message about it; the program's kind without one."""
    core = drgn_prog.core_dump_path
    return Path(core).name if core else "the live kernel"


def _vmcoreinfo(drgn_prog: drgn.Program) -> dict[str, str]:
    """The VMCOREINFO note as drgn found it in the core, key by key."""
    try:
        raw = drgn_prog["VMCOREINFO"].string_()
    except Exception as e:  # noqa: BLE001 - drgn raises several types for a missing note
        raise DrgnBackendError(f"{_core_name(drgn_prog)}: no VMCOREINFO: {e}") from None
    try:
        return parse_vmcoreinfo(raw.decode("ascii"))
    except (UnicodeDecodeError, VmcoreinfoError) as e:
        raise DrgnBackendError(f"{_core_name(drgn_prog)}: malformed VMCOREINFO: {e}") from None


def _stored_ranges(core_path: str) -> list[tuple[int, int]] | None:
    """The physical ranges the core's ``PT_LOAD`` segments store, sorted; None if unreadable."""
    try:
        with reader.CoreFile(core_path) as core:
            return [(paddr, paddr + size) for paddr, size, _offset in core.segments]
    except reader.ImageError:
        return None


class DrgnBackend(TableBackend):
    """Memory from ``drgn_prog.read(paddr, size, True)``; symbols and types from its vmlinux.

    RAM that the core does not store (vmintro drops runs of zero pages, as
    makedumpfile excludes zero pages) reads as zeros without asking drgn:
    libkdumpfile crashes the whole process on some reads of such frames (the
    one just before a stored segment), so when drgn has a core file open the
    backend reads its program headers once to know which frames are stored.
    Without a core file (a live kernel) every read goes to drgn.

    :param vmlinux: the vmlinux to take symbols and types from, instead of
        the one :func:`drgn_vmlinux_path` finds.
    :raises DrgnBackendError: no VMCOREINFO in the program, or a bad vmlinux.
    """

    def __init__(
        self, drgn_prog: drgn.Program, vmlinux: str | os.PathLike[str] | None = None
    ) -> None:
        import drgn

        self.drgn_prog = drgn_prog
        self._drgn_fault = drgn.FaultError
        note = _vmcoreinfo(drgn_prog)
        try:
            e820 = check_vmcoreinfo(note)
        except VmcoreinfoError as e:
            raise DrgnBackendError(f"{_core_name(drgn_prog)}: VMCOREINFO {e}") from None
        self.ram_size = ram_end(e820)
        core = drgn_prog.core_dump_path
        self.is_live = bool(drgn_prog.flags & drgn.ProgramFlags.IS_LIVE)
        ranges = _stored_ranges(core) if core and not self.is_live else None
        if ranges is None:  # a live kernel, or a core only drgn reads: all of RAM through drgn
            ranges = [(0, self.ram_size)]
        self._starts = [lo for lo, _hi in ranges]
        self._ends = [hi for _lo, hi in ranges]

        self.vmlinux_path = Path(vmlinux) if vmlinux is not None else drgn_vmlinux_path(drgn_prog)
        tables = load_kernel(note, self.vmlinux_path, _core_name(drgn_prog), DrgnBackendError)
        facts = MachineFacts.from_vmcoreinfo(
            note,
            ram_size=self.ram_size,
            debuginfo=self.vmlinux_path is not None,
            fixed_memory=not self.is_live,
        )
        super().__init__(tables, facts)

    def read_phys(self, paddr: int, size: int) -> bytes:
        try:
            return reader.read_sparse(
                paddr, size, self.ram_size, self._starts, self._ends, self._drgn_read
            )
        except reader.MemoryFault as e:  # the words ImageBackend uses: commands fail alike
            raise FaultError(paddr, f"could not read physical {paddr:#x}: {e}") from None

    def _drgn_read(self, _segment: int, paddr: int, size: int) -> bytes:
        try:
            return self.drgn_prog.read(paddr, size, True)
        except self._drgn_fault as e:
            raise FaultError(paddr, f"could not read physical {paddr:#x}: {e}") from None

    def __repr__(self) -> str:
        where = self.drgn_prog.core_dump_path or "live kernel"
        name = self.vmlinux_path.name if self.vmlinux_path else "no vmlinux"
        return f"<DrgnBackend {where} + {name}>"
