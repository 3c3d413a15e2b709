"""``list``: walk a linked list, crash-style.

Two shapes of list, as crash distinguishes them:

* singly linked (default): START is the first structure; the pointer to the
  next one is at OFFSET in each (``-o 12`` or ``-o vm_struct.next``); the walk
  ends at NULL or back at START;
* ``list_head`` lists: the ``next`` pointers point at the ``list_head``
  embedded at OFFSET in the next structure, so each entry is ``next - OFFSET``.
  ``-H START``: START is a standalone list head (not shown); ``-h START``:
  START is a structure holding one (shown). The walk ends back at the head.

Each entry's address is shown; ``-s STRUCT[.MEMBER,...]`` shows the structure.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vmintro.commands.argtypes import parse_address
from vmintro.commands.builtin._types import lookup_type
from vmintro.commands.builtin.struct import split_type_members, struct_text
from vmintro.commands.registry import CommandError, UsageError, arg, command, one_of
from vmintro.commands.result import Column, Part, Row, Table, Text
from vmintro.commands.settings import settings
from vmintro.errors import CorruptionError, FaultError
from vmintro.types.model import Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program
    from vmintro.types.model import CType

__all__ = ["walk_list"]

_MASK = 0xFFFFFFFF


def _offset(prog: Program, text: str | None) -> int:
    """``-o``: a number, or ``STRUCT.MEMBER`` (a member path)."""
    if text is None:
        return 0
    try:
        return int(text, 0)
    except ValueError:
        pass
    name, _, member = text.partition(".")
    if not member:
        raise UsageError(f"list: -o wants a number or STRUCT.MEMBER, not '{text}'")
    t = strip_typedefs(lookup_type(prog, name))
    if not isinstance(t, Struct):
        raise CommandError(f"'{name}' is not a struct or union")
    try:
        return t.offsetof(member)
    except KeyError:
        raise CommandError(f"'{t.spell()}' has no member '{member}'") from None


def walk_list(
    prog: Program, start: int, offset: int, list_head: bool = False, head_excluded: bool = False
) -> Iterator[int]:
    """The address of every entry, as described in the module docstring.

    :raises CorruptionError: when an entry comes round twice, or a link cannot be read.
    """
    seen: set[int] = set()

    def link(at: int) -> int:
        try:
            return prog.read_u32(at)
        except FaultError as e:
            raise CorruptionError(f"list: cannot read the next pointer: {e}", at) from None

    if list_head:
        head = start if head_excluded else start + offset
        if not head_excluded:
            yield start
        pos = link(head)
        while pos and pos != head:
            entry = (pos - offset) & _MASK
            if entry in seen:
                raise CorruptionError(f"list: duplicate list entry: {entry:x}", entry)
            seen.add(entry)
            yield entry
            pos = link(pos)
        return
    entry = start
    while entry:
        if entry in seen:
            raise CorruptionError(f"list: duplicate list entry: {entry:x}", entry)
        seen.add(entry)
        yield entry
        entry = link(entry + offset)
        if entry == start:
            return


def _with_structs(
    prog: Program, entries: Iterator[int], ctype: CType, members: list[str]
) -> Iterator[Part]:
    from vmintro.object import Object

    radix = settings(prog).radix
    for entry in entries:
        text = struct_text(Object(prog, ctype, address=entry), members, radix)
        yield Text(f"{entry:x}\n{text.text}", name="entry", data=text.data)


def _list_py(prog: Program, args: argparse.Namespace) -> str:
    offset = _offset(prog, args.offset)
    start = parse_address(prog, " ".join(args.start))
    if args.head or args.holder:
        # list_head links point at the list_head inside the next entry
        head = start if args.head else start + offset
        lines = ["from vmintro.helpers import list_for_each\n"]
        if args.holder:
            lines.append(
                f"entries = [{start:#x}]  # -h: the structure holding the head comes first"
            )
        else:
            lines.append("entries = []  # -H: the head is no entry")
        lines += [
            f"for node in list_for_each(prog, {head:#x}):  # each next, back links checked",
            f"    entries.append(node - {offset})  # container_of(node, ..., member)",
        ]
    else:
        lines = [
            "from vmintro.helpers import singly_linked\n",
            f"# a NULL-terminated list, the next pointer {offset} bytes into each node",
            f"entries = list(singly_linked(prog, {start:#x}, {offset}, 'list'))",
        ]
    if not args.struct:
        return "\n".join([*lines, "for entry in entries:", "    print(f'{entry:x}')"]) + "\n"
    name, members = split_type_members(args.struct)
    ctype = lookup_type(prog, name)
    if not isinstance(strip_typedefs(ctype), Struct):
        raise CommandError(f"'{name}' is not a struct or union")
    base = settings(prog).radix
    lines[0] = (
        "from vmintro.commands.cformat import format_pretty  # crash's layout\n"
        f"from vmintro.object import Object\n{lines[0]}"
    )
    lines += [
        "for entry in entries:",
        "    print(f'{entry:x}')",
        f"    obj = Object(prog, {ctype.c_name!r}, address=entry).read_()",
    ]
    if members:
        lines += [
            f"    print('  {m} =', format_pretty(obj.member_({m!r}), {base}, 1, top=False))"
            for m in members
        ]
    else:
        spelled = strip_typedefs(ctype).spell()
        lines.append(f"    print({spelled!r}, format_pretty(obj, {base}))")
    return "\n".join(lines) + "\n"


@command(
    "list",
    crash="`list`",
    gdb="none: a loop of `p $n = $n->next` by hand",
    help="walk a linked list by offset or STRUCT.MEMBER, crash-style",
    expressions=("start",),
    args=[
        arg(
            "-o",
            "--offset",
            metavar="OFFSET",
            help="offset of the link: bytes (decimal unless 0x) or STRUCT.MEMBER",
        ),
        arg("-s", "--struct", metavar="STRUCT", help="show each entry as STRUCT[.MEMBER,...]"),
        one_of(
            arg("-H", dest="head", action="store_true", help="START is a list_head list head"),
            arg("-h", dest="holder", action="store_true", help="START is a structure holding one"),
        ),
        arg("start", nargs="+", synopsis="start", help="address (hex), symbol or expression"),
    ],
    py=_list_py,
)
def list_(prog: Program, args: argparse.Namespace) -> Part | Iterator[Part]:
    """Follow a list from START, printing each entry's address (and, with -s,
    its contents). Singly linked lists end at NULL or back at START; with -H
    or -h the links are struct list_head, whose next points at the list_head
    embedded at OFFSET of the next entry. A cycle that does not come back to
    the start stops with 'duplicate list entry'.

    Examples:
      list -o vm_struct.next -s vm_struct.addr,size *vmlist
      list -H -o page.list contig_page_data.node_zones[1].free_area[0].free_list
    """
    offset = _offset(prog, args.offset)
    start = parse_address(prog, " ".join(args.start))
    entries = walk_list(prog, start, offset, args.head or args.holder, args.head)
    if args.struct:
        name, members = split_type_members(args.struct)
        ctype = lookup_type(prog, name)
        if not isinstance(strip_typedefs(ctype), Struct):
            raise CommandError(f"'{name}' is not a struct or union")
        return _with_structs(prog, entries, ctype, members)
    return Table(
        [Column("address", "ADDRESS", "x")],
        (Row(address=e) for e in entries),
        name="list",
        header=False,
    )
