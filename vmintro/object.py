"""Typed values in the kernel's memory, modelled on drgn's ``Object``.

An object is either a *reference* (a type and an address: nothing is read until
a value is needed) or a *value* (a type and the bytes or integer it holds)::

    >>> vmlist = prog["vmlist"]
    >>> vmlist.next.addr            # pointers to structs dereference, as C's ->
    Object(prog, 'void *', address=0xc1234574)
    >>> mem_map[pfn].flags.value_()
    16384

Member names are attributes; everything else ends with an underscore
(``value_()``, ``address_``, ``type_``) so the two never clash. Structs and
arrays are parsed by construct structs built from their type, never from
offsets written here.

Objects are instances of small subclasses of :class:`Object`, made per
program on first use: one per struct, one per pointer-to-struct type and one
per scalar format. A struct's members are properties of its class, so
``area.addr`` is found by ordinary attribute lookup instead of failing first
and falling back to ``__getattr__``, and a scalar's ``value_`` unpacks its
bytes with no type dispatch. They behave exactly as :class:`Object` does, and
``isinstance(obj, Object)`` holds for all of them.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vmintro.accel import speedups as _speedups
from vmintro.cprint import format_object
from vmintro.errors import FaultError, MemberNotFoundError
from vmintro.types.conversions import LONG, common_type, is_integer, promote
from vmintro.types.model import (
    Array,
    Base,
    CType,
    Enum,
    Function,
    Pointer,
    Struct,
    Void,
    strip_typedefs,
)

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["Object", "cast", "class_for_type", "container_of", "sizeof", "values_of"]

_ADDRESS_MASK = 0xFFFFFFFF
_new = object.__new__
_FORMATS: dict[tuple[int, bool], struct.Struct] = {}


def _is_scalar(t: CType) -> bool:
    return isinstance(t, (Base, Pointer, Enum))


def _scalar_format(t: CType) -> struct.Struct:
    signed = isinstance(t, Base) and t.signed
    fmt = _FORMATS.get((t.size, signed))
    if fmt is None:
        code = {1: "b", 2: "h", 4: "i", 8: "q"}[t.size]
        fmt = _FORMATS[t.size, signed] = struct.Struct("<" + (code if signed else code.upper()))
    return fmt


def _truncate(t: CType, value: int) -> int:
    """``value`` converted to C type ``t`` (wrapping, as the conversion does in C)."""
    bits = 8 * t.size
    value &= (1 << bits) - 1
    if isinstance(t, Base) and t.signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _element_size(t: Pointer) -> int:
    target = strip_typedefs(t.target)
    if isinstance(target, (Void, Function)) or (isinstance(target, Struct) and not target.complete):
        raise TypeError(f"cannot do arithmetic on '{t.c_name}': target has no size")
    return target.size


class Object:
    """A typed value: ``Object(prog, "struct page", address=0xc1000020)`` or
    ``Object(prog, "unsigned long", 42)``.
    """

    __slots__ = ("prog_", "type_", "address_", "_value")

    prog_: Program
    type_: CType
    address_: int | None
    # A value's int (scalars) or bytes (structs, arrays); None for a reference.
    _value: Any
    # True on the subclasses made here for a type (see class_for_type).
    _by_type: ClassVar[bool] = False

    def __init__(
        self,
        prog: Program,
        type: str | CType,
        value: Any = None,
        *,
        address: int | None = None,
    ) -> None:
        if (value is None) == (address is None):
            raise ValueError("an Object needs exactly one of value and address")
        self.prog_ = prog
        self.type_ = prog.type(type)
        self.address_ = address
        self._value = None if value is None else _coerce(self.type_, value)
        if self.__class__ is Object or self._by_type:  # a caller's own subclass stays
            cls = prog.object_class(self.type_)
            if cls is not Object:
                self.__class__ = cls

    @classmethod
    def _make(
        cls, prog: Program, ctype: CType, address: int | None = None, value: Any = None
    ) -> Object:
        # The generated classes belong to one program and one type: pick again.
        obj = _new(prog.object_class(ctype) if cls is Object or cls._by_type else cls)
        obj.prog_ = prog
        obj.type_ = ctype
        obj.address_ = address
        obj._value = value
        return obj

    # -- reading -------------------------------------------------------------------------

    def _raw(self) -> bytes:
        """The object's bytes: read from memory for a reference."""
        if self.address_ is not None:
            return self.prog_.read(self.address_, self.type_.size)
        if isinstance(self._value, int):
            return _scalar_format(strip_typedefs(self.type_)).pack(self._value)
        return self._value

    def _int(self) -> int:
        """The value of a scalar, or the address an array decays to."""
        t = strip_typedefs(self.type_)
        if _is_scalar(t):
            if self._value is not None:
                return self._value
            address = self.address_
            assert address is not None  # no value, so a reference
            return _scalar_format(t).unpack(self.prog_.read(address, t.size))[0]
        if isinstance(t, Array) and self.address_ is not None:
            return self.address_
        raise TypeError(f"'{self.type_.c_name}' is not an integer or pointer")

    def _tree(self) -> Any:
        """The value as plain Python data (ints, bytes for char arrays, lists, dicts)."""
        t = strip_typedefs(self.type_)
        if _is_scalar(t):
            return self._int()
        if not isinstance(t, (Struct, Array)):
            raise TypeError(f"'{self.type_.c_name}' has no value")
        raw = self._raw()
        return _decode(self.prog_, t, self.prog_.construct_for(self.type_).parse(raw), raw, 0)

    def value_(self) -> Any:
        """The value as Python data: int for integers and pointers, dict for structs,
        list for arrays, str for char arrays (up to the first NUL).
        """
        return _stringify(strip_typedefs(self.type_), self._tree())

    def read_(self) -> Object:
        """A value object holding what a reference's memory holds now."""
        if self.address_ is None:
            return self
        t = strip_typedefs(self.type_)
        value = self._int() if _is_scalar(t) else self._raw()
        return Object._make(self.prog_, self.type_, value=value)

    def string_(self, limit: int = 4096) -> bytes:
        """The NUL-terminated string a ``char *`` points at or a ``char []`` holds."""
        t = strip_typedefs(self.type_)
        if isinstance(t, Array):
            data = self._raw()
        elif isinstance(t, Pointer):
            data = _read_string(self.prog_, self._int(), limit)
        else:
            raise TypeError(f"'{self.type_.c_name}' is not a string")
        return data.split(b"\0", 1)[0]

    # -- navigation ----------------------------------------------------------------------

    def member_(self, name: str) -> Object:
        """Member ``name`` (``"lru"``, ``"free_area[3].map"``); through a pointer, as ``->``."""
        t = strip_typedefs(self.type_)
        if isinstance(t, Pointer):
            return self.deref().member_(name)
        if not isinstance(t, Struct):
            raise TypeError(f"'{self.type_.c_name}' is not a structure or union")
        try:
            offset, ctype = t.resolve(name)
            field = t.member(name) if name.isidentifier() else None
        except KeyError:
            raise MemberNotFoundError(f"'{self.type_.c_name}' has no member '{name}'") from None
        if field is not None and field.bit_size:
            raw = (
                self.prog_.read(self.address_ + offset, ctype.size)
                if (self.address_ is not None)
                else self._value[offset : offset + ctype.size]
            )
            word = _scalar_format(strip_typedefs(ctype)).unpack(raw)[0]
            bits = (word >> field.bit_offset) & ((1 << field.bit_size) - 1)
            return Object._make(self.prog_, ctype, value=bits)
        if self.address_ is not None:
            return Object._make(self.prog_, ctype, address=self.address_ + offset)
        return _from_bytes(self.prog_, ctype, self._value[offset : offset + ctype.size])

    def __getattr__(self, name: str) -> Object:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.member_(name)
        except (LookupError, TypeError) as e:
            raise MemberNotFoundError(str(e)) from None

    def __dir__(self) -> list[str]:
        names = set(super().__dir__())
        t = strip_typedefs(self.type_)
        if isinstance(t, Pointer):
            t = strip_typedefs(t.target)
        if isinstance(t, Struct):
            names.update(f.name for f in t.fields if f.name)
        return sorted(names)

    def __getitem__(self, index: Any) -> Object:
        """``ptr[i]`` (``mem_map[pfn]``) or ``array[i]``."""
        i = operator.index(index)
        t = strip_typedefs(self.type_)
        if isinstance(t, Pointer):
            size = _element_size(t)
            address = (self._int() + i * size) & _ADDRESS_MASK
            return Object._make(self.prog_, t.target, address=address)
        if isinstance(t, Array):
            size = t.element.size
            if self.address_ is not None:
                return Object._make(self.prog_, t.element, address=self.address_ + i * size)
            if not 0 <= i < t.count:
                raise IndexError(f"index {i} out of range for '{self.type_.c_name}'")
            return _from_bytes(self.prog_, t.element, self._value[i * size : (i + 1) * size])
        raise TypeError(f"'{self.type_.c_name}' is not an array or pointer")

    def __iter__(self) -> Iterator[Object]:
        """An array's elements, in order. Anything else, a pointer above all (whose
        ``[i]`` has no end), is not iterable, as in drgn.
        """
        t = strip_typedefs(self.type_)
        if not isinstance(t, Array):
            raise TypeError(f"'{self.type_.c_name}' is not iterable")
        return (self[i] for i in range(t.count))

    def deref(self) -> Object:
        """``*ptr``: the object a pointer points at (the first element of an array)."""
        t = strip_typedefs(self.type_)
        if isinstance(t, Pointer):
            return Object._make(self.prog_, t.target, address=self._int())
        if isinstance(t, Array):
            return self[0]
        raise TypeError(f"cannot dereference '{self.type_.c_name}'")

    def dereference_(self) -> Object:
        """drgn's name for :meth:`deref`: ``*ptr``."""
        return self.deref()

    def format_(
        self,
        *,
        integer_base: int = 10,
        type_name: bool = True,
        member_type_names: bool = True,
        dereference: bool = True,
        columns: int | None = None,
    ) -> str:
        """The value as drgn's ``Object.format_()`` writes it::

            (struct vm_struct){
                .flags = (unsigned long)2,
                .addr = (void *)0xc4800000,
                ...
            }

        ``integer_base`` 10 or 16 (pointers are always hex), ``type_name`` the
        ``(type)`` before the value, ``member_type_names`` before each member's,
        ``dereference`` a pointer's target after it (``*(struct vm_struct *)0x...
        = {...}``) where it can be read; ``columns`` is accepted for drgn's
        signature (members go one a line).
        """
        if integer_base not in (8, 10, 16):
            raise ValueError(f"integer_base must be 8, 10 or 16, not {integer_base}")
        body = _drgn_format(
            self.prog_, self.type_, self.value_(), integer_base, member_type_names, 0
        )
        shown = f"({self.type_.c_name}){body}" if type_name else body
        t = strip_typedefs(self.type_)
        if dereference and isinstance(t, Pointer) and self._int():
            target = strip_typedefs(t.target)
            char = isinstance(target, Base) and target.char and target.size == 1
            if not isinstance(target, (Void, Function)) and not char:
                try:  # drgn shows what a pointer points at, where it can be read
                    value = self.deref().value_()
                except FaultError:
                    return shown
                inner = _drgn_format(
                    self.prog_, t.target, value, integer_base, member_type_names, 0
                )
                return f"*{shown} = {inner}"
        return shown

    def address_of_(self) -> Object:
        """``&obj``: a pointer value to a reference object."""
        if self.address_ is None:
            raise ValueError("cannot take the address of a value")
        return Object._make(self.prog_, Pointer(self.type_), value=self.address_)

    # -- Python protocols ----------------------------------------------------------------

    def __int__(self) -> int:
        return self._int()

    def __index__(self) -> int:
        return self._int()

    def __bool__(self) -> bool:
        return self._int() != 0

    def __format__(self, spec: str) -> str:
        return format(self._int(), spec) if spec else str(self)

    def __repr__(self) -> str:
        type_name = self.type_.c_name
        if self.address_ is not None:
            return f"Object(prog, '{type_name}', address={self.address_:#x})"
        t = strip_typedefs(self.type_)
        if isinstance(t, Pointer):
            return f"Object(prog, '{type_name}', value={self._value:#x})"
        return f"Object(prog, '{type_name}', value={self.value_()!r})"

    def __str__(self) -> str:
        return format_object(self.prog_, self.type_, self._tree())

    # -- comparison and arithmetic -------------------------------------------------------

    def _compare(self, other: Any, op: Callable[[int, int], bool]) -> Any:
        b = _operand(other)
        if b is NotImplemented or not _is_scalar_like(self):
            return NotImplemented
        return op(self._int(), b)

    def __eq__(self, other: Any) -> Any:
        return self._compare(other, operator.eq)

    def __ne__(self, other: Any) -> Any:
        return self._compare(other, operator.ne)

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, operator.lt)

    def __le__(self, other: Any) -> Any:
        return self._compare(other, operator.le)

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, operator.gt)

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, operator.ge)

    __hash__ = None  # type: ignore[assignment]  # values change under a reference

    def _pointer_type(self) -> Pointer | None:
        """The pointer type this object is or decays to (an array decays), else None."""
        t = strip_typedefs(self.type_)
        if isinstance(t, Pointer):
            return t
        if isinstance(t, Array) and self.address_ is not None:
            return Pointer(t.element)
        return None

    def __add__(self, other: Any) -> Any:
        ptr = self._pointer_type()
        if ptr is not None:
            if isinstance(other, Object) and other._pointer_type() is not None:
                return NotImplemented
            n = _operand(other)
            if n is NotImplemented:
                return NotImplemented
            value = (self._int() + n * _element_size(ptr)) & _ADDRESS_MASK
            return Object._make(self.prog_, ptr, value=value)
        if isinstance(other, Object) and other._pointer_type() is not None:
            return other.__add__(self)
        return self._arith(other, operator.add)

    def __radd__(self, other: Any) -> Any:
        return self.__add__(other)

    def __sub__(self, other: Any) -> Any:
        ptr = self._pointer_type()
        if ptr is not None:
            if isinstance(other, Object) and other._pointer_type() is not None:
                # ptr - ptr: elements between them, a ptrdiff_t (int on i386)
                size = _element_size(ptr)
                diff = _truncate(LONG, self._int() - other._int())
                return Object._make(self.prog_, LONG, value=int(diff / size))
            n = _operand(other)
            if n is NotImplemented:
                return NotImplemented
            value = (self._int() - n * _element_size(ptr)) & _ADDRESS_MASK
            return Object._make(self.prog_, ptr, value=value)
        return self._arith(other, operator.sub)

    def __rsub__(self, other: Any) -> Any:
        return self._arith(other, operator.sub, reflected=True)

    def _arith(self, other: Any, op: Callable[[int, int], int], reflected: bool = False) -> Any:
        """Integer arithmetic with C's usual arithmetic conversions to a common type
        (a Python int takes the object's promoted type)."""
        b = _operand(other)
        if b is NotImplemented or not is_integer(self.type_):
            return NotImplemented
        ctype: CType
        if isinstance(other, Object):
            if not is_integer(other.type_):
                return NotImplemented
            ctype = common_type(self.type_, other.type_)
        else:
            ctype = promote(self.type_)
        t = strip_typedefs(ctype)
        # both operands converted first: 0x80000000UL % -1 divides by 0xffffffff, as C does
        a, b = _truncate(t, self._int()), _truncate(t, b)
        result = op(b, a) if reflected else op(a, b)
        return Object._make(self.prog_, ctype, value=_truncate(t, result))

    def _shift(self, other: Any, op: Callable[[int, int], int]) -> Any:
        """``<<`` and ``>>``: the type of the promoted left operand, whatever the
        count's (``(char)1 << 2ULL`` is an ``int``), the count not converted."""
        count = _operand(other)
        if count is NotImplemented or not is_integer(self.type_):
            return NotImplemented
        if isinstance(other, Object) and not is_integer(other.type_):
            return NotImplemented
        ctype = promote(self.type_)
        t = strip_typedefs(ctype)
        if op is operator.lshift:
            count = min(count, 64)  # past the width every bit is gone: no huge int
        return Object._make(self.prog_, ctype, value=_truncate(t, op(self._int(), count)))

    def __mul__(self, other: Any) -> Any:
        return self._arith(other, operator.mul)

    def __rmul__(self, other: Any) -> Any:
        return self._arith(other, operator.mul, reflected=True)

    def __floordiv__(self, other: Any) -> Any:
        return self._arith(other, _c_div)

    def __rfloordiv__(self, other: Any) -> Any:
        return self._arith(other, _c_div, reflected=True)

    def __mod__(self, other: Any) -> Any:
        return self._arith(other, _c_mod)

    def __rmod__(self, other: Any) -> Any:
        return self._arith(other, _c_mod, reflected=True)

    def __and__(self, other: Any) -> Any:
        return self._arith(other, operator.and_)

    def __rand__(self, other: Any) -> Any:
        return self._arith(other, operator.and_, reflected=True)

    def __or__(self, other: Any) -> Any:
        return self._arith(other, operator.or_)

    def __ror__(self, other: Any) -> Any:
        return self._arith(other, operator.or_, reflected=True)

    def __xor__(self, other: Any) -> Any:
        return self._arith(other, operator.xor)

    def __rxor__(self, other: Any) -> Any:
        return self._arith(other, operator.xor, reflected=True)

    def __lshift__(self, other: Any) -> Any:
        return self._shift(other, operator.lshift)

    def __rshift__(self, other: Any) -> Any:
        return self._shift(other, operator.rshift)

    def __neg__(self) -> Object:
        return self._unary(operator.neg)

    def __invert__(self) -> Object:
        return self._unary(operator.invert)

    def __pos__(self) -> Object:
        return self._unary(operator.pos)

    def _unary(self, op: Callable[[int], int]) -> Object:
        """``-``, ``~`` and ``+``: on the promoted operand (``-(unsigned char)1`` is
        the ``int`` -1, ``-(unsigned int)1`` the ``unsigned int`` 4294967295)."""
        if not is_integer(self.type_):
            raise TypeError(f"bad operand type for unary operator: '{self.type_.c_name}'")
        ctype = promote(self.type_)
        value = _truncate(strip_typedefs(ctype), op(self._int()))
        return Object._make(self.prog_, ctype, value=value)


if _speedups is not None:
    _speedups.bind_object(Object)
    # and the classes made per type below, whose __class__ can change between them:
    # CPython allows that between classes of one tp_dealloc
    _speedups.light_class(Object)


def _c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _c_mod(a: int, b: int) -> int:
    return a - _c_div(a, b) * b


def _is_scalar_like(obj: Object) -> bool:
    return _is_scalar(strip_typedefs(obj.type_)) or obj._pointer_type() is not None


def _operand(x: Any) -> Any:
    """An int for an integer, pointer or array operand; NotImplemented otherwise."""
    if isinstance(x, Object):
        return x._int() if _is_scalar_like(x) else NotImplemented
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    return NotImplemented


def _coerce(ctype: CType, value: Any) -> Any:
    t = strip_typedefs(ctype)
    if _is_scalar(t):
        return _truncate(t, operator.index(value))
    if isinstance(t, (Struct, Array)):
        data = bytes(value)
        if len(data) != t.size:
            raise ValueError(f"'{ctype.c_name}' needs {t.size} bytes, got {len(data)}")
        return data
    raise TypeError(f"cannot make a value of type '{ctype.c_name}'")


def _from_bytes(prog: Program, ctype: CType, data: bytes) -> Object:
    t = strip_typedefs(ctype)
    value = _scalar_format(t).unpack(data)[0] if _is_scalar(t) else data
    return Object._make(prog, ctype, value=value)


def _decode(prog: Program, t: CType, parsed: Any, raw: bytes, offset: int) -> Any:
    """Turn construct's parse of ``t`` into plain data; ``raw[offset:]`` holds its bytes.

    A union's members, and unnamed members, are parsed from the bytes here: a union's
    construct parses only its first member, and construct keeps no value without a name.
    """
    t = strip_typedefs(t)
    if isinstance(t, Struct):
        out: dict[str, Any] = {}
        for f in t.fields:
            if t.union or not f.name:
                start = offset + f.offset  # 0 in a union
                value = prog.construct_for(f.type).parse(raw[start : start + f.type.size])
            else:
                value = parsed[f.name]
            value = _decode(prog, f.type, value, raw, offset + f.offset)
            if f.bit_size:
                value = (value >> f.bit_offset) & ((1 << f.bit_size) - 1)
            out[f.name] = value
        return out
    if isinstance(t, Array):
        if isinstance(parsed, bytes):
            return parsed
        size = t.element.size
        return [
            _decode(prog, t.element, item, raw, offset + i * size) for i, item in enumerate(parsed)
        ]
    return parsed


def _stringify(t: CType, tree: Any) -> Any:
    """Char arrays become str (up to the first NUL); the rest stays as it is."""
    t = strip_typedefs(t)
    if isinstance(tree, bytes):
        return tree.split(b"\0", 1)[0].decode("latin-1")
    if isinstance(t, Struct):
        return {f.name: _stringify(f.type, tree[f.name]) for f in t.fields}
    if isinstance(t, Array) and not isinstance(strip_typedefs(t.element), Base):
        return [_stringify(t.element, item) for item in tree]
    return tree


def _read_string(prog: Program, address: int, limit: int) -> bytes:
    """Bytes from ``address`` up to a NUL, reading a page at a time (not past ``limit``)."""
    out = bytearray()
    while len(out) < limit:
        chunk = min(limit - len(out), 4096 - (address & 0xFFF))
        data = prog.read(address, chunk)
        nul = data.find(b"\0")
        if nul >= 0:
            return bytes(out + data[: nul + 1])
        out += data
        address += chunk
    return bytes(out)


def _member_property(
    prog: Program, name: str, offset: int, ctype: CType, via_pointer: bool, bitfield: bool
) -> property:
    """Member ``name`` as a property of its struct's class (``area.addr``).

    It does what :meth:`Object.member_` does for a plain member of a struct
    reference, or of the struct a pointer points at, without the lookups; a
    bitfield, or a member of a struct value (bytes, not an address), goes to
    ``member_`` itself. The class belongs to ``prog``, and so do its objects.
    """
    if bitfield:
        return property(lambda obj: obj.member_(name))
    if prog._speedups is not None:
        return prog._speedups.Member(
            name, prog, ctype, offset, lambda: prog.object_class(ctype), via_pointer
        )
    cls: type[Object] | None = None  # the member's class, found on first use

    def child() -> type[Object]:
        nonlocal cls
        cls = prog.object_class(ctype)
        return cls

    def through_pointer(obj: Object) -> Object:
        base = obj._value
        if base is None:
            base = obj._int()  # a pointer variable: read it
        member = _new(cls or child())
        member.prog_ = prog
        member.type_ = ctype
        member.address_ = base + offset
        member._value = None
        return member

    def of_struct(obj: Object) -> Object:
        base = obj.address_
        if base is None:
            return obj.member_(name)  # a struct value: slice its bytes
        member = _new(cls or child())
        member.prog_ = prog
        member.type_ = ctype
        member.address_ = base + offset
        member._value = None
        return member

    return property(through_pointer if via_pointer else of_struct)


def _scalar_value(prog: Program, fmt: struct.Struct) -> Callable[[Object], int]:
    """``value_`` (and ``_int``) of ``prog``'s scalars that ``fmt`` unpacks.

    The generic method's scalar path with everything it looks up bound here,
    and Program.read's page-cache lookup inlined: the hot call of any walk.
    """
    if prog._speedups is not None:
        signed = fmt.format[-1].islower()
        fast = prog._speedups.ScalarValue(prog, prog._pages, fmt.size, signed)
        fast.__doc__ = Object.value_.__doc__
        return fast
    unpack_from = fmt.unpack_from
    unpack = fmt.unpack
    size = fmt.size
    last = 4096 - size  # the last in-page offset a read of this size fits at
    pages = prog._pages  # cleared in place, never replaced

    def value_(self: Object) -> int:
        value = self._value
        if value is not None:  # a scalar's value is an int
            return value
        # no value, so a reference; no assert on the hot path
        address: int = self.address_  # type: ignore[assignment]
        if pages is not None:
            offset = address & 0xFFF
            if offset <= last:
                page = pages.get(address >> 12)
                if page is not None:
                    return unpack_from(page, offset)[0]
        return unpack(prog.read(address, size))[0]

    value_.__doc__ = Object.value_.__doc__
    return value_


def _subclass(namespace: dict[str, Any]) -> type[Object]:
    # Named as the base, so type(obj).__name__ and tracebacks read "Object".
    ns = {
        "__slots__": (),
        "__module__": __name__,
        "__qualname__": "Object",
        "_by_type": True,
        **namespace,
    }
    return _light(type("Object", (Object,), ns))


def _light(cls: type[Object]) -> type[Object]:
    """``cls``, whose objects are freed (and their memory reused) by the C forms where
    they were built: an object of a class made here holds its four slots and nothing
    else to undo."""
    if _speedups is not None:
        _speedups.light_class(cls)
    return cls


def _scalar_namespace(prog: Program, fmt: struct.Struct) -> dict[str, Any]:
    value = _scalar_value(prog, fmt)
    return {"value_": value, "_int": value}


def _scalar_class(prog: Program, fmt: struct.Struct) -> type[Object]:
    """The class of ``prog``'s scalars that ``fmt`` unpacks."""
    key = ("scalar", fmt.format)
    cls = prog._struct_classes.get(key)
    if cls is None:
        cls = prog._struct_classes[key] = _subclass(_scalar_namespace(prog, fmt))
    return cls


def _struct_class(prog: Program, struct_type: Struct, via_pointer: bool) -> type[Object]:
    """The class of ``prog``'s ``struct_type`` values (or of pointers to them)."""
    key = (struct_type, via_pointer)
    cls = prog._struct_classes.get(key)
    if cls is not None:
        return cls
    namespace: dict[str, Any] = {}
    if via_pointer:
        namespace.update(_scalar_namespace(prog, _scalar_format(Pointer(struct_type))))
    for f in struct_type.fields:
        name = f.name
        # Names Object already has, and private ones, keep going through
        # normal lookup and __getattr__, as they always did.
        if not name or name.startswith("_") or hasattr(Object, name) or name in namespace:
            continue
        namespace[name] = _member_property(
            prog, name, f.offset, f.declared, via_pointer, bool(f.bit_size)
        )
    cls = prog._struct_classes[key] = _subclass(namespace)
    return cls


def row_class(prog: Program, ctype: CType) -> type[Object] | None:
    """For walks on the Python forms that read each node once: the class of pointers
    of type ``ctype`` (a ``struct X *``) whose node's plain scalar members (``addr``,
    ``size``, ``next``: named, not bitfields) were unpacked together when the node was
    read, into the slot ``_row``.

    Its ``_row_struct`` (a ``struct.Struct``) unpacks the node's bytes from its
    start, and ``_row_links`` gives the offset of each 32-bit unsigned member (a
    pointer: a link a walk can follow) its place in the row. A member taken from
    the row is the reference ``member_`` makes (``address=node + offset``) holding
    the value read with the node, as a reference into memory that does not change
    gives it: its ``value_()`` unpacks nothing. The walks that make these objects
    read the node from the program's page cache, so a row holds what a read would.
    None for a ``ctype`` of no such struct. Kept per program and type.
    """
    t = strip_typedefs(ctype)
    if not isinstance(t, Pointer):
        return None
    target = strip_typedefs(t.target)
    if not isinstance(target, Struct) or not target.fields or target.union:
        return None
    key = ("row", target)
    cls = prog._struct_classes.get(key)
    if cls is None:
        cls = prog._struct_classes[key] = _row_class(prog, target)
    return None if cls is Object else cls  # Object: the struct has no row


def _row_class(prog: Program, struct_type: Struct) -> type[Object]:
    """:func:`row_class` made (``Object`` itself where no member fits a row)."""
    scalars = []
    for f in struct_type.fields:
        t = strip_typedefs(f.type)
        if f.name and not f.bit_size and _is_scalar(t) and t.size in (1, 2, 4, 8):
            scalars.append((f.offset, f.name, f.declared, _scalar_format(t)))
    code, end = "<", 0
    links: dict[int, int] = {}
    members: list[tuple[str, int, CType, int]] = []  # (name, offset, type, place in the row)
    for offset, name, ctype, fmt in sorted(scalars, key=lambda s: s[0]):
        if offset < end:  # overlaps the member before it: left to its own property
            continue
        code += f"{offset - end}x{fmt.format[1:]}"
        end = offset + fmt.size
        place = len(members)
        if fmt.format == "<I":
            links[offset] = place
        members.append((name, offset, ctype, place))
    if not members:
        return Object
    # Names Object has, and private ones, go through __getattr__ as on any struct. Of the
    # others, numbers and pointers to anything but a struct are made with the node (a
    # walk reads most of them); pointers to structs, which a walk follows itself, and
    # every member of a struct with more than _ROW_MADE_MAX such, when asked for.
    public = [m for m in members if not m[0].startswith("_") and not hasattr(Object, m[0])]
    made = [m for m in public if not _points_to_struct(m[2])]
    if len(made) > _ROW_MADE_MAX:
        made = []
    namespace: dict[str, Any] = {}
    for n, (name, _offset, _ctype, _place) in enumerate(made):
        namespace[name] = property(operator.attrgetter(f"_row{n}"))
    for name, offset, ctype, place in public:
        namespace.setdefault(name, _row_member(prog, offset, ctype, place))
    ns = {
        "__slots__": ("_row", *(f"_row{n}" for n in range(len(made)))),
        "_row_struct": struct.Struct(code),
        "_row_links": links,
        **namespace,
    }
    # more slots than Object's: CPython frees these objects
    # a pointer value (its type_ set per node: any spelling of the pointer type)
    held = {"prog_": prog, "address_": None}
    cls = _made_class(_struct_class(prog, struct_type, True), held, ns)
    cls._row_code = _row_maker(prog, cls, made)  # type: ignore[attr-defined]
    return cls


def _made_class(
    base: type[Object], held: dict[str, Any], namespace: dict[str, Any] | None = None
) -> type[Object]:
    """A subclass of ``base`` (a class of ``prog.object_class``) for the objects that
    the code :func:`_row_maker` writes makes: the slots of ``held`` (``prog_``,
    ``type_``, ``address_``) hold for all of them what the class holds (its objects
    never set those, and cannot), and ``cls()`` makes one with nothing set, as
    ``object.__new__`` does but in one call of the class (Object's ``__init__`` is not
    called). The same objects in all else: of ``base`` and of :class:`Object`."""
    ns: dict[str, Any] = {
        "__slots__": (),
        "__module__": __name__,
        "__qualname__": "Object",
        "__init__": object.__init__,
        **held,
        **(namespace or {}),
    }
    spaces = [*(vars(c) for c in reversed(base.__mro__)), ns]
    slots = [n for space in spaces for n in _slots_of(space) if n not in held]
    ns["__getstate__"] = lambda obj: (None, _slot_values(obj, slots))
    return type("Object", (base,), ns)


def _slots_of(namespace: Mapping[str, Any]) -> tuple[str, ...]:
    slots = namespace.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


def _slot_values(obj: Object, names: list[str]) -> dict[str, Any]:
    """What ``copy`` and ``pickle`` keep of ``obj`` (as CPython's default state of a
    class with slots): the slots of ``names`` that are set, not what its class holds."""
    values = {}
    for name in names:
        try:
            values[name] = getattr(obj, name)
        except AttributeError:
            continue
    return values


def _member_class(prog: Program, ctype: CType) -> type[Object]:
    """The :func:`_made_class` of ``prog``'s members of type ``ctype`` that a row
    node gives (references: each sets its ``address_`` and ``_value``)."""
    key = ("row member", ctype)
    cls = prog._struct_classes.get(key)
    if cls is None:
        # each holds the value read with its node: value_ has nothing to read
        reads = {"value_": _held_value, "_int": _held_value}
        cls = _made_class(prog.object_class(ctype), {"prog_": prog, "type_": ctype}, reads)
        prog._struct_classes[key] = cls
    return cls


def _held_value(self: Object) -> Any:
    return self._value


_held_value.__doc__ = Object.value_.__doc__


# the most members a row class makes with each node (see _row_class)
_ROW_MADE_MAX = 8


def _points_to_struct(ctype: CType) -> bool:
    t = strip_typedefs(ctype)
    return isinstance(t, Pointer) and isinstance(strip_typedefs(t.target), Struct)


def _row_maker(
    prog: Program, cls: type[Object], made: list[tuple[str, int, CType, int]]
) -> tuple[list[str], dict[str, Any]]:
    """The lines (and the globals they need) that make ``obj``: the ``cls`` object of
    a node at ``node`` (a pointer value of ``ctype``) whose bytes unpacked to ``row``,
    with the members ``made`` already in its slots ``_row0``, ``_row1`` and on.
    Written out per class (as ``collections.namedtuple`` writes its class), from
    numbers only, so each member costs its stores and no loop or lookup; a walk puts
    them in its own loop (no call per node)."""
    scope: dict[str, Any] = {"_new": _new, "E": cls}
    lines = [
        "obj = E()",
        "obj.type_ = ctype",
        "obj._value = node",
        "obj._row = row",
    ]
    for n, (_name, offset, ctype, place) in enumerate(made):
        scope[f"C{n}"] = _member_class(prog, ctype)
        lines += [
            f"obj._row{n} = m = C{n}()",
            f"m.address_ = node + {int(offset)}" if offset else "m.address_ = node",
            f"m._value = row[{int(place)}]",
        ]
    return lines, scope


def _row_member(prog: Program, offset: int, ctype: CType, index: int) -> property:
    """A member of a :func:`row_class` node: the reference at ``node + offset``
    holding ``_row[index]``."""
    cls: type[Object] | None = None  # the member's class, found on first use

    def child() -> type[Object]:
        nonlocal cls
        cls = _member_class(prog, ctype)
        return cls

    def of_row(obj: Object) -> Object:
        member = (cls or child())()  # type: ignore[call-arg]  # a _made_class: no arguments
        member.address_ = obj._value + offset
        member._value = obj._row[index]
        return member

    return property(of_row)


def values_of(prog: Program, ctype: CType, values: Iterable[int]) -> Iterator[Object]:
    """A value object of scalar type ``ctype`` for each of ``values``.

    For walks that read their nodes' addresses themselves: each value must
    already fit the type (a pointer read as 32 bits), as nothing is converted.
    """
    cls = prog.object_class(ctype)
    for value in values:
        obj: Object = _new(cls)
        obj.prog_ = prog
        obj.type_ = ctype
        obj.address_ = None
        obj._value = value
        yield obj


def class_for_type(prog: Program, ctype: CType) -> type[Object]:
    """The :class:`Object` subclass for values of ``ctype`` (Program caches it by type)."""
    t = strip_typedefs(ctype)
    if isinstance(t, Pointer):
        target = strip_typedefs(t.target)
        if isinstance(target, Struct) and target.fields:
            return _struct_class(prog, target, True)
    if isinstance(t, Struct) and t.fields:
        return _struct_class(prog, t, False)
    if _is_scalar(t):
        try:
            return _scalar_class(prog, _scalar_format(t))
        except KeyError:  # a size no integer format has: the generic paths say so
            return Object
    return Object


def _drgn_format(
    prog: Program, ctype: CType, value: Any, base: int, names: bool, depth: int
) -> str:
    """One value in drgn's notation (see :meth:`Object.format_`)."""
    t = strip_typedefs(ctype)
    if isinstance(t, Struct):
        tab = "\t" * (depth + 1)
        lines = []
        for f in t.fields:
            if not f.name:
                continue
            shown = _drgn_format(prog, f.type, value[f.name], base, names, depth + 1)
            if names:  # the member's type as declared: drgn's (volatile int)0
                shown = f"({f.spell()}){shown}"
            lines.append(f"{tab}.{f.name} = {shown},\n")
        return "{\n" + "".join(lines) + "\t" * depth + "}" if lines else "{}"
    if isinstance(t, Array):
        if isinstance(value, str):
            return '"' + value.encode("unicode_escape").decode().replace('"', '\\"') + '"'
        values = list(value)
        while values and _is_zero(values[-1]):  # drgn leaves trailing zeros implicit
            values.pop()
        if not values:
            return "{}"
        element = strip_typedefs(t.element)
        if not isinstance(element, (Struct, Array)):
            return (
                "{ "
                + ", ".join(_drgn_format(prog, t.element, v, base, names, depth) for v in values)
                + " }"
            )
        tab = "\t" * (depth + 1)
        items = [
            f"{tab}{_drgn_format(prog, t.element, v, base, names, depth + 1)},\n" for v in values
        ]
        return "{\n" + "".join(items) + "\t" * depth + "}"
    if isinstance(t, Pointer):
        target = strip_typedefs(t.target)
        if value and isinstance(target, Base) and target.char and target.size == 1:
            try:  # drgn shows the string a char * points at
                text = _read_string(prog, value, 4096).split(b"\0", 1)[0]
            except FaultError:
                return f"{value:#x}"
            return f'{value:#x} = "{_c_escape(text)}"'
        return f"{value:#x}"
    if base == 16:
        return f"{value:#x}"
    if base == 8:
        return f"0{value:o}" if value else "0"
    return str(value)


def _c_escape(data: bytes) -> str:
    """Bytes as a C string literal's inside: printable ASCII as is, the rest escaped."""
    named = {0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x09: "\\t"}
    return "".join(named.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data)


def _is_zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_zero(v) for v in value)
    return not value


def sizeof(type_or_obj: Object | CType) -> int:
    """drgn's ``sizeof()``: the size in bytes of an object's type or of a type.

    :raises TypeError: for a type without a size (``void``, a function).
    """
    ctype = type_or_obj.type_ if isinstance(type_or_obj, Object) else type_or_obj
    t = strip_typedefs(ctype)
    if isinstance(t, (Void, Function)):
        raise TypeError(f"cannot get size of {ctype.c_name}")
    return ctype.size


def cast(type: str | CType, obj: Object) -> Object:
    """``(type)obj`` for integer and pointer types (an array decays to its address)."""
    prog = obj.prog_
    ctype = prog.type(type)
    t = strip_typedefs(ctype)
    if not _is_scalar(t):
        raise TypeError(f"cannot cast to '{ctype.c_name}'")
    return Object._make(prog, ctype, value=_truncate(t, obj._int()))


def container_of(ptr: Object, type: str | CType, member: str) -> Object:
    """``container_of(ptr, type, member)``: a ``type *`` to the struct that holds
    ``*ptr`` as ``member`` (a path like ``"lru"`` or ``"free_area[2].free_list"``).
    """
    prog = ptr.prog_
    ctype = prog.type(type)
    t = strip_typedefs(ctype)
    if not isinstance(t, Struct):
        raise TypeError(f"container_of needs a struct type, not '{ctype.c_name}'")
    try:
        offset = t.offsetof(member)
    except KeyError:
        raise MemberNotFoundError(f"'{ctype.c_name}' has no member '{member}'") from None
    address = (ptr._int() - offset) & _ADDRESS_MASK
    return Object._make(prog, Pointer(ctype), value=address)
