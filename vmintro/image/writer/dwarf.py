"""DWARF v4 debugging information for the kernel's types and variables.

One compile unit holds a DIE for every type of a :class:`KernelTypes` (and
every type reachable from them) plus a ``DW_TAG_variable`` for each object
symbol that has a C type, so that gdb can ``ptype struct vm_struct`` and
``p *vmlist`` against the core, and vmintro's reader can rebuild the type model
from the image instead of from its own definitions.

Only the forms below are used, which keeps every DIE's size independent of the
offsets it refers to: DIEs are laid out in one pass and written in a second.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vmintro.image.writer.spec import Symbol
from vmintro.types.kernel import KernelTypes
from vmintro.types.model import (
    Array,
    Base,
    CType,
    Enum,
    Function,
    Pointer,
    Struct,
    Typedef,
    Void,
)

__all__ = ["DwarfSections", "build_dwarf"]

DWARF_VERSION = 4
ADDRESS_SIZE = 4
CU_HEADER_SIZE = 11  # unit_length, version, debug_abbrev_offset, address_size

# Tags (DWARF 4, section 7.5.3)
DW_TAG_array_type = 0x01
DW_TAG_enumeration_type = 0x04
DW_TAG_formal_parameter = 0x05
DW_TAG_member = 0x0D
DW_TAG_pointer_type = 0x0F
DW_TAG_compile_unit = 0x11
DW_TAG_structure_type = 0x13
DW_TAG_subroutine_type = 0x15
DW_TAG_typedef = 0x16
DW_TAG_union_type = 0x17
DW_TAG_subrange_type = 0x21
DW_TAG_base_type = 0x24
DW_TAG_enumerator = 0x28
DW_TAG_variable = 0x34
DW_TAG_volatile_type = 0x35

# Attributes (section 7.5.4)
DW_AT_location = 0x02
DW_AT_name = 0x03
DW_AT_byte_size = 0x0B
DW_AT_bit_size = 0x0D
DW_AT_low_pc = 0x11
DW_AT_high_pc = 0x12
DW_AT_language = 0x13
DW_AT_comp_dir = 0x1B
DW_AT_const_value = 0x1C
DW_AT_producer = 0x25
DW_AT_prototyped = 0x27
DW_AT_upper_bound = 0x2F
DW_AT_count = 0x37
DW_AT_data_member_location = 0x38
DW_AT_declaration = 0x3C
DW_AT_encoding = 0x3E
DW_AT_external = 0x3F
DW_AT_type = 0x49
DW_AT_data_bit_offset = 0x6B
DW_AT_alignment = 0x88  # DWARF 5; gcc emits it for __attribute__((aligned))

# Forms (section 7.5.6)
DW_FORM_addr = 0x01
DW_FORM_data4 = 0x06
DW_FORM_data1 = 0x0B
DW_FORM_strp = 0x0E
DW_FORM_udata = 0x0F
DW_FORM_sdata = 0x0D
DW_FORM_ref4 = 0x13
DW_FORM_exprloc = 0x18
DW_FORM_flag_present = 0x19

# Base type encodings (section 7.8)
DW_ATE_signed = 0x05
DW_ATE_signed_char = 0x06
DW_ATE_unsigned = 0x07
DW_ATE_unsigned_char = 0x08

DW_LANG_C89 = 0x0001
DW_OP_addr = 0x03

PRODUCER = "vmintro"
CU_NAME = "vmlinux"


def uleb128(value: int) -> bytes:
    """Unsigned LEB128 encoding of ``value``."""
    if value < 0:
        raise ValueError(f"uleb128 of negative value {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb128(value: int) -> bytes:
    """Signed LEB128 encoding of ``value``."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


@dataclass(eq=False)
class _Die:
    """A DIE before layout: attribute values are ints, strings, bytes or other DIEs."""

    tag: int
    attrs: list[tuple[int, int, object]] = field(default_factory=list)
    children: list[_Die] = field(default_factory=list)
    code: int = 0
    offset: int = 0

    def add(self, attr: int, form: int, value: object = None) -> _Die:
        self.attrs.append((attr, form, value))
        return self


@dataclass(frozen=True)
class DwarfSections:
    """The contents of the DWARF sections, by section name."""

    debug_info: bytes
    debug_abbrev: bytes
    debug_str: bytes

    def items(self) -> list[tuple[str, bytes]]:
        """``(section name, contents)`` in the order the sections are written."""
        return [
            (".debug_info", self.debug_info),
            (".debug_abbrev", self.debug_abbrev),
            (".debug_str", self.debug_str),
        ]


class _TypeEmitter:
    """Turns model types into DIEs, one DIE per type object."""

    def __init__(self) -> None:
        self.dies: list[_Die] = []
        # Keyed by identity: the model's types compare by identity, and two
        # equal-looking pointers are still two objects. The value keeps the
        # type alive so its id() cannot be reused during the walk.
        self._seen: dict[int, tuple[CType, _Die]] = {}
        self._volatile: dict[int, _Die] = {}  # id(type) -> its DW_TAG_volatile_type

    def volatile_ref(self, ctype: CType) -> _Die:
        """The ``DW_TAG_volatile_type`` DIE qualifying ``ctype`` (one per type)."""
        hit = self._volatile.get(id(ctype))
        if hit is None:
            hit = _Die(DW_TAG_volatile_type)
            self._type_attr(hit, ctype)
            self.dies.append(hit)
            self._volatile[id(ctype)] = hit
        return hit

    def ref(self, ctype: CType) -> _Die | None:
        """The DIE for ``ctype``, created on first use; ``None`` for ``void``."""
        if isinstance(ctype, Void):
            return None
        hit = self._seen.get(id(ctype))
        if hit is not None:
            return hit[1]
        die = _Die(self._tag(ctype))
        # Registered before its parts so that self-referential structs
        # (list_head.next) and mutually referential ones terminate.
        self._seen[id(ctype)] = (ctype, die)
        self.dies.append(die)
        self._fill(ctype, die)
        return die

    @staticmethod
    def _tag(ctype: CType) -> int:
        if isinstance(ctype, Base):
            return DW_TAG_base_type
        if isinstance(ctype, Pointer):
            return DW_TAG_pointer_type
        if isinstance(ctype, Array):
            return DW_TAG_array_type
        if isinstance(ctype, Struct):
            return DW_TAG_union_type if ctype.union else DW_TAG_structure_type
        if isinstance(ctype, Typedef):
            return DW_TAG_typedef
        if isinstance(ctype, Function):
            return DW_TAG_subroutine_type
        if isinstance(ctype, Enum):
            return DW_TAG_enumeration_type
        raise TypeError(f"no DWARF for type {ctype!r}")

    def variable(self, name: str, address: int, ctype: CType, local: bool) -> _Die:
        """A ``DW_TAG_variable`` at a fixed address (not added to :attr:`dies`)."""
        die = _Die(DW_TAG_variable)
        die.add(DW_AT_name, DW_FORM_strp, name)
        self._type_attr(die, ctype)
        if not local:
            die.add(DW_AT_external, DW_FORM_flag_present)
        location = bytes([DW_OP_addr]) + struct.pack("<I", address & 0xFFFFFFFF)
        die.add(DW_AT_location, DW_FORM_exprloc, location)
        return die

    def _type_attr(self, die: _Die, ctype: CType) -> None:
        # DWARF spells void as the absence of DW_AT_type.
        target = self.ref(ctype)
        if target is not None:
            die.add(DW_AT_type, DW_FORM_ref4, target)

    def _fill(self, ctype: CType, die: _Die) -> None:
        if isinstance(ctype, Base):
            if ctype.char:
                encoding = DW_ATE_signed_char if ctype.signed else DW_ATE_unsigned_char
            else:
                encoding = DW_ATE_signed if ctype.signed else DW_ATE_unsigned
            die.add(DW_AT_name, DW_FORM_strp, ctype.name)
            die.add(DW_AT_byte_size, DW_FORM_udata, ctype.size)
            die.add(DW_AT_encoding, DW_FORM_data1, encoding)
        elif isinstance(ctype, Pointer):
            die.add(DW_AT_byte_size, DW_FORM_udata, ctype.size)
            self._type_attr(die, ctype.target)
        elif isinstance(ctype, Array):
            self._type_attr(die, ctype.element)
            sub = _Die(DW_TAG_subrange_type)
            if ctype.count:
                sub.add(DW_AT_upper_bound, DW_FORM_udata, ctype.count - 1)
            else:
                sub.add(DW_AT_count, DW_FORM_udata, 0)
            die.children.append(sub)
        elif isinstance(ctype, Struct):
            self._fill_struct(ctype, die)
        elif isinstance(ctype, Typedef):
            die.add(DW_AT_name, DW_FORM_strp, ctype.name)
            self._type_attr(die, ctype.target)
        elif isinstance(ctype, Function):
            die.add(DW_AT_prototyped, DW_FORM_flag_present)
            self._type_attr(die, ctype.returns)
            for param in ctype.params:
                child = _Die(DW_TAG_formal_parameter)
                self._type_attr(child, param)
                die.children.append(child)
        elif isinstance(ctype, Enum):
            if ctype.tag:
                die.add(DW_AT_name, DW_FORM_strp, ctype.tag)
            die.add(DW_AT_byte_size, DW_FORM_udata, ctype.size)
            for name, value in ctype.enumerators:
                child = _Die(DW_TAG_enumerator)
                child.add(DW_AT_name, DW_FORM_strp, name)
                child.add(DW_AT_const_value, DW_FORM_sdata, value)
                die.children.append(child)

    def _fill_struct(self, ctype: Struct, die: _Die) -> None:
        if ctype.tag:
            die.add(DW_AT_name, DW_FORM_strp, ctype.tag)
        if not ctype.complete:
            die.add(DW_AT_declaration, DW_FORM_flag_present)
            return
        die.add(DW_AT_byte_size, DW_FORM_udata, ctype.size)
        if ctype.align > max((f.type.align for f in ctype.fields), default=1):
            die.add(DW_AT_alignment, DW_FORM_udata, ctype.align)
        for f in ctype.fields:
            member = _Die(DW_TAG_member)
            member.add(DW_AT_name, DW_FORM_strp, f.name)
            if f.volatile:
                member.add(DW_AT_type, DW_FORM_ref4, self.volatile_ref(f.type))
            else:
                self._type_attr(member, f.type)
            if f.bit_size:
                # DWARF 4's little-endian-friendly form: bits from the start of
                # the struct, no storage-unit arithmetic for the reader.
                member.add(DW_AT_bit_size, DW_FORM_udata, f.bit_size)
                member.add(DW_AT_data_bit_offset, DW_FORM_udata, f.offset * 8 + f.bit_offset)
            else:
                member.add(DW_AT_data_member_location, DW_FORM_udata, f.offset)
            die.children.append(member)


class _Layout:
    """Assigns abbreviation codes and offsets, then serialises the DIE tree."""

    def __init__(self) -> None:
        self._abbrevs: dict[tuple[int, bool, tuple[tuple[int, int], ...]], int] = {}
        self._strings: dict[str, int] = {}
        self._strtab = bytearray()

    def _code(self, die: _Die) -> int:
        key = (die.tag, bool(die.children), tuple((a, f) for a, f, _ in die.attrs))
        code = self._abbrevs.get(key)
        if code is None:
            code = self._abbrevs[key] = len(self._abbrevs) + 1
        return code

    def _string(self, text: str) -> int:
        offset = self._strings.get(text)
        if offset is None:
            offset = self._strings[text] = len(self._strtab)
            self._strtab += text.encode() + b"\0"
        return offset

    @staticmethod
    def _value_size(form: int, value: object) -> int:
        if form in (DW_FORM_ref4, DW_FORM_strp, DW_FORM_addr, DW_FORM_data4):
            return 4
        if form == DW_FORM_flag_present:
            return 0
        if form == DW_FORM_data1:
            return 1
        if form == DW_FORM_udata:
            return len(uleb128(value))  # type: ignore[arg-type]
        if form == DW_FORM_sdata:
            return len(sleb128(value))  # type: ignore[arg-type]
        if form == DW_FORM_exprloc:
            data: bytes = value  # type: ignore[assignment]
            return len(uleb128(len(data))) + len(data)
        raise ValueError(f"unsupported form {form:#x}")

    def place(self, die: _Die, offset: int) -> int:
        """Give ``die`` and its children codes and CU-relative offsets; return the end."""
        die.code = self._code(die)
        die.offset = offset
        offset += len(uleb128(die.code))
        offset += sum(self._value_size(form, value) for _, form, value in die.attrs)
        if die.children:
            for child in die.children:
                offset = self.place(child, offset)
            offset += 1  # the null entry closing the sibling chain
        return offset

    def _encode(self, form: int, value: object) -> bytes:
        if form == DW_FORM_ref4:
            assert isinstance(value, _Die)
            return struct.pack("<I", value.offset)
        if form == DW_FORM_strp:
            assert isinstance(value, str)
            return struct.pack("<I", self._string(value))
        if form in (DW_FORM_addr, DW_FORM_data4):
            return struct.pack("<I", value)
        if form == DW_FORM_flag_present:
            return b""
        if form == DW_FORM_data1:
            return bytes([value])  # type: ignore[list-item]
        if form == DW_FORM_udata:
            return uleb128(value)  # type: ignore[arg-type]
        if form == DW_FORM_sdata:
            return sleb128(value)  # type: ignore[arg-type]
        if form == DW_FORM_exprloc:
            data: bytes = value  # type: ignore[assignment]
            return uleb128(len(data)) + data
        raise ValueError(f"unsupported form {form:#x}")

    def write(self, die: _Die, out: bytearray) -> None:
        """Append ``die`` and its subtree to ``out`` (already placed)."""
        out += uleb128(die.code)
        for _, form, value in die.attrs:
            out += self._encode(form, value)
        if die.children:
            for child in die.children:
                self.write(child, out)
            out.append(0)

    def abbrev_table(self) -> bytes:
        out = bytearray()
        for (tag, children, attrs), code in self._abbrevs.items():
            out += uleb128(code) + uleb128(tag) + bytes([1 if children else 0])
            for attr, form in attrs:
                out += uleb128(attr) + uleb128(form)
            out += b"\0\0"
        out.append(0)
        return bytes(out)

    def string_table(self) -> bytes:
        return bytes(self._strtab)


def build_dwarf(
    types: KernelTypes,
    symbols: Sequence[Symbol],
    text_range: tuple[int, int] | None = None,
) -> DwarfSections:
    """DWARF v4 for every type of ``types`` and every typed object symbol.

    Types come in the order of ``types.all_types()``, then ``types.variables``,
    then the symbols', each followed by the types it reaches: the same input
    always gives the same bytes. ``text_range`` is the kernel's ``.text``
    [start, end), which the compile unit claims as its code.
    """
    emitter = _TypeEmitter()
    typed = [s for s in symbols if s.kind == "object" and s.ctype is not None]
    roots: Iterable[CType] = [
        *types.all_types(),
        *types.variables.values(),
        *(s.ctype for s in typed if s.ctype is not None),
    ]
    for ctype in roots:
        emitter.ref(ctype)
    variables = [
        emitter.variable(s.name, s.address, s.ctype, s.local) for s in typed if s.ctype is not None
    ]

    cu = _Die(DW_TAG_compile_unit)
    cu.add(DW_AT_producer, DW_FORM_strp, PRODUCER)
    cu.add(DW_AT_language, DW_FORM_udata, DW_LANG_C89)
    cu.add(DW_AT_name, DW_FORM_strp, CU_NAME)
    cu.add(DW_AT_comp_dir, DW_FORM_strp, "/")
    if text_range is not None and text_range[1] > text_range[0]:
        # Without this, gdb symbolising an address inside .text (swapper_pg_dir
        # lives there, as in head.S) finds this unit in its address map but no
        # block for the address, and warns "pc ... in address map, but not in
        # symtab".
        cu.add(DW_AT_low_pc, DW_FORM_addr, text_range[0])
        cu.add(DW_AT_high_pc, DW_FORM_data4, text_range[1] - text_range[0])
    cu.children = emitter.dies + variables

    layout = _Layout()
    end = layout.place(cu, CU_HEADER_SIZE)
    body = bytearray()
    layout.write(cu, body)
    assert CU_HEADER_SIZE + len(body) == end
    # unit_length counts everything after itself.
    header = struct.pack("<IHIB", end - 4, DWARF_VERSION, 0, ADDRESS_SIZE)
    return DwarfSections(
        debug_info=header + bytes(body),
        debug_abbrev=layout.abbrev_table(),
        debug_str=layout.string_table(),
    )
