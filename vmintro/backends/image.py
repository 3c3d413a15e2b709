"""A :class:`~vmintro.backends.base.Backend` over an image: ``NAME.vmcore`` and ``NAME.vmlinux``.

Memory comes from the core (:class:`~vmintro.image.reader.core.CoreFile`),
symbols, types and variables from the vmlinux (:mod:`vmintro.backends.vmlinux`),
and the machine's facts from the core's VMCOREINFO note. The readers' own
exceptions stop here: a bad file becomes one :class:`ImageError` with a
one-line message, a read outside RAM a :class:`~vmintro.errors.FaultError`.
"""

from __future__ import annotations

import os
from pathlib import Path

from vmintro.backends.base import DebugTables, MachineFacts, TableBackend
from vmintro.backends.vmlinux import (
    DeferredKernel,
    dwarf_contradiction,
    open_kernel,
    symtab_object,
)
from vmintro.errors import FaultError, VmintroError
from vmintro.image.format.names import reader_files
from vmintro.image.reader import core as reader
from vmintro.types.model import CType

__all__ = ["ImageBackend", "ImageError"]


class ImageError(VmintroError):
    """An image file that cannot be used; ``str()`` is one line naming the file."""


class ImageBackend(TableBackend):
    """The backend of an image on disk.

    ``vmcore_path`` may name the core or the image's base name (``images/demo``);
    the vmlinux defaults to the file of the same stem beside it
    (:func:`~vmintro.image.format.names.reader_files`).

    ``defer_types`` reads only the vmlinux's ``.symtab`` now and its DWARF on
    the first :meth:`types` or :meth:`variables` (:meth:`load_types`), where a
    DWARF that cannot be read, or that shows the vmlinux to be of another
    build, raises the :class:`ImageError` the constructor would have raised.

    :raises ImageError: a missing, truncated or malformed file, or a vmlinux
        of another build than the core's.
    """

    def __init__(
        self,
        vmcore_path: str | os.PathLike[str],
        vmlinux_path: str | os.PathLike[str] | None = None,
        *,
        defer_types: bool = False,
    ) -> None:
        self.vmcore_path, beside = reader_files(vmcore_path)
        self.vmlinux_path = Path(vmlinux_path) if vmlinux_path is not None else beside
        try:
            self.core = reader.CoreFile(self.vmcore_path)
        except reader.ImageError as e:
            raise ImageError(str(e)) from None
        self.has_debuginfo = vmlinux_path is not None or self.vmlinux_path.exists()
        note = self.core.vmcoreinfo
        try:
            vmlinux = self.vmlinux_path if self.has_debuginfo else None
            kernel = open_kernel(
                note, vmlinux, self.vmcore_path.name, ImageError, defer=defer_types
            )
        except ImageError:
            self.core.close()
            raise
        facts = MachineFacts.from_vmcoreinfo(
            note, ram_size=self.core.ram_size, debuginfo=self.has_debuginfo, fixed_memory=True
        )
        self._deferred: DeferredKernel | None = None
        if isinstance(kernel, DeferredKernel):
            self._deferred = kernel
            kernel = DebugTables(kernel.symbols, {}, {})  # types and variables: load_types
        super().__init__(kernel, facts)

    def load_types(self) -> None:
        """Read the vmlinux's DWARF now if it was put off (``defer_types``).

        :raises ImageError: it cannot be read, or the vmlinux is another build's.
        """
        deferred = self._deferred  # once: another thread may be loading it too
        if deferred is not None:
            self._tables = deferred.tables()
            self._deferred = None

    def types_loaded(self) -> bool:
        """Whether :meth:`types` answers without reading the DWARF first."""
        return self._deferred is None or self._deferred.loaded

    def types(self) -> dict[str, CType]:
        self.load_types()
        return self._tables.types

    def variables(self) -> dict[str, tuple[int, CType]]:
        self.load_types()
        return self._tables.variables

    def variable_address(self, name: str) -> int | None:
        """Where the variable ``name`` is: where the vmlinux's ``.symtab`` says, without
        reading a deferred DWARF first (:meth:`DeferredKernel.variable_address`).

        :raises ImageError: the DWARF puts it elsewhere (as a deferred DWARF, once read).
        """
        deferred = self._deferred
        if deferred is not None:
            return deferred.variable_address(name)
        if not self.has_debuginfo:
            return None  # no vmlinux: no variables (the note's SYMBOL() lines are not read)
        problem = dwarf_contradiction(self.vmlinux_path.name, name, self._tables)
        if problem:
            raise ImageError(problem)
        return symtab_object(self._tables.symbols, name)

    def read_phys(self, paddr: int, size: int) -> bytes:
        try:
            return self.core.read_phys(paddr, size)
        except reader.MemoryFault as e:
            raise FaultError(paddr, f"could not read physical {paddr:#x}: {e}") from None

    def stored_ranges(self) -> list[tuple[int, int]]:
        """(start, end) of each physical range the core stores, in order; RAM outside
        them reads as zeros (a frame neither of two cores stores is equal in both)."""
        return [(paddr, paddr + size) for paddr, size, _offset in self.core.segments]

    @property
    def vmcoreinfo(self) -> dict[str, str]:
        """The core's VMCOREINFO note, key by key."""
        return dict(self.core.vmcoreinfo)

    def close(self) -> None:
        self.core.close()

    def __repr__(self) -> str:
        return f"<ImageBackend {self.vmcore_path} + {self.vmlinux_path.name}>"
