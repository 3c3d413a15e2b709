"""``p[/FMT] EXPR``: print the value of a C expression, as crash (gdb, pretty) does::

crash> p vmlist
vmlist = $1 = (struct vm_struct *) 0xc10b61e0
crash> p vmlist->size
$2 = 69632
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from vmintro.commands.cformat import FORMAT_LETTERS, format_pretty
from vmintro.commands.expr import evaluate
from vmintro.commands.registry import CommandError, UsageError, arg, command, one_of
from vmintro.commands.result import Text
from vmintro.commands.settings import settings
from vmintro.types.model import Void, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program


def _p_py(prog: Program, args: argparse.Namespace) -> str:
    text = " ".join(args.expression)
    return (
        "from vmintro.commands.expr import evaluate  # C expressions, as p reads them\n\n"
        f"value = evaluate(prog, {text!r})  # an Object\n"
        "print(value.value_())  # its value as Python data\n"
        "print(value.format_())  # in drgn's notation\n"
    )


@command(
    "p",
    crash="`p`",
    gdb="`print`",
    help="print the value of an expression",
    expressions=("expression",),
    aliases=("print",),
    formats=FORMAT_LETTERS,
    args=[
        one_of(
            arg("-x", dest="radix", action="store_const", const=16, help="integers in hex"),
            arg("-d", dest="radix", action="store_const", const=10, help="integers in decimal"),
        ),
        arg(
            "expression",
            nargs="+",
            synopsis="expression",
            help="one C expression, spaces allowed: vmlist->next, mem_map + 0x100",
        ),
    ],
    py=_p_py,
)
def p(prog: Program, args: argparse.Namespace) -> Text:
    """Evaluate a C expression over the kernel's variables and print its value,
    structures one member a line. Values are numbered ($1, $2, ...) and can be
    used in later expressions; $ is the last one.

    Expressions take symbols, numbers (decimal, 0x hex, with C's suffixes
    u l ul ll ull), -> and . member access, [i], unary * and &, casts such
    as (struct page *)0xc100001c or (unsigned)x, sizeof, + - * / % with C's
    pointer scaling, ~ & | ^ << >>, the comparisons < > <= >= == != and
    ! && ||, with C's promotions, conversions and precedence (whatis shows
    the type they give), and the macros VMALLOC_START, VMALLOC_END,
    PAGE_OFFSET, PAGE_SIZE, PAGE_SHIFT, high_memory. Where > >> | could
    redirect the output instead, see OUTPUT below.
    Integers print in the radix set by 'set radix' unless -x or -d is given.

    As in gdb, p/FMT (or p /FMT) prints every integer and pointer of the value
    in one format: x hex, z zero-padded hex, d signed and u unsigned decimal,
    o octal, t binary, c a character, a an address with <symbol+offset>.
    """
    if args.format and args.radix:
        raise UsageError("p: a /FMT or -x/-d, not both")
    text = " ".join(args.expression)
    value = evaluate(prog, text)
    if isinstance(strip_typedefs(value.type_), Void):  # *(void *)p: there is nothing to read
        raise CommandError("p: Attempt to dereference a generic pointer.")  # gdb's words
    state = settings(prog)
    rendered = format_pretty(value, args.radix or state.radix, fmt=args.format)
    state.values.append(value)
    number = len(state.values)
    prefix = f"{text} = " if re.fullmatch(r"[A-Za-z_]\w*", text) and text in prog else ""
    data = {
        "expression": text,
        "history": number,
        "type": value.type_.c_name,
        "address": value.address_,
        "value": value.value_(),
    }
    return Text(f"{prefix}${number} = {rendered}", name="value", data=data)
