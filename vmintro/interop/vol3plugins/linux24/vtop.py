"""``linux24.vtop``: kernel virtual addresses translated through ``swapper_pg_dir``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from volatility3.framework import exceptions, interfaces, renderers
from volatility3.framework.configuration import requirements
from volatility3.framework.renderers import format_hints
from volatility3.plugins.linux24 import kernel24


class Vtop(interfaces.plugins.PluginInterface):
    """Translates kernel virtual addresses (vmalloc ones included) to physical."""

    _required_framework_version = (2, 0, 0)
    _version = (1, 0, 0)

    @classmethod
    def get_requirements(cls) -> list[Any]:
        return [
            *kernel24.kernel_requirements(),
            requirements.ListRequirement(
                name="address",
                element_type=str,
                description="Kernel virtual addresses, in hex",
                optional=False,
            ),
        ]

    def _generator(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        kernel = kernel24.kernel_module(self.context, self.config_path, self.config)
        layer = self.context.layers[kernel.layer_name]
        for text in self.config["address"]:
            vaddr = int(text, 16)  # hex with or without 0x, as vmintro reads addresses
            try:
                physical: Any = format_hints.Hex(layer.translate(vaddr)[0])
            except exceptions.InvalidAddressException:
                physical = renderers.NotAvailableValue()
            yield 0, (format_hints.Hex(vaddr), physical)

    def run(self) -> renderers.TreeGrid:
        columns = [("VIRTUAL", format_hints.Hex), ("PHYSICAL", format_hints.Hex)]
        return renderers.TreeGrid(columns, self._generator())
