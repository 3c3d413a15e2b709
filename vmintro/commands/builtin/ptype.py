"""``ptype TYPE|EXPR``: a type's declaration in gdb's layout."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vmintro.commands.builtin._types import lookup_type
from vmintro.commands.expr import type_of
from vmintro.commands.registry import CommandError, arg, command
from vmintro.commands.result import Text
from vmintro.errors import NoDebugInfoError
from vmintro.ptype import ptype as ptype_text
from vmintro.types.model import Pointer, Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program
    from vmintro.types.model import CType

__all__ = ["resolve_type_or_expression", "type_declaration", "type_py"]


def resolve_type_or_expression(prog: Program, text: str) -> tuple[CType, bool]:
    """(type, is it a type name) for a type name or, failing that, an expression.

    Text that starts with a tag keyword can only be a type, so an unknown tag
    is named as gdb names it rather than parsed as an expression.
    """
    try:
        return lookup_type(prog, text), True
    except (CommandError, NoDebugInfoError) as e:
        words = text.split()
        if len(words) >= 2 and words[0] in ("struct", "union", "enum"):
            if isinstance(e, NoDebugInfoError):
                raise
            tag = words[1].rstrip("*")
            try:
                prog.type(f"{words[0]} {tag}")
            except LookupError:
                raise CommandError(f"No {words[0]} type named {tag}.") from None
    return type_of(prog, text), False


def type_declaration(ctype: CType, offsets: bool = False) -> str:
    """gdb's ptype text; pointers to structs show the struct then their stars."""
    stars = ""
    t = ctype
    while isinstance(strip_typedefs(t), Pointer):
        stars += "*"
        t = strip_typedefs(t).target  # type: ignore[attr-defined]
    if stars and isinstance(strip_typedefs(t), Struct):
        return ptype_text(t, offsets) + " " + stars
    return ptype_text(ctype, offsets)


def type_py(prog: Program, text: str) -> tuple[str, CType, bool]:
    """The statement setting ``t`` to the type ``text`` names or to the type of the
    expression ``text``, in a script; the type, and whether ``text`` names one."""
    ctype, is_type = resolve_type_or_expression(prog, text)
    if is_type:
        return f"t = prog.type({ctype.c_name!r})", ctype, True
    line = (
        "from vmintro.commands.expr import type_of  # C expressions, as p reads them\n"
        f"t = type_of(prog, {text!r})  # the expression's type, no memory read"
    )
    return line, ctype, False


def _ptype_py(prog: Program, args: argparse.Namespace) -> str:
    set_t, ctype, _ = type_py(prog, " ".join(args.type))
    offsets = ", offsets=True" if args.offsets else ""
    stars = ""
    t = strip_typedefs(ctype)
    while isinstance(t, Pointer):
        stars += "*"
        t = strip_typedefs(t.target)
    if stars and isinstance(t, Struct):  # gdb shows the struct's body, then the stars
        return (
            "from vmintro.ptype import ptype\n\n"
            f"t = prog.type({t.c_name!r})  # what {ctype.c_name} points to\n"
            f"print(ptype(t{offsets}) + {' ' + stars!r})\n"
        )
    return f"from vmintro.ptype import ptype\n\n{set_t}\nprint(ptype(t{offsets}))\n"


@command(
    "ptype",
    crash="`ptype`",
    gdb="`ptype`",
    help="show a type's declaration (or an expression's type), structs expanded",
    expressions=("type",),
    args=[
        arg("-o", "--offsets", action="store_true", help="show member offsets and sizes"),
        arg("type", nargs="+", synopsis="type", help="a type name (struct page) or expression"),
    ],
    py=_ptype_py,
)
def ptype(prog: Program, args: argparse.Namespace) -> Text:
    """Print a type as gdb's ptype does: typedefs resolved, structure bodies
    shown (with -o, gdb's ptype/o offsets). An expression shows its type.
    """
    ctype, _ = resolve_type_or_expression(prog, " ".join(args.type))
    text = type_declaration(ctype, args.offsets)
    return Text(text, name="ptype", data={"type": ctype.c_name, "size": ctype.size, "text": text})
