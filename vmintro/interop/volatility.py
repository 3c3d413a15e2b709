"""volatility3's i386 translation layers over a vmintro core (volatility3 must be installed).

volatility3 has no reader for an ELF32 kdump-style core (its ``Elf64Layer`` opens
only the ELF64 cores of machines with frames above 4 GiB), so a small physical
layer serves the core's RAM from its ``PT_LOAD`` segments (RAM no segment
stores reads as zeros, as in vmintro); volatility3's own ``Intel`` or
``IntelPAE`` layer then walks the page tables from ``swapper_pg_dir``.
"""

from __future__ import annotations

import os
from typing import Any

from vmintro.image.reader.core import CoreFile

__all__ = ["volatility_layer"]


def volatility_layer(
    vmcore: str | os.PathLike[str], page_map_offset: int, pae: bool
) -> tuple[Any, type[Exception], type[Exception]]:
    """(virtual layer, its page-fault exception, its invalid-address exception).

    ``page_map_offset`` is the physical address of ``swapper_pg_dir``.
    """
    from volatility3.framework import contexts, exceptions
    from volatility3.framework.layers import intel, physical

    core = CoreFile(vmcore)

    class CoreLayer(physical.BufferDataLayer):
        """Physical memory from the core's segments."""

        def __init__(self, context: Any, config_path: str, name: str) -> None:
            super().__init__(context, config_path, name, b"")

        @property
        def maximum_address(self) -> int:
            return core.ram_size - 1

        def read(self, address: int, length: int, pad: bool = False) -> bytes:
            if not self.is_valid(address, length):
                if pad:
                    return bytes(length)
                raise exceptions.InvalidAddressException(self.name, address, "outside RAM")
            return core.read_phys(address, length)

    ctx = contexts.Context()
    ctx.layers.add_layer(CoreLayer(ctx, "phys", "phys"))
    ctx.config["virt.memory_layer"] = "phys"
    ctx.config["virt.page_map_offset"] = page_map_offset
    cls = intel.IntelPAE if pae else intel.Intel
    return (
        cls(ctx, "virt", "virt"),
        exceptions.PagedInvalidAddressException,
        exceptions.InvalidAddressException,
    )
