"""volatility3's symbol table (ISF, format 6.2.0) for an image's kernel.

The types are the image's own (its vmlinux's DWARF, which the generator emits
from the one type source, ``vmintro/types/kernel.py``), written as dwarf2json
writes a vmlinux's: structs and unions under their tags, typedefs resolved to
what they name (an anonymous struct takes its typedef's name: ``pte_t``), base
types by C name, every typed global at its address. Two things a 2.4 kernel
does not give volatility3 are supplied, and said so in ``metadata``:

* ``linux_banner``: volatility3 recognises a Linux image by the banner string
  in memory and the ISF whose ``linux_banner`` holds the same bytes. The
  symbol is given the 2.4.20 banner as ``constant_data``; the simulated
  kernel's RAM does not hold it, so automagic cannot identify the image and
  the ``linux24`` plugins build their layer from ``swapper_pg_dir`` instead.
* empty stand-ins for the types ``LinuxKernelIntermedSymbols`` attaches its
  classes to (``file``, ``inode``, ``cred`` ...) that the image's kernel lacks:
  this memory-manager model has none of them, and the loader refuses a table
  without them. ``task_struct``, ``mm_struct``, ``list_head`` and ``page`` are
  the image's own, as 2.4.20 lays them out (an image written before its kernel
  kept tasks gets a stand-in ``task_struct``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from vmintro._version import __version__
from vmintro.types.model import Array, Base, Enum, Function, Pointer, Struct, Typedef, Void

if TYPE_CHECKING:
    from vmintro.program import Program
    from vmintro.types.model import CType

__all__ = ["ISF_FORMAT", "LINUX_BANNER", "STUBBED_TYPES", "isf_document"]

ISF_FORMAT = "6.2.0"
# init/version.c's banner for this build (uniprocessor, gcc 2.96, as the model says)
LINUX_BANNER = (
    "Linux version 2.4.20 (vmintro@simulated) (gcc version 2.96 20000731) #1 "
    "Thu Nov 28 00:00:00 UTC 2002\n"
)
# types volatility3's LinuxKernelIntermedSymbols.__init__ calls set_type_class on:
# each is an empty stand-in only where the image's kernel has no such type
STUBBED_TYPES = (
    "file",
    "list_head",
    "hlist_head",
    "mm_struct",
    "super_block",
    "task_struct",
    "vm_area_struct",
    "qstr",
    "dentry",
    "fs_struct",
    "files_struct",
    "kobject",
    "cred",
    "inode",
    "idr",
    "address_space",
    "page",
    "vfsmount",
    "net",
    "socket",
    "sock",
    "inet_sock",
    "unix_sock",
)


class _Writer:
    def __init__(self) -> None:
        self.base_types: dict[str, Any] = {
            "void": {"kind": "void", "size": 0, "signed": False, "endian": "little"},
            "pointer": {"kind": "int", "size": 4, "signed": False, "endian": "little"},
        }
        self.user_types: dict[str, Any] = {}
        self.enums: dict[str, Any] = {}
        self._names: dict[int, str] = {}  # id(struct) -> its ISF name
        self._todo: list[tuple[str, Struct]] = []

    def struct_name(self, t: Struct, typedef: str | None = None) -> str:
        name = self._names.get(id(t))
        if name is None:
            name = t.tag or typedef or f"unnamed_{len(self._names)}"
            self._names[id(t)] = name
            self._todo.append((name, t))
        return name

    def describe(self, ctype: CType, typedef: str | None = None) -> dict[str, Any]:
        """dwarf2json's type descriptor of ``ctype``."""
        if isinstance(ctype, Typedef):
            return self.describe(ctype.target, ctype.name)
        if isinstance(ctype, Void):
            return {"kind": "base", "name": "void"}
        if isinstance(ctype, Base):
            kind = "char" if ctype.char else "int"
            self.base_types[ctype.name] = {
                "kind": kind,
                "size": ctype.size,
                "signed": ctype.signed,
                "endian": "little",
            }
            return {"kind": "base", "name": ctype.name}
        if isinstance(ctype, Pointer):
            return {"kind": "pointer", "subtype": self.describe(ctype.target)}
        if isinstance(ctype, Array):
            return {"kind": "array", "count": ctype.count, "subtype": self.describe(ctype.element)}
        if isinstance(ctype, Function):
            return {"kind": "function"}
        if isinstance(ctype, Enum):
            name = ctype.tag or typedef or f"unnamed_enum_{len(self.enums)}"
            self.enums[name] = {
                "size": ctype.size,
                "base": "int",
                "constants": dict(ctype.enumerators),
            }
            return {"kind": "enum", "name": name}
        assert isinstance(ctype, Struct)
        kind = "union" if ctype.union else "struct"
        return {"kind": kind, "name": self.struct_name(ctype, typedef)}

    def finish(self) -> None:
        """Write out every struct named so far (and those their members name)."""
        while self._todo:
            name, t = self._todo.pop()
            fields: dict[str, Any] = {}
            for f in t.fields:
                desc = self.describe(f.type)
                if f.bit_size:
                    desc = {
                        "kind": "bitfield",
                        "bit_position": f.bit_offset,
                        "bit_length": f.bit_size,
                        "type": desc,
                    }
                fields[f.name or f"unnamed_field_{f.offset:x}"] = {"type": desc, "offset": f.offset}
            kind = "union" if t.union else "struct"
            self.user_types[name] = {"kind": kind, "size": t.size, "fields": fields}


def isf_document(prog: Program) -> dict[str, Any]:
    """The ISF of ``prog``'s kernel: its types, its typed globals at their addresses,
    ``linux_banner`` and the stand-ins volatility3's Linux loader needs.
    """
    writer = _Writer()
    for ctype in prog.types().values():
        writer.describe(ctype)
    symbols: dict[str, Any] = {}
    for sym in prog.symbols():
        entry: dict[str, Any] = {"address": sym.address}
        if sym.name in prog:
            entry["type"] = writer.describe(prog.variable(sym.name).type_)
        symbols[sym.name] = entry
    banner = LINUX_BANNER.encode() + b"\0"
    symbols["linux_banner"] = {
        "address": symbols.get("linux_banner", {}).get("address", 0),
        "type": {
            "kind": "array",
            "count": len(banner),
            "subtype": {"kind": "base", "name": "char"},
        },
        "constant_data": base64.b64encode(banner).decode(),
    }
    writer.base_types.setdefault(
        "char", {"kind": "char", "size": 1, "signed": True, "endian": "little"}
    )
    writer.finish()
    for name in STUBBED_TYPES:
        writer.user_types.setdefault(name, {"kind": "struct", "size": 0, "fields": {}})
    return {
        "metadata": {
            "format": ISF_FORMAT,
            "producer": {"name": "vmintro", "version": __version__},
            "linux": {"symbols": [{"kind": "dwarf", "name": "vmlinux"}]},
        },
        "base_types": writer.base_types,
        "user_types": writer.user_types,
        "enums": writer.enums,
        "symbols": symbols,
    }
