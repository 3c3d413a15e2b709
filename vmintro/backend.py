"""Where a :class:`~vmintro.program.Program` gets memory, symbols and types from.

A backend is anything with the five methods of :class:`Backend`. Two exist:
:class:`MemoryBackend` over a simulator's :class:`~vmintro.sim.physmem.PhysMem`
(tests, and programs built in memory) and
:class:`~vmintro.image_backend.ImageBackend` over a vmcore and its vmlinux.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from vmintro.errors import FaultError
from vmintro.sim.physmem import PhysMem, PhysMemError
from vmintro.types.model import CType

__all__ = ["Backend", "MemoryBackend", "SymbolEntry", "TableBackend", "variables_from"]

# (address, size, kind) with kind "object", "func" or "notype", as in the ELF symtab
SymbolEntry = tuple[int, int, str]


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

    def config(self) -> dict[str, Any]:
        """Build facts: ``highmem`` and ``pae`` (bool), ``osrelease`` (str), ``ram_size``,
        and ``debuginfo`` (bool, True when absent): False when there are symbols but no
        types, as for a core opened without its vmlinux.
        """
        ...


class TableBackend:
    """Symbols, types, variables and facts held in dictionaries, read once at start-up.

    Subclasses fill ``_symbols``, ``_types``, ``_variables`` and ``_config`` and
    provide ``read_phys``.
    """

    _symbols: dict[str, SymbolEntry]
    _types: dict[str, CType]
    _variables: dict[str, tuple[int, CType]]
    _config: dict[str, Any]

    def symbols(self) -> dict[str, SymbolEntry]:
        return self._symbols

    def types(self) -> dict[str, CType]:
        return self._types

    def variables(self) -> dict[str, tuple[int, CType]]:
        return self._variables

    def config(self) -> dict[str, Any]:
        return self._config


class MemoryBackend(TableBackend):
    """A backend over simulated RAM and plain dictionaries.

    ``variables`` defaults to every symbol that ``types_of`` gives a type for,
    which is how :func:`vmintro.types.kernel.kernel_types` describes globals::

        kt = kernel_types(highmem=False, pae=False)
        MemoryBackend(mem, symbols, kt.by_name, variables_from(symbols, kt.variables), ...)
    """

    def __init__(
        self,
        mem: PhysMem,
        symbols: dict[str, SymbolEntry],
        types: dict[str, CType],
        variables: dict[str, tuple[int, CType]] | None = None,
        *,
        highmem: bool = False,
        pae: bool = False,
        osrelease: str = "2.4.20",
    ) -> None:
        self.mem = mem
        self._symbols = dict(symbols)
        self._types = dict(types)
        self._variables = dict(variables or {})
        self._config = {
            "highmem": highmem,
            "pae": pae,
            "osrelease": osrelease,
            "ram_size": mem.size,
        }

    def read_phys(self, paddr: int, size: int) -> bytes:
        try:
            return self.mem.read(paddr, size)
        except PhysMemError:
            raise FaultError(paddr, f"could not read physical {paddr:#x}") from None


def variables_from(
    symbols: dict[str, SymbolEntry], typed: dict[str, CType]
) -> dict[str, tuple[int, CType]]:
    """Pair each symbol with its type from ``typed`` (as ``KernelTypes.variables`` gives)."""
    return {name: (symbols[name][0], ctype) for name, ctype in typed.items() if name in symbols}
