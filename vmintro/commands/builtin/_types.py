"""Type names as crash's ``struct``, ``ptype`` and ``whatis`` take them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.commands.registry import CommandError
from vmintro.errors import NoDebugInfoError

if TYPE_CHECKING:
    from vmintro.program import Program
    from vmintro.types.model import CType

__all__ = ["lookup_type"]


def lookup_type(prog: Program, name: str) -> CType:
    """The type ``name`` spells: ``page`` (a struct tag alone, as crash allows),
    ``struct page``, ``zone_t``, ``unsigned long``, ``struct page *``.

    :raises CommandError: when there is no such type.
    :raises NoDebugInfoError: when there is none because no vmlinux is loaded.
    """
    name = " ".join(name.split())
    candidates = [name]
    if name.split(" ", 1)[0] not in ("struct", "union", "enum"):
        candidates += [f"struct {name}", f"union {name}"]
    for candidate in candidates:
        try:
            return prog.type(candidate)
        except LookupError:
            continue
    if not prog.has_debuginfo:
        raise NoDebugInfoError(f"type '{name}' is unknown")
    raise CommandError(f"no type named '{name}'")
