"""A small model of C types as the i386 System V ABI lays them out.

Every kernel type vmintro knows is written once with these classes (see
:mod:`vmintro.types.kernel`). From that one description come the construct
structs that build and parse memory, the DWARF the image writer emits and the
VMCOREINFO ``SIZE()``/``OFFSET()`` lines. The reader rebuilds the same model
from an image's DWARF, so nothing downstream depends on hard-coded offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import construct as cs

__all__ = [
    "Array",
    "Base",
    "CType",
    "Enum",
    "Field",
    "Function",
    "Pointer",
    "Struct",
    "Typedef",
    "Void",
    "strip_typedefs",
    "to_construct",
]

POINTER_SIZE = 4


class CType:
    """A C type: knows its size (``size``), its alignment and how C spells it."""

    size: int

    @property
    def align(self) -> int:
        return 1

    def spell(self, declarator: str = "") -> str:
        """C spelling of a declaration of ``declarator`` with this type."""
        raise NotImplementedError

    @property
    def c_name(self) -> str:
        return self.spell("")

    def __str__(self) -> str:
        return self.c_name


def _join(base: str, declarator: str) -> str:
    return f"{base} {declarator}" if declarator else base


@dataclass(eq=False)
class Void(CType):
    size: int = 0

    def spell(self, declarator: str = "") -> str:
        return _join("void", declarator)


@dataclass(eq=False)
class Base(CType):
    """An integer, character or boolean type (``unsigned long``, ``char``)."""

    name: str
    size: int
    signed: bool
    char: bool = False

    @property
    def align(self) -> int:
        # i386 SysV: 8-byte integers are 4-byte aligned inside structures.
        return min(self.size, 4)

    def spell(self, declarator: str = "") -> str:
        return _join(self.name, declarator)


@dataclass(eq=False)
class Pointer(CType):
    target: CType
    size: int = POINTER_SIZE

    @property
    def align(self) -> int:
        return POINTER_SIZE

    def spell(self, declarator: str = "") -> str:
        inner = "*" + declarator
        if isinstance(self.target, (Array, Function)):
            inner = f"({inner})"
        return self.target.spell(inner)


@dataclass(eq=False)
class Array(CType):
    element: CType
    count: int

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.element.size * self.count

    @property
    def align(self) -> int:
        return self.element.align

    def spell(self, declarator: str = "") -> str:
        return self.element.spell(f"{declarator}[{self.count}]")


@dataclass(eq=False)
class Function(CType):
    """A function type; only ever seen through a pointer (``int (*init)(void)``)."""

    returns: CType
    params: list[CType] = field(default_factory=list)
    size: int = 1

    def spell(self, declarator: str = "") -> str:
        params = ", ".join(p.c_name for p in self.params) or "void"
        return self.returns.spell(f"{declarator}({params})")


@dataclass(eq=False)
class Enum(CType):
    tag: str
    enumerators: list[tuple[str, int]]
    size: int = 4

    @property
    def align(self) -> int:
        return 4

    def spell(self, declarator: str = "") -> str:
        return _join(f"enum {self.tag}", declarator)


@dataclass(eq=False)
class Typedef(CType):
    name: str
    target: CType

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.target.size

    @property
    def align(self) -> int:
        return self.target.align

    def spell(self, declarator: str = "") -> str:
        return _join(self.name, declarator)


@dataclass(eq=False)
class Field:
    name: str
    type: CType
    offset: int
    bit_size: int = 0
    bit_offset: int = 0


class Struct(CType):
    """A ``struct`` or ``union``. Created empty, then completed with :meth:`define`.

    Two-step construction lets self-referential and mutually referential types
    (``struct list_head``, ``zone_t`` and ``pg_data_t``) point at each other.
    A struct never defined is incomplete (``struct dentry`` seen only through
    a pointer) and is emitted as a declaration.
    """

    def __init__(self, tag: str | None, union: bool = False) -> None:
        self.tag = tag
        self.union = union
        self.fields: list[Field] = []
        self.complete = False
        self.size = 0
        self._align = 1

    @property
    def keyword(self) -> str:
        return "union" if self.union else "struct"

    @property
    def align(self) -> int:
        return self._align

    def spell(self, declarator: str = "") -> str:
        name = f"{self.keyword} {self.tag}" if self.tag else f"{self.keyword} {{...}}"
        return _join(name, declarator)

    def define(self, members: list[tuple[str, CType]]) -> Struct:
        """Lay out ``members`` in order with the i386 ABI's alignment rules."""
        offset = 0
        align = 1
        fields = []
        for name, ctype in members:
            a = ctype.align
            align = max(align, a)
            if self.union:
                fields.append(Field(name, ctype, 0))
                offset = max(offset, ctype.size)
            else:
                offset = (offset + a - 1) // a * a
                fields.append(Field(name, ctype, offset))
                offset += ctype.size
        return self.define_at(fields, (offset + align - 1) // align * align, align)

    def define_at(self, fields: list[Field], size: int, align: int = 4) -> Struct:
        """Complete the struct with explicit offsets (as read back from DWARF)."""
        self.fields = fields
        self.size = size
        self._align = align
        self.complete = True
        return self

    def member(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.spell()} has no member named '{name}'")

    def has_member(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def offsetof(self, path: str) -> int:
        """``offsetof(type, a.b.c)``: member paths and constant indexes (``free_area[3].map``)."""
        return self.resolve(path)[0]

    def resolve(self, path: str) -> tuple[int, CType]:
        offset = 0
        ctype: CType = self
        for part in path.replace("]", "").split("."):
            name, _, index = part.partition("[")
            struct = strip_typedefs(ctype)
            if not isinstance(struct, Struct):
                raise KeyError(f"'{name}' is not a member of non-struct {ctype}")
            f = struct.member(name)
            offset += f.offset
            ctype = f.type
            if index:
                arr = strip_typedefs(ctype)
                if not isinstance(arr, Array):
                    raise KeyError(f"{name} is not an array")
                offset += int(index, 0) * arr.element.size
                ctype = arr.element
        return offset, ctype

    def walk(self, prefix: str = "") -> Iterator[tuple[str, int, CType]]:
        """Every member, nested ones included, as (dotted path, offset, type)."""
        for f in self.fields:
            path = prefix + f.name
            yield path, f.offset, f.type
            inner = strip_typedefs(f.type)
            if isinstance(inner, Struct) and inner.tag is None:
                for p, o, t in inner.walk(path + "."):
                    yield p, f.offset + o, t

    def __repr__(self) -> str:
        return f"<{self.spell()} size={self.size}>"


def strip_typedefs(ctype: CType) -> CType:
    while isinstance(ctype, Typedef):
        ctype = ctype.target
    return ctype


_INTS = {
    (1, False): cs.Int8ul,
    (1, True): cs.Int8sl,
    (2, False): cs.Int16ul,
    (2, True): cs.Int16sl,
    (4, False): cs.Int32ul,
    (4, True): cs.Int32sl,
    (8, False): cs.Int64ul,
    (8, True): cs.Int64sl,
}


def to_construct(ctype: CType) -> cs.Construct:
    """The construct that builds and parses ``ctype``'s bytes (little-endian i386).

    Unions parse as their first member padded to the union's size; char arrays
    as raw bytes. Bitfields are not used by any type vmintro writes.
    """
    t = strip_typedefs(ctype)
    if isinstance(t, Base):
        return _INTS[(t.size, t.signed)]
    if isinstance(t, (Pointer, Enum)):
        return cs.Int32ul
    if isinstance(t, Array):
        elem = strip_typedefs(t.element)
        if isinstance(elem, Base) and elem.char:
            return cs.Bytes(t.count)
        return cs.Array(t.count, to_construct(t.element))
    if isinstance(t, Struct):
        if not t.complete:
            raise TypeError(f"{t.spell()} is incomplete")
        if t.union:
            first = t.fields[0]
            return cs.Struct(
                first.name / to_construct(first.type), cs.Padding(t.size - first.type.size)
            )
        subcons = []
        pos = 0
        for f in t.fields:
            if f.offset > pos:
                subcons.append(cs.Padding(f.offset - pos))
            subcons.append(f.name / to_construct(f.type))
            pos = f.offset + f.type.size
        if t.size > pos:
            subcons.append(cs.Padding(t.size - pos))
        return cs.Struct(*subcons)
    raise TypeError(f"no construct for {ctype}")
