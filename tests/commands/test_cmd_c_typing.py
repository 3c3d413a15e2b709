"""``whatis`` and ``p`` type an expression by the same C rules, as gdb and drgn do.

Two oracles. Real gdb on the demo image prints, for a table of expressions over
every integer type (casts to char, short, int, long and long long, signed and
unsigned, suffixed literals, mixed signedness, shifts, comparisons, unary
operators, members), the type ``whatis`` gives and the value ``p`` gives;
``vmintro -c`` must print both the same. gdb's ``binop_promote`` names the
common type of 32 bits of an ``(unsigned) long`` and another integer ``int`` or
``unsigned int``, by width; C names it ``long`` or ``unsigned long`` (same width,
same signedness, same value): those rows say which name C gives, and drgn, which
follows C, checks every pair of integer types under every binary operator.
"""

from __future__ import annotations

import json
import operator
import re
import subprocess
import sys
from pathlib import Path

import pytest
from oracles import import_oracle

from vmintro.commands.expr import evaluate, type_of
from vmintro.program import Program

DEMO = Path(__file__).resolve().parents[2] / "images" / "demo"

# (expression, C's name of its type where gdb names a long result by width, else None)
TABLE: list[tuple[str, str | None]] = [
    # the integer promotions: what is narrower than int computes as int
    ("(char)1 + 1", None),
    ("(char)1", None),
    ("-(char)1", None),
    ("~(char)1", None),
    ("+(short)1", None),
    ("(unsigned char)200 + (unsigned char)100", None),
    ("(char)100 * (char)100", None),
    ("(short)1 * (short)2", None),
    ("(unsigned short)1 - 2", None),
    ("(unsigned short)65535 + 1", None),
    ("(short)-2 * (unsigned short)3", None),
    ("7 % (unsigned char)3", None),
    ("contig_page_data.nr_zones * (short)2", None),
    ("mem_map[0].count.counter + (char)1", None),
    # constants and their suffixes
    ("1u", None),
    ("1UL", None),
    ("1L", None),
    ("1LL", None),
    ("1ULL", None),
    # mixed signedness: the usual arithmetic conversions
    ("(char)-1 + 0u", None),
    ("1 + 1u", None),
    ("-1 / 2u", None),
    ("1 - (unsigned)2", None),
    ("(unsigned)1 + 1", None),
    ("(unsigned)-7 / 2", None),
    ("(long)1", None),
    ("(unsigned long)1 + 1", "unsigned long"),
    ("(long)1 + 1", "long"),
    ("(long)-1 + (unsigned)1", "unsigned long"),
    ("(unsigned)1 + (long)-2", "unsigned long"),
    ("(unsigned long)5 % (long)3", "unsigned long"),
    ("(unsigned short int)7 + (long int)1", "long"),
    ("(long unsigned int)1 + (signed)1", "unsigned long"),
    ("vmlist->size + 1", "unsigned long"),
    ("vmlist->flags & (unsigned char)2", "unsigned long"),
    ("(unsigned)1 + (long long)-2", None),
    ("(unsigned long long)1 + (long)-2", None),
    # shifts: the type of the promoted left operand
    ("(char)1 << 2", None),
    ("1 << (char)2", None),
    ("(unsigned char)1 << 7", None),
    ("(unsigned)1 << 31", None),
    ("(long long)1 << 40", None),
    ("1 << 2ULL", None),
    ("(short)-8 >> 1", None),
    ("(unsigned long)-8 >> 1", None),
    ("(long)-8 >> 1", None),
    ("vmlist->size >> 12", None),
    # comparisons and logical operators: an int, after the conversions
    ("(char)1 < (char)2", None),
    ("(unsigned)1 == 1", None),
    ("-1 < 1u", None),
    ("(unsigned char)1 > -1", None),
    ("(long)-1 < (unsigned)1", None),
    ("(long long)-1 < 1u", None),
    ("!(char)1", None),
    ("(char)1 && 1", None),
    ("(long long)5 || 0", None),
    # unary minus and ~ of unsigned types
    ("-(unsigned)1", None),
    ("-(unsigned char)1", None),
    ("-(unsigned short)1", None),
    ("~(unsigned short)0", None),
    ("-(unsigned long)1", None),
    ("-(unsigned long long)1", None),
    ("~(long)0", None),
    ("-vmlist->size", None),
    # pointers: a difference is a long
    ("vmlist - vmlist", None),
    ("&mem_map[1] - &mem_map[0]", None),
    # qualifiers: a volatile member (DW_TAG_volatile_type on its type) is read as a
    # volatile object, its address points to one; a value computed from it is not
    ("init_mm.mm_users.counter", None),
    ("init_task_union.task.state", None),
    ("&init_task_union.task.need_resched", None),
    ("*&init_mm.mm_users.counter", None),
    ("init_mm.mm_users.counter + 1", None),
    ("(volatile long *)&init_task_union", None),
    ("(int * volatile)0", None),
    ("(char ** volatile *)0", None),
    ("(const volatile unsigned long)1", None),
]
# ptype of qualified types: the qualifier stays on what the typedefs name
PTYPES = [
    "init_task_union.task.state",
    "init_mm.mm_users.counter",
    "volatile atomic_t",
    "(const volatile atomic_t *)0",
]
# gdb's name, by width, of a 32-bit common type that C names with long
GDB_BY_WIDTH = {"long": "int", "unsigned long": "unsigned int"}


def _lines() -> list[str]:
    # in parentheses, so that no > or >> can be read as a redirection
    lines = [f"{command} ({expr})" for expr, _ in TABLE for command in ("whatis", "p")]
    return lines + [f"ptype {what}" for what in PTYPES]


def _value(text: str) -> str:
    """What a line printed, without gdb's ``$N = `` history prefix."""
    return re.sub(r"^\$\d+ = ", "", text.strip())


@pytest.fixture(scope="module")
def gdb_says(gdb: str) -> dict[str, str]:
    args = [gdb, "-batch", "-nx", f"{DEMO}.vmlinux", f"{DEMO}.vmcore"]
    for line in _lines():
        args += ["-ex", "echo @@\\n", "-ex", line]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    parts = proc.stdout.split("@@\n")[1:]
    assert len(parts) == len(_lines()), proc.stdout + proc.stderr
    return dict(zip(_lines(), map(_value, parts), strict=True))


@pytest.fixture(scope="module")
def vmintro_says() -> dict[str, str]:
    """The same lines through ``vmintro --json -c``, one process for all of them."""
    argv = [sys.executable, "-m", "vmintro.cli", "--json", "-c", "; ".join(_lines()), str(DEMO)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    documents = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["command"] for d in documents] == _lines(), proc.stderr
    return {
        d["command"]: _value(d["results"][0]["text"] if d["results"] else d["error"])
        for d in documents
    }


@pytest.mark.parametrize(("expr", "c_name"), TABLE, ids=[expr for expr, _ in TABLE])
def test_whatis_and_p_agree_with_gdb(
    gdb_says: dict[str, str], vmintro_says: dict[str, str], expr: str, c_name: str | None
) -> None:
    whatis, p = f"whatis ({expr})", f"p ({expr})"
    assert vmintro_says[p] == gdb_says[p]
    if c_name is None:
        assert vmintro_says[whatis] == gdb_says[whatis]
    else:
        assert gdb_says[whatis] == f"type = {GDB_BY_WIDTH[c_name]}"
        assert vmintro_says[whatis] == f"type = {c_name}"


@pytest.mark.parametrize("what", PTYPES)
def test_ptype_of_qualified_types_agrees_with_gdb(
    gdb_says: dict[str, str], vmintro_says: dict[str, str], what: str
) -> None:
    assert vmintro_says[f"ptype {what}"] == gdb_says[f"ptype {what}"]


def test_volatile_members_keep_their_qualifier(prog: Program, gdb_says: dict[str, str]) -> None:
    """The library's member objects (a struct's attribute, ``member_`` with a path,
    a task walk's rows) have the member's declared type, as gdb's ``whatis`` names it."""
    from vmintro.helpers import for_each_task

    task = prog["init_task_union"].task
    (walked,) = (t for t in for_each_task(prog, idle=True) if t.value_() == task.address_)
    counter = "init_mm.mm_users.counter"
    for expr, obj in (
        (counter, prog["init_mm"].mm_users.counter),
        (counter, prog["init_mm"].member_("mm_users.counter")),
        ("init_task_union.task.state", task.state),
        ("init_task_union.task.state", walked.state),
        ("&init_task_union.task.need_resched", walked.need_resched.address_of_()),
        ("&init_task_union.task.need_resched", task.member_("need_resched").address_of_()),
    ):
        assert f"type = {obj.type_}" == gdb_says[f"whatis ({expr})"], expr
    assert prog.type("int * volatile").c_name == "int * volatile"


def test_values_of_volatile_objects_are_unqualified(prog: Program, drgn_i386) -> None:
    """Arithmetic on a volatile object gives a plain value, as drgn's (gdb keeps the
    qualifier on ``-x``, C and drgn do not)."""
    drgn, dprog = drgn_i386
    volatile = dprog.int_type("int", 4, True, qualifiers=drgn.Qualifiers.VOLATILE)
    theirs = drgn.Object(dprog, volatile, 2)
    ours = prog["init_mm"].mm_users.counter
    assert ours.type_.c_name == theirs.type_.type_name()
    for apply in (operator.neg, operator.invert, operator.pos, lambda x: x + 1):
        assert apply(ours).type_.c_name == apply(theirs).type_.type_name()


# -- every pair of integer types under every binary operator, against drgn ---------------

INTEGER_TYPES = [
    "char",
    "unsigned char",
    "short",
    "unsigned short",
    "int",
    "unsigned int",
    "long",
    "unsigned long",
    "long long",
    "unsigned long long",
]
# each operator as drgn applies it to two of its Objects (its / is C's division)
OPERATORS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
    "<<": operator.lshift,
    ">>": operator.rshift,
    "<": operator.lt,  # a bool: C's int 0 or 1
    "==": operator.eq,
}


@pytest.fixture(scope="module")
def drgn_i386():
    """A drgn program of a 32-bit little-endian machine: i386's integer types."""
    drgn = import_oracle("drgn")
    platform = drgn.Platform(drgn.Architecture.UNKNOWN, drgn.PlatformFlags.IS_LITTLE_ENDIAN)
    return drgn, drgn.Program(platform)


@pytest.mark.parametrize("left", INTEGER_TYPES)
def test_conversions_agree_with_drgn(prog: Program, drgn_i386, left: str) -> None:
    drgn, dprog = drgn_i386
    for right in INTEGER_TYPES:
        a, b = drgn.Object(dprog, left, -7), drgn.Object(dprog, right, 3)
        for op, apply in OPERATORS.items():
            expected = apply(a, b)
            if isinstance(expected, bool):
                expected = drgn.Object(dprog, "int", int(expected))
            text = f"({left})-7 {op} ({right})3"
            ours = evaluate(prog, text)
            assert (ours.type_.c_name, int(ours)) == (
                expected.type_.type_name(),
                expected.value_(),
            ), text
            assert type_of(prog, text).c_name == ours.type_.c_name, text
