"""C declarations of types, laid out as gdb's ``ptype`` prints them."""

from __future__ import annotations

from vmintro.types.model import CType, Struct, Typedef, strip_typedefs

__all__ = ["ptype", "whatis"]

INDENT = "    "


def _body(struct: Struct, depth: int, offsets: bool) -> list[str]:
    pad = INDENT * (depth + 1)
    lines = []
    for f in struct.fields:
        inner = f.type
        if isinstance(inner, Struct) and inner.tag is None:
            head = f"{inner.keyword} {{"
            text = [pad + head] + _body(inner, depth + 1, offsets) + [f"{pad}}} {f.name};"]
        else:
            decl = f.spell(f.name)
            if f.bit_size:
                decl += f" : {f.bit_size}"
            text = [f"{pad}{decl};"]
        if offsets:
            text[0] = f"/* {f.offset:#6x} | {f.type.size:4d} */" + text[0]
        lines += text
    return lines


def ptype(ctype: CType, offsets: bool = False) -> str:
    """``ptype``: the type with typedefs resolved one level and struct bodies shown.

    With ``offsets``, each member line starts with its offset and size, like
    gdb's ``ptype/o``.
    """
    t = ctype
    if isinstance(t, Typedef):
        t = strip_typedefs(t)
    if isinstance(t, Struct):
        if not t.complete:
            return f"type = {t.spell()} {{\n{INDENT}<incomplete type>\n}}"
        head = f"{t.keyword} {t.tag} {{" if t.tag else f"{t.keyword} {{"
        lines = [f"type = {head}"] + _body(t, 0, offsets)
        if offsets:
            lines.append(f"\n{INDENT * 5}/* total size (bytes): {t.size:4d} */")
        lines.append("}")
        return "\n".join(lines)
    return f"type = {t.c_name}"


def whatis(ctype: CType) -> str:
    """``whatis``: the type's name, typedefs kept."""
    return f"type = {ctype.c_name}"
