"""Values printed as crash prints them: gdb's ``print`` with ``set print pretty on``.

Structs and unions go one member per line, nested ones indented; arrays of
structs as ``{{ ... }, { ... }}``; everything else as
:mod:`vmintro.cprint` writes it. With radix 16 integers print in hex
(crash's ``set radix 16``), as gdb's ``output-radix`` does. A format letter
(gdb's ``print/x``, :data:`FORMAT_LETTERS`) instead prints every integer and
pointer in that format, char arrays element by element, as gdb does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.cprint import format_char_array, format_object, format_value
from vmintro.types.model import Array, Base, Enum, Pointer, Struct, Void, strip_typedefs

if TYPE_CHECKING:
    from vmintro.object import Object

__all__ = ["FORMAT_LETTERS", "format_letter", "format_pretty", "format_scalar"]

INDENT = "  "
REPEAT_THRESHOLD = 10
PRINT_MAX = 200
# gdb's print formats for integers: hex, signed and unsigned decimal, octal, binary
# (t for two), the low byte as a char, an address with its symbol, zero-padded hex
FORMAT_LETTERS = "xduotcaz"
_CHAR = Base("char", 1, True, char=True)  # what gdb's /c casts to: i386's char is signed
_ADDRESS = Pointer(Void())  # what /a prints as: a pointer, <symbol+offset> after it


def format_letter(obj: Object, letter: str) -> str:
    """An integer, enum or pointer as gdb's ``print/LETTER`` prints it: the value's
    bits, as wide as its type, read in the letter's base; d reads them signed, c
    and a with the type's own signedness (``p/a (char)200`` is 0xffffffc8).
    """
    t = strip_typedefs(obj.type_)
    bits = 8 * t.size
    value = int(obj) & ((1 << bits) - 1)
    signed = value - (1 << bits) if value >> (bits - 1) else value
    is_signed = isinstance(t, Base) and t.signed  # pointers and enums are not
    own = signed if is_signed else value
    if letter == "x":
        return f"{value:#x}"
    if letter == "z":
        return f"0x{value:0{bits // 4}x}"
    if letter == "o":
        return f"0{value:o}" if value else "0"
    if letter == "t":
        return f"{value:b}"
    if letter == "d":
        return str(signed)
    if letter == "u":
        return str(value)
    if letter == "c":  # the low byte, as a char as signed as the value's type
        byte = value & 0xFF
        return format_value(obj.prog_, _CHAR, byte - 256 if is_signed and byte >= 0x80 else byte)
    if letter == "a":
        return format_value(obj.prog_, _ADDRESS, own & ((1 << 8 * _ADDRESS.size) - 1))
    raise ValueError(f"undefined output format {letter!r}")


def format_scalar(obj: Object, radix: int = 10, top: bool = False) -> str:
    """An integer, enum or pointer; ``top`` prefixes a pointer with its type, as gdb."""
    t = strip_typedefs(obj.type_)
    value = int(obj)
    if radix == 16 and isinstance(t, Base):
        bits = 8 * t.size
        text = f"{value & ((1 << bits) - 1):#x}"
        if t.char and t.size == 1:
            return f"{text} {format_value(obj.prog_, obj.type_, value).split(' ', 1)[1]}"
        return text
    if top:
        return format_object(obj.prog_, obj.type_, value)
    return format_value(obj.prog_, obj.type_, value)


def format_pretty(
    obj: Object, radix: int = 10, depth: int = 0, top: bool = True, fmt: str | None = None
) -> str:
    """``obj`` as the text after ``$1 = `` in crash; structs span several lines.

    ``depth`` is the nesting level of the first line (for members shown alone);
    ``top`` prefixes a pointer with its type, as gdb does for a whole value;
    ``fmt``, a letter of :data:`FORMAT_LETTERS`, prints every integer and pointer
    in that format (gdb's ``print/x``) instead of in ``radix``.
    The object is read once; its members are sliced from those bytes.
    """
    return _format(obj.read_(), radix, depth, top, fmt)


def _format(obj: Object, radix: int, depth: int, top: bool = False, fmt: str | None = None) -> str:
    t = strip_typedefs(obj.type_)
    if isinstance(t, Struct):
        return _format_struct(obj, t, radix, depth, fmt)
    if isinstance(t, Array):
        return _format_array(obj, t, radix, depth, fmt)
    if isinstance(t, (Base, Enum, Pointer)):
        return format_letter(obj, fmt) if fmt else format_scalar(obj, radix, top)
    return str(obj)


def _format_struct(obj: Object, t: Struct, radix: int, depth: int, fmt: str | None) -> str:
    if not t.fields:
        return "{<No data fields>}"
    pad = INDENT * (depth + 1)
    lines = []
    for f in t.fields:
        value = _format(obj.member_(f.name), radix, depth + 1, fmt=fmt)
        lines.append(f"{pad}{f.name} = {value}")
    return "{\n" + ",\n".join(lines) + "\n" + INDENT * depth + "}"


def _format_array(obj: Object, t: Array, radix: int, depth: int, fmt: str | None) -> str:
    element = strip_typedefs(t.element)
    if isinstance(element, Base) and element.char and element.size == 1 and not fmt:
        data = bytes(int(obj[i]) & 0xFF for i in range(t.count))
        return format_char_array(data)
    if isinstance(element, Struct):
        return _format_struct_array(obj, t, element, radix, depth, fmt)
    items = [_format(obj[i], radix, depth, fmt=fmt) for i in range(min(t.count, PRINT_MAX + 1))]
    return "{" + ", ".join(_collapse(items)) + ("..." if t.count > PRINT_MAX else "") + "}"


def _format_struct_array(
    obj: Object, t: Array, element: Struct, radix: int, depth: int, fmt: str | None
) -> str:
    """gdb's pretty layout: ``{{`` then each element's members one level deeper."""
    inner = depth + 2
    bodies = []
    for i in range(min(t.count, PRINT_MAX)):
        text = _format_struct(obj[i], element, radix, inner - 1, fmt)
        # strip the element's own braces: the separators below supply them
        bodies.append(text[2:-1].rstrip())
    close = INDENT * (depth + 1)
    joined = f"\n{close}}}, {{\n".join(bodies)
    return "{{\n" + joined + f"\n{close}}}}}"


def _collapse(items: list[str]) -> list[str]:
    """Runs of more than ``REPEAT_THRESHOLD`` equal elements as ``x <repeats N times>``."""
    out: list[str] = []
    i = 0
    while i < len(items) and len(out) < PRINT_MAX:
        reps = 1
        while i + reps < len(items) and items[i + reps] == items[i]:
            reps += 1
        if reps > REPEAT_THRESHOLD:
            out.append(f"{items[i]} <repeats {reps} times>")
        else:
            out.extend(items[i : i + reps])
        i += reps
    return out
