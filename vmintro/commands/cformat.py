"""Values printed as crash prints them: gdb's ``print`` with ``set print pretty on``.

Structs and unions go one member per line, nested ones indented; arrays of
structs as ``{{ ... }, { ... }}``; everything else as
:mod:`vmintro.cprint` writes it. With radix 16 integers print in hex
(crash's ``set radix 16``), as gdb's ``output-radix`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmintro.cprint import format_char_array, format_object, format_value
from vmintro.types.model import Array, Base, Enum, Pointer, Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.object import Object

__all__ = ["format_pretty", "format_scalar"]

INDENT = "  "
REPEAT_THRESHOLD = 10
PRINT_MAX = 200


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


def format_pretty(obj: Object, radix: int = 10, depth: int = 0, top: bool = True) -> str:
    """``obj`` as the text after ``$1 = `` in crash; structs span several lines.

    ``depth`` is the nesting level of the first line (for members shown alone);
    ``top`` prefixes a pointer with its type, as gdb does for a whole value.
    The object is read once; its members are sliced from those bytes.
    """
    return _format(obj.read_(), radix, depth, top)


def _format(obj: Object, radix: int, depth: int, top: bool = False) -> str:
    t = strip_typedefs(obj.type_)
    if isinstance(t, Struct):
        return _format_struct(obj, t, radix, depth)
    if isinstance(t, Array):
        return _format_array(obj, t, radix, depth)
    if isinstance(t, (Base, Enum, Pointer)):
        return format_scalar(obj, radix, top)
    return str(obj)


def _format_struct(obj: Object, t: Struct, radix: int, depth: int) -> str:
    if not t.fields:
        return "{<No data fields>}"
    pad = INDENT * (depth + 1)
    lines = []
    for f in t.fields:
        value = _format(obj.member_(f.name), radix, depth + 1)
        lines.append(f"{pad}{f.name} = {value}")
    return "{\n" + ",\n".join(lines) + "\n" + INDENT * depth + "}"


def _format_array(obj: Object, t: Array, radix: int, depth: int) -> str:
    element = strip_typedefs(t.element)
    if isinstance(element, Base) and element.char and element.size == 1:
        data = bytes(int(obj[i]) & 0xFF for i in range(t.count))
        return format_char_array(data)
    if isinstance(element, Struct):
        return _format_struct_array(obj, t, element, radix, depth)
    items = [_format(obj[i], radix, depth) for i in range(min(t.count, PRINT_MAX + 1))]
    return "{" + ", ".join(_collapse(items)) + ("..." if t.count > PRINT_MAX else "") + "}"


def _format_struct_array(obj: Object, t: Array, element: Struct, radix: int, depth: int) -> str:
    """gdb's pretty layout: ``{{`` then each element's members one level deeper."""
    inner = depth + 2
    bodies = []
    for i in range(min(t.count, PRINT_MAX)):
        text = _format_struct(obj[i], element, radix, inner - 1)
        # strip the element's own braces: the separators below supply them
        bodies.append(text[2:-1].rstrip())
    close = INDENT * (depth + 1)
    joined = f"\n{close}}}, {{\n".join(bodies)
    return "{{\n" + joined + f"\n{close}}}}}"


def _collapse(items: list[str]) -> list[str]:
    """Runs of more than ``REPEAT_THRESHOLD`` equal elements as ``x <repeats N times>``."""
    out = []
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
