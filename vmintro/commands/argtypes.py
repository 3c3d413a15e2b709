"""How commands read addresses and numbers from their arguments, as crash does.

An *address* argument (``vtop``, ``rd``, ``struct``, ``list``, ``sym``) is, in
order of preference:

* a symbol name alone: the symbol's address (``rd vmlist`` reads ``vmlist``
  itself, as in crash), and ``symbol+N``/``symbol-N`` that address plus or
  minus N bytes (``rd vmlist+4``);
* bare hex digits: a hex number (``vtop c8801000``), crash's default radix for
  addresses;
* any other expression (:mod:`vmintro.commands.expr`): a pointer or integer
  gives its value, a struct or array its address (``struct vm_struct *vmlist``).

Whatever its form, the value must be an address: not negative, and within 32
bits (36 for a physical address under PAE). Anything else is refused rather
than wrapped, which would silently name another address.

A *count* or a *number* is C notation: decimal, or hex with ``0x``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vmintro.commands.expr import ExprError, evaluate
from vmintro.commands.registry import UsageError
from vmintro.types.model import Array, Struct, strip_typedefs

if TYPE_CHECKING:
    from vmintro.program import Program

__all__ = ["check_address", "parse_address", "parse_number", "split_count"]

_HEX = re.compile(r"[0-9a-fA-F]+")
_SYMBOL_OFFSET = re.compile(r"([A-Za-z_]\w*)\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?")
VIRTUAL_BITS = 32
PAE_PHYSICAL_BITS = 36  # PAE page-table entries hold 36-bit frame addresses


def check_address(prog: Program, value: int, physical: bool = False) -> int:
    """``value`` when it can be an address: not negative, and within 32 bits (36 for
    a physical address under PAE). Wrapping it would walk some other address.

    :raises ExprError: naming the value otherwise.
    """
    if value < 0:
        raise ExprError(f"{value:#x} is negative: not an address")
    bits = PAE_PHYSICAL_BITS if physical and prog.pae else VIRTUAL_BITS
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


def parse_number(prog: Program, text: str) -> int:
    """A number in C notation, or any integer expression (``0x10``, ``PAGE_SIZE * 2``)."""
    try:
        return int(text, 0)
    except ValueError:
        return int(evaluate(prog, text))


_OPERATOR_END = tuple("+-*/%&|^~<>([.")


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
