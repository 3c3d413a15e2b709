"""``whatis NAME|TYPE|EXPR``: a symbol's declaration, or a type with its size."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from vmintro.commands.builtin.ptype import resolve_type_or_expression, type_py
from vmintro.commands.registry import arg, command
from vmintro.commands.result import Text
from vmintro.ptype import ptype
from vmintro.types.model import Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program


def _whatis_py(prog: Program, args: argparse.Namespace) -> str:
    text = " ".join(args.name)
    if re.fullmatch(r"[A-Za-z_]\w*", text) and text in prog:
        return (
            f"t = prog.variable({text!r}).type_\n"
            f"print(t.spell({text!r}) + ';')  # its C declaration\n"
        )
    set_t, ctype, is_type = type_py(prog, text)
    if is_type and isinstance(strip_typedefs(ctype), Struct):
        return (
            "from vmintro.ptype import ptype\n\n"
            f"{set_t}\n"
            'print(ptype(t).removeprefix("type = "))  # the struct, expanded\n'
            'print("SIZE:", t.size)\n'
        )
    return f"{set_t}\nprint('type =', t.c_name)\n"


@command(
    "whatis",
    crash="`whatis`",
    gdb="`whatis`",
    help="a variable's declaration, or a type's definition and size",
    expressions=("name",),
    args=[arg("name", nargs="+", synopsis="name", help="variable, type name or expression")],
    py=_whatis_py,
)
def whatis(prog: Program, args: argparse.Namespace) -> Text:
    """As crash's whatis: a global variable shows its C declaration
    (struct vm_struct *vmlist;); a struct or union its members and SIZE; any
    other type or expression gdb's whatis line (type = ...). An expression's
    type is the one p computes: (char)1 + 1 is an int, as C promotes it.
    """
    text = " ".join(args.name)
    if re.fullmatch(r"[A-Za-z_]\w*", text) and text in prog:
        ctype = prog.variable(text).type_
        out = f"{ctype.spell(text)};"
        return Text(out, name="whatis", data={"name": text, "type": ctype.c_name, "text": out})
    ctype, is_type = resolve_type_or_expression(prog, text)
    if is_type and isinstance(strip_typedefs(ctype), Struct):
        body = ptype(ctype).removeprefix("type = ")
        out = f"{body}\nSIZE: {ctype.size}"
    else:
        out = f"type = {ctype.c_name}"
    return Text(out, name="whatis", data={"type": ctype.c_name, "size": ctype.size, "text": out})
