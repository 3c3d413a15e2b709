"""Writing the VMCOREINFO note (:mod:`vmintro.image.format.vmcoreinfo`) of a simulated kernel.

Every size and offset comes from :mod:`vmintro.types.kernel`, so the note
always agrees with the DWARF written beside it.
"""

from __future__ import annotations

import re

from vmintro.image.format.vmcoreinfo import (
    OSRELEASE,
    PAGESIZE,
    VMCOREINFO_LENGTHS,
    VMCOREINFO_OFFSETS,
    VMCOREINFO_TYPES,
    e820_line,
)
from vmintro.image.writer.spec import ImageSpec
from vmintro.types.flags import MAX_ORDER, PAGE_FLAGS
from vmintro.types.kernel import KernelTypes
from vmintro.types.model import Array, strip_typedefs

__all__ = ["build_vmcoreinfo"]

_SYMBOL_NAME_RE = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*")


def _array_length(types: KernelTypes, owner: str | None, name: str) -> int:
    if owner is None:
        ctype = types.variables[name]
    else:
        ctype = types.struct(owner).member(name).type
    arr = strip_typedefs(ctype)
    if not isinstance(arr, Array):
        raise TypeError(f"{name} is not an array")
    return arr.count


def _symbol_lines(spec: ImageSpec) -> list[str]:
    # Several file-local symbols may share a name; the global one (if any) wins,
    # otherwise the first, so that each SYMBOL() key appears once.
    chosen: dict[str, int] = {}
    is_global: dict[str, bool] = {}
    for sym in spec.symbols:
        if not _SYMBOL_NAME_RE.fullmatch(sym.name):
            raise ValueError(f"symbol name {sym.name!r} cannot be written to VMCOREINFO")
        if sym.name in chosen:
            if is_global[sym.name] and not sym.local:
                raise ValueError(f"two global symbols named {sym.name}")
            if is_global[sym.name] or sym.local:
                continue
        chosen[sym.name] = sym.address
        is_global[sym.name] = not sym.local
    return [f"SYMBOL({name})={address:x}" for name, address in sorted(chosen.items())]


def build_vmcoreinfo(spec: ImageSpec) -> str:
    """The VMCOREINFO text for ``spec``, every line ``\\n``-terminated."""
    types = spec.types
    lines = [f"OSRELEASE={OSRELEASE}", f"PAGESIZE={PAGESIZE}"]
    lines += _symbol_lines(spec)
    lines += [f"SIZE({s})={types.sizeof(c)}" for s, c in VMCOREINFO_TYPES.items()]
    for short, members in VMCOREINFO_OFFSETS.items():
        struct = types.struct(VMCOREINFO_TYPES[short])
        for member in members:
            name = member.rstrip("?")
            if member.endswith("?") and not struct.has_member(name):
                continue
            lines.append(f"OFFSET({short}.{name})={struct.offsetof(name)}")
    lines += [
        f"LENGTH({key})={_array_length(types, owner, name)}"
        for key, owner, name in VMCOREINFO_LENGTHS
    ]
    lines.append(f"NUMBER(MAX_ORDER)={MAX_ORDER}")
    lines += [f"NUMBER({flag})={bit}" for flag, bit in PAGE_FLAGS.items()]
    if spec.config.highmem:
        lines.append("CONFIG_HIGHMEM=y")
    if spec.config.pae:
        lines.append("CONFIG_X86_PAE=y")
    lines += [
        e820_line(i, start, end, kind) for i, (start, end, kind) in enumerate(spec.config.e820)
    ]
    lines.append("KERNELOFFSET=0")
    return "".join(line + "\n" for line in lines)
