"""A backend over simulated RAM and plain dictionaries, for tests of the program layer.

Programs in the library are made from images (:mod:`vmintro.backends`); tests
build small kernels in memory (:mod:`fake_kernel`) and read them through this.
"""

from __future__ import annotations

from vmintro.backends.base import DebugTables, MachineFacts, SymbolEntry, TableBackend
from vmintro.errors import FaultError
from vmintro.sim.physmem import PhysMem, PhysMemError
from vmintro.types.model import CType

__all__ = ["MemoryBackend", "variables_from"]


class MemoryBackend(TableBackend):
    """A backend over simulated RAM and plain dictionaries.

    ``variables`` defaults to none; :func:`variables_from` pairs symbols with
    the types :func:`vmintro.types.kernel.kernel_types` gives globals::

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
        tables = DebugTables(dict(symbols), dict(types), dict(variables or {}))
        facts = MachineFacts(highmem=highmem, pae=pae, osrelease=osrelease, ram_size=mem.size)
        super().__init__(tables, facts)

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
