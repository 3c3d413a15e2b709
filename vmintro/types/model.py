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
from typing import TYPE_CHECKING

from vmintro.errors import MemberNotFoundError

if TYPE_CHECKING:
    import construct as cs

__all__ = [
    "Array",
    "Base",
    "CType",
    "Enum",
    "Field",
    "Function",
    "LayoutError",
    "Pointer",
    "QUALIFIERS",
    "Qualified",
    "Struct",
    "Typedef",
    "Void",
    "check_types",
    "qualified",
    "strip_typedefs",
    "to_construct",
]

POINTER_SIZE = 4
# Nothing on i386 is as big as the 32-bit address space it lives in.
ADDRESS_SPACE = 1 << 32
# Longer chains of types inside types (members, elements, typedef and pointer
# targets) than any kernel has; the printers and parsers recurse along them.
MAX_TYPE_DEPTH = 64
_SCALAR_SIZES = (1, 2, 4, 8)


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

    def spell(self, declarator: str = "", qualifier: str = "") -> str:
        """``int *p``; with ``qualifier`` on the pointer itself, ``int * volatile p``."""
        inner = f"* {_join(qualifier, declarator)}" if qualifier else "*" + declarator
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


class _LaidOutAsTarget(CType):
    """A type laid out as the type it names (a typedef, a qualified type)."""

    target: CType

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.target.size

    @property
    def align(self) -> int:
        return self.target.align


@dataclass(eq=False)
class Typedef(_LaidOutAsTarget):
    name: str
    target: CType

    def spell(self, declarator: str = "") -> str:
        return _join(self.name, declarator)


@dataclass(eq=False)
class Field:
    name: str
    type: CType
    offset: int
    bit_size: int = 0
    bit_offset: int = 0
    # `volatile int counter`: a qualifier on the member's declaration, which
    # changes no layout (DWARF wraps the member's type in DW_TAG_volatile_type)
    volatile: bool = False

    @property
    def declared(self) -> CType:
        """The member's type as declared: :attr:`type` qualified ``volatile`` where the
        member is (the type of the object ``member_`` makes, as gdb's ``whatis`` and
        drgn's ``type_`` give it), else :attr:`type` itself. One per member, so that
        what is kept per type (object classes) is kept once."""
        if not self.volatile:
            return self.type
        mine = self.__dict__.get("_declared")
        if mine is None or mine.target is not self.type:
            mine = self.__dict__["_declared"] = Qualified(self.type, "volatile")
        return mine

    def spell(self, declarator: str = "") -> str:
        """C spelling of ``declarator`` with the member's declared type, its qualifier
        where C (and gdb's ``ptype``, drgn's type names) put it: ``volatile int
        counter``, ``int * volatile p`` (the pointer qualified), ``volatile int v[3]``
        (an array's elements qualified).
        """
        return self.declared.spell(declarator)


@dataclass(eq=False)
class Qualified(_LaidOutAsTarget):
    """``target`` with qualifiers (``volatile``, ``const volatile``): drgn's
    ``Type.qualifiers``. They change no layout, so :func:`strip_typedefs` strips
    them as it strips typedefs; only the spelling keeps them."""

    target: CType
    qualifier: str = "volatile"  # the words in C's (and gdb's) order: const volatile

    def spell(self, declarator: str = "") -> str:
        return _spell_qualified(self.target, self.qualifier, declarator)


QUALIFIERS = ("const", "volatile")  # in the order gdb and drgn spell them


def qualified(ctype: CType, qualifiers: set[str] | frozenset[str]) -> CType:
    """``ctype`` with ``qualifiers`` (words of :data:`QUALIFIERS`) added to its own."""
    if isinstance(ctype, Qualified):
        qualifiers = qualifiers | set(ctype.qualifier.split())
        ctype = ctype.target
    words = [q for q in QUALIFIERS if q in qualifiers]
    return Qualified(ctype, " ".join(words)) if words else ctype


def _spell_qualified(ctype: CType, qualifier: str, declarator: str) -> str:
    """``declarator`` with ``ctype`` qualified ``qualifier``."""
    if isinstance(ctype, Pointer):
        return ctype.spell(declarator, qualifier)
    if isinstance(ctype, Array):  # C qualifies an array's elements
        return _spell_qualified(ctype.element, qualifier, f"{declarator}[{ctype.count}]")
    return f"{qualifier} " + ctype.spell(declarator)


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
        """The member called ``name``.

        :raises MemberNotFoundError: (a KeyError) when the struct, as the vmlinux's DWARF
            gives it, has none.
        """
        for f in self.fields:
            if f.name == name:
                return f
        raise MemberNotFoundError(f"{self.spell()} has no member named '{name}'")

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
            ctype = f.declared
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
    """``ctype`` without its typedefs and qualifiers: what it is laid out as."""
    while isinstance(ctype, (Typedef, Qualified)):
        ctype = ctype.target
    return ctype


def _int_construct(size: int, signed: bool) -> cs.Construct:
    import construct as cs

    ints = {
        (1, False): cs.Int8ul,
        (1, True): cs.Int8sl,
        (2, False): cs.Int16ul,
        (2, True): cs.Int16sl,
        (4, False): cs.Int32ul,
        (4, True): cs.Int32sl,
        (8, False): cs.Int64ul,
        (8, True): cs.Int64sl,
    }
    return ints[(size, signed)]


def to_construct(ctype: CType) -> cs.Construct:
    """The construct that builds and parses ``ctype``'s bytes (little-endian i386).

    Unions parse as their first member padded to the union's size; char arrays
    as raw bytes. Bitfields are not used by any type vmintro writes.
    """
    # construct only when a construct is asked for: opening an image needs none
    import construct as cs

    t = strip_typedefs(ctype)
    if isinstance(t, Base):
        return _int_construct(t.size, t.signed)
    if isinstance(t, Pointer):
        return cs.Int32ul
    if isinstance(t, Enum):
        return _int_construct(t.size, False)
    if isinstance(t, Array):
        elem = strip_typedefs(t.element)
        if isinstance(elem, Base) and elem.char:
            return cs.Bytes(t.count)
        return cs.Array(t.count, to_construct(t.element))
    if isinstance(t, Struct):
        if not t.complete:
            raise TypeError(f"{t.spell()} is incomplete")
        if t.union and not t.fields:
            return cs.Padding(t.size)
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


class LayoutError(ValueError):
    """A type no i386 C compiler could produce; ``ctype`` is the type at fault."""

    def __init__(self, ctype: CType, message: str) -> None:
        super().__init__(message)
        self.ctype = ctype


def _by_value(ctype: CType) -> list[tuple[str, CType]]:
    """The types ``ctype`` holds or names, each with how (``"member next"``).

    A pointer or function leads on only to a type spelt without a name (a
    pointer to a pointer): a named struct or typedef ends the chain there, as
    it ends C's spelling of the type and the printers' recursion.
    """
    if isinstance(ctype, Typedef):
        return [("its target", ctype.target)]
    if isinstance(ctype, Array):
        return [("its element", ctype.element)]
    if isinstance(ctype, Struct):
        return [(f"member {f.name or '(anonymous)'}", f.type) for f in ctype.fields]
    targets: list[CType] = []
    if isinstance(ctype, Pointer):
        targets = [ctype.target]
    elif isinstance(ctype, Function):
        targets = [ctype.returns, *ctype.params]
    return [("its target", t) for t in targets if not isinstance(t, (Struct, Typedef))]


def _label(ctype: CType) -> str:
    """A name for ``ctype`` that never recurses: its C name when it has one."""
    if isinstance(ctype, (Struct, Typedef, Base, Enum, Void)):
        return ctype.c_name
    return f"an unnamed {type(ctype).__name__.lower()} type"


def _sized(ctype: CType, what: str, owner: CType) -> None:
    """``ctype`` must be a complete object type: it is held by value as ``what``."""
    t = strip_typedefs(ctype)
    while isinstance(t, Array):
        t = strip_typedefs(t.element)
    if isinstance(t, (Void, Function)):
        raise LayoutError(
            owner, f"{owner.c_name}: {what} has type {ctype.c_name}, which has no size"
        )
    if isinstance(t, Struct) and not t.complete:
        raise LayoutError(owner, f"{owner.c_name}: {what} has incomplete type {ctype.c_name}")


def _check_one(ctype: CType) -> None:
    """The layout of ``ctype`` itself: sizes, counts and offsets an i386 build could have.

    Run after :func:`_check_depths`, so every size here is finite.
    """
    name = ctype.c_name
    if isinstance(ctype, (Base, Enum)) and ctype.size not in _SCALAR_SIZES:
        raise LayoutError(ctype, f"{name} has size {ctype.size}: a scalar is 1, 2, 4 or 8 bytes")
    if isinstance(ctype, Pointer) and ctype.size != POINTER_SIZE:
        raise LayoutError(ctype, f"{name} has size {ctype.size}: an i386 pointer is 4 bytes")
    if isinstance(ctype, Array):
        _sized(ctype.element, "its element", ctype)
        if ctype.count < 0 or ctype.count * ctype.element.size >= ADDRESS_SPACE:
            raise LayoutError(
                ctype,
                f"array of {ctype.count} x {ctype.element.size} bytes: larger than the "
                f"4 GiB address space",
            )
    if isinstance(ctype, Struct) and ctype.complete:
        if not 0 <= ctype.size < ADDRESS_SPACE:
            raise LayoutError(
                ctype, f"{name} has size {ctype.size:#x}: larger than the 4 GiB address space"
            )
        end, before = 0, ""  # where the member before ends, and which it is
        for f in ctype.fields:
            what = f"member {f.name or '(anonymous)'}"
            _sized(f.type, what, ctype)
            if f.bit_size:
                end_bits = (f.offset * 8) + f.bit_offset + f.bit_size
                if f.bit_size > 8 * strip_typedefs(f.type).size or end_bits > 8 * ctype.size:
                    raise LayoutError(
                        ctype,
                        f"{name}: bitfield {f.name} ({f.bit_size} bits ending at bit {end_bits}) "
                        f"does not fit in its type or in the {ctype.size}-byte struct",
                    )
            elif f.offset < 0 or f.offset + f.type.size > ctype.size:
                raise LayoutError(
                    ctype,
                    f"{name}: {what} at offset {f.offset:#x} ({f.type.size} bytes) ends past "
                    f"the struct's size {ctype.size:#x}",
                )
            elif not ctype.union:
                # C lays a struct's members out in order, each after the one before
                if f.offset < end:
                    raise LayoutError(
                        ctype,
                        f"{name}: {what} at offset {f.offset:#x} overlaps {before}, which "
                        f"ends at {end:#x}",
                    )
                end, before = f.offset + f.type.size, what


def _check_depths(roots: list[CType]) -> None:
    """No type contains itself by value, and no chain of types is deeper than
    :data:`MAX_TYPE_DEPTH`: a walk of the graph of :func:`_by_value`, without recursion.
    """
    depth: dict[int, int] = {}  # id -> longest chain below, once finished
    keep: list[CType] = []  # keeps the ids above meaningful
    for root in roots:
        if id(root) in depth:
            continue
        path: list[tuple[CType, str]] = []  # the types being walked, with how each was reached
        on_path: set[int] = set()
        stack: list[tuple[CType, str, bool]] = [(root, "", False)]
        while stack:
            ctype, how, leaving = stack.pop()
            key = id(ctype)
            if leaving:
                path.pop()
                on_path.discard(key)
                below = [depth[id(t)] for _h, t in _by_value(ctype)]
                depth[key] = 1 + max(below, default=0)
                if depth[key] > MAX_TYPE_DEPTH:
                    raise LayoutError(
                        ctype, f"{_label(ctype)}: types nested more than {MAX_TYPE_DEPTH} deep"
                    )
                keep.append(ctype)
                continue
            if key in depth:
                continue
            if key in on_path:
                start = next(i for i, (t, _h) in enumerate(path) if t is ctype)
                steps = [*path[start + 1 :], (ctype, how)]
                chain = [f"{h}: {t.c_name}" for t, h in steps]
                raise LayoutError(
                    ctype, f"{ctype.c_name} contains itself by value ({'; '.join(chain)})"
                )
            path.append((ctype, how))
            on_path.add(key)
            stack.append((ctype, how, True))
            for child_how, child in reversed(_by_value(ctype)):
                stack.append((child, child_how, False))


def check_types(types: list[CType]) -> None:
    """Refuse types no i386 build could have, as read from an untrusted image.

    A struct containing itself by value (directly or through arrays, typedefs
    or other structs), chains of types deeper than :data:`MAX_TYPE_DEPTH`,
    sizes beyond the 32-bit address space, members outside their struct,
    members of incomplete type, scalars and pointers of impossible sizes.

    :raises LayoutError: naming the first such type.
    """
    _check_depths(types)
    # Structs last: a member's own type is judged before the struct holding it.
    for ctype in sorted(types, key=lambda t: isinstance(t, Struct)):
        _check_one(ctype)
