"""C's typing of integers on i386: the one home of these rules.

gcc compiles 2.4.20 for i386 as ILP32: ``int`` and ``long`` are 32 bits,
``long long`` 64, ``char`` is signed, and an enum is ``unsigned int`` unless it
has a negative enumerator. On that machine this module gives

* the spelling of a type from its specifiers (``unsigned`` is ``unsigned int``,
  ``long int`` is ``long``), C99 6.7.2;
* the type of an integer constant from its value and suffix (``1u``, ``4096UL``);
* the integer promotions (C99 6.3.1.1): what is narrower than ``int`` becomes ``int``;
* the usual arithmetic conversions (C99 6.3.1.8): the common type of two operands.

Object arithmetic (what ``p`` computes) and the typing of expressions without
reading memory (what ``whatis`` and ``ptype`` print) both use these functions.
They agree with gdb in every value and signedness; where an operand is a
``long``, C (and drgn) name the common type of 32 bits ``long`` or ``unsigned
long``, and gdb, whose ``binop_promote`` goes by width, names it ``int`` or
``unsigned int``: vmintro follows C, as the kernel's own types do.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from vmintro.types.model import Base, CType, Enum, Qualified, strip_typedefs

__all__ = [
    "INT",
    "LONG",
    "LONG_LONG",
    "UNSIGNED_INT",
    "UNSIGNED_LONG",
    "UNSIGNED_LONG_LONG",
    "common_type",
    "constant_type",
    "integer_type_name",
    "is_integer",
    "promote",
]

INT = Base("int", 4, True)
UNSIGNED_INT = Base("unsigned int", 4, False)
LONG = Base("long", 4, True)
UNSIGNED_LONG = Base("unsigned long", 4, False)
LONG_LONG = Base("long long", 8, True)
UNSIGNED_LONG_LONG = Base("unsigned long long", 8, False)

# The integer conversion rank (C99 6.3.1.1) of int, long and long long, and the
# type of each rank and signedness.
_RANK_INT, _RANK_LONG, _RANK_LONG_LONG = 1, 2, 3
_BY_RANK = {
    (_RANK_INT, True): INT,
    (_RANK_INT, False): UNSIGNED_INT,
    (_RANK_LONG, True): LONG,
    (_RANK_LONG, False): UNSIGNED_LONG,
    (_RANK_LONG_LONG, True): LONG_LONG,
    (_RANK_LONG_LONG, False): UNSIGNED_LONG_LONG,
}

# -- spelling ----------------------------------------------------------------------------

_SPECIFIERS = frozenset({"signed", "unsigned", "char", "short", "int", "long"})
# Each integer type by its specifiers (any order; "signed" and "int" are implied
# where C allows them to be left out), C99 6.7.2.
_SPELLINGS = {
    ("char",): "char",
    ("char", "signed"): "signed char",
    ("char", "unsigned"): "unsigned char",
    ("short",): "short",
    ("short", "unsigned"): "unsigned short",
    ("int",): "int",
    ("int", "unsigned"): "unsigned int",
    ("long",): "long",
    ("long", "unsigned"): "unsigned long",
    ("long", "long"): "long long",
    ("long", "long", "unsigned"): "unsigned long long",
}


def integer_type_name(words: list[str]) -> str | None:
    """How the kernel's types spell the integer type of specifiers ``words``:
    ``["unsigned"]`` is ``"unsigned int"``, ``["long", "unsigned", "int"]`` is
    ``"unsigned long"``; None when ``words`` are not an integer type's specifiers.
    """
    if not words or not _SPECIFIERS.issuperset(words):
        return None
    count = Counter(words)
    if count["signed"] + count["unsigned"] > 1 or count["int"] > 1:
        return None
    signedness = ("unsigned",) if count["unsigned"] else ()
    if count["signed"] and "char" in count:
        signedness = ("signed",)
    if "char" not in count and "short" not in count and "long" not in count:
        kind: tuple[str, ...] = ("int",)  # "int", "signed", "unsigned"
    else:
        if "char" in count and count["int"]:
            return None
        kind = tuple(sorted(w for w in words if w in ("char", "short", "long")))
    return _SPELLINGS.get(tuple(sorted(kind + signedness)))


# -- constants ---------------------------------------------------------------------------

# u or U, and l, L, ll or LL (not lL), in either order (C99 6.4.4.1)
_SUFFIXES = frozenset(
    order for u in ("", "u", "U") for ls in ("", "l", "L", "ll", "LL") for order in (u + ls, ls + u)
)


def constant_type(value: int, suffix: str = "") -> Base:
    """The type of the integer constant ``value`` written with ``suffix``
    (``u``, ``l``, ``ul``, ``ll``, ``ull`` in either case, ``lu`` and ``llu`` too).

    Without a suffix a value that fits ``int`` is one; a larger one is ``unsigned
    long`` up to 32 bits, as the C90 that 2.4.20 is written in has it, and
    ``unsigned long long`` above. ``u`` and ``l`` ask for at least ``unsigned
    int`` and ``long``; a value too large for the type asked for takes the next
    that holds it.

    :raises ValueError: a suffix C does not have, or a value of more than 64 bits.
    """
    if suffix not in _SUFFIXES:
        raise ValueError(f"invalid integer suffix '{suffix}'")
    low = suffix.lower()
    if value >= 1 << 64:
        raise ValueError(f"number {value:#x} is too large")
    unsigned = "u" in low
    longs = low.count("l")
    if longs == 2:
        return LONG_LONG if value < 1 << 63 and not unsigned else UNSIGNED_LONG_LONG
    if value >= 1 << 32:
        return UNSIGNED_LONG_LONG
    if longs == 1:
        return LONG if value < 1 << 31 and not unsigned else UNSIGNED_LONG
    if unsigned:
        return UNSIGNED_INT
    return INT if value < 1 << 31 else UNSIGNED_LONG


# -- promotions and conversions ----------------------------------------------------------


def is_integer(ctype: CType) -> bool:
    """Whether ``ctype`` (through typedefs) is an integer type: a base type or an enum."""
    return isinstance(strip_typedefs(ctype), (Base, Enum))


def _as_integer(ctype: CType) -> Base:
    """``ctype`` as the integer type it is: an enum as its compatible type (gcc's)."""
    t = strip_typedefs(ctype)
    if isinstance(t, Enum):
        negative = any(value < 0 for _, value in t.enumerators)
        return INT if negative else UNSIGNED_INT
    if not isinstance(t, Base):
        raise TypeError(f"'{ctype.c_name}' is not an integer type")
    return t


def promote(ctype: CType) -> CType:
    """``ctype`` after the integer promotions: a type narrower than ``int`` (char,
    short, their unsigned forms) becomes ``int``, which holds all their values on
    i386; any other integer type stays itself (its typedef name kept), without its
    qualifier (a value, as drgn's ``-counter`` of a ``volatile int`` is an ``int``).

    :raises TypeError: ``ctype`` is not an integer type.
    """
    if _as_integer(ctype).size < INT.size:
        return INT
    while isinstance(ctype, Qualified):
        ctype = ctype.target
    return ctype


def _rank(t: Base) -> int:
    if t.size > LONG.size:
        return _RANK_LONG_LONG
    # DWARF may spell long "long int" or "long unsigned int"
    return _RANK_LONG if "long" in t.name.split() else _RANK_INT


@lru_cache(maxsize=1024)  # object arithmetic asks for the same few pairs of types
def common_type(a: CType, b: CType) -> Base:
    """The type the usual arithmetic conversions bring integer operands of types
    ``a`` and ``b`` to, and so the type of ``a + b``, ``a * b``, ``a & b``...:
    both promoted; then the higher rank among the same signedness; an unsigned
    type of at least the signed one's rank; a signed type wider than the unsigned
    one; else the unsigned type of the signed one's rank (``long`` and ``unsigned
    int`` give ``unsigned long``).

    :raises TypeError: either is not an integer type.
    """
    x, y = _as_integer(promote(a)), _as_integer(promote(b))
    rx, ry = _rank(x), _rank(y)
    if x.signed == y.signed:
        return _BY_RANK[max(rx, ry), x.signed]
    (su, ru), (ss, rs) = ((x, rx), (y, ry)) if not x.signed else ((y, ry), (x, rx))
    if ru >= rs:
        return _BY_RANK[ru, False]
    if ss.size > su.size:
        return _BY_RANK[rs, True]
    return _BY_RANK[rs, False]
