"""C declarations of types, laid out as gdb's ``ptype`` prints them."""

from __future__ import annotations

from vmintro.types.model import QUALIFIERS, CType, Qualified, Struct, Typedef, qualified

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
    words: set[str] = set()
    while isinstance(t, (Typedef, Qualified)):
        # `volatile atomic_t`: gdb keeps the qualifiers on what the typedefs name
        if isinstance(t, Qualified):
            words.update(t.qualifier.split())
        t = t.target
    if not isinstance(t, Struct):
        return f"type = {qualified(t, words).c_name}"
    qualifier = " ".join(q for q in QUALIFIERS if q in words)
    keyword = f"{qualifier} {t.keyword}" if qualifier else t.keyword
    if not t.complete:
        return f"type = {qualified(t, words).c_name} {{\n{INDENT}<incomplete type>\n}}"
    head = f"{keyword} {t.tag} {{" if t.tag else f"{keyword} {{"
    lines = [f"type = {head}"] + _body(t, 0, offsets)
    if offsets:
        lines.append(f"\n{INDENT * 5}/* total size (bytes): {t.size:4d} */")
    lines.append("}")
    return "\n".join(lines)


def whatis(ctype: CType) -> str:
    """``whatis``: the type's name, typedefs kept."""
    return f"type = {ctype.c_name}"
