"""C-like text for values, as gdb's ``print`` shows them (``set print pretty off``).

* integers in decimal, ``char`` as ``65 'A'``;
* pointers in hex (``0x0`` for NULL), followed by ``<symbol+offset>`` when they
  point into a kernel symbol and by the string when they are ``char *``; at top
  level a pointer is prefixed with its type: ``(struct vm_struct *) 0xc1234560``;
* structs and unions as ``{flags = 2, addr = 0xc8800000, next = 0x0}``, an
  empty one as ``{<No data fields>}``;
* arrays as ``{1, 2, 3}``, runs of more than 10 equal elements as
  ``0 <repeats 16 times>``, at most 200 elements then ``...``;
* char arrays as strings with one trailing NUL dropped:
  ``"size-32", '\\000' <repeats 12 times>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vmintro.errors import FaultError
from vmintro.types.model import Array, Base, CType, Enum, Pointer, Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["format_char_array", "format_object", "format_value"]

REPEAT_THRESHOLD = 10  # gdb's `set print repeats`
PRINT_MAX = 200  # gdb's `set print elements`

_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 27: "\\033"}


def format_object(prog: Program, ctype: CType, value: Any) -> str:
    """The text gdb's ``print`` shows after ``$1 = `` for a value of type ``ctype``."""
    t = strip_typedefs(ctype)
    if isinstance(t, Pointer) and not _is_char(t.target):
        return f"({ctype.c_name}) {_format_pointer(prog, t, value)}"
    return format_value(prog, ctype, value)


def format_value(prog: Program, ctype: CType, value: Any) -> str:
    """``value`` (plain data as ``Object`` decodes it) in gdb's notation."""
    t = strip_typedefs(ctype)
    if isinstance(t, Struct):
        if not t.fields:
            return "{<No data fields>}"
        inner = ", ".join(
            f"{f.name} = {format_value(prog, f.type, value[f.name])}" for f in t.fields
        )
        return "{" + inner + "}"
    if isinstance(t, Array):
        if isinstance(value, bytes):
            return format_char_array(value)
        return _format_elements(prog, t.element, value)
    if isinstance(t, Pointer):
        return _format_pointer(prog, t, value)
    if isinstance(t, Enum):
        for name, number in t.enumerators:
            if number == value:
                return name
        return str(value)
    if isinstance(t, Base) and t.char and t.size == 1:
        return f"{value} {_char_literal(value & 0xFF)}"
    return str(value)


def _format_elements(prog: Program, element: CType, items: list[Any]) -> str:
    parts: list[str] = []
    things = 0
    i = 0
    while i < len(items) and things < PRINT_MAX:
        reps = 1
        while i + reps < len(items) and items[i + reps] == items[i]:
            reps += 1
        text = format_value(prog, element, items[i])
        if reps > REPEAT_THRESHOLD:
            parts.append(f"{text} <repeats {reps} times>")
            i += reps
            things += REPEAT_THRESHOLD
        else:
            parts.append(text)
            i += 1
            things += 1
    more = "..." if i < len(items) else ""
    return "{" + ", ".join(parts) + more + "}"


def _format_pointer(prog: Program, t: Pointer, value: int) -> str:
    text = f"{value:#x}"
    if value == 0:
        return text
    if _is_char(t.target):
        return f"{text} {_string_at(prog, value)}"
    sym = prog.symbol_at(value)
    if sym is not None:
        offset = value - sym.address
        text += f" <{sym.name}+{offset}>" if offset else f" <{sym.name}>"
    return text


def _is_char(ctype: CType) -> bool:
    t = strip_typedefs(ctype)
    return isinstance(t, Base) and t.char and t.size == 1


def _string_at(prog: Program, address: int) -> str:
    """What gdb shows for the string a ``char *`` points at."""
    out = bytearray()
    try:
        while len(out) < PRINT_MAX:
            chunk = min(PRINT_MAX - len(out), 4096 - (address & 0xFFF))
            data = prog.read(address, chunk)
            nul = data.find(b"\0")
            if nul >= 0:
                out += data[:nul]
                return _quote(bytes(out))
            out += data
            address += chunk
    except FaultError:
        if not out:
            return f"<error: Cannot access memory at address {address:#x}>"
        return _quote(bytes(out)) + "..."
    return _quote(bytes(out)) + "..."


def _escape(byte: int, quote: str) -> str:
    ch = chr(byte)
    if ch == quote or ch == "\\":
        return "\\" + ch
    if 0x20 <= byte < 0x7F:
        return ch
    return _ESCAPES.get(byte, f"\\{byte:03o}")


def _quote(data: bytes) -> str:
    return '"' + "".join(_escape(b, '"') for b in data) + '"'


def _char_literal(byte: int) -> str:
    return "'" + _escape(byte, "'") + "'"


def format_char_array(data: bytes) -> str:
    """A ``char[]`` as gdb prints it: quoted runs, long repeats as ``'c' <repeats N times>``."""
    limit_hit = False
    if data.endswith(b"\0"):
        data = data[:-1]  # the terminator of a full string is implied
    if not data:
        return '""'
    segments: list[str] = []
    current: list[str] = []
    things = 0
    i = 0
    while i < len(data):
        if things >= PRINT_MAX:
            limit_hit = True
            break
        reps = 1
        while i + reps < len(data) and data[i + reps] == data[i]:
            reps += 1
        if reps > REPEAT_THRESHOLD:
            if current:
                segments.append('"' + "".join(current) + '"')
                current = []
            segments.append(f"{_char_literal(data[i])} <repeats {reps} times>")
            i += reps
            things += REPEAT_THRESHOLD
        else:
            current.append(_escape(data[i], '"'))
            i += 1
            things += 1
    if current:
        segments.append('"' + "".join(current) + '"')
    return ", ".join(segments) + ("..." if limit_hit else "")
