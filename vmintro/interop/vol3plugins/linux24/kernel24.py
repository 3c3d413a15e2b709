"""The kernel of a 2.4 image for the ``linux24`` plugins: its symbol table (vmintro's
ISF) and the virtual layer over the physical one volatility3 opened.

volatility3's automagic finds a Linux kernel by its banner in memory, which the
simulated 2.4 kernel's RAM lacks; these plugins take the ISF as an argument and
walk the page tables from ``swapper_pg_dir`` themselves, as the kernel's MMU does
(``LinuxIntel``, or ``LinuxIntelPAE`` when ``pte_t`` is 8 bytes).
"""

from __future__ import annotations

from typing import Any

from volatility3.framework import interfaces
from volatility3.framework.configuration import requirements
from volatility3.framework.layers import intel
from volatility3.framework.symbols import intermed

PAGE_OFFSET = 0xC0000000


def kernel_requirements() -> list[Any]:
    """The physical layer volatility3 opened and vmintro's ISF of its kernel."""
    return [
        requirements.TranslationLayerRequirement(
            name="primary", description="Physical memory (vmintro export --elf64/--lime/--raw)"
        ),
        requirements.URIRequirement(
            name="isf", description="The kernel's symbol table (vmintro export --isf)"
        ),
    ]


def kernel_module(
    context: interfaces.context.ContextInterface, config_path: str, config: Any
) -> interfaces.context.ModuleInterface:
    """The kernel as a volatility3 module: its symbols over its virtual layer."""
    table_name = context.symbol_space.free_table_name("linux24")
    table = intermed.IntermediateSymbolTable(
        context,
        interfaces.configuration.path_join(config_path, "linux24"),
        name=table_name,
        isf_url=config["isf"],
    )
    context.symbol_space.append(table)
    pae = table.get_type("pte_t").size == 8
    layer_name = context.layers.free_layer_name("linux24")
    layer_path = interfaces.configuration.path_join(config_path, layer_name)
    context.config[interfaces.configuration.path_join(layer_path, "memory_layer")] = config[
        "primary"
    ]
    # swapper_pg_dir: a kernel virtual address in the direct map, its physical one below
    dtb = table.get_symbol("swapper_pg_dir").address - PAGE_OFFSET
    context.config[interfaces.configuration.path_join(layer_path, "page_map_offset")] = dtb
    cls = intel.LinuxIntelPAE if pae else intel.LinuxIntel
    context.layers.add_layer(cls(context, layer_path, layer_name))
    return context.module(table_name, layer_name, 0)
