"""Loadable-module helpers (``kernel/module.c``, ``include/linux/module.h``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.errors import FaultError
from vmintro.escape import escape_text
from vmintro.helpers.list import singly_linked
from vmintro.types.flags import MOD_FLAGS

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program

__all__ = ["MOD_FLAGS", "decode_module_flags", "for_each_module", "module_name"]

# More modules than the vmalloc range can hold: a bound for corrupted lists.
MAX_MODULES = 1 << 16


def for_each_module(prog: Program, include_kernel: bool = False) -> Iterator[Object]:
    """Every ``struct module *`` on ``module_list``, newest first.

    The walk stops before ``kernel_module`` (the kernel itself, always the last
    node), as ``/proc/modules`` does, unless ``include_kernel``; then it goes to
    NULL as ``find_module`` does. A broken list raises
    :class:`~vmintro.errors.CorruptionError` naming the node holding the bad link.
    """
    from vmintro.object import Object

    kernel = prog["kernel_module"].address_
    next_offset = prog.type("struct module").offsetof("next")  # type: ignore[attr-defined]
    ptr = prog.type("struct module *")
    first = prog["module_list"].value_()
    for node in singly_linked(prog, first, next_offset, "module_list", MAX_MODULES):
        if node == kernel and not include_kernel:
            break
        yield Object(prog, ptr, node)


def decode_module_flags(flags: int) -> list[str]:
    """``["MOD_RUNNING", "MOD_USED_ONCE"]``; unknown bits as one hex number."""
    names = [name for name, bit in MOD_FLAGS.items() if flags & bit]
    rest = flags & ~sum(MOD_FLAGS.values())
    return names + ([f"{rest:#x}"] if rest else [])


def module_name(mod: Object) -> str:
    """``mod->name``, escaped for display (:func:`~vmintro.escape.escape_text`); a name
    that cannot be read says so instead of failing."""
    try:
        return escape_text(mod.name.string_(64))
    except FaultError:
        return f"<name at {mod.name.value_():#x} unreadable>"
