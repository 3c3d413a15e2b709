"""What the simulator hands the image writer: memory, symbols, types and truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vmintro.arch.x86 import MachineConfig
from vmintro.sim.physmem import PhysMem
from vmintro.types.kernel import KernelTypes
from vmintro.types.model import CType

__all__ = ["ImageSpec", "Symbol"]


@dataclass
class Symbol:
    """One ELF symbol of the kernel image.

    ``kind`` is ``"object"`` (a variable: ``ctype`` is its C type and it gets a
    DWARF ``DW_TAG_variable``), ``"func"`` or ``"notype"`` (a linker label such as
    ``_text`` or ``_end``). ``local`` symbols are file-local (``static``).
    """

    name: str
    address: int
    size: int
    kind: str = "object"
    local: bool = False
    ctype: CType | None = None


@dataclass
class ImageSpec:
    """A simulated kernel frozen at one moment, ready to be written out."""

    config: MachineConfig
    mem: PhysMem
    types: KernelTypes
    symbols: list[Symbol]
    # Physical [start, end) of the kernel image. From _etext on it is always
    # stored in the core, zero pages included, so that gdb reads every global.
    kernel_range: tuple[int, int]
    # Frames stored even when all zeros: those the vmalloc page tables map.
    # libkdumpfile (drgn's reader) cannot read a mapped page whose frame the
    # core omits, so a zero vmalloc page is kept rather than dropped.
    keep_frames: frozenset[int] = frozenset()
    generator: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)

    def symbol(self, name: str) -> Symbol:
        for s in self.symbols:
            if s.name == name:
                return s
        raise KeyError(name)
