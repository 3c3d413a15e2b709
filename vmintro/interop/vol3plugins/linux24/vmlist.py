"""``linux24.vmlist``: the vmalloc areas on a 2.4 kernel's ``vmlist`` (vmintro's
``vmlist``, crash's ``kmem -v``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from volatility3.framework import interfaces, renderers
from volatility3.framework.renderers import format_hints
from volatility3.plugins.linux24 import kernel24

# vmalloc's range holds at most one area (and its guard page) per two pages
MAX_AREAS = (0xFFFFE000 - 0xC0000000) >> 13


class VmList(interfaces.plugins.PluginInterface):
    """Lists the vm_structs on vmlist: address, range, size and flags."""

    _required_framework_version = (2, 0, 0)
    _version = (1, 0, 0)

    @classmethod
    def get_requirements(cls) -> list[Any]:
        return kernel24.kernel_requirements()

    def _generator(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        kernel = kernel24.kernel_module(self.context, self.config_path, self.config)
        node = kernel.object_from_symbol("vmlist")
        seen: set[int] = set()
        while node and int(node) not in seen and len(seen) < MAX_AREAS:
            seen.add(int(node))
            area = node.dereference()
            addr, size = int(area.addr), int(area.size)
            yield (
                0,
                (
                    format_hints.Hex(int(node)),
                    format_hints.Hex(addr),
                    format_hints.Hex(addr + size),
                    size,
                    int(area.flags),
                ),
            )
            node = area.next

    def run(self) -> renderers.TreeGrid:
        columns = [
            ("VM_STRUCT", format_hints.Hex),
            ("START", format_hints.Hex),
            ("END", format_hints.Hex),
            ("SIZE", int),
            ("FLAGS", int),
        ]
        return renderers.TreeGrid(columns, self._generator())
