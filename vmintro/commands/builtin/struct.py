"""``struct TYPE[.MEMBER[,MEMBER]] [ADDR [COUNT]]``: a structure in memory, crash-style::

struct vm_struct {
  flags = 2,
  addr = 0xc4800000,
  size = 69632,
  next = 0xc10b6200
}
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_address, parse_number, split_count
from vmintro.commands.builtin._types import lookup_type
from vmintro.commands.cformat import format_pretty
from vmintro.commands.registry import CommandError, arg, command, one_of
from vmintro.commands.result import Part, Text
from vmintro.commands.settings import settings
from vmintro.ptype import ptype
from vmintro.types.model import Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.object import Object
    from vmintro.program import Program
    from vmintro.types.model import CType

__all__ = ["split_type_members", "struct_text"]


def split_type_members(spec: str) -> tuple[str, list[str]]:
    """``"vm_struct.addr,size"`` -> ``("vm_struct", ["addr", "size"])``."""
    name, _, members = spec.partition(".")
    return name, [m for m in members.split(",") if m] if members else []


def struct_text(obj: Object, members: list[str], radix: int, offsets: bool = False) -> Text:
    """One structure (or the chosen members of it) as crash prints it."""
    t = strip_typedefs(obj.type_)
    assert isinstance(t, Struct)
    value = obj.read_()
    if members:
        lines = []
        data = {}
        for m in members:
            try:
                member = value.member_(m)
            except LookupError as e:
                raise CommandError(str(e)) from None
            lines.append(f"  {m} = {format_pretty(member, radix, 1, top=False)}")
            data[m] = member.value_()
        return Text("\n".join(lines), name="struct", data=_data(obj, members=data))
    if offsets:
        lines = [f"{t.spell()} {{"]
        for f in t.fields:
            shown = format_pretty(value.member_(f.name), radix, 1, top=False)
            lines.append(f"  [{f.offset:#x}] {f.name} = {shown}")
        text = "\n".join(lines) + "\n}"
    else:
        text = f"{t.spell()} {format_pretty(value, radix)}"
    return Text(text, name="struct", data=_data(obj, value=value.value_()))


def _data(obj: Object, **fields: object) -> dict[str, object]:
    return {"address": obj.address_, "type": obj.type_.c_name, **fields}


def _structs(
    prog: Program,
    ctype: CType,
    address: int,
    count: int,
    args: argparse.Namespace,
    members: list[str],
) -> Iterator[Part]:
    from vmintro.object import Object

    radix = args.radix or settings(prog).radix
    for i in range(count):
        obj = Object(prog, ctype, address=address + i * ctype.size)
        yield struct_text(obj, members, radix, args.offsets)


def _struct_py(prog: Program, args: argparse.Namespace) -> str | None:
    name, members = split_type_members(args.type)
    ctype = lookup_type(prog, name)
    if not args.address:  # the layout: ptype's
        offsets = ", offsets=True" if args.offsets else ""
        return (
            "from vmintro.ptype import ptype\n\n"
            f"print(ptype(prog.type({ctype.c_name!r}){offsets}))  # gdb's ptype layout\n"
        )
    text, count_text = split_count(args.address)
    address = parse_address(prog, text)
    count = parse_number(prog, count_text) if count_text else 1
    base = args.radix or settings(prog).radix
    shown = (
        "\n".join(
            f"    print({m!r}, '=', {'hex' if base == 16 else 'int'}(obj.member_({m!r})))"
            for m in members
        )
        if members
        else f"    print(obj.format_(integer_base={base}, member_type_names=False))"
    )
    return (
        "from vmintro.object import Object\n\n"
        f"for i in range({count}):\n"
        f"    obj = Object(prog, {ctype.c_name!r}, address={address:#x} + i * {ctype.size})\n"
        + shown
        + "\n"
    )


@command(
    "struct",
    crash="`struct`",
    gdb="`p *(struct T *)ADDR`",
    help="show a structure at an address (or its layout)",
    expressions=("address",),
    aliases=("union",),
    args=[
        arg("-o", "--offsets", action="store_true", help="show member offsets"),
        one_of(
            arg("-x", dest="radix", action="store_const", const=16, help="integers in hex"),
            arg("-d", dest="radix", action="store_const", const=10, help="integers in decimal"),
        ),
        arg("type", help="TYPE or TYPE.MEMBER[,MEMBER...] (page, vm_struct.addr,size)"),
        arg(
            "address",
            nargs="*",
            synopsis="[address [count]]",
            help="address (hex), symbol or expression, then COUNT (decimal unless 0x)",
        ),
    ],
    py=_struct_py,
)
def struct(prog: Program, args: argparse.Namespace) -> Part | Iterator[Part]:
    """Show the structure of type TYPE at ADDR, one member a line (gdb's pretty
    print), or only the members listed after the type. A COUNT shows that many
    structures in a row. Without an address, the type's layout (as ptype;
    with -o, each member's offset and size).

    A symbol alone as ADDR means the symbol's address (as in crash); an
    expression gives its value: struct vm_struct *vmlist. -x and -d print
    integers in hex or decimal whatever the radix (set radix, hex, dec) is.
    """
    name, members = split_type_members(args.type)
    ctype = lookup_type(prog, name)
    if not isinstance(strip_typedefs(ctype), Struct):
        raise CommandError(f"'{name}' is not a struct or union")
    for m in members:
        try:
            strip_typedefs(ctype).resolve(m)  # type: ignore[attr-defined]
        except KeyError:
            raise CommandError(f"'{ctype.c_name}' has no member '{m}'") from None
    if not args.address:
        return Text(ptype(ctype, offsets=args.offsets), name="ptype")
    text, count_text = split_count(args.address)
    address = parse_address(prog, text)
    count = parse_number(prog, count_text) if count_text else 1
    if count < 1:
        raise CommandError(f"struct: bad count {count}")
    return _structs(prog, ctype, address, count, args, members)
