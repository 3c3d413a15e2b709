"""The backend protocol: the raw facts a :class:`~vmintro.program.Program` is made of.

A backend is anything with the five methods of :class:`Backend`; those of
this package (:mod:`vmintro.backends`) read an image's files, a gdb session or
a drgn program. Nothing here interprets kernel data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vmintro.types.model import CType

__all__ = ["Backend", "DebugTables", "MachineFacts", "SymbolEntry", "TableBackend"]

# (address, size, kind) with kind "object", "func" or "notype", as in the ELF symtab
SymbolEntry = tuple[int, int, str]


@dataclass(frozen=True)
class MachineFacts:
    """What a backend knows of the machine and its kernel's build.

    :param highmem: built with CONFIG_HIGHMEM.
    :param pae: built with CONFIG_X86_PAE (its paging mode is PAE).
    :param osrelease: the kernel's release (``"2.4.20"``), or ``""`` when unknown.
    :param ram_size: where physical RAM ends, in bytes; 0 when unknown.
    :param debuginfo: False when there are symbols but no types, as for a core
        opened without its vmlinux.
    :param fixed_memory: the memory can never change (a dump on disk), so a
        program may keep the pages it has read.
    """

    highmem: bool = False
    pae: bool = False
    osrelease: str = ""
    ram_size: int = 0
    debuginfo: bool = True
    fixed_memory: bool = False

    @classmethod
    def from_vmcoreinfo(
        cls, note: dict[str, str], *, ram_size: int, debuginfo: bool, fixed_memory: bool
    ) -> MachineFacts:
        """The facts a core's VMCOREINFO note states: the build options and the release."""
        return cls(
            highmem=note.get("CONFIG_HIGHMEM") == "y",
            pae=note.get("CONFIG_X86_PAE") == "y",
            osrelease=note.get("OSRELEASE", ""),
            ram_size=ram_size,
            debuginfo=debuginfo,
            fixed_memory=fixed_memory,
        )


@dataclass(frozen=True)
class DebugTables:
    """A kernel's symbols (name -> (address, size, kind)), named types (by C
    spelling, ``"struct page"``) and typed global variables (name -> (address, type))."""

    symbols: dict[str, SymbolEntry]
    types: dict[str, CType]
    variables: dict[str, tuple[int, CType]]


@runtime_checkable
class Backend(Protocol):
    """The raw facts a program is made of; nothing here interprets kernel data."""

    def read_phys(self, paddr: int, size: int) -> bytes:
        """``size`` bytes of physical memory at ``paddr``.

        :raises FaultError: when any byte lies outside the machine's RAM.
        """
        ...

    def symbols(self) -> dict[str, SymbolEntry]:
        """Every kernel symbol: name -> (address, size, kind)."""
        ...

    def types(self) -> dict[str, CType]:
        """Every named type by its C spelling (``"struct page"``, ``"pte_t"``)."""
        ...

    def variables(self) -> dict[str, tuple[int, CType]]:
        """Every global variable with a known type: name -> (address, type)."""
        ...

    def facts(self) -> MachineFacts:
        """The machine and its build: HIGHMEM, PAE, release, RAM size, whether there are types."""
        ...


class TableBackend:
    """Symbols, types, variables and facts read once at start-up; subclasses add ``read_phys``."""

    def __init__(self, tables: DebugTables, facts: MachineFacts) -> None:
        self._tables = tables
        self._facts = facts

    def symbols(self) -> dict[str, SymbolEntry]:
        return self._tables.symbols

    def types(self) -> dict[str, CType]:
        return self._tables.types

    def variables(self) -> dict[str, tuple[int, CType]]:
        return self._tables.variables

    def facts(self) -> MachineFacts:
        return self._facts
