"""How commands read addresses and numbers from their arguments: one rule, crash's.

:data:`NUMBERS` says it to the user (``help`` shows it). An *address* (virtual
or physical) or a *page frame number* is, in order of preference:

* a symbol name alone: the symbol's address (``rd vmlist`` reads ``vmlist``
  itself, as in crash), and ``symbol+N``/``symbol-N`` that address plus or
  minus N bytes (``rd vmlist+4``; N is an offset, so decimal unless ``0x``);
* hex digits, with or without ``0x`` (``vtop c8801000``, ``page -n 10b4``):
  always hex, as crash reads addresses, so that whatever a command prints can
  be pasted back;
* any other expression (:mod:`vmintro.commands.expr`), whose numbers are C's:
  a pointer or integer gives its value, a struct or array its address
  (``struct vm_struct *vmlist``).

Whatever its form, the value must be an address: not negative, and within 32
bits (36 for a physical address under PAE). Anything else is refused rather
than wrapped, which would silently name another address.

A *count*, *size* or *offset* is C notation: decimal, or hex with ``0x``.

A command taking several values (``vtop c4800000 c4811000``) reads each word
as one value, except where C would read the words as one expression: next to
an operator, inside brackets, after a cast (:func:`split_values`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vmintro.commands.expr import ExprError, evaluate, unfinished
from vmintro.commands.registry import UsageError
from vmintro.types.model import Array, Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = [
    "NUMBERS",
    "check_address",
    "hex_number",
    "parse_address",
    "parse_addresses",
    "parse_number",
    "parse_pfn",
    "split_count",
    "split_values",
]

NUMBERS = """\
Numbers:
  Addresses (virtual and physical) and page frame numbers are hex, with or
  without 0x: c4800000, 0x10b4000, 10b4. Commands print them in that form,
  so what one prints can be given to another.
  Counts, sizes and offsets are decimal unless written with 0x: rd vmlist 16.
  An address may also be a symbol, symbol+N, or a C expression, whose numbers
  are C's: PAGE_OFFSET + 0x1000. Values are separated by spaces
  (vtop c4800000 c4811000); inside an expression a space goes next to an
  operator or inside brackets.
  page ADDR (as crash's kmem -p) takes an address; page -n PFN a frame number."""

_HEX = re.compile(r"[0-9a-fA-F]+")
_SYMBOL_OFFSET = re.compile(r"([A-Za-z_]\w*)\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?")
VIRTUAL_BITS = 32


def check_address(prog: Program, value: int, physical: bool = False) -> int:
    """``value`` when it can be an address: not negative, and within 32 bits (36 for
    a physical address under PAE). Wrapping it would walk some other address.

    :raises ExprError: naming the value otherwise.
    """
    if value < 0:
        raise ExprError(f"{value:#x} is negative: not an address")
    # a physical address is as wide as the paging mode's entries hold (36 bits in PAE)
    bits = prog.paging.phys_bits if physical else VIRTUAL_BITS
    if value >= 1 << bits:
        raise ExprError(f"{value:#x} is beyond {bits} bits: not an address")
    return value


def parse_address(prog: Program, text: str, physical: bool = False) -> int:
    """The address ``text`` stands for (see the module docstring); ``physical``
    allows the wider physical addresses of PAE.

    :raises ExprError: when it is not a symbol, a number or a valid expression, or
        when its value cannot be an address (see :func:`check_address`).
    """
    text = text.strip()
    if not text:
        raise UsageError("missing address")
    m = _SYMBOL_OFFSET.fullmatch(text)
    if m:
        try:
            base = prog.symbol(m.group(1)).address
        except LookupError:
            pass
        else:
            offset = int(m.group(3), 0) if m.group(3) else 0
            return check_address(prog, base - offset if m.group(2) == "-" else base + offset)
    if _HEX.fullmatch(text):
        return check_address(prog, int(text, 16), physical)
    value = evaluate(prog, text)
    t = strip_typedefs(value.type_)
    if isinstance(t, (Struct, Array)):
        if value.address_ is None:
            raise ExprError(f"'{text}' has no address")
        return value.address_
    return check_address(prog, int(value), physical)


def hex_number(text: str) -> int | None:
    """``text`` read as an address or a pfn is when it is a plain number: hex digits,
    with or without ``0x`` (``c4800000``, ``0xc4800000``); None for anything else."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    return int(digits, 16) if _HEX.fullmatch(digits) else None


def parse_pfn(prog: Program, text: str) -> int:
    """A page frame number: hex digits with or without ``0x`` (as ``map --area``
    prints them), or an expression (``vmlist->addr >> 12`` is not one: that
    address is virtual; ``__pa`` it first).

    :raises ExprError: when it is negative or not a number.
    """
    text = text.strip()
    pfn = hex_number(text)
    if pfn is not None:
        return pfn
    value = evaluate(prog, text)
    if isinstance(strip_typedefs(value.type_), (Struct, Array)):
        raise ExprError(f"'{text}' is not a number")
    if int(value) < 0:
        raise ExprError(f"{int(value):#x} is negative: not a page frame number")
    return int(value)


def split_values(prog: Program, words: list[str]) -> list[str]:
    """The values in ``words``, each word one value unless C reads several as one
    expression: a word that starts with an operator or a closing bracket
    continues the value before it, as does any word after an unfinished one
    (``PAGE_OFFSET +``, ``(vmlist``, ``(struct page *)``). So
    ``c4800000 c4811000`` is two values and ``PAGE_OFFSET + 0x1000`` one.

    :raises UsageError: for words that read both ways, ``c4800000 *vmlist``
        (a product, or a second value), naming the spelling of each.
    """
    values: list[str] = []
    for word in words:
        if values and unfinished(prog, values[-1]):
            values[-1] += " " + word
        elif values and _ambiguous(word):
            one, two = f"{values[-1]} {word[0]} {word[1:]}", f"({word})"
            raise UsageError(
                f"'{values[-1]} {word}' is one expression or two values: "
                f"write '{one}' for one, '{two}' for a second value"
            )
        elif values and word.startswith(_CONTINUES):
            values[-1] += " " + word
        else:
            values.append(word)
    return values


def _ambiguous(word: str) -> bool:
    """``*vmlist``, ``-1``: an operator C reads as binary after a value, glued to
    an operand as if it began a new value of its own."""
    return len(word) > 1 and word[0] in "*&-+" and not word.startswith("->")


def parse_addresses(prog: Program, words: list[str], physical: bool = False) -> list[int]:
    """Every address in ``words`` (see :func:`split_values`), all read before any is used."""
    return [parse_address(prog, text, physical) for text in split_values(prog, words)]


def parse_number(prog: Program, text: str) -> int:
    """A number in C notation, or any integer expression (``0x10``, ``PAGE_SIZE * 2``)."""
    try:
        return int(text, 0)
    except ValueError:
        return int(evaluate(prog, text))


_OPERATOR_END = tuple("+-*/%&|^~<>([.")
# a word starting so cannot begin a value: it continues the one before (C's reading)
_CONTINUES = (*"+-*/%&|^<>)].=", "!=")


def split_count(words: list[str]) -> tuple[str, str | None]:
    """Split ``ADDR [COUNT]`` words: the last word is a count when it is a plain
    number and the words before it do not end in an operator (so that
    ``rd VMALLOC_START + 16`` is one address and ``rd vmlist 4`` a count of 4).
    """
    if len(words) >= 2 and not words[-2].endswith(_OPERATOR_END):
        try:
            int(words[-1], 0)
        except ValueError:
            pass
        else:
            return " ".join(words[:-1]), words[-1]
    return " ".join(words), None
